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
use IO::Socket::INET;
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

# HMGETs that Redis ran since the last CONFIG RESETSTAT
sub hmgets {
    my $s = V3xy::redis('INFO', 'commandstats');
    return $s =~ /cmdstat_hmget:calls=(\d+)/ ? $1 : 0;
}

# reload_with(FROM => TO, ...): nginx.conf edited, nginx sent HUP, and
# waited for until /gen (a location each reloading block has) answers the
# new generation (every block's conf says "gen-0", the reload "gen-1") and
# the old workers have exited (nginx runs with a master for this)
sub reload_with {
    my %edit = (@_, 'gen-0' => 'gen-1');
    my $conf = "$ENV{TEST_NGINX_SERVER_ROOT}/conf/nginx.conf";
    my $pidfile = "$ENV{TEST_NGINX_SERVER_ROOT}/logs/nginx.pid";

    open my $fh, '<', $conf or die "$conf: $!";
    my $c = do { local $/; <$fh> };
    close $fh;

    for my $from (keys %edit) {
        $c =~ s/\Q$from\E/$edit{$from}/g or die "reload_with: no $from";
    }

    open $fh, '>', $conf or die "$conf: $!";
    print $fh $c;
    close $fh;

    open $fh, '<', $pidfile or die "$pidfile: $!";
    chomp(my $pid = <$fh>);
    close $fh;
    my @old = split ' ', `ps -o pid= --ppid $pid`;
    kill 'HUP', $pid or die "HUP $pid: $!";

    # the new generation answers and the old workers are gone
    for (1 .. 200) {
        my (undef, undef, $body) = V3xy::http_req('GET', '/gen');
        return if $body eq "gen-1\n" && !grep { kill 0, $_ } @old;
        select undef, undef, undef, 0.05;
    }

    my $log = "$ENV{TEST_NGINX_SERVER_ROOT}/logs/error.log";
    die "reload_with: the new configuration never answered: "
        . join '', grep { /\[(?:emerg|alert|crit|notice)\]/ } do {
            open my $l, '<', $log; <$l> };
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

    # under valgrind nginx takes seconds to listen: wait for it first
    if ($ENV{TEST_NGINX_USE_VALGRIND}) {
        $block->set_value('timeout', 60);
        $block->set_value('init', <<'_EOI_' . ($block->init // ''));
for (1 .. 600) {
    IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                          PeerPort => $ENV{TEST_NGINX_SERVER_PORT})
        and last;
    select undef, undef, undef, 0.05;
}
_EOI_
    }
});

log_level('debug');
no_long_string();
master_on();
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
--- response_body_like eval
# mainline's proxy speaks HTTP/1.1 by default, 1.22's 1.0
[qr/\Aapi\n\z/, qr{\AGET /shadow HTTP/1\.[01]\r\n\z}]



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



=== TEST 22: session: a client that goes away while its auth_request subrequest waits for Redis: no crash, the answer cached (one HMGET), the next request granted
--- http_config eval
$::Api . 'v3xy_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT connect_timeout=10s timeout=3s;'
--- init
V3xy::wait_ready('/ready');
main::active('gone-22', 'acct_2222');
V3xy::redis('CONFIG', 'RESETSTAT');
system("$V3xy::REDIS_CLI -p $ENV{TEST_NGINX_REDIS_PORT} DEBUG SLEEP 0.6 >/dev/null &");
select undef, undef, undef, 0.1;
my $c = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                              PeerPort => $ENV{TEST_NGINX_SERVER_PORT})
    or die $!;
print $c "GET /private/data HTTP/1.0\r\nHost: x\r\n"
       . main::bearer('gone-22') . "\r\n\r\n";
select undef, undef, undef, 0.1;
close $c;
sleep 1;
V3xy::wait_ready('/ready');
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
--- more_headers eval
main::bearer('gone-22')
--- error_code: 200
--- response_body_filters eval
sub { "hmget " . main::hmgets() . "\n" }
--- response_body
hmget 1
--- error_log eval
qr/client prematurely closed connection|499/
--- no_error_log
[alert]
[crit]



