# A fleet: two nginx instances, two workers each, one Redis.  A concurrent
# burst for one key, split across both instances, admits exactly the limit
# (exact window and GCRA): the count is Redis's, not each worker's.  The
# exact window's bounded slots (src/v3xy_slots.h) of each counter width,
# per minute, hour and day, too.
#
# Instance A is the nginx of Test::Nginx; instance B is a second nginx that
# this file starts itself (same module, same limits, its own backend) and
# stops in END.  v3xy_limit_fail closed: should Redis misbehave, requests
# get 503, never a silent admission, so the counts stay honest.

use lib 't/lib';
use Test::Nginx::Socket 'no_plan';
use V3xy qw(start_redis free_port);
use V3xyFleet qw(start_b b_log a_log bad_lines fleet_suite http_head
                 wait_redis_ready fleet_burst);

use Time::HiRes ();

start_redis();

# The http level and the locations of both instances; B gets its own
# backend port.  X-Worker names the worker that answered (report only).
our $HttpConfig = <<'_EOC_';
    v3xy_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT connect_timeout=5s timeout=2s;
    v3xy_limit_zone burst rate=20r/m key=$http_x_merchant;
    v3xy_limit_zone gcra rate=5r/m key=$http_x_merchant burst=5;
    v3xy_limit_zone minute rate=300r/m key=$http_x_merchant;
    v3xy_limit_zone hour rate=100r/h key=$http_x_merchant;
    v3xy_limit_zone day rate=500r/d key=$http_x_merchant;

    server {
        listen 127.0.0.1:$TEST_NGINX_BACKEND_PORT;
        access_log off;

        location / {
            return 200 "ok\n";
        }
    }
_EOC_

our $Locations = <<'_EOC_';
    location /burst/ {
        v3xy_limit burst;
        v3xy_limit_fail closed;
        add_header X-Worker $pid always;
        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
    }

    location /minute/ {
        v3xy_limit minute;
        v3xy_limit_fail closed;
        add_header X-Worker $pid always;
        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
    }

    location /hour/ {
        v3xy_limit hour;
        v3xy_limit_fail closed;
        add_header X-Worker $pid always;
        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
    }

    location /day/ {
        v3xy_limit day;
        v3xy_limit_fail closed;
        add_header X-Worker $pid always;
        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
    }

    location /gcra/ {
        v3xy_limit gcra;
        v3xy_limit_fail closed;
        add_header X-Worker $pid always;
        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
    }
_EOC_

$ENV{TEST_NGINX_BACKEND_PORT} = free_port();

our $BPort = start_b($HttpConfig, $Locations,
                     TEST_NGINX_BACKEND_PORT => free_port());

# get(PORT, PATH, KEY): a GET for the key (X-Merchant): (status, head)
sub get {
    my ($port, $path, $key) = @_;
    return http_head($port, $path, 'X-Merchant' => $key);
}

# The burst and its verdict: exactly ADMITTED 200, the rest 429, nothing
# else; both instances answered their half.
sub check_burst {
    my ($path, $key, $total, $clients, $admitted) = @_;

    my $n = wait_redis_ready();
    my $t0 = Time::HiRes::time();
    my @res = fleet_burst($path, $key, $total, $clients);
    my $took = Time::HiRes::time() - $t0;

    my (%status, %inst, %admit, %seen);

    for (@res) {
        my ($i, $st, $w) = split / /;
        $status{$st}++;
        $inst{$i}++;
        $admit{"$i:$w"}++ if $st eq '200';
        $seen{"$i:$w"}++;
    }

    my $summary = join ' ', map { "$_=$status{$_}" } sort keys %status;

    my $by = sub {
        my ($h) = @_;
        return join(', ', map { "$_ x$h->{$_}" } sort keys %$h) || 'none';
    };

    Test::More::note(sprintf "%s %s: %d requests from %d clients to %d "
        . "workers in %.3f s: %s; admitted by %s; answered by %s", $path,
        $key, scalar @res, $clients, $n, $took, $summary, $by->(\%admit),
        $by->(\%seen));

    my $ok = Test::More::is($summary, "200=$admitted 429=" . ($total - $admitted),
        "$path: a burst of $total for one key across A and B admits exactly "
        . "$admitted, refuses the rest with 429, nothing else");
    Test::More::is($inst{A} . '/' . $inst{B}, ($total / 2) . '/' . ($total / 2),
        "$path: A and B each answered half of the burst");

    my @bad = bad_lines(b_log());
    Test::More::is(scalar @bad, 0, "instance B logged no problem")
        or Test::More::diag(join "\n", @bad);

    if (!$ok) {
        Test::More::diag(join "\n", "warnings and errors of A:",
                         bad_lines(a_log()), "warnings and errors of B:",
                         bad_lines(b_log()), "(end)");
    }
}

