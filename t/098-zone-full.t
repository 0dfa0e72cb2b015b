# A full limit zone in shared memory: it never forgets a key that still
# counts admissions (an attacker who sends many distinct keys would reset
# anyone's limit), it still makes room from idle keys, and when it cannot,
# v3xy_limit_fail decides the new key (open: admitted uncounted; closed and
# local: 503 rate_limit_unavailable), counted in v3xy_limit_zone_full_total
# and warned about once a minute.  The webhook replay guard is such a zone:
# full of live marks, it lets no replay through.

use lib 't/lib';
use Digest::SHA qw(hmac_sha256_hex);
use IO::Socket::INET;
use Test::Nginx::Socket 'no_plan';
use V3xy qw(start_echo key_file);

start_echo();

our $Secret = 'whsec_zonefull_3b9e0c7d21';
$ENV{TEST_NGINX_WHSEC} = key_file('whsec', "$Secret\n");

# the deliveries' t: the replay guard remembers them for twice the tolerance
our $T = time;

our $Unavailable = qr/\A\{"success":false,"error":"Rate limits cannot be checked right now; try again shortly\.","code":"rate_limit_unavailable"\}\z/;

# send_code(EMAIL): one verification code for that recipient; its status
sub send_code {
    my ($email) = @_;
    my ($st) = V3xy::http_req('POST', '/v1/developer/verify/send-code',
                              qq({"email":"$email","purpose":"signup"}),
                              'Content-Type' => 'application/json');
    return $st;
}

# fill(PATH, N): GET PATH with X-Merchant f1 .. fN; {status => count}
sub fill {
    my ($path, $n) = @_;
    my %st;
    $st{V3xy::http_get($path, 'X-Merchant' => "f$_")}++ for 1 .. $n;
    return \%st;
}

# scrape(): the series of /metrics, name{labels} => value
sub scrape {
    my (undef, undef, $body) = V3xy::http_req('GET', '/metrics');
    my %m;
    for (split /\n/, $body) {
        next if /^#/;
        my ($k, $v) = /^(\S+) (\S+)$/ or next;
        $m{$k} = $v;
    }
    return \%m;
}

# warnings(RE): lines of the error log that match RE
sub warnings {
    my ($re) = @_;
    open my $log, '<', $Test::Nginx::Util::ErrLogFile or die "error.log: $!";
    return scalar grep { /$re/ } <$log>;
}

our $Full = qr/\[warn\] .*v3xy_limit_zone "tiny" is full of keys that still count admissions: none is forgotten, new keys are decided by v3xy_limit_fail/;

# deliveries(FROM, N, T): signed deliveries cp_FROM .. cp_(FROM+N-1) at t,
# 200 at a time pipelined on one keep-alive connection; {status => count}
sub deliveries {
    my ($from, $n, $t) = @_;
    my (%st, $s);

    # nginx may still be starting (under valgrind it takes seconds)
    for (1 .. 400) {
        $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                   PeerPort => $ENV{TEST_NGINX_SERVER_PORT})
            and last;
        select undef, undef, undef, 0.05;
    }

    $s or die "deliveries: $!";
    binmode $s;

    for (my $i = $from; $i < $from + $n; $i += 200) {
        my $last = $i + 199;
        $last = $from + $n - 1 if $last > $from + $n - 1;
        my ($req, $k, $buf) = ('', 0, '');

        for my $j ($i .. $last) {
            my $body = delivery($j);
            $req .= "POST /webhooks/v3xy HTTP/1.1\r\nHost: localhost\r\n"
                  . "Content-Type: application/json\r\n"
                  . "Content-Length: " . length($body) . "\r\n"
                  . "X-V3XY-Signature: " . sig($body, $t) . "\r\n\r\n$body";
            $k++;
        }

        print $s $req;

        # $k responses: a head, then Content-Length bytes
        while ($k) {
            if ($buf =~ /\A(HTTP\/1\.1 (\d+)[^\r]*\r\n(.*?)\r\n\r\n)/s) {
                my ($head, $status, $fields) = ($1, $2, $3);
                my ($len) = $fields =~ /^content-length:\s*(\d+)/mi;
                my $whole = length($head) + ($len // 0);
                if (length($buf) >= $whole) {
                    substr($buf, 0, $whole) = '';
                    $st{$status}++;
                    $k--;
                    next;
                }
            }
            sysread($s, $buf, 65536, length $buf)
                or die "deliveries: connection closed";
        }
    }

    close $s;
    return \%st;
}

sub delivery {
    return '{"type":"payment.confirmed","data":{"payment_ref":"cp_'
           . $_[0] . '"}}';
}

sub sig {
    my ($body, $t) = @_;
    return "t=$t,v1=" . hmac_sha256_hex("$t.$body", $::Secret);
}

log_level('info');
no_shuffle();
no_long_string();
run_tests();

__DATA__

=== TEST 1: an exhausted recipient stays exhausted when 400 other recipients fill the zone
--- http_config
    v3xy_limit_zone rcpt rate=10r/h key=$v3xy_body_email size=32k;
