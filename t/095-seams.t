# Every path nginx can give a request, crossed with the module's promises.
# The key exists only in the upstream request of a location that injects
# it: error_page (with proxy_intercept_errors, to a URI or a named
# location), X-Accel-Redirect, try_files, auth_request, mirror and SSI
# subrequests never carry it to another upstream, and a location that
# injects gets exactly one copy of its own key whatever path led there.
# Client-sent copies go in every spelling; a session (Authorization) goes
# without the developer key.  Gateway scopes and limits belong to the
# location that serves the request.  Secret files that are not regular
# files are refused without blocking.
#
# "The API" is a server of the nginx under test ($TEST_NGINX_API_PORT) that
# answers 404 or X-Accel-Redirect as a test needs; the third party is a
# recorder (t/lib/V3xy.pm) that tells, at /recorded, what reached it.

use lib 't/lib';
use Digest::SHA qw(sha256_hex hmac_sha256_hex);
use POSIX qw(mkfifo);
use Test::Nginx::Socket 'no_plan';
use V3xy qw(key_file start_echo start_recorder header_lines free_port);

our $Key = 'v3xy_dev_Sidecar_Secret-0123456789abcdef';
our $Other = 'v3xy_dev_OtherLocationSecret9876543210';
our $Read = 'v3xy_dev_GatewayReadOnly_0123456789ab';

$ENV{TEST_NGINX_KEY} = key_file('key', "$Key\n");
$ENV{TEST_NGINX_OTHER_KEY} = key_file('other', "$Other\n");
$ENV{TEST_NGINX_KEY_STORE} = key_file('keys',
    sha256_hex($Read) . " acct_2002 payments:read\n");
$ENV{TEST_NGINX_API_PORT} = free_port();
$ENV{TEST_NGINX_WHSEC_A} = key_file('whsec_a', "whsec_location_a_0123\n");
$ENV{TEST_NGINX_WHSEC_B} = key_file('whsec_b', "whsec_location_b_4567\n");

# a delivery signed under location A's secret, its own body
sub delivery {
    my ($n) = @_;
    my $t = time;
    my $body = qq({"type":"payment.confirmed","data":{"payment_ref":"cp_$n"}});
    return ($body, "t=$t,v1=" . hmac_sha256_hex("$t.$body",
                                                'whsec_location_a_0123'));
}

my $fifo = key_file('placeholder', '') =~ s{placeholder\z}{fifo}r;
mkfifo($fifo, 0600) or die "mkfifo $fifo: $!";
$ENV{TEST_NGINX_FIFO} = $fifo;

start_echo();
start_recorder();

our $KeyHeader = header_lines('x-v3xy-api-key');
our $Account = header_lines('x-v3xy-account');
our $Credentials = sub {
    join '', grep { /^(?:x[-_]v3xy[-_]api[-_]key|authorization):/i }
        split /(?<=\n)/, ($_[0] =~ /\A(.*?\r\n)\r\n/s)[0] // '';
};

our $Api = <<'_EOC_';
    server {
        listen 127.0.0.1:$TEST_NGINX_API_PORT;

        location /v1/missing {
            return 404;
        }

        location /v1/accel-uri {
            add_header X-Accel-Redirect /internal-other;
            return 200;
        }

        location /v1/accel-named {
            add_header X-Accel-Redirect @other;
            return 200;
        }

        location /v1/accel-key {
            add_header X-Accel-Redirect /other-key/;
            return 200;
        }

        location /v1/ssi {
            default_type text/html;
            return 200 '<!--# include virtual="/third/ssi" -->';
        }

        location /gw/read {
            add_header X-Accel-Redirect /gw/hooks;
            return 200;
        }

        location /lim/a {
            add_header X-Accel-Redirect /lim/b;
            return 200;
        }

        location /hooks/a {
            add_header X-Accel-Redirect /hooks/b;
            return 200;
        }

        location /mail/a {
            add_header X-Accel-Redirect /mail/b;
            return 200;
        }

        location / {
            return 200 "api\n";
        }
    }
_EOC_

add_block_preprocessor(sub {
    my $block = shift;

    $block->set_value('http_config', $Api) unless defined $block->http_config;
});

no_long_string();
no_shuffle();
run_tests();

__DATA__

