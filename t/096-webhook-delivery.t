# Webhook deliveries until acknowledged: the replay guard marks a delivery
# (SHA-256 over "<t>.<raw body>"), not a signature, and keeps the mark only
# when the sender got a 2xx.  A delivery V3XY gave up on (the client aborts:
# 499), that the backend failed (500) or did not answer in time (504) can
# be delivered again with the same signature; one acknowledged cannot, with
# any subset of its v1 values.  In shared memory and in Redis.

use lib 't/lib';
use Digest::SHA qw(hmac_sha256_hex sha256_hex);
use Test::Nginx::Socket 'no_plan';
use V3xy qw(key_file start_echo start_mute start_redis);

start_echo();
start_redis();

our $New = 'whsec_new_7c41d09be2a5';
our $Old = 'whsec_old_3f88a1c06d19';
$ENV{TEST_NGINX_WHSEC} = key_file('whsec', "$New\n");
$ENV{TEST_NGINX_WHSEC_OLD} = key_file('whsec_old', "$Old\n");
$ENV{TEST_NGINX_MUTE_PORT} = start_mute();

our $Now = time;
our $Body = '{"type":"payment.confirmed","created_at":"2026-05-22T18:12:00.000Z",'
          . '"data":{"payment_ref":"cp_0000","external_id":"order-1001"}}';

# a body of its own for each test: Redis remembers across the blocks
sub body { my $n = shift; (my $b = $::Body) =~ s/cp_0000/cp_$n/; $b }

# the header V3XY would send: t and a v1 under each of the secrets
sub sig {
    my ($body, %o) = @_;
    my $t = $o{t} // $::Now;
    my @secrets = @{ $o{secrets} // [$::New] };
    return "t=$t," . join ',', map { "v1=" . hmac_sha256_hex("$t.$body", $_) }
                                   @secrets;
}

# the mark the guard keeps for a delivery
sub mark { my ($body, $t) = @_; sha256_hex(($t // $::Now) . ".$body") }

# a connection to the nginx under test, which may still be starting
sub connect_nginx {
    for (1 .. 400) {
        my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                      PeerPort => $ENV{TEST_NGINX_SERVER_PORT});
        return $s if $s;
        select undef, undef, undef, 0.05;
    }

    die "cannot connect to nginx: $!";
}

# V3XY gives up: the delivery is sent, the answer not waited for (the
# backend is mute), the connection closed; returns once nginx has logged
# the request (499), so that what it does at the end is done
sub give_up {
    my ($path, $body, $sig) = @_;
    my $s = connect_nginx();
    print $s "POST $path HTTP/1.1\r\nHost: localhost\r\n"
           . "Content-Type: application/json\r\n"
           . "X-V3XY-Signature: $sig\r\n"
           . "Content-Length: " . length($body) . "\r\n\r\n$body";
    # under valgrind nginx takes seconds to get the request upstream
    select undef, undef, undef, $ENV{TEST_NGINX_USE_VALGRIND} ? 5 : 1;
    close $s;

    my $log = "$ENV{TEST_NGINX_SERVER_ROOT}/logs/access.log";

    for (1 .. 400) {
        if (open my $fh, '<', $log) {
            while (<$fh>) {
                return if m{^\Q$path\E 499 };
            }
        }
        select undef, undef, undef, 0.05;
    }

    die "give_up: no 499 for $path in the access log";
}

# V3XY's connection breaks while the 2xx comes (limit_rate sends it
# slowly): the head is read, then the connection is reset; returns once
# nginx has logged the request
sub cut_off {
    my ($path, $body, $sig) = @_;
    my $s = connect_nginx();
    print $s "POST $path HTTP/1.1\r\nHost: localhost\r\n"
           . "X-V3XY-Signature: $sig\r\n"
           . "Content-Length: " . length($body) . "\r\n\r\n$body";

    my $head = '';
    while ($head !~ /\r\n\r\n/) {
        sysread($s, $head, 1, length $head) or die "cut_off: no answer";
    }

    $head =~ m{^HTTP/1\.1 200 } or die "cut_off: $head";
    setsockopt($s, Socket::SOL_SOCKET(), Socket::SO_LINGER(), pack('ii', 1, 0))
        or die "cut_off: SO_LINGER: $!";
    close $s;

    my $log = "$ENV{TEST_NGINX_SERVER_ROOT}/logs/access.log";

    for (1 .. 400) {
        if (open my $fh, '<', $log) {
            while (<$fh>) {
                return if m{^\Q$path\E 200 };
            }
        }
        select undef, undef, undef, 0.05;
    }

    die "cut_off: no 200 for $path in the access log";
}

# 64 KiB: a response that limit_rate 1k takes a minute to send
sub big { my $b = body(shift); $b =~ s/\}\}\z/},"pad":"${\ ('x' x 65536)}"}/; $b }

