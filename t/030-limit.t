# Rate limits in shared memory (no v3xy_redis): exact rolling windows,
# GCRA with burst=, several zones per location, 429 + Retry-After as the
# API's JSON, and the RateLimit / RateLimit-Policy fields.

use lib 't/lib';
use Test::Nginx::Socket 'no_plan';
use V3xy qw(start_echo http_get);

start_echo();

our $Limited = qr/\A\{"success":false,"error":"Rate limited: retry after the number of seconds in Retry-After\.","code":"rate_limited"\}\z/;

add_block_preprocessor(sub {
    my $block = shift;

    $block->set_value('http_config', <<'_EOC_') unless defined $block->http_config;
    v3xy_limit_zone create rate=3r/m key=$http_x_merchant;
    v3xy_limit_zone status rate=5r/m key=$http_x_merchant;
    v3xy_limit_zone fast rate=10r/m key=$http_x_merchant burst=3;
_EOC_
});

no_shuffle();
no_long_string();
run_tests();

__DATA__

=== TEST 1: three admitted, the fourth refused with 429, Retry-After and the JSON
--- config
    location /v1/ {
        v3xy_limit create;
        proxy_pass http://127.0.0.1:$TEST_NGINX_ECHO_PORT;
    }
--- pipelined_requests eval
["GET /v1/a", "GET /v1/a", "GET /v1/a", "GET /v1/a"]
--- more_headers
X-Merchant: m1
--- error_code eval
[200, 200, 200, 429]
--- response_body_like eval
[qr/^GET/, qr/^GET/, qr/^GET/, $::Limited]
--- response_headers_like eval
["RateLimit-Policy: \"create\";q=3;w=60\nRateLimit: \"create\";r=2;t=60",
 "RateLimit: \"create\";r=1;t=(59|60)",
 "RateLimit: \"create\";r=0;t=(59|60)",
 "Content-Type: application/json\nRetry-After: (59|60)\nRateLimit-Policy: \"create\";q=3;w=60\nRateLimit: \"create\";r=0;t=(59|60)"]



=== TEST 2: the refusal is logged at info with the zone, never the key
--- config
    location /v1/ {
        v3xy_limit create;
        proxy_pass http://127.0.0.1:$TEST_NGINX_ECHO_PORT;
    }
--- init
V3xy::http_get('/v1/a', 'X-Merchant' => 'secret-merchant-key') for 1 .. 3;
--- request
GET /v1/a
--- more_headers
X-Merchant: secret-merchant-key
--- error_code: 429
--- log_level: info
--- error_log eval
qr/\[info\] .*v3xy: rate_limited: zone "create" \(3 per 60 s\) refused the request, retry after (59|60) s/
--- no_error_log
secret-merchant-key



=== TEST 3: keys are counted apart
--- config
    location /v1/ {
        v3xy_limit create;
        proxy_pass http://127.0.0.1:$TEST_NGINX_ECHO_PORT;
    }
--- request eval
["GET /v1/a", "GET /v1/a", "GET /v1/a", "GET /v1/b"]
--- more_headers eval
["X-Merchant: m1", "X-Merchant: m1", "X-Merchant: m1", "X-Merchant: m2"]
--- error_code eval
[200, 200, 200, 200]
--- response_headers_like eval
["RateLimit: \"create\";r=2;t=60", "RateLimit: \"create\";r=1;t=\\d+",
 "RateLimit: \"create\";r=0;t=\\d+", "RateLimit: \"create\";r=2;t=60"]



=== TEST 4: a request whose key is empty is not counted and gets no fields
--- config
    location /v1/ {
        v3xy_limit create;
        proxy_pass http://127.0.0.1:$TEST_NGINX_ECHO_PORT;
    }
--- pipelined_requests eval
["GET /v1/a", "GET /v1/a", "GET /v1/a", "GET /v1/a"]
--- error_code eval
[200, 200, 200, 200]
--- response_headers eval
["!RateLimit\n!RateLimit-Policy\n!Retry-After", "!RateLimit", "!RateLimit",
 "!RateLimit\n!Retry-After"]



