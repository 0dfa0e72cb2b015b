# The per-recipient limit: a zone keyed on $v3xy_body_email, the "email"
# field of the JSON body of POST /developer/verify/send-code, in its
# canonical form (t/097-email.t has its spellings).  The body is read in the access phase without blocking and
# reaches the upstream byte for byte; a body without an email is refused
# with 400 body_invalid where such a zone applies.

use lib 't/lib';
use Test::Nginx::Socket 'no_plan';
use V3xy qw(start_echo);

start_echo();

our $Big = '{"email":"big@example.com","purpose":"signup","pad":"'
         . ('x' x 3000) . '"}';

add_block_preprocessor(sub {
    my $block = shift;

    $block->set_value('http_config', <<'_EOC_') unless defined $block->http_config;
    v3xy_limit_zone verify rate=2r/h key=$v3xy_body_email;
    log_format v3xy '$request_uri $status email=$v3xy_body_email code=$v3xy_error_code';
_EOC_

    $block->set_value('config', <<'_EOC_') unless defined $block->config;
    access_log logs/access.log v3xy;
    client_body_buffer_size 1k;

    location = /v1/developer/verify/send-code {
        v3xy_limit verify;
        proxy_pass http://127.0.0.1:$TEST_NGINX_ECHO_PORT;
    }
_EOC_
});

log_level('info');
no_shuffle();
no_long_string();
run_tests();

__DATA__

=== TEST 1: two codes for one recipient, then 429; case and spaces do not make another
--- pipelined_requests eval
["POST /v1/developer/verify/send-code\n{\"email\":\"user\@example.com\",\"purpose\":\"signup\"}",
 "POST /v1/developer/verify/send-code\n{\"email\":\"  User\@Example.COM \",\"purpose\":\"login\"}",
 "POST /v1/developer/verify/send-code\n{\"purpose\":\"signup\",\"email\":\"USER\@example.com\"}",
 "POST /v1/developer/verify/send-code\n{\"email\":\"other\@example.com\"}"]
--- more_headers
Content-Type: application/json
--- error_code eval
[200, 200, 429, 200]
--- response_headers_like eval
["RateLimit-Policy: \"verify\";q=2;w=3600\nRateLimit: \"verify\";r=1;t=3600",
 "RateLimit: \"verify\";r=0;t=\\d+", "Retry-After: \\d+",
 "RateLimit: \"verify\";r=1;t=3600"]
--- access_log
/v1/developer/verify/send-code 200 email=user@example.com code=-
/v1/developer/verify/send-code 429 email=user@example.com code=rate_limited
/v1/developer/verify/send-code 200 email=other@example.com code=-



=== TEST 2: the body reaches the upstream byte for byte
--- request
POST /v1/developer/verify/send-code
{"email": "Bytes@Example.com",  "purpose":"signup", "template":"default"}
--- more_headers
Content-Type: application/json
--- error_code: 200
--- response_body_like: \r\n\r\n\{"email": "Bytes\@Example\.com",  "purpose":"signup", "template":"default"\}\z



=== TEST 3: a body that is not JSON: 400 body_invalid
--- request
POST /v1/developer/verify/send-code
email=user@example.com
--- error_code: 400
--- response_headers
Content-Type: application/json
--- response_body: {"success":false,"error":"The request body must be a JSON object.","code":"body_invalid"}
--- error_log
v3xy: body_invalid: The request body must be a JSON object.



=== TEST 4: JSON without an email: 400
--- request
POST /v1/developer/verify/send-code
{"purpose":"signup"}
--- error_code: 400
--- response_body: {"success":false,"error":"The request body has no \"email\" field.","code":"body_invalid"}



=== TEST 5: an email that is not a string: 400
--- request
POST /v1/developer/verify/send-code
{"email":["a@example.com"]}
--- error_code: 400
--- response_body: {"success":false,"error":"The \"email\" field must be a string.","code":"body_invalid"}



=== TEST 6: an empty email, and one without "@": 400
--- request eval
["POST /v1/developer/verify/send-code\n{\"email\":\"   \"}",
 "POST /v1/developer/verify/send-code\n{\"email\":\"nobody\"}"]
--- error_code eval
[400, 400]
--- response_body_like eval
[qr/"The \\"email\\" field is empty\."/, qr/"The \\"email\\" field is not an email address\."/]



=== TEST 7: no body at all: 400, nothing upstream
--- request
POST /v1/developer/verify/send-code
--- error_code: 400
--- response_body_like: "code":"body_invalid"
--- no_error_log
[error]



=== TEST 8: a body nginx spilled to a temporary file is read back
--- request eval
"POST /v1/developer/verify/send-code\n$::Big"
--- error_code: 200
--- response_headers
RateLimit: "verify";r=1;t=3600
--- response_body_like eval
qr/\r\n\r\n\Q$::Big\E\z/
--- access_log
email=big@example.com



=== TEST 9: a chunked body
--- raw_request eval
my @chunks = ('{"email":"chunk', 'ed@example.com"}  ');
"POST /v1/developer/verify/send-code HTTP/1.1\r\nHost: localhost\r\n"
. "Connection: close\r\nTransfer-Encoding: chunked\r\n\r\n"
. CORE::join('', map { sprintf("%x\r\n%s\r\n", length $_, $_) } @chunks)
. "0\r\n\r\n"
--- error_code: 200
--- response_headers
RateLimit: "verify";r=1;t=3600
--- access_log
email=chunked@example.com



=== TEST 10: a body that arrives slowly (the phases resume when it is in)
--- raw_request eval
["POST /v1/developer/verify/send-code HTTP/1.1\r
Host: localhost\r
Connection: close\r
Content-Length: 30\r
\r
{\"email\":", "\"slow\@example.com\"}  "]
--- raw_request_middle_delay: 0.3
--- error_code: 200
--- response_headers
RateLimit: "verify";r=1;t=3600
--- access_log
email=slow@example.com



=== TEST 11: a body over 64 KiB is refused where the email is needed
--- request eval
"POST /v1/developer/verify/send-code\n{\"email\":\"a\@example.com\",\"pad\":\"" . ('x' x 70000) . "\"}"
--- error_code: 400
--- response_body: {"success":false,"error":"The request body is too large for this endpoint.","code":"body_invalid"}



=== TEST 12: locations without such a zone do not read the body
--- http_config
    v3xy_limit_zone verify rate=2r/h key=$v3xy_body_email;
    v3xy_limit_zone ip rate=100r/m key=$remote_addr;
--- config
    location /v1/ {
        v3xy_limit ip;
        proxy_pass http://127.0.0.1:$TEST_NGINX_ECHO_PORT;
    }
--- request
POST /v1/developer/payments/crypto
not json at all
--- error_code: 200
--- response_body_like: not json at all\z