# the locations of a block: every one verifies under both secrets, with
# the same tolerance (so one replay guard); with Redis, closed on failure
sub conf {
    my ($redis) = @_;
    my $fail = $redis ? 'v3xy_limit_fail closed;' : '';

    return <<"_EOC_";
    access_log logs/access.log v3xy;

    location = /webhooks/v3xy {
        v3xy_webhook_secret_file \$TEST_NGINX_WHSEC \$TEST_NGINX_WHSEC_OLD;
        v3xy_webhook_tolerance 30m;
        $fail
        proxy_pass http://127.0.0.1:\$TEST_NGINX_ECHO_PORT;
    }

    location = /webhooks/slow {
        v3xy_webhook_secret_file \$TEST_NGINX_WHSEC \$TEST_NGINX_WHSEC_OLD;
        v3xy_webhook_tolerance 30m;
        $fail
        proxy_read_timeout 60s;
        proxy_pass http://127.0.0.1:\$TEST_NGINX_MUTE_PORT;
    }

    location = /webhooks/timeout {
        v3xy_webhook_secret_file \$TEST_NGINX_WHSEC \$TEST_NGINX_WHSEC_OLD;
        v3xy_webhook_tolerance 30m;
        $fail
        proxy_read_timeout 1s;
        proxy_pass http://127.0.0.1:\$TEST_NGINX_MUTE_PORT;
    }

    location = /webhooks/failing {
        v3xy_webhook_secret_file \$TEST_NGINX_WHSEC \$TEST_NGINX_WHSEC_OLD;
        v3xy_webhook_tolerance 30m;
        $fail
        proxy_pass http://127.0.0.1:\$TEST_NGINX_SERVER_PORT/status500;
    }

    location = /webhooks/sending {
        v3xy_webhook_secret_file \$TEST_NGINX_WHSEC \$TEST_NGINX_WHSEC_OLD;
        v3xy_webhook_tolerance 30m;
        $fail
        limit_rate 1k;
        proxy_pass http://127.0.0.1:\$TEST_NGINX_ECHO_PORT;
    }

    location = /status500 {
        return 500 "backend failed\\n";
    }
_EOC_
}

our $Redis = '    v3xy_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT timeout=2s;' . "\n";

