# Secrets: the injected key appears in no response and in no log line of
# ours at any level; with the default (combined) access log and the error
# log at info, it appears in no log line at all, whatever path a request
# takes.  (nginx's own debug log lists the headers proxy_pass sends: the
# README says so.)

use lib 't/lib';
use Test::Nginx::Socket 'no_plan';
use V3xy qw(key_file);

our $Secret = 'NeverLogThis_0123456789abcdefXYZ';
our $Key = "v3xy_dev_$Secret";

$ENV{TEST_NGINX_KEY} = key_file('key', "$Key\n");
$ENV{TEST_NGINX_SECRET} = $Secret;

# a port with nothing listening: a dead upstream on loopback
my $dead = IO::Socket::INET->new(Listen => 1, LocalAddr => '127.0.0.1',
                                 LocalPort => 0) or die $!;
$ENV{TEST_NGINX_DEAD_PORT} = $dead->sockport;
close $dead;

add_block_preprocessor(sub {
    my $block = shift;

    $block->set_value('config', <<'_EOC_') unless defined $block->config;
    location /v1/ {
        v3xy_api_key_file $TEST_NGINX_KEY;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/backend/;
    }

    location /allow/ {
        v3xy_api_key_file $TEST_NGINX_KEY;
        v3xy_browser allow;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/backend/;
    }

    location /redirect/ {
        v3xy_api_key_file $TEST_NGINX_KEY;
        rewrite ^/redirect/(.*)$ /v1/$1 last;
    }

    location /dead/ {
        v3xy_api_key_file $TEST_NGINX_KEY;
        proxy_pass http://127.0.0.1:$TEST_NGINX_DEAD_PORT;
    }

    location /backend/ {
        if ($http_x_v3xy_api_key = "v3xy_dev_$TEST_NGINX_SECRET") {
            return 200 "match\n";
        }
        return 200 "mismatch\n";
    }
_EOC_

    $block->set_value('log_level', 'info') unless defined $block->log_level;

    if (!defined $block->no_error_log) {
        $block->set_value('no_error_log', [$::Secret, '[error]']);
    }

    $block->set_value('no_access_log', $::Secret);
    $block->set_value('raw_response_headers_unlike', qr/\Q$::Secret\E/);
});

no_long_string();
run_tests();

__DATA__

=== TEST 1: injected key, admitted request
--- request
GET /v1/developer/payment-status?payment_ref=cp_1
--- response_body
match



=== TEST 2: a client-sent key is dropped and logged by fingerprint only
--- request
GET /v1/developer/wallets
--- more_headers
X-V3XY-API-Key: v3xy_dev_ClientSentKeyShouldBeDropped
--- response_body
match
--- error_log eval
qr/dropped 1 client-sent X-V3XY-API-Key header\(s\), injecting key v3xy_dev_\.\.\.[0-9a-f]{12}/



=== TEST 3: a browser request is refused
--- request
GET /v1/developer/wallets
--- more_headers
Origin: https://shop.example.com
--- error_code: 403
--- response_body_unlike: NeverLogThis
--- error_log
api_key_origin



=== TEST 4: a CORS preflight is refused
--- request
OPTIONS /v1/developer/payments/crypto
--- more_headers
Origin: https://shop.example.com
Access-Control-Request-Method: POST
--- error_code: 403
--- response_body_unlike: NeverLogThis



=== TEST 5: a browser request where browsers are allowed
--- request
POST /allow/developer/payments/crypto
{"asset":"LTC","amount_usd_cents":2500}
--- more_headers
Origin: https://internal.example.com
--- response_body
match



=== TEST 6: an internal redirect into a key location
--- request
GET /redirect/developer/wallets
--- response_body
match



=== TEST 7: the upstream is down: 502, and the error line holds no key
--- request
GET /dead/developer/wallets
--- error_code: 502
--- response_body_unlike: NeverLogThis
--- error_log
connect() failed (111: Connection refused)
--- no_error_log
NeverLogThis



=== TEST 8: at debug level no line of ours holds the key; the fingerprint is there
--- log_level: debug
--- request
GET /v1/developer/wallets
--- more_headers
X-V3XY-API-Key: v3xy_dev_ClientSentKeyShouldBeDropped
--- response_body
match
--- error_log eval
qr/v3xy: dropped 1 client-sent X-V3XY-API-Key header\(s\), injecting key v3xy_dev_\.\.\.[0-9a-f]{12}/
--- no_error_log eval
[qr/ v3xy(?:_api_key_file)?: [^\n]*NeverLogThis/, qr/\[(?:error|warn)\]/]
