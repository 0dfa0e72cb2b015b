# The gateway's key store in Redis (v3xy_key_store redis): each decision of
# t/050 with hashes v3xy:key:<sha256> in a real Redis, the cache in shared
# memory (one HMGET per key and cache time, refusals too, concurrent
# lookups of one key shared), a revocation seen within the cache time,
# every failure of Redis a 503 key_store_unavailable for keys not in the
# cache (never a pass), a flood of unknown keys that neither grows the
# cache nor evicts a valid key, and no key in any log line of ours.
#
# Each block seeds the hashes it uses, under keys of its own.

use lib 't/lib';
use Digest::SHA qw(sha256_hex);
use IO::Socket::INET;
use Test::Nginx::Socket 'no_plan';
use V3xy qw(start_echo start_redis stop_redis redis header_lines free_port);

start_echo();
start_redis();

$ENV{TEST_NGINX_DEAD_PORT} = free_port();

our $Unavailable = '{"success":false,"error":"Developer keys cannot be '
    . 'checked right now; try again shortly.","code":"key_store_unavailable"}';
our $Invalid = '{"success":false,"error":"The developer key is revoked or '
    . 'unknown.","code":"api_key_invalid"}';

our $Account = header_lines('x-v3xy-account');

# a developer key of its own for each name
# a few checks read debug lines: nginx built --with-debug only (Debian's is)
our $Debug = (`$ENV{TEST_NGINX_BINARY} -V 2>&1` =~ /--with-debug/) ? 1 : 0;

sub key { return "v3xy_dev_RedisStore_$_[0]_0123456789abcdef" }

# store(NAME, FIELD => VALUE ...): the key's hash in Redis
sub store {
    my ($name, @fv) = @_;
    my $h = 'v3xy:key:' . sha256_hex(key($name));
    V3xy::redis('DEL', $h);
    V3xy::redis('HSET', $h, @fv) if @fv;
}

sub active {
    my ($name, $account, $scopes) = @_;
    store($name, account => $account, scopes => $scopes, status => 'active');
}

# HMGETs that Redis ran since the last CONFIG RESETSTAT
sub hmgets {
    my $s = V3xy::redis('INFO', 'commandstats');
    return $s =~ /cmdstat_hmget:calls=(\d+)/ ? $1 : 0;
}

sub reset_stats { V3xy::redis('CONFIG', 'RESETSTAT') }

# get(PATH, NAME): one request with that key; its status
sub get {
    my ($path, $name) = @_;
    return V3xy::http_get($path, 'X-V3XY-API-Key' => key($name));
}

# get_many(PATH, NAME ...): one request per key, pipelined on one
# connection; their statuses
sub get_many {
    my ($path, @names) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                  PeerPort => $ENV{TEST_NGINX_SERVER_PORT})
        or die "get_many: $!";
    my $req = '';

    for my $i (0 .. $#names) {
        $req .= "GET $path HTTP/1.1\r\nHost: localhost\r\n"
              . "X-V3XY-API-Key: " . key($names[$i]) . "\r\n"
              . ($i == $#names ? "Connection: close\r\n" : '') . "\r\n";
    }

    print $s $req;
    local $/;
    my $resp = <$s>;
    close $s;
    # a JSON refusal ends without a newline: the next status line follows
    return $resp =~ m{HTTP/1\.1 (\d{3}) }g;
}

add_block_preprocessor(sub {
    my $block = shift;

    $block->set_value('http_config', <<'_EOC_')
    v3xy_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT timeout=2s;
_EOC_
        unless defined $block->http_config;

    $block->set_value('config', <<'_EOC_') unless defined $block->config;
    location /v1/ {
        v3xy_key_store redis;

        location = /v1/developer/payments/crypto {
            v3xy_scope payments:create;
            proxy_pass http://127.0.0.1:$TEST_NGINX_ECHO_PORT;
        }

        location = /v1/developer/payment-status {
            v3xy_scope payments:read;
            proxy_pass http://127.0.0.1:$TEST_NGINX_ECHO_PORT;
        }
    }
_EOC_

    V3xy::redis_ready_block($block);
});

log_level('info');
no_shuffle();
no_long_string();
run_tests();

__DATA__

