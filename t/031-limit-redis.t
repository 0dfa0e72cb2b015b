# Rate limits through a real Redis (v3xy_redis): the same verdicts as in
# shared memory, one script call per event-loop pass, keys with hash tags and
# TTLs, AUTH and SELECT, NOSCRIPT after SCRIPT FLUSH.

use lib 't/lib';
use Test::Nginx::Socket 'no_plan';
use V3xy qw(start_echo start_redis redis key_file);

start_echo();
start_redis();

add_block_preprocessor(sub {
    my $block = shift;

    if (!defined $block->http_config) {
        $block->set_value('http_config', <<'_EOC_');
    v3xy_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT timeout=2s;
    v3xy_limit_zone create rate=3r/m key=$http_x_merchant;
    v3xy_limit_zone status rate=5r/m key=$http_x_merchant;
    v3xy_limit_zone fast rate=10r/m key=$http_x_merchant burst=3;
    v3xy_limit_zone ready rate=1000r/s key=$request_id burst=1000;
_EOC_
        $block->set_value('init', "V3xy::wait_ready('/ready');")
            unless defined $block->init;
    }

    if (!defined $block->config) {
        $block->set_value('config', <<'_EOC_');
    location /create/ {
        v3xy_limit create;
        v3xy_limit_fail closed;
        proxy_pass http://127.0.0.1:$TEST_NGINX_ECHO_PORT;
    }

    location /both/ {
        v3xy_limit status create;
        v3xy_limit_fail closed;
        proxy_pass http://127.0.0.1:$TEST_NGINX_ECHO_PORT;
    }

    location /status/ {
        v3xy_limit status;
        v3xy_limit_fail closed;
        proxy_pass http://127.0.0.1:$TEST_NGINX_ECHO_PORT;
    }

    location /fast/ {
        v3xy_limit fast;
        v3xy_limit_fail closed;
        proxy_pass http://127.0.0.1:$TEST_NGINX_ECHO_PORT;
    }

    location = /ready {
        v3xy_limit ready;
        v3xy_limit_fail closed;
        proxy_pass http://127.0.0.1:$TEST_NGINX_ECHO_PORT;
    }
_EOC_
    }
});

no_shuffle();
no_long_string();
run_tests();

__DATA__

=== TEST 1: three admitted through Redis, the fourth refused
--- pipelined_requests eval
["GET /create/a", "GET /create/a", "GET /create/a", "GET /create/a"]
--- more_headers
X-Merchant: r1
--- error_code eval
[200, 200, 200, 429]
--- response_headers_like eval
["RateLimit-Policy: \"create\";q=3;w=60\nRateLimit: \"create\";r=2;t=60",
 "RateLimit: \"create\";r=1;t=(59|60)", "RateLimit: \"create\";r=0;t=(59|60)",
 "Retry-After: (59|60)\nRateLimit: \"create\";r=0;t=(59|60)"]
--- response_body_like eval
[qr/^GET/, qr/^GET/, qr/^GET/, qr/"code":"rate_limited"/]
--- no_error_log
[error]
replied



=== TEST 2: the count lives in Redis, under a hash-tagged key with a TTL of the window
--- request
GET /create/a
--- more_headers
X-Merchant: r2
--- error_code: 200
--- response_body_filters eval
sub {
    my $ttl = V3xy::redis('PTTL', 'v3xy:{create:r2}');
    my $len = V3xy::redis('STRLEN', 'v3xy:{create:r2}');
    return ($ttl > 58000 && $ttl <= 60000 ? "ttl ok" : "ttl $ttl") . " len $len\n";
}
--- response_body
ttl ok len 32



=== TEST 3: the state in Redis is what counts: a count seeded by another instance
--- init
V3xy::wait_ready('/ready');
V3xy::http_get('/create/a', 'X-Merchant' => 'r3') for 1 .. 2;
V3xy::redis('DEL', 'v3xy:{create:r3}');
--- request
GET /create/a
--- more_headers
X-Merchant: r3
--- error_code: 200
--- response_headers
RateLimit: "create";r=2;t=60



=== TEST 4: a request one zone refuses costs the other zone nothing in Redis
--- pipelined_requests eval
["GET /both/a", "GET /both/a", "GET /both/a", "GET /both/a", "GET /status/a"]
--- more_headers
X-Merchant: r4
--- error_code eval
[200, 200, 200, 429, 200]
--- response_headers_like eval
["", "", "", "", "RateLimit: \"status\";r=1;t=\\d+"]



