# Browser-origin refusal: where a key is injected, a request that a
# browser sent is refused with 403 api_key_origin, as the API's JSON,
# before anything reaches the upstream.

use lib 't/lib';
use Test::Nginx::Socket 'no_plan';
use V3xy qw(key_file start_echo);

$ENV{TEST_NGINX_KEY} = key_file('key', "v3xy_dev_Browser_Test_Secret_000000\n");
start_echo();

our $Refusal = '{"success":false,"error":"Developer API keys are for '
    . 'server-side use only; this request was sent by a browser.",'
    . '"code":"api_key_origin"}';

add_block_preprocessor(sub {
    my $block = shift;

    if (!defined $block->config) {
        $block->set_value('config', <<'_EOC_');
    location /v1/ {
        v3xy_api_key_file $TEST_NGINX_KEY;
        proxy_pass http://127.0.0.1:$TEST_NGINX_ECHO_PORT;
    }
_EOC_
    }
});

log_level('info');
no_long_string();
run_tests();

__DATA__

=== TEST 1: Origin is a browser mark: 403 api_key_origin as JSON
--- request
GET /v1/developer/payment-status?payment_ref=cp_1
--- more_headers
Origin: https://shop.example.com
--- error_code: 403
--- response_headers
Content-Type: application/json
Cache-Control: no-store
!Access-Control-Allow-Origin
!Access-Control-Allow-Credentials
--- response_body eval: $::Refusal
--- error_log
v3xy: api_key_origin: browser request ("Origin" header) refused where a developer key is injected



=== TEST 2: Sec-Fetch-Site alone is a browser mark
--- request
GET /v1/developer/wallets
--- more_headers
Sec-Fetch-Site: same-origin
--- error_code: 403
--- response_body eval: $::Refusal



=== TEST 3: Sec-Fetch-Mode alone is a browser mark
--- request
GET /v1/developer/wallets
--- more_headers
Sec-Fetch-Mode: cors
--- error_code: 403
--- response_body eval: $::Refusal



=== TEST 4: Sec-Fetch-Dest alone is a browser mark
--- request
GET /v1/developer/wallets
--- more_headers
sec-fetch-dest: empty
--- error_code: 403
--- response_body eval: $::Refusal



=== TEST 5: any other Sec-Fetch-* is a browser mark too
--- request
GET /v1/developer/wallets
--- more_headers
Sec-Fetch-User: ?1
--- error_code: 403
--- response_body eval: $::Refusal



=== TEST 6: a CORS preflight is refused without any CORS grant
--- request
OPTIONS /v1/developer/payments/crypto
--- more_headers
Access-Control-Request-Method: POST
Access-Control-Request-Headers: x-v3xy-api-key, content-type
--- error_code: 403
--- response_headers
Content-Type: application/json
!Access-Control-Allow-Origin
!Access-Control-Allow-Methods
!Access-Control-Allow-Headers
--- response_body eval: $::Refusal
--- error_log
("Access-Control-Request-Method" header) refused



=== TEST 7: a refused request never reaches the upstream
--- config
    location /v1/ {
        v3xy_api_key_file $TEST_NGINX_KEY;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/backend/;
    }

    location /backend/ {
        return 200 "reached\n";
    }
--- request
GET /v1/developer/wallets
--- more_headers
Origin: https://shop.example.com
--- error_code: 403
--- no_access_log
GET /backend/



=== TEST 8: the same request without browser marks goes through
--- config
    location /v1/ {
        v3xy_api_key_file $TEST_NGINX_KEY;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/backend/;
    }

    location /backend/ {
        return 200 "reached\n";
    }
--- request
GET /v1/developer/wallets
--- more_headers
User-Agent: Mozilla/5.0 (merchant backend)
Referer: https://shop.example.com/checkout
--- error_code: 200
--- response_body
reached
--- access_log
GET /backend/developer/wallets



=== TEST 9: a refused POST body is discarded and the connection stays usable
--- pipelined_requests eval
["POST /v1/developer/payments/crypto\n{\"asset\":\"LTC\",\"amount\":1}",
 "GET /v1/developer/wallets"]