=== TEST 23: hold: the API's 429 holds the key in its area only; another key of the area is not held; an X-Accel-Redirect from another area into the held area is held there
--- config
    v3xy_api_key_file $TEST_NGINX_KEY;

    location /v1/pay {
        v3xy_upstream_429 hold area=pay;
        proxy_pass http://127.0.0.1:$TEST_NGINX_API_PORT/busy;
    }

    location /v1/status {
        v3xy_upstream_429 hold area=status;
        proxy_pass http://127.0.0.1:$TEST_NGINX_API_PORT/accel/?to=/v1/pay-int;
    }

    location /v1/status-plain {
        v3xy_upstream_429 hold area=status;
        proxy_pass http://127.0.0.1:$TEST_NGINX_ECHO_PORT;
    }

    location /v1/pay-int {
        internal;
        v3xy_upstream_429 hold area=pay;
        proxy_pass http://127.0.0.1:$TEST_NGINX_ECHO_PORT;
    }

    location /v1/pay-other {
        v3xy_api_key_file $TEST_NGINX_OTHER_KEY;
        v3xy_upstream_429 hold area=pay;
        proxy_pass http://127.0.0.1:$TEST_NGINX_ECHO_PORT;
    }
--- request eval
["GET /v1/pay", "GET /v1/pay", "GET /v1/status-plain", "GET /v1/pay-other", "GET /v1/status"]
--- error_code eval
[429, 429, 200, 200, 429]
--- response_body_like eval
['\A\{"success":false,"code":"rate_limited"\}\z',
 '"error":"The API rate-limited this key',
 '^GET /v1/status-plain ',
 '^GET /v1/pay-other ',
 '"error":"The API rate-limited this key']
--- log_level: info
--- no_error_log eval
[qr/SeamsNewSidecar_0123/, qr/"status" are held/]



=== TEST 23b: hold: the API's 429 is logged by the key's fingerprint and its area, never the key (debug included)
--- config
    v3xy_api_key_file $TEST_NGINX_KEY;

    location /v1/pay {
        v3xy_upstream_429 hold area=pay;
        proxy_pass http://127.0.0.1:$TEST_NGINX_API_PORT/busy;
    }
--- request
GET /v1/pay
--- error_code: 429
--- error_log eval
qr/v3xy: the API answered 429 for key v3xy_dev_\.\.\.[0-9a-f]{12}: its requests to "pay" are held for 30000 ms/
--- no_error_log eval
[main::ours($::Key), main::ours('SeamsNewSidecar_0123')]



=== TEST 24: hold: a third party's 429 after X-Accel-Redirect or error_page (locations without the key) holds nothing
--- config
    v3xy_api_key_file $TEST_NGINX_KEY;

    location /v1/x {
        v3xy_upstream_429 hold area=ax;
        proxy_pass http://127.0.0.1:$TEST_NGINX_API_PORT/accel/?to=/third;
    }

    location /v1/e {
        v3xy_upstream_429 hold area=ax;
        proxy_pass http://127.0.0.1:$TEST_NGINX_API_PORT/missing;
        proxy_intercept_errors on;
        error_page 404 = @third;
    }

    location /v1/x2 {
        v3xy_upstream_429 hold area=ax;
        proxy_pass http://127.0.0.1:$TEST_NGINX_ECHO_PORT;
    }

    location /third {
        internal;
        v3xy_api_key_file off;
        proxy_pass http://127.0.0.1:$TEST_NGINX_API_PORT/busy;
    }

    location @third {
        v3xy_api_key_file off;
        rewrite ^ /busy break;
        proxy_pass http://127.0.0.1:$TEST_NGINX_API_PORT;
    }
--- request eval
["GET /v1/x", "GET /v1/e", "GET /v1/x2"]
--- error_code eval
[429, 429, 200]
--- response_body_like eval
['\A\{"success":false,"code":"rate_limited"\}\z',
 '\A\{"success":false,"code":"rate_limited"\}\z',
 '^GET /v1/x2 ']
