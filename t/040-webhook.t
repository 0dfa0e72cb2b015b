# Inbound webhook signatures: X-V3XY-Signature: t=<unix>,v1=<hex>, with
# expected = HMAC-SHA256(secret, "<t>.<raw_body>"), checked at the edge
# before the backend sees the delivery; several secrets (rotation), the
# timestamp tolerance, the replay guard in shared memory and in Redis.

use lib 't/lib';
use Digest::SHA qw(hmac_sha256_hex);
use Test::Nginx::Socket 'no_plan';
use V3xy qw(key_file start_echo start_redis);

start_echo();
start_redis();

our $Secret = 'whsec_current_5f2b8c1d9e';
our $Old = 'whsec_previous_0a7e3d44f1';
$ENV{TEST_NGINX_WHSEC} = key_file('whsec', "$Secret\n");
$ENV{TEST_NGINX_WHSEC_OLD} = key_file('whsec_old', "$Old\n");
$ENV{TEST_NGINX_DEAD_PORT} = V3xy::free_port();

our $Now = time;
our $Body = '{"type":"payment.confirmed","created_at":"2026-05-22T18:12:00.000Z",'
          . '"data":{"payment_ref":"cp_8f3a","external_id":"order-1001"}}';

# the header V3XY would send for this body, time and secret
sub sig {
    my ($body, %o) = @_;
    my $t = $o{t} // $::Now;
    return "t=$t,v1=" . hmac_sha256_hex("$t.$body", $o{secret} // $::Secret);
}

# a body of its own for each test: the replay guard remembers signatures
sub body { my $n = shift; (my $b = $::Body) =~ s/cp_8f3a/cp_$n/; $b }

# 5 MB: the same delivery with a large "metadata" member
sub big {
    my ($n, $c) = @_;
    my $b = body($n);
    $b =~ s/\}\}\z/},"metadata":{"pad":"${\ (($c \/\/ 'a') x (5 * 1024 * 1024))}"}}/;
    return $b;
}

add_block_preprocessor(sub {
    my $block = shift;

    $block->set_value('http_config', <<'_EOC_') unless defined $block->http_config;
    log_format v3xy '$request_uri $status webhook=$v3xy_webhook_status';
_EOC_

    if (!defined $block->config) {
        $block->set_value('config', <<'_EOC_');
    access_log logs/access.log v3xy;

    location = /webhooks/v3xy {
        v3xy_webhook_secret_file $TEST_NGINX_WHSEC $TEST_NGINX_WHSEC_OLD;
        v3xy_webhook_tolerance 30m;
        proxy_pass http://127.0.0.1:$TEST_NGINX_ECHO_PORT;
    }
_EOC_
    }

    V3xy::redis_ready_block($block, wait => 1);
});

log_level('info');
no_shuffle();
no_long_string();
run_tests();

__DATA__

=== TEST 1: a valid delivery reaches the backend byte for byte, signature included
--- request eval
"POST /webhooks/v3xy\n" . main::body(1)
--- more_headers eval
"Content-Type: application/json\nX-V3XY-Signature: " . main::sig(main::body(1))
--- error_code: 200
--- response_body_like eval
my $sig = main::sig(main::body(1));
qr/\r\nX-V3XY-Signature: \Q$sig\E\r\n(?:.*\r\n)?\r\n\Q${\ main::body(1)}\E\z/s
--- access_log
/webhooks/v3xy 200 webhook=ok
--- no_error_log eval
[$::Secret, $::Old, '[warn]', '[error]']



=== TEST 2: a tampered body: 401 webhook_signature_invalid, the backend never sees it
--- request eval
"POST /webhooks/v3xy\n" . main::body(2) =~ s/order-1001/order-9999/r
--- more_headers eval
"X-V3XY-Signature: " . main::sig(main::body(2))
--- error_code: 401
--- response_headers
Content-Type: application/json
--- response_body: {"success":false,"error":"No signature matches the body under any secret.","code":"webhook_signature_invalid"}
--- access_log
/webhooks/v3xy 401 webhook=webhook_signature_invalid
--- error_log
v3xy: webhook_signature_invalid: no v1 matches under any secret
--- no_error_log eval
# neither the secrets nor the signature the tampered body would need
my $t = $::Now;
[$::Secret, $::Old,
 Digest::SHA::hmac_sha256_hex("$t." . (main::body(2) =~ s/order-1001/order-9999/r), $::Secret)]



=== TEST 3: a signature under a secret we do not hold: 401
--- request eval
"POST /webhooks/v3xy\n" . main::body(3)
--- more_headers eval
"X-V3XY-Signature: " . main::sig(main::body(3), secret => 'whsec_someone_else')
--- error_code: 401
--- response_body_like: "code":"webhook_signature_invalid"



