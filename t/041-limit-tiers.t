# Tiers: a zone's rate per tier (v3xy_limit_zone tier=NAME:RATE), the
# tier of a key in the key store (a file's tier=, a Redis hash's "tier"
# field) or in the sidecar's configuration (v3xy_api_key_file tier=).  A
# key of a tier that the zone names gets exactly that tier's N, a key of
# none or of another tier the zone's rate=, in shared memory and in Redis;
# a tier changed in Redis applies within the key cache's time, with no
# reload, and the key keeps what it has used (in shared memory too, across
# a reload of the key store file); $v3xy_tier; the metrics' tier label;
# bad configurations refused with a message that says why.

use lib 't/lib';
use Digest::SHA qw(sha256_hex);
use IO::Socket::INET;
use Test::Nginx::Socket 'no_plan';
use Time::HiRes ();
use V3xy qw(key_file start_echo start_redis);

start_echo();
start_redis();

sub key { return "v3xy_dev_Tiers_$_[0]_0123456789abcdef" }

$ENV{TEST_NGINX_KEY_STORE} = key_file('tier-keys', <<"_EOS_");
${\ sha256_hex(key('scale'))} acct_1 pay tier=scale
${\ sha256_hex(key('ent'))} acct_2 pay tier=enterprise
${\ sha256_hex(key('plain'))} acct_3 pay
${\ sha256_hex(key('gold'))} acct_4 pay tier=gold
${\ sha256_hex(key('moved'))} acct_5 pay
_EOS_

$ENV{TEST_NGINX_BAD_TIER_STORE} = key_file('bad-tier-keys',
    sha256_hex(key('x')) . " acct_9 pay tier=Gold\n");

$ENV{TEST_NGINX_NO_SCOPE_STORE} = key_file('no-scope-keys',
    sha256_hex(key('x')) . " acct_9 pay\n"
    . sha256_hex(key('y')) . " acct_9 tier=gold\n");

$ENV{TEST_NGINX_SIDECAR_SCALE} = key_file('sidecar-scale', key('sc1') . "\n");
$ENV{TEST_NGINX_SIDECAR_PLAIN} = key_file('sidecar-plain', key('sc2') . "\n");

# store(NAME, FIELD => VALUE ...): the key's hash in Redis
sub store {
    my ($name, @fv) = @_;
    my $h = 'v3xy:key:' . sha256_hex(key($name));
    V3xy::redis('DEL', $h);
    V3xy::redis('HSET', $h, @fv) if @fv;
}

# count(PATH, NAME, N): N requests with that key, pipelined on one
# connection; "status=count ..."
sub count {
    my ($path, $name, $n) = @_;
    my ($s, $req) = (undef, '');

    # nginx may still be starting (under valgrind it takes seconds)
    for (1 .. 400) {
        $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                   PeerPort => $ENV{TEST_NGINX_SERVER_PORT})
            and last;
        select undef, undef, undef, 0.05;
    }

    $s or die "count: $!";

    for my $i (1 .. $n) {
        $req .= "GET $path HTTP/1.1\r\nHost: localhost\r\n"
              . (defined $name ? "X-V3XY-API-Key: " . key($name) . "\r\n"
                               : '')
              . ($i == $n ? "Connection: close\r\n" : '') . "\r\n";
    }

    print $s $req;
    local $/;
    my $all = <$s> // '';
    close $s;
    my %st;
    # a JSON refusal ends without a newline: the next status line follows
    $st{$1}++ while $all =~ m{HTTP/1\.1 (\d{3}) }g;
    return join ' ', map { "$_=$st{$_}" } sort keys %st;
}

# one(PATH, NAME): (status, RateLimit-Policy's q, X-Tier) of one request
sub one {
    my ($path, $name) = @_;
    my ($st, $head) = V3xy::http_req('GET', $path, undef,
                                     'X-V3XY-API-Key' => key($name));
    my ($q) = $head =~ /^RateLimit-Policy: "[^"]+";q=(\d+)/mi;
    my ($t) = $head =~ /^X-Tier: (\S+)/mi;
    return ($st, $q // '', $t // '');
}

# rewrite(FROM, TO): FROM becomes TO in the key store file
sub rewrite {
    my ($from, $to) = @_;
    my $path = $ENV{TEST_NGINX_KEY_STORE};

    open my $in, '<', $path or die "$path: $!";
    my $text = do { local $/; <$in> };
    close $in;
    $text =~ s/\Q$from\E/$to/ or die "no $from";
    open my $out, '>', $path or die "$path: $!";
    print $out $text;
    close $out;
}

