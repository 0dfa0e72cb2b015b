# v3xy_limit_dry_run: the limits decide, count, log and report
# ($v3xy_limit_status, metrics, RateLimit fields) but refuse nothing; a
# zone in dry run beside enforced ones never blocks them, nor the webhook
# replay guard; in shared memory and in Redis.

use lib 't/lib';
use Digest::SHA qw(hmac_sha256_hex);
use Test::Nginx::Socket 'no_plan';
use V3xy qw(start_echo start_redis key_file);

start_echo();
start_redis();

our $Secret = 'whsec_dry_run_3c9a71e0b5';
$ENV{TEST_NGINX_WHSEC} = key_file('whsec', "$Secret\n");

our $Now = time;

# a sidecar's key, of the tier "scale"
$ENV{TEST_NGINX_SIDECAR_KEY} = key_file('sidecar',
                                        "v3xy_dev_Dry_Run_Tier_0123456789abcdef\n");

# a delivery of its own for each name: the replay guard remembers them
sub body {
    my $n = shift;
    return '{"type":"payment.confirmed","created_at":"2026-05-22T18:12:00.000Z",'
           . '"data":{"payment_ref":"cp_dry_' . $n . '","external_id":"order-'
           . $n . '"}}';
}

sub sig {
    my $body = shift;
    return "t=$::Now,v1=" . hmac_sha256_hex("$::Now.$body", $::Secret);
}

our $Body = qr/^(GET|POST)/;

add_block_preprocessor(sub {
    my $block = shift;
    my $redis = $block->name =~ /in Redis/
                ? "    v3xy_redis 127.0.0.1:\$TEST_NGINX_REDIS_PORT timeout=2s;\n"
                : '';

    $block->set_value('http_config', $redis . <<'_EOC_')
    log_format dry '$request_uri $status $v3xy_limit_status zone=$v3xy_limit_zone rem=$v3xy_limit_remaining';
    v3xy_limit_zone quota rate=3r/m key=$http_x_merchant;
    v3xy_limit_zone create rate=5r/m key=$http_x_merchant;
    v3xy_limit_zone hooks rate=1r/m key=$http_x_merchant;
_EOC_
        unless defined $block->http_config;

    $block->set_value('config', $block->config . <<'_EOC_');
    location = /metrics {
        v3xy_metrics;
    }
_EOC_

    V3xy::redis_ready_block($block, wait => 1);
});

our $DryConfig = <<'_EOC_';
    access_log logs/access.log dry;

    location /v1/ {
        v3xy_limit quota;
        v3xy_limit_dry_run on;
        v3xy_limit_fail closed;
        proxy_pass http://127.0.0.1:$TEST_NGINX_ECHO_PORT;
    }
_EOC_

our $BesideConfig = <<'_EOC_';
    access_log logs/access.log dry;

    location /v1/ {
        v3xy_limit create quota;
        v3xy_limit_dry_run quota;
        v3xy_limit_fail closed;
        proxy_pass http://127.0.0.1:$TEST_NGINX_ECHO_PORT;
    }
_EOC_

our $HookConfig = <<'_EOC_';
    access_log logs/access.log dry;

    location = /webhooks/v3xy {
        v3xy_webhook_secret_file $TEST_NGINX_WHSEC;
        v3xy_webhook_tolerance 30m;
        v3xy_limit hooks;
        v3xy_limit_dry_run on;
        v3xy_limit_fail closed;
        add_header X-Limit-Status $v3xy_limit_status always;
        proxy_pass http://127.0.0.1:$TEST_NGINX_ECHO_PORT;
    }
_EOC_

# metrics of a zone: admitted, refused, refused_dry_run
sub decisions {
    my ($zone, @n) = @_;
    my @d = qw(admitted refused refused_dry_run);
    my $re = join '', map {
        "v3xy_limit_decisions_total\\{zone=\"$zone\",tier=\"default\","
        . "decision=\"$d[$_]\"\\} $n[$_]\\n"
    } 0 .. 2;
    return qr/$re/;
}

log_level('info');
no_shuffle();
no_long_string();
run_tests();

__DATA__