fleet_suite($HttpConfig, $Locations);
run_tests();

__DATA__

=== TEST 1: exact window, 20r/m: a burst of 200 over two instances admits exactly 20
--- init
main::check_burst('/burst/a', 'fleet1', 200, 20, 20);
my ($st) = main::get($main::BPort, '/burst/a', 'fleet1');
Test::More::is($st, 429, 'instance B refuses the 201st too');
--- request
GET /burst/a
--- more_headers
X-Merchant: fleet1
--- error_code: 429
--- response_headers_like
Retry-After: \d+
RateLimit-Policy: "burst";q=20;w=60
RateLimit: "burst";r=0;t=\d+
--- response_body_like: "code":"rate_limited"
--- no_error_log
[warn]
[error]
[alert]



=== TEST 2: another key is not touched by that burst, on either instance
--- init
main::wait_redis_ready();
my ($st, $head) = main::get($main::BPort, '/burst/a', 'fleet2');
Test::More::is($st, 200, 'instance B admits another key');
Test::More::like($head, qr/^RateLimit: "burst";r=19;t=(59|6[0-3])\r$/m,
                 'with 19 left for it');
--- request
GET /burst/a
--- more_headers
X-Merchant: fleet2
--- error_code: 200
--- response_headers_like
RateLimit-Policy: "burst";q=20;w=60
RateLimit: "burst";r=18;t=(59|6[0-3])
--- response_body
ok



=== TEST 3: GCRA, 5r/m with burst=5: a burst of 50 over two instances admits exactly 5
--- init
main::check_burst('/gcra/a', 'fleet3', 50, 10, 5);
--- request
GET /gcra/a
--- more_headers
X-Merchant: fleet3
--- error_code: 429
--- response_headers_like
Retry-After: \d+
RateLimit-Policy: "gcra";q=5;w=60
RateLimit: "gcra";r=0;t=\d+
--- response_body_like: "code":"rate_limited"
--- no_error_log
[warn]
[error]
[alert]



=== TEST 4: exact window, 300r/m (16-bit slots): a burst of 400 over two instances admits exactly 300
--- init
main::check_burst('/minute/a', 'fleet4', 400, 20, 300);
--- request
GET /minute/a
--- more_headers
X-Merchant: fleet4
--- error_code: 429
--- response_headers_like
Retry-After: \d+
RateLimit-Policy: "minute";q=300;w=60
RateLimit: "minute";r=0;t=\d+
--- no_error_log
[warn]
[error]
[alert]



=== TEST 5: exact window, 100r/h: a burst of 200 over two instances admits exactly 100
--- init
main::check_burst('/hour/a', 'fleet5', 200, 20, 100);
--- request
GET /hour/a
--- more_headers
X-Merchant: fleet5
--- error_code: 429
--- response_headers_like
Retry-After: \d+
RateLimit-Policy: "hour";q=100;w=3600
RateLimit: "hour";r=0;t=\d+
--- no_error_log
[warn]
[error]
[alert]



=== TEST 6: exact window, 500r/d: a burst of 600 over two instances admits exactly 500, and the wait is the day's and at most one slot (53 min 20 s) more
--- init
main::check_burst('/day/a', 'fleet6', 600, 20, 500);
--- request
GET /day/a
--- more_headers
X-Merchant: fleet6
--- error_code: 429
--- response_headers_like
Retry-After: (8[6-9]\d{3})
RateLimit-Policy: "day";q=500;w=86400
RateLimit: "day";r=0;t=(8[6-9]\d{3})
--- no_error_log
[warn]
[error]
[alert]
