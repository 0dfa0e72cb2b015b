# Sidecar key injection: every proxied request of a location with
# v3xy_api_key_file carries X-V3XY-API-Key with the file's key, exactly
# once, and a client-sent X-V3XY-API-Key never reaches the upstream.

use lib 't/lib';
use Test::Nginx::Socket 'no_plan';
use V3xy qw(key_file start_echo header_lines);

our $Key = 'v3xy_dev_Sidecar_Secret-0123456789abcdef';
our $Other = 'v3xy_dev_OtherLocationSecret9876543210';

$ENV{TEST_NGINX_KEY} = key_file('key', "$Key\n");
$ENV{TEST_NGINX_OTHER_KEY} = key_file('other', "$Other\r\n");

# a secret of standard base64 and punctuation: the specification says only
# "a random secret"
our $Punct = 'v3xy_dev_Ab+/9.x=y~!"#$%&\'()*,:;<>?@[\\]^`{|}=';
$ENV{TEST_NGINX_PUNCT_KEY} = key_file('punct', "$Punct\n");
start_echo();

our $KeyHeader = header_lines('x-v3xy-api-key');

no_long_string();
run_tests();

__DATA__

=== TEST 1: the key reaches the upstream, once, as X-V3XY-API-Key
--- config
    location /v1/ {
        v3xy_api_key_file $TEST_NGINX_KEY;
        proxy_pass http://127.0.0.1:$TEST_NGINX_ECHO_PORT;
    }
--- request
GET /v1/developer/payment-status?payment_ref=cp_1
--- response_body_filters eval: $::KeyHeader
--- response_body eval: "X-V3XY-API-Key: $::Key\r\n"
--- no_error_log
[warn]



=== TEST 2: the upstream gets the request line untouched
--- config
    location /v1/ {
        v3xy_api_key_file $TEST_NGINX_KEY;
        proxy_pass http://127.0.0.1:$TEST_NGINX_ECHO_PORT;
    }
--- request
GET /v1/developer/payment-status?payment_ref=cp_8f3a
--- response_body_like: \AGET /v1/developer/payment-status\?payment_ref=cp_8f3a HTTP/1\.[01]\r\n



=== TEST 3: a client-sent key is replaced by ours
--- config
    location /v1/ {
        v3xy_api_key_file $TEST_NGINX_KEY;
        proxy_pass http://127.0.0.1:$TEST_NGINX_ECHO_PORT;
    }
--- request
GET /v1/developer/payment-status
--- more_headers
X-V3XY-API-Key: v3xy_dev_ClientSentKeyMustNotPass0000
--- response_body_filters eval: $::KeyHeader
--- response_body eval: "X-V3XY-API-Key: $::Key\r\n"
--- log_level: info
--- error_log eval
qr/\[info\] .*v3xy: dropped 1 client-sent X-V3XY-API-Key header\(s\), injecting key v3xy_dev_\.\.\.[0-9a-f]{12}/
--- no_error_log
ClientSentKeyMustNotPass



=== TEST 4: several client-sent keys, in any letter case, are all dropped
--- config
    location /v1/ {
        v3xy_api_key_file $TEST_NGINX_KEY;
        proxy_pass http://127.0.0.1:$TEST_NGINX_ECHO_PORT;
    }
--- request
GET /v1/developer/wallets
--- more_headers
x-v3xy-api-key: v3xy_dev_lowercase_name_0000000000
X-V3XY-API-KEY: v3xy_dev_uppercase_name_0000000000
X-V3xy-Api-Key: v3xy_dev_mixedcase_name_0000000000
X-Other: kept
--- response_body_filters eval: $::KeyHeader
--- response_body eval: "X-V3XY-API-Key: $::Key\r\n"
--- error_log
dropped 3 client-sent X-V3XY-API-Key header(s)



=== TEST 5: the other request headers reach the upstream untouched
--- config
    location /v1/ {
        v3xy_api_key_file $TEST_NGINX_KEY;
        proxy_pass http://127.0.0.1:$TEST_NGINX_ECHO_PORT;
    }
--- request
GET /v1/developer/wallets
--- more_headers
X-V3XY-API-Key: v3xy_dev_ClientSentKeyMustNotPass0000
X-Request-Id: abc-123
Accept: application/json
--- response_body_like: \r\nX-Request-Id: abc-123\r\nAccept: application/json\r\nX-V3XY-API-Key: v3xy_dev_Sidecar_Secret-0123456789abcdef\r\n\r\n\z



=== TEST 6: a POST body is forwarded byte for byte with the key
--- config
    location /v1/ {
        v3xy_api_key_file $TEST_NGINX_KEY;
        proxy_pass http://127.0.0.1:$TEST_NGINX_ECHO_PORT;
    }
--- request
POST /v1/developer/payments/crypto
{"asset":"LTC","amount_usd_cents":2500,"external_id":"order-1001"}
--- more_headers
Content-Type: application/json
--- response_body_like: \r\nX-V3XY-API-Key: v3xy_dev_Sidecar_Secret-0123456789abcdef\r\n\r\n\{"asset":"LTC","amount_usd_cents":2500,"external_id":"order-1001"\}\z



=== TEST 7: the key is inherited from the server level
--- config
    v3xy_api_key_file $TEST_NGINX_KEY;

    location /v1/ {
        proxy_pass http://127.0.0.1:$TEST_NGINX_ECHO_PORT;
    }
--- request
GET /v1/developer/wallets
--- response_body_filters eval: $::KeyHeader
--- response_body eval: "X-V3XY-API-Key: $::Key\r\n"



