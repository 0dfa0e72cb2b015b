# The gateway role: developer keys checked at the edge against a key store
# of SHA-256 digests, in the API's order: api_key_origin, credentials_mixed,
# api_key_missing, api_key_invalid (malformed, unknown, revoked),
# api_key_scope; then limits keyed by key or account, and the backend gets
# the account, not the key.  The store in Redis: t/051-gateway-redis.t.

use lib 't/lib';
use Digest::SHA qw(sha256_hex);
use Test::Nginx::Socket 'no_plan';
use V3xy qw(key_file start_echo header_lines);

start_echo();

our $Pay = 'v3xy_dev_GatewayPayments_0123456789ab';
our $Read = 'v3xy_dev_GatewayReadOnly_0123456789ab';
our $Gone = 'v3xy_dev_GatewayRevoked_00123456789ab';
our $Stranger = 'v3xy_dev_NotInTheStore_000123456789ab';
# the specification's "random secret": standard base64, a dot, short
our $B64 = 'v3xy_dev_Ab+/9.x=yZ';

$ENV{TEST_NGINX_KEY_STORE} = key_file('keys', <<"_EOS_");
# digest                                                            account  scopes
${\ sha256_hex($Pay)} acct_1001 payments:create,payments:read,verify:send

  ${\ uc sha256_hex($Read)}\tacct_2002\tpayments:read
${\ sha256_hex($Gone)} acct_1001 payments:create revoked
${\ sha256_hex($B64)} acct_3003 payments:read
_EOS_

$ENV{TEST_NGINX_BAD_STORE} = key_file('bad-keys', <<"_EOS_");
${\ sha256_hex($Pay)} acct_1001 payments:create

${\ sha256_hex($Read)} acct_2002 Payments:Read
_EOS_

$ENV{TEST_NGINX_DUP_STORE} = key_file('dup-keys', <<"_EOS_");
${\ sha256_hex($Pay)} acct_1001 payments:create
${\ sha256_hex($Pay)} acct_9999 payments:read
_EOS_

our $Account = header_lines('x-v3xy-account');

add_block_preprocessor(sub {
    my $block = shift;

    $block->set_value('config', <<'_EOC_') unless defined $block->config;
    v3xy_key_store file=$TEST_NGINX_KEY_STORE;

    location = /v1/developer/payments/crypto {
        v3xy_scope payments:create;
        proxy_pass http://127.0.0.1:$TEST_NGINX_ECHO_PORT;
    }

    location = /v1/developer/payment-status {
        v3xy_scope payments:read;
        proxy_pass http://127.0.0.1:$TEST_NGINX_ECHO_PORT;
    }

    location /forward/ {
        v3xy_key_forward on;
        proxy_pass http://127.0.0.1:$TEST_NGINX_ECHO_PORT;
    }
_EOC_
});

log_level('info');
no_shuffle();
no_long_string();
run_tests();

__DATA__

=== TEST 1: a valid key with the scope: admitted; the backend gets the account, not the key
--- request
POST /v1/developer/payments/crypto
{"asset":"LTC","amount_usd_cents":2500}
--- more_headers eval
"X-V3XY-API-Key: $::Pay"
--- error_code: 200
--- response_body_filters eval: $::Account
--- response_body eval: "X-V3XY-Account: acct_1001\r\n"
--- no_error_log eval
[$::Pay, '[warn]']



=== TEST 2: the key never reaches the backend by default
--- request
GET /v1/developer/payment-status?payment_ref=cp_1
--- more_headers eval
"X-V3XY-API-Key: $::Pay"
--- error_code: 200
--- response_body_unlike: v3xy_dev_



=== TEST 3: "v3xy_key_forward on" forwards the key unchanged
--- request
GET /forward/x
--- more_headers eval
"X-V3XY-API-Key: $::Pay"
--- error_code: 200
--- response_body_filters eval: V3xy::header_lines('x-v3xy-api-key')
--- response_body eval: "X-V3XY-API-Key: $::Pay\r\n"



=== TEST 4: no key: 401 api_key_missing
--- request
GET /v1/developer/payment-status?payment_ref=cp_1
--- error_code: 401
--- response_headers
Content-Type: application/json
--- response_body: {"success":false,"error":"No X-V3XY-API-Key header.","code":"api_key_missing"}



=== TEST 5: a key of another form: 403 api_key_invalid, logged by fingerprint only
--- request
GET /v1/developer/payment-status?payment_ref=cp_1
--- more_headers
X-V3XY-API-Key: sk_live_NotOurForm_12345678901234
--- error_code: 403
--- response_body: {"success":false,"error":"The developer key is revoked or unknown.","code":"api_key_invalid"}
--- error_log eval
qr/\[info\] .*v3xy: api_key_invalid: not of the key's form, key v3xy_dev_\.\.\.[0-9a-f]{12}/
--- no_error_log
NotOurForm



=== TEST 6: an unknown key: 403 api_key_invalid
--- request
GET /v1/developer/payment-status?payment_ref=cp_1
--- more_headers eval
"X-V3XY-API-Key: $::Stranger"
--- error_code: 403
--- response_body_like: "code":"api_key_invalid"
--- error_log
api_key_invalid: unknown key
--- no_error_log eval
$::Stranger



