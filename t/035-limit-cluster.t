# Redis Cluster (v3xy_redis cluster=): three masters of real redis-servers
# (no replicas), the module learning the slot map from two seeds.  Limits
# exact across keys on every master and across two nginx instances; a
# slot migrated under traffic, followed through ASK and MOVED, with no
# failed request and the count carried along; a master killed: its keys
# follow v3xy_limit_fail, the others go on, and once it is back its keys
# are routed to it again without a reload; the key store and the webhook
# replay guard in the Cluster.

use lib 't/lib';
use Digest::SHA qw(sha256_hex hmac_sha256_hex);
use IO::Select;
use Test::Nginx::Socket 'no_plan';
use V3xy qw(key_file start_echo free_port header_lines);
use V3xyCluster qw(start_cluster owner forget_owners on_owner cmdstat);
use V3xyFleet qw(start_b b_log a_log bad_lines $Warn fleet_suite wait_ready);

start_echo();

our @Nodes = start_cluster(3);
@ENV{qw(TEST_NGINX_C1 TEST_NGINX_C2 TEST_NGINX_C3)} = @Nodes;
$ENV{TEST_NGINX_BACKEND_PORT} = free_port();

our $Secret = 'whsec_cluster_5f2b8c1d9e';
$ENV{TEST_NGINX_WHSEC} = key_file('whsec', "$Secret\n");

