# The API's own 429, honoured (v3xy_upstream_429): when the API answers
# 429 with Retry-After for a key, nginx answers that key's requests of the
# same area itself (429 rate_limited, the remaining Retry-After) until
# then, without calling the API; in shared memory, and through Redis for
# every nginx of a fleet.
#
# The API is t/lib/V3xyApi.pm: it answers 429 when a request tells it to
# (X-Test-429: the Retry-After to send) and counts the requests that
# reached it.  Holds are seconds long: the blocks poll for their end.
# Instance B (t/lib/V3xyFleet.pm) is a second nginx on the same Redis.

use lib 't/lib';
use Digest::SHA qw(sha256_hex);
use POSIX ();
use Test::Nginx::Socket 'no_plan';
use Time::HiRes ();
use V3xy qw(key_file start_redis stop_redis redis free_port http_req
            wait_until);
use V3xyApi qw(start_api api_count);
use V3xyFleet qw(start_b);

our $Key = 'v3xy_dev_HoldTestKey_0123456789abcdef';
our $Other = 'v3xy_dev_HoldOtherKey_0123456789abcde';

$ENV{TEST_NGINX_KEY_FILE} = key_file('api_key', "$Key\n");
$ENV{TEST_NGINX_KEY_STORE} = key_file('keys', <<"_EOS_");
${\ sha256_hex($Key)} acct_1 payments:create
${\ sha256_hex($Other)} acct_2 payments:create
_EOS_
$ENV{TEST_NGINX_DEAD_PORT} = free_port();

start_api();
start_redis();

# the fleet's configuration: A's (Test::Nginx's) and B's
our $Fleet = <<'_EOC_';
    v3xy_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT connect_timeout=2s timeout=1s;
_EOC_

our $FleetLocations = <<'_EOC_';
    v3xy_api_key_file $TEST_NGINX_KEY_FILE;
    add_header X-Key-Id $v3xy_key_id always;

    location /v1/ {
        proxy_pass http://127.0.0.1:$TEST_NGINX_API_PORT;
    }

    location /v1/now/ {
        v3xy_upstream_429 hold sync=0;
        proxy_pass http://127.0.0.1:$TEST_NGINX_API_PORT;
    }

    location /v1/long/ {
        v3xy_upstream_429 hold sync=60s;
        proxy_pass http://127.0.0.1:$TEST_NGINX_API_PORT;
    }
_EOC_

our $BPort = start_b($Fleet, $FleetLocations);

# req(PATH, HEADER => VALUE ...): a GET to A (or to port => P):
# (status, head, body)
sub req {
    my ($path, %h) = @_;
    return http_req('GET', $path, undef, %h);
}

# the API answered (its X-Api-Seen), or nginx did
sub from_api {
    my ($head) = @_;
    return $head =~ /^X-Api-Seen: /m ? 1 : 0;
}

# a 429 that nginx answered in the API's stead, with Retry-After in RANGE
sub held {
    my ($what, $range, $st, $head, $body) = @_;

    Test::More::is($st, 429, "$what: 429");
    Test::More::is(from_api($head), 0, "$what: answered by nginx, not the "
                   . "API");
    Test::More::like($head, qr/^Retry-After: $range\r$/m,
                     "$what: Retry-After $range");
    Test::More::like($head, qr{^Content-Type: application/json\r$}m,
                     "$what: JSON");
    Test::More::like($body, qr/\A\{"success":false,"error":"[^"]+",
                               "code":"rate_limited"\}\z/x,
                     "$what: the API's error JSON, rate_limited");
    Test::More::unlike($head, qr/^RateLimit/mi,
                       "$what: no RateLimit headers (no quota of ours "
                       . "was asked)");
}

# polls PATH (up to 10 s) until it is answered 200; the seconds it took
sub until_200 {
    my ($path, %h) = @_;
    my $t0 = Time::HiRes::time();

    wait_until(sub {
        die "$path: no 200 within 10 s\n"
            if Time::HiRes::time() - $t0 > 10;
        my ($st, $head) = req($path, %h);
        return $st == 200;
    }, "$path to answer 200");

    return Time::HiRes::time() - $t0;
}

# a metric's value from A's /metrics, 0 if absent
sub metric {
    my ($re) = @_;
    my (undef, undef, $body) = req('/metrics');
    return $body =~ /^\Q$re\E (\d+)$/m ? $1 : 0;
}

