# v3xy_metrics: the Prometheus text format from counters in shared memory.
# Two workers: a listener with reuseport spreads connections over both and
# the scrape must count what both did.  Each block drives counters with
# requests of known outcome and checks that the scraped values changed by
# exactly that; promtool checks the format; a reload keeps the counts; a
# real Prometheus scrapes the endpoint and answers a query.

use lib 't/lib';
use Digest::SHA qw(hmac_sha256_hex sha256_hex);
use File::Temp ();
use IO::Socket::INET;
use Test::Nginx::Socket 'no_plan';
use V3xy qw(start_echo start_redis stop_redis redis key_file free_port);

start_echo();
start_redis();

our $Secret = 'whsec_metrics_6d1f0b7a2c';
$ENV{TEST_NGINX_KEY_FILE} = key_file('api_key', "v3xy_dev_Metrics_Sidecar_0123456789abcdef\n");
$ENV{TEST_NGINX_WHSEC} = key_file('whsec', "$Secret\n");
$ENV{TEST_NGINX_SPREAD_PORT} = free_port();
$ENV{TEST_NGINX_DEAD_PORT} = free_port();

# nginx's own counters are there where nginx has stub_status's
our $Stub = (`$ENV{TEST_NGINX_BINARY} -V 2>&1`
             =~ /--with-http_stub_status_module/) ? 1 : 0;

master_on();
workers(2);