=== TEST 1: a valid key with the scope: admitted; the backend gets the account from Redis, not the key
--- init
V3xy::wait_ready('/ready');
main::active('valid', 'acct_1001', 'payments:create payments:read');
--- request
POST /v1/developer/payments/crypto
{"asset":"LTC","amount_usd_cents":2500}
--- more_headers eval
"X-V3XY-API-Key: " . main::key('valid')
--- error_code: 200
--- response_body_filters eval: $::Account
--- response_body eval: "X-V3XY-Account: acct_1001\r\n"
--- no_error_log eval
[main::key('valid'), qr/\[warn\] .*(?:key store|malformed)/, '[error]']



=== TEST 2: an unknown key: 403 api_key_invalid
--- init
V3xy::wait_ready('/ready');
main::store('unknown');
--- request
GET /v1/developer/payment-status
--- more_headers eval
"X-V3XY-API-Key: " . main::key('unknown')
--- error_code: 403
--- response_body eval: $::Invalid
--- error_log eval
qr/\[info\] .*v3xy: api_key_invalid: unknown key, key v3xy_dev_\.\.\.[0-9a-f]{12}/
--- no_error_log eval
qr/\[warn\] .*(?:key store|malformed)/



=== TEST 3: a revoked key: 403 api_key_invalid
--- init
V3xy::wait_ready('/ready');
main::store('revoked', account => 'acct_1001', scopes => 'payments:read',
            status => 'revoked');
--- request
GET /v1/developer/payment-status
--- more_headers eval
"X-V3XY-API-Key: " . main::key('revoked')
--- error_code: 403
--- response_body eval: $::Invalid
--- error_log
api_key_invalid: revoked key
--- no_error_log eval
qr/\[warn\] .*(?:key store|malformed)/



=== TEST 4: a key without the location's scope: 403 api_key_scope
--- init
V3xy::wait_ready('/ready');
main::active('reader', 'acct_2002', 'payments:read');
--- request
POST /v1/developer/payments/crypto
{}
--- more_headers eval
"X-V3XY-API-Key: " . main::key('reader')
--- error_code: 403
--- response_body: {"success":false,"error":"The developer key is not permitted for this endpoint.","code":"api_key_scope"}



=== TEST 5: the same key where its scope applies: admitted (scopes separated by runs of spaces)
--- init
V3xy::wait_ready('/ready');
main::active('reader2', 'acct_2002', '  verify:send   payments:read ');
--- request
GET /v1/developer/payment-status?payment_ref=cp_1
--- more_headers eval
"X-V3XY-API-Key: " . main::key('reader2')
--- error_code: 200
--- response_body_filters eval: $::Account
--- response_body eval: "X-V3XY-Account: acct_2002\r\n"



=== TEST 6: malformed hashes: 403 api_key_invalid, a warning (at most once a minute) that names no key
--- init
V3xy::wait_ready('/ready');
main::store('nostatus', account => 'acct_1', scopes => 'payments:read');
main::store('badscope', account => 'acct_1',
            scopes => 'payments:read,verify:send', status => 'active');
main::store('badstatus', account => 'acct_1', scopes => 'payments:read',
            status => 'enabled');
Test::More::is(main::get('/v1/developer/payment-status', 'nostatus'), 403,
               'TEST 6: no status: refused');
Test::More::is(main::get('/v1/developer/payment-status', 'badscope'), 403,
               'TEST 6: scopes separated by commas: refused');