=== TEST 5: GCRA through Redis, burst of three, then one per 6 s
--- pipelined_requests eval
["GET /fast/a", "GET /fast/a", "GET /fast/a", "GET /fast/a"]
--- more_headers
X-Merchant: r5
--- error_code eval
[200, 200, 200, 429]
--- response_headers_like eval
["RateLimit: \"fast\";r=2;t=6", "RateLimit: \"fast\";r=1;t=6",
 "RateLimit: \"fast\";r=0;t=6", "Retry-After: 6\nRateLimit: \"fast\";r=0;t=6"]



=== TEST 6: SCRIPT FLUSH between requests: NOSCRIPT, the script is sent again
--- init
V3xy::wait_ready('/ready');
V3xy::http_get('/create/a', 'X-Merchant' => 'r6');
V3xy::redis('SCRIPT', 'FLUSH');
--- request
GET /create/a
--- more_headers
X-Merchant: r6
--- error_code: 200
--- response_headers
RateLimit: "create";r=1;t=60
--- no_error_log
[error]
replied



=== TEST 7: db=N selects the database
--- http_config
    v3xy_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT db=3 connect_timeout=10s timeout=2s;
    v3xy_limit_zone create rate=3r/m key=$http_x_merchant;
    v3xy_limit_zone ready rate=1000r/s key=$request_id burst=1000;
--- config
    location /create/ {
        v3xy_limit create;
        v3xy_limit_fail closed;
        proxy_pass http://127.0.0.1:$TEST_NGINX_ECHO_PORT;
    }

    location = /ready {
        v3xy_limit ready;
        v3xy_limit_fail closed;
        proxy_pass http://127.0.0.1:$TEST_NGINX_ECHO_PORT;
    }
--- init
V3xy::wait_ready('/ready');
--- request
GET /create/a
--- more_headers
X-Merchant: r7
--- error_code: 200
--- response_body_filters eval
sub {
    return "db0=" . V3xy::redis('EXISTS', 'v3xy:{create:r7}')
         . " db3=" . V3xy::redis('-n', '3', 'EXISTS', 'v3xy:{create:r7}') . "\n";
}
--- response_body
db0=0 db3=1



=== TEST 8: a unix socket path is accepted
--- http_config
    v3xy_redis unix:/nonexistent/redis.sock timeout=50ms;
    v3xy_limit_zone create rate=3r/m key=$http_x_merchant;
--- config
    location /create/ {
        v3xy_limit create;
        v3xy_limit_fail open;
        proxy_pass http://127.0.0.1:$TEST_NGINX_ECHO_PORT;
    }
--- request
GET /create/a
--- more_headers
X-Merchant: r8
--- error_code: 200
--- response_headers
!RateLimit



=== TEST 9: bad v3xy_redis parameters are configuration errors
--- http_config
    v3xy_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT timeout=soon;
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid parameter "timeout=soon"/



=== TEST 10: v3xy_redis twice is a configuration error
--- http_config
    v3xy_redis 127.0.0.1:1;
    v3xy_redis 127.0.0.1:2;
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*"v3xy_redis" directive is duplicate/



=== TEST 11: requests that arrive together are decided in one script call, exactly: 5 of 12 admitted
--- init
V3xy::wait_ready('/ready');
use IO::Socket::INET;
my @s = map {
    IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                          PeerPort => $ENV{TEST_NGINX_SERVER_PORT})
        or die "connect: $!"
} 1 .. 12;
# nginx (one process) is stopped while all twelve are written, so that one
# event-loop pass finds them all when it goes on
select undef, undef, undef, 0.3;     # accepted
open my $pf, '<', "$ENV{TEST_NGINX_SERVER_ROOT}/logs/nginx.pid" or die $!;
my ($pid) = <$pf> =~ /(\d+)/;
kill 'STOP', $pid;
print $_ "GET /status/t11 HTTP/1.0\r\nX-Merchant: r11\r\n\r\n" for @s;
select undef, undef, undef, 0.1;
kill 'CONT', $pid;
my %st;
for (@s) {
    local $/;
    my ($code) = (<$_> // '') =~ m{\AHTTP/1\.\d (\d+)};
    $st{$code // 0}++;
}
Test::More::is(($st{200} // 0) . ' ' . ($st{429} // 0), '5 7',
               'TEST 11: exactly the limit admitted');
if (`$ENV{TEST_NGINX_BINARY} -V 2>&1` =~ /--with-debug/) {
    my $max = 0;
    open my $log, '<', "$ENV{TEST_NGINX_SERVER_ROOT}/logs/error.log"
        or die $!;
    while (<$log>) {
        $max = $1 if /v3xy: (\d+) limit decisions, \d+ keys in one script/
                     && $1 > $max;
    }
    Test::More::ok($max >= 2, "TEST 11: up to $max decisions in one call");
}
--- request
GET /status/t11
--- more_headers
X-Merchant: r11
--- error_code: 429
