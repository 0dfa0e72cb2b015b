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

# the body's credential headers (echo), or the code of a refusal
our $SeenOrCode = sub {
    my $b = shift;
    return $b =~ /"code":"(\w+)"/ ? "$1\n" : $::Seen->($b);
};

# a token or a key in a line of ours (nginx's own debug lines of the
# request's headers are nginx's: they carry whatever a client sent)
sub ours { my $s = quotemeta shift; return qr/\bv3xy[: ][^\n]*$s/ }

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



=== TEST 6: session: an X-Accel-Redirect from a location without the store into a Session route is checked there: no token, 401 session_missing, a client's X-V3XY-Account never reaches the backend
--- http_config eval: $::Api . $::Redis
--- config
    location /open/ {
        proxy_pass http://127.0.0.1:$TEST_NGINX_API_PORT/accel/?to=/v1/developer/wallets;
    }

    location /v1/developer/ {
        v3xy_session_store redis;
        proxy_pass http://127.0.0.1:$TEST_NGINX_RECORDER_PORT;
    }

    location = /recorded {
        proxy_pass http://127.0.0.1:$TEST_NGINX_RECORDER_PORT/__recorded;
    }
--- request eval
["GET /open/x", "GET /recorded"]
--- more_headers
X-V3XY-Account: acct_victim
--- error_code eval
[401, 200]
--- response_body eval
[$::Missing, ""]



=== TEST 7: session: error_page to a named location with the store: an invalid token is refused there
--- http_config eval: $::Api . $::Redis
--- config
    location /open/ {
        proxy_pass http://127.0.0.1:$TEST_NGINX_API_PORT/missing;
        proxy_intercept_errors on;
        error_page 404 = @session;
    }

    location @session {
        v3xy_session_store redis;
        proxy_pass http://127.0.0.1:$TEST_NGINX_ECHO_PORT;
    }
--- request
GET /open/x
--- more_headers eval
main::bearer('unknown-7')
--- error_code: 401
--- response_body eval: $::Invalid
--- no_error_log eval
[main::ours(main::token('unknown-7')), main::ours('Zm9vYmFy')]



=== TEST 8: session: try_files to a named location with the store checks the session; a valid one passes with its account, the token in no log line (debug included)
--- http_config eval: $::Api . $::Redis
--- init
V3xy::wait_ready('/ready');
main::active('valid-8', 'acct_8008');
--- config
    location /open/ {
        root html;
        try_files $uri @session;
    }

    location @session {
        v3xy_session_store redis;
        proxy_pass http://127.0.0.1:$TEST_NGINX_ECHO_PORT;
    }
--- request eval
["GET /open/x", "GET /open/x"]
--- more_headers eval
[main::bearer('valid-8'), "X-V3XY-Account: acct_victim"]
--- error_code eval
[200, 401]
--- response_body_filters eval: $::SeenOrCode
--- response_body eval
["Authorization: Bearer " . main::token('valid-8') . "\r\nX-V3XY-Account: acct_8008\r\n", "session_missing\n"]
--- no_error_log eval
[main::ours(main::token('valid-8')), main::ours('Zm9vYmFy')]



=== TEST 9: session: rewrite ... last into the Session route: checked there
--- http_config eval: $::Api . $::Redis
--- config
    location /open/ {
        rewrite ^/open/(.*)$ /v1/developer/$1 last;
    }

    location /v1/developer/ {
        v3xy_session_store redis;
        proxy_pass http://127.0.0.1:$TEST_NGINX_ECHO_PORT;
    }
--- request
GET /open/wallets
--- error_code: 401
--- response_body eval: $::Missing



=== TEST 10: session: a valid session's account is not taken by a key-store location that an X-Accel-Redirect finds: it needs a key (401 api_key_missing)
--- http_config eval: $::Api . $::Redis
--- init
V3xy::wait_ready('/ready');
main::active('valid-10', 'acct_1010');
--- config
    location /v1/developer/ {
        v3xy_session_store redis;
        proxy_pass http://127.0.0.1:$TEST_NGINX_API_PORT/accel/?to=/gw/payments;
    }

    location /gw/ {
        internal;
        v3xy_key_store file=$TEST_NGINX_STORE_SCALE;
        proxy_pass http://127.0.0.1:$TEST_NGINX_ECHO_PORT;
    }
--- request
GET /v1/developer/wallets
--- more_headers eval
main::bearer('valid-10')
--- error_code: 401
--- response_body_like: "code":"api_key_missing"



=== TEST 11: session: a gateway key's account and tier are not taken by a Session route that an X-Accel-Redirect finds: it needs a session (401 session_missing)
--- http_config eval: $::Api . $::Redis
--- config
    location /gw/ {
        v3xy_key_store file=$TEST_NGINX_STORE_SCALE;
        proxy_pass http://127.0.0.1:$TEST_NGINX_API_PORT/accel/?to=/v1/developer/wallets;
    }

    location /v1/developer/ {
        internal;
        v3xy_key_store off;
        v3xy_session_store redis;
        add_header X-Account "$v3xy_account" always;
        add_header X-Tier "$v3xy_tier" always;
        proxy_pass http://127.0.0.1:$TEST_NGINX_ECHO_PORT;
    }
