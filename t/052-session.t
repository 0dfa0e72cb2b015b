# The gateway's session store in Redis (v3xy_session_store redis): the
# Session endpoints' Authorization: Bearer <token> resolved to its account
# through hashes v3xy:session:<sha256 of the token> (account, status; the
# hash's TTL is the session's end), with the key store's cache and failure
# rules: a valid session passes with its account (X-V3XY-Account, and
# $v3xy_account for zones and logs), unknown, revoked, expired and
# malformed ones are refused with 401 session_invalid, a request without a
# Bearer token with 401 session_missing, Redis down with 503
# session_store_unavailable and Retry-After; a revocation counts once the
# cached answer is older than cache=; no token in any log line of ours.
#
# Each block seeds the hashes it uses, under tokens of its own.

use lib 't/lib';
use Digest::SHA qw(sha256_hex);
use IO::Socket::INET;
use Time::HiRes ();
use Test::Nginx::Socket 'no_plan';
use V3xy qw(start_echo start_redis stop_redis redis header_lines free_port);

start_echo();
start_redis();

$ENV{TEST_NGINX_DEAD_PORT} = free_port();

our $Missing = '{"success":false,"error":"No Authorization: Bearer session '
    . 'token.","code":"session_missing"}';
our $Invalid = '{"success":false,"error":"The session is unknown, expired '
    . 'or revoked; sign in again.","code":"session_invalid"}';
our $Unavailable = '{"success":false,"error":"Sessions cannot be checked '
    . 'right now; try again shortly.","code":"session_store_unavailable"}';

our $Seen = sub {
    my $b = shift;
    return join '', $b =~ /^((?:x-v3xy-account|authorization|x-v3xy-api-key)
                            :[^\r\n]*\r\n)/gimx;
};

# a few checks read debug lines: nginx built --with-debug only (Debian's is)
our $Debug = (`$ENV{TEST_NGINX_BINARY} -V 2>&1` =~ /--with-debug/) ? 1 : 0;

# a token of its own for each name (base64url, as an auth service makes)
sub token { return "sEss10n-$_[0]_Zm9vYmFyYmF6cXV4LnRva2Vu" }

sub bearer { return "Authorization: Bearer " . token($_[0]) }

# session(NAME, FIELD => VALUE ...): the session's hash in Redis
sub session {
    my ($name, @fv) = @_;
    my $h = 'v3xy:session:' . sha256_hex(token($name));
    V3xy::redis('DEL', $h);
    V3xy::redis('HSET', $h, @fv) if @fv;
    return $h;
}

sub active { session($_[0], account => $_[1], status => 'active') }

# HMGETs that Redis ran since the last CONFIG RESETSTAT
sub hmgets {
    my $s = V3xy::redis('INFO', 'commandstats');
    return $s =~ /cmdstat_hmget:calls=(\d+)/ ? $1 : 0;
}

sub reset_stats { V3xy::redis('CONFIG', 'RESETSTAT') }

# get(PATH, NAME [, METHOD]): one request with that session; its status
sub get {
    my ($path, $name) = @_;
    return V3xy::http_get($path, 'Authorization' => 'Bearer ' . token($name));
}

# the line of the access log for PATH, once nginx has written it
sub access_line {
    my ($path) = @_;
    my $log = "$ENV{TEST_NGINX_SERVER_ROOT}/logs/session.log";

    for (1 .. 100) {
        if (open my $fh, '<', $log) {
            my @l = grep { index($_, $path) >= 0 } <$fh>;
            return $l[-1] if @l;
        }
        select undef, undef, undef, 0.05;
    }

    return "no line for $path\n";
}

add_block_preprocessor(sub {
    my $block = shift;

    $block->set_value('http_config', <<'_EOC_')
    v3xy_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT timeout=2s;
_EOC_
        unless defined $block->http_config;

    $block->set_value('config', <<'_EOC_') unless defined $block->config;
    location /v1/developer/ {
        v3xy_session_store redis;
        proxy_pass http://127.0.0.1:$TEST_NGINX_ECHO_PORT;
    }
_EOC_

    V3xy::redis_ready_block($block, wait => 1);
});

log_level('info');
no_shuffle();
no_long_string();
run_tests();

__DATA__