--- log_level: info
--- no_error_log
the API answered 429



=== TEST 25: hold: an auth_request target's 429 holds nothing (auth_request's own 500 for an unexpected status)
--- config
    v3xy_api_key_file $TEST_NGINX_KEY;

    location /v1/guarded {
        v3xy_upstream_429 hold area=ag;
        auth_request /auth429;
        proxy_pass http://127.0.0.1:$TEST_NGINX_ECHO_PORT;
    }

    location /v1/ag2 {
        v3xy_upstream_429 hold area=ag;
        proxy_pass http://127.0.0.1:$TEST_NGINX_ECHO_PORT;
    }

    location = /auth429 {
        internal;
        v3xy_api_key_file off;
        proxy_pass http://127.0.0.1:$TEST_NGINX_API_PORT/busy;
    }
--- request eval
["GET /v1/guarded", "GET /v1/ag2"]
--- error_code eval
[500, 200]
--- log_level: info
--- no_error_log
the API answered 429



=== TEST 26: hold: a 429 that nginx's own configuration answers (error_page after the API's 404, into a page of the key's location) is not the API's: it holds nothing, even with default=
--- config
    v3xy_api_key_file $TEST_NGINX_KEY;

    location /v1/s {
        v3xy_upstream_429 hold area=as;
        proxy_pass http://127.0.0.1:$TEST_NGINX_API_PORT/missing;
        proxy_intercept_errors on;
        error_page 404 = /v1/s-page;
    }

    location = /v1/s-page {
        v3xy_upstream_429 hold area=as default=30s;
        add_header Retry-After 30 always;
        return 429 "busy\n";
    }

    location /v1/s2 {
        v3xy_upstream_429 hold area=as;
        proxy_pass http://127.0.0.1:$TEST_NGINX_ECHO_PORT;
    }
--- request eval
["GET /v1/s", "GET /v1/s2"]
--- error_code eval
[429, 200]
--- log_level: info
--- no_error_log
the API answered 429



=== TEST 27: tiers: a sidecar's tier is the key of the location that counts: after X-Accel-Redirect into a location of another key (no tier), its rate is the default; into the tiered key's location, the tier's
--- http_config eval
$::Api . 'v3xy_limit_zone t27 rate=1r/m tier=scale:3r/m key=$v3xy_key_id;'
--- config
    location /v1/a {
        v3xy_api_key_file $TEST_NGINX_KEY tier=scale;
        proxy_pass http://127.0.0.1:$TEST_NGINX_API_PORT/accel/?to=/v1/b;
    }

    location /v1/b {
        internal;
        v3xy_api_key_file $TEST_NGINX_OTHER_KEY;
        v3xy_limit t27;
        add_header X-Tier "[$v3xy_tier]" always;
        proxy_pass http://127.0.0.1:$TEST_NGINX_ECHO_PORT;
    }

    location /v1/c {
        v3xy_api_key_file $TEST_NGINX_OTHER_KEY;
        proxy_pass http://127.0.0.1:$TEST_NGINX_API_PORT/accel/?to=/v1/d;
    }

    location /v1/d {
        internal;
        v3xy_api_key_file $TEST_NGINX_KEY tier=scale;
        v3xy_limit t27;
        add_header X-Tier "[$v3xy_tier]" always;
        proxy_pass http://127.0.0.1:$TEST_NGINX_ECHO_PORT;
    }
--- request eval
["GET /v1/a", "GET /v1/a", "GET /v1/c", "GET /v1/c", "GET /v1/c", "GET /v1/c"]
--- error_code eval
[200, 429, 200, 200, 200, 429]
--- response_headers eval
["X-Tier: []", "X-Tier: []", "X-Tier: [scale]", "X-Tier: [scale]", "X-Tier: [scale]", "X-Tier: [scale]"]