--- config
    location = /v1/developer/verify/send-code {
        v3xy_limit rcpt;
        proxy_pass http://127.0.0.1:$TEST_NGINX_ECHO_PORT;
    }
--- init
my @st = map { main::send_code('victim@x.com') } 1 .. 11;
Test::More::is("@st", join(' ', (200) x 10, 429), 'ten for the victim');
my %others;
$others{main::send_code("other$_\@x.com")}++ for 1 .. 400;
# the zone filled up: the recipients it had no room for were refused
Test::More::ok($others{200} && $others{503}
               && $others{200} + $others{503} == 400,
               'others: ' . join(' ', %others));
--- request
POST /v1/developer/verify/send-code
{"email":"victim@x.com","purpose":"signup"}
--- more_headers
Content-Type: application/json
--- error_code: 429
--- error_log eval
qr/\[warn\] .*v3xy_limit_zone "rcpt" is full of keys that still count admissions/
--- no_error_log
[alert]
[crit]



=== TEST 2: a zone full of live keys, v3xy_limit_fail open: a new key passes it uncounted, the location's other zones still decide, known keys are decided, the metric counts it
--- http_config
    v3xy_limit_zone tiny rate=1r/m key=$http_x_merchant size=32k;
    v3xy_limit_zone acct rate=3r/m key=$http_x_account;
--- config
    v3xy_limit_fail open;

    location /v1/ {
        v3xy_limit tiny acct;
        proxy_pass http://127.0.0.1:$TEST_NGINX_ECHO_PORT;
    }

    location = /metrics {
        v3xy_metrics;
    }
--- init
my $st = main::fill('/v1/a', 300);
Test::More::is($st->{200}, 300, 'all admitted');
# f1 was counted (1r/m); f300 found no room: admitted again, uncounted
my $again = V3xy::http_get('/v1/a', 'X-Merchant' => 'f1')
            . ' ' . V3xy::http_get('/v1/a', 'X-Merchant' => 'f300');
Test::More::is($again, '429 200', 'f1 remembered, f300 uncounted');
# keys tiny has no room for: acct still counts them, and refuses the fourth
my @acct = map { V3xy::http_get('/v1/a', 'X-Merchant' => "g$_",
                                'X-Account' => 'a1') } 1 .. 4;
Test::More::is("@acct", '200 200 200 429', 'the other zone still decides');
my $m = main::scrape();
Test::More::ok($m->{'v3xy_limit_zone_full_total{zone="tiny",outcome="admitted"}'} > 100,
               'the keys without room, admitted');
Test::More::is($m->{'v3xy_limit_zone_full_total{zone="tiny",outcome="refused"}'},
               0, 'none refused');
Test::More::is(main::warnings($main::Full), 1, 'one warning');
--- request
GET /v1/a
--- more_headers
X-Merchant: new
--- error_code: 200
--- response_headers
RateLimit-Policy:
RateLimit:
--- no_error_log
[alert]
[crit]



=== TEST 3: a zone full of live keys, v3xy_limit_fail closed: a new key is refused 503 rate_limit_unavailable, counted, warned once; Retry-After a window and a slot (by then every key of now may be idle), not the 2 s of a Redis outage
--- http_config
    v3xy_limit_zone tiny rate=1r/m key=$http_x_merchant size=32k;
--- config
    v3xy_limit_fail closed;

    location /v1/ {
        v3xy_limit tiny;
        proxy_pass http://127.0.0.1:$TEST_NGINX_ECHO_PORT;
    }

    location = /metrics {
        v3xy_metrics;
    }
--- init
my $m0 = main::scrape();
Test::More::is($m0->{'v3xy_limit_zone_keys{zone="tiny",state="held"}'}, 0,
               'v3xy_limit_zone_keys: none held at first');
Test::More::ok($m0->{'v3xy_limit_zone_keys{zone="tiny",state="room"}'} >= 64,
               'room for keys at first: '
               . $m0->{'v3xy_limit_zone_keys{zone="tiny",state="room"}'});
my $st = main::fill('/v1/a', 300);
Test::More::ok($st->{200} && $st->{503} && $st->{200} + $st->{503} == 300,
               'fill: ' . join(' ', %$st));
my $again = V3xy::http_get('/v1/a', 'X-Merchant' => 'f1');
Test::More::is($again, 429, 'f1 remembered');
my $m = main::scrape();
Test::More::is($m->{'v3xy_limit_zone_keys{zone="tiny",state="held"}'},
               $st->{200}, 'held: every key admitted, none of the refused');
Test::More::is($m->{'v3xy_limit_zone_keys{zone="tiny",state="room"}'}, 0,
               'no room left');
Test::More::is($m->{'v3xy_limit_zone_full_total{zone="tiny",outcome="refused"}'},
               $st->{503}, 'the keys without room, refused');
Test::More::is($m->{'v3xy_limit_zone_full_total{zone="tiny",outcome="admitted"}'},
               0, 'none admitted');
Test::More::is(main::warnings($main::Full), 1, 'one warning');
--- request
GET /v1/a
--- more_headers
X-Merchant: new
--- error_code: 503
--- response_headers
Retry-After: 62
--- response_body_like eval
$::Unavailable
--- no_error_log
[alert]
[crit]



