# Quotas: windows of k units up to 30 days ("Nr/30d": a month's quota as a
# rolling window, exact as the shorter ones), in shared memory and in
# Redis; and quotas that roll over when the suite moves the clocks of nginx
# and Redis a day or 30 days on (libfaketime, LD_PRELOAD: a test's tool
# outside the module, which has no clock of its own to move), not by
# sleeping.

use lib 't/lib';
use Test::Nginx::Socket 'no_plan';
use V3xy qw(start_echo start_redis);
use File::Temp ();
use IO::Socket::INET;

start_echo();

# the clock of every process started from here on: libfaketime reads the
# offset from this file at each call (FAKETIME_NO_CACHE)
our ($Faketime) = glob '/usr/lib/*/faketime/libfaketime.so.1';
die "libfaketime is missing (apt-get install libfaketime)\n"
    unless defined $Faketime;

our $Clock = File::Temp::tempdir('v3xy-clock-XXXXXX', TMPDIR => 1,
                                 CLEANUP => 1) . '/offset';

# clock(OFFSET): moves the clocks of nginx and Redis ("+86401": a day and
# a second on, "+0": back to the real time)
sub clock {
    my ($offset) = @_;
    open my $fh, '>', "$Clock.new" or die "$Clock.new: $!";
    print $fh "$offset\n";
    close $fh;
    rename "$Clock.new", $Clock or die "$Clock: $!";
}

# nginx only (Test::Nginx's own way to preload): Redis's clock cannot be
# moved so, its jemalloc and libfaketime clash
start_redis();

# (not under valgrind: Test::Nginx then puts the preload after valgrind,
# and the blocks that move the clock are skipped)
clock('+0');
$ENV{TEST_NGINX_LD_PRELOAD} = $Faketime unless $ENV{TEST_NGINX_USE_VALGRIND};
$ENV{FAKETIME_TIMESTAMP_FILE} = $Clock;
$ENV{FAKETIME_NO_CACHE} = 1;

# resp(ARGS...): one command to the test's Redis, its reply (a bulk
# string's bytes as they are, which redis-cli would escape)
sub resp {
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                  PeerPort => $ENV{TEST_NGINX_REDIS_PORT})
        or die "redis: $!";
    print $s '*' . @_ . "\r\n" . join '', map { '$' . length($_) . "\r\n$_\r\n" } @_;
    my $line = <$s> // die "redis: no reply";
    die "redis: $line" if $line =~ /^-/;
    return $1 if $line =~ /^[:+](.*)\r\n\z/;
    my ($len) = $line =~ /^\$(-?\d+)/ or die "redis: $line";
    return undef if $len < 0;
    my $v = '';
    read($s, $v, $len + 2 - length $v, length $v) while length $v < $len + 2;
    return substr $v, 0, $len;
}

# redis_age(KEY, MS): Redis's clock cannot be moved (see above), so its
# state is moved MS into the past instead, as the script would find it MS
# later: each admission time of a ring (N up to 6) MS earlier; a state of
# slots by whole slots (ceil(MS / w)) rotated in its ring of counters; the
# TTL MS shorter (the key deleted if that leaves none, as Redis would)
sub redis_age {
    my ($key, $ms) = @_;
    my $v = resp('GET', $key) // die "redis_age: no $key";
    my $ttl = resp('PTTL', $key);

    if (length $v == 69) {
        my ($sn, $sw, $nb) = unpack 'd> N C', $v;
        my $k = int(($ms + $sw - 1) / $sw);
        my $n = 56 / $nb;
        my $f = { 1 => 'C', 2 => 'n', 4 => 'N' }->{$nb};
        my @c = unpack "x13 $f$n", $v;
        my @r = map { $c[($_ + $k) % $n] } 0 .. $n - 1;
        $ms = $k * $sw;
        return resp('DEL', $key) if $sn - $k <= 0 || $ttl <= $ms;
        $v = pack("d> N C $f$n", $sn - $k, $sw, $nb, @r);

    } else {
        my ($idx, @t) = unpack 'd>*', $v;
        return resp('DEL', $key) if $ttl <= $ms;
        $v = pack 'd>*', $idx, map { $_ ? $_ - $ms : 0 } @t;
    }

    resp('SET', $key, $v, 'PX', $ttl - $ms);
}

our $Redis = "    v3xy_redis 127.0.0.1:\$TEST_NGINX_REDIS_PORT timeout=2s;\n";

# count(PATH, KEY, N): N requests for one key, one after the other;
# "status=count ..."
sub count {
    my ($path, $key, $n) = @_;
    my %st;
    $st{V3xy::http_get($path, 'X-Merchant' => $key)}++ for 1 .. $n;
    return join ' ', map { "$_=$st{$_}" } sort keys %st;
}