=== TEST 1: the key does not follow error_page (proxy_intercept_errors) to another upstream
--- config
    v3xy_api_key_file $TEST_NGINX_KEY;

    location /v1/ {
        proxy_pass http://127.0.0.1:$TEST_NGINX_API_PORT;
        proxy_intercept_errors on;
        error_page 404 = /elsewhere;
    }

    location /elsewhere {
        v3xy_api_key_file off;
        proxy_pass http://127.0.0.1:$TEST_NGINX_RECORDER_PORT;
    }

    location = /recorded {
        v3xy_api_key_file off;
        proxy_pass http://127.0.0.1:$TEST_NGINX_RECORDER_PORT/__recorded;
    }
--- request eval
["GET /v1/missing", "GET /recorded"]
--- response_body_like eval
[qr{\Arecorded\n\z}, qr{\AGET /elsewhere HTTP/1\.[01]\r\n\z}]
--- no_error_log
[error]



=== TEST 2: the key does not follow error_page to a named location
--- config
    v3xy_api_key_file $TEST_NGINX_KEY;

    location /v1/ {
        proxy_pass http://127.0.0.1:$TEST_NGINX_API_PORT;
        proxy_intercept_errors on;
        error_page 404 = @elsewhere;
    }

    location @elsewhere {
        v3xy_api_key_file off;
        proxy_pass http://127.0.0.1:$TEST_NGINX_RECORDER_PORT;
    }

    location = /recorded {
        v3xy_api_key_file off;
        proxy_pass http://127.0.0.1:$TEST_NGINX_RECORDER_PORT/__recorded;
    }
--- request eval
["GET /v1/missing", "GET /recorded"]
--- response_body_like eval
[qr{\Arecorded\n\z}, qr{\AGET /v1/missing HTTP/1\.[01]\r\n\z}]



=== TEST 3: the key does not follow X-Accel-Redirect to an internal location
--- config
    v3xy_api_key_file $TEST_NGINX_KEY;

    location /v1/ {
        proxy_pass http://127.0.0.1:$TEST_NGINX_API_PORT;
    }

    location /internal-other {
        internal;
        v3xy_api_key_file off;
        proxy_pass http://127.0.0.1:$TEST_NGINX_RECORDER_PORT;
    }

    location = /recorded {
        v3xy_api_key_file off;
        proxy_pass http://127.0.0.1:$TEST_NGINX_RECORDER_PORT/__recorded;
    }
--- request eval
["GET /v1/accel-uri", "GET /recorded"]
--- response_body_like eval
[qr{\Arecorded\n\z}, qr{\AGET /internal-other HTTP/1\.[01]\r\n\z}]



=== TEST 4: the key does not follow X-Accel-Redirect to a named location
--- config
    v3xy_api_key_file $TEST_NGINX_KEY;

    location /v1/ {
        proxy_pass http://127.0.0.1:$TEST_NGINX_API_PORT;
    }

    location @other {
        v3xy_api_key_file off;
        proxy_pass http://127.0.0.1:$TEST_NGINX_RECORDER_PORT;
    }

    location = /recorded {
        v3xy_api_key_file off;
        proxy_pass http://127.0.0.1:$TEST_NGINX_RECORDER_PORT/__recorded;
    }
--- request eval
["GET /v1/accel-named", "GET /recorded"]
--- response_body_like eval
[qr{\Arecorded\n\z}, qr{\AGET /v1/accel-named HTTP/1\.[01]\r\n\z}]



=== TEST 5: an auth_request subrequest to a third party does not carry the key
--- config
    v3xy_api_key_file $TEST_NGINX_KEY;

    location /v1/ {
        auth_request /auth;
        proxy_pass http://127.0.0.1:$TEST_NGINX_API_PORT;
    }

    location = /auth {
        internal;
        v3xy_api_key_file off;
        proxy_pass_request_body off;
        proxy_set_header Content-Length "";
        proxy_pass http://127.0.0.1:$TEST_NGINX_RECORDER_PORT;
    }

    location = /recorded {
        v3xy_api_key_file off;
        proxy_pass http://127.0.0.1:$TEST_NGINX_RECORDER_PORT/__recorded;
    }
--- request eval
["GET /v1/developer/wallets", "GET /recorded"]
--- response_body_like eval
[qr{\Aapi\n\z}, qr{\AGET /auth HTTP/1\.[01]\r\n\z}]