--- request
GET /v1/developer/payment-status
--- more_headers eval
"X-V3XY-API-Key: " . main::key('badstatus')
--- error_code: 403
--- response_body eval: $::Invalid
--- grep_error_log eval: qr/\[warn\] .*v3xy: key store: the hash v3xy:key:[0-9a-f]{12}\.\.\. in redis is malformed \([^)]+\): key v3xy_dev_\.\.\.[0-9a-f]{12} is refused/
--- grep_error_log_out eval
[qr/\A[^\n]*malformed \(no status\)[^\n]*\n\z/]
--- error_log eval
[qr/\[info\] .*api_key_invalid: malformed key store entry \(no status\)/,
 qr/\[info\] .*api_key_invalid: malformed key store entry \(a scope that is not/,
 qr/\[info\] .*api_key_invalid: malformed key store entry \(a status other than "active" or "revoked"\)/]
--- no_error_log eval
[qr/RedisStore_/]



=== TEST 7: a key not of the key's form costs Redis nothing
--- init
V3xy::wait_ready('/ready');
main::reset_stats();
--- request
GET /v1/developer/payment-status
--- more_headers
X-V3XY-API-Key: sk_live_NotOurForm_12345678901234
--- error_code: 403
--- response_body_filters eval
sub { "hmget " . main::hmgets() . "\n" }
--- response_body
hmget 0



=== TEST 8: one HMGET per key and cache time, for valid and unknown keys alike
--- init
V3xy::wait_ready('/ready');
main::active('cached', 'acct_3003', 'payments:read');
main::store('cached_unknown');
main::reset_stats();
Test::More::is_deeply([main::get_many('/v1/developer/payment-status',
                                      ('cached_unknown') x 5)],
                      [(403) x 5], 'TEST 8: unknown five times');
Test::More::is(main::hmgets(), 1, 'TEST 8: one HMGET for the unknown key');
--- pipelined_requests eval
[("GET /v1/developer/payment-status") x 5]
--- more_headers eval
"X-V3XY-API-Key: " . main::key('cached')
--- error_code eval
[(200) x 5]
--- response_body_filters eval
sub { "hmget " . main::hmgets() . "\n" }
--- response_body eval
[("hmget 2\n") x 5]



=== TEST 9: concurrent requests with one key share one lookup
--- http_config
    v3xy_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT connect_timeout=10s timeout=10s;
--- init
V3xy::wait_ready('/ready');
main::active('shared', 'acct_4004', 'payments:read');
main::reset_stats();
system("$V3xy::REDIS_CLI -p $ENV{TEST_NGINX_REDIS_PORT} DEBUG SLEEP 1 >/dev/null &");
select undef, undef, undef, 0.2;
my @c;
for (1 .. 5) {
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                  PeerPort => $ENV{TEST_NGINX_SERVER_PORT})
        or die $!;
    print $s "GET /v1/developer/payment-status HTTP/1.0\r\nHost: x\r\n"
           . "X-V3XY-API-Key: " . main::key('shared') . "\r\n\r\n";
    push @c, $s;
}
my @status = map {
    local $/;
    my $r = <$_>;
    $r =~ m{^HTTP/1\.\d (\d+)} ? $1 : 0;
} @c;
Test::More::is_deeply(\@status, [(200) x 5], 'TEST 9: all five admitted');
--- request
GET /v1/developer/payment-status
--- more_headers eval
"X-V3XY-API-Key: " . main::key('shared')
--- error_code: 200
--- response_body_filters eval
sub { "hmget " . main::hmgets() . "\n" }
--- response_body
hmget 1



=== TEST 10: a revoked key keeps working until its answer is older than cache=, then 403
--- config
    location /v1/ {
        v3xy_key_store redis cache=2s;
        proxy_pass http://127.0.0.1:$TEST_NGINX_ECHO_PORT;
    }
--- init
V3xy::wait_ready('/ready');
main::active('revoke', 'acct_5005', 'payments:read');
Test::More::is(main::get('/v1/x', 'revoke'), 200, 'TEST 10: active');
V3xy::redis('HSET', 'v3xy:key:' . Digest::SHA::sha256_hex(main::key('revoke')),
            'status', 'revoked');
my $status;
for (1 .. 400) {
    $status = main::get('/v1/x', 'revoke');
    last if $status != 200;
    select undef, undef, undef, 0.05;
}
Test::More::is($status, 403, 'TEST 10: revoked once the cache time is over');
--- request
GET /v1/x
--- more_headers eval
"X-V3XY-API-Key: " . main::key('revoke')
--- error_code: 403
--- response_body eval: $::Invalid
--- error_log
api_key_invalid: revoked key



=== TEST 11: within the cache time the cached answer is what counts, not Redis
--- config
    location /v1/ {
        v3xy_key_store redis cache=1h;
        proxy_pass http://127.0.0.1:$TEST_NGINX_ECHO_PORT;
    }
--- init
V3xy::wait_ready('/ready');
main::active('sticky', 'acct_5006', 'payments:read');
Test::More::is(main::get('/v1/x', 'sticky'), 200, 'TEST 11: active');
V3xy::redis('HSET', 'v3xy:key:' . Digest::SHA::sha256_hex(main::key('sticky')),
            'status', 'revoked');
--- request
GET /v1/x
--- more_headers eval
"X-V3XY-API-Key: " . main::key('sticky')
--- error_code: 200



=== TEST 12: Redis down at start: 503 key_store_unavailable with Retry-After 2, logged once, never a pass
--- http_config
    v3xy_redis 127.0.0.1:$TEST_NGINX_DEAD_PORT timeout=100ms;