=== TEST 1: a valid session: admitted; the backend gets the account and the Authorization header, the token stays out of our logs
--- init
V3xy::wait_ready('/ready');
main::active('valid', 'acct_1001');
--- request
POST /v1/developer/wallets
{"asset":"LTC","address":"ltc1qexample"}
--- more_headers eval
main::bearer('valid')
--- error_code: 200
--- response_body_filters eval: $::Seen
--- response_body eval
"Authorization: Bearer " . main::token('valid') . "\r\n"
. "X-V3XY-Account: acct_1001\r\n"
--- no_error_log eval
[main::token('valid'), qr/Zm9vYmFy/, '[warn]', '[error]']



=== TEST 2: $v3xy_account and $v3xy_session_id in the access log: the account and a fingerprint, never the token
--- http_config
    v3xy_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT timeout=2s;
    log_format v3xy_session 'seen $request_uri account=$v3xy_account '
                            'session=$v3xy_session_id refused=$v3xy_error_code';
    access_log logs/session.log v3xy_session;
--- init
V3xy::wait_ready('/ready');
main::active('logged', 'acct_2002');
--- request
GET /v1/developer/api-keys?logged
--- more_headers eval
main::bearer('logged')
--- error_code: 200
--- response_body_filters eval
sub { main::access_line('/v1/developer/api-keys?logged') }
--- response_body eval
"seen /v1/developer/api-keys?logged account=acct_2002 session=session..."
. substr(Digest::SHA::sha256_hex(main::token('logged')), 0, 12)
. " refused=-\n"



=== TEST 3: an unknown token: 401 session_invalid, WWW-Authenticate names invalid_token, logged at info by its fingerprint
--- init
V3xy::wait_ready('/ready');
main::session('unknown');
--- request
GET /v1/developer/api-keys
--- more_headers eval
main::bearer('unknown')
--- error_code: 401
--- response_headers
Content-Type: application/json
WWW-Authenticate: Bearer error="invalid_token"
Cache-Control: no-store
--- response_body eval: $::Invalid
--- error_log eval
qr/\[info\] .*v3xy: session_invalid: unknown or expired session, session\.\.\.[0-9a-f]{12}/
--- no_error_log eval
[main::token('unknown'), qr/\[warn\] .*(?:session store|malformed)/]



=== TEST 4: a revoked session: 401 session_invalid
--- init
V3xy::wait_ready('/ready');
main::session('revoked', account => 'acct_1001', status => 'revoked');
--- request
DELETE /v1/developer/api-keys/k_1
--- more_headers eval
main::bearer('revoked')
--- error_code: 401
--- response_body eval: $::Invalid
--- error_log
session_invalid: revoked session



=== TEST 5: a session whose hash expired (its TTL): admitted before, 401 session_invalid after (cache=300ms)
--- config
    location /v1/developer/ {
        v3xy_session_store redis cache=300ms;
        proxy_pass http://127.0.0.1:$TEST_NGINX_ECHO_PORT;
    }
--- init
V3xy::wait_ready('/ready');
my $h = main::active('expiring', 'acct_5005');
V3xy::redis('PEXPIRE', $h, 1000);
Test::More::is(main::get('/v1/developer/wallets', 'expiring'), 200,
               'TEST 5: admitted while the hash lives');
V3xy::wait_until(sub { V3xy::redis('EXISTS', $h) eq '0' }, 'the TTL');
select undef, undef, undef, 0.4;
--- request
GET /v1/developer/wallets
--- more_headers eval
main::bearer('expiring')
--- error_code: 401
--- response_body eval: $::Invalid
--- error_log
session_invalid: unknown or expired session



=== TEST 6: no Authorization: 401 session_missing, WWW-Authenticate: Bearer, Redis not asked
--- init
V3xy::wait_ready('/ready');
main::reset_stats();
--- request
POST /v1/developer/wallets
{}
--- error_code: 401
--- response_headers
Content-Type: application/json
WWW-Authenticate: Bearer
--- response_body_filters eval
sub { $_[0] . "\nhmget " . main::hmgets() . "\n" }
--- response_body eval
$::Missing . "\nhmget 0\n"
--- error_log
session_missing: no Authorization



=== TEST 7: Authorization of another scheme: 401 session_missing
--- request
GET /v1/developer/wallets
--- more_headers
Authorization: Basic dXNlcjpwYXNzd29yZA==
--- error_code: 401
--- response_body eval: $::Missing
--- error_log
session_missing: Authorization of another scheme than Bearer
--- no_error_log
dXNlcjpwYXNzd29yZA