=== TEST 5: every zone must admit; the tightest one is reported
--- config
    location /v1/ {
        v3xy_limit status create;
        proxy_pass http://127.0.0.1:$TEST_NGINX_ECHO_PORT;
    }
--- pipelined_requests eval
["GET /v1/a", "GET /v1/a", "GET /v1/a", "GET /v1/a"]
--- more_headers
X-Merchant: m3
--- error_code eval
[200, 200, 200, 429]
--- response_headers_like eval
["RateLimit: \"create\";r=2;t=60", "RateLimit: \"create\";r=1;t=\\d+",
 "RateLimit: \"create\";r=0;t=\\d+", "RateLimit: \"create\";r=0;t=\\d+"]



=== TEST 6: a request one zone refuses costs the other zones nothing
--- config
    location /both/ {
        v3xy_limit status create;
        proxy_pass http://127.0.0.1:$TEST_NGINX_ECHO_PORT;
    }

    location /status/ {
        v3xy_limit status;
        proxy_pass http://127.0.0.1:$TEST_NGINX_ECHO_PORT;
    }
--- pipelined_requests eval
["GET /both/a", "GET /both/a", "GET /both/a", "GET /both/a", "GET /both/a",
 "GET /status/a"]
--- more_headers
X-Merchant: m4
--- error_code eval
[200, 200, 200, 429, 429, 200]
--- response_headers_like eval
["", "", "", "", "", "RateLimit: \"status\";r=1;t=\\d+"]



=== TEST 7: GCRA with burst=3 admits a burst of three at once, then one per 6 s
--- config
    location /v1/ {
        v3xy_limit fast;
        proxy_pass http://127.0.0.1:$TEST_NGINX_ECHO_PORT;
    }
--- pipelined_requests eval
["GET /v1/a", "GET /v1/a", "GET /v1/a", "GET /v1/a"]
--- more_headers
X-Merchant: m5
--- error_code eval
[200, 200, 200, 429]
--- response_headers_like eval
["RateLimit-Policy: \"fast\";q=10;w=60\nRateLimit: \"fast\";r=2;t=6",
 "RateLimit: \"fast\";r=1;t=6", "RateLimit: \"fast\";r=0;t=6",
 "Retry-After: 6\nRateLimit: \"fast\";r=0;t=6"]



=== TEST 8: the window rolls: after one second a 2r/s zone admits again
--- http_config
    v3xy_limit_zone two rate=2r/s key=$http_x_merchant;
--- config
    location /v1/ {
        v3xy_limit two;
        proxy_pass http://127.0.0.1:$TEST_NGINX_ECHO_PORT;
    }
--- init
my @got = map { V3xy::http_get('/v1/a', 'X-Merchant' => 'm6') } 1 .. 3;
Test::More::is("@got", "200 200 429", 'TEST 8: two admitted, the third refused');
sleep 1.05;
--- request
GET /v1/a
--- more_headers
X-Merchant: m6
--- error_code: 200
--- response_headers_like
RateLimit: "two";r=\d;t=1



=== TEST 9: $v3xy_limit_remaining and $v3xy_error_code in the access log
--- http_config
    v3xy_limit_zone create rate=3r/m key=$http_x_merchant;
    log_format v3xy '$request_uri $status rem=$v3xy_limit_remaining code=$v3xy_error_code';
--- config
    access_log logs/access.log v3xy;

    location /v1/ {
        v3xy_limit create;
        proxy_pass http://127.0.0.1:$TEST_NGINX_ECHO_PORT;
    }
--- pipelined_requests eval
["GET /v1/a", "GET /v1/b", "GET /v1/c", "GET /v1/d"]
--- more_headers
X-Merchant: m7
--- error_code eval
[200, 200, 200, 429]
--- access_log
/v1/a 200 rem=2 code=-
/v1/c 200 rem=0 code=-
/v1/d 429 rem=0 code=rate_limited



=== TEST 10: "v3xy_limit off" turns an inherited limit off
--- config
    v3xy_limit create;

    location /v1/ {
        proxy_pass http://127.0.0.1:$TEST_NGINX_ECHO_PORT;
    }

    location /health {
        v3xy_limit off;
        proxy_pass http://127.0.0.1:$TEST_NGINX_ECHO_PORT;
    }
