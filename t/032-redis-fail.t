# Every failure of Redis has a defined outcome, v3xy_limit_fail's: open
# admits, closed refuses with 503 rate_limit_unavailable, local counts in
# shared memory.  Each is logged once per outage at warn, not per request.
# Redis down at start, killed and restarted, slow past the timeout, a wrong
# reply, a refused AUTH, a listener that never answers.

use lib 't/lib';
use Test::Nginx::Socket 'no_plan';
use V3xy qw(start_echo start_redis stop_redis redis key_file free_port);

start_echo();

# a Redis with a password beside the main one
$ENV{TEST_NGINX_PW_REDIS_PORT} = start_redis(port => V3xy::free_port(),
                                              password => 's3cret-redis-pw');
delete $ENV{TEST_NGINX_REDIS_PORT};
start_redis();

$ENV{TEST_NGINX_DEAD_PORT} = free_port();
$ENV{TEST_NGINX_PASSWORD_FILE} = key_file('redis-password', "s3cret-redis-pw\n");
$ENV{TEST_NGINX_WRONG_PASSWORD_FILE} = key_file('wrong-password', "not-the-password\n");

# a listener that accepts connections (the kernel does) and never answers
our $Mute = IO::Socket::INET->new(Listen => 16, LocalAddr => '127.0.0.1',
                                  LocalPort => 0) or die $!;
$ENV{TEST_NGINX_MUTE_PORT} = $Mute->sockport;

our $Unavailable = '{"success":false,"error":"Rate limits cannot be checked '
    . 'right now; try again shortly.","code":"rate_limit_unavailable"}';

add_block_preprocessor(\&V3xy::redis_ready_block);

log_level('info');
no_shuffle();
no_long_string();
run_tests();

__DATA__

=== TEST 1: Redis down at start, "open": admitted, no fields, logged once
--- http_config
    v3xy_redis 127.0.0.1:$TEST_NGINX_DEAD_PORT timeout=100ms;
    v3xy_limit_zone create rate=1r/m key=$http_x_merchant;
--- config
    location /v1/ {
        v3xy_limit create;
        v3xy_limit_fail open;
        proxy_pass http://127.0.0.1:$TEST_NGINX_ECHO_PORT;
    }
--- init
select undef, undef, undef, 0.3;
V3xy::http_get('/v1/a', 'X-Merchant' => 'f1') for 1 .. 2;
--- request
GET /v1/a
--- more_headers
X-Merchant: f1
--- error_code: 200
--- response_headers
!RateLimit
!Retry-After
--- grep_error_log eval: qr/v3xy_limit_fail \w+ in effect/
--- grep_error_log_out
v3xy_limit_fail open in effect



=== TEST 2: Redis down at start, "closed": 503 rate_limit_unavailable, Retry-After the reconnection's 2 s at most
--- http_config
    v3xy_redis 127.0.0.1:$TEST_NGINX_DEAD_PORT timeout=100ms;
    v3xy_limit_zone create rate=1r/m key=$http_x_merchant;
--- config
    location /v1/ {
        v3xy_limit create;
        v3xy_limit_fail closed;
        proxy_pass http://127.0.0.1:$TEST_NGINX_ECHO_PORT;
    }
--- request
GET /v1/a
--- more_headers
X-Merchant: f2
--- error_code: 503
--- response_headers
Content-Type: application/json
Retry-After: 2
--- response_body eval: $::Unavailable
--- error_log
v3xy_limit_fail closed in effect



=== TEST 3: Redis down at start, "local": counted in shared memory
--- http_config
    v3xy_redis 127.0.0.1:$TEST_NGINX_DEAD_PORT timeout=100ms;
    v3xy_limit_zone create rate=2r/m key=$http_x_merchant;
--- config
    location /v1/ {
        v3xy_limit create;
        proxy_pass http://127.0.0.1:$TEST_NGINX_ECHO_PORT;
    }
--- pipelined_requests eval
["GET /v1/a", "GET /v1/a", "GET /v1/a"]
--- more_headers
X-Merchant: f3
--- error_code eval
[200, 200, 429]
--- response_headers_like eval
["RateLimit: \"create\";r=1;t=60", "RateLimit: \"create\";r=0;t=\\d+",
 "Retry-After: \\d+"]



=== TEST 4: Redis up: counted in Redis
--- http_config
    v3xy_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT timeout=1s;
    v3xy_limit_zone create rate=3r/m key=$http_x_merchant;
--- config
    location /v1/ {
        v3xy_limit create;
        proxy_pass http://127.0.0.1:$TEST_NGINX_ECHO_PORT;
    }