=== TEST 6: a mirror subrequest to a third party does not carry the key
--- config
    v3xy_api_key_file $TEST_NGINX_KEY;

    location /v1/ {
        mirror /mirror;
        proxy_pass http://127.0.0.1:$TEST_NGINX_API_PORT;
    }

    location = /mirror {
        internal;
        v3xy_api_key_file off;
        proxy_pass http://127.0.0.1:$TEST_NGINX_RECORDER_PORT;
    }

    location = /recorded {
        v3xy_api_key_file off;
        proxy_pass http://127.0.0.1:$TEST_NGINX_RECORDER_PORT/__recorded;
    }
--- request eval
["GET /v1/developer/wallets", "GET /recorded"]
--- response_body_like eval
[qr{\Aapi\n\z}, qr{\AGET /mirror HTTP/1\.[01]\r\n\z}]



=== TEST 7: the main request still carries the key after its mirror and auth subrequests
--- config
    v3xy_api_key_file $TEST_NGINX_KEY;

    location /v1/ {
        auth_request /auth;
        mirror /mirror;
        proxy_pass http://127.0.0.1:$TEST_NGINX_ECHO_PORT;
    }

    location = /auth {
        internal;
        v3xy_api_key_file off;
        proxy_pass http://127.0.0.1:$TEST_NGINX_ECHO_PORT;
    }

    location = /mirror {
        internal;
        v3xy_api_key_file off;
        proxy_pass http://127.0.0.1:$TEST_NGINX_ECHO_PORT;
    }
--- request
GET /v1/developer/wallets
--- response_body_filters eval: $::KeyHeader
--- response_body eval: "X-V3XY-API-Key: $::Key\r\n"



=== TEST 8: the key does not follow try_files to a named location
--- config
    v3xy_api_key_file $TEST_NGINX_KEY;

    location /v1/ {
        root html;
        try_files $uri @third;
    }

    location @third {
        v3xy_api_key_file off;
        proxy_pass http://127.0.0.1:$TEST_NGINX_RECORDER_PORT;
    }

    location = /recorded {
        v3xy_api_key_file off;
        proxy_pass http://127.0.0.1:$TEST_NGINX_RECORDER_PORT/__recorded;
    }
--- request eval
["GET /v1/no-such-file", "GET /recorded"]
--- response_body_like eval
[qr{\Arecorded\n\z}, qr{\AGET /v1/no-such-file HTTP/1\.[01]\r\n\z}]



=== TEST 9: the key does not follow try_files to a URI
--- config
    v3xy_api_key_file $TEST_NGINX_KEY;

    location /v1/ {
        root html;
        try_files $uri /third/fallback;
    }

    location /third/ {
        v3xy_api_key_file off;
        proxy_pass http://127.0.0.1:$TEST_NGINX_RECORDER_PORT;
    }

    location = /recorded {
        v3xy_api_key_file off;
        proxy_pass http://127.0.0.1:$TEST_NGINX_RECORDER_PORT/__recorded;
    }
--- request eval
["GET /v1/no-such-file", "GET /recorded"]
--- response_body_like eval
[qr{\Arecorded\n\z}, qr{\AGET /third/fallback HTTP/1\.[01]\r\n\z}]



=== TEST 10: an SSI include of a third party in an injecting location does not carry the key
--- config
    v3xy_api_key_file $TEST_NGINX_KEY;

    location /v1/ {
        ssi on;
        proxy_pass http://127.0.0.1:$TEST_NGINX_API_PORT;
    }

    location /third/ {
        v3xy_api_key_file off;
        proxy_pass http://127.0.0.1:$TEST_NGINX_RECORDER_PORT;
    }

    location = /recorded {
        v3xy_api_key_file off;
        proxy_pass http://127.0.0.1:$TEST_NGINX_RECORDER_PORT/__recorded;
    }
--- request eval
["GET /v1/ssi", "GET /recorded"]
--- response_body_like eval
[qr{\Arecorded\n\z}, qr{\AGET /third/ssi HTTP/1\.[01]\r\n\z}]



=== TEST 11: rewrite ... last out of an injecting location: no key to the third party
--- config
    v3xy_api_key_file $TEST_NGINX_KEY;

    location /v1/ {
        rewrite ^/v1/(.*)$ /third/$1 last;
        proxy_pass http://127.0.0.1:$TEST_NGINX_API_PORT;
    }

    location /third/ {
        v3xy_api_key_file off;
        proxy_pass http://127.0.0.1:$TEST_NGINX_RECORDER_PORT;
    }

    location = /recorded {
        v3xy_api_key_file off;
        proxy_pass http://127.0.0.1:$TEST_NGINX_RECORDER_PORT/__recorded;
    }