--- request
GET /gw/payments
--- more_headers eval
"X-V3XY-API-Key: $::Gw"
--- error_code: 401
--- response_headers
X-Account:
X-Tier:
--- response_body eval: $::Missing



=== TEST 12: session: a valid session crossing two Session routes (X-Accel-Redirect) passes both, its account sent once, its per-account zone counted once
--- http_config eval
$::Api . $::Redis . 'v3xy_limit_zone per_acct rate=2r/m key=$v3xy_account;'
--- init
V3xy::wait_ready('/ready');
main::active('valid-12', 'acct_1212');
--- config
    location /v1/developer/ {
        v3xy_session_store redis;
        v3xy_limit per_acct;
        proxy_pass http://127.0.0.1:$TEST_NGINX_API_PORT/accel/?to=/s2/;
    }

    location /s2/ {
        internal;
        v3xy_session_store redis;
        v3xy_limit per_acct;
        proxy_pass http://127.0.0.1:$TEST_NGINX_ECHO_PORT;
    }
--- request eval
["GET /v1/developer/wallets", "GET /v1/developer/wallets", "GET /v1/developer/wallets"]
--- more_headers eval
main::bearer('valid-12')
--- error_code eval
[200, 200, 429]
--- response_body_filters eval: $::SeenOrCode
--- response_body eval
["Authorization: Bearer " . main::token('valid-12') . "\r\nX-V3XY-Account: acct_1212\r\n",
 "Authorization: Bearer " . main::token('valid-12') . "\r\nX-V3XY-Account: acct_1212\r\n",
 "rate_limited\n"]



=== TEST 13: session: an SSI include of a Session route from a page without the store: the subrequest's session is checked (no token: refused), the backend never sees it
--- http_config eval: $::Api . $::Redis
--- config
    location = /page {
        ssi on;
        default_type text/html;
        return 200 '[<!--# include virtual="/v1/developer/wallets" -->]';
    }

    location /v1/developer/ {
        v3xy_session_store redis;
        proxy_pass http://127.0.0.1:$TEST_NGINX_RECORDER_PORT;
    }

    location = /recorded {
        proxy_pass http://127.0.0.1:$TEST_NGINX_RECORDER_PORT/__recorded;
    }
--- request eval
["GET /page", "GET /recorded"]
--- more_headers
X-V3XY-Account: acct_victim
--- response_body eval
["[$::Missing]", ""]



=== TEST 14: session: auth_request to a Session route as the check of another location: no token, no access
--- http_config eval: $::Api . $::Redis
--- config
    location /private/ {
        auth_request /v1/developer/session-check;
        proxy_pass http://127.0.0.1:$TEST_NGINX_ECHO_PORT;
    }

    location /v1/developer/ {
        v3xy_session_store redis;
        proxy_pass_request_body off;
        proxy_set_header Content-Length "";
        proxy_pass http://127.0.0.1:$TEST_NGINX_API_PORT;
    }
--- request
GET /private/data
--- more_headers
X-V3XY-Account: acct_victim
--- error_code: 401



=== TEST 15: session: a mirror subrequest into a Session route is checked: no token, the backend never sees it
--- http_config eval: $::Api . $::Redis
--- config
    location /open/ {
        mirror /v1/developer/wallets;
        proxy_pass http://127.0.0.1:$TEST_NGINX_API_PORT;
    }

    location /v1/developer/ {
        v3xy_session_store redis;
        proxy_pass http://127.0.0.1:$TEST_NGINX_RECORDER_PORT;
    }

    location = /recorded {
        proxy_pass http://127.0.0.1:$TEST_NGINX_RECORDER_PORT/__recorded;
    }
--- request eval
["GET /open/x", "GET /recorded"]
--- more_headers
X-V3XY-Account: acct_victim
--- response_body eval
["api\n", ""]



=== TEST 16: gateway: an SSI include of a key-store location from a page without the store: the subrequest's key is checked (none: refused), the backend never sees it
--- config
    location = /page {
        ssi on;
        default_type text/html;
        return 200 '[<!--# include virtual="/gw/payments" -->]';
    }

    location /gw/ {
        v3xy_key_store file=$TEST_NGINX_STORE_SCALE;
        proxy_pass http://127.0.0.1:$TEST_NGINX_RECORDER_PORT;
    }

    location = /recorded {
        proxy_pass http://127.0.0.1:$TEST_NGINX_RECORDER_PORT/__recorded;
    }
--- request eval
["GET /page", "GET /recorded"]
--- more_headers
X-V3XY-Account: acct_victim
--- response_body_like eval
[qr/^\[\{"success":false.*"code":"api_key_missing"\}\]$/, qr/^$/]



