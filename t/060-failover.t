# v3xy_backup: the same request to the backup base URL when the primary
# is unreachable or answers 502, 503 or 504; Host, SNI and the certificate
# check are the backup's; the key is injected again; a 500 passes; both
# down is 503 upstream_unavailable; the circuit breaker.
#
# Two TLS upstreams under a test CA made here: primary.test and
# backup.test, nginx servers of the same configuration that pass what they
# got (and the SNI they saw) to the echo server, so that the response body
# is the request as the upstream received it.

use lib 't/lib';
use Test::Nginx::Socket 'no_plan';
use V3xy qw(http_req);
use V3xyFailover;
use Digest::MD5 qw(md5_hex);

V3xyFailover::setup();
our $Key = $V3xyFailover::Key;
our $Upstreams = $V3xyFailover::Upstreams;

our $Tls = <<'_EOC_';
        proxy_ssl_verify on;
        proxy_ssl_trusted_certificate $TEST_NGINX_CERTS/ca.crt;
        proxy_ssl_server_name on;
        add_header X-Upstream $v3xy_upstream always;
        add_header X-Failover $v3xy_failover always;
_EOC_

# under valgrind everything is slower: longer timeouts and cooldowns
our $Slow = $ENV{TEST_NGINX_USE_VALGRIND} ? 1 : 0;
$ENV{TEST_NGINX_COOLDOWN} = $Slow ? '6s' : '1s';
$ENV{TEST_NGINX_HOLE_TIMEOUT} = $Slow ? '8s' : '1s';
our $Pause = $Slow ? 6.5 : 1.3;

add_block_preprocessor(sub {
    my $block = shift;

    $block->set_value('timeout', 60) if $Slow;

    if (!defined $block->http_config) {
        $block->set_value('http_config', $Upstreams);
    }

    if (defined $block->config) {
        my $c = $block->config;
        $c =~ s/#TLS#/$Tls/g;
        $block->set_value('config', $c);
    }
});