add_block_preprocessor(sub {
    my $block = shift;
    my $http = $block->http_config // '';

    $block->set_value('http_config', ($block->name =~ /in Redis/ ? $::Redis
                                                                 : '')
                                     . $http . <<'_EOC_');
    v3xy_limit_zone month rate=300r/30d key=$http_x_merchant;
    v3xy_limit_zone month3 rate=3r/30d key=$http_x_merchant;
    v3xy_limit_zone month_gcra rate=10r/30d burst=2 key=$http_x_merchant;
    v3xy_limit_zone day3 rate=3r/d key=$http_x_merchant;
_EOC_

    # the workers keep the clock's settings (nginx clears their environment)
    $block->set_value('main_config', <<'_EOC_');
    env FAKETIME_TIMESTAMP_FILE;
    env FAKETIME_NO_CACHE;
_EOC_

    $block->set_value('config', <<'_EOC_') unless defined $block->config;
    location /month/ {
        v3xy_limit month;
        v3xy_limit_fail closed;
        proxy_pass http://127.0.0.1:$TEST_NGINX_ECHO_PORT;
    }

    location /month3/ {
        v3xy_limit month3;
        v3xy_limit_fail closed;
        proxy_pass http://127.0.0.1:$TEST_NGINX_ECHO_PORT;
    }

    location /gcra/ {
        v3xy_limit month_gcra;
        v3xy_limit_fail closed;
        proxy_pass http://127.0.0.1:$TEST_NGINX_ECHO_PORT;
    }

    location /day3/ {
        v3xy_limit day3;
        v3xy_limit_fail closed;
        proxy_pass http://127.0.0.1:$TEST_NGINX_ECHO_PORT;
    }
_EOC_

    V3xy::redis_ready_block($block, wait => 1);
});

no_shuffle();
no_long_string();
run_tests();

__DATA__

=== TEST 1: shared memory, 300r/30d (16-bit slots of 26 h 40 min): exactly 300 admitted, then Retry-After of 30 days and at most one slot more
--- init
Test::More::is(main::count('/month/a', 'q1', 301), '200=300 429=1',
               'exactly 300 of 301');
--- request
GET /month/a
--- more_headers
X-Merchant: q1
--- error_code: 429
--- response_headers_like
Retry-After: 2(59[2-9]|6[0-8]\d)\d{3}
RateLimit-Policy: "month";q=300;w=2592000
RateLimit: "month";r=0;t=2(59[2-9]|6[0-8]\d)\d{3}
--- response_body_like: "code":"rate_limited"



=== TEST 2: in Redis, 300r/30d: exactly 300 admitted, Retry-After of 30 days and at most a slot, the key's TTL a window and at most a slot
--- init
V3xy::wait_ready('/ready');
Test::More::is(main::count('/month/a', 'q2', 301), '200=300 429=1',
               'exactly 300 of 301');
my $ttl = V3xy::redis('PTTL', 'v3xy:{month:q2}');
Test::More::ok($ttl > 2592000000 && $ttl <= 2688000000,
               "TTL a window and at most a slot: $ttl");
--- request
GET /month/a
--- more_headers
X-Merchant: q2
--- error_code: 429
--- response_headers_like
Retry-After: 2(59[2-9]|6[0-8]\d)\d{3}
RateLimit-Policy: "month";q=300;w=2592000
RateLimit: "month";r=0;t=2(59[2-9]|6[0-8]\d)\d{3}



=== TEST 3: shared memory, 3r/30d (the ring, exact to the millisecond): three admitted, the fourth waits 30 days
--- pipelined_requests eval
["GET /month3/a", "GET /month3/a", "GET /month3/a", "GET /month3/a"]
--- more_headers
X-Merchant: q3
--- error_code eval
[200, 200, 200, 429]
--- response_headers_like eval
["RateLimit-Policy: \"month3\";q=3;w=2592000\nRateLimit: \"month3\";r=2;t=2592000",
 "RateLimit: \"month3\";r=1;t=259(1999|2000)",
 "RateLimit: \"month3\";r=0;t=259(1999|2000)",
 "Retry-After: 259(1999|2000)\nRateLimit: \"month3\";r=0;t=259(1999|2000)"]



=== TEST 4: in Redis, 3r/30d: three admitted, the fourth waits 30 days, the key's TTL the window
--- init
V3xy::wait_ready('/ready');
Test::More::is(main::count('/month3/a', 'q4', 3), '200=3', 'three admitted');
my $ttl = V3xy::redis('PTTL', 'v3xy:{month3:q4}');
Test::More::ok($ttl > 2591990000 && $ttl <= 2592000000, "TTL the window: $ttl");
--- request
GET /month3/a
--- more_headers
X-Merchant: q4
--- error_code: 429
--- response_headers_like
Retry-After: 259(1999|2000)
RateLimit: "month3";r=0;t=259(1999|2000)



