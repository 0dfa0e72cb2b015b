# Sentinel (v3xy_redis sentinel= master=): a primary and its replica of
# real redis-servers watched by three sentinels.  Limits exact across two
# nginx instances through the master the sentinels name; SENTINEL FAILOVER
# under traffic on both instances: every request answered (by Redis or by
# v3xy_limit_fail closed, never left hanging), the module on the new
# master without a reload, and the over-admission that the failover cost
# one key reported and bounded; the key store and the webhook replay
# guard on the new master.

use lib 't/lib';
use Digest::SHA ();
use IO::Select;
use Test::Nginx::Socket 'no_plan';
use Time::HiRes ();
use V3xy qw(key_file start_echo free_port);
use V3xyCluster qw(start_sentinels);
use V3xyFleet qw(start_b a_log bad_lines $Warn fleet_suite wait_ready
                 blast_split);

start_echo();

our ($Primary, $Replica, @Sentinels) = start_sentinels();
$ENV{TEST_NGINX_BACKEND_PORT} = free_port();

our $Secret = 'whsec_sentinel_5f2b8c1d9e';
$ENV{TEST_NGINX_WHSEC} = key_file('whsec', "$Secret\n");

our $HttpConfig = <<'_EOC_';
    v3xy_redis sentinel=$TEST_NGINX_SENTINELS master=v3xy connect_timeout=1s timeout=1s;
    v3xy_limit_zone exact rate=10r/m key=$http_x_merchant;
    v3xy_limit_zone fo rate=1000r/m key=$http_x_merchant;
    v3xy_limit_zone ready rate=1000r/s key=$request_id burst=1000;

    server {
        listen 127.0.0.1:$TEST_NGINX_BACKEND_PORT;
        access_log off;

        location / {
            return 200 "ok\n";
        }
    }
_EOC_

our $Locations = <<'_EOC_';
    location /closed/ {
        v3xy_limit exact;
        v3xy_limit_fail closed;
        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
    }

    location /fo/ {
        v3xy_limit fo;
        v3xy_limit_fail closed;
        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
    }

    location = /ready {
        v3xy_limit ready;
        v3xy_limit_fail closed;
        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
    }

    location /v1/ {
        v3xy_key_store redis;

        location = /v1/developer/payment-status {
            v3xy_scope payments:read;
            proxy_pass http://127.0.0.1:$TEST_NGINX_ECHO_PORT;
        }
    }

    location = /webhooks/v3xy {
        v3xy_webhook_secret_file $TEST_NGINX_WHSEC;
        v3xy_webhook_tolerance 30m;
        v3xy_limit_fail closed;
        proxy_pass http://127.0.0.1:$TEST_NGINX_ECHO_PORT;
    }
_EOC_

our $BPort = start_b($HttpConfig, $Locations,
                     TEST_NGINX_BACKEND_PORT => free_port());

# fo_round(KEY...): a round of requests on /fo/, one per key given, half
# on A, half on B, at once; their statuses
sub fo_round {
    return blast_split('/fo/x', 'X-Merchant', @_);
}

fleet_suite($HttpConfig, $Locations);
run_tests();

__DATA__

