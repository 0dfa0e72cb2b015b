# Sentinel, the rest of it: sentinels that want a password
# (sentinel_password_file=, Redis's requirepass in sentinel.conf), and a
# sentinel that names a replica as the master.  A primary, its replica
# and three sentinels of real redis-servers, all wanting the password;
# a replica of the replica (the three never see it) and a fourth
# sentinel of its own that monitors it as the master "v3xy": it lies.

use lib 't/lib';
use Test::Nginx::Socket 'no_plan';
use Time::HiRes ();
use V3xy qw(key_file start_echo free_port wait_until);
use V3xyCluster qw(start_sentinels start_sub_replica start_liar);
use V3xyFleet qw(a_log $Warn fleet_suite wait_ready http_head);

start_echo();

our $Password = 's3ntinel-pw-8d1f2c';
our ($Primary, $Replica, @Sentinels) = start_sentinels(password => $Password);
our $SubReplica = start_sub_replica($Replica);
our $Liar = start_liar($SubReplica);

$ENV{TEST_NGINX_BACKEND_PORT} = free_port();
$ENV{TEST_NGINX_SENTINEL_PW} = key_file('sentinel-pw', "$Password\n");
$ENV{TEST_NGINX_SENTINEL_WRONG_PW} = key_file('sentinel-wrong-pw',
                                              "not-the-sentinel-pw\n");
$ENV{TEST_NGINX_LIAR_FIRST} = "127.0.0.1:$Liar,$ENV{TEST_NGINX_SENTINELS}";

our $Locations = <<'_EOC_';
    location /closed/ {
        v3xy_limit many;
        v3xy_limit_fail closed;
        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
    }

    location /open/ {
        v3xy_limit many;
        v3xy_limit_fail open;
        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
    }

    location = /ready {
        v3xy_limit ready;
        v3xy_limit_fail closed;
        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
    }
_EOC_

# the http block without its v3xy_redis line
our $Zones = <<'_EOC_';
    v3xy_limit_zone many rate=10000r/m key=$http_x_merchant;
    v3xy_limit_zone ready rate=1000r/s key=$request_id burst=1000;

    server {
        listen 127.0.0.1:$TEST_NGINX_BACKEND_PORT;
        access_log off;

        location / {
            return 200 "ok\n";
        }
    }
_EOC_

# the head of a response of A
sub head {
    my ($path, %h) = @_;
    return (http_head($ENV{TEST_NGINX_SERVER_PORT}, $path, %h))[1];
}

# wait_log(REGEX): waits (up to 30 s) until A's error log has a line that
# matches; dies otherwise
sub wait_log {
    my ($re) = @_;
    wait_until(sub { a_log() =~ $re }, "a log line $re");
}

fleet_suite(undef, $Locations);
run_tests();

__DATA__

=== TEST 1: sentinels with a password: sentinel_password_file, the master found, counted there, no secret logged
--- http_config eval
"    v3xy_redis sentinel=\$TEST_NGINX_SENTINELS master=v3xy sentinel_password_file=\$TEST_NGINX_SENTINEL_PW connect_timeout=1s timeout=1s;\n"
. $main::Zones
--- init
main::wait_ready();
--- request
GET /closed/x
--- more_headers
X-Merchant: pw1
--- error_code: 200
--- response_headers_like
RateLimit: "many";r=9999;t=(59|6[0-3])
--- response_body_filters eval
sub {
    return 'on the primary: '
           . V3xyCluster::node_cli($main::Primary, 'EXISTS', 'v3xy:{many:pw1}') . "\n";
}
--- response_body
on the primary: 1
--- error_log eval
qr/\[notice\] .*v3xy: redis sentinel: the master "v3xy" is 127\.0\.0\.1:\d+/
--- no_error_log eval
[$main::Warn, '[error]', $main::Password]



=== TEST 2: a wrong sentinel password: logged without it, every sentinel refuses, v3xy_limit_fail closed answers
--- http_config eval
"    v3xy_redis sentinel=\$TEST_NGINX_SENTINELS master=v3xy sentinel_password_file=\$TEST_NGINX_SENTINEL_WRONG_PW connect_timeout=1s timeout=100ms;\n"
. $main::Zones
--- init
main::wait_log(qr/refused the handshake/);
--- request
GET /closed/x
--- more_headers
X-Merchant: pw2
--- error_code: 503
--- response_body_like: "code":"rate_limit_unavailable"
--- error_log eval
[qr/\[warn\] .*v3xy: redis sentinel 127\.0\.0\.1:\d+ refused the handshake: WRONGPASS .* \(check sentinel_password_file\)/,
 qr/\[warn\] .*v3xy: redis unavailable for limits: v3xy_limit_fail closed in effect/]
--- no_error_log eval
['not-the-sentinel-pw', $main::Password, 'the master "v3xy" is', '[error]']



=== TEST 3: no sentinel password where one is wanted: logged, v3xy_limit_fail open answers
--- http_config eval
"    v3xy_redis sentinel=\$TEST_NGINX_SENTINELS master=v3xy connect_timeout=1s timeout=100ms;\n"
. $main::Zones
--- init
main::wait_log(qr/refused the handshake/);
--- request
GET /open/x
--- more_headers
X-Merchant: pw3
--- error_code: 200
--- response_headers
!RateLimit
--- error_log eval
[qr/\[warn\] .*v3xy: redis sentinel 127\.0\.0\.1:\d+ refused the handshake: NOAUTH .* \(sentinel_password_file is not set\)/,
 qr/\[warn\] .*v3xy: redis unavailable for limits: v3xy_limit_fail open in effect/]