=== TEST 28: tiers: a gateway key judged again by another store after X-Accel-Redirect takes that store's tier (none there: the default rate; scale there: the tier's)
--- http_config eval
$::Api . 'v3xy_limit_zone t28 rate=1r/m tier=scale:3r/m key=$v3xy_key_id;
v3xy_limit_zone t28b rate=1r/m tier=scale:3r/m key=$v3xy_key_id;'
--- config
    location /gw/a {
        v3xy_key_store file=$TEST_NGINX_STORE_SCALE;
        proxy_pass http://127.0.0.1:$TEST_NGINX_API_PORT/accel/?to=/plain/b;
    }

    location /plain/b {
        internal;
        v3xy_key_store file=$TEST_NGINX_STORE_PLAIN;
        v3xy_limit t28;
        add_header X-Tier "[$v3xy_tier]" always;
        proxy_pass http://127.0.0.1:$TEST_NGINX_ECHO_PORT;
    }

    location /plain/c {
        v3xy_key_store file=$TEST_NGINX_STORE_PLAIN;
        proxy_pass http://127.0.0.1:$TEST_NGINX_API_PORT/accel/?to=/gw/d;
    }

    location /gw/d {
        internal;
        v3xy_key_store file=$TEST_NGINX_STORE_SCALE;
        v3xy_limit t28b;
        add_header X-Tier "[$v3xy_tier]" always;
        proxy_pass http://127.0.0.1:$TEST_NGINX_ECHO_PORT;
    }
--- request eval
["GET /gw/a", "GET /gw/a", "GET /plain/c", "GET /plain/c", "GET /plain/c", "GET /plain/c"]
--- more_headers eval
"X-V3XY-API-Key: $::Gw"
--- error_code eval
[200, 429, 200, 200, 200, 429]
--- response_headers eval
["X-Tier: []", "X-Tier: []", "X-Tier: [scale]", "X-Tier: [scale]", "X-Tier: [scale]", "X-Tier: [scale]"]



=== TEST 29: 30-day windows: a zone of 2r/30d crossed by two locations (error_page to a named location) counts each request once; the refusal waits 30 days
--- http_config eval
$::Api . 'v3xy_limit_zone m30 rate=2r/30d key=$remote_addr;'
--- config
    location /v1/q {
        v3xy_api_key_file $TEST_NGINX_KEY;
        v3xy_limit m30;
        proxy_pass http://127.0.0.1:$TEST_NGINX_API_PORT/missing;
        proxy_intercept_errors on;
        error_page 404 = @q;
    }

    location @q {
        v3xy_api_key_file $TEST_NGINX_KEY;
        v3xy_limit m30;
        proxy_pass http://127.0.0.1:$TEST_NGINX_ECHO_PORT;
    }
--- request eval
["GET /v1/q", "GET /v1/q", "GET /v1/q"]
--- error_code eval
[200, 200, 429]
--- response_headers_like eval
["RateLimit: \"m30\";r=1;t=\\d+", "RateLimit: \"m30\";r=0;t=259\\d{4}", "Retry-After: 259\\d{4}"]



=== TEST 30: reload: a tier's rate raised by a reload: the key keeps what it used at the old rate and gets exactly the difference
--- http_config eval
$::Api . 'v3xy_limit_zone r30 rate=1r/m tier=scale:2r/m key=$v3xy_key_id;'
--- config
    location = /gen {
        return 200 "gen-0\n";
    }

    location /v1/ {
        v3xy_api_key_file $TEST_NGINX_KEY tier=scale;
        v3xy_limit r30;
        proxy_pass http://127.0.0.1:$TEST_NGINX_ECHO_PORT;
    }
--- init
my @s = map { (V3xy::http_req('GET', '/v1/x'))[0] } 1 .. 3;
"@s" eq "200 200 429" or die "before the reload: @s";
main::reload_with('tier=scale:2r/m' => 'tier=scale:4r/m');
--- request eval
["GET /v1/x", "GET /v1/x", "GET /v1/x"]
--- error_code eval
[200, 200, 429]
--- no_error_log
[alert]
[crit]