# two seeds: the third master is learnt from the map
our $HttpConfig = <<'_EOC_';
    v3xy_redis cluster=127.0.0.1:$TEST_NGINX_C1,127.0.0.1:$TEST_NGINX_C2 connect_timeout=1s timeout=1s;
    v3xy_limit_zone exact rate=10r/m key=$http_x_merchant;
    v3xy_limit_zone wide rate=100000r/m key=$http_x_merchant;
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

    location /open/ {
        v3xy_limit exact;
        v3xy_limit_fail open;
        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
    }

    location /local/ {
        v3xy_limit exact;
        v3xy_limit_fail local;
        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
    }

    location /wide/ {
        v3xy_limit wide;
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

# TEST 3 and 4: the master to kill, a key of its own, a key of another
our $Dead = $Nodes[2];
our ($Kd, $Kl, $Probe);

for my $i (1 .. 1000) {
    my $o = owner("v3xy:{exact:kill$i}");
    $Kd //= "kill$i" if $o == $Dead;
    $Kl //= "kill$i" if $o != $Dead;
    $Probe //= "probe$i" if owner("v3xy:{wide:probe$i}") == $Dead;
    last if $Kd && $Kl && $Probe;
}

fleet_suite($HttpConfig, $Locations);
run_tests();

__DATA__

=== TEST 1: 30 keys on all three masters, bursts of 30 each over two instances: exactly 10 admitted per key
--- init
main::wait_ready();
my (@reqs, %owners);
for my $k (1 .. 30) {
    $owners{main::owner("v3xy:{exact:spread$k}")}++;
    for my $i (1 .. 30) {
        push @reqs, [($i % 2 ? 'A' : 'B'), "spread$k"];
    }
}
Test::More::is(scalar keys %owners, 3, 'the keys are spread over the three masters');
my @a = grep { $_->[0] eq 'A' } @reqs;
my @b = grep { $_->[0] eq 'B' } @reqs;
my $pid = fork // die "fork: $!";
if ($pid == 0) {
    my @st = V3xyCluster::blast($main::BPort, 50,
                                map { ['/closed/x', 'X-Merchant' => $_->[1]] } @b);
    open my $fh, '>', "$ENV{TEST_NGINX_SERVER_ROOT}/html/b.out" or POSIX::_exit(1);
    print $fh join(' ', map { "$b[$_][1]=$st[$_]" } 0 .. $#b), "\n";
    close $fh;
    POSIX::_exit(0);
}
my @st = V3xyCluster::blast($ENV{TEST_NGINX_SERVER_PORT}, 50,
                            map { ['/closed/x', 'X-Merchant' => $_->[1]] } @a);
waitpid $pid, 0;
open my $fh, '<', "$ENV{TEST_NGINX_SERVER_ROOT}/html/b.out" or die "b.out: $!";
my %count;
for (split ' ', <$fh>) {
    my ($k, $s) = split /=/;
    $count{$k}{$s}++;
}
$count{$a[$_][1]}{$st[$_]}++ for 0 .. $#a;
my @wrong = grep { ($count{$_}{200} // 0) != 10 || ($count{$_}{429} // 0) != 20 }
            keys %count;
Test::More::is(scalar @wrong, 0, '10 admitted and 20 refused for each of 30 keys')
    or Test::More::diag(join ', ', map { my $k = $_;
        "$k: " . join ' ', map { "$_=$count{$k}{$_}" } sort keys %{ $count{$k} } } @wrong);
Test::More::is(scalar(main::bad_lines(main::b_log())), 0, 'instance B logged no problem');
--- request
GET /closed/x
--- more_headers
X-Merchant: spread1
--- error_code: 429
--- response_headers_like
RateLimit-Policy: "exact";q=10;w=60
RateLimit: "exact";r=0;t=\d+
--- no_error_log eval
[$main::Warn, '[error]']



=== TEST 2: a slot migrated under traffic: ASK, then MOVED, no failed request, the count carried to the new master
--- init
main::wait_ready();
my $slot = V3xyCluster::keyslot('v3xy:{exact:mig}');
my $src = main::owner('v3xy:{exact:mig}');
my ($dst) = grep { $_ != $src } @main::Nodes;
my $other = V3xyCluster::name_in_slot('exact', $slot, 'mig-other');
my ($src_id, $dst_id) = (V3xyCluster::node_id($src), V3xyCluster::node_id($dst));
V3xyCluster::node_cli($_, 'CONFIG', 'RESETSTAT') for @main::Nodes;

# traffic on other keys all along, on both instances: none may fail
# (stopped between rounds by the end of a pipe: a signal would cut one)
pipe my $stop_r, my $stop_w or die "pipe: $!";
my $pid = fork // die "fork: $!";
if ($pid == 0) {
    my %st;
    close $stop_w;
    my $stop = IO::Select->new($stop_r);
    while (!$stop->can_read(0)) {
        for my $port ($ENV{TEST_NGINX_SERVER_PORT}, $main::BPort) {
            $st{$_}++ for V3xyCluster::blast($port, 10,
                map { ['/wide/x', 'X-Merchant' => "bg$_"] } 1 .. 20);
        }
    }
    open my $fh, '>', "$ENV{TEST_NGINX_SERVER_ROOT}/html/bg.out";
    print $fh join(' ', map { "$_=$st{$_}" } sort keys %st), "\n";
    close $fh;
    POSIX::_exit(0);
}

my @got;
my $send = sub {
    my ($key, $n) = @_;
    push @got, V3xyCluster::blast($_ % 2 ? $main::BPort : $ENV{TEST_NGINX_SERVER_PORT},
                                  1, ['/closed/x', 'X-Merchant' => $key]) for 1 .. $n;
};

$send->('mig', 4);                                    # on the source
V3xyCluster::node_cli($dst, 'CLUSTER', 'SETSLOT', $slot, 'IMPORTING', $src_id);
V3xyCluster::node_cli($src, 'CLUSTER', 'SETSLOT', $slot, 'MIGRATING', $dst_id);
$send->('mig', 3);                                    # still there
$send->($other, 3);                                   # new: ASK to the target
my @keys = split /\n/, V3xyCluster::node_cli($src, 'CLUSTER', 'GETKEYSINSLOT', $slot, 100);
V3xyCluster::node_cli($src, 'MIGRATE', '127.0.0.1', $dst, '', 0, 5000, 'KEYS', @keys) if @keys;
$send->('mig', 3);                                    # ASK: moved meanwhile
V3xyCluster::node_cli($_, 'CLUSTER', 'SETSLOT', $slot, 'NODE', $dst_id) for @main::Nodes;
$send->('mig', 5);                                    # MOVED, then the map
$send->($other, 1);

close $stop_r;
close $stop_w;
waitpid $pid, 0;
open my $fh, '<', "$ENV{TEST_NGINX_SERVER_ROOT}/html/bg.out" or die "bg.out: $!";
my $bg = <$fh>;
chomp $bg;

Test::More::is(join(' ', @got), join(' ', (200) x 13, (429) x 5, 200),
               'the migrated key: 10 admitted across the move, then refused; the other key admitted');
Test::More::like($bg, qr/\A200=\d+\z/, "the traffic on other keys: all admitted ($bg)");
main::forget_owners();
Test::More::is(main::owner('v3xy:{exact:mig}'), $dst, 'the slot moved');
Test::More::is(V3xyCluster::node_cli($dst, 'EXISTS', 'v3xy:{exact:mig}'), 1,
               'the count is on the new master');
Test::More::is(V3xyCluster::node_cli($src, 'CLUSTER', 'COUNTKEYSINSLOT', $slot), 0,
               'and no longer on the old one');
Test::More::cmp_ok(main::cmdstat($dst, 'asking', 'calls'), '>', 0,
                   'the new master was sent ASKING (an ASK followed)');
Test::More::cmp_ok(main::cmdstat($src, 'evalsha', 'rejected_calls'), '>', 0,
                   'the old master redirected script calls (ASK, MOVED)');
--- request
GET /closed/x
--- more_headers
X-Merchant: mig
--- error_code: 429
--- no_error_log eval
[$main::Warn, '[error]']



=== TEST 3: a master killed: its keys follow v3xy_limit_fail (closed, open, local), the other masters' keys still counted in Redis
--- init
main::wait_ready();
V3xyCluster::kill_node($main::Dead);
my @st = map { (V3xyCluster::blast($ENV{TEST_NGINX_SERVER_PORT}, 1, $_))[0] }
    ['/closed/a', 'X-Merchant' => $main::Kd], ['/closed/a', 'X-Merchant' => $main::Kd],
    ['/open/a', 'X-Merchant' => $main::Kd], ['/closed/b', 'X-Merchant' => $main::Kl];
Test::More::is("@st", '503 503 200 200',
               "the dead master's key: 503 (closed), 200 (open); another master's key: 200");
Test::More::is(main::on_owner("v3xy:{exact:$main::Kl}", 'EXISTS'), 1,
               "the other key counted on its master");
my $log = main::a_log();
Test::More::like($log, qr/\[warn\] .*v3xy: redis 127\.0\.0\.1:$main::Dead unavailable/,
                 'the outage of that master logged');
Test::More::like($log, qr/\[warn\] .*v3xy: redis unavailable for limits: v3xy_limit_fail closed in effect/,
                 'v3xy_limit_fail logged');
--- request
GET /local/a
--- more_headers eval
"X-Merchant: $main::Kd"
--- error_code: 200
--- response_headers_like
RateLimit: "exact";r=9;t=(59|6[0-3])
--- response_body
ok
--- no_error_log
[error]



=== TEST 4: ... and once that master is back, its keys are counted on it again, without a reload
--- init
V3xyCluster::restart_node($main::Dead);
V3xyCluster::wait_until(sub { V3xyCluster::cluster_ok(@main::Nodes) }, 'the cluster again');
V3xyCluster::wait_until(sub {
    !grep { $_ != 200 } V3xyCluster::blast($ENV{TEST_NGINX_SERVER_PORT}, 20,
        map { ['/wide/x', 'X-Merchant' => $main::Probe] } 1 .. 20);
}, 'the module routing to every master');
--- request
GET /closed/x
--- more_headers eval
"X-Merchant: $main::Kd"
--- error_code: 200
--- response_headers_like
RateLimit: "exact";r=9;t=(59|6[0-3])
--- response_body_filters eval
sub { $_[0] . "stored on its master: "
      . V3xyCluster::node_cli($main::Dead, 'EXISTS', "v3xy:{exact:$main::Kd}") . "\n" }
--- response_body
ok
stored on its master: 1
--- no_error_log
[error]



=== TEST 5: the key store in the Cluster: HMGET routed by the key's slot
--- init
main::wait_ready();
my $key = 'v3xy_dev_ClusterStore_valid_0123456789abcdef';
my $h = 'v3xy:key:' . Digest::SHA::sha256_hex($key);
V3xyCluster::node_cli(main::owner($h), 'HSET', $h, account => 'acct_c1', scopes => 'payments:read',
         status => 'active');
--- request
GET /v1/developer/payment-status
--- more_headers
X-V3XY-API-Key: v3xy_dev_ClusterStore_valid_0123456789abcdef
--- error_code: 200
--- response_body_filters eval: V3xy::header_lines('x-v3xy-account')
--- response_body eval: "X-V3XY-Account: acct_c1\r\n"
--- no_error_log eval
[$main::Warn, '[error]']



=== TEST 6: the webhook replay guard in the Cluster: the same delivery on A then on B, the second refused
--- init
main::wait_ready();
--- request eval
my $body = '{"type":"payment.confirmed","data":{"payment_ref":"cp_cluster"}}';
"POST /webhooks/v3xy\n$body"
--- more_headers eval
my $body = '{"type":"payment.confirmed","data":{"payment_ref":"cp_cluster"}}';
my $t = time;
$main::Sig = "t=$t,v1=" . Digest::SHA::hmac_sha256_hex("$t.$body", $main::Secret);
"X-V3XY-Signature: $main::Sig"
--- error_code: 200
--- response_body_filters eval
sub {
    # the guard's key: the delivery's mark, SHA-256 over "<t>.<body>"
    my ($t) = $main::Sig =~ /^t=(\d+)/;
    my $hex = Digest::SHA::sha256_hex(
        qq($t.{"type":"payment.confirmed","data":{"payment_ref":"cp_cluster"}}));
    my $k = "v3xy:{webhook.replay.1800:$hex}";
    my $body = '{"type":"payment.confirmed","data":{"payment_ref":"cp_cluster"}}';
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $main::BPort)
        or die "B: $!";
    print $s "POST /webhooks/v3xy HTTP/1.0\r\nHost: localhost\r\n"
             . "X-V3XY-Signature: $main::Sig\r\nContent-Length: "
             . length($body) . "\r\n\r\n$body";
    local $/;
    my ($st) = (<$s> // '') =~ m{\AHTTP/\d\.\d (\d+)};
    return "stored on its master: " . main::on_owner($k, 'EXISTS')
           . "\nB: $st\n";
}
--- response_body
stored on its master: 1
B: 409
--- no_error_log eval
[$main::Warn, '[error]']