=== TEST 1: the master the sentinels name: 10 keys, bursts of 30 each over two instances, exactly 10 admitted per key
--- init
main::wait_ready();
my %count;
for my $k (1 .. 10) {
    pipe my $r, my $w or die "pipe: $!";
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        close $r;
        print $w join ' ', V3xyCluster::blast($main::BPort, 15,
            map { ['/closed/x', 'X-Merchant' => "sent$k"] } 1 .. 15);
        close $w;
        POSIX::_exit(0);
    }
    close $w;
    my @st = V3xyCluster::blast($ENV{TEST_NGINX_SERVER_PORT}, 15,
        map { ['/closed/x', 'X-Merchant' => "sent$k"] } 1 .. 15);
    push @st, split ' ', <$r>;
    waitpid $pid, 0;
    $count{"sent$k"}{$_}++ for @st;
}
my @wrong = grep { ($count{$_}{200} // 0) != 10 || ($count{$_}{429} // 0) != 20 }
            keys %count;
Test::More::is(scalar @wrong, 0, '10 admitted and 20 refused for each of 10 keys');
Test::More::is(V3xyCluster::node_cli($main::Primary, 'EXISTS', 'v3xy:{exact:sent1}'), 1,
               'counted on the primary');
Test::More::is(scalar(main::bad_lines(V3xyCluster::b_log())), 0, 'instance B logged no problem');
--- request
GET /closed/x
--- more_headers
X-Merchant: sent1
--- error_code: 429
--- no_error_log eval
[$main::Warn, '[error]']



=== TEST 2: SENTINEL FAILOVER under traffic on both instances: every request answered, the new master used, the over-admission reported
--- init
main::wait_ready();
my $n = 1000;
my (%st, %during);

# before: 100 admissions of the key's 1000 on the primary
$st{$_}++ for main::fo_round(('fo1') x 100);

V3xyCluster::sentinel_cli($main::Sentinels[0], 'SENTINEL', 'FAILOVER', 'v3xy');
my $t0 = Time::HiRes::time();
my ($switched, $followed);

# during: rounds of 20 requests for the key and 20 for keys of their own,
# until the sentinels name the replica and every one of those 20 keys is
# on it (the old primary may stay a master for seconds: what is written
# there is lost)
for my $i (1 .. 600) {
    my @probes = map { "probe$i-$_" } 1 .. 20;
    my @r = main::fo_round(('fo1') x 20);
    my @p = main::fo_round(@probes);
    $st{$_}++ for @r;
    $during{$_}++ for @r;
    if (!$switched && V3xyCluster::sentinel_master($main::Sentinels[0]) == $main::Replica) {
        $switched = Time::HiRes::time();
    }
    if ($switched && !grep { $_ != 200 } @p) {
        my $on = V3xyCluster::node_cli($main::Replica, 'EXISTS',
                                       map { "v3xy:{fo:$_}" } @probes);
        if ($on == 20) {
            $followed = Time::HiRes::time();
            last;
        }
    }
}

# after: the rest of the window, decided by the new master
for (1 .. 12) {
    $st{$_}++ for main::fo_round(('fo1') x 100);
}

my $admitted = $st{200} // 0;
my $window = $during{200} // 0;
Test::More::ok($switched, 'the sentinels named the replica');
Test::More::ok($followed, 'both instances write to the new master');
Test::More::is($st{0} // 0, 0, 'every request was answered');
Test::More::is(join(',', grep { !/^(200|429|503)$/ } sort keys %st), '',
               'only 200, 429 and 503 (v3xy_limit_fail closed)');
Test::More::cmp_ok($admitted, '>=', $n, "at least the limit admitted ($admitted)");
Test::More::cmp_ok($admitted - $n, '<=', $window,
                   'over-admitted at most what was admitted during the failover');
Test::More::note(sprintf 'failover: %d admitted for a limit of %d (%d over-admitted, of %d '
    . 'admitted during the failover), %d refused by v3xy_limit_fail closed; the module followed %.1f s after the '
    . 'sentinels switched, %.1f s after SENTINEL FAILOVER', $admitted, $n,
    $admitted - $n, $window, $st{503} // 0, ($followed // 0) - ($switched // 0),
    ($followed // 0) - $t0);
Test::More::is(V3xyCluster::node_cli($main::Replica, 'EXISTS', 'v3xy:{fo:fo1}'), 1,
               'the key is on the new master');
Test::More::like(main::a_log(),
    qr/\[notice\] .*v3xy: redis sentinel: the master "v3xy" is 127\.0\.0\.1:$main::Replica, was 127\.0\.0\.1:$main::Primary/,
    'the switch logged');
--- request
GET /fo/x
--- more_headers
X-Merchant: fo2
--- error_code: 200
--- response_headers_like
RateLimit: "fo";r=999;t=(59|6[0-3])
--- no_error_log
[error]



=== TEST 3: the key store on the new master
--- init
main::wait_ready();
my $key = 'v3xy_dev_SentinelStore_valid_0123456789abcdef';
my $h = 'v3xy:key:' . Digest::SHA::sha256_hex($key);
V3xyCluster::node_cli(V3xyCluster::sentinel_master($main::Sentinels[1]), 'HSET', $h,
                      account => 'acct_s1', scopes => 'payments:read', status => 'active');
--- request
GET /v1/developer/payment-status
--- more_headers
X-V3XY-API-Key: v3xy_dev_SentinelStore_valid_0123456789abcdef
--- error_code: 200
--- response_body_filters eval: V3xy::header_lines('x-v3xy-account')
--- response_body eval: "X-V3XY-Account: acct_s1\r\n"
--- no_error_log eval
[$main::Warn, '[error]']



=== TEST 4: the webhook replay guard on the new master: the same delivery on A then on B, the second refused
--- init
main::wait_ready();
--- request eval
"POST /webhooks/v3xy\n" . '{"type":"payment.confirmed","data":{"payment_ref":"cp_sentinel"}}'
--- more_headers eval
my $body = '{"type":"payment.confirmed","data":{"payment_ref":"cp_sentinel"}}';
my $t = time;
$main::Sig = "t=$t,v1=" . Digest::SHA::hmac_sha256_hex("$t.$body", $main::Secret);
"X-V3XY-Signature: $main::Sig"
--- error_code: 200
--- response_body_filters eval
sub {
    # the guard's key: the delivery's mark, SHA-256 over "<t>.<body>"
    my ($t) = $main::Sig =~ /^t=(\d+)/;
    my $hex = Digest::SHA::sha256_hex(
        qq($t.{"type":"payment.confirmed","data":{"payment_ref":"cp_sentinel"}}));
    my $body = '{"type":"payment.confirmed","data":{"payment_ref":"cp_sentinel"}}';
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $main::BPort)
        or die "B: $!";
    print $s "POST /webhooks/v3xy HTTP/1.0\r\nHost: localhost\r\n"
             . "X-V3XY-Signature: $main::Sig\r\nContent-Length: "
             . length($body) . "\r\n\r\n$body";
    local $/;
    my ($st) = (<$s> // '') =~ m{\AHTTP/\d\.\d (\d+)};
    return "stored on the master: "
           . V3xyCluster::node_cli(V3xyCluster::sentinel_master($main::Sentinels[2]),
                                   'EXISTS', "v3xy:{webhook.replay.1800:$hex}")
           . "\nB: $st\n";
}
--- response_body
stored on the master: 1
B: 409
--- no_error_log eval
[$main::Warn, '[error]']