add_block_preprocessor(sub {
    my $block = shift;

    $block->set_value('config', <<'_EOC_') unless defined $block->config;
    location /v1/ {
        v3xy_api_key_file $TEST_NGINX_KEY_FILE;
        proxy_pass http://127.0.0.1:$TEST_NGINX_API_PORT;
    }

    location = /metrics {
        v3xy_metrics;
    }
_EOC_

    $block->set_value('request', "GET /v1/last\n")
        unless defined $block->request;
});

log_level("info");
no_shuffle();
no_long_string();
run_tests();

__DATA__

=== TEST 1: the API's 429 with Retry-After: 3 holds the key: nginx answers 429 itself until then, the API gets nothing; then requests pass again; counted
--- init
my ($st, $head) = main::req('/v1/t1/a', 'X-Test-429' => '3');
Test::More::is($st, 429, "the API's 429 reaches the client");
Test::More::is(main::from_api($head), 1, 'as the API sent it');
Test::More::like($head, qr/^Retry-After: 3\r$/m, 'with its Retry-After');
my $t0 = Time::HiRes::time();
main::held('the next request', '[1-3]', main::req('/v1/t1/b'));
main::held('a POST', '[1-3]', V3xy::http_req('POST', '/v1/t1/p', '{"a":1}'));
Test::More::is(V3xyApi::api_count('/v1/t1/'), 1, 'the API got the first request only');
my $held = 2;
V3xy::wait_until(sub { my ($s) = main::req('/v1/t1/c'); $held++ if $s == 429; $s == 200 }, 'the hold to end');
my $took = Time::HiRes::time() - $t0;
Test::More::cmp_ok($took, '>', 1.9, "held for about 3 s ($took)");
Test::More::cmp_ok($took, '<', 3.9, 'and no longer');
Test::More::is(V3xyApi::api_count('/v1/t1/'), 2, 'the API got nothing while the key was held, then one');
Test::More::is(main::metric('v3xy_upstream_429_total{role="sidecar",source="api"}'), 1, 'metrics: one 429 of the API');
Test::More::is(main::metric('v3xy_upstream_429_total{role="sidecar",source="hold"}'), $held, "metrics: $held requests held");
Test::More::is(main::metric('v3xy_requests_total{role="sidecar",code="rate_limited"}'), $held, 'and as many rate_limited refusals');
--- error_code: 200
--- response_body
api ok
--- error_log
the API answered 429 for key v3xy_dev_
are held for 3000 ms
v3xy: rate_limited: the API's 429 holds key v3xy_dev_
--- no_error_log
[error]
[alert]
HoldTestKey_0123456789abcdef



=== TEST 2: Retry-After as an HTTP-date holds until then
--- init
main::req('/v1/t2/up');    # nginx is up (seconds under valgrind)
my $end = time + 5;
my $date = POSIX::strftime('%a, %d %b %Y %H:%M:%S GMT', gmtime($end));
my ($st, $head) = main::req('/v1/t2/a', 'X-Test-429' => $date);
Test::More::is($st, 429, "the API's 429 (Retry-After: $date)");
main::held('the next request', '[1-5]', main::req('/v1/t2/b'));
Test::More::is(V3xyApi::api_count('/v1/t2/'), 2, 'the API got nothing after its 429');
main::until_200('/v1/t2/c');
my $late = Time::HiRes::time() - $end;
Test::More::cmp_ok($late, '>', -1, "the hold lasted until the date ($late s after it)");
Test::More::cmp_ok($late, '<', 1, 'and ended with it');
--- error_code: 200
--- no_error_log
[error]
[alert]



=== TEST 3: an absurd Retry-After is capped: at 10 minutes by default, at max= where set
--- config
    v3xy_api_key_file $TEST_NGINX_KEY_FILE;

    location /v1/ {
        proxy_pass http://127.0.0.1:$TEST_NGINX_API_PORT;
    }

    location /v1/short/ {
        v3xy_upstream_429 hold max=2s;
        proxy_pass http://127.0.0.1:$TEST_NGINX_API_PORT;
    }