=== TEST 8: "off" in an inner location injects nothing and leaves the request alone
--- config
    v3xy_api_key_file $TEST_NGINX_KEY;

    location /v1/ {
        proxy_pass http://127.0.0.1:$TEST_NGINX_ECHO_PORT;
    }

    location /health {
        v3xy_api_key_file off;
        proxy_pass http://127.0.0.1:$TEST_NGINX_ECHO_PORT;
    }
--- request
GET /health
--- more_headers
Origin: https://status.example.com
--- response_body_filters eval: $::KeyHeader
--- response_body chomp
--- error_code: 200



=== TEST 9: a location of its own key file gets that key
--- config
    v3xy_api_key_file $TEST_NGINX_KEY;

    location /v1/ {
        proxy_pass http://127.0.0.1:$TEST_NGINX_ECHO_PORT;
    }

    location /staging/ {
        v3xy_api_key_file $TEST_NGINX_OTHER_KEY;
        proxy_pass http://127.0.0.1:$TEST_NGINX_ECHO_PORT;
    }
--- request
GET /staging/developer/wallets
--- response_body_filters eval: $::KeyHeader
--- response_body eval: "X-V3XY-API-Key: $::Other\r\n"



=== TEST 10: after an internal redirect the key is still sent once
--- config
    location /v1/ {
        v3xy_api_key_file $TEST_NGINX_KEY;
        rewrite ^/v1/(.*)$ /v1-internal/$1 last;
    }

    location /v1-internal/ {
        internal;
        v3xy_api_key_file $TEST_NGINX_KEY;
        proxy_pass http://127.0.0.1:$TEST_NGINX_ECHO_PORT/v1/;
    }
--- request
GET /v1/developer/wallets
--- response_body_filters eval: $::KeyHeader
--- response_body eval: "X-V3XY-API-Key: $::Key\r\n"
--- no_error_log
client-sent



=== TEST 11: an internal redirect to another key's location sends that key only
--- config
    location /v1/ {
        v3xy_api_key_file $TEST_NGINX_KEY;
        error_page 418 = @staging;
        return 418;
    }

    location @staging {
        v3xy_api_key_file $TEST_NGINX_OTHER_KEY;
        proxy_pass http://127.0.0.1:$TEST_NGINX_ECHO_PORT;
    }
--- request
GET /v1/developer/wallets
--- response_body_filters eval: $::KeyHeader
--- response_body eval: "X-V3XY-API-Key: $::Other\r\n"



=== TEST 12: $v3xy_key_id names the key by its fingerprint, in headers and logs
--- config
    location /v1/ {
        v3xy_api_key_file $TEST_NGINX_KEY;
        add_header X-Key-Id $v3xy_key_id;
        proxy_pass http://127.0.0.1:$TEST_NGINX_ECHO_PORT;
    }
--- request
GET /v1/developer/wallets
--- response_headers eval
# python3 -c 'import hashlib;
#   print(hashlib.sha256(b"v3xy_dev_Sidecar_Secret-0123456789abcdef")
#   .hexdigest()[:12])'
"X-Key-Id: v3xy_dev_...ebac105dadeb"



=== TEST 13: $v3xy_key_id is empty where no key is configured
--- config
    location /plain {
        return 200 "[$v3xy_key_id]";
    }
--- request
GET /plain
--- response_body chomp
[]



=== TEST 14: without v3xy directives a client's key header passes as in plain nginx
--- config
    location /other/ {
        proxy_pass http://127.0.0.1:$TEST_NGINX_ECHO_PORT;
    }
--- request
GET /other/x
--- more_headers
X-V3XY-API-Key: v3xy_dev_gateway_forwards_this_0000
--- response_body_filters eval: $::KeyHeader
--- response_body eval: "X-V3XY-API-Key: v3xy_dev_gateway_forwards_this_0000\r\n"



=== TEST 15: HTTP/1.0 requests get the key too
--- config
    location /v1/ {
        v3xy_api_key_file $TEST_NGINX_KEY;
        proxy_pass http://127.0.0.1:$TEST_NGINX_ECHO_PORT;
    }
--- request
GET /v1/developer/wallets HTTP/1.0
--- response_body_filters eval: $::KeyHeader
--- response_body eval: "X-V3XY-API-Key: $::Key\r\n"



=== TEST 16: keepalive: three requests on one connection each carry the key
--- config
    location /v1/ {
        v3xy_api_key_file $TEST_NGINX_KEY;
        proxy_pass http://127.0.0.1:$TEST_NGINX_ECHO_PORT;
    }
--- pipelined_requests eval
["GET /v1/a", "GET /v1/b", "GET /v1/c"]
--- more_headers
X-V3XY-API-Key: v3xy_dev_ClientSentKeyMustNotPass0000
--- response_body_filters eval: $::KeyHeader
--- response_body eval
["X-V3XY-API-Key: $::Key\r\n", "X-V3XY-API-Key: $::Key\r\n",
 "X-V3XY-API-Key: $::Key\r\n"]



=== TEST 17: a secret of any visible ASCII (base64's "+/=", ".", punctuation) is injected byte for byte
--- config
    location /v1/ {
        v3xy_api_key_file $TEST_NGINX_PUNCT_KEY;
        proxy_pass http://127.0.0.1:$TEST_NGINX_ECHO_PORT;
    }
--- request
GET /v1/developer/payment-status
--- response_body_filters eval: $::KeyHeader
--- response_body eval: "X-V3XY-API-Key: $::Punct\r\n"
--- no_error_log
[warn]