=== TEST 8: a Bearer token not of RFC 6750's form (or none): 401 session_invalid, Redis not asked
--- init
V3xy::wait_ready('/ready');
main::reset_stats();
for my $v ('Bearer', 'Bearer a"b', 'Bearer a=b', 'Bearer ' . ('x' x 4097)) {
    Test::More::is(V3xy::http_get('/v1/developer/wallets',
                                  Authorization => $v), 401,
                   "TEST 8: refused: " . substr($v, 0, 12));
}
--- request
GET /v1/developer/wallets
--- more_headers
Authorization: Bearer tok en
--- error_code: 401
--- response_body_filters eval
sub { $_[0] . "\nhmget " . main::hmgets() . "\n" }
--- response_body eval
$::Invalid . "\nhmget 0\n"
--- error_log
session_invalid: a Bearer token not of RFC 6750's form



=== TEST 9: a developer key on a Session route: 401 session_missing; with a Bearer token too: 400 credentials_mixed
--- init
V3xy::wait_ready('/ready');
main::active('mixed', 'acct_9009');
Test::More::is(V3xy::http_get('/v1/developer/wallets',
                              'X-V3XY-API-Key' => 'v3xy_dev_SomeKey_0123456789abcdef'),
               401, 'TEST 9: a key alone: 401');
--- request
GET /v1/developer/wallets
--- more_headers eval
main::bearer('mixed') . "\nX-V3XY-API-Key: v3xy_dev_SomeKey_0123456789abcdef"
--- error_code: 400
--- response_body: {"success":false,"error":"Send a developer key or a session token, not both.","code":"credentials_mixed"}
--- no_error_log eval
[main::token('mixed'), 'SomeKey']



=== TEST 9a: a browser that sends a developer key to a Session route: 403 api_key_origin, as on the key routes; a browser with a session passes
--- init
V3xy::wait_ready('/ready');
main::active('browser', 'acct_9090');
my ($status) = V3xy::http_req('GET', '/v1/developer/wallets', undef,
    Origin => 'https://v3xyservices.com',
    Authorization => 'Bearer ' . main::token('browser'));
Test::More::is($status, 200, 'TEST 9a: a browser with a session: 200');
--- request
GET /v1/developer/wallets
--- more_headers
Origin: https://evil.example
X-V3XY-API-Key: v3xy_dev_SomeKey_0123456789abcdef
--- error_code: 403
--- response_body: {"success":false,"error":"Developer API keys are for server-side use only; this request was sent by a browser.","code":"api_key_origin"}



=== TEST 9b: that refusal names the presented key by its fingerprint: $v3xy_key_id in the access log and the info line, never the key
--- http_config
    v3xy_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT timeout=2s;
    log_format v3xy_session 'seen $request_uri key=$v3xy_key_id '
                            'refused=$v3xy_error_code';
    access_log logs/session.log v3xy_session;
--- init
V3xy::wait_ready('/ready');
--- request
GET /v1/developer/wallets?origin
--- more_headers
Origin: https://evil.example
X-V3XY-API-Key: v3xy_dev_SomeKey_0123456789abcdef
--- error_code: 403
--- response_body_filters eval
sub { main::access_line('/v1/developer/wallets?origin') }
--- response_body eval
"seen /v1/developer/wallets?origin key=v3xy_dev_..."
. substr(Digest::SHA::sha256_hex('v3xy_dev_SomeKey_0123456789abcdef'), 0, 12)
. " refused=api_key_origin\n"
--- error_log eval
my $id = substr(Digest::SHA::sha256_hex('v3xy_dev_SomeKey_0123456789abcdef'), 0, 12);
qr/\[info\] .*v3xy: api_key_origin: .* presented, key v3xy_dev_\.\.\.$id/
--- no_error_log
SomeKey_0123



=== TEST 10: malformed hashes: 401 session_invalid, a warning (at most once a minute) that names no token
--- init
V3xy::wait_ready('/ready');
main::session('nostatus', account => 'acct_1');
main::session('badaccount', account => 'acct 1', status => 'active');
Test::More::is(main::get('/v1/developer/wallets', 'nostatus'), 401,
               'TEST 10: no status: refused');