--- init
main::req('/v1/t3/a', 'X-Test-429' => '99999999999');
main::held('after Retry-After: 99999999999', '(599|600)', main::req('/v1/t3/b'));
my $date = POSIX::strftime('%a, %d %b %Y %H:%M:%S GMT', gmtime(time + 86400 * 365));
main::req('/v1/short/a', 'X-Test-429' => $date);
main::held('after a date a year ahead, max=2s', '[12]', main::req('/v1/short/b'));
my $took = main::until_200('/v1/short/c');
Test::More::cmp_ok($took, '<', 2.9, "max=2s: the hold ended within 2 s ($took)");
Test::More::is(V3xyApi::api_count('/v1/short/'), 2, 'the API got two requests there');
--- request
GET /v1/t3/c
--- error_code: 429
--- response_headers_like
Retry-After: (59\d|600)
--- no_error_log
[error]
[alert]



=== TEST 4: a 429 without Retry-After, with one that is not valid, or with 0, holds nothing by default; default= holds one without
--- config
    v3xy_api_key_file $TEST_NGINX_KEY_FILE;

    location /v1/ {
        proxy_pass http://127.0.0.1:$TEST_NGINX_API_PORT;
    }

    location /v1/dflt/ {
        v3xy_upstream_429 hold default=2s;
        proxy_pass http://127.0.0.1:$TEST_NGINX_API_PORT;
    }
--- init
for my $ra ('-', 'soon', '1.5', '0') {
    my ($st) = main::req('/v1/t4/a', 'X-Test-429' => $ra);
    Test::More::is($st, 429, "the API's 429 (Retry-After: $ra)");
    my ($st2, $head) = main::req('/v1/t4/b');
    Test::More::is($st2, 200, "Retry-After: $ra: the next request goes to the API");
    Test::More::is(main::from_api($head), 1, 'and the API answers it');
}
Test::More::is(V3xyApi::api_count('/v1/t4/'), 8, 'the API got all 8');
main::req('/v1/dflt/a', 'X-Test-429' => '-');
main::held('default=2s, no Retry-After', '[12]', main::req('/v1/dflt/b'));
Test::More::is(V3xyApi::api_count('/v1/dflt/'), 1, 'the API got the first only');
--- request
GET /v1/t4/c
--- error_code: 200
--- error_log
the API answered 429 for key v3xy_dev_
with no Retry-After: not held
with an invalid Retry-After: not held
with a Retry-After of now: not held
--- no_error_log
[error]
[alert]



=== TEST 5: held requests cost the key none of the module's own quota (2r/m): after the hold, the second admission is there
--- http_config
    v3xy_limit_zone pay rate=2r/m key=$v3xy_key_id;
--- config
    location /v1/ {
        v3xy_api_key_file $TEST_NGINX_KEY_FILE;
        v3xy_limit pay;
        proxy_pass http://127.0.0.1:$TEST_NGINX_API_PORT;
    }
--- init
my ($st) = main::req('/v1/t5/a', 'X-Test-429' => '2');
Test::More::is($st, 429, "the API's 429: the first of 2 admissions");
main::held("held $_", '[12]', main::req('/v1/t5/b')) for 1 .. 5;
main::until_200('/v1/t5/c');
Test::More::is(V3xyApi::api_count('/v1/t5/'), 2, 'the API got 2: the quota');
--- request
GET /v1/t5/d
--- error_code: 429
--- response_headers_like
RateLimit-Policy: "pay";q=2;w=60
RateLimit: "pay";r=0;t=\d+
--- no_error_log
[error]
[alert]



=== TEST 6: v3xy_upstream_429 pass: the API's 429 passes and holds nothing
--- config
    location /v1/ {
        v3xy_api_key_file $TEST_NGINX_KEY_FILE;
        v3xy_upstream_429 pass;
        proxy_pass http://127.0.0.1:$TEST_NGINX_API_PORT;
    }
--- init
my ($st) = main::req('/v1/t6/a', 'X-Test-429' => '30');
Test::More::is($st, 429, "the API's 429");
--- request
GET /v1/t6/b
--- error_code: 200
--- response_headers_like
X-Api-Seen: v3xy_dev_HoldTestKey_0123456789abcdef
--- no_error_log
[error]
[alert]
are held for



=== TEST 7: a hold is the area's: the location's by default (another location of the key is not held), area= shared by name; a request sent without the key (Authorization) is not held
--- config
    v3xy_api_key_file $TEST_NGINX_KEY_FILE;

    location /v1/pay/ {
        proxy_pass http://127.0.0.1:$TEST_NGINX_API_PORT;
    }

    location /v1/status/ {
        proxy_pass http://127.0.0.1:$TEST_NGINX_API_PORT;
    }

    location /v1/a1/ {
        v3xy_upstream_429 hold area=shared;
        proxy_pass http://127.0.0.1:$TEST_NGINX_API_PORT;
    }

    location /v1/a2/ {
        v3xy_upstream_429 hold area=shared;
        proxy_pass http://127.0.0.1:$TEST_NGINX_API_PORT;
    }