# get(PORT, PATH, HEADER => VALUE ..., method => M, body => B): one
# request; returns the status, the worker that answered (X-Worker), the
# body, the head
sub get {
    my ($port, $path, %h) = @_;
    my $method = delete $h{method} // 'GET';
    my $body = delete $h{body};
    my ($status, $head, $rb) = V3xy::http_req($method, $path, $body,
                                              %h, port => $port);
    my ($pid) = $head =~ /^X-Worker: (\d+)/mi;
    return ($status, $pid // 0, $rb, $head);
}

sub spread { get($ENV{TEST_NGINX_SPREAD_PORT}, @_) }

# scrape(): the series of /metrics, name{labels} => value; $Scrapes
# counts the scrapes (each one is a request in nginx's own counters)
our $Scrapes = 0;

sub scrape {
    my (undef, undef, $body) = get($ENV{TEST_NGINX_SERVER_PORT}, '/metrics');
    my %m;

    $Scrapes++;

    for (split /\n/, $body) {
        next if /^#/;
        $m{$1} = $2 if /^(\S+) (\S+)$/;
    }

    return \%m;
}

# delta(BEFORE, AFTER, SERIES): how much SERIES grew, or "absent"
sub delta {
    my ($before, $after, $series) = @_;

    return exists $after->{$series}
           ? $after->{$series} - ($before->{$series} // 0) : 'absent';
}

# changed(BEFORE, SERIES => DELTA ...): each delta, a test each.  A
# request is counted in the log phase, in the worker that served it, which
# under load can come after its client has read the response and sent the
# scrape: this scrapes again until every delta is there (10 s at most).
# Returns the last scrape.
sub changed {
    my ($before, @want) = @_;
    my $after;

    for (1 .. 200) {
        $after = scrape();
        my @off = grep { delta($before, $after, $want[2 * $_])
                         ne $want[2 * $_ + 1] } 0 .. $#want / 2;
        last unless @off;
        select undef, undef, undef, 0.05;
    }

    while (my ($series, $delta) = splice @want, 0, 2) {
        Test::More::is(delta($before, $after, $series), $delta,
                       "$series +$delta");
    }

    return $after;
}

# settled(SERIES, VALUE): scrapes until SERIES is VALUE (10 s at most), as
# changed() does; returns its last value
sub settled {
    my ($series, $value) = @_;
    my $got;

    for (1 .. 200) {
        $got = scrape()->{$series} // 'absent';
        last if $got eq $value;
        select undef, undef, undef, 0.05;
    }

    return $got;
}

sub sig {
    my ($body, $t) = @_;
    $t //= time;
    return "t=$t,v1=" . hmac_sha256_hex("$t.$body", $::Secret);
}

add_block_preprocessor(sub {
    my $block = shift;

    $block->set_value('timeout', 60) if $ENV{TEST_NGINX_USE_VALGRIND};

    $block->set_value('request', 'GET /metrics')
        unless defined $block->request;

    my $config = $block->config // '';
    $block->set_value('config', $config . <<'_EOC_');
    location = /metrics {
        v3xy_metrics;
    }
_EOC_
});

no_long_string();
run_tests();

__DATA__

=== TEST 1: the text format, version 0.0.4, that promtool accepts
--- config
    location /v1/ {
        v3xy_api_key_file $TEST_NGINX_KEY_FILE;
        proxy_pass http://127.0.0.1:$TEST_NGINX_ECHO_PORT;
    }
--- init
main::get($ENV{TEST_NGINX_SERVER_PORT}, '/v1/a') for 1 .. 3;
# counted in the log phase: the scrape below and the request of the block
# see the three once one scrape has
Test::More::is(main::settled('v3xy_requests_total{role="sidecar",code="ok"}',
                             3), 3, 'three counted');
my (undef, undef, $body) = main::get($ENV{TEST_NGINX_SERVER_PORT}, '/metrics');
my $dir = File::Temp::tempdir('v3xy-metrics-XXXXXX', TMPDIR => 1,
                              CLEANUP => 1);
open my $fh, '>', "$dir/scrape.txt" or die $!;
print $fh $body;
close $fh;
my $out = `promtool check metrics < $dir/scrape.txt 2>&1`;
Test::More::is($?, 0, 'promtool check metrics');
Test::More::is($out, '', 'promtool: no complaint');
--- response_headers
Content-Type: text/plain; version=0.0.4; charset=utf-8
--- response_body_like
\A# HELP v3xy_requests_total [^\n]+
# TYPE v3xy_requests_total counter
v3xy_requests_total\{role="sidecar",code="ok"\} 3
.*# TYPE v3xy_upstream_response_seconds histogram
.*v3xy_upstream_response_seconds_bucket\{upstream="primary",le="\+Inf"\} 3
.*v3xy_upstream_response_seconds_count\{upstream="primary"\} 3
--- no_error_log
[error]



=== TEST 2: GET and HEAD only: anything else is a 405 in JSON
--- request
POST /metrics
x
--- error_code: 405
--- response_headers
Content-Type: application/json
--- response_body chomp
{"success":false,"error":"Only GET and HEAD are allowed here.","code":"method_not_allowed"}
--- no_error_log
[error]



=== TEST 3: HEAD: the headers of a scrape
--- request
HEAD /metrics
--- response_headers
Content-Type: text/plain; version=0.0.4; charset=utf-8
--- response_body
--- no_error_log
[error]



=== TEST 4: the sidecar over two workers: requests by code, limit decisions
--- http_config
    v3xy_limit_zone create rate=3r/m key=$http_x_merchant;

    server {
        listen 127.0.0.1:$TEST_NGINX_SPREAD_PORT reuseport;

        location /v1/ {
            v3xy_api_key_file $TEST_NGINX_KEY_FILE;
            v3xy_limit create;
            proxy_pass http://127.0.0.1:$TEST_NGINX_ECHO_PORT;
            add_header X-Worker $pid always;
        }
    }
--- init
my $before = main::scrape();
my $scrapes = $main::Scrapes;
my (%pids, %status, $n);

# distinct merchants: all admitted, until both workers have answered
for (1 .. 400) {
    my ($st, $pid) = main::spread('/v1/payments', 'X-Merchant' => "m$_");
    $pids{$pid}++;
    $status{$st}++;
    $n = $_;
    last if keys %pids >= 2 && $_ >= 10;
}
Test::More::is(scalar(keys %pids), 2, 'both workers answered');
Test::More::is($status{200}, $n, "$n admitted");

# one merchant, five requests: three admitted (3r/m), two refused
my @st = map { (main::spread('/v1/payments', 'X-Merchant' => 'same'))[0] }
         1 .. 5;
Test::More::is("@st", '200 200 200 429 429', 'three of five for one key');

# browsers are refused before any limit
my ($b1) = main::spread('/v1/payments', 'Origin' => 'https://shop.example');
my ($b2) = main::spread('/v1/payments', 'Sec-Fetch-Mode' => 'cors');
Test::More::is("$b1 $b2", '403 403', 'browsers refused');

my $after = main::changed($before,
    'v3xy_requests_total{role="sidecar",code="ok"}' => $n + 3,
    'v3xy_requests_total{role="sidecar",code="rate_limited"}' => 2,
    'v3xy_requests_total{role="sidecar",code="api_key_origin"}' => 2,
    'v3xy_limit_decisions_total{zone="create",tier="default",decision="admitted"}' => $n + 3,
    'v3xy_limit_decisions_total{zone="create",tier="default",decision="refused"}' => 2,
    'v3xy_upstream_response_seconds_count{upstream="primary"}' => $n + 3,
    'v3xy_limit_fallbacks_total{mode="local"}' => 0);

if ($main::Stub) {
    # every request on its own connection, the scrapes after the first
    # too (each one is counted before it reads the counters)
    my $k = $main::Scrapes - $scrapes;
    Test::More::is(main::delta($before, $after,
                               'v3xy_nginx_http_requests_total'),
                   $n + 7 + $k, "v3xy_nginx_http_requests_total +$n+7+$k");
    Test::More::is(main::delta($before, $after,
                     'v3xy_nginx_connections_total{state="accepted"}'),
                   $n + 7 + $k,
                   "v3xy_nginx_connections_total{state=\"accepted\"} "
                   . "+$n+7+$k");

} else {
    Test::More::ok(!exists $after->{'v3xy_nginx_http_requests_total'},
                   'no stub_status counters in this nginx');
}
--- no_error_log
[error]



=== TEST 5: a zone full of keys that still count, over two workers: the keys without room by zone and v3xy_limit_fail outcome, in a format promtool accepts
--- http_config
    v3xy_limit_zone tiny rate=1r/m key=$http_x_merchant size=32k;

    server {
        listen 127.0.0.1:$TEST_NGINX_SPREAD_PORT reuseport;

        location /v1/ {
            v3xy_limit tiny;
            proxy_pass http://127.0.0.1:$TEST_NGINX_ECHO_PORT;
            add_header X-Worker $pid always;
        }

        location /open/ {
            v3xy_limit tiny;
            v3xy_limit_fail open;
            proxy_pass http://127.0.0.1:$TEST_NGINX_ECHO_PORT;
            add_header X-Worker $pid always;
        }
    }
--- init
my $before = main::scrape();
my (%pids, %status);

# 300 keys of 1r/m: the first ones fill the zone, the rest find no room
# (v3xy_limit_fail local: 503), and nothing is forgotten
for (1 .. 300) {
    my ($st, $pid) = main::spread('/v1/a', 'X-Merchant' => "m$_");
    $pids{$pid}++;
    $status{$st}++;
}
Test::More::is(scalar(keys %pids), 2, 'both workers answered');
Test::More::ok($status{200} && $status{503}
               && $status{200} + $status{503} == 300,
               'admitted, then 503: ' . join(' ', %status));

my @open = map { (main::spread('/open/a', 'X-Merchant' => "o$_"))[0] } 1 .. 4;
Test::More::is("@open", '200 200 200 200', 'open: admitted uncounted');

my ($m1) = main::spread('/v1/a', 'X-Merchant' => 'm1');
Test::More::is($m1, 429, 'the first key is still counted');

main::changed($before,
    'v3xy_limit_zone_full_total{zone="tiny",outcome="refused"}' => $status{503},
    'v3xy_limit_zone_full_total{zone="tiny",outcome="admitted"}' => 4,
    'v3xy_limit_decisions_total{zone="tiny",tier="default",decision="admitted"}' => $status{200},
    'v3xy_limit_decisions_total{zone="tiny",tier="default",decision="refused"}' => 1);

my (undef, undef, $body) = main::get($ENV{TEST_NGINX_SERVER_PORT}, '/metrics');
my $dir = File::Temp::tempdir('v3xy-metrics-XXXXXX', TMPDIR => 1,
                              CLEANUP => 1);
open my $fh, '>', "$dir/scrape.txt" or die $!;
print $fh $body;
close $fh;
my $out = `promtool check metrics < $dir/scrape.txt 2>&1`;
Test::More::is($?, 0, 'promtool check metrics');
Test::More::is($out, '', 'promtool: no complaint');
--- response_body_like
# HELP v3xy_limit_zone_full_total [^\n]+
# TYPE v3xy_limit_zone_full_total counter
v3xy_limit_zone_full_total\{zone="tiny",outcome="admitted"\} 4
v3xy_limit_zone_full_total\{zone="tiny",outcome="refused"\} \d+
--- no_error_log
[error]



=== TEST 6: webhooks: each verdict, replays refused
--- config
    location = /webhooks/v3xy {
        v3xy_webhook_secret_file $TEST_NGINX_WHSEC;
        proxy_pass http://127.0.0.1:$TEST_NGINX_ECHO_PORT;
    }
--- init
my $before = main::scrape();
my $port = $ENV{TEST_NGINX_SERVER_PORT};
my @st;

for my $i (1 .. 3) {
    my $body = qq({"type":"payment.confirmed","data":{"payment_ref":"cp_$i"}});
    push @st, (main::get($port, '/webhooks/v3xy', method => 'POST',
                         body => $body,
                         'X-V3XY-Signature' => main::sig($body)))[0];
}

my $body = '{"type":"payment.confirmed","data":{"payment_ref":"cp_9"}}';
my $sig = main::sig($body, time);
push @st, (main::get($port, '/webhooks/v3xy', method => 'POST', body => $body,
                     'X-V3XY-Signature' => $sig))[0];
push @st, (main::get($port, '/webhooks/v3xy', method => 'POST', body => $body,
                     'X-V3XY-Signature' => $sig))[0];
push @st, (main::get($port, '/webhooks/v3xy', method => 'POST',
                     body => "$body "))[0];
push @st, (main::get($port, '/webhooks/v3xy', method => 'POST', body => $body,
                     'X-V3XY-Signature' => 'v1=nothex'))[0];
push @st, (main::get($port, '/webhooks/v3xy', method => 'POST',
                     body => "$body  ",
                     'X-V3XY-Signature' => main::sig('another body')))[0];
push @st, (main::get($port, '/webhooks/v3xy', method => 'POST',
                     body => "$body   ",
                     'X-V3XY-Signature' => main::sig("$body   ",
                                                     time - 3600)))[0];
Test::More::is("@st", '200 200 200 200 409 400 400 401 401',
               'statuses of the deliveries');

main::changed($before,
    'v3xy_webhook_verdicts_total{code="ok"}' => 4,
    'v3xy_webhook_verdicts_total{code="webhook_replayed"}' => 1,
    'v3xy_webhook_verdicts_total{code="webhook_signature_missing"}' => 1,
    'v3xy_webhook_verdicts_total{code="webhook_signature_malformed"}' => 1,
    'v3xy_webhook_verdicts_total{code="webhook_signature_invalid"}' => 1,
    'v3xy_webhook_verdicts_total{code="webhook_timestamp_out_of_tolerance"}' => 1,
    'v3xy_requests_total{role="webhook",code="ok"}' => 4,
    'v3xy_requests_total{role="webhook",code="webhook_replayed"}' => 1);
--- no_error_log
[error]



=== TEST 7: the gateway's key store in Redis: hits, misses, cached refusals, a wrong reply
--- http_config
    v3xy_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT timeout=2s;
--- config
    location /v1/ {
        v3xy_key_store redis cache=60s;
        proxy_pass http://127.0.0.1:$TEST_NGINX_ECHO_PORT;
        add_header X-Key-Cache $v3xy_key_cache always;
    }
--- init
my $key = 'v3xy_dev_Metrics_Valid_0123456789abcdef';
my $unknown = 'v3xy_dev_Metrics_Unknown_0123456789abcd';
my $wrong = 'v3xy_dev_Metrics_Wrong_0123456789abcdef';
V3xy::redis('DEL', 'v3xy:key:' . Digest::SHA::sha256_hex($_)) for $key, $unknown, $wrong;
V3xy::redis('HSET', 'v3xy:key:' . Digest::SHA::sha256_hex($key), 'account', 'acct_m',
            'scopes', 'payments:write', 'status', 'active');
V3xy::redis('SET', 'v3xy:key:' . Digest::SHA::sha256_hex($wrong), 'not a hash');

my $port = $ENV{TEST_NGINX_SERVER_PORT};

# the Redis connections of both workers are up
my $up;
for (1 .. 400) {
    my $m = main::scrape();
    $up = ($m->{'v3xy_redis_up{worker="0"}'} // 0)
          + ($m->{'v3xy_redis_up{worker="1"}'} // 0);
    last if $up == 2;
    select undef, undef, undef, 0.05;
}
Test::More::is($up, 2, 'v3xy_redis_up: both workers');

my $before = main::scrape();
my (@st, @kc);
for my $k (($key) x 3, ($unknown) x 2, $wrong, undef) {
    my ($st, undef, undef, $head) = main::get($port, '/v1/payments',
        defined $k ? ('X-V3XY-API-Key' => $k) : ());
    my ($kc) = $head =~ /^X-Key-Cache: (\S+)/mi;
    push @st, $st;
    push @kc, $kc // '-';
}
Test::More::is("@st", '200 200 200 403 403 503 401', 'statuses');
Test::More::is("@kc", 'miss hit hit miss negative failed -',
               '$v3xy_key_cache');

# a worker's first lookup of a key asks Redis; the cache is shared
my $after = main::changed($before,
    'v3xy_key_lookups_total{result="miss"}' => 3,
    'v3xy_key_lookups_total{result="hit"}' => 2,
    'v3xy_key_lookups_total{result="negative"}' => 1,
    'v3xy_key_lookups_total{result="failed"}' => 1,
    'v3xy_redis_errors_total' => 1,
    'v3xy_requests_total{role="gateway",code="ok"}' => 3,
    'v3xy_requests_total{role="gateway",code="api_key_invalid"}' => 2,
    'v3xy_requests_total{role="gateway",code="key_store_unavailable"}' => 1,
    'v3xy_requests_total{role="gateway",code="api_key_missing"}' => 1);

Test::More::cmp_ok($after->{'v3xy_redis_rtt_seconds_count'}
                   - $before->{'v3xy_redis_rtt_seconds_count'}, '==', 4,
                   'four round trips timed: three lookups, and the PTTL '
                   . 'of the valid key\'s hold (v3xy_upstream_429: once '
                   . 'per sync=1s)');
Test::More::cmp_ok($after->{'v3xy_redis_rtt_seconds_bucket{le="1"}'}, '==',
                   $after->{'v3xy_redis_rtt_seconds_count'},
                   'all within a second');
--- no_error_log
[error]



=== TEST 8: Redis down and back: up gauge, fallbacks by mode, reconnects, a timeout
--- http_config
    v3xy_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT timeout=300ms;
    v3xy_limit_zone create rate=100r/m key=$http_x_merchant;
--- config
    location /local/ {
        v3xy_limit create;
        proxy_pass http://127.0.0.1:$TEST_NGINX_ECHO_PORT;
    }

    location /open/ {
        v3xy_limit create;
        v3xy_limit_fail open;
        proxy_pass http://127.0.0.1:$TEST_NGINX_ECHO_PORT;
    }

    location /closed/ {
        v3xy_limit create;
        v3xy_limit_fail closed;
        proxy_pass http://127.0.0.1:$TEST_NGINX_ECHO_PORT;
    }
--- init
my $port = $ENV{TEST_NGINX_SERVER_PORT};

my $up = sub {
    my ($want) = @_;
    my $got;
    for (1 .. 400) {
        my $m = main::scrape();
        $got = ($m->{'v3xy_redis_up{worker="0"}'} // 0)
               + ($m->{'v3xy_redis_up{worker="1"}'} // 0);
        return $got if $got == $want;
        select undef, undef, undef, 0.05;
    }
    return $got;
};

Test::More::is($up->(2), 2, 'both workers connected');

my $before = main::scrape();

# one reply that does not come within the timeout: Redis asleep (a PING
# unanswered for 100 ms) before the request, however slow redis-cli starts
my $pid = fork // die;
if ($pid == 0) { exec $V3xy::REDIS_CLI, '-p', $ENV{TEST_NGINX_REDIS_PORT},
                      'DEBUG', 'SLEEP', '2'; }
my $asleep = 0;
for (1 .. 100) {
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                  PeerPort => $ENV{TEST_NGINX_REDIS_PORT})
        or next;
    print $s "PING\r\n";
    my $rin = '';
    vec($rin, fileno $s, 1) = 1;
    $asleep = !select(my $rout = $rin, undef, undef, 0.1);
    close $s;
    last if $asleep;
    select undef, undef, undef, 0.02;
}
Test::More::ok($asleep, 'Redis asleep');
my ($slow) = main::get($port, '/closed/a', 'X-Merchant' => 'slow');
waitpid $pid, 0;
Test::More::is($slow, 503, 'a slow Redis: closed');

V3xy::stop_redis();
Test::More::is($up->(0), 0, 'both workers see Redis gone');

my @st;
push @st, (main::get($port, '/local/a', 'X-Merchant' => 'x'))[0] for 1 .. 3;
push @st, (main::get($port, '/open/a', 'X-Merchant' => 'x'))[0] for 1 .. 2;
push @st, (main::get($port, '/closed/a', 'X-Merchant' => 'x'))[0];
Test::More::is("@st", '200 200 200 200 200 503', 'statuses while down');

V3xy::start_redis();
Test::More::is($up->(2), 2, 'both workers reconnected');

main::changed($before,
    'v3xy_limit_fallbacks_total{mode="local"}' => 3,
    'v3xy_limit_fallbacks_total{mode="open"}' => 2,
    'v3xy_limit_fallbacks_total{mode="closed"}' => 2,
    'v3xy_redis_timeouts_total' => 1,
    'v3xy_redis_reconnects_total' => 2,
    'v3xy_requests_total{role="gateway",code="rate_limit_unavailable"}' => 2,
    'v3xy_limit_decisions_total{zone="create",tier="default",decision="admitted"}' => 3);
--- no_error_log
[error]



=== TEST 9: failover: reasons, the breaker's state and openings, the backup's times
--- config
    location /v1/ {
        v3xy_api_key_file $TEST_NGINX_KEY_FILE;
        proxy_pass http://127.0.0.1:$TEST_NGINX_DEAD_PORT;
        v3xy_backup http://127.0.0.1:$TEST_NGINX_ECHO_PORT fails=2 cooldown=60s breaker=api;
        add_header X-Failover $v3xy_failover always;
    }
--- init
my $port = $ENV{TEST_NGINX_SERVER_PORT};
my $before = main::scrape();
Test::More::is($before->{'v3xy_breaker_state{breaker="api"}'}, 0, 'closed');

my @st = map { (main::get($port, '/v1/payments'))[0] } 1 .. 4;
Test::More::is("@st", '200 200 200 200', 'the backup answered');

my $after = main::changed($before,
    'v3xy_failover_total{reason="connect"}' => 2,
    'v3xy_failover_total{reason="breaker_open"}' => 2,
    'v3xy_breaker_openings_total{breaker="api"}' => 1,
    'v3xy_upstream_response_seconds_count{upstream="backup"}' => 4,
    'v3xy_requests_total{role="sidecar",code="ok"}' => 4);
Test::More::is($after->{'v3xy_breaker_state{breaker="api"}'}, 1, 'open');
--- no_error_log
[alert]
[crit]



=== TEST 10: a reload keeps the counts
--- config
    location /v1/ {
        v3xy_api_key_file $TEST_NGINX_KEY_FILE;
        proxy_pass http://127.0.0.1:$TEST_NGINX_ECHO_PORT;
    }
--- init
my $port = $ENV{TEST_NGINX_SERVER_PORT};
main::get($port, '/v1/a') for 1 .. 5;
my $ok = 'v3xy_requests_total{role="sidecar",code="ok"}';
Test::More::is(main::settled($ok, 5), 5, 'five before the reload');

my $pidfile = "$ENV{TEST_NGINX_SERVER_ROOT}/logs/nginx.pid";
open my $fh, '<', $pidfile or die "$pidfile: $!";
chomp(my $master = <$fh>);
close $fh;

my $old = join ',', sort `pgrep -P $master` =~ /(\d+)/g;
kill 'HUP', $master;

# the new workers (the old ones may linger while they finish)
my $new;
for (1 .. 400) {
    select undef, undef, undef, 0.05;
    my %old = map { $_ => 1 } split /,/, $old;
    $new = grep { !$old{$_} } `pgrep -P $master` =~ /(\d+)/g;
    last if $new >= 2;
}
Test::More::is($new, 2, 'two new workers');

main::get($port, '/v1/a');
Test::More::is(main::settled($ok, 6), 6, 'six after it');
--- no_error_log
[error]



=== TEST 11: a real Prometheus scrapes the endpoint
--- config
    location /v1/ {
        v3xy_api_key_file $TEST_NGINX_KEY_FILE;
        proxy_pass http://127.0.0.1:$TEST_NGINX_ECHO_PORT;
    }
--- init
my $port = $ENV{TEST_NGINX_SERVER_PORT};
main::get($port, '/v1/a') for 1 .. 7;
main::get($port, '/v1/a', Origin => 'https://shop.example') for 1 .. 2;

my $dir = File::Temp::tempdir('v3xy-prometheus-XXXXXX', TMPDIR => 1,
                              CLEANUP => 1);
my $prom = V3xy::free_port();
open my $fh, '>', "$dir/prometheus.yml" or die $!;
print $fh <<"_YML_";
global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: v3xy
    metrics_path: /metrics
    static_configs:
      - targets: ['127.0.0.1:$port']
_YML_
close $fh;

my $pid = fork // die "fork: $!";
if ($pid == 0) {
    open STDOUT, '>', "$dir/prometheus.log";
    open STDERR, '>&', \*STDOUT;
    exec 'prometheus', "--config.file=$dir/prometheus.yml",
         "--storage.tsdb.path=$dir/data",
         "--web.listen-address=127.0.0.1:$prom" or POSIX::_exit(127);
}

my %got;
for (1 .. 600) {
    select undef, undef, undef, 0.1;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $prom)
        or next;
    print $s "GET /api/v1/query?query=v3xy_requests_total"
             . "%7Brole%3D%22sidecar%22%7D HTTP/1.0\r\n"
             . "Host: 127.0.0.1\r\n\r\n";
    local $/;
    my $r = <$s> // '';
    close $s;
    while ($r =~ /"code":"(\w+)".*?"value":\[[\d.]+,"(\d+)"\]/g) {
        $got{$1} = $2;
    }
    last if ($got{ok} // 0) == 7 && ($got{api_key_origin} // 0) == 2;
}
kill 'TERM', $pid;
waitpid $pid, 0;

Test::More::is($got{ok}, 7, 'Prometheus: v3xy_requests_total{code="ok"}');
Test::More::is($got{api_key_origin}, 2,
               'Prometheus: v3xy_requests_total{code="api_key_origin"}');
--- no_error_log
[error]