=== TEST 4: rotation: the previous secret, still listed, passes
--- request eval
"POST /webhooks/v3xy\n" . main::body(4)
--- more_headers eval
"X-V3XY-Signature: " . main::sig(main::body(4), secret => $::Old)
--- error_code: 200



=== TEST 5: several v1 (a wrong one first) and an unknown scheme: any valid v1 passes
--- request eval
"POST /webhooks/v3xy\n" . main::body(5)
--- more_headers eval
my $good = main::sig(main::body(5));
$good =~ s/^t=\d+,//;
"X-V3XY-Signature: t=$::Now,v1=" . ('ab' x 32) . ",v0=legacy,$good"
--- error_code: 200



=== TEST 6: a timestamp 2 h old: 401 webhook_timestamp_out_of_tolerance (tolerance 30 minutes)
--- request eval
"POST /webhooks/v3xy\n" . main::body(6)
--- more_headers eval
"X-V3XY-Signature: " . main::sig(main::body(6), t => time - 7200)
--- error_code: 401
--- response_body: {"success":false,"error":"The signature's timestamp is too far from now.","code":"webhook_timestamp_out_of_tolerance"}



=== TEST 7: a timestamp 2 h in the future: 401
--- request eval
"POST /webhooks/v3xy\n" . main::body(7)
--- more_headers eval
"X-V3XY-Signature: " . main::sig(main::body(7), t => time + 7200)
--- error_code: 401
--- response_body_like: "code":"webhook_timestamp_out_of_tolerance"



=== TEST 8: a timestamp 25 minutes old is within the tolerance (30 minutes)
--- request eval
"POST /webhooks/v3xy\n" . main::body(8)
--- more_headers eval
"X-V3XY-Signature: " . main::sig(main::body(8), t => time - 1500)
--- error_code: 200



=== TEST 9: replayed: the same delivery twice, the second 409 webhook_replayed
--- request eval
["POST /webhooks/v3xy\n" . main::body(9), "POST /webhooks/v3xy\n" . main::body(9)]
--- more_headers eval
["X-V3XY-Signature: " . main::sig(main::body(9)),
 "X-V3XY-Signature: " . main::sig(main::body(9))]
--- error_code eval
[200, 409]
--- response_body_like eval
[qr/^POST/, qr/\A\{"success":false,"error":"This signed delivery was accepted before\.","code":"webhook_replayed"\}\z/]



=== TEST 10: a refused delivery does not arm the replay guard: the genuine one passes
--- request eval
["POST /webhooks/v3xy\n" . main::body(10) =~ s/payment\.confirmed/payment.expired/r,
 "POST /webhooks/v3xy\n" . main::body(10)]
--- more_headers eval
["X-V3XY-Signature: " . main::sig(main::body(10)),
 "X-V3XY-Signature: " . main::sig(main::body(10))]
--- error_code eval
[401, 200]



=== TEST 11: "v3xy_webhook_replay off" lets the same delivery through twice
--- config
    location = /webhooks/v3xy {
        v3xy_webhook_secret_file $TEST_NGINX_WHSEC;
        v3xy_webhook_tolerance 30m;
        v3xy_webhook_replay off;
        proxy_pass http://127.0.0.1:$TEST_NGINX_ECHO_PORT;
    }
--- request eval
["POST /webhooks/v3xy\n" . main::body(11), "POST /webhooks/v3xy\n" . main::body(11)]
--- more_headers eval
["X-V3XY-Signature: " . main::sig(main::body(11)),
 "X-V3XY-Signature: " . main::sig(main::body(11))]
--- error_code eval
[200, 200]



=== TEST 12: the replay guard in Redis: accepted, and the delivery remembered there for twice the tolerance
--- http_config
    v3xy_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT timeout=2s;
--- config
    location = /webhooks/v3xy {
        v3xy_webhook_secret_file $TEST_NGINX_WHSEC;
        v3xy_webhook_tolerance 30m;
        v3xy_limit_fail closed;
        proxy_pass http://127.0.0.1:$TEST_NGINX_ECHO_PORT;
    }
--- request eval
"POST /webhooks/v3xy\n" . main::body(12)
--- more_headers eval
"X-V3XY-Signature: " . main::sig(main::body(12))
--- error_code: 200
--- response_body_filters eval
sub {
    # the delivery's mark: SHA-256 over "<t>.<body>", not the signature
    my $hex = Digest::SHA::sha256_hex("$::Now." . main::body(12));
    my $ttl = V3xy::redis('PTTL', "v3xy:{webhook.replay.1800:$hex}");
    return ($ttl > 3590000 && $ttl <= 3600000) ? "remembered\n" : "ttl $ttl\n";
}
--- response_body
remembered