# reload(): HUP, then waits until the old workers are gone (a request
# that an old worker served would be decided under the old key store)
sub reload {
    my $pidfile = "$ENV{TEST_NGINX_SERVER_ROOT}/logs/nginx.pid";

    open my $fh, '<', $pidfile or die "$pidfile: $!";
    chomp(my $master = <$fh>);
    close $fh;
    my $before = `ps -o pid= --ppid $master`;
    kill 'HUP', $master;

    V3xy::wait_until(sub {
        my %old = map { $_ => 1 } split ' ', $before;
        my @now = split ' ', `ps -o pid= --ppid $master`;
        return @now && !grep { $old{$_} } @now;
    }, 'the old workers to exit');
}

our $Redis = <<'_EOC_';
    v3xy_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT timeout=2s;
_EOC_

master_on();
workers(2);

add_block_preprocessor(sub {
    my $block = shift;

    $block->set_value('timeout', 60) if $ENV{TEST_NGINX_USE_VALGRIND};
    $block->set_value('request', 'GET /t') unless defined $block->request;
    $block->set_value('config', ($block->config // '') . <<'_EOC_');
    location = /t {
        return 200 "ok\n";
    }
_EOC_

    V3xy::redis_ready_block($block);
});

log_level('info');
no_shuffle();
no_long_string();
run_tests();

__DATA__

=== TEST 1: shared memory, file key store: each tier gets exactly its N, a key of no tier or of a tier the zone does not name the default N
--- http_config
    v3xy_limit_zone pay key=$v3xy_key_id rate=5r/m tier=scale:12r/m tier=enterprise:20r/m size=1m;
--- config
    location /pay/ {
        v3xy_key_store file=$TEST_NGINX_KEY_STORE;
        v3xy_limit pay;
        proxy_pass http://127.0.0.1:$TEST_NGINX_ECHO_PORT;
    }
--- init
Test::More::is(main::count('/pay/a', 'scale', 15), '200=12 429=3',
               'tier scale: 12r/m');
Test::More::is(main::count('/pay/a', 'ent', 25), '200=20 429=5',
               'tier enterprise: 20r/m');
Test::More::is(main::count('/pay/a', 'plain', 8), '200=5 429=3',
               'no tier: rate=');
Test::More::is(main::count('/pay/a', 'gold', 8), '200=5 429=3',
               'a tier the zone does not name: rate=');
--- request
GET /pay/a
--- more_headers eval
"X-V3XY-API-Key: " . main::key('scale')
--- error_code: 429
--- response_headers_like
RateLimit-Policy: "pay";q=12;w=60
RateLimit: "pay";r=0;t=\d+
--- error_log eval
qr/\[info\] .*v3xy: rate_limited: zone "pay" \(tier "scale": 12 per 60 s\) refused the request/
--- no_error_log
[error]
[alert]



=== TEST 2: Redis, Redis key store: each tier gets exactly its N, a key of no tier or an unknown tier the default N
--- http_config eval
$::Redis . <<'_EOC_'
    v3xy_limit_zone rpay key=$v3xy_key_id rate=5r/m tier=scale:12r/m tier=enterprise:20r/m;
_EOC_
--- config
    location /pay/ {
        v3xy_key_store redis;
        v3xy_limit rpay;
        v3xy_limit_fail closed;
        proxy_pass http://127.0.0.1:$TEST_NGINX_ECHO_PORT;
    }
--- init
V3xy::wait_ready('/ready');
main::store('scale', account => 'acct_1', scopes => 'pay', status => 'active',
            tier => 'scale');
main::store('ent', account => 'acct_2', scopes => 'pay', status => 'active',
            tier => 'enterprise');
main::store('plain', account => 'acct_3', scopes => 'pay',
            status => 'active');
main::store('gold', account => 'acct_4', scopes => 'pay', status => 'active',
            tier => 'gold');
Test::More::is(main::count('/pay/a', 'scale', 15), '200=12 429=3',
               'tier scale: 12r/m');
Test::More::is(main::count('/pay/a', 'ent', 25), '200=20 429=5',
               'tier enterprise: 20r/m');
Test::More::is(main::count('/pay/a', 'plain', 8), '200=5 429=3',
               'no tier: rate=');
Test::More::is(main::count('/pay/a', 'gold', 8), '200=5 429=3',
               'a tier the zone does not name: rate=');
Test::More::ok(V3xy::redis('KEYS', 'v3xy:{rpay:*') =~ /rpay/,
               'decided in Redis');
--- request
GET /pay/a
--- more_headers eval
"X-V3XY-API-Key: " . main::key('ent')
--- error_code: 429
--- response_headers_like
RateLimit-Policy: "rpay";q=20;w=60
--- no_error_log
[error]
[alert]



=== TEST 3: Redis: a tier changed in Redis under traffic applies within the cache time, no reload, and the count is kept (10r/m, 9 used, moved to 20r/m: exactly 11 more)
--- http_config eval
$::Redis . <<'_EOC_'
    v3xy_limit_zone move key=$v3xy_key_id rate=10r/m tier=scale:20r/m;
_EOC_
--- config
    location /pay/ {
        v3xy_key_store redis cache=2s;
        v3xy_limit move;
        v3xy_limit_fail closed;
        add_header X-Tier $v3xy_tier always;
        proxy_pass http://127.0.0.1:$TEST_NGINX_ECHO_PORT;
    }
--- init
V3xy::wait_ready('/ready');
main::store('moved', account => 'acct_5', scopes => 'pay',
            status => 'active');
Test::More::is(main::count('/pay/a', 'moved', 8), '200=8', '8 of 10 used');
V3xy::redis('HSET', 'v3xy:key:' . Digest::SHA::sha256_hex(main::key('moved')),
            'tier', 'scale');
# within the cache time: still the default (the answer is cached)
Test::More::is(join(' ', main::one('/pay/a', 'moved')), '200 10 ',
               'the cached answer: rate=, no tier');
Time::HiRes::sleep(2.3);
--- request
GET /pay/a
--- more_headers eval
"X-V3XY-API-Key: " . main::key('moved')
--- response_headers_like
RateLimit-Policy: "move";q=20;w=60
RateLimit: "move";r=10;t=\d+
X-Tier: scale
--- error_code: 200
--- no_error_log
[error]
[alert]



=== TEST 4: Redis: after the move, exactly 20 in all (the 10 admitted after the move above and no more)
--- http_config eval
$::Redis . <<'_EOC_'
    v3xy_limit_zone move key=$v3xy_key_id rate=10r/m tier=scale:20r/m;
_EOC_
--- config
    location /pay/ {
        v3xy_key_store redis cache=2s;
        v3xy_limit move;
        v3xy_limit_fail closed;
        proxy_pass http://127.0.0.1:$TEST_NGINX_ECHO_PORT;
    }
--- init
V3xy::wait_ready('/ready');
Test::More::is(main::count('/pay/a', 'moved', 15), '200=10 429=5',
               '10 more, 20 in all');
--- no_error_log
[error]
[alert]



=== TEST 5: shared memory: a key whose tier changes in the key store file (a reload) keeps what it has used (10r/m, 8 used, moved to 20r/m: exactly 12 more)
--- http_config
    v3xy_limit_zone smove key=$v3xy_key_id rate=10r/m tier=scale:20r/m size=1m;
--- config
    location /pay/ {
        v3xy_key_store file=$TEST_NGINX_KEY_STORE;
        v3xy_limit smove;
        proxy_pass http://127.0.0.1:$TEST_NGINX_ECHO_PORT;
    }
    location /who/ {
        v3xy_key_store file=$TEST_NGINX_KEY_STORE;
        add_header X-Tier $v3xy_tier always;
        proxy_pass http://127.0.0.1:$TEST_NGINX_ECHO_PORT;
    }
--- init
Test::More::is(main::count('/pay/a', 'moved', 8), '200=8', '8 of 10 used');
main::rewrite('acct_5 pay', 'acct_5 pay tier=scale');
main::reload();
V3xy::wait_until(sub { (main::one('/who/a', 'moved'))[2] eq 'scale' },
                 'the reloaded key store');
Test::More::is(main::count('/pay/a', 'moved', 15), '200=12 429=3',
               '12 more: 20 in all');
main::rewrite('acct_5 pay tier=scale', 'acct_5 pay');
--- no_error_log
[error]
[alert]



=== TEST 6: the sidecar's tier (v3xy_api_key_file tier=): its N; a key file without one: rate=; $v3xy_tier in a header
--- http_config
    v3xy_limit_zone side key=$v3xy_key_id rate=3r/m tier=scale:6r/m size=1m;
--- config
    location /scale/ {
        v3xy_api_key_file $TEST_NGINX_SIDECAR_SCALE tier=scale;
        v3xy_limit side;
        add_header X-Tier $v3xy_tier always;
        proxy_pass http://127.0.0.1:$TEST_NGINX_ECHO_PORT;
    }
    location /plain/ {
        v3xy_api_key_file $TEST_NGINX_SIDECAR_PLAIN;
        v3xy_limit side;
        add_header X-Tier "[$v3xy_tier]" always;
        proxy_pass http://127.0.0.1:$TEST_NGINX_ECHO_PORT;
    }
--- init
Test::More::is(main::count('/scale/a', undef, 8), '200=6 429=2',
               'tier scale: 6r/m');
Test::More::is(main::count('/plain/a', undef, 5), '200=3 429=2',
               'no tier: 3r/m');
--- request eval
["GET /scale/a", "GET /plain/a"]
--- error_code eval
[429, 429]
--- response_headers eval
["X-Tier: scale\nRateLimit-Policy: \"side\";q=6;w=60",
 "X-Tier: []\nRateLimit-Policy: \"side\";q=3;w=60"]
--- no_error_log
[error]
[alert]



=== TEST 7: $v3xy_tier in the access log: the key's tier, "-" for a key of none
--- http_config
    log_format tiers 'tier=$v3xy_tier key=$v3xy_key_id status=$status';
--- config
    location /who/ {
        v3xy_key_store file=$TEST_NGINX_KEY_STORE;
        access_log logs/tiers.log tiers;
        proxy_pass http://127.0.0.1:$TEST_NGINX_ECHO_PORT;
    }
--- init
my $log = "$ENV{TEST_NGINX_SERVER_ROOT}/logs/tiers.log";
V3xy::http_get('/who/a', 'X-V3XY-API-Key' => main::key($_))
    for qw(ent plain);
V3xy::wait_until(sub { -s $log && do {
    open my $fh, '<', $log; my @l = <$fh>; @l >= 2 } }, 'two log lines');
open my $fh, '<', $log or die;
my @lines = <$fh>;
Test::More::like($lines[0], qr/^tier=enterprise key=\S+ status=200$/,
                 'the tier of the key');
Test::More::like($lines[1], qr/^tier=- key=\S+ status=200$/,
                 'none: "-"');
--- no_error_log
[error]



=== TEST 8: the metrics count decisions by zone and tier: default for rate=, a tier the zone names
--- http_config
    v3xy_limit_zone mpay key=$v3xy_key_id rate=2r/m tier=scale:4r/m size=1m;
--- config
    location /pay/ {
        v3xy_key_store file=$TEST_NGINX_KEY_STORE;
        v3xy_limit mpay;
        proxy_pass http://127.0.0.1:$TEST_NGINX_ECHO_PORT;
    }
    location = /metrics {
        v3xy_metrics;
    }
--- init
Test::More::is(main::count('/pay/a', 'scale', 5), '200=4 429=1', 'scale');
Test::More::is(main::count('/pay/a', 'gold', 3), '200=2 429=1',
               'gold: the default');
--- request
GET /metrics
--- response_body_like eval
qr/\Q# HELP v3xy_limit_decisions_total\E[^\n]*\n# TYPE v3xy_limit_decisions_total counter\n\Qv3xy_limit_decisions_total{zone="mpay",tier="default",decision="admitted"} 2\E\n\Qv3xy_limit_decisions_total{zone="mpay",tier="default",decision="refused"} 1\E\n\Qv3xy_limit_decisions_total{zone="mpay",tier="default",decision="refused_dry_run"} 0\E\n\Qv3xy_limit_decisions_total{zone="mpay",tier="scale",decision="admitted"} 4\E\n\Qv3xy_limit_decisions_total{zone="mpay",tier="scale",decision="refused"} 1\E\n\Qv3xy_limit_decisions_total{zone="mpay",tier="scale",decision="refused_dry_run"} 0\E\n/
--- no_error_log
[error]



=== TEST 9: tier= without a rate is refused
--- http_config
    v3xy_limit_zone bad key=$v3xy_key_id rate=5r/m tier=scale;
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid parameter "tier=scale": use tier=NAME:RATE, as tier=scale:600r\/m/



=== TEST 10: a tier's bad rate is refused
--- http_config
    v3xy_limit_zone bad key=$v3xy_key_id rate=5r/m tier=scale:10r/x;
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid rate of tier "scale" in "tier=scale:10r\/x": use Nr\/s, Nr\/m, Nr\/h or Nr\/d with N from 1 to 1000000/



=== TEST 11: the same tier twice is refused
--- http_config
    v3xy_limit_zone bad key=$v3xy_key_id rate=5r/m tier=scale:10r/m tier=scale:20r/m;
--- must_die
--- error_log eval
qr/\[emerg\] .*v3xy_limit_zone "bad": tier "scale" is given twice/



=== TEST 12: a tier named "default" is refused: that is rate=
--- http_config
    v3xy_limit_zone bad key=$v3xy_key_id rate=5r/m tier=default:10r/m;
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid parameter "tier=default:10r\/m": the default tier's rate is rate=/



=== TEST 13: a tier name with an upper-case letter is refused
--- http_config
    v3xy_limit_zone bad key=$v3xy_key_id rate=5r/m tier=Scale:10r/m;
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid tier name in "tier=Scale:10r\/m": 1 to 32 characters of a-z 0-9 _ -/



=== TEST 14: burst= applies to every tier: a tier whose N is below it is refused
--- http_config
    v3xy_limit_zone bad key=$v3xy_key_id rate=50r/m burst=20 tier=small:10r/m;
--- must_die
--- error_log eval
qr/\[emerg\] .*v3xy_limit_zone "bad": burst may not exceed the N of tier "small" \(10\)/



=== TEST 15: the sidecar's tier= must be a tier name
--- config
    location /x/ {
        v3xy_api_key_file $TEST_NGINX_SIDECAR_SCALE tier=Big!;
    }
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid parameter "tier=Big!": use tier=NAME, the name 1 to 32 characters of a-z 0-9 _ -/



=== TEST 16: a key store file line with a bad tier stops nginx, saying which line
--- config
    location /x/ {
        v3xy_key_store file=$TEST_NGINX_BAD_TIER_STORE;
    }
--- must_die
--- error_log eval
qr/\[emerg\] .*v3xy_key_store: ".*bad-tier-keys" line 1: a tier that is not 1 to 32 characters of a-z 0-9 _ -/



=== TEST 16a: the sidecar's tier=default is refused, as a zone's tier=default: is
--- config
    location /x/ {
        v3xy_api_key_file $TEST_NGINX_SIDECAR_SCALE tier=default;
    }
--- must_die
--- error_log
invalid parameter "tier=default": a key of the default tier has no tier=



=== TEST 16b: v3xy_api_key_file with tier= before the file says that the file comes first
--- config
    location /x/ {
        v3xy_api_key_file tier=scale $TEST_NGINX_SIDECAR_SCALE;
    }
--- must_die
--- error_log
invalid parameter "tier=scale": the key file comes first: v3xy_api_key_file FILE [tier=NAME]



=== TEST 16c: a sidecar's tier that no zone names (a typo): a warning that names where, and nginx runs; a tier that a zone names: none
--- http_config
    v3xy_limit_zone sc key=$v3xy_key_id rate=5r/m tier=scale:50r/m;
--- config
    location /typo/ {
        v3xy_api_key_file $TEST_NGINX_SIDECAR_SCALE tier=sacle;
        return 200 "$v3xy_tier\n";
    }

    location /right/ {
        v3xy_api_key_file $TEST_NGINX_SIDECAR_PLAIN tier=scale;
        return 200 "$v3xy_tier\n";
    }
--- request
GET /typo/
--- response_body
sacle
--- error_log eval
qr/\[warn\] .*v3xy_api_key_file \.\.\. tier=sacle in \S+nginx\.conf:\d+: no v3xy_limit_zone names tier "sacle" \(tier=sacle:RATE\): the key gets each zone's rate=/
--- no_error_log
tier=scale in



=== TEST 16d: a key store file line without scopes (a tier= in their place) says that the scopes are missing
--- config
    location /x/ {
        v3xy_key_store file=$TEST_NGINX_NO_SCOPE_STORE;
    }
--- must_die
--- error_log eval
qr/\[emerg\] .*v3xy_key_store: ".*no-scope-keys" line 2: no scopes: the third field lists them, comma-separated \("payments:read,verify:send"\), before "revoked" and tier=NAME/



=== TEST 17: a malformed tier in Redis: the key is refused as a malformed entry (403 api_key_invalid), with a warning
--- http_config eval
$::Redis
--- config
    location /pay/ {
        v3xy_key_store redis;
        proxy_pass http://127.0.0.1:$TEST_NGINX_ECHO_PORT;
    }
--- init
V3xy::wait_ready('/ready');
main::store('badtier', account => 'acct_6', scopes => 'pay',
            status => 'active', tier => 'Gold!');
--- request
GET /pay/a
--- more_headers eval
"X-V3XY-API-Key: " . main::key('badtier')
--- error_code: 403
--- error_log eval
qr/\[warn\] .*malformed \(a tier that is not 1 to 32 characters of a-z 0-9 _ -\)/
