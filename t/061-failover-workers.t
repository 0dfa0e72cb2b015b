# v3xy_backup's circuit breaker lives in shared memory: once one worker
# has seen the primary fail, every worker sends requests straight to the
# backup.  Two workers; a listener with reuseport spreads connections over
# both; the test goes on until both have answered.

use lib 't/lib';
use Test::Nginx::Socket 'no_plan';
use V3xy qw(free_port http_req);
use V3xyFailover;

V3xyFailover::setup();
our $Key = $V3xyFailover::Key;
our $Upstreams = $V3xyFailover::Upstreams;
$ENV{TEST_NGINX_SPREAD_PORT} = free_port();

master_on();
workers(2);

add_block_preprocessor(sub {
    my $block = shift;
    $block->set_value('timeout', 60) if $ENV{TEST_NGINX_USE_VALGRIND};
});

no_long_string();
run_tests();

__DATA__

=== TEST 1: one worker opens the breaker; both workers then skip the primary
--- http_config eval
$::Upstreams . <<'_EOC_';
    server {
        listen 127.0.0.1:$TEST_NGINX_SPREAD_PORT reuseport;

        location /v1/ {
            v3xy_api_key_file $TEST_NGINX_KEY_FILE;
            proxy_pass https://primary.test;
            v3xy_backup https://backup.test fails=1 cooldown=60s;
            proxy_ssl_verify on;
            proxy_ssl_trusted_certificate $TEST_NGINX_CERTS/ca.crt;
            add_header X-Failover $v3xy_failover always;
            add_header X-Worker $pid always;
        }
    }
_EOC_
--- config
    location = /t {
        return 200 "ok\n";
    }
--- init
use IO::Socket::INET;

my $get = sub {
    my ($down) = @_;
    my $s;
    for (1 .. 200) {
        $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                   PeerPort => $ENV{TEST_NGINX_SPREAD_PORT})
            and last;
        select undef, undef, undef, 0.05;
    }
    die "connect: $!" unless $s;
    print $s "GET /v1/a HTTP/1.0\r\nHost: x\r\n"
             . ($down ? "X-Primary-Down: 1\r\n" : '') . "\r\n";
    local $/;
    my $r = <$s> // '';
    my ($fo) = $r =~ /^X-Failover: (\S+)/mi;
    my ($pid) = $r =~ /^X-Worker: (\d+)/mi;
    return ($fo // '-', $pid // 0);
};

# the primary fails once: the breaker opens (fails=1)
my ($first) = $get->(1);
Test::More::is($first, '502', 'the first request failed over');

# the primary answers again, but the breaker is open for 60 s: every
# request, in whichever worker, goes straight to the backup
my (%pids, %reasons);
for (1 .. 200) {
    my ($fo, $pid) = $get->(0);
    $pids{$pid}++;
    $reasons{$fo}++;
    last if keys %pids >= 2 && $_ >= 20;
}
Test::More::is(scalar(keys %pids), 2, 'both workers answered');
Test::More::is(CORE::join(',', sort keys %reasons), 'breaker_open',
               'every request skipped the primary');
--- request
GET /t
--- response_body
ok
--- error_log eval
qr/\[warn\] .*v3xy: breaker open: 1 consecutive failures/