--- init
V3xy::wait_ready('/ready');
--- request
GET /v1/a
--- more_headers
X-Merchant: f4
--- error_code: 200
--- response_headers
RateLimit: "create";r=2;t=60
--- response_body_filters eval
sub { "redis has " . V3xy::redis('EXISTS', 'v3xy:{create:f4}') . "\n" }
--- response_body
redis has 1



=== TEST 5: Redis killed mid-run: "local" takes over at once; restarted: the module reconnects by itself
--- http_config
    v3xy_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT timeout=1s;
    v3xy_limit_zone create rate=3r/m key=$http_x_merchant;
--- config
    location /v1/ {
        v3xy_limit create;
        proxy_pass http://127.0.0.1:$TEST_NGINX_ECHO_PORT;
    }
--- init
V3xy::wait_ready('/ready');
Test::More::is(V3xy::http_get('/v1/a', 'X-Merchant' => 'f5'), 200,
               'TEST 5: counted in Redis');
V3xy::stop_redis();
select undef, undef, undef, 0.3;
Test::More::is(V3xy::http_get('/v1/a', 'X-Merchant' => 'f5'), 200,
               'TEST 5: Redis killed: admitted by "local"');
V3xy::start_redis();
V3xy::wait_ready('/ready');
--- request
GET /v1/a
--- more_headers
X-Merchant: f5
--- error_code: 200
--- response_headers
RateLimit: "create";r=2;t=60
--- response_body_filters eval
sub { "restarted redis has " . V3xy::redis('EXISTS', 'v3xy:{create:f5}') . "\n" }
--- response_body
restarted redis has 1
--- error_log eval
[qr/\[warn\] .*v3xy: redis 127\.0\.0\.1:\d+ unavailable/,
 qr/\[warn\] .*v3xy: redis unavailable for limits: v3xy_limit_fail local in effect/,
 qr/\[notice\] .*v3xy: redis 127\.0\.0\.1:\d+ is back/]



=== TEST 6: Redis slow past the timeout (DEBUG SLEEP): the fail mode answers
--- http_config
    v3xy_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT connect_timeout=10s timeout=100ms;
    v3xy_limit_zone create rate=3r/m key=$http_x_merchant;
--- config
    location /v1/ {
        v3xy_limit create;
        v3xy_limit_fail closed;
        proxy_pass http://127.0.0.1:$TEST_NGINX_ECHO_PORT;
    }
--- init
V3xy::wait_ready('/ready');
system("$V3xy::REDIS_CLI -p $ENV{TEST_NGINX_REDIS_PORT} DEBUG SLEEP 1 >/dev/null &");
select undef, undef, undef, 0.2;
--- request
GET /v1/a
--- more_headers
X-Merchant: f7
--- error_code: 503
--- response_body eval: $::Unavailable
--- error_log eval
[qr/\[warn\] .*v3xy: redis 127\.0\.0\.1:\d+ unavailable: reply timed out/,
 qr/v3xy_limit_fail closed in effect/]



=== TEST 7: after a slow spell the connection answers again
--- http_config
    v3xy_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT timeout=300ms;
    v3xy_limit_zone create rate=3r/m key=$http_x_merchant;
--- config
    location /v1/ {
        v3xy_limit create;
        v3xy_limit_fail closed;
        proxy_pass http://127.0.0.1:$TEST_NGINX_ECHO_PORT;
    }
--- init
V3xy::wait_ready('/ready');
system("$V3xy::REDIS_CLI -p $ENV{TEST_NGINX_REDIS_PORT} DEBUG SLEEP 1 >/dev/null &");
select undef, undef, undef, 0.2;
Test::More::is(V3xy::http_get('/v1/a', 'X-Merchant' => 'f8'), 503,
               'TEST 7: Redis asleep: closed');
sleep 1;
V3xy::wait_ready('/ready');
--- request
GET /v1/a
--- more_headers
X-Merchant: f8
--- error_code: 200
--- response_headers_like
RateLimit: "create";r=[12];t=\d+



=== TEST 8: a wrong reply (WRONGTYPE inside the script): the fail mode answers, logged
--- http_config
    v3xy_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT timeout=1s;
    v3xy_limit_zone create rate=3r/m key=$http_x_merchant;
--- config
    location /v1/ {
        v3xy_limit create;
        v3xy_limit_fail closed;
        proxy_pass http://127.0.0.1:$TEST_NGINX_ECHO_PORT;
    }
--- init
V3xy::wait_ready('/ready');
V3xy::redis('HSET', 'v3xy:{create:f9}', 'not', 'a ring');
--- request
GET /v1/a
--- more_headers
X-Merchant: f9
--- error_code: 503
--- response_body eval: $::Unavailable
--- error_log eval
qr/\[warn\] .*v3xy: redis 127\.0\.0\.1:\d+ replied: .*WRONGTYPE/