--- request eval
["GET /v1/anything", "GET /recorded"]
--- response_body_like eval
[qr{\Arecorded\n\z}, qr{\AGET /third/anything HTTP/1\.[01]\r\n\z}]



=== TEST 12: a location reached by X-Accel-Redirect from another key's location gets exactly one copy of its own key
--- config
    location /v1/ {
        v3xy_api_key_file $TEST_NGINX_KEY;
        proxy_pass http://127.0.0.1:$TEST_NGINX_API_PORT;
    }

    location /other-key/ {
        internal;
        v3xy_api_key_file $TEST_NGINX_OTHER_KEY;
        proxy_pass http://127.0.0.1:$TEST_NGINX_ECHO_PORT;
    }
--- request
GET /v1/accel-key
--- response_body_filters eval: $::KeyHeader
--- response_body eval: "X-V3XY-API-Key: $::Other\r\n"



=== TEST 13: an SSI subrequest into an injecting location gets the key, once, in its own headers
--- config
    location = /page {
        ssi on;
        default_type text/html;
        return 200 '<!--# include virtual="/v1/inc" -->';
    }

    location /v1/ {
        v3xy_api_key_file $TEST_NGINX_KEY;
        proxy_pass http://127.0.0.1:$TEST_NGINX_ECHO_PORT;
    }
--- request
GET /page
--- more_headers
X-V3XY-API-Key: v3xy_dev_ClientSentKeyMustNotPass0000
--- response_body_filters eval: $::KeyHeader
--- response_body eval: "X-V3XY-API-Key: $::Key\r\n"



=== TEST 14: a browser's request gets no key through an SSI subrequest either
--- config
    location = /page {
        ssi on;
        default_type text/html;
        return 200 '<!--# include virtual="/v1/inc" -->';
    }

    location /v1/ {
        v3xy_api_key_file $TEST_NGINX_KEY;
        proxy_pass http://127.0.0.1:$TEST_NGINX_ECHO_PORT;
    }
--- request
GET /page
--- more_headers
Origin: https://shop.example
--- response_body_like: "code":"api_key_origin"
--- log_level: info
--- error_log
api_key_origin: browser request ("Origin" header)
--- no_error_log
v3xy_dev_Sidecar_Secret



=== TEST 15: with underscores_in_headers, client keys spelled with "_" are dropped too
--- config
    underscores_in_headers on;

    location /v1/ {
        v3xy_api_key_file $TEST_NGINX_KEY;
        proxy_pass http://127.0.0.1:$TEST_NGINX_ECHO_PORT;
    }
--- request
GET /v1/developer/wallets
--- more_headers
X_V3XY_API_KEY: v3xy_dev_ClientUnderscoreKey_00000000
X-V3XY_API-KEY: v3xy_dev_ClientMixedKey_0000000000000
x_v3xy_api_key: v3xy_dev_ClientLowerKey_0000000000000
--- response_body_filters eval: $::Credentials
--- response_body eval: "X-V3XY-API-Key: $::Key\r\n"
--- log_level: info
--- error_log
dropped 3 client-sent X-V3XY-API-Key header(s)



=== TEST 16: a session (Authorization) goes without the developer key
--- config
    location /v1/ {
        v3xy_api_key_file $TEST_NGINX_KEY;
        proxy_pass http://127.0.0.1:$TEST_NGINX_ECHO_PORT;
    }
--- request
GET /v1/developer/api-keys
--- more_headers
Authorization: Bearer sess_0123456789
X-V3XY-API-Key: v3xy_dev_ClientSentKeyMustNotPass0000
--- response_body_filters eval: $::Credentials
--- response_body eval: "Authorization: Bearer sess_0123456789\r\n"
--- log_level: info
--- error_log eval
qr/\[info\] .*v3xy: the request carries Authorization \(a session\): sent without the developer key v3xy_dev_\.\.\.[0-9a-f]{12}/
--- no_error_log
v3xy_dev_Sidecar_Secret



=== TEST 17: a gateway scope is judged again after X-Accel-Redirect into another location
--- config
    v3xy_key_store file=$TEST_NGINX_KEY_STORE;

    location /gw/read {
        v3xy_scope payments:read;
        proxy_pass http://127.0.0.1:$TEST_NGINX_API_PORT;
    }

    location /gw/hooks {
        internal;
        v3xy_scope webhooks:manage;
        proxy_pass http://127.0.0.1:$TEST_NGINX_ECHO_PORT;
    }