--- pipelined_requests eval
["GET /health", "GET /health", "GET /health", "GET /health", "GET /v1/a"]
--- more_headers
X-Merchant: m8
--- error_code eval
[200, 200, 200, 200, 200]
--- response_headers_like eval
["", "", "", "", "RateLimit: \"create\";r=2;t=60"]



=== TEST 11: a refused browser request is not counted
--- user_files
>>> key
v3xy_dev_Limit_Test_Secret_00000000
--- config
    location /v1/ {
        v3xy_api_key_file ../html/key;
        v3xy_limit create;
        proxy_pass http://127.0.0.1:$TEST_NGINX_ECHO_PORT;
    }
--- request eval
["GET /v1/a", "GET /v1/a", "GET /v1/a"]
--- more_headers eval
["X-Merchant: m9\r\nOrigin: https://x.example", "X-Merchant: m9\r\nOrigin: https://x.example",
 "X-Merchant: m9"]
--- error_code eval
[403, 403, 200]
--- response_headers_like eval
["", "", "RateLimit: \"create\";r=2;t=60"]
--- response_body_like eval
[qr/api_key_origin/, qr/api_key_origin/, qr/X-V3XY-API-Key: v3xy_dev_Limit_Test_Secret_00000000/]



=== TEST 12: a key longer than 128 bytes is counted by its digest
--- config
    location /v1/ {
        v3xy_limit create;
        proxy_pass http://127.0.0.1:$TEST_NGINX_ECHO_PORT;
    }
--- pipelined_requests eval
["GET /v1/a", "GET /v1/a", "GET /v1/a", "GET /v1/a"]
--- more_headers eval
"X-Merchant: " . ("k" x 5000)
--- error_code eval
[200, 200, 200, 429]



=== TEST 13: an unknown zone is a configuration error
--- config
    location /v1/ {
        v3xy_limit nosuch;
    }
--- must_die
--- error_log eval
qr/\[emerg\] .*unknown v3xy_limit_zone "nosuch"/



=== TEST 14: a bad rate is a configuration error
--- http_config
    v3xy_limit_zone bad rate=60r/w key=$remote_addr;
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid rate "rate=60r\/w": use Nr\/s, Nr\/m, Nr\/h or Nr\/d/



=== TEST 15: a zone without key= is a configuration error
--- http_config
    v3xy_limit_zone bad rate=60r/m;
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*v3xy_limit_zone "bad" needs rate= and key=/



=== TEST 16: two zones of one name are a configuration error
--- http_config
    v3xy_limit_zone twice rate=60r/m key=$remote_addr;
    v3xy_limit_zone twice rate=60r/m key=$remote_addr;
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*duplicate v3xy_limit_zone "twice"/



=== TEST 17: a zone named twice in one v3xy_limit is a configuration error
--- config
    location /v1/ {
        v3xy_limit create create;
    }
--- must_die
--- error_log eval
qr/\[emerg\] .*v3xy_limit zone "create" is named twice/



=== TEST 18: burst=0 and a tiny size are configuration errors
--- http_config
    v3xy_limit_zone b rate=60r/m key=$remote_addr burst=0;
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid burst "burst=0"/



=== TEST 19: a tiny size is a configuration error
--- http_config
    v3xy_limit_zone s rate=60r/m key=$remote_addr size=1k;
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid size "size=1k"/



=== TEST 20: an internal redirect does not count the request twice
--- config
    location /v1/ {
        v3xy_limit create;
        try_files /nonexistent @app;
    }

    location @app {
        v3xy_limit create;
        proxy_pass http://127.0.0.1:$TEST_NGINX_ECHO_PORT;
    }
--- request
GET /v1/a
--- more_headers
X-Merchant: m20
--- error_code: 200
--- response_headers
RateLimit: "create";r=2;t=60



=== TEST 21: keys of one variable (also ${...}) and of several: counted by their value
--- http_config
    v3xy_limit_zone one rate=1r/m key=$http_x_a;
    v3xy_limit_zone braced rate=1r/m key=${http_x_a};
    v3xy_limit_zone pair rate=1r/m key=$http_x_a:${http_x_b};
    v3xy_limit_zone suffix rate=1r/m key=${http_x_a}s;