--- more_headers
Origin: https://shop.example.com
--- error_code eval
[403, 403]
--- response_body eval
[$::Refusal, $::Refusal]



=== TEST 10: HEAD is refused with the headers and no body
--- request
HEAD /v1/developer/wallets
--- more_headers
Origin: https://shop.example.com
--- error_code: 403
--- response_headers
Content-Type: application/json
--- response_body chomp



=== TEST 11: $v3xy_error_code tells the access log why
--- http_config
    log_format v3xy '$request_uri $status code=$v3xy_error_code key=$v3xy_key_id';
--- config
    access_log logs/access.log v3xy;

    location /v1/ {
        v3xy_api_key_file $TEST_NGINX_KEY;
        proxy_pass http://127.0.0.1:$TEST_NGINX_ECHO_PORT;
    }
--- request
GET /v1/developer/wallets
--- more_headers
Sec-Fetch-Site: cross-site
--- error_code: 403
--- access_log eval
qr{^/v1/developer/wallets 403 code=api_key_origin key=v3xy_dev_\.\.\.[0-9a-f]{12}$}



=== TEST 12: $v3xy_error_code is empty ("-" in logs) for an admitted request
--- http_config
    log_format v3xy '$request_uri $status code=[$v3xy_error_code]';
--- config
    access_log logs/access.log v3xy;

    location /v1/ {
        v3xy_api_key_file $TEST_NGINX_KEY;
        proxy_pass http://127.0.0.1:$TEST_NGINX_ECHO_PORT;
    }
--- request
GET /v1/developer/wallets
--- error_code: 200
--- access_log
/v1/developer/wallets 200 code=[-]



=== TEST 13: "v3xy_browser allow" lets browser requests through with the key
--- config
    location /v1/ {
        v3xy_api_key_file $TEST_NGINX_KEY;
        v3xy_browser allow;
        proxy_pass http://127.0.0.1:$TEST_NGINX_ECHO_PORT;
    }
--- request
GET /v1/developer/wallets
--- more_headers
Origin: https://internal-tool.example.com
--- error_code: 200
--- response_body_like: \r\nX-V3XY-API-Key: v3xy_dev_Browser_Test_Secret_000000\r\n



=== TEST 14: a location without a key does not judge browsers
--- config
    location /public/ {
        return 200 "public\n";
    }
--- request
GET /public/page
--- more_headers
Origin: https://shop.example.com
Sec-Fetch-Mode: navigate
--- error_code: 200
--- response_body
public



=== TEST 15: the refusal comes before "satisfy any" could grant access
--- config
    location /v1/ {
        satisfy any;
        allow 127.0.0.1;
        deny all;
        v3xy_api_key_file $TEST_NGINX_KEY;
        proxy_pass http://127.0.0.1:$TEST_NGINX_ECHO_PORT;
    }
--- request
GET /v1/developer/wallets
--- more_headers
Origin: https://shop.example.com
--- error_code: 403
--- response_body eval: $::Refusal



=== TEST 16: other access modules still decide for admitted requests
--- config
    location /v1/ {
        deny all;
        v3xy_api_key_file $TEST_NGINX_KEY;
        proxy_pass http://127.0.0.1:$TEST_NGINX_ECHO_PORT;
    }
--- request
GET /v1/developer/wallets
--- error_code: 403
--- response_body_like: <html>



=== TEST 17: an error_page for 403 does not turn our JSON into HTML
--- config
    error_page 403 /403.html;

    location /v1/ {
        v3xy_api_key_file $TEST_NGINX_KEY;
        proxy_pass http://127.0.0.1:$TEST_NGINX_ECHO_PORT;
    }
--- user_files
>>> 403.html
forbidden page
--- request
GET /v1/developer/wallets
--- more_headers
Origin: https://shop.example.com
--- error_code: 403
--- response_body eval: $::Refusal



=== TEST 18: HTTP/1.0 browser request is refused too
--- request
GET /v1/developer/wallets HTTP/1.0
--- more_headers
Origin: null
--- error_code: 403
--- response_body eval: $::Refusal