add_block_preprocessor(sub {
    my $block = shift;
    my $redis = defined $block->redis;

    $block->set_value('config', conf($redis)) unless defined $block->config;
    $block->set_value('http_config',
        "    log_format v3xy '\$request_uri \$status "
        . "webhook=\$v3xy_webhook_status delivery=\$v3xy_webhook_delivery';\n"
        . ($redis ? $::Redis : ''));

    if ($redis) {
        V3xy::redis_ready_block($block);
        $block->set_value('init', "V3xy::wait_ready('/ready');"
                                  . ($block->init // ''));
    }

    $block->set_value('no_error_log', [$::New, $::Old, '[error]', '[alert]'])
        unless defined $block->no_error_log;
});

log_level('info');
no_shuffle();
no_long_string();
run_tests();

__DATA__

=== TEST 1: V3XY gave up on a slow backend (499): the same signed delivery passes again, then it is a replay
--- init
main::give_up('/webhooks/slow', main::body(1), main::sig(main::body(1)));
V3xy::wait_log(qr/v3xy: webhook delivery ${\ main::mark(main::body(1))} not acknowledged \(status 499, no response sent\): it may come again/)
    or die "no line for the abandoned delivery\n";
--- request eval
["POST /webhooks/v3xy\n" . main::body(1), "POST /webhooks/v3xy\n" . main::body(1)]
--- more_headers eval
[("X-V3XY-Signature: " . main::sig(main::body(1))) x 2]
--- error_code eval
[200, 409]



=== TEST 2: the backend failed (500): the same delivery passes again, then it is a replay
--- request eval
["POST /webhooks/failing\n" . main::body(2), "POST /webhooks/v3xy\n" . main::body(2),
 "POST /webhooks/v3xy\n" . main::body(2)]
--- more_headers eval
[("X-V3XY-Signature: " . main::sig(main::body(2))) x 3]
--- error_code eval
[500, 200, 409]



=== TEST 3: the backend did not answer in time (504): the same delivery passes again
--- request eval
["POST /webhooks/timeout\n" . main::body(3), "POST /webhooks/v3xy\n" . main::body(3)]
--- more_headers eval
[("X-V3XY-Signature: " . main::sig(main::body(3))) x 2]
--- error_code eval
[504, 200]
--- no_error_log eval
[$::New, $::Old, '[alert]']



=== TEST 4: acknowledged (200): the same delivery again is a replay (409), its mark in the log
--- init
my ($status) = V3xy::http_req('POST', '/webhooks/v3xy', main::body(4),
    'X-V3XY-Signature' => main::sig(main::body(4)));
die "the first delivery got $status\n" unless $status == 200;
--- request eval
"POST /webhooks/v3xy\n" . main::body(4)
--- more_headers eval
"X-V3XY-Signature: " . main::sig(main::body(4))
--- error_code: 409
--- response_body_like: "code":"webhook_replayed"
--- error_log eval
qr/v3xy: webhook_replayed: delivery ${\ main::mark(main::body(4))} already accepted/
--- access_log eval
"/webhooks/v3xy 409 webhook=webhook_replayed delivery=${\ main::mark(main::body(4))}\n"



=== TEST 5: rotation: signed under both secrets and accepted, then under the old alone or the new alone: 409
--- request eval
["POST /webhooks/v3xy\n" . main::body(5), "POST /webhooks/v3xy\n" . main::body(5),
 "POST /webhooks/v3xy\n" . main::body(5)]
--- more_headers eval
["X-V3XY-Signature: " . main::sig(main::body(5), secrets => [$::New, $::Old]),
 "X-V3XY-Signature: " . main::sig(main::body(5), secrets => [$::Old]),
 "X-V3XY-Signature: " . main::sig(main::body(5), secrets => [$::New])]
--- error_code eval
[200, 409, 409]



=== TEST 6: another body with the same t, or the same body with another t, is another delivery
--- request eval
["POST /webhooks/v3xy\n" . main::body(6), "POST /webhooks/v3xy\n" . main::body(61),
 "POST /webhooks/v3xy\n" . main::body(6)]
--- more_headers eval
["X-V3XY-Signature: " . main::sig(main::body(6)),
 "X-V3XY-Signature: " . main::sig(main::body(61)),
 "X-V3XY-Signature: " . main::sig(main::body(6), t => $::Now - 1)]
--- error_code eval
[200, 200, 200]



=== TEST 7: V3XY's connection broke while the 200 was sent: the same delivery passes again, then it is a replay
--- init
main::cut_off('/webhooks/sending', main::big(14), main::sig(main::big(14)));
V3xy::wait_log(qr/v3xy: webhook delivery ${\ main::mark(main::big(14))} not acknowledged \(status 200, sending failed\)/)
    or die "no line for the broken delivery\n";
--- request eval
["POST /webhooks/v3xy\n" . main::big(14), "POST /webhooks/v3xy\n" . main::big(14)]
--- more_headers eval
[("X-V3XY-Signature: " . main::sig(main::big(14))) x 2]
--- error_code eval
[200, 409]
--- no_error_log eval
[$::New, $::Old, '[alert]']



=== TEST 8: Redis: V3XY gave up on a slow backend (499): the mark is gone from Redis, the delivery passes again, then it is a replay
--- redis
--- init
main::give_up('/webhooks/slow', main::body(7), main::sig(main::body(7)));
V3xy::wait_log(qr/v3xy: webhook delivery ${\ main::mark(main::body(7))} not acknowledged \(status 499, no response sent\)/)
    or die "no line for the abandoned delivery\n";
# the DEL goes without waiting for its answer: Redis may take a moment
my $n;
for (1 .. 100) {
    $n = V3xy::redis('EXISTS', "v3xy:{webhook.replay.1800:${\ main::mark(main::body(7))}}");
    last if $n eq '0';
    select undef, undef, undef, 0.05;
}
die "the mark of the abandoned delivery is still in Redis\n" unless $n eq '0';
--- request eval
["POST /webhooks/v3xy\n" . main::body(7), "POST /webhooks/v3xy\n" . main::body(7)]
--- more_headers eval
[("X-V3XY-Signature: " . main::sig(main::body(7))) x 2]
--- error_code eval
[200, 409]



=== TEST 9: Redis: the backend failed (500): the same delivery passes again, then it is a replay
--- redis
--- request eval
["POST /webhooks/failing\n" . main::body(8), "POST /webhooks/v3xy\n" . main::body(8),
 "POST /webhooks/v3xy\n" . main::body(8)]
--- more_headers eval
[("X-V3XY-Signature: " . main::sig(main::body(8))) x 3]
--- error_code eval
[500, 200, 409]



=== TEST 10: Redis: the backend did not answer in time (504): the same delivery passes again
--- redis
--- request eval
["POST /webhooks/timeout\n" . main::body(9), "POST /webhooks/v3xy\n" . main::body(9)]
--- more_headers eval
[("X-V3XY-Signature: " . main::sig(main::body(9))) x 2]
--- error_code eval
[504, 200]
--- no_error_log eval
[$::New, $::Old, '[alert]']



=== TEST 11: Redis: acknowledged: the delivery's mark (not a signature) is kept for twice the tolerance; the same delivery again is 409
--- redis
--- request eval
["POST /webhooks/v3xy\n" . main::body(10), "POST /webhooks/v3xy\n" . main::body(10)]
--- more_headers eval
[("X-V3XY-Signature: " . main::sig(main::body(10))) x 2]
--- error_code eval
[200, 409]
--- response_body_filters eval
sub {
    my $ttl = V3xy::redis('PTTL', "v3xy:{webhook.replay.1800:${\ main::mark(main::body(10))}}");
    return ($ttl > 3590000 && $ttl <= 3600000) ? "remembered\n" : "ttl $ttl\n";
}
--- response_body eval
["remembered\n", "remembered\n"]



=== TEST 12: Redis: rotation: signed under both secrets and accepted, then under the old alone or the new alone: 409
--- redis
--- request eval
["POST /webhooks/v3xy\n" . main::body(11), "POST /webhooks/v3xy\n" . main::body(11),
 "POST /webhooks/v3xy\n" . main::body(11)]
--- more_headers eval
["X-V3XY-Signature: " . main::sig(main::body(11), secrets => [$::New, $::Old]),
 "X-V3XY-Signature: " . main::sig(main::body(11), secrets => [$::Old]),
 "X-V3XY-Signature: " . main::sig(main::body(11), secrets => [$::New])]
--- error_code eval
[200, 409, 409]



=== TEST 13: Redis: another body with the same t, or the same body with another t, is another delivery
--- redis
--- request eval
["POST /webhooks/v3xy\n" . main::body(12), "POST /webhooks/v3xy\n" . main::body(121),
 "POST /webhooks/v3xy\n" . main::body(12)]
--- more_headers eval
["X-V3XY-Signature: " . main::sig(main::body(12)),
 "X-V3XY-Signature: " . main::sig(main::body(121)),
 "X-V3XY-Signature: " . main::sig(main::body(12), t => $::Now - 1)]
--- error_code eval
[200, 200, 200]



=== TEST 14: Redis: V3XY's connection broke while the 200 was sent: the same delivery passes again, then it is a replay
--- redis
--- init
main::cut_off('/webhooks/sending', main::big(15), main::sig(main::big(15)));
V3xy::wait_log(qr/v3xy: webhook delivery ${\ main::mark(main::big(15))} not acknowledged \(status 200, sending failed\)/)
    or die "no line for the broken delivery\n";
# the DEL goes without waiting for its answer: Redis may take a moment
for (1 .. 100) {
    last if V3xy::redis('EXISTS', "v3xy:{webhook.replay.1800:${\ main::mark(main::big(15))}}") eq '0';
    select undef, undef, undef, 0.05;
}
--- request eval
["POST /webhooks/v3xy\n" . main::big(15), "POST /webhooks/v3xy\n" . main::big(15)]
--- more_headers eval
[("X-V3XY-Signature: " . main::sig(main::big(15))) x 2]
--- error_code eval
[200, 409]
--- no_error_log eval
[$::New, $::Old, '[alert]']



=== TEST 15: with v3xy_webhook_replay off nothing is marked: the same delivery passes twice, $v3xy_webhook_delivery is empty
--- config
    access_log logs/access.log v3xy;

    location = /webhooks/v3xy {
        v3xy_webhook_secret_file $TEST_NGINX_WHSEC;
        v3xy_webhook_tolerance 30m;
        v3xy_webhook_replay off;
        proxy_pass http://127.0.0.1:$TEST_NGINX_ECHO_PORT;
    }
--- request eval
["POST /webhooks/v3xy\n" . main::body(13), "POST /webhooks/v3xy\n" . main::body(13)]
--- more_headers eval
[("X-V3XY-Signature: " . main::sig(main::body(13))) x 2]
--- error_code eval
[200, 200]
--- access_log
/webhooks/v3xy 200 webhook=ok delivery=-
/webhooks/v3xy 200 webhook=ok delivery=-