--- init
select undef, undef, undef, 0.3;
main::get('/v1/developer/payment-status', 'down') for 1 .. 2;
--- request
GET /v1/developer/payment-status
--- more_headers eval
"X-V3XY-API-Key: " . main::key('down')
--- error_code: 503
--- response_headers
Content-Type: application/json
Cache-Control: no-store
Retry-After: 2
--- response_body eval: $::Unavailable
--- grep_error_log eval: qr/redis unavailable for the key store/
--- grep_error_log_out
redis unavailable for the key store
--- error_log eval
qr/\[info\] .*v3xy: key_store_unavailable: not connected, key v3xy_dev_\.\.\.[0-9a-f]{12}/



=== TEST 13: Redis killed mid-run: cached keys are still served, others get 503; restarted, lookups resume
--- http_config
    v3xy_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT timeout=1s;
--- init
V3xy::wait_ready('/ready');
main::active('before', 'acct_6006', 'payments:read');
main::active('after', 'acct_6007', 'payments:read');
Test::More::is(main::get('/v1/developer/payment-status', 'before'), 200,
               'TEST 13: cached while Redis is up');
V3xy::stop_redis();
select undef, undef, undef, 0.3;
Test::More::is(main::get('/v1/developer/payment-status', 'before'), 200,
               'TEST 13: Redis down: the cached key is served');
Test::More::is(main::get('/v1/developer/payment-status', 'after'), 503,
               'TEST 13: Redis down: an uncached key is refused with 503');
V3xy::start_redis();
V3xy::wait_ready('/ready');
main::active('after', 'acct_6007', 'payments:read');
--- request
GET /v1/developer/payment-status
--- more_headers eval
"X-V3XY-API-Key: " . main::key('after')
--- error_code: 200
--- response_body_filters eval: $::Account
--- response_body eval: "X-V3XY-Account: acct_6007\r\n"
--- error_log eval
[qr/\[warn\] .*v3xy: redis 127\.0\.0\.1:\d+ unavailable/,
 qr/\[warn\] .*v3xy: redis unavailable for the key store/,
 qr/\[info\] .*key_store_unavailable/,
 qr/\[notice\] .*v3xy: redis 127\.0\.0\.1:\d+ is back/]



=== TEST 14: Redis slow past the timeout: 503 key_store_unavailable
--- http_config
    v3xy_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT connect_timeout=10s timeout=100ms;
--- init
V3xy::wait_ready('/ready');
main::active('slow', 'acct_7007', 'payments:read');
system("$V3xy::REDIS_CLI -p $ENV{TEST_NGINX_REDIS_PORT} DEBUG SLEEP 1 >/dev/null &");
select undef, undef, undef, 0.2;
--- request
GET /v1/developer/payment-status
--- more_headers eval
"X-V3XY-API-Key: " . main::key('slow')
--- error_code: 503
--- response_body eval: $::Unavailable
--- error_log eval
[qr/\[warn\] .*v3xy: redis 127\.0\.0\.1:\d+ unavailable: reply timed out/,
 qr/\[info\] .*key_store_unavailable: timed out/]



=== TEST 15: a key of another type in Redis (WRONGTYPE): 503, logged; other keys unaffected
--- init
V3xy::wait_ready('/ready');
my $h = 'v3xy:key:' . Digest::SHA::sha256_hex(main::key('wrongtype'));
V3xy::redis('DEL', $h);
V3xy::redis('SET', $h, 'not a hash');
main::active('righttype', 'acct_8008', 'payments:read');
Test::More::is(main::get('/v1/developer/payment-status', 'wrongtype'), 503,
               'TEST 15: the key of another type: 503');
--- request
GET /v1/developer/payment-status
--- more_headers eval
"X-V3XY-API-Key: " . main::key('righttype')
--- error_code: 200
--- error_log eval
[qr/\[warn\] .*v3xy: redis 127\.0\.0\.1:\d+ replied: WRONGTYPE/,
 qr/\[info\] .*key_store_unavailable: unexpected reply/]



=== TEST 16: a flood of unknown keys: refusals recycle their own part of the cache, a valid key stays cached
--- http_config
    v3xy_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT connect_timeout=10s timeout=10s;
--- config
    location /v1/ {
        v3xy_key_store redis cache=1h size=32k;
        proxy_pass http://127.0.0.1:$TEST_NGINX_ECHO_PORT;
    }
--- log_level: debug
--- init
V3xy::wait_ready('/ready');
main::active('survivor', 'acct_9009', 'payments:read');
Test::More::is(main::get('/v1/x', 'survivor'), 200, 'TEST 16: valid, cached');
main::reset_stats();
my @flood = map { "flood$_" } 1 .. 200;
my @got = main::get_many('/v1/x', @flood);
Test::More::is(scalar(grep { $_ == 403 } @got), 200,
               'TEST 16: 200 unknown keys refused');