=== TEST 1: a 3r/m zone in dry run: five requests pass, PASSED three times then REJECTED_DRY_RUN, RateLimit r=0, counted in the metrics
--- config eval: $::DryConfig
--- pipelined_requests eval
["GET /v1/a", "GET /v1/b", "GET /v1/c", "GET /v1/d", "GET /v1/e", "GET /metrics"]
--- more_headers
X-Merchant: d1
--- error_code eval
[200, 200, 200, 200, 200, 200]
--- response_headers_like eval
["RateLimit-Policy: \"quota\";q=3;w=60\nRateLimit: \"quota\";r=2;t=60",
 "RateLimit: \"quota\";r=1;t=(59|60)", "RateLimit: \"quota\";r=0;t=(59|60)",
 "RateLimit: \"quota\";r=0;t=(59|60)", "RateLimit: \"quota\";r=0;t=(59|60)",
 ""]
--- response_body_like eval
[$::Body, $::Body, $::Body, $::Body, $::Body, main::decisions('quota', 3, 0, 2)]
--- access_log
/v1/a 200 PASSED zone=quota rem=2
/v1/b 200 PASSED zone=quota rem=1
/v1/c 200 PASSED zone=quota rem=0
/v1/d 200 REJECTED_DRY_RUN zone=quota rem=0
/v1/e 200 REJECTED_DRY_RUN zone=quota rem=0
--- no_error_log
[error]



=== TEST 2: a zone in dry run beside an enforced one: the dry one never blocks, the enforced one counts every request it admits and refuses at its limit
--- config eval: $::BesideConfig
--- pipelined_requests eval
["GET /v1/a", "GET /v1/b", "GET /v1/c", "GET /v1/d", "GET /v1/e", "GET /v1/f",
 "GET /v1/g", "GET /metrics"]
--- more_headers
X-Merchant: d2
--- error_code eval
[200, 200, 200, 200, 200, 429, 429, 200]
--- response_headers_like eval
["RateLimit: \"quota\";r=2;t=60", "RateLimit: \"quota\";r=1;t=\\d+",
 "RateLimit: \"quota\";r=0;t=\\d+", "RateLimit: \"quota\";r=0;t=\\d+",
 "RateLimit: \"create\";r=0;t=\\d+",
 "Retry-After: (59|60)\nRateLimit-Policy: \"create\";q=5;w=60\nRateLimit: \"create\";r=0;t=(59|60)",
 "Retry-After: (59|60)\nRateLimit: \"create\";r=0;t=(59|60)", ""]
--- response_body_like eval
[$::Body, $::Body, $::Body, $::Body, $::Body, qr/"code":"rate_limited"/,
 qr/"code":"rate_limited"/,
 qr/${\ main::decisions('quota', 3, 0, 4)}${\ main::decisions('create', 5, 2, 0)}/]
--- access_log
/v1/c 200 PASSED zone=quota rem=0
/v1/d 200 REJECTED_DRY_RUN zone=quota rem=0
/v1/e 200 REJECTED_DRY_RUN zone=create rem=0
/v1/f 429 REJECTED zone=create rem=0
/v1/g 429 REJECTED zone=create rem=0



=== TEST 3: the webhook replay guard still refuses a replay where the limits are in dry run, also of a delivery that a dry zone would have refused
--- config eval: $::HookConfig
--- request eval
["POST /webhooks/v3xy\n" . main::body(31), "POST /webhooks/v3xy\n" . main::body(32),
 "POST /webhooks/v3xy\n" . main::body(32), "POST /webhooks/v3xy\n" . main::body(31)]
--- more_headers eval
["X-Merchant: d3\nX-V3XY-Signature: " . main::sig(main::body(31)),
 "X-Merchant: d3\nX-V3XY-Signature: " . main::sig(main::body(32)),
 "X-Merchant: d3\nX-V3XY-Signature: " . main::sig(main::body(32)),
 "X-Merchant: d3\nX-V3XY-Signature: " . main::sig(main::body(31))]
--- error_code eval
[200, 200, 409, 409]
--- response_body_like eval
[$::Body, $::Body, qr/"code":"webhook_replayed"/, qr/"code":"webhook_replayed"/]
--- response_headers eval
["X-Limit-Status: PASSED", "X-Limit-Status: REJECTED_DRY_RUN", "!X-Limit-Status",
 "!X-Limit-Status"]