--- no_error_log eval
[$main::Password, 'the master "v3xy" is', '[error]']



=== TEST 4: a sentinel that names a replica, listed first: its ROLE rejects it, the next sentinel names the primary, nothing written to the replica, no request falls back
--- http_config eval
"    v3xy_redis sentinel=\$TEST_NGINX_LIAR_FIRST master=v3xy sentinel_password_file=\$TEST_NGINX_SENTINEL_PW connect_timeout=1s timeout=1s;\n"
. $main::Zones
--- init
main::wait_ready();
# 4 s of traffic after start: every request decided by Redis (the old
# way asked the sentinels in turn and dropped the primary's connection
# for the replica's every third second: 503s here)
my (%st, $n);
my $until = Time::HiRes::time() + 4;
while (Time::HiRes::time() < $until) {
    my @r = V3xyCluster::blast($ENV{TEST_NGINX_SERVER_PORT}, 10,
                               map { ['/closed/x', 'X-Merchant' => 'liar1'] } 1 .. 20);
    $st{$_}++ for @r;
    $n += @r;
    Time::HiRes::sleep(0.05);
}
Test::More::is(join(',', map { "$_=$st{$_}" } sort keys %st), "200=$n",
               "every request of 4 s admitted by Redis ($n)");
Test::More::like(main::head('/closed/x', 'X-Merchant' => 'liar1'),
                 qr/^RateLimit: "many";r=@{[9999 - $n]};t=\d+\r$/mi,
                 'each of them counted once, in one place');
my $stats = V3xyCluster::node_cli($main::SubReplica, 'INFO', 'commandstats')
            . V3xyCluster::node_cli($main::SubReplica, 'INFO', 'errorstats');
Test::More::like($stats, qr/^cmdstat_role:/m, 'the replica was asked its ROLE');
Test::More::unlike($stats, qr/^cmdstat_eval/m, 'no script call reached the replica');
Test::More::unlike($stats, qr/READONLY/, 'no write refused by the replica');
Test::More::is(V3xyCluster::sentinel_master($main::Liar), $main::SubReplica,
               'the liar still names the replica');
--- request
GET /closed/x
--- more_headers
X-Merchant: liar1
--- error_code: 200
--- error_log eval
qr/\[warn\] .*v3xy: redis sentinel 127\.0\.0\.1:$main::Liar names 127\.0\.0\.1:$main::SubReplica as the master "v3xy", but its ROLE is "slave": not used, the next sentinel asked/
--- no_error_log eval
['read-only', 'the master "v3xy" is 127.0.0.1:' . $main::SubReplica, '[error]', $main::Password]



=== TEST 5: +switch-master followed at once: SENTINEL FAILOVER with no traffic and a 60 s poll, the new master used within seconds, before the old primary drops its clients
--- http_config eval
"    v3xy_redis sentinel=\$TEST_NGINX_SENTINELS master=v3xy sentinel_password_file=\$TEST_NGINX_SENTINEL_PW sentinel_poll=60s connect_timeout=1s timeout=1s;\n"
. $main::Zones
--- init
main::wait_ready();
my $workers = $ENV{TEST_NGINX_USE_VALGRIND} ? 1 : 2;
my $old = V3xyCluster::sentinel_master($main::Sentinels[0]);
# every worker subscribed, to the sentinel it asks (the first, unless
# that one was slow to answer)
V3xyCluster::wait_until(sub {
    my $subs = () = join('', map { V3xyCluster::sentinel_cli($_, 'CLIENT', 'LIST') }
                             @main::Sentinels) =~ /\bcmd=subscribe\b/g;
    return $subs >= $workers;
}, 'the subscriptions');
my $t0 = Time::HiRes::time();
V3xyCluster::sentinel_cli($main::Sentinels[0], 'SENTINEL', 'FAILOVER', 'v3xy');
main::wait_log(qr/v3xy: redis sentinel: the master "v3xy" is 127\.0\.0\.1:\d+, was 127\.0\.0\.1:$old/);
my $took = Time::HiRes::time() - $t0;
$main::New = V3xyCluster::sentinel_master($main::Sentinels[0]);
Test::More::isnt($main::New, $old, 'the sentinels switched');
Test::More::cmp_ok($took, '<', 30, sprintf('followed %.1f s after SENTINEL FAILOVER (poll: 60 s)', $took));
my @lines = split /\n/, main::a_log();
my ($msg) = grep { $lines[$_] =~ /\[info\] .*v3xy: redis sentinel 127\.0\.0\.1:\d+: \+switch-master v3xy 127\.0\.0\.1 $old 127\.0\.0\.1 $main::New/ } 0 .. $#lines;
my ($switch) = grep { $lines[$_] =~ /the master "v3xy" is 127\.0\.0\.1:$main::New, was/ } 0 .. $#lines;
my ($lost) = grep { $lines[$_] =~ /redis 127\.0\.0\.1:$old unavailable/ } 0 .. $#lines;
Test::More::ok(defined $msg && defined $switch && $msg < $switch,
               '+switch-master received, then the switch');
Test::More::ok(!defined $lost || $switch < $lost,
               'the switch before the old primary dropped the connection');
--- request
GET /closed/x
--- more_headers
X-Merchant: switch1
--- error_code: 200
--- response_body_filters eval
sub {
    return 'on the new master: '
           . V3xyCluster::node_cli($main::New, 'EXISTS', 'v3xy:{many:switch1}') . "\n";
}
--- response_body
on the new master: 1
--- no_error_log eval
['[error]', $main::Password]