=== TEST 7: a revoked key: 403 api_key_invalid
--- request
POST /v1/developer/payments/crypto
{}
--- more_headers eval
"X-V3XY-API-Key: $::Gone"
--- error_code: 403
--- response_body_like: "code":"api_key_invalid"
--- error_log
api_key_invalid: revoked key



=== TEST 8: a key without the location's scope: 403 api_key_scope
--- request
POST /v1/developer/payments/crypto
{}
--- more_headers eval
"X-V3XY-API-Key: $::Read"
--- error_code: 403
--- response_body: {"success":false,"error":"The developer key is not permitted for this endpoint.","code":"api_key_scope"}



=== TEST 9: the same key where its scope applies (upper-case digest in the store): admitted
--- request
GET /v1/developer/payment-status?payment_ref=cp_1
--- more_headers eval
"X-V3XY-API-Key: $::Read"
--- error_code: 200
--- response_body_filters eval: $::Account
--- response_body eval: "X-V3XY-Account: acct_2002\r\n"



=== TEST 10: a key from a browser: 403 api_key_origin, before anything else
--- request
GET /v1/developer/payment-status?payment_ref=cp_1
--- more_headers eval
"X-V3XY-API-Key: $::Pay\nOrigin: https://shop.example.com"
--- error_code: 403
--- response_body_like: "code":"api_key_origin"



=== TEST 10a: that refusal names the presented key by its fingerprint in the info line, never the key
--- request
GET /v1/developer/payment-status?payment_ref=cp_1
--- more_headers eval
"X-V3XY-API-Key: $::Pay\nOrigin: https://shop.example.com"
--- error_code: 403
--- response_body_like: "code":"api_key_origin"
--- error_log eval
qr/\[info\] .*v3xy: api_key_origin: browser request \("Origin" header\) refused where a developer key is presented, key v3xy_dev_\.\.\.${\ substr(Digest::SHA::sha256_hex($::Pay), 0, 12)}/
--- no_error_log
GatewayPayments



=== TEST 10b: and $v3xy_key_id names it in the access log, an unknown key too
--- http_config
    log_format kid '$status $v3xy_error_code $v3xy_key_id';
--- config
    access_log logs/kid.log kid;

    location = /v1/developer/payment-status {
        v3xy_key_store file=$TEST_NGINX_KEY_STORE;
        v3xy_scope payments:read;
        proxy_pass http://127.0.0.1:$TEST_NGINX_ECHO_PORT;
    }

    location = /kid {
        access_log off;
        alias $TEST_NGINX_SERVER_ROOT/logs/kid.log;
    }
--- request eval
["GET /v1/developer/payment-status", "GET /v1/developer/payment-status",
 "GET /kid"]
--- more_headers eval
["X-V3XY-API-Key: $::Pay\nOrigin: https://shop.example.com",
 "X-V3XY-API-Key: $::Stranger\nSec-Fetch-Site: cross-site", ""]
--- error_code eval
[403, 403, 200]
--- response_body_like eval
[qr/"code":"api_key_origin"/, qr/"code":"api_key_origin"/,
 qr/\A403 api_key_origin v3xy_dev_\.\.\.${\ substr(Digest::SHA::sha256_hex($::Pay), 0, 12)}\n403 api_key_origin v3xy_dev_\.\.\.${\ substr(Digest::SHA::sha256_hex($::Stranger), 0, 12)}\n\z/]



=== TEST 11: a browser without a key gets 401, not api_key_origin
--- request
GET /v1/developer/payment-status?payment_ref=cp_1
--- more_headers
Origin: https://shop.example.com
--- error_code: 401
--- response_body_like: "code":"api_key_missing"



=== TEST 12: a developer key and a session token: 400 credentials_mixed
--- request
GET /v1/developer/payment-status?payment_ref=cp_1
--- more_headers eval
"X-V3XY-API-Key: $::Pay\nAuthorization: Bearer sess_abc"
--- error_code: 400
--- response_body: {"success":false,"error":"Send a developer key or a session token, not both.","code":"credentials_mixed"}



=== TEST 13: two keys: 403 api_key_invalid
--- request
GET /v1/developer/payment-status?payment_ref=cp_1
--- more_headers eval
"X-V3XY-API-Key: $::Pay\nX-V3XY-API-Key: $::Read"
--- error_code: 403
--- response_body_like: "code":"api_key_invalid"



=== TEST 14: limits keyed by the account, $v3xy_account and $v3xy_key_id in the log
--- http_config
    v3xy_limit_zone per_account rate=2r/m key=$v3xy_account;
    log_format gw '$status account=$v3xy_account key=$v3xy_key_id code=$v3xy_error_code';
--- config
    access_log logs/access.log gw;
    v3xy_key_store file=$TEST_NGINX_KEY_STORE;

    location = /v1/developer/payment-status {
        v3xy_scope payments:read;
        v3xy_limit per_account;
        proxy_pass http://127.0.0.1:$TEST_NGINX_ECHO_PORT;
    }