=== TEST 31: reload: a dry run turned off by a reload enforces the zone at once on what it counted (its dry refusals were not counted)
--- http_config eval
$::Api . 'v3xy_limit_zone r31 rate=2r/m key=$remote_addr;'
--- config
    location = /gen {
        return 200 "gen-0\n";
    }

    location /v1/ {
        v3xy_limit r31;
        v3xy_limit_dry_run on;
        add_header X-Status $v3xy_limit_status always;
        proxy_pass http://127.0.0.1:$TEST_NGINX_ECHO_PORT;
    }
--- init
my @s = map { (V3xy::http_req('GET', '/v1/x'))[0] } 1 .. 4;
"@s" eq "200 200 200 200" or die "before the reload: @s";
main::reload_with('v3xy_limit_dry_run on;' => 'v3xy_limit_dry_run off;');
--- request
GET /v1/x
--- error_code: 429
--- response_headers
X-Status: REJECTED



=== TEST 32: reload: a hold outlives a reload (the API's word does not change with the configuration)
--- config
    location = /gen {
        return 200 "gen-0\n";
    }

    location /v1/ {
        v3xy_api_key_file $TEST_NGINX_KEY;
        v3xy_upstream_429 hold area=r32;
        proxy_pass http://127.0.0.1:$TEST_NGINX_API_PORT/busy;
    }
--- init
my ($s) = V3xy::http_req('GET', '/v1/x');
$s == 429 or die "before the reload: $s";
main::reload_with('area=r32;' => 'area=r32 max=1h;');
--- request
GET /v1/x
--- error_code: 429
--- response_body_like: "error":"The API rate-limited this key



=== TEST 33: reload: a zone's window changed from 2r/m to 2r/30d by a reload keeps the two admissions: the next request waits about 30 days
--- http_config eval
$::Api . 'v3xy_limit_zone r33 rate=2r/m key=$remote_addr;'
--- config
    location = /gen {
        return 200 "gen-0\n";
    }

    location /v1/ {
        v3xy_limit r33;
        proxy_pass http://127.0.0.1:$TEST_NGINX_ECHO_PORT;
    }
--- init
my @s = map { (V3xy::http_req('GET', '/v1/x'))[0] } 1 .. 2;
"@s" eq "200 200" or die "before the reload: @s";
main::reload_with('rate=2r/m' => 'rate=2r/30d');
--- request
GET /v1/x
--- error_code: 429
--- response_headers_like
Retry-After: 259\d{4}



=== TEST 34: hold: the API's 429 intercepted by error_page into a named location of the key still holds the key (the API's word, its Retry-After)
--- config
    v3xy_api_key_file $TEST_NGINX_KEY;

    location /v1/i {
        v3xy_upstream_429 hold area=ai;
        proxy_pass http://127.0.0.1:$TEST_NGINX_API_PORT/busy;
        proxy_intercept_errors on;
        error_page 429 = @page;
    }

    location @page {
        v3xy_upstream_429 hold area=ai;
        return 429 "custom\n";
    }

    location /v1/i2 {
        v3xy_upstream_429 hold area=ai;
        proxy_pass http://127.0.0.1:$TEST_NGINX_ECHO_PORT;
    }
--- request eval
["GET /v1/i", "GET /v1/i2"]
--- error_code eval
[429, 429]
--- response_body_like eval
["\\Acustom\\n\\z", '"error":"The API rate-limited this key']



=== TEST 35: hold: the API's 429 replaced by a 200 page (error_page 429 =200) still holds the key in the area of the page's location
--- config
    v3xy_api_key_file $TEST_NGINX_KEY;
    v3xy_upstream_429 hold area=ai5;

    location /v1/i5 {
        proxy_pass http://127.0.0.1:$TEST_NGINX_API_PORT/busy;
        proxy_intercept_errors on;
        error_page 429 =200 /sorry;
    }

    location = /sorry {
        return 200 "sorry\n";
    }

    location /v1/i5b {
        proxy_pass http://127.0.0.1:$TEST_NGINX_ECHO_PORT;
    }
--- request eval
["GET /v1/i5", "GET /v1/i5b"]
--- error_code eval
[200, 429]
--- response_body_like eval
["\\Asorry\\n\\z", '"error":"The API rate-limited this key']