=== TEST 4: "v3xy_limit_dry_run off" where the server has it on: refused as before
--- config
    access_log logs/access.log dry;
    v3xy_limit_dry_run on;

    location /v1/ {
        v3xy_limit quota;
        v3xy_limit_dry_run off;
        proxy_pass http://127.0.0.1:$TEST_NGINX_ECHO_PORT;
    }

    location /dry/ {
        v3xy_limit quota;
        proxy_pass http://127.0.0.1:$TEST_NGINX_ECHO_PORT;
    }
--- pipelined_requests eval
["GET /v1/a", "GET /v1/b", "GET /v1/c", "GET /v1/d", "GET /dry/e"]
--- more_headers
X-Merchant: d4
--- error_code eval
[200, 200, 200, 429, 200]
--- response_headers_like eval
["", "", "", "Retry-After: (59|60)\nRateLimit-Policy: \"quota\";q=3;w=60\nRateLimit: \"quota\";r=0;t=(59|60)",
 "RateLimit: \"quota\";r=0;t=(59|60)"]
--- access_log
/v1/c 200 PASSED zone=quota rem=0
/v1/d 429 REJECTED zone=quota rem=0
/dry/e 200 REJECTED_DRY_RUN zone=quota rem=0



=== TEST 5: a refusal in dry run is logged at info, as a refusal is, with the zone, never the key
--- config eval: $::DryConfig
--- init
V3xy::http_get('/v1/a', 'X-Merchant' => 'secret-merchant-d5') for 1 .. 3;
--- request
GET /v1/a
--- more_headers
X-Merchant: secret-merchant-d5
--- error_code: 200
--- error_log eval
qr/\[info\] .*v3xy: rate_limited, dry run: zone "quota" \(3 per 60 s\) would refuse the request, retry after (59|60) s/
--- no_error_log
secret-merchant-d5



=== TEST 6: no limit decided: $v3xy_limit_status is empty
--- config
    access_log logs/access.log dry;

    location /v1/ {
        v3xy_limit quota;
        v3xy_limit_dry_run on;
        proxy_pass http://127.0.0.1:$TEST_NGINX_ECHO_PORT;
    }
--- request
GET /v1/nokey
--- error_code: 200
--- access_log
/v1/nokey 200 - zone=- rem=-



=== TEST 7: a tier's rate in dry run: its refusal logged with the tier, counted under its tier label
--- http_config
    v3xy_limit_zone side key=$v3xy_key_id rate=1r/m tier=scale:2r/m;
--- config
    location /side/ {
        v3xy_api_key_file $TEST_NGINX_SIDECAR_KEY tier=scale;
        v3xy_limit side;
        v3xy_limit_dry_run on;
        add_header X-Limit-Status $v3xy_limit_status always;
        proxy_pass http://127.0.0.1:$TEST_NGINX_ECHO_PORT;
    }
--- init
my @st = map { V3xy::http_get('/side/a') } 1 .. 3;
Test::More::is("@st", '200 200 200', 'TEST 7: three pass the 2r/m of tier scale');
my (undef, undef, $body) = V3xy::http_req('GET', '/metrics');
Test::More::like($body, qr/^v3xy_limit_decisions_total\{zone="side",tier="scale",decision="admitted"\} 2\nv3xy_limit_decisions_total\{zone="side",tier="scale",decision="refused"\} 0\nv3xy_limit_decisions_total\{zone="side",tier="scale",decision="refused_dry_run"\} 1$/m,
                 'TEST 7: the tier\'s counters');
--- request
GET /side/a
--- error_code: 200
--- response_headers
X-Limit-Status: REJECTED_DRY_RUN
RateLimit-Policy: "side";q=2;w=60
--- error_log eval
qr/\[info\] .*v3xy: rate_limited, dry run: zone "side" \(tier "scale": 2 per 60 s\) would refuse the request, retry after (59|60) s/



=== TEST 8: an unknown zone is a configuration error
--- config
    location /v1/ {
        v3xy_limit quota;
        v3xy_limit_dry_run nosuch;
    }