Test::More::is(main::hmgets(), 200, 'TEST 16: one HMGET each');
@got = main::get_many('/v1/x', @flood[190 .. 199]);
Test::More::is(scalar(grep { $_ == 403 } @got), 10,
               'TEST 16: the last ten again: refused');
Test::More::is(main::hmgets(), 200, 'TEST 16: ... from the cache, no HMGET');
Test::More::is(main::get('/v1/x', 'flood1'), 403,
               'TEST 16: the first again: refused');
Test::More::is(main::hmgets(), 201,
               'TEST 16: ... looked up again: it was forgotten');
if ($main::Debug) {
    my ($max, $bound) = (0, 0);
    open my $log, '<', "$ENV{TEST_NGINX_SERVER_ROOT}/logs/error.log"
        or die $!;
    while (<$log>) {
        next unless
            /key cache: stored .*; \d+ valid keys, (\d+) of (\d+) refusals/;
        $max = $1 if $1 > $max;
        $bound = $2;
    }
    Test::More::ok($bound > 0 && $bound < 200,
                   "TEST 16: a bound of $bound refusals");
    Test::More::is($max, $bound, 'TEST 16: the refusals never exceed it');
}
--- request
GET /v1/x
--- more_headers eval
"X-V3XY-API-Key: " . main::key('survivor')
--- error_code: 200
--- response_body_filters eval
sub { "hmget " . main::hmgets() . "\n" }
--- response_body
hmget 201



=== TEST 17: no line of ours holds a key, at debug level, whatever the decision
--- skip_eval: 4: !$main::Debug
--- http_config
    v3xy_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT timeout=2s;
    log_format keys '$status $v3xy_key_id $v3xy_account $v3xy_error_code';
--- log_level: debug
--- init
V3xy::wait_ready('/ready');
main::active('secret_ok', 'acct_1', 'payments:read');
main::store('secret_unknown');
main::store('secret_revoked', status => 'revoked');
main::store('secret_malformed', account => 'acct_1');
main::get('/v1/developer/payment-status', $_)
    for qw(secret_ok secret_ok secret_unknown secret_revoked secret_malformed);