=== TEST 36: tiers: a gateway key (tier scale) whose request an X-Accel-Redirect sends into a sidecar location: there the key in use is the sidecar's own ($v3xy_key_id, $v3xy_tier, its zone's rate), not the client's
--- http_config eval
$::Api . 'v3xy_limit_zone t36 rate=1r/m tier=scale:3r/m key=$v3xy_key_id;'
--- config
    location /gw/a {
        v3xy_key_store file=$TEST_NGINX_STORE_SCALE;
        proxy_pass http://127.0.0.1:$TEST_NGINX_API_PORT/accel/?to=/v1/side;
    }

    location /v1/side {
        internal;
        v3xy_api_key_file $TEST_NGINX_OTHER_KEY;
        v3xy_limit t36;
        add_header X-Tier "[$v3xy_tier]" always;
        add_header X-Key-Id $v3xy_key_id always;
        proxy_pass http://127.0.0.1:$TEST_NGINX_ECHO_PORT;
    }
--- request eval
["GET /gw/a", "GET /gw/a"]
--- more_headers eval
"X-V3XY-API-Key: $::Gw"
--- error_code eval
[200, 429]
--- response_headers eval
my $id = 'v3xy_dev_...' . substr(Digest::SHA::sha256_hex($::Other), 0, 12);
["X-Tier: []\nX-Key-Id: $id", "X-Tier: []\nX-Key-Id: $id"]



=== TEST 37: tiers: the same after the gateway's location evaluated $v3xy_key_id itself (a zone of its own): the sidecar's location still counts its own key
--- http_config eval
$::Api . 'v3xy_limit_zone t37a rate=100r/m key=$v3xy_key_id;
v3xy_limit_zone t37 rate=1r/m tier=scale:3r/m key=$v3xy_key_id;'
--- config
    location /gw/a {
        v3xy_key_store file=$TEST_NGINX_STORE_SCALE;
        v3xy_limit t37a;
        proxy_pass http://127.0.0.1:$TEST_NGINX_API_PORT/accel/?to=/v1/side;
    }

    location /v1/side {
        internal;
        v3xy_api_key_file $TEST_NGINX_OTHER_KEY;
        v3xy_limit t37;
        add_header X-Key-Id $v3xy_key_id always;
        proxy_pass http://127.0.0.1:$TEST_NGINX_ECHO_PORT;
    }
--- request eval
["GET /gw/a", "GET /gw/a"]
--- more_headers eval
"X-V3XY-API-Key: $::Gw"
--- error_code eval
[200, 429]
--- response_headers eval
my $id = 'v3xy_dev_...' . substr(Digest::SHA::sha256_hex($::Other), 0, 12);
["X-Key-Id: $id", "X-Key-Id: $id"]



=== TEST 38: hold: a client that goes away while its hold is asked of Redis (PTTL pending, sync=0): no crash, the next request goes on
--- http_config eval
$::Api . 'v3xy_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT connect_timeout=10s timeout=3s;'
--- init
V3xy::wait_ready('/ready');
system("$V3xy::REDIS_CLI -p $ENV{TEST_NGINX_REDIS_PORT} DEBUG SLEEP 0.6 >/dev/null &");
select undef, undef, undef, 0.1;
my $c = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                              PeerPort => $ENV{TEST_NGINX_SERVER_PORT})
    or die $!;
print $c "GET /v1/h38 HTTP/1.0\r\nHost: x\r\n\r\n";
select undef, undef, undef, 0.1;
close $c;
sleep 1;
V3xy::wait_ready('/ready');
--- config
    location /v1/ {
        v3xy_api_key_file $TEST_NGINX_KEY;
        v3xy_upstream_429 hold area=h38 sync=0;
        proxy_pass http://127.0.0.1:$TEST_NGINX_ECHO_PORT;
    }
--- request
GET /v1/h38
--- error_code: 200
--- error_log eval
qr/client prematurely closed connection|499/
--- no_error_log
[alert]
[crit]