--- init
main::req('/v1/pay/a', 'X-Test-429' => '30');
main::held('/v1/pay/', '(29|30)', main::req('/v1/pay/b'));
my ($st, $head) = main::req('/v1/pay/c', 'Authorization' => 'Bearer sess_1');
Test::More::is($st, 200, 'a request without the key (a session) is not held');
Test::More::is($head =~ /^X-Api-Seen: -\r$/m ? 1 : 0, 1, 'it reached the API without the key');
($st) = main::req('/v1/status/a');
Test::More::is($st, 200, 'another location of the key is not held');
main::req('/v1/a1/a', 'X-Test-429' => '30');
main::held('area=shared, the other location', '(29|30)', main::req('/v1/a2/b'));
--- request
GET /v1/status/b
--- error_code: 200
--- no_error_log
[error]
[alert]



=== TEST 8: a 429 of the backup base URL holds the same
--- config
    location /v1/ {
        v3xy_api_key_file $TEST_NGINX_KEY_FILE;
        proxy_pass http://127.0.0.1:$TEST_NGINX_DEAD_PORT;
        v3xy_backup http://127.0.0.1:$TEST_NGINX_API_PORT;
    }
--- init
my ($st, $head) = main::req('/v1/t8/a', 'X-Test-429' => '3');
Test::More::is($st, 429, "the backup's 429 (the primary refuses connections)");
Test::More::is(main::from_api($head), 1, 'as the backup sent it');
main::held('the next request', '[1-3]', main::req('/v1/t8/b'));
Test::More::is(V3xyApi::api_count('/v1/t8/'), 1, 'the backup got the first request only');
--- request
GET /v1/t8/c
--- error_code: 429
--- no_error_log
[alert]



=== TEST 9: gateway: the API's 429 for a developer key holds that key (by its id), not another
--- config
    location /v1/ {
        v3xy_key_store file=$TEST_NGINX_KEY_STORE;
        proxy_pass http://127.0.0.1:$TEST_NGINX_API_PORT;
    }

    location = /metrics {
        v3xy_metrics;
    }
--- init
my ($st) = main::req('/v1/t9/a', 'X-V3XY-API-Key' => $main::Key, 'X-Test-429' => '30');
Test::More::is($st, 429, "the API's 429 for the key");
main::held('the same key', '(29|30)', main::req('/v1/t9/b', 'X-V3XY-API-Key' => $main::Key));
($st) = main::req('/v1/t9/c', 'X-V3XY-API-Key' => $main::Other);
Test::More::is($st, 200, 'another key is not held');
Test::More::is(main::metric('v3xy_upstream_429_total{role="gateway",source="hold"}'), 1, 'metrics: one held, role gateway');
--- request
GET /v1/t9/d
--- more_headers eval
"X-V3XY-API-Key: $main::Key"
--- error_code: 429
--- no_error_log
[error]
[alert]
HoldTestKey_0123456789abcdef



=== TEST 10: fleet: instance A sees the API's 429; instance B (same Redis) holds the key without calling the API; in Redis, v3xy:{hold:<key id>}:<area> with the hold's PTTL
--- http_config eval: $main::Fleet
--- config eval: $main::FleetLocations
--- init
V3xy::wait_until(sub { (main::req('/v1/warm', port => $main::BPort))[0] == 200 }, 'B');
my ($st, $head) = main::req('/v1/now/a', 'X-Test-429' => '4');
Test::More::is($st, 429, "A: the API's 429 (Retry-After: 4)");
my ($id) = $head =~ /^X-Key-Id: (\S+)\r$/m;
my $pttl;
V3xy::wait_until(sub { $pttl = V3xy::redis('PTTL', "v3xy:{hold:$id}:/v1/now/"); $pttl > 0 }, 'the hold in Redis');
Test::More::cmp_ok($pttl, '>', 3000, "Redis holds v3xy:{hold:$id}:/v1/now/ ($pttl ms)");
Test::More::cmp_ok($pttl, '<=', 4000, 'for 4 s at most');
main::held('B, sync=0: its first request', '[1-4]', main::req('/v1/now/b', port => $main::BPort));
main::held('B, again', '[1-4]', main::req('/v1/now/c', port => $main::BPort));
Test::More::is(V3xyApi::api_count('/v1/now/'), 1, 'the API got only the request of A');
my $took = main::until_200('/v1/now/d', port => $main::BPort);
Test::More::cmp_ok($took, '<', 4.9, "B lets requests pass again when the hold ends ($took s)");
Test::More::is(V3xyApi::api_count('/v1/now/'), 2, 'then one reached the API');
--- request
GET /v1/now/e
--- error_code: 200
--- no_error_log
[error]
[alert]



