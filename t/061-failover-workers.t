# v3xy_backup's circuit breaker lives in shared memory: once one worker
# has seen the primary fail, every worker sends requests straight to the
# backup.  Two workers; a listener with reuseport spreads connections over
# both; the test goes on until both have answered.

use lib 't/lib';
use Test::Nginx::Socket 'no_plan';
use V3xy qw(key_file start_echo test_certs start_mute start_blackhole
            free_port http_req);

our $Key = 'v3xy_dev_FailoverTestKey0123456789abcdef';

$ENV{TEST_NGINX_KEY_FILE} = key_file('api_key', "$Key\n");
start_echo();
test_certs(qw(primary.test backup.test other.test));
$ENV{TEST_NGINX_PRIMARY_PORT} = free_port();
$ENV{TEST_NGINX_BACKUP_PORT} = free_port();
$ENV{TEST_NGINX_OTHER_PORT} = free_port();
$ENV{TEST_NGINX_DEAD_PORT} = free_port();
$ENV{TEST_NGINX_MUTE_PORT} = start_mute();
$ENV{TEST_NGINX_HOLE_PORT} = start_blackhole();
$ENV{TEST_NGINX_SPREAD_PORT} = free_port();

master_on();
workers(2);

our $Upstreams = <<'_EOC_';
    upstream primary.test { server 127.0.0.1:$TEST_NGINX_PRIMARY_PORT; }
    upstream backup.test  { server 127.0.0.1:$TEST_NGINX_BACKUP_PORT; }
    upstream other.test   { server 127.0.0.1:$TEST_NGINX_OTHER_PORT; }
    upstream liar.test    { server 127.0.0.1:$TEST_NGINX_OTHER_PORT; }
    upstream dead.test    { server 127.0.0.1:$TEST_NGINX_DEAD_PORT; }
    upstream mute.test    { server 127.0.0.1:$TEST_NGINX_MUTE_PORT; }
    upstream hole.test    { server 127.0.0.1:$TEST_NGINX_HOLE_PORT; }

    # other.test: a certificate for other.test only
    server {
        listen 127.0.0.1:$TEST_NGINX_OTHER_PORT ssl;
        ssl_certificate $TEST_NGINX_CERTS/other.test.crt;
        ssl_certificate_key $TEST_NGINX_CERTS/other.test.key;
        access_log off;
        return 200 "other\n";
    }

    server {
        listen 127.0.0.1:$TEST_NGINX_PRIMARY_PORT ssl;
        ssl_certificate $TEST_NGINX_CERTS/primary.test.crt;
        ssl_certificate_key $TEST_NGINX_CERTS/primary.test.key;
        access_log off;

        location ^~ /v1/s500 { return 500 "primary 500\n"; }
        location ^~ /v1/s404 { return 404 "primary 404\n"; }
        location ^~ /v1/s502 { return 502 "primary 502\n"; }
        location ^~ /v1/s503 { return 503 "primary 503\n"; }
        location ^~ /v1/s504 { return 504 "primary 504\n"; }

        location /v1/both/ {
            return 502 "primary 502\n";
        }

        location / {
            if ($http_x_primary_down) {
                return 502 "primary down\n";
            }

            proxy_pass http://127.0.0.1:$TEST_NGINX_ECHO_PORT;
            proxy_set_header X-Served-By primary;
            proxy_set_header X-Got-Host $http_host;
            proxy_set_header X-Got-SNI $ssl_server_name;
        }
    }

    server {
        listen 127.0.0.1:$TEST_NGINX_BACKUP_PORT ssl;
        ssl_certificate $TEST_NGINX_CERTS/backup.test.crt;
        ssl_certificate_key $TEST_NGINX_CERTS/backup.test.key;
        access_log off;

        location /v1/both/ {
            return 502 "backup 502\n";
        }

        location / {
            proxy_pass http://127.0.0.1:$TEST_NGINX_ECHO_PORT;
            proxy_set_header X-Served-By backup;
            proxy_set_header X-Got-Host $http_host;
            proxy_set_header X-Got-SNI $ssl_server_name;
        }
    }
_EOC_

our $Tls = <<'_EOC_';
        proxy_ssl_verify on;
        proxy_ssl_trusted_certificate $TEST_NGINX_CERTS/ca.crt;
        proxy_ssl_server_name on;
        add_header X-Upstream $v3xy_upstream always;
        add_header X-Failover $v3xy_failover always;
_EOC_

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