=== TEST 13: another nginx (fresh shared memory) sharing that Redis refuses the replay
--- http_config
    v3xy_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT timeout=2s;
--- config
    location = /hooks/other-instance {
        v3xy_webhook_secret_file $TEST_NGINX_WHSEC;
        v3xy_webhook_tolerance 30m;
        v3xy_limit_fail closed;
        proxy_pass http://127.0.0.1:$TEST_NGINX_ECHO_PORT;
    }
--- request eval
"POST /hooks/other-instance\n" . main::body(12)
--- more_headers eval
"X-V3XY-Signature: " . main::sig(main::body(12))
--- error_code: 409
--- response_body_like: "code":"webhook_replayed"



=== TEST 14: no X-V3XY-Signature: 400 webhook_signature_missing
--- request eval
"POST /webhooks/v3xy\n" . main::body(15)
--- error_code: 400
--- response_body: {"success":false,"error":"The X-V3XY-Signature header is missing.","code":"webhook_signature_missing"}
--- access_log
/webhooks/v3xy 400 webhook=webhook_signature_missing



=== TEST 15: malformed headers: 400 webhook_signature_malformed, each with its reason
--- request eval
["POST /webhooks/v3xy\n{}", "POST /webhooks/v3xy\n{}", "POST /webhooks/v3xy\n{}",
 "POST /webhooks/v3xy\n{}", "POST /webhooks/v3xy\n{}", "POST /webhooks/v3xy\n{}"]
--- more_headers eval
["X-V3XY-Signature: garbage",
 "X-V3XY-Signature: v1=" . ('ab' x 32),
 "X-V3XY-Signature: t=$::Now",
 "X-V3XY-Signature: t=$::Now,v1=" . ('AB' x 32),
 "X-V3XY-Signature: t=$::Now,v1=" . ('a' x 63),
 "X-V3XY-Signature: t=$::Now,t=$::Now,v1=" . ('ab' x 32)]
--- error_code eval
[400, 400, 400, 400, 400, 400]
--- response_body_like eval
[qr/"error":"The X-V3XY-Signature header has an item that is not[^"]*","code":"webhook_signature_malformed"/,
 qr/has no t= timestamp/, qr/has no v1= signature/, qr/No v1= signature of the X-V3XY-Signature header is 64/,
 qr/No v1= signature of the X-V3XY-Signature header is 64/, qr/more than one t=/]



=== TEST 16: two X-V3XY-Signature headers: 400
--- request eval
"POST /webhooks/v3xy\n" . main::body(16)
--- more_headers eval
"X-V3XY-Signature: " . main::sig(main::body(16)) . "\nX-V3XY-Signature: " . main::sig(main::body(16))
--- error_code: 400
--- response_body_like: "There is more than one X-V3XY-Signature header\.","code":"webhook_signature_malformed"



=== TEST 17: a 10 KiB header: 400 malformed, never a 5xx
--- config
    large_client_header_buffers 4 16k;

    location = /webhooks/v3xy {
        v3xy_webhook_secret_file $TEST_NGINX_WHSEC;
        v3xy_webhook_tolerance 30m;
        proxy_pass http://127.0.0.1:$TEST_NGINX_ECHO_PORT;
    }
--- request eval
"POST /webhooks/v3xy\n" . main::body(17)
--- more_headers eval
"X-V3XY-Signature: " . main::sig(main::body(17)) . ",x=" . ('y' x 10240)
--- error_code: 400
--- response_body_like: longer than 8192 bytes



=== TEST 18: a 5 MB body through a temporary file: verified and passed on whole
--- config
    client_body_buffer_size 16k;
    client_body_in_file_only clean;

    location = /webhooks/v3xy {
        v3xy_webhook_secret_file $TEST_NGINX_WHSEC;
        v3xy_webhook_tolerance 30m;
        proxy_pass http://127.0.0.1:$TEST_NGINX_ECHO_PORT;
    }
--- request eval
"POST /webhooks/v3xy\n" . main::big(18)
--- more_headers eval
"X-V3XY-Signature: " . main::sig(main::big(18))
--- error_code: 200
--- response_body_filters eval
sub { my ($b) = @_; my ($body) = $b =~ /\r\n\r\n(.*)\z/s; length($body) . "\n" }
--- response_body eval
length(main::big(18)) . "\n"



=== TEST 19: the same 5 MB body with one byte changed at its end: 401, and nginx goes on
--- config
    client_body_buffer_size 16k;
    client_body_in_file_only clean;

    location = /webhooks/v3xy {
        v3xy_webhook_secret_file $TEST_NGINX_WHSEC;
        v3xy_webhook_tolerance 30m;
        proxy_pass http://127.0.0.1:$TEST_NGINX_ECHO_PORT;
    }
