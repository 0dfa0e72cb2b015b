# The newer features crossed with every path nginx can give a request:
# tiers, the session store, the API's 429 held, dry run and 30-day windows
# after error_page (to a URI, to a named location), X-Accel-Redirect,
# try_files, rewrite ... last, auth_request, mirror and SSI subrequests.
# Each block says what must hold: a session is checked by every location
# of the store the request enters, its account is used by no location of
# another role, a tier belongs to the key of the location that counts, a
# hold to its key and area, a dry run's refusal never stands in for an
# enforced zone's decision, and no token or key reaches a log line of
# ours.
#
# "The API" is a server of the nginx under test ($TEST_NGINX_API_PORT)
# that answers 404, 429 or X-Accel-Redirect as a block needs.

use lib 't/lib';
use Digest::SHA qw(sha256_hex);
use Test::Nginx::Socket 'no_plan';
use V3xy qw(key_file start_echo start_recorder start_redis header_lines
            free_port);

our $Key = 'v3xy_dev_SeamsNewSidecar_0123456789abcdef';
our $Other = 'v3xy_dev_SeamsNewOther_9876543210fedcba';
our $Gw = 'v3xy_dev_SeamsNewGateway_0123456789abcd';

$ENV{TEST_NGINX_KEY} = key_file('key', "$Key\n");
$ENV{TEST_NGINX_OTHER_KEY} = key_file('other', "$Other\n");
$ENV{TEST_NGINX_STORE_SCALE} = key_file('store_scale',
    sha256_hex($Gw) . " acct_3003 payments:read tier=scale\n");
$ENV{TEST_NGINX_STORE_PLAIN} = key_file('store_plain',
    sha256_hex($Gw) . " acct_3003 payments:read\n");
$ENV{TEST_NGINX_API_PORT} = free_port();

start_echo();
start_recorder();
start_redis();

our $Seen = sub {
    my $b = shift;
    return join '', $b =~ /^((?:x-v3xy-account|authorization|x-v3xy-api-key)
                            :[^\r\n]*\r\n)/gimx;
};

sub token { return "sEams20-$_[0]_Zm9vYmFyYmF6cXV4LnRva2Vu" }

sub bearer { return "Authorization: Bearer " . token($_[0]) }

sub active {
    my ($name, $account) = @_;
    my $h = 'v3xy:session:' . sha256_hex(token($name));
    V3xy::redis('DEL', $h);
    V3xy::redis('HSET', $h, account => $account, status => 'active');
}

our $Missing = '{"success":false,"error":"No Authorization: Bearer session '
    . 'token.","code":"session_missing"}';
our $Invalid = '{"success":false,"error":"The session is unknown, expired '
    . 'or revoked; sign in again.","code":"session_invalid"}';

our $Api = <<'_EOC_';
    server {
        listen 127.0.0.1:$TEST_NGINX_API_PORT;

        location /missing {
            return 404;
        }

        location /accel/ {
            add_header X-Accel-Redirect $arg_to;
            return 200;
        }

        location /busy {
            add_header Retry-After 30 always;
            return 429 '{"success":false,"code":"rate_limited"}';
        }

        location / {
            return 200 "api\n";
        }
    }
_EOC_

our $Redis = 'v3xy_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT timeout=2s;';

add_block_preprocessor(sub {
    my $block = shift;

    $block->set_value('http_config', $Api) unless defined $block->http_config;

    V3xy::redis_ready_block($block, wait => 1);
});

log_level('debug');
no_long_string();
no_shuffle();
run_tests();

__DATA__

=== TEST 1: dry run: a zone's dry refusal in one location does not stand in for the same zone enforced in the location an X-Accel-Redirect finds
--- http_config eval
$::Api . 'v3xy_limit_zone dz rate=1r/m key=$remote_addr;'
--- config
    location /dry/a {
        v3xy_limit dz;
        v3xy_limit_dry_run on;
        proxy_pass http://127.0.0.1:$TEST_NGINX_API_PORT/accel/?to=/dry/b;
    }

    location /dry/b {
        internal;
        v3xy_limit dz;
        add_header X-Status $v3xy_limit_status always;
        proxy_pass http://127.0.0.1:$TEST_NGINX_ECHO_PORT;
    }