=== TEST 11: fleet, sync=1s (the default): B, which asked Redis just before, holds within about a second of A's 429, and from then on sends nothing
--- http_config eval: $main::Fleet
--- config eval: $main::FleetLocations
--- init
my ($st) = main::req('/v1/t11/warm', port => $main::BPort);
Test::More::is($st, 200, 'B asked Redis: nothing held');
main::req('/v1/t11/a', 'X-Test-429' => '5');
my $t0 = Time::HiRes::time();
V3xy::wait_until(sub {
    my ($s, $h) = main::req('/v1/t11/b', port => $main::BPort);
    return $s == 429 && !main::from_api($h);
}, 'B to hold');
my $took = Time::HiRes::time() - $t0;
Test::More::cmp_ok($took, '<', 2, "B held within sync=1s and a round trip ($took s)");
my $n = V3xyApi::api_count('/v1/t11/');
main::held("B: $_", '[1-5]', main::req('/v1/t11/c', port => $main::BPort)) for 1 .. 3;
Test::More::is(V3xyApi::api_count('/v1/t11/'), $n, 'B sends nothing more while held');
--- request
GET /v1/t11/d
--- error_code: 429
--- no_error_log
[error]
[alert]



=== TEST 12: a shorter Retry-After never shortens a longer hold of the fleet in Redis
--- http_config eval: $main::Fleet
--- config eval: $main::FleetLocations
--- init
my ($st, $head) = main::req('/v1/long/warm');
Test::More::is($st, 200, 'A asked Redis (sync=60s: not again for a minute)');
my ($id) = $head =~ /^X-Key-Id: (\S+)\r$/m;
my $rkey = "v3xy:{hold:$id}:/v1/long/";
V3xy::redis('SET', $rkey, '1', 'PX', '60000');
($st) = main::req('/v1/long/a', 'X-Test-429' => '2');
Test::More::is($st, 429, "A: the API's 429 with Retry-After: 2");
select undef, undef, undef, 0.3;
my $pttl = V3xy::redis('PTTL', $rkey);
Test::More::cmp_ok($pttl, '>', 50000, "Redis keeps the longer hold ($pttl ms)");
main::held('B learns the longer hold', '(5\d|60)', main::req('/v1/long/b', port => $main::BPort));
--- request
GET /v1/long/c
--- error_code: 429
--- no_error_log
[error]
[alert]



=== TEST 13: Redis slow past its timeout: the check is given up and the request goes on at the timeout, not when Redis wakes
--- http_config
    v3xy_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT connect_timeout=2s timeout=200ms;
--- config eval: $main::FleetLocations
--- init
my (undef, $head) = main::req('/v1/now/warm');
my ($id) = $head =~ /^X-Key-Id: (\S+)\r$/m;
V3xy::redis('SET', "v3xy:{hold:$id}:/v1/now/", '1', 'PX', '400');
V3xy::wait_until(sub { (main::req('/v1/now/up'))[0] == 429 }, 'A to learn from Redis');
select undef, undef, undef, 0.5;
system("$V3xy::REDIS_CLI -p $ENV{TEST_NGINX_REDIS_PORT} DEBUG SLEEP 1.5 >/dev/null &");
select undef, undef, undef, 0.2;
my $t0 = Time::HiRes::time();
my ($st) = main::req('/v1/now/slow');
my $took = Time::HiRes::time() - $t0;
Test::More::is($st, 200, 'Redis asleep: the request went on to the API');
Test::More::cmp_ok($took, '<', 1, "at the timeout ($took s)");
select undef, undef, undef, 1.5;
--- request
GET /v1/now/after
--- error_code: 200
--- error_log eval
qr/\[warn\] .*v3xy: redis 127\.0\.0\.1:\d+ unavailable: reply timed out/
--- no_error_log
[alert]