=== TEST 4: a zone full of live keys, v3xy_limit_fail local (the default): the store that cannot decide refuses as closed
--- http_config
    v3xy_limit_zone tiny rate=1r/m key=$http_x_merchant size=32k;
--- config
    location /v1/ {
        v3xy_limit tiny;
        proxy_pass http://127.0.0.1:$TEST_NGINX_ECHO_PORT;
    }

    location = /metrics {
        v3xy_metrics;
    }
--- init
my $st = main::fill('/v1/a', 300);
Test::More::ok($st->{200} && $st->{503} && $st->{200} + $st->{503} == 300,
               'fill: ' . join(' ', %$st));
my $m = main::scrape();
Test::More::is($m->{'v3xy_limit_zone_full_total{zone="tiny",outcome="refused"}'},
               $st->{503}, 'the keys without room, refused');
--- request
GET /v1/a
--- more_headers
X-Merchant: new
--- error_code: 503
--- response_body_like eval
$::Unavailable
--- no_error_log
[alert]
[crit]



=== TEST 5: idle keys still make room, even behind a key that still counts, which is not forgotten (GCRA: the heavy key's TAT is a minute ahead, the light ones' a second)
--- http_config
    v3xy_limit_zone tiny rate=60r/m burst=60 key=$http_x_merchant size=32k;
--- config
    location /v1/ {
        v3xy_limit tiny;
        proxy_pass http://127.0.0.1:$TEST_NGINX_ECHO_PORT;
    }
--- init
my @st = map { V3xy::http_get('/v1/a', 'X-Merchant' => 'heavy') } 1 .. 61;
Test::More::is("@st", join(' ', (200) x 60, 429), 'the heavy key');
my $st = main::fill('/v1/a', 300);
Test::More::ok($st->{200} && !$st->{429}, 'fill: ' . join(' ', %$st));
select undef, undef, undef, 1.5;
# every light key is idle now: new ones take their room
my %new;
$new{V3xy::http_get('/v1/a', 'X-Merchant' => "n$_")}++ for 1 .. 100;
Test::More::is($new{200}, 100, 'new keys: ' . join(' ', %new));
--- request
GET /v1/a
--- more_headers
X-Merchant: heavy
--- response_headers_like
RateLimit: "tiny";r=([0-9]|[1-3][0-9]|4[0-4]);t=\d+
--- no_error_log
[alert]
[crit]



=== TEST 6: a zone whose keys all went idle admits new keys without a warning
--- http_config
    v3xy_limit_zone tiny rate=1r/s key=$http_x_merchant size=32k;
--- config
    location /v1/ {
        v3xy_limit tiny;
        proxy_pass http://127.0.0.1:$TEST_NGINX_ECHO_PORT;
    }

    location = /metrics {
        v3xy_metrics;
    }
--- init
my $st = main::fill('/v1/a', 100);
select undef, undef, undef, 1.5;
my %new;
$new{V3xy::http_get('/v1/a', 'X-Merchant' => "n$_")}++ for 1 .. 100;
Test::More::is($new{200}, 100, 'new keys: ' . join(' ', %new));
my $m = main::scrape();
Test::More::is($m->{'v3xy_limit_zone_full_total{zone="tiny",outcome="refused"}'},
               0, 'no key without room');
--- request
GET /v1/a
--- more_headers
X-Merchant: f1
--- error_code: 200
--- no_error_log
[alert]
[crit]
is full



=== TEST 7: the replay guard full of live marks lets no replay through; a new delivery it has no room for is refused (503), not let through unmarked
--- http_config
    upstream self {
        server 127.0.0.1:$TEST_NGINX_SERVER_PORT;
        keepalive 4;
    }
--- config
    keepalive_requests 1000000;

    location = /webhooks/v3xy {
        v3xy_webhook_secret_file $TEST_NGINX_WHSEC;
        proxy_pass http://self/ok;
        proxy_http_version 1.1;
        proxy_set_header Connection "";
    }

    location = /ok {
        return 204;
    }

    location = /metrics {
        v3xy_metrics;
    }
--- init
my $t = $main::T;
my $first = main::deliveries(0, 1, $t);
Test::More::is($first->{204}, 1, 'the first delivery');
# 4 MB hold about 30,000 marks
my $st = main::deliveries(1, 34000, $t);
Test::More::ok($st->{204} > 20000 && $st->{503}
               && $st->{204} + $st->{503} == 34000,
               'fill: ' . join(' ', %$st));
my $m = main::scrape();
Test::More::is($m->{'v3xy_limit_zone_full_total{zone="webhook.replay.300",outcome="refused"}'},
               $st->{503}, 'deliveries without room, refused');
--- request eval
"POST /webhooks/v3xy\n" . main::delivery(0)
--- more_headers eval
"Content-Type: application/json\nX-V3XY-Signature: " . main::sig(main::delivery(0), $main::T)
--- error_code: 409
--- timeout: 30
--- no_error_log
[alert]
[crit]