main::get('/v1/developer/payments/crypto', 'secret_ok');
--- request
GET /v1/developer/payment-status
--- more_headers eval
"X-V3XY-API-Key: " . main::key('secret_ok')
--- error_code: 200
--- error_log eval
[qr/v3xy: key cache: hit/, qr/v3xy: key store: HMGET in redis, key v3xy_dev_\.\.\.[0-9a-f]{12}/]
--- no_error_log eval
# nginx's own debug lines list the request headers: docs/operations.md says so
[qr/^(?!.*http header: "X-V3XY-API-Key: ).*RedisStore_/, '[error]']
--- no_access_log
RedisStore_



=== TEST 18: v3xy_key_store redis needs v3xy_redis
--- http_config
--- config
    location /v1/ {
        v3xy_key_store redis;
    }
--- must_die
--- error_log eval
qr/\[emerg\] .*"v3xy_key_store redis" in .*nginx\.conf:\d+ needs v3xy_redis in the http block/



=== TEST 19: bad parameters of v3xy_key_store are configuration errors
--- config
    location /v1/ {
        v3xy_key_store redis cache=0;
    }
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid cache time "cache=0"/



=== TEST 20: a size below 8 pages is a configuration error
--- config
    location /v1/ {
        v3xy_key_store redis size=4k;
    }
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid size "size=4k": at least \d+/



=== TEST 21: an unknown parameter is a configuration error
--- config
    location /v1/ {
        v3xy_key_store redis ttl=5s;
    }
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid parameter "ttl=5s"/



=== TEST 22: file= takes no other parameter
--- config
    location /v1/ {
        v3xy_key_store file=/dev/null cache=5s;
    }
--- must_die
--- error_log eval
qr/\[emerg\] .*v3xy_key_store takes file=PATH, redis \[cache=TIME\] \[size=SIZE\], or off/



=== TEST 23: a client that goes away while its key is looked up: nothing breaks, the answer is cached
--- http_config
    v3xy_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT connect_timeout=10s timeout=3s;
--- init
V3xy::wait_ready('/ready');
main::active('gone', 'acct_1010', 'payments:read');
main::reset_stats();
system("$V3xy::REDIS_CLI -p $ENV{TEST_NGINX_REDIS_PORT} DEBUG SLEEP 0.6 >/dev/null &");
select undef, undef, undef, 0.1;
my $c = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                              PeerPort => $ENV{TEST_NGINX_SERVER_PORT})
    or die $!;
print $c "GET /v1/developer/payment-status HTTP/1.0\r\nHost: x\r\n"
       . "X-V3XY-API-Key: " . main::key('gone') . "\r\n\r\n";
select undef, undef, undef, 0.1;
close $c;
sleep 1;
V3xy::wait_ready('/ready');
--- request
GET /v1/developer/payment-status
--- more_headers eval
"X-V3XY-API-Key: " . main::key('gone')
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



=== TEST 24: the key, then the limits: both steps wait for Redis in turn, limits per account
--- http_config
    v3xy_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT timeout=2s;
    v3xy_limit_zone per_account rate=2r/m key=$v3xy_account;
--- config
    location /v1/ {
        v3xy_key_store redis;
        v3xy_limit per_account;
        v3xy_limit_fail closed;
        proxy_pass http://127.0.0.1:$TEST_NGINX_ECHO_PORT;
    }
--- init
V3xy::wait_ready('/ready');
main::active('limited', 'acct_limit_24', 'payments:read');
V3xy::redis('DEL', 'v3xy:{per_account:acct_limit_24}');
--- pipelined_requests eval
["GET /v1/a", "GET /v1/b", "GET /v1/c"]
--- more_headers eval
"X-V3XY-API-Key: " . main::key('limited')
--- error_code eval
[200, 200, 429]
--- response_body_filters eval
sub {
    return "$1\n" if $_[0] =~ /"code":"(\w+)"/;
    return V3xy::redis('EXISTS', 'v3xy:{per_account:acct_limit_24}') . "\n";
}
--- response_body eval
["1\n", "1\n", "rate_limited\n"]



=== TEST 25: after an internal redirect (try_files to a named location) the key stays checked, once
--- config
    location /v1/ {
        v3xy_key_store redis;
        try_files /nonexistent @gateway;
    }

    location @gateway {
        proxy_pass http://127.0.0.1:$TEST_NGINX_ECHO_PORT;
    }
--- init
V3xy::wait_ready('/ready');
main::active('redirect', 'acct_1111', 'payments:read');
main::reset_stats();
--- request
GET /v1/developer/payment-status
--- more_headers eval
"X-V3XY-API-Key: " . main::key('redirect')
--- error_code: 200
--- response_body_filters eval
sub { $::Account->($_[0]) . "hmget " . main::hmgets() . "\n" }
--- response_body eval: "X-V3XY-Account: acct_1111\r\nhmget 1\n"



=== TEST 26: a client's X-V3XY-Account is dropped; the key stays with nginx
--- init
V3xy::wait_ready('/ready');
main::active('spoof', 'acct_1212', 'payments:read');
--- request
GET /v1/developer/payment-status
--- more_headers eval
"X-V3XY-API-Key: " . main::key('spoof') . "\nX-V3XY-Account: acct_victim"
--- error_code: 200
--- response_body_filters eval
sub {
    $::Account->($_[0]) . ($_[0] =~ /RedisStore_/ ? "key sent\n" : "no key\n");
}
--- response_body eval: "X-V3XY-Account: acct_1212\r\nno key\n"



=== TEST 27: two stores of one http block share the cache (the larger size), each with its own cache time
--- config
    location /a/ {
        v3xy_key_store redis cache=1h size=64k;
        proxy_pass http://127.0.0.1:$TEST_NGINX_ECHO_PORT;
    }

    location /b/ {
        v3xy_key_store redis cache=30s size=32k;
        proxy_pass http://127.0.0.1:$TEST_NGINX_ECHO_PORT;
    }
--- init
V3xy::wait_ready('/ready');
main::active('shared_zone', 'acct_1313', 'payments:read');
main::reset_stats();
Test::More::is(main::get('/a/x', 'shared_zone'), 200, 'TEST 27: /a/ asks');
--- request
GET /b/x
--- more_headers eval
"X-V3XY-API-Key: " . main::key('shared_zone')
--- error_code: 200
--- response_body_filters eval
sub { $::Account->($_[0]) . "hmget " . main::hmgets() . "\n" }
--- response_body eval: "X-V3XY-Account: acct_1313\r\nhmget 1\n"