--- config
    location /one/ {
        v3xy_limit one;
        proxy_pass http://127.0.0.1:$TEST_NGINX_ECHO_PORT;
    }
    location /braced/ {
        v3xy_limit braced;
        proxy_pass http://127.0.0.1:$TEST_NGINX_ECHO_PORT;
    }
    location /pair/ {
        v3xy_limit pair;
        proxy_pass http://127.0.0.1:$TEST_NGINX_ECHO_PORT;
    }
    location /suffix/ {
        v3xy_limit suffix;
        proxy_pass http://127.0.0.1:$TEST_NGINX_ECHO_PORT;
    }
--- request eval
["GET /one/", "GET /one/", "GET /one/", "GET /one/", "GET /one/",
 "GET /braced/", "GET /braced/", "GET /braced/",
 "GET /pair/", "GET /pair/", "GET /pair/", "GET /pair/",
 "GET /suffix/", "GET /suffix/", "GET /suffix/"]
--- more_headers eval
["X-A: a", "X-A: a", "X-A: b", "X-B: a", "X-B: a",
 "X-A: a", "X-A: a", "X-B: a",
 "X-A: a\nX-B: b", "X-A: a\nX-B: c", "X-A: a\nX-B: b", "X-B: b",
 "X-A: a", "X-A: a", "X-B: b"]
--- error_code eval
[200, 429, 200, 200, 200,
 200, 429, 200,
 200, 200, 429, 200,
 200, 429, 200]
--- response_headers eval
["RateLimit: \"one\";r=0;t=60", "", "RateLimit: \"one\";r=0;t=60",
 "!RateLimit", "!RateLimit",
 "RateLimit: \"braced\";r=0;t=60", "", "!RateLimit",
 "RateLimit: \"pair\";r=0;t=60", "RateLimit: \"pair\";r=0;t=60", "",
 "RateLimit: \"pair\";r=0;t=60",
 "RateLimit: \"suffix\";r=0;t=60", "", "RateLimit: \"suffix\";r=0;t=60"]



=== TEST 22: a full zone forgets no key that still counts admissions: the keys it has no room for go to v3xy_limit_fail (local: 503), the oldest stays refused, one warning
--- http_config
    v3xy_limit_zone tiny rate=1r/m key=$http_x_merchant size=32k;
--- config
    location /v1/ {
        v3xy_limit tiny;
        proxy_pass http://127.0.0.1:$TEST_NGINX_ECHO_PORT;
    }
--- init
my %got;
my $oldest = V3xy::http_get('/v1/a', 'X-Merchant' => 'oldest');
die "oldest: $oldest" unless $oldest == 200;
$got{V3xy::http_get('/v1/a', 'X-Merchant' => "f$_")}++ for 1 .. 600;
die "not some admitted, the rest 503: " . join(' ', %got)
    unless $got{200} && $got{503} && $got{200} + $got{503} == 600;
# the zone filled up during these requests: the warning is in the log now
open my $log, '<', $Test::Nginx::Util::ErrLogFile or die "error.log: $!";
my $full = grep { /\[warn\] .*v3xy_limit_zone "tiny" is full of keys that still count admissions: none is forgotten, new keys are decided by v3xy_limit_fail/ } <$log>;
die "no warning that the zone is full (or more than one)" unless $full == 1;
--- request eval
["GET /v1/a", "GET /v1/a", "GET /v1/a"]
--- more_headers eval
["X-Merchant: oldest", "X-Merchant: f1", "X-Merchant: f600"]
--- error_code eval
[429, 429, 503]
--- no_error_log
[alert]
[crit]



=== TEST 23: "off" with zone names is a configuration error
--- config
    location /v1/ {
        v3xy_limit create off;
        proxy_pass http://127.0.0.1:$TEST_NGINX_ECHO_PORT;
    }
--- must_die
--- error_log eval
qr/\[emerg\] .*v3xy_limit: "off" stands alone/