# what the upstream got: "Served-By SNI Host key-count key-ok"
sub seen {
    my ($body) = @_;
    my ($head) = $body =~ /\A(.*?\r\n)\r\n/s;
    $head //= '';
    my ($by) = $head =~ /^X-Served-By: (\S+)/mi;
    my ($sni) = $head =~ /^X-Got-SNI: (\S*)/mi;
    my ($host) = $head =~ /^X-Got-Host: (\S+)/mi;
    my @keys = $head =~ /^X-V3XY-API-Key: (\S+)/mgi;
    my $key = (@keys == 1 && $keys[0] eq $Key) ? 'key-ok' : 'key-bad';
    return join(' ', $by // '-', $sni // '-', $host // '-', $key) . "\n";
}

no_long_string();
run_tests();

__DATA__

=== TEST 1: a healthy primary gets the request: its Host, its SNI, the key
--- config
    location /v1/ {
        v3xy_api_key_file $TEST_NGINX_KEY_FILE;
        proxy_pass https://primary.test;
        v3xy_backup https://backup.test;
#TLS#
    }
--- request
GET /v1/payments/1
--- more_headers
X-V3XY-API-Key: v3xy_dev_ClientSentKeyMustBeDropped0000
--- response_body_filters eval
\&main::seen
--- response_body
primary primary.test primary.test key-ok
--- response_headers
X-Upstream: primary
!X-Failover
--- no_error_log
[warn]



=== TEST 2: 502, 503 and 504 of the primary go to the backup: the backup's Host and SNI, the key again, the backup's answer
--- config
    location /v1/ {
        v3xy_api_key_file $TEST_NGINX_KEY_FILE;
        proxy_pass https://primary.test;
        v3xy_backup https://backup.test;
#TLS#
    }
--- request eval
["GET /v1/s502", "GET /v1/s503", "GET /v1/s504"]
--- more_headers
X-V3XY-API-Key: v3xy_dev_ClientSentKeyMustBeDropped0000
--- error_code eval
[200, 200, 200]
--- response_body_filters eval
\&main::seen
--- response_body eval
["backup backup.test backup.test key-ok\n",
 "backup backup.test backup.test key-ok\n",
 "backup backup.test backup.test key-ok\n"]
--- response_headers eval
["X-Upstream: backup\nX-Failover: 502",
 "X-Upstream: backup\nX-Failover: 503",
 "X-Upstream: backup\nX-Failover: 504"]
--- error_log eval
[qr/\[warn\] .*v3xy: failover to the backup https:\/\/backup.test: the primary failed \(50[234]\)/]
--- log_level: info
--- no_error_log
v3xy_dev_FailoverTestKey



=== TEST 3: a 500 and a 404 of the primary pass untouched, even under the server's error_page 500
--- config
    error_page 500 502 503 504 /50x.html;

    location = /50x.html {
        return 200 "the server's error page\n";
    }

    location /v1/ {
        v3xy_api_key_file $TEST_NGINX_KEY_FILE;
        proxy_pass https://primary.test;
        v3xy_backup https://backup.test;
#TLS#
    }
--- request eval
["GET /v1/s500", "GET /v1/s404", "GET /v1/s502"]
--- error_code eval
[500, 404, 200]
--- response_body_like eval
[qr/\Aprimary 500\n\z/, qr/\Aprimary 404\n\z/, qr/^X-Served-By: backup\r$/m]
--- response_headers eval
["X-Upstream: primary", "X-Upstream: primary", "X-Upstream: backup"]



=== TEST 4: a primary that refuses connections: the backup, reason "connect"
--- config
    location /v1/ {
        v3xy_api_key_file $TEST_NGINX_KEY_FILE;
        proxy_pass https://dead.test;
        v3xy_backup https://backup.test;
#TLS#
    }
--- request
GET /v1/payments/2?x=1
--- response_body_filters eval
\&main::seen
--- response_body
backup backup.test backup.test key-ok
--- response_headers
X-Upstream: backup
X-Failover: connect
--- error_log eval
qr/\[warn\] .*the primary failed \(connect\)/



=== TEST 5: a primary whose certificate does not verify: the backup, reason "connect"
--- config
    location /v1/ {
        v3xy_api_key_file $TEST_NGINX_KEY_FILE;
        proxy_pass https://other.test;
        proxy_ssl_name primary.test;
        v3xy_backup https://backup.test;
#TLS#
    }
--- request
GET /v1/payments/3
--- response_body_filters eval
\&main::seen
--- response_body
backup backup.test backup.test key-ok
--- response_headers
X-Upstream: backup
X-Failover: connect



=== TEST 6: the backup's certificate is checked under the backup's name: a backup that cannot prove it is 503 upstream_unavailable
--- config
    location /v1/ {
        v3xy_api_key_file $TEST_NGINX_KEY_FILE;
        proxy_pass https://dead.test;
        v3xy_backup https://liar.test;
#TLS#
    }
--- request
GET /v1/payments/4
--- error_code: 503
--- response_headers
Content-Type: application/json
X-Upstream: backup
--- response_body_like eval
qr{^\{"success":false,"error":"[^"]+","code":"upstream_unavailable"\}$}s
--- error_log eval
[qr/upstream SSL certificate does not match "liar.test"/,
 qr/\[warn\] .*v3xy: upstream_unavailable: the backup https:\/\/liar.test failed too/]



=== TEST 7: the path, the query, the method, the headers and the location's proxy_set_header go to the backup as they came
--- config
    location /v1/ {
        proxy_set_header X-Custom c7;
        v3xy_api_key_file $TEST_NGINX_KEY_FILE;
        proxy_pass https://primary.test;
        v3xy_backup https://backup.test;
#TLS#
    }
--- request
PUT /v1/s503/x?a=1&b=%20
{"k":"v"}
--- more_headers
Content-Type: application/json
X-Trace: t-7
--- response_body_like eval
qr{\APUT /v1/s503/x\?a=1&b=%20 HTTP/1\.[01]\r\n(?=.*X-Trace: t-7\r\n)(?=.*X-Custom: c7\r\n)(?=.*Content-Type: application/json\r\n).*\r\n\r\n\{"k":"v"\}\z}s
--- response_headers
X-Upstream: backup



=== TEST 8: proxy_pass with a URI part: the backup's URI part replaces the location's prefix the same way
--- config
    location /api/ {
        v3xy_api_key_file $TEST_NGINX_KEY_FILE;
        proxy_pass https://primary.test/v1/s502/;
        v3xy_backup https://backup.test/v1/;
#TLS#
    }
--- request
GET /api/payments/5
--- response_body_like eval
qr{\AGET /v1/payments/5 HTTP/1\.[01]\r\n.*X-Served-By: backup}s
--- response_headers
X-Upstream: backup



=== TEST 9: the backup's URL with variables (resolved when requests need it), under a server-level proxy_ssl_name of the primary
--- config
    proxy_ssl_name primary.test;

    location /v1/ {
        set $backup_host backup.test;
        v3xy_api_key_file $TEST_NGINX_KEY_FILE;
        proxy_pass https://primary.test;
        v3xy_backup https://$backup_host;
#TLS#
    }
--- request eval
["GET /v1/s502", "GET /v1/a"]
--- response_body_filters eval
\&main::seen
--- response_body eval
["backup backup.test backup.test key-ok\n",
 "primary primary.test primary.test key-ok\n"]



=== TEST 10: ... and its log line names the URL as the request made it
--- config
    proxy_ssl_name primary.test;

    location /v1/ {
        set $backup_host backup.test;
        v3xy_api_key_file $TEST_NGINX_KEY_FILE;
        proxy_pass https://primary.test;
        v3xy_backup https://$backup_host;
#TLS#
    }
--- request
GET /v1/s502
--- response_headers
X-Upstream: backup
--- error_log eval
qr/\[warn\] .*v3xy: failover to the backup https:\/\/backup\.test: the primary failed \(502\), client:/



=== TEST 11: a 1 MiB POST spilled to a temporary file arrives at the backup intact
--- config
    client_body_buffer_size 16k;

    location /v1/ {
        client_max_body_size 2m;
        v3xy_api_key_file $TEST_NGINX_KEY_FILE;
        proxy_pass https://primary.test;
        v3xy_backup https://backup.test;
#TLS#
    }
--- request eval
my $body = CORE::join '', map { sprintf "%07d,", $_ } 1 .. 131072;
"POST /v1/s502\n" . $body
--- response_body_filters eval
sub { my ($b) = @_; my ($h, $rest) = $b =~ /\A(.*?\r\n)\r\n(.*)\z/s;
      my ($by) = $h =~ /^X-Served-By: (\S+)/mi;
      return "$by " . length($rest) . " " . Digest::MD5::md5_hex($rest) . "\n" }
--- response_body eval
my $body = CORE::join '', map { sprintf "%07d,", $_ } 1 .. 131072;
"backup 1048576 " . Digest::MD5::md5_hex($body) . "\n"
--- error_log
a client request body is buffered to a temporary file
--- timeout: 10



=== TEST 12: proxy_request_buffering off: the body is still read whole first, so it can go twice
--- config
    client_body_buffer_size 16k;

    location /v1/ {
        client_max_body_size 2m;
        v3xy_api_key_file $TEST_NGINX_KEY_FILE;
        proxy_request_buffering off;
        proxy_pass https://primary.test;
        v3xy_backup https://backup.test;
#TLS#
    }
--- request eval
"POST /v1/s503\n" . ("0123456789abcdef" x 20000)
--- response_body_filters eval
sub { my ($b) = @_; my ($h, $rest) = $b =~ /\A(.*?\r\n)\r\n(.*)\z/s;
      return length($rest) . " " . Digest::MD5::md5_hex($rest) . "\n" }
--- response_body eval
"320000 " . Digest::MD5::md5_hex("0123456789abcdef" x 20000) . "\n"
--- response_headers
X-Upstream: backup



=== TEST 13: a primary that takes the connection and never answers: a GET goes to the backup after the read timeout
--- config
    location /v1/ {
        v3xy_api_key_file $TEST_NGINX_KEY_FILE;
        proxy_pass http://mute.test;
        v3xy_backup https://backup.test;
#TLS#
        proxy_read_timeout 1s;
    }
--- request
GET /v1/payments/6
--- response_body_filters eval
\&main::seen
--- response_body
backup backup.test backup.test key-ok
--- response_headers
X-Upstream: backup
X-Failover: timeout
--- error_log eval
qr/\[warn\] .*the primary failed \(timeout\)/



=== TEST 14: ... but a POST is not sent again: it may have been processed (502 upstream_unanswered)
--- config
    location /v1/ {
        v3xy_api_key_file $TEST_NGINX_KEY_FILE;
        proxy_pass http://mute.test;
        v3xy_backup https://backup.test;
#TLS#
        proxy_read_timeout 1s;
    }
--- request
POST /v1/payments
{"amount":"10.00","external_id":"order-12"}
--- error_code: 502
--- response_headers
Content-Type: application/json
X-Upstream: primary
X-Failover: timeout
--- response_body_like eval
qr{^\{"success":false,"error":"[^"]+external_id[^"]+","code":"upstream_unanswered"\}$}s
--- error_log eval
qr/\[warn\] .*v3xy: upstream_unanswered: the primary took the POST request and did not answer \(timeout\); not sent to the backup/
--- no_error_log
failover to the backup



=== TEST 15: ... unless v3xy_backup says non_idempotent
--- config
    location /v1/ {
        v3xy_api_key_file $TEST_NGINX_KEY_FILE;
        proxy_pass http://mute.test;
        v3xy_backup https://backup.test non_idempotent;
#TLS#
        proxy_read_timeout 1s;
    }
--- request
POST /v1/payments
{"amount":"10.00","external_id":"order-13"}
--- response_body_like eval
qr{\APOST /v1/payments HTTP/1\.[01]\r\n.*X-Served-By: backup.*\r\n\r\n\{"amount":"10.00","external_id":"order-13"\}\z}s
--- response_headers
X-Upstream: backup
X-Failover: timeout



=== TEST 16: a POST the primary answered with 502/503/504 goes to the backup (the primary said it did not process it)
--- config
    location /v1/ {
        v3xy_api_key_file $TEST_NGINX_KEY_FILE;
        proxy_pass https://primary.test;
        v3xy_backup https://backup.test;
#TLS#
    }
--- request
POST /v1/s503
{"external_id":"order-14"}
--- response_body_like eval
qr{\APOST /v1/s503 HTTP/1\.[01]\r\n.*\r\n\r\n\{"external_id":"order-14"\}\z}s
--- response_headers
X-Upstream: backup
X-Failover: 503



=== TEST 17: both down (502 from each): 503 upstream_unavailable, JSON, Retry-After 1, logged once at warn
--- config
    location /v1/ {
        v3xy_api_key_file $TEST_NGINX_KEY_FILE;
        proxy_pass https://primary.test;
        v3xy_backup https://backup.test;
#TLS#
    }
--- request
GET /v1/both/x
--- error_code: 503
--- response_headers
Content-Type: application/json
Retry-After: 1
X-Upstream: backup
X-Failover: 502
--- response_body_like eval
qr{^\{"success":false,"error":"[^"]+","code":"upstream_unavailable"\}$}s
--- error_log eval
[qr/\[warn\] .*the primary failed \(502\)/,
 qr/\[warn\] .*v3xy: upstream_unavailable: the backup https:\/\/backup.test failed too/]
--- no_error_log
backup 502



=== TEST 18: both unreachable: 503 upstream_unavailable
--- config
    location /v1/ {
        v3xy_api_key_file $TEST_NGINX_KEY_FILE;
        proxy_pass https://dead.test;
        v3xy_backup https://dead.test;
#TLS#
    }
--- request
GET /v1/x
--- error_code: 503
--- response_body_like eval
qr{"code":"upstream_unavailable"}s



=== TEST 19: the breaker opens after fails=N, skips the primary, half-opens after the cooldown and a good probe closes it
--- config
    location /v1/ {
        v3xy_api_key_file $TEST_NGINX_KEY_FILE;
        proxy_pass https://primary.test;
        v3xy_backup https://backup.test fails=2 cooldown=$TEST_NGINX_COOLDOWN;
#TLS#
    }
--- init
my @got;
my $state = sub {
    my ($st, $head, $body) = @_;
    my ($up) = $head =~ /^X-Upstream: (\S+)/mi;
    my ($fo) = $head =~ /^X-Failover: (\S+)/mi;
    my ($by) = $body =~ /^X-Served-By: (\S+)/mi;
    return join ' ', $st, $up // '-', $fo // '-', $by // '-';
};
# the primary is down: two failures open the breaker
push @got, $state->(V3xy::http_req('GET', '/v1/a', '', 'X-Primary-Down' => 1))
    for 1 .. 2;
# open: straight to the backup, the primary is not asked (it would say
# 502: without the header it answers)
push @got, $state->(V3xy::http_req('GET', '/v1/a')) for 1 .. 2;
select undef, undef, undef, $main::Pause;
# half-open: one probe to the primary, which answers: closed again
push @got, $state->(V3xy::http_req('GET', '/v1/a'));
push @got, $state->(V3xy::http_req('GET', '/v1/a'));
Test::More::is(CORE::join("\n", @got), join("\n",
   '200 backup 502 backup', '200 backup 502 backup',
   '200 backup breaker_open backup', '200 backup breaker_open backup',
   '200 primary - primary', '200 primary - primary'),
   'breaker: closed, open, half-open, closed');
--- request
GET /v1/b
--- response_headers
X-Upstream: primary
--- error_log eval
[qr/\[warn\] .*v3xy: breaker open: 2 consecutive failures of the primary; requests go to the backup https:\/\/backup.test for \d+ ms/,
 qr/\[info\] .*v3xy: breaker open: request goes straight to the backup/,
 qr/\[warn\] .*v3xy: breaker half-open: this request probes the primary/,
 qr/\[warn\] .*v3xy: breaker closed: the probe found the primary answering again/]
--- log_level: info
--- timeout: 10



=== TEST 20: a probe that fails opens the breaker again for another cooldown
--- config
    location /v1/ {
        v3xy_api_key_file $TEST_NGINX_KEY_FILE;
        proxy_pass https://primary.test;
        v3xy_backup https://backup.test fails=1 cooldown=$TEST_NGINX_COOLDOWN;
#TLS#
    }
--- init
my @got;
for my $step (1 .. 3) {
    my ($st, $head) = V3xy::http_req('GET', '/v1/a', '', 'X-Primary-Down' => 1);
    my ($fo) = $head =~ /^X-Failover: (\S+)/mi;
    push @got, $fo // '-';
    select undef, undef, undef, $main::Pause if $step == 2;
}
# 1: 502 opens it; 2: open; (cooldown) 3: the probe fails (502)
Test::More::is("@got", "502 breaker_open 502", 'probe failed');
--- request
GET /v1/a
--- response_headers
X-Upstream: backup
X-Failover: breaker_open
--- error_log eval
qr/\[warn\] .*v3xy: breaker open again: the probe failed; requests go to the backup https:\/\/backup.test for \d+ ms/
--- timeout: 10



=== TEST 21: a black-holed primary (connect timeout): once the breaker is open, requests skip it
--- config
    location /v1/ {
        v3xy_api_key_file $TEST_NGINX_KEY_FILE;
        proxy_pass https://hole.test;
        v3xy_backup https://backup.test fails=1 cooldown=60s;
#TLS#
        proxy_connect_timeout $TEST_NGINX_HOLE_TIMEOUT;
    }
--- init
my ($st, $head) = V3xy::http_req('GET', '/v1/a');
my ($fo) = $head =~ /^X-Failover: (\S+)/mi;
Test::More::is("$st " . ($fo // '-'), '200 connect', 'first: connect timeout, then backup');
--- request
GET /v1/b
--- response_headers
X-Upstream: backup
X-Failover: breaker_open
--- error_log eval
[qr/upstream timed out .*while connecting to upstream/,
 qr/\[warn\] .*breaker open: 1 consecutive failures/]
--- timeout: 10



=== TEST 22: breaker=NAME: locations to one primary share one breaker
--- config
    location /v1/payments/ {
        v3xy_api_key_file $TEST_NGINX_KEY_FILE;
        proxy_pass https://primary.test;
        v3xy_backup https://backup.test fails=2 cooldown=60s breaker=api;
#TLS#
    }

    location /v1/ {
        v3xy_api_key_file $TEST_NGINX_KEY_FILE;
        proxy_pass https://primary.test;
        v3xy_backup https://backup.test fails=2 cooldown=60s breaker=api;
#TLS#
    }

    location /v2/ {
        v3xy_api_key_file $TEST_NGINX_KEY_FILE;
        proxy_pass https://primary.test;
        v3xy_backup https://backup.test fails=2 cooldown=60s;
#TLS#
    }
--- request eval
["GET /v1/payments/s", "GET /v1/s502", "GET /v1/payments/x", "GET /v1/s502",
 "GET /v1/a", "GET /v2/a"]
--- more_headers eval
["X-Primary-Down: 1", "", "", "", "", ""]
--- response_headers eval
["X-Failover: 502", "X-Failover: 502", "X-Failover: breaker_open",
 "X-Failover: breaker_open", "X-Failover: breaker_open",
 "X-Upstream: primary"]



=== TEST 23: one breaker name, other settings: refused
--- config
    location /v1/ {
        proxy_pass https://primary.test;
        v3xy_backup https://backup.test fails=2 breaker=api;
    }

    location /v2/ {
        proxy_pass https://primary.test;
        v3xy_backup https://backup.test fails=3 breaker=api;
    }
--- must_die
--- error_log eval
qr/\[emerg\] .*breaker "api" has other fails= or cooldown= at \S+nginx.conf:\d+ in \S+nginx.conf:\d+/



=== TEST 24: fails=0: no breaker, every request tries the primary first
--- config
    location /v1/ {
        v3xy_api_key_file $TEST_NGINX_KEY_FILE;
        proxy_pass https://primary.test;
        v3xy_backup https://backup.test fails=0;
#TLS#
    }
--- request eval
["GET /v1/s502", "GET /v1/s502", "GET /v1/s502", "GET /v1/s502",
 "GET /v1/s502", "GET /v1/s502", "GET /v1/a"]
--- response_headers eval
["X-Failover: 502", "X-Failover: 502", "X-Failover: 502", "X-Failover: 502",
 "X-Failover: 502", "X-Failover: 502", "X-Upstream: primary"]
--- no_error_log
breaker



=== TEST 25: $v3xy_upstream and $v3xy_failover in the access log
--- http_config eval
$::Upstreams . <<'_EOC_';
    log_format up '$request_uri $status $v3xy_upstream "$v3xy_failover"';
_EOC_
--- config
    access_log logs/up.log up;

    location /v1/ {
        v3xy_api_key_file $TEST_NGINX_KEY_FILE;
        proxy_pass https://primary.test;
        v3xy_backup https://backup.test;
#TLS#
    }

    location = /log {
        access_log off;
        alias $TEST_NGINX_SERVER_ROOT/logs/up.log;
    }
--- request eval
["GET /v1/a", "GET /v1/s504", "GET /log"]
--- response_body_like eval
[qr/primary/, qr/backup/,
 qr{\A/v1/a 200 primary "-"\n/v1/s504 200 backup "504"\n\z}]



=== TEST 26: a primary location reached through an error page fails over too (and nginx never sends a reply without its head)
--- config
    location /static/ {
        root /nonexistent;
        error_page 404 = @api;
    }

    location @api {
        v3xy_api_key_file $TEST_NGINX_KEY_FILE;
        proxy_pass https://primary.test;
        v3xy_backup https://backup.test;
#TLS#
    }
--- request eval
["GET /static/x", "HEAD /static/y"]
--- more_headers
X-Primary-Down: 1
--- error_code eval
[200, 200]
--- response_headers eval
["X-Upstream: backup\nX-Failover: 502", "X-Upstream: backup\nX-Failover: 502"]



=== TEST 27: proxy_intercept_errors on: a POST the primary answered 502 still goes to the backup, with the reason "502"
--- config
    location /v1/ {
        v3xy_api_key_file $TEST_NGINX_KEY_FILE;
        proxy_intercept_errors on;
        proxy_pass https://primary.test;
        v3xy_backup https://backup.test;
#TLS#
    }
--- request eval
["POST /v1/s502\n{\"external_id\":\"o-21b\"}", "GET /v1/s504"]
--- response_headers eval
["X-Upstream: backup\nX-Failover: 502", "X-Upstream: backup\nX-Failover: 504"]
--- response_body_like eval
[qr/X-Served-By: backup.*\{"external_id":"o-21b"\}\z/s, qr/X-Served-By: backup/]



=== TEST 28: limit_except in the primary's location: the methods it does not list fail over too
--- config
    location /v1/ {
        v3xy_api_key_file $TEST_NGINX_KEY_FILE;
        proxy_pass https://primary.test;
        v3xy_backup https://backup.test;
        limit_except GET {
            allow 127.0.0.1;
            deny all;
        }
#TLS#
    }
--- request eval
["GET /v1/s502", "POST /v1/s503\n{\"a\":1}"]
--- response_headers eval
["X-Upstream: backup\nX-Failover: 502", "X-Upstream: backup\nX-Failover: 503"]
--- response_body_like eval
[qr/X-Served-By: backup/, qr/X-Served-By: backup.*\{"a":1\}\z/s]



=== TEST 29: a cached answer is not the primary answering: it does not close the breaker
--- http_config eval
$::Upstreams . <<'_EOC_';
    proxy_cache_path $TEST_NGINX_SERVER_ROOT/cache keys_zone=c:1m;
_EOC_
--- config
    location /v1/ {
        v3xy_api_key_file $TEST_NGINX_KEY_FILE;
        proxy_cache c;
        proxy_cache_valid 200 1h;
        proxy_pass https://primary.test;
        v3xy_backup https://backup.test fails=1 cooldown=$TEST_NGINX_COOLDOWN;
#TLS#
        add_header X-Cache $upstream_cache_status always;
    }
--- init
my @got;
my $get = sub {
    my ($path, @h) = @_;
    my ($st, $head) = V3xy::http_req('GET', $path, '', @h);
    my ($fo) = $head =~ /^X-Failover: (\S+)/mi;
    my ($c) = $head =~ /^X-Cache: (\S+)/mi;
    return ($fo // '-') . '/' . ($c // '-');
};
push @got, $get->('/v1/cached');                        # primary, cached
push @got, $get->('/v1/x', 'X-Primary-Down' => 1);      # opens the breaker
select undef, undef, undef, $main::Pause;
push @got, $get->('/v1/cached');                        # a HIT: no probe
push @got, $get->('/v1/y', 'X-Primary-Down' => 1);      # the probe fails
Test::More::is("@got", "-/MISS 502/MISS -/HIT 502/MISS",
               'a cache hit does not report for the primary');
--- request
GET /v1/t
--- response_headers
X-Failover: breaker_open
--- no_error_log
breaker closed
--- timeout: 20



=== TEST 30: a location without v3xy_backup is not touched: its 502 is nginx's
--- config
    location /v1/ {
        proxy_pass https://primary.test;
#TLS#
    }
--- request
GET /v1/s502
--- error_code: 502
--- response_body
primary 502



=== TEST 31: a URL that would smuggle directives is refused
--- config
    location /v1/ {
        proxy_pass https://primary.test;
        v3xy_backup "https://backup.test; return 200 x";
    }
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid value "https:\/\/backup.test; return 200 x": it has a character a URL does not need here in \S+nginx.conf:\d+/



=== TEST 32: a primary that is not proxy_pass is refused
--- config
    location /v1/ {
        fastcgi_pass 127.0.0.1:9;
        v3xy_backup https://backup.test;
    }
--- must_die
--- error_log eval
qr/v3xy_backup needs proxy_pass to the primary in the same location/



=== TEST 33: configuration errors
--- config
    location /v1/ {
        proxy_pass https://primary.test;
        v3xy_backup ftp://backup.test;
    }
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid URL prefix in "ftp:\/\/backup.test" in \S+nginx.conf:\d+/



=== TEST 34: a parameter it does not know
--- config
    location /v1/ {
        proxy_pass https://primary.test;
        v3xy_backup https://backup.test fails=x;
    }
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid parameter "fails=x" in \S+nginx.conf:\d+/



=== TEST 35: without proxy_pass in the location
--- config
    location /v1/ {
        v3xy_backup https://backup.test;
    }
--- must_die
--- error_log eval
qr/v3xy_backup needs proxy_pass to the primary in the same location in \S+nginx.conf:\d+/



=== TEST 36: twice in one location
--- config
    location /v1/ {
        proxy_pass https://primary.test;
        v3xy_backup https://backup.test;
        v3xy_backup https://other.test;
    }
--- must_die
--- error_log
"v3xy_backup" directive is duplicate



=== TEST 37: a URI part in a regex location is refused, as proxy_pass refuses it, with a message of its own
--- config
    location ~ ^/v1/ {
        proxy_pass https://primary.test;
        v3xy_backup https://backup.test/v1/;
    }
--- must_die
--- error_log eval
qr/\[emerg\] .*"v3xy_backup" cannot have URI part in location given by regular expression, or inside named location in \S+nginx.conf:\d+/



=== TEST 38: a client that leaves while the primary hangs: nothing breaks, the next request is served
--- config
    location /v1/ {
        v3xy_api_key_file $TEST_NGINX_KEY_FILE;
        proxy_pass http://mute.test;
        v3xy_backup https://backup.test;
#TLS#
        proxy_read_timeout 1s;
    }
    location /ok/ {
        return 200 "ok\n";
    }
--- init
my $s;
for (1 .. 400) {
    $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                               PeerPort => $ENV{TEST_NGINX_SERVER_PORT})
        and last;
    select undef, undef, undef, 0.05;
}
print $s "GET /v1/a HTTP/1\.[01]\r\nHost: x\r\n\r\n";
select undef, undef, undef, 0.2;
close $s;
select undef, undef, undef, $main::Slow ? 5 : 1.5;
--- request
GET /ok/
--- response_body
ok
--- no_error_log
[alert]
[crit]



=== TEST 39: at debug level, each state change of the breaker and a request's failover are traced
--- skip_eval: 1: `$ENV{TEST_NGINX_BINARY} -V 2>&1` !~ /--with-debug/
--- config
    location /v1/ {
        v3xy_api_key_file $TEST_NGINX_KEY_FILE;
        proxy_pass https://primary.test;
        v3xy_backup https://backup.test fails=1 cooldown=$TEST_NGINX_COOLDOWN;
#TLS#
    }
--- init
# one failure opens the breaker, the next request skips the primary
V3xy::http_req('GET', '/v1/a', '', 'X-Primary-Down' => 1);
V3xy::http_req('GET', '/v1/a');
select undef, undef, undef, $main::Pause;
--- request
GET /v1/b
--- response_headers
X-Upstream: primary
--- grep_error_log eval
qr/v3xy: (?:breaker \S+: [a-z-]+ -> [a-z-]+|failover: [^,\n]+)/
--- grep_error_log_out
v3xy: failover: the primary failed (502)
v3xy: breaker https://backup.test: closed -> open
v3xy: failover: sent to the backup https://backup.test (502)
v3xy: failover: sent to the backup https://backup.test (breaker_open)
v3xy: breaker https://backup.test: open -> half-open
v3xy: breaker https://backup.test: half-open -> closed
--- timeout: 10



=== TEST 40: both down while the breaker is open: Retry-After is when the primary is tried again (the cooldown's rest), not a blind 1
--- config
    location /v1/ {
        v3xy_api_key_file $TEST_NGINX_KEY_FILE;
        proxy_pass https://primary.test;
        v3xy_backup https://backup.test fails=1 cooldown=60s;
#TLS#
    }
--- init
# the primary's 502 opens the breaker for 60 s; the backup's 502 too
my ($st, $head) = V3xy::http_req('GET', '/v1/both/x');
Test::More::is($st, 503, 'both down');
Test::More::like($head, qr/^Retry-After: (59|60)\r$/m, 'the cooldown');
--- request
GET /v1/both/x
--- error_code: 503
--- response_headers
X-Failover: breaker_open
--- response_headers_like
Retry-After: (5[0-9]|60)
--- response_body_like eval
qr{"code":"upstream_unavailable"}s