--- request
GET /gw/read
--- more_headers eval
"X-V3XY-API-Key: $::Read"
--- error_code: 403
--- response_body_like: "code":"api_key_scope"



=== TEST 18: after X-Accel-Redirect, the scope of a location that the key has still passes
--- config
    v3xy_key_store file=$TEST_NGINX_KEY_STORE;

    location /gw/read {
        v3xy_scope payments:read;
        proxy_pass http://127.0.0.1:$TEST_NGINX_API_PORT;
    }

    location /gw/hooks {
        internal;
        v3xy_scope payments:read;
        proxy_pass http://127.0.0.1:$TEST_NGINX_ECHO_PORT;
    }
--- request
GET /gw/read
--- more_headers eval
"X-V3XY-API-Key: $::Read"
--- response_body_filters eval: $::Account
--- response_body eval: "X-V3XY-Account: acct_2002\r\n"



=== TEST 19: a zone of the location reached by X-Accel-Redirect applies there, not the first location's verdict
--- http_config eval
$::Api . 'v3xy_limit_zone only_a rate=100r/m key=$remote_addr;
          v3xy_limit_zone only_b rate=1r/m key=$remote_addr;'
--- config
    location /lim/a {
        v3xy_api_key_file $TEST_NGINX_KEY;
        v3xy_limit only_a;
        proxy_pass http://127.0.0.1:$TEST_NGINX_API_PORT;
    }

    location /lim/b {
        internal;
        v3xy_api_key_file $TEST_NGINX_KEY;
        v3xy_limit only_b;
        proxy_pass http://127.0.0.1:$TEST_NGINX_ECHO_PORT;
    }
--- request eval
["GET /lim/a", "GET /lim/a"]
--- error_code eval
[200, 429]



=== TEST 20: a zone counts a request once, however many of its locations it crosses
--- http_config eval: $::Api . 'v3xy_limit_zone both rate=2r/m key=$remote_addr;'
--- config
    location /lim/a {
        v3xy_api_key_file $TEST_NGINX_KEY;
        v3xy_limit both;
        proxy_pass http://127.0.0.1:$TEST_NGINX_API_PORT;
    }

    location /lim/b {
        internal;
        v3xy_api_key_file $TEST_NGINX_KEY;
        v3xy_limit both;
        proxy_pass http://127.0.0.1:$TEST_NGINX_ECHO_PORT;
    }
--- request eval
["GET /lim/a", "GET /lim/a", "GET /lim/a"]
--- error_code eval
[200, 200, 429]



=== TEST 21: a FIFO as the key file is refused at once, not waited on
--- config
    location /v1/ {
        v3xy_api_key_file $TEST_NGINX_FIFO;
    }
--- must_die
--- error_log eval
qr/\[emerg\] .*v3xy_api_key_file: ".*\/fifo" is not a regular file/



=== TEST 22: a FIFO as a webhook secret file is refused at once
--- config
    location /hooks {
        v3xy_webhook_secret_file $TEST_NGINX_FIFO;
    }
--- must_die
--- error_log eval
qr/\[emerg\] .*v3xy_webhook_secret_file: ".*\/fifo" is not a regular file/



=== TEST 23: a FIFO as the key store is refused at once
--- config
    location /v1/ {
        v3xy_key_store file=$TEST_NGINX_FIFO;
    }
--- must_die
--- error_log eval
qr/\[emerg\] .*v3xy_key_store: ".*\/fifo" is not a regular file/



=== TEST 24: a FIFO as the Redis password file is refused at once
--- http_config eval
$::Api . 'v3xy_redis 127.0.0.1:6379 password_file=$TEST_NGINX_FIFO;'
--- config
    location /t {
        return 204;
    }
--- must_die
--- error_log eval
qr/\[emerg\] .*v3xy_redis password_file: ".*\/fifo" is not a regular file/



=== TEST 25: a subrequest's refusal is its own: the main request's $v3xy_error_code stays empty
--- config
    location = /start {
        error_page 418 = /page;
        return 418;
    }

    location = /page {
        ssi on;
        default_type text/html;
        return 200 '<!--# include virtual="/v1/inc" wait="yes" -->[<!--# echo var="v3xy_error_code" default="" -->]';
    }

    location /v1/ {
        v3xy_api_key_file $TEST_NGINX_KEY;
        proxy_pass http://127.0.0.1:$TEST_NGINX_ECHO_PORT;
    }