--- request
GET /v1/developer/wallets
--- more_headers eval
main::bearer('badaccount')
--- error_code: 401
--- response_body eval: $::Invalid
--- grep_error_log eval: qr/\[warn\] .*v3xy: session store: the hash v3xy:session:[0-9a-f]{12}\.\.\. in redis is malformed \([^)]+\): session\.\.\.[0-9a-f]{12} is refused with session_invalid/
--- grep_error_log_out eval
[qr/\A[^\n]*malformed \(no status\)[^\n]*\n\z/]
--- error_log eval
[qr/\[info\] .*session_invalid: malformed session store entry \(no status\)/,
 qr/\[info\] .*session_invalid: malformed session store entry \(no account id, or one/]
--- no_error_log eval
[qr/Zm9vYmFy/]



=== TEST 11: one HMGET per token and cache time, for valid and unknown tokens alike
--- init
V3xy::wait_ready('/ready');
main::active('cached', 'acct_1111');
main::session('cached_unknown');
main::reset_stats();
Test::More::is(main::get('/v1/developer/wallets', 'cached_unknown'), 401)
    for 1 .. 5;
Test::More::is(main::hmgets(), 1, 'TEST 11: one HMGET for the unknown token');
--- pipelined_requests eval
[("GET /v1/developer/wallets") x 5]
--- more_headers eval
main::bearer('cached')
--- error_code eval
[(200) x 5]
--- response_body_filters eval
sub { "hmget " . main::hmgets() . "\n" }
--- response_body eval
[("hmget 2\n") x 5]



=== TEST 12: a revoked session keeps working until its answer is older than cache=, then 401
--- config
    location /v1/developer/ {
        v3xy_session_store redis cache=2s;
        proxy_pass http://127.0.0.1:$TEST_NGINX_ECHO_PORT;
    }
--- init
V3xy::wait_ready('/ready');
my $h = main::active('revoke', 'acct_1212');
Test::More::is(main::get('/v1/developer/wallets', 'revoke'), 200,
               'TEST 12: active');
my $t0 = Time::HiRes::time();
V3xy::redis('HSET', $h, 'status', 'revoked');
Test::More::is(main::get('/v1/developer/wallets', 'revoke'), 200,
               'TEST 12: revoked in Redis, still cached');
my $status;
for (1 .. 400) {
    $status = main::get('/v1/developer/wallets', 'revoke');
    last if $status != 200;
    select undef, undef, undef, 0.05;
}
my $took = Time::HiRes::time() - $t0;
Test::More::is($status, 401, 'TEST 12: revoked once the cache time is over');
Test::More::cmp_ok($took, '<', 2.5, "TEST 12: within cache= ($took s)");
Test::More::cmp_ok($took, '>', 1.0, "TEST 12: not before ($took s)");
--- request
GET /v1/developer/wallets
--- more_headers eval
main::bearer('revoke')
--- error_code: 401
--- response_body eval: $::Invalid



=== TEST 13: Redis down at start: 503 session_store_unavailable with Retry-After 2, logged once, never a pass
--- http_config
    v3xy_redis 127.0.0.1:$TEST_NGINX_DEAD_PORT timeout=100ms;
--- init
Test::More::is(V3xy::http_get('/v1/developer/wallets',
                              Authorization => 'Bearer ' . main::token('a')),
               503, 'TEST 13: first');
--- request
GET /v1/developer/wallets
--- more_headers eval
main::bearer('b')
--- error_code: 503
--- response_headers
Retry-After: 2
Content-Type: application/json
--- response_body eval: $::Unavailable
--- grep_error_log eval: qr/redis unavailable for the session store[^,]*/
--- grep_error_log_out eval
[qr/\A[^\n]*\n\z/]
--- error_log eval
qr/\[warn\] .*redis unavailable for the session store \(not connected\): sessions not in the cache are refused with 503 session_store_unavailable/



=== TEST 14: Redis killed mid-run: a cached session is still served, others get 503; restarted, lookups resume
--- http_config
    v3xy_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT timeout=1s;
--- init
V3xy::wait_ready('/ready');
main::active('kept', 'acct_1414');
main::active('later', 'acct_1415');
Test::More::is(main::get('/v1/developer/wallets', 'kept'), 200,
               'TEST 14: cached while Redis is up');
V3xy::stop_redis();
Test::More::is(main::get('/v1/developer/wallets', 'kept'), 200,
               'TEST 14: Redis down: the cached session is served');
Test::More::is(main::get('/v1/developer/wallets', 'later'), 503,
               'TEST 14: Redis down: an uncached session is refused with 503');
V3xy::start_redis();
main::active('later', 'acct_1415');
V3xy::wait_until(sub { main::get('/v1/developer/wallets', 'later') == 200 },
                 'the lookups to resume');
--- request
GET /v1/developer/wallets
--- more_headers eval
main::bearer('later')
--- error_code: 200
--- response_body_filters eval: $::Seen
--- response_body eval
"Authorization: Bearer " . main::token('later') . "\r\n"
. "X-V3XY-Account: acct_1415\r\n"



=== TEST 15: Redis slow past the timeout: 503 session_store_unavailable
--- http_config
    v3xy_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT connect_timeout=10s timeout=100ms;
--- init
V3xy::wait_ready('/ready');
main::active('slow', 'acct_1515');
system("$V3xy::REDIS_CLI -p $ENV{TEST_NGINX_REDIS_PORT} DEBUG SLEEP 1 >/dev/null &");
select undef, undef, undef, 0.2;
--- request
GET /v1/developer/wallets
--- more_headers eval
main::bearer('slow')
--- error_code: 503
--- response_body eval: $::Unavailable
--- error_log
session_store_unavailable: timed out



=== TEST 16: a session hash of another type (WRONGTYPE): 503, not a pass
--- init
V3xy::wait_ready('/ready');
my $h = main::session('wrongtype');
V3xy::redis('SET', $h, 'acct_1');
--- request
GET /v1/developer/wallets
--- more_headers eval
main::bearer('wrongtype')
--- error_code: 503
--- response_body eval: $::Unavailable



=== TEST 17: a client's X-V3XY-Account is dropped: the backend gets the session's
--- init
V3xy::wait_ready('/ready');
main::active('spoof', 'acct_1717');
--- request
GET /v1/developer/wallets
--- more_headers eval
main::bearer('spoof') . "\nX-V3XY-Account: acct_victim"
--- error_code: 200
--- response_body_filters eval: $::Seen
--- response_body eval
"Authorization: Bearer " . main::token('spoof') . "\r\n"
. "X-V3XY-Account: acct_1717\r\n"



=== TEST 18: a CORS preflight (no credentials, by the Fetch standard) goes on without an account; a plain OPTIONS does not
--- init
V3xy::wait_ready('/ready');
my ($status) = V3xy::http_req('OPTIONS', '/v1/developer/wallets', undef);
Test::More::is($status, 401, 'TEST 18: OPTIONS without Access-Control-Request-Method: 401');
--- request
OPTIONS /v1/developer/wallets
--- more_headers
Origin: https://v3xyservices.com
Access-Control-Request-Method: POST
--- error_code: 200
--- response_body_filters eval: $::Seen
--- response_body eval: ""



=== TEST 19: limits per account on a Session route: the zone on $v3xy_account counts the session's account, two tokens of one account share it
--- http_config
    v3xy_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT timeout=2s;
    v3xy_limit_zone changes rate=3r/h key=$v3xy_account;
--- config
    location /v1/developer/ {
        v3xy_session_store redis;
        v3xy_limit changes;
        proxy_pass http://127.0.0.1:$TEST_NGINX_ECHO_PORT;
    }
--- init
V3xy::wait_ready('/ready');
main::active('phone', 'acct_1919');
main::active('laptop', 'acct_1919');
main::active('other', 'acct_1920');
Test::More::is(main::get('/v1/developer/wallets', 'phone'), 200) for 1 .. 2;
Test::More::is(main::get('/v1/developer/wallets', 'laptop'), 200,
               'TEST 19: third of the account');
Test::More::is(main::get('/v1/developer/wallets', 'phone'), 429,
               'TEST 19: fourth of the account: 429');
Test::More::is(main::get('/v1/developer/wallets', 'other'), 200,
               'TEST 19: another account counts apart');
--- request
GET /v1/developer/wallets
--- more_headers eval
main::bearer('laptop')
--- error_code: 429



=== TEST 20: metrics: session lookups by result, refusals by code
--- http_config
    v3xy_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT timeout=2s;
--- config
    location /v1/developer/ {
        v3xy_session_store redis;
        proxy_pass http://127.0.0.1:$TEST_NGINX_ECHO_PORT;
    }
    location = /metrics {
        v3xy_metrics;
    }
--- init
V3xy::wait_ready('/ready');
main::active('m_valid', 'acct_2020');
main::session('m_unknown');
main::get('/v1/developer/wallets', 'm_valid') for 1 .. 3;
main::get('/v1/developer/wallets', 'm_unknown') for 1 .. 2;
V3xy::http_get('/v1/developer/wallets');
--- request
GET /metrics
--- error_code: 200
--- response_body_filters eval
sub { CORE::join '', grep { /^v3xy_session_lookups_total|^v3xy_requests_total\{role="gateway",code="session/ } split /^/, $_[0] }
--- response_body
v3xy_requests_total{role="gateway",code="session_missing"} 1
v3xy_requests_total{role="gateway",code="session_invalid"} 2
v3xy_session_lookups_total{result="hit"} 2
v3xy_session_lookups_total{result="negative"} 1
v3xy_session_lookups_total{result="miss"} 2
v3xy_session_lookups_total{result="failed"} 0



=== TEST 21: no line of ours holds a token, at debug level, whatever the decision
--- skip_eval: 2: !$main::Debug
--- log_level: debug
--- init
V3xy::wait_ready('/ready');
main::active('d_valid', 'acct_2121');
main::session('d_revoked', account => 'acct_1', status => 'revoked');
main::session('d_bad', account => 'acct_1');
main::get('/v1/developer/wallets', $_) for qw(d_valid d_valid d_revoked d_bad d_unknown);
--- request
GET /v1/developer/wallets
--- more_headers eval
main::bearer('d_valid')
--- error_code: 200
--- error_log eval
[qr/v3xy: session cache: hit \(1\), session\.\.\.[0-9a-f]{12}/,
 qr/v3xy: session store: HMGET in redis, session\.\.\.[0-9a-f]{12}/]
--- no_error_log eval
# nginx's own debug lines list the request headers and what goes upstream
# (the gateway behind needs Authorization): docs/operations.md says so
[qr/v3xy[^\n]*(?:Zm9vYmFy|sEss10n)/, '[error]']



=== TEST 21a: a client that goes away while its session is looked up: nothing breaks, the answer is cached
--- http_config
    v3xy_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT connect_timeout=10s timeout=3s;
--- init
V3xy::wait_ready('/ready');
main::active('gone', 'acct_2110');
main::reset_stats();
system("$V3xy::REDIS_CLI -p $ENV{TEST_NGINX_REDIS_PORT} DEBUG SLEEP 0.6 >/dev/null &");
select undef, undef, undef, 0.1;
my $c = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                              PeerPort => $ENV{TEST_NGINX_SERVER_PORT})
    or die $!;
print $c "GET /v1/developer/wallets HTTP/1.0\r\nHost: x\r\n"
       . main::bearer('gone') . "\r\n\r\n";
select undef, undef, undef, 0.1;
close $c;
sleep 1;
V3xy::wait_ready('/ready');
--- request
GET /v1/developer/wallets
--- more_headers eval
main::bearer('gone')
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



=== TEST 21b: two Authorization headers: nginx refuses the request (400), it never reaches the backend
--- request
GET /v1/developer/wallets
--- more_headers eval
main::bearer('one') . "\n" . main::bearer('two')
--- error_code: 400
--- response_body_like: 400 Bad Request
--- error_log
client sent duplicate header line



=== TEST 22: v3xy_session_store redis needs v3xy_redis
--- http_config
--- config
    location /v1/ {
        v3xy_session_store redis;
    }
--- must_die
--- error_log
"v3xy_session_store redis" in
needs v3xy_redis in the http block



=== TEST 23: a location cannot take both a session and a developer key
--- config
    location /v1/ {
        v3xy_session_store redis;
        v3xy_key_store redis;
    }
--- must_die
--- error_log
v3xy_session_store cannot apply to a location of v3xy_key_store



=== TEST 24: bad parameters of v3xy_session_store are configuration errors
--- config
    location /v1/ {
        v3xy_session_store file=/etc/passwd;
    }
--- must_die
--- error_log
v3xy_session_store takes redis [cache=TIME] [size=SIZE], or off



=== TEST 25: cache=0 is a configuration error
--- config
    location /v1/ {
        v3xy_session_store redis cache=0;
    }
--- must_die
--- error_log
invalid cache time "cache=0"



=== TEST 26: "off" in an inner location: no session needed there
--- config
    location /v1/ {
        v3xy_session_store redis;
        proxy_pass http://127.0.0.1:$TEST_NGINX_ECHO_PORT;

        location /v1/public/ {
            v3xy_session_store off;
            proxy_pass http://127.0.0.1:$TEST_NGINX_ECHO_PORT;
        }
    }
--- init
V3xy::wait_ready('/ready');
Test::More::is(V3xy::http_get('/v1/developer/wallets'), 401,
               'TEST 26: the outer location needs a session');
--- request
GET /v1/public/x
--- error_code: 200