--- pipelined_requests eval
["GET /v1/developer/payment-status", "GET /v1/developer/payment-status",
 "GET /v1/developer/payment-status"]
--- more_headers eval
"X-V3XY-API-Key: $::Pay"
--- error_code eval
[200, 200, 429]
--- access_log eval
[qr/^200 account=acct_1001 key=v3xy_dev_\.\.\.[0-9a-f]{12} code=-$/,
 qr/^429 account=acct_1001 key=v3xy_dev_\.\.\.[0-9a-f]{12} code=rate_limited$/]



=== TEST 15: $v3xy_key_id names a refused key too (unknown, revoked, without the scope), never the key itself
--- http_config
    log_format kid '$status $v3xy_error_code $v3xy_key_id';
--- config
    access_log logs/kid.log kid;

    location = /v1/developer/payments/crypto {
        v3xy_key_store file=$TEST_NGINX_KEY_STORE;
        v3xy_scope payments:create;
        proxy_pass http://127.0.0.1:$TEST_NGINX_ECHO_PORT;
    }

    location = /kid {
        access_log off;
        alias $TEST_NGINX_SERVER_ROOT/logs/kid.log;
    }
--- request eval
["POST /v1/developer/payments/crypto\n{}", "POST /v1/developer/payments/crypto\n{}",
 "POST /v1/developer/payments/crypto\n{}", "GET /kid"]
--- more_headers eval
["X-V3XY-API-Key: $::Stranger", "X-V3XY-API-Key: $::Gone",
 "X-V3XY-API-Key: $::Read", ""]
--- error_code eval
[403, 403, 403, 200]
--- response_body_like eval
[qr/api_key_invalid/, qr/api_key_invalid/, qr/api_key_scope/,
 qr/\A403 api_key_invalid v3xy_dev_\.\.\.[0-9a-f]{12}\n403 api_key_invalid v3xy_dev_\.\.\.[0-9a-f]{12}\n403 api_key_scope v3xy_dev_\.\.\.[0-9a-f]{12}\n\z/]



=== TEST 16: a malformed key store line fails nginx -t with its line number
--- config
    v3xy_key_store file=$TEST_NGINX_BAD_STORE;
--- must_die
--- error_log eval
qr/\[emerg\] .*v3xy_key_store: ".*bad-keys" line 3: a scope that is not 1 to 32 characters/



=== TEST 17: a key listed twice fails nginx -t
--- config
    v3xy_key_store file=$TEST_NGINX_DUP_STORE;
--- must_die
--- error_log eval
qr/\[emerg\] .*v3xy_key_store: ".*dup-keys" lists one key twice/



=== TEST 18: a key store in Redis needs v3xy_redis (t/051 tests the store itself)
--- config
    v3xy_key_store redis;
--- must_die
--- error_log eval
qr/\[emerg\] .*"v3xy_key_store redis" in .* needs v3xy_redis in the http block/



=== TEST 19: a location with both a key store and a key file is a configuration error
--- user_files
>>> key
v3xy_dev_Sidecar_and_Gateway_00000000
--- config
    v3xy_key_store file=$TEST_NGINX_KEY_STORE;

    location /v1/ {
        v3xy_api_key_file ../html/key;
    }
--- must_die
--- error_log eval
qr/\[emerg\] .*v3xy_key_store and v3xy_api_key_file cannot both apply/



=== TEST 20: a client cannot speak for another account: its X-V3XY-Account is dropped
--- request
GET /v1/developer/payment-status?payment_ref=cp_1
--- more_headers eval
"X-V3XY-API-Key: $::Read\nX-V3XY-Account: acct_victim\nx-v3xy-account: acct_victim2"
--- error_code: 200
--- response_body_filters eval: $::Account
--- response_body eval: "X-V3XY-Account: acct_2002\r\n"



=== TEST 21: after an internal redirect (try_files to a named location) the key stays checked, once
--- config
    v3xy_key_store file=$TEST_NGINX_KEY_STORE;

    location /v1/ {
        try_files /nonexistent @gateway;
    }

    location @gateway {
        proxy_pass http://127.0.0.1:$TEST_NGINX_ECHO_PORT;
    }
--- request
GET /v1/developer/payment-status?payment_ref=cp_1
--- more_headers eval
"X-V3XY-API-Key: $::Read"
--- error_code: 200
--- response_body_filters eval: $::Account
--- response_body eval: "X-V3XY-Account: acct_2002\r\n"



=== TEST 22: a key whose secret has "+", "/", "=" and "." and 10 characters is a key: checked against the store, admitted
--- request
GET /v1/developer/payment-status
--- more_headers eval
"X-V3XY-API-Key: $::B64"
--- error_code: 200
--- response_body_filters eval: $::Account
--- response_body eval: "X-V3XY-Account: acct_3003\r\n"
--- no_error_log eval
[$::B64, '[warn]']



=== TEST 23: a key with a space inside is still malformed: 403 api_key_invalid
--- request
GET /v1/developer/payment-status
--- more_headers
X-V3XY-API-Key: v3xy_dev_Ab+/9. x=yZ
--- error_code: 403
--- response_body_like: "code":"api_key_invalid"