--- request
GET /start
--- more_headers
Origin: https://shop.example
--- response_body_like: "code":"api_key_origin"\}\[\]\z



=== TEST 26: a delivery verified in one location is verified again under the secrets of the location an X-Accel-Redirect finds
--- config
    location /hooks/a {
        v3xy_webhook_secret_file $TEST_NGINX_WHSEC_A;
        proxy_pass http://127.0.0.1:$TEST_NGINX_API_PORT;
    }

    location /hooks/b {
        internal;
        v3xy_webhook_secret_file $TEST_NGINX_WHSEC_B;
        proxy_pass http://127.0.0.1:$TEST_NGINX_ECHO_PORT;
    }
--- request eval
my ($b) = main::delivery(26); "POST /hooks/a\n$b"
--- more_headers eval
my (undef, $sig) = main::delivery(26); "X-V3XY-Signature: $sig"
--- error_code: 401
--- response_body_like: "code":"webhook_signature_invalid"



=== TEST 27: a delivery that a later location's zone refused is not marked: its retry is judged by the zone again, not taken for a replay
--- http_config eval
$::Api . 'v3xy_limit_zone hooks rate=1r/m key=$remote_addr;'
--- config
    location /hooks/a {
        v3xy_webhook_secret_file $TEST_NGINX_WHSEC_A;
        proxy_pass http://127.0.0.1:$TEST_NGINX_API_PORT;
    }

    location /hooks/b {
        internal;
        v3xy_webhook_secret_file $TEST_NGINX_WHSEC_A;
        v3xy_limit hooks;
        proxy_pass http://127.0.0.1:$TEST_NGINX_ECHO_PORT;
    }
--- request eval
my ($b1) = main::delivery(271); my ($b2) = main::delivery(272);
["POST /hooks/a\n$b1", "POST /hooks/a\n$b2", "POST /hooks/a\n$b2"]
--- more_headers eval
my (undef, $s1) = main::delivery(271); my (undef, $s2) = main::delivery(272);
["X-V3XY-Signature: $s1", "X-V3XY-Signature: $s2", "X-V3XY-Signature: $s2"]
--- error_code eval
[200, 429, 429]



=== TEST 28: a delivery that the next location's secrets refused after its replay guard admitted it is not marked: its retry is refused by the signature again, not taken for a replay
--- config
    location /hooks/a {
        v3xy_webhook_secret_file $TEST_NGINX_WHSEC_A;
        proxy_pass http://127.0.0.1:$TEST_NGINX_API_PORT;
    }

    location /hooks/b {
        internal;
        v3xy_webhook_secret_file $TEST_NGINX_WHSEC_B;
        proxy_pass http://127.0.0.1:$TEST_NGINX_ECHO_PORT;
    }
--- request eval
my ($b) = main::delivery(28);
["POST /hooks/a\n$b", "POST /hooks/a\n$b"]
--- more_headers eval
my (undef, $sig) = main::delivery(28);
["X-V3XY-Signature: $sig", "X-V3XY-Signature: $sig"]
--- error_code eval
[401, 401]
--- response_body_like eval
['"code":"webhook_signature_invalid"', '"code":"webhook_signature_invalid"']



=== TEST 29: a recipient's key follows the serving location's v3xy_body_email_subaddress after an X-Accel-Redirect: the redirected location keeps the +tag its first location folded
--- http_config eval
$::Api . 'v3xy_limit_zone mail_a rate=100r/m key=$v3xy_body_email;
v3xy_limit_zone mail_b rate=100r/m key=$v3xy_body_email;'
--- config
    location /mail/a {
        v3xy_body_email_subaddress fold;
        v3xy_limit mail_a;
        proxy_pass http://127.0.0.1:$TEST_NGINX_API_PORT;
    }

    location /mail/b {
        internal;
        v3xy_body_email_subaddress keep;
        v3xy_limit mail_b;
        add_header X-Recipient $v3xy_body_email;
        proxy_pass http://127.0.0.1:$TEST_NGINX_ECHO_PORT;
    }
--- request
POST /mail/a
{"email":"Victim+1@x.com"}
--- more_headers
Content-Type: application/json
--- error_code: 200
--- response_headers
X-Recipient: victim+1@x.com