=== TEST 9: other keys are not affected by one key's wrong type
--- http_config
    v3xy_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT timeout=1s;
    v3xy_limit_zone create rate=3r/m key=$http_x_merchant;
--- config
    location /v1/ {
        v3xy_limit create;
        v3xy_limit_fail closed;
        proxy_pass http://127.0.0.1:$TEST_NGINX_ECHO_PORT;
    }
--- init
V3xy::wait_ready('/ready');
V3xy::redis('HSET', 'v3xy:{create:f9b}', 'not', 'a ring');
Test::More::is(V3xy::http_get('/v1/a', 'X-Merchant' => 'f9b'), 503,
               'TEST 9: the wrong key: closed');
--- request
GET /v1/a
--- more_headers
X-Merchant: f10
--- error_code: 200
--- response_headers
RateLimit: "create";r=2;t=60



=== TEST 10: AUTH with password_file
--- http_config
    v3xy_redis 127.0.0.1:$TEST_NGINX_PW_REDIS_PORT password_file=$TEST_NGINX_PASSWORD_FILE connect_timeout=10s timeout=1s;
    v3xy_limit_zone create rate=3r/m key=$http_x_merchant;
--- config
    location /v1/ {
        v3xy_limit create;
        v3xy_limit_fail closed;
        proxy_pass http://127.0.0.1:$TEST_NGINX_ECHO_PORT;
    }
--- init
V3xy::wait_ready('/ready');
--- request
GET /v1/a
--- more_headers
X-Merchant: f11
--- error_code: 200
--- response_headers
RateLimit: "create";r=2;t=60
--- no_error_log
s3cret-redis-pw
refused the handshake



=== TEST 11: a refused AUTH: logged without the password, the fail mode answers
--- http_config
    v3xy_redis 127.0.0.1:$TEST_NGINX_PW_REDIS_PORT password_file=$TEST_NGINX_WRONG_PASSWORD_FILE connect_timeout=10s timeout=1s;
    v3xy_limit_zone create rate=3r/m key=$http_x_merchant;
--- config
    location /v1/ {
        v3xy_limit create;
        v3xy_limit_fail closed;
        proxy_pass http://127.0.0.1:$TEST_NGINX_ECHO_PORT;
    }
--- init
V3xy::wait_log(qr/refused the handshake/);
--- request
GET /v1/a
--- more_headers
X-Merchant: f12
--- error_code: 503
--- error_log eval
qr/\[warn\] .*v3xy: redis 127\.0\.0\.1:\d+ refused the handshake: WRONGPASS/
--- no_error_log
not-the-password



=== TEST 12: a Redis that accepts and never answers: connect_timeout, then the fail mode
--- http_config
    v3xy_redis 127.0.0.1:$TEST_NGINX_MUTE_PORT connect_timeout=200ms timeout=100ms;
    v3xy_limit_zone create rate=3r/m key=$http_x_merchant;
--- config
    location /v1/ {
        v3xy_limit create;
        v3xy_limit_fail closed;
        proxy_pass http://127.0.0.1:$TEST_NGINX_ECHO_PORT;
    }
--- init
select undef, undef, undef, 0.5;
--- request
GET /v1/a
--- more_headers
X-Merchant: f13
--- error_code: 503
--- error_log eval
qr/\[warn\] .*v3xy: redis 127\.0\.0\.1:\d+ unavailable: connect timed out/



=== TEST 13: a client that goes away while Redis is slow: its late reply is dropped, nginx goes on
--- http_config
    v3xy_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT timeout=3s;
    v3xy_limit_zone create rate=3r/m key=$http_x_merchant;
--- config
    location /v1/ {
        v3xy_limit create;
        v3xy_limit_fail closed;
        proxy_pass http://127.0.0.1:$TEST_NGINX_ECHO_PORT;
    }
--- init
V3xy::wait_ready('/ready');
system("$V3xy::REDIS_CLI -p $ENV{TEST_NGINX_REDIS_PORT} DEBUG SLEEP 0.6 >/dev/null &");
select undef, undef, undef, 0.1;
my $c = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                              PeerPort => $ENV{TEST_NGINX_SERVER_PORT})
    or die $!;
print $c "GET /v1/a HTTP/1.0\r\nHost: x\r\nX-Merchant: f14\r\n\r\n";
select undef, undef, undef, 0.1;
close $c;
sleep 1;
V3xy::wait_ready('/ready');
--- request
GET /v1/a
--- more_headers
X-Merchant: f14
--- error_code: 200
--- response_headers_like
RateLimit: "create";r=[12];t=\d+
--- error_log eval
qr/client prematurely closed connection|499/
--- no_error_log
[alert]
[crit]