--- must_die
--- error_log eval
qr/\[emerg\] .*v3xy_limit_dry_run: unknown v3xy_limit_zone "nosuch"/



=== TEST 9: "on" with zone names is a configuration error
--- config
    location /v1/ {
        v3xy_limit quota;
        v3xy_limit_dry_run on quota;
    }
--- must_die
--- error_log eval
qr/\[emerg\] .*v3xy_limit_dry_run: "on" stands alone/



=== TEST 10: a 3r/m zone in dry run in Redis: five requests pass, PASSED three times then REJECTED_DRY_RUN, RateLimit r=0, counted in the metrics
--- config eval: $::DryConfig
--- pipelined_requests eval
["GET /v1/a", "GET /v1/b", "GET /v1/c", "GET /v1/d", "GET /v1/e", "GET /metrics"]
--- more_headers
X-Merchant: r1
--- error_code eval
[200, 200, 200, 200, 200, 200]
--- response_headers_like eval
["RateLimit-Policy: \"quota\";q=3;w=60\nRateLimit: \"quota\";r=2;t=60",
 "RateLimit: \"quota\";r=1;t=(59|60)", "RateLimit: \"quota\";r=0;t=(59|60)",
 "RateLimit: \"quota\";r=0;t=(59|60)", "RateLimit: \"quota\";r=0;t=(59|60)",
 ""]
--- response_body_like eval
[$::Body, $::Body, $::Body, $::Body, $::Body, main::decisions('quota', 3, 0, 2)]
--- access_log
/v1/a 200 PASSED zone=quota rem=2
/v1/b 200 PASSED zone=quota rem=1
/v1/c 200 PASSED zone=quota rem=0
/v1/d 200 REJECTED_DRY_RUN zone=quota rem=0
/v1/e 200 REJECTED_DRY_RUN zone=quota rem=0
--- no_error_log
[error]



=== TEST 11: a zone in dry run beside an enforced one in Redis: the dry one never blocks, the enforced one refuses at its limit
--- config eval: $::BesideConfig
--- pipelined_requests eval
["GET /v1/a", "GET /v1/b", "GET /v1/c", "GET /v1/d", "GET /v1/e", "GET /v1/f",
 "GET /v1/g", "GET /metrics"]
--- more_headers
X-Merchant: r2
--- error_code eval
[200, 200, 200, 200, 200, 429, 429, 200]
--- response_body_like eval
[$::Body, $::Body, $::Body, $::Body, $::Body, qr/"code":"rate_limited"/,
 qr/"code":"rate_limited"/,
 qr/${\ main::decisions('quota', 3, 0, 4)}${\ main::decisions('create', 5, 2, 0)}/]
--- access_log
/v1/c 200 PASSED zone=quota rem=0
/v1/d 200 REJECTED_DRY_RUN zone=quota rem=0
/v1/e 200 REJECTED_DRY_RUN zone=create rem=0
/v1/f 429 REJECTED zone=create rem=0



=== TEST 12: the webhook replay guard in Redis still refuses a replay where the limits are in dry run
--- config eval: $::HookConfig
--- request eval
["POST /webhooks/v3xy\n" . main::body(101), "POST /webhooks/v3xy\n" . main::body(102),
 "POST /webhooks/v3xy\n" . main::body(102), "POST /webhooks/v3xy\n" . main::body(101)]
--- more_headers eval
["X-Merchant: r3\nX-V3XY-Signature: " . main::sig(main::body(101)),
 "X-Merchant: r3\nX-V3XY-Signature: " . main::sig(main::body(102)),
 "X-Merchant: r3\nX-V3XY-Signature: " . main::sig(main::body(102)),
 "X-Merchant: r3\nX-V3XY-Signature: " . main::sig(main::body(101))]
--- error_code eval
[200, 200, 409, 409]
--- response_body_like eval
[$::Body, $::Body, qr/"code":"webhook_replayed"/, qr/"code":"webhook_replayed"/]
--- response_headers eval
["X-Limit-Status: PASSED", "X-Limit-Status: REJECTED_DRY_RUN", "!X-Limit-Status",
 "!X-Limit-Status"]