=== TEST 5: GCRA over 30 days (10r/30d burst=2): the burst, then one per 3 days, in shared memory
--- pipelined_requests eval
["GET /gcra/a", "GET /gcra/a", "GET /gcra/a"]
--- more_headers
X-Merchant: q5
--- error_code eval
[200, 200, 429]
--- response_headers_like eval
["RateLimit: \"month_gcra\";r=1;t=259200", "RateLimit: \"month_gcra\";r=0;t=259200",
 "Retry-After: 259200\nRateLimit: \"month_gcra\";r=0;t=259200"]



=== TEST 6: GCRA over 30 days in Redis: the burst, then one per 3 days
--- pipelined_requests eval
["GET /gcra/a", "GET /gcra/a", "GET /gcra/a"]
--- more_headers
X-Merchant: q6
--- error_code eval
[200, 200, 429]
--- response_headers_like eval
["RateLimit: \"month_gcra\";r=1;t=259200", "RateLimit: \"month_gcra\";r=0;t=259200",
 "Retry-After: 259200\nRateLimit: \"month_gcra\";r=0;t=259200"]



=== TEST 7: a window over 30 days is a configuration error
--- http_config
    v3xy_limit_zone long rate=1r/31d key=$remote_addr;
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid rate "rate=1r\/31d": use Nr\/s, Nr\/m, Nr\/h or Nr\/d with N from 1 to 1000000, or k units \(Nr\/30d\) up to 30 days/



=== TEST 8: a daily quota in shared memory rolls over when the clock moves a day on: refused until then, admitted after, without sleeping
--- skip_eval: 4: $ENV{TEST_NGINX_USE_VALGRIND}
--- init
unless ($ENV{TEST_NGINX_USE_VALGRIND}) {
    main::clock('+0');
    Test::More::is(main::count('/day3/a', 'roll8', 4), '200=3 429=1',
                   'three of four today');
    main::clock('+86399');
    Test::More::is(main::count('/day3/a', 'roll8', 1), '429=1',
                   'still refused a second before the day is over');
    main::clock('+86401');
}
--- request
GET /day3/a
--- more_headers
X-Merchant: roll8
--- error_code: 200
--- response_headers_like
RateLimit: "day3";r=2;t=86400



=== TEST 9: a daily quota in Redis rolls over a day on (its state moved a day into the past)
--- init
main::clock('+0');
V3xy::wait_ready('/ready');
Test::More::is(main::count('/day3/a', 'roll9', 4), '200=3 429=1',
               'three of four today');
main::redis_age('v3xy:{day3:roll9}', 86399000);
Test::More::is(main::count('/day3/a', 'roll9', 1), '429=1',
               'still refused a second before the day is over');
main::redis_age('v3xy:{day3:roll9}', 2000);
--- request
GET /day3/a
--- more_headers
X-Merchant: roll9
--- error_code: 200
--- response_headers_like
RateLimit: "day3";r=2;t=86400



=== TEST 10: a 30-day quota of slots rolls over after 30 days and at most a slot, in shared memory
--- skip_eval: 4: $ENV{TEST_NGINX_USE_VALGRIND}
--- init
unless ($ENV{TEST_NGINX_USE_VALGRIND}) {
    main::clock('+0');
    Test::More::is(main::count('/month/a', 'roll10', 301), '200=300 429=1',
                   '300 of 301 this month');
    main::clock('+29d');
    Test::More::is(main::count('/month/a', 'roll10', 1), '429=1',
                   'still refused on day 29');
    main::clock('+31d');
}
--- request
GET /month/a
--- more_headers
X-Merchant: roll10
--- error_code: 200
--- response_headers_like
RateLimit: "month";r=299;t=\d+



=== TEST 11: a 30-day quota of slots in Redis rolls over after 30 days and at most a slot (its state moved into the past)
--- init
main::clock('+0');
V3xy::wait_ready('/ready');
Test::More::is(main::count('/month/a', 'roll11', 301), '200=300 429=1',
               '300 of 301 this month');
main::redis_age('v3xy:{month:roll11}', 28 * 86400000);
Test::More::is(main::count('/month/a', 'roll11', 1), '429=1',
               'still refused 26 slots (28 days 21 h) on');
main::redis_age('v3xy:{month:roll11}', 2 * 86400000);
--- request
GET /month/a
--- more_headers
X-Merchant: roll11
--- error_code: 200
--- response_headers_like
RateLimit: "month";r=299;t=\d+