--- request eval
["POST /webhooks/v3xy\n" . (main::big(19) =~ s/a"\}\}\z/b"}}/r),
 "POST /webhooks/v3xy\n" . main::body(190)]
--- more_headers eval
["X-V3XY-Signature: " . main::sig(main::big(19)),
 "X-V3XY-Signature: " . main::sig(main::body(190))]
--- error_code eval
[401, 200]
--- no_error_log
[alert]
[crit]



=== TEST 20: a chunked body
--- raw_request eval
my $b = main::body(20);
my @chunks = (substr($b, 0, 17), substr($b, 17, 30), substr($b, 47));
"POST /webhooks/v3xy HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n"
. "X-V3XY-Signature: " . main::sig($b) . "\r\n"
. "Transfer-Encoding: chunked\r\n\r\n"
. CORE::join('', map { sprintf("%x\r\n%s\r\n", length $_, $_) } @chunks)
. "0\r\n\r\n"
--- error_code: 200
--- response_body_like eval
my $b = main::body(20);
qr/\r\n\r\n\Q$b\E\z/



=== TEST 21: a body that arrives slowly
--- raw_request eval
my $b = main::body(21);
["POST /webhooks/v3xy HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n"
 . "X-V3XY-Signature: " . main::sig($b) . "\r\n"
 . "Content-Length: " . length($b) . "\r\n\r\n" . substr($b, 0, 10),
 substr($b, 10)]
--- raw_request_middle_delay: 0.3
--- error_code: 200



=== TEST 22: a missing secret file stops nginx
--- config
    location = /webhooks/v3xy {
        v3xy_webhook_secret_file /nonexistent/whsec;
    }
--- must_die
--- error_log eval
qr/\[emerg\] .*v3xy_webhook_secret_file: cannot open "\/nonexistent\/whsec"/



=== TEST 23: a delivery the backend did not take (502) is forgotten by the replay guard: V3XY's retry passes
--- config
    location = /webhooks/v3xy {
        v3xy_webhook_secret_file $TEST_NGINX_WHSEC;
        v3xy_webhook_tolerance 30m;
        proxy_pass http://127.0.0.1:$TEST_NGINX_ECHO_PORT;
    }

    location = /webhooks/down {
        v3xy_webhook_secret_file $TEST_NGINX_WHSEC;
        v3xy_webhook_tolerance 30m;
        proxy_pass http://127.0.0.1:$TEST_NGINX_DEAD_PORT;
    }
--- request eval
["POST /webhooks/down\n" . main::body(23), "POST /webhooks/down\n" . main::body(23),
 "POST /webhooks/v3xy\n" . main::body(23), "POST /webhooks/v3xy\n" . main::body(23)]
--- more_headers eval
[("X-V3XY-Signature: " . main::sig(main::body(23))) x 4]
--- error_code eval
[502, 502, 200, 409]



=== TEST 24: the same through Redis
--- http_config
    v3xy_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT timeout=2s;
--- config
    location = /webhooks/v3xy {
        v3xy_webhook_secret_file $TEST_NGINX_WHSEC;
        v3xy_webhook_tolerance 30m;
        v3xy_limit_fail closed;
        proxy_pass http://127.0.0.1:$TEST_NGINX_ECHO_PORT;
    }

    location = /webhooks/down {
        v3xy_webhook_secret_file $TEST_NGINX_WHSEC;
        v3xy_webhook_tolerance 30m;
        v3xy_limit_fail closed;
        proxy_pass http://127.0.0.1:$TEST_NGINX_DEAD_PORT;
    }
--- request eval
["POST /webhooks/down\n" . main::body(24), "POST /webhooks/v3xy\n" . main::body(24),
 "POST /webhooks/v3xy\n" . main::body(24)]
--- more_headers eval
[("X-V3XY-Signature: " . main::sig(main::body(24))) x 3]
--- error_code eval
[502, 200, 409]



=== TEST 25: after an internal redirect the delivery stays verified and is not taken for its own replay
--- config
    location = /webhooks/v3xy {
        v3xy_webhook_secret_file $TEST_NGINX_WHSEC;
        v3xy_webhook_tolerance 30m;
        try_files /nonexistent @deliver;
    }

    location @deliver {
        v3xy_webhook_secret_file $TEST_NGINX_WHSEC;
        v3xy_webhook_tolerance 30m;
        proxy_pass http://127.0.0.1:$TEST_NGINX_ECHO_PORT;
    }
--- request eval
["POST /webhooks/v3xy\n" . main::body(25), "POST /webhooks/v3xy\n" . main::body(25)]
--- more_headers eval
[("X-V3XY-Signature: " . main::sig(main::body(25))) x 2]
--- error_code eval
[200, 409]