=== TEST 14: Redis down: the hold of this nginx still applies; requests that would ask Redis go on; no 500
--- http_config eval: $main::Fleet
--- config eval: $main::FleetLocations
--- init
V3xy::stop_redis();
my ($st) = main::req('/v1/now/warm');
Test::More::is($st, 200, 'sync=0 with Redis down: the request goes on');
($st) = main::req('/v1/t13/a', 'X-Test-429' => '3');
Test::More::is($st, 429, "the API's 429");
main::held('Redis down, the local hold', '[1-3]', main::req('/v1/t13/b'));
main::held('and again', '[1-3]', main::req('/v1/t13/c'));
Test::More::is(V3xyApi::api_count('/v1/t13/'), 1, 'the API got the first request only');
my $took = main::until_200('/v1/t13/d');
Test::More::cmp_ok($took, '<', 3.9, "then requests pass again ($took s)");
--- request
GET /v1/now/x
--- error_code: 200
--- error_log
is held by this nginx only: redis cannot be asked now
--- no_error_log
[alert]
[emerg]



=== TEST 15: v3xy_upstream_429: max=25h is refused, saying the range
--- config
    location /v1/ {
        v3xy_api_key_file $TEST_NGINX_KEY_FILE;
        v3xy_upstream_429 hold max=25h;
        proxy_pass http://127.0.0.1:$TEST_NGINX_API_PORT;
    }
--- must_die
--- error_log
invalid parameter "max=25h": max= is a time of 1s to 24h



=== TEST 16: v3xy_upstream_429: max=0 is refused, saying the range
--- config
    location /v1/ {
        v3xy_api_key_file $TEST_NGINX_KEY_FILE;
        v3xy_upstream_429 hold max=0;
        proxy_pass http://127.0.0.1:$TEST_NGINX_API_PORT;
    }
--- must_die
--- error_log
invalid parameter "max=0": max= is a time of 1s to 24h



=== TEST 17: v3xy_upstream_429: sync=61s is refused, saying the range
--- config
    location /v1/ {
        v3xy_api_key_file $TEST_NGINX_KEY_FILE;
        v3xy_upstream_429 hold sync=61s;
        proxy_pass http://127.0.0.1:$TEST_NGINX_API_PORT;
    }
--- must_die
--- error_log
invalid parameter "sync=61s": sync= is a time of 0 to 60s



=== TEST 18: v3xy_upstream_429: default=2d is refused, saying the range
--- config
    location /v1/ {
        v3xy_api_key_file $TEST_NGINX_KEY_FILE;
        v3xy_upstream_429 hold default=2d;
        proxy_pass http://127.0.0.1:$TEST_NGINX_API_PORT;
    }
--- must_die
--- error_log
invalid parameter "default=2d": default= is off, or a time of 0 to 24h



=== TEST 19: v3xy_upstream_429: an area= of 129 characters is refused, saying the range
--- config
    location /v1/ {
        v3xy_api_key_file $TEST_NGINX_KEY_FILE;
        v3xy_upstream_429 hold area=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa;
        proxy_pass http://127.0.0.1:$TEST_NGINX_API_PORT;
    }
--- must_die
--- error_log
invalid parameter "area=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa": area= is 1 to 128 characters



=== TEST 20: v3xy_upstream_429: a repeated area= is refused: the second would silently win
--- config
    location /v1/ {
        v3xy_api_key_file $TEST_NGINX_KEY_FILE;
        v3xy_upstream_429 hold area=payments area=status;
        proxy_pass http://127.0.0.1:$TEST_NGINX_API_PORT;
    }
--- must_die
--- error_log
duplicate parameter "area=status": area= given twice



=== TEST 21: v3xy_upstream_429: a repeated max= is refused
--- config
    location /v1/ {
        v3xy_api_key_file $TEST_NGINX_KEY_FILE;
        v3xy_upstream_429 hold max=1m sync=2s max=5m;
        proxy_pass http://127.0.0.1:$TEST_NGINX_API_PORT;
    }
--- must_die
--- error_log
duplicate parameter "max=5m": max= given twice



=== TEST 22: v3xy_upstream_429: an unknown parameter is refused, naming those there are
--- config
    location /v1/ {
        v3xy_api_key_file $TEST_NGINX_KEY_FILE;
        v3xy_upstream_429 hold maximum=5m;
        proxy_pass http://127.0.0.1:$TEST_NGINX_API_PORT;
    }
--- must_die
--- error_log
invalid parameter "maximum=5m": use area=NAME, max=TIME, default=TIME or sync=TIME