--- request eval
["GET /dry/a", "GET /dry/a"]
--- error_code eval
[200, 429]
--- response_headers eval
["X-Status: PASSED", "X-Status: REJECTED"]
--- response_body_like eval
[qr/^GET \/dry\/b /, qr/"code":"rate_limited"/]



=== TEST 2: dry run in Redis: the same crossing, decided by the script
--- http_config eval
$::Api . $::Redis . 'v3xy_limit_zone dzr rate=1r/m key=$request_id;
v3xy_limit_zone dzr2 rate=1r/m key=$http_x_who;'
--- config
    location /dry/a {
        v3xy_limit dzr2;
        v3xy_limit_dry_run on;
        proxy_pass http://127.0.0.1:$TEST_NGINX_API_PORT/accel/?to=/dry/b;
    }

    location /dry/b {
        internal;
        v3xy_limit dzr2;
        add_header X-Status $v3xy_limit_status always;
        proxy_pass http://127.0.0.1:$TEST_NGINX_ECHO_PORT;
    }
--- request eval
["GET /dry/a", "GET /dry/a"]
--- more_headers eval
"X-Who: dry-redis-$$-" . time
--- error_code eval
[200, 429]
--- response_headers eval
["X-Status: PASSED", "X-Status: REJECTED"]



=== TEST 3: dry run: an admission counted in a dry location is not counted again by the enforced location after it (one request, one count)
--- http_config eval
$::Api . 'v3xy_limit_zone dz2 rate=2r/m key=$remote_addr;'
--- config
    location /dry/a {
        v3xy_limit dz2;
        v3xy_limit_dry_run on;
        proxy_pass http://127.0.0.1:$TEST_NGINX_API_PORT/accel/?to=/dry/b;
    }

    location /dry/b {
        internal;
        v3xy_limit dz2;
        proxy_pass http://127.0.0.1:$TEST_NGINX_ECHO_PORT;
    }
--- request eval
["GET /dry/a", "GET /dry/a", "GET /dry/a"]
--- error_code eval
[200, 200, 429]



=== TEST 4: $v3xy_limit_status after error_page: the dry refusal of the first location is still said by the page that serves the request
--- http_config eval
$::Api . 'v3xy_limit_zone dz3 rate=1r/m key=$remote_addr;'
--- config
    location /st/ {
        v3xy_limit dz3;
        v3xy_limit_dry_run on;
        proxy_pass http://127.0.0.1:$TEST_NGINX_API_PORT/missing;
        proxy_intercept_errors on;
        error_page 404 = /page;
    }

    location = /page {
        return 200 "status=$v3xy_limit_status zone=$v3xy_limit_zone\n";
    }
--- request eval
["GET /st/x", "GET /st/x"]
--- response_body eval
["status=PASSED zone=dz3\n", "status=REJECTED_DRY_RUN zone=dz3\n"]



=== TEST 5: $v3xy_limit_status after error_page to a named location whose enforced zone refuses: REJECTED, the worst of the two
--- http_config eval
$::Api . 'v3xy_limit_zone ez1 rate=100r/m key=$remote_addr;
v3xy_limit_zone ez2 rate=1r/m key=$remote_addr;'
--- config
    location /st/ {
        v3xy_limit ez1;
        proxy_pass http://127.0.0.1:$TEST_NGINX_API_PORT/missing;
        proxy_intercept_errors on;
        error_page 404 = @named;
    }

    location @named {
        v3xy_limit ez2;
        add_header X-Status $v3xy_limit_status always;
        proxy_pass http://127.0.0.1:$TEST_NGINX_ECHO_PORT;
    }
--- request eval
["GET /st/x", "GET /st/x"]
--- error_code eval
[200, 429]
--- response_headers eval
["X-Status: PASSED", "X-Status: REJECTED"]