=== TEST 17: session: an SSI include of a Session route with a valid session: looked up in Redis while the page waits, passes with its account (once), the client's account dropped
--- http_config eval: $::Api . $::Redis
--- init
V3xy::wait_ready('/ready');
main::active('valid-17', 'acct_1717');
--- config
    location = /page {
        ssi on;
        default_type text/html;
        return 200 '[<!--# include virtual="/v1/developer/wallets" -->]';
    }

    location /v1/developer/ {
        v3xy_session_store redis;
        proxy_pass http://127.0.0.1:$TEST_NGINX_ECHO_PORT;
    }
--- request
GET /page
--- more_headers eval
main::bearer('valid-17') . "\nX-V3XY-Account: acct_victim"
--- response_body_filters eval: $::Seen
--- response_body eval
"Authorization: Bearer " . main::token('valid-17') . "\r\nX-V3XY-Account: acct_1717\r\n"
--- no_error_log eval
[main::ours(main::token('valid-17')), '[alert]', '[error]']



=== TEST 18: session: auth_request to a Session route: a valid session grants access, an unknown one is refused (401 and its WWW-Authenticate), the main request's headers untouched by the subrequest's account
--- http_config eval: $::Api . $::Redis
--- init
V3xy::wait_ready('/ready');
main::active('valid-18', 'acct_1818');
--- config
    location /private/ {
        auth_request /v1/developer/session-check;
        proxy_pass http://127.0.0.1:$TEST_NGINX_ECHO_PORT;
    }

    location /v1/developer/ {
        v3xy_session_store redis;
        proxy_pass_request_body off;
        proxy_set_header Content-Length "";
        proxy_pass http://127.0.0.1:$TEST_NGINX_API_PORT;
    }
--- request eval
["GET /private/data", "GET /private/data"]
--- more_headers eval
[main::bearer('valid-18'), main::bearer('unknown-18')]
--- error_code eval
[200, 401]
--- response_body_filters eval: $::Seen
--- response_body_like eval
["\\AAuthorization: Bearer " . main::token('valid-18') . "\r\n\\z", "\\A\\z"]
--- no_error_log eval
[main::ours(main::token('valid-18')), main::ours(main::token('unknown-18')), '[alert]']



=== TEST 19: gateway: an SSI include of a key-store location with a valid key passes with its account, without the key; a scope it lacks is refused
--- config
    location = /page {
        ssi on;
        default_type text/html;
        return 200 '[<!--# include virtual="/gw/read" -->][<!--# include virtual="/gw/hooks" -->]';
    }

    location /gw/ {
        v3xy_key_store file=$TEST_NGINX_STORE_SCALE;
        v3xy_scope payments:read;
        proxy_pass http://127.0.0.1:$TEST_NGINX_ECHO_PORT;

        location /gw/hooks {
            v3xy_scope webhooks:manage;
            proxy_pass http://127.0.0.1:$TEST_NGINX_ECHO_PORT;
        }
    }
--- request
GET /page
--- more_headers eval
"X-V3XY-API-Key: $::Gw"
--- response_body_filters eval
sub { my $b = shift; $b =~ s/\A\[(.*?)\]\[(.*)\]\z/$::Seen->($1) . "|" . ($2 =~ m{"code":"(\w+)"} ? $1 : $2)/se; $b }
--- response_body eval
"X-V3XY-Account: acct_3003\r\n|api_key_scope"



=== TEST 20: gateway: a mirror into a location of the key store that the main request's key passed inherits the decision (the key is gone from the copied headers, the account is there): the shadow gets the request with the account, once
--- config
    v3xy_key_store file=$TEST_NGINX_STORE_SCALE;

    location /gw/ {
        mirror /shadow;
        proxy_pass http://127.0.0.1:$TEST_NGINX_API_PORT;
    }

    location = /shadow {
        internal;
        proxy_pass http://127.0.0.1:$TEST_NGINX_RECORDER_PORT/shadow;
    }

    location = /recorded {
        v3xy_key_store off;
        proxy_pass http://127.0.0.1:$TEST_NGINX_RECORDER_PORT/__recorded;
    }
--- request eval
["GET /gw/payments", "GET /recorded"]
--- more_headers eval
["X-V3XY-API-Key: $::Gw\nX-V3XY-Account: acct_victim", ""]
--- response_body eval
["api\n", "GET /shadow HTTP/1.0\r\n"]



=== TEST 21: gateway: a subrequest into a location of another key store is judged by that store, by the key's digest (the key itself is gone from the copied headers)
--- config
    location = /gw/page {
        v3xy_key_store file=$TEST_NGINX_STORE_SCALE;
        ssi on;
        proxy_pass http://127.0.0.1:$TEST_NGINX_API_PORT/ssi;
    }

    location /plain/ {
        v3xy_key_store file=$TEST_NGINX_STORE_PLAIN;
        proxy_pass http://127.0.0.1:$TEST_NGINX_ECHO_PORT;
    }
--- http_config eval
$::Api =~ s{(location / \{)}{location = /ssi {
            default_type text/html;
            return 200 '[<!--# include virtual="/plain/x" -->]';
        }

        $1}r
--- request
GET /gw/page
--- more_headers eval
"X-V3XY-API-Key: $::Gw"
--- response_body_filters eval: $::Seen
--- response_body eval
"X-V3XY-Account: acct_3003\r\n"
