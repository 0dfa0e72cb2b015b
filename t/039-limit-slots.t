# The exact window of limits above 6 a window keeps bounded slots of counts
# (src/v3xy_slots.h): 64 bytes a key whatever the rate.  What it promises
# through real nginx: exactly N across workers in shared memory, for a
# minute and a day; a zone of 1 MB holds thousands of keys at 300r/m; the
# counts survive a reload that changes nothing, and a reload that changes
# the rate has the documented outcome, in shared memory and in Redis.

use lib 't/lib';
use Test::Nginx::Socket 'no_plan';
use V3xy qw(start_redis free_port);

use IO::Socket::INET;
use POSIX ();
use Time::HiRes ();

start_redis();

$ENV{TEST_NGINX_BACKEND_PORT} = free_port();

master_on();
workers(2);
worker_connections(1024);

# nginx may still be starting (under valgrind it takes seconds)
sub ready {
    for (1 .. 400) {
        return if V3xy::http_get('/t') == 200;
        Time::HiRes::sleep(0.05);
    }
}

# burst(PATH, KEY, TOTAL, CLIENTS): TOTAL requests for one key from
# CLIENTS processes, all connected before any sends; status => count
sub burst {
    my ($path, $key, $total, $clients) = @_;
    my $per = $total / $clients;

    ready();

    pipe my $rd, my $wr or die "pipe: $!";
    pipe my $go_r, my $go_w or die "pipe: $!";
    my @pids;

    for (1 .. $clients) {
        my $pid = fork // die "fork: $!";

        if ($pid == 0) {
            close $rd;
            close $go_w;
            my @s = map {
                IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                      PeerPort => $ENV{TEST_NGINX_SERVER_PORT})
            } 1 .. $per;
            sysread $go_r, my $buf, 1;        # EOF: go
            for my $s (@s) {
                next unless $s;
                print $s "GET $path HTTP/1.0\r\nHost: x\r\n"
                         . "X-Merchant: $key\r\n\r\n";
            }
            for my $s (@s) {
                my $st = 0;
                if ($s) {
                    local $/;
                    my $r = <$s> // '';
                    ($st) = $r =~ m{\AHTTP/\d\.\d (\d+)};
                }
                syswrite $wr, ($st // 0) . "\n";
            }
            POSIX::_exit(0);
        }

        push @pids, $pid;
    }

    close $wr;
    close $go_r;
    Time::HiRes::sleep(0.3);
    close $go_w;

    my %st;
    while (my $line = <$rd>) {
        chomp $line;
        $st{$line}++;
    }
    waitpid $_, 0 for @pids;

    return join ' ', map { "$_=$st{$_}" } sort keys %st;
}

# keys(PATH, N): GET PATH with X-Merchant k1 .. kN, pipelined 200 at a
# time on keep-alive connections; status => count
sub many_keys {
    my ($path, $n) = @_;
    my %st;

    ready();

    for (my $i = 1; $i <= $n; $i += 200) {
        my $last = $i + 199 > $n ? $n : $i + 199;
        my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                      PeerPort => $ENV{TEST_NGINX_SERVER_PORT})
            or die "connect: $!";
        my $req = '';
        $req .= "GET $path HTTP/1.1\r\nHost: x\r\nX-Merchant: k$_\r\n\r\n"
            for $i .. $last;
        $req =~ s/\r\n\r\n\z/\r\nConnection: close\r\n\r\n/;
        print $s $req;
        local $/;
        my $all = <$s> // '';
        $st{$1}++ while $all =~ m{^HTTP/1\.1 (\d+)}mg;
    }

    return \%st;
}

# one(PATH, KEY): (status, the RateLimit-Policy's q) of one request
sub one {
    my ($path, $key) = @_;
    my ($st, $head) = V3xy::http_req('GET', $path, undef,
                                     'X-Merchant' => $key);
    my ($q) = ($head // '') =~ /^RateLimit-Policy: "[^"]+";q=(\d+)/mi;
    return ($st, $q // '');
}

# reload(FROM, TO): the rate FROM becomes TO in nginx.conf, HUP, then
# waits until the old workers are gone (one that still served would
# decide under the old rate)
sub reload {
    my ($from, $to) = @_;
    my $conf = "$ENV{TEST_NGINX_SERVER_ROOT}/conf/nginx.conf";
    my $pidfile = "$ENV{TEST_NGINX_SERVER_ROOT}/logs/nginx.pid";

    open my $in, '<', $conf or die "$conf: $!";
    my $text = do { local $/; <$in> };
    close $in;
    $text =~ s/rate=\Q$from\E /rate=$to / or die "no rate=$from";
    open my $out, '>', $conf or die "$conf: $!";
    print $out $text;
    close $out;

    open my $fh, '<', $pidfile or die "$pidfile: $!";
    chomp(my $master = <$fh>);
    close $fh;
    my %old = map { $_ => 1 } split ' ', `ps -o pid= --ppid $master`;
    kill 'HUP', $master;

    V3xy::wait_until(sub {
        my @now = split ' ', `ps -o pid= --ppid $master`;
        return @now && !grep { $old{$_} } @now;
    }, 'the old workers to exit');
}

# after_reload(PATH, KEY, Q, N): requests until the new configuration
# (RateLimit-Policy q=Q) answers, then N more; statuses of those answered
# by the new configuration
sub after_reload {
    my ($path, $key, $q, $n) = @_;
    my @st;

    for (1 .. 200) {
        my ($st, $got) = one($path, $key);
        if ($got eq $q) {
            push @st, $st;
            last;
        }
        Time::HiRes::sleep(0.05);
    }

    push @st, (one($path, $key))[0] for 2 .. $n;

    my %c;
    $c{$_}++ for @st;
    return join ' ', map { "$_=$c{$_}" } sort keys %c;
}

add_block_preprocessor(sub {
    my $block = shift;

    $block->set_value('timeout', 60) if $ENV{TEST_NGINX_USE_VALGRIND};
    $block->set_value('request', 'GET /t') unless defined $block->request;
    $block->set_value('config', ($block->config // '') . <<'_EOC_');
    location = /t {
        return 200 "ok\n";
    }
_EOC_
});

our $Backend = <<'_EOC_';
    server {
        listen 127.0.0.1:$TEST_NGINX_BACKEND_PORT;
        access_log off;
        location / { return 200 "ok\n"; }
    }
_EOC_

no_long_string();
no_shuffle();
run_tests();

__DATA__

=== TEST 1: shared memory, 300r/m (16-bit slots): a concurrent burst of 400 over two workers admits exactly 300
--- http_config eval
"v3xy_limit_zone m rate=300r/m key=\$http_x_merchant;\n" . $main::Backend
--- config
    location /m/ {
        v3xy_limit m;
        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
    }
--- init
Test::More::is(main::burst('/m/a', 'burst1', 400, 20), '200=300 429=100',
               'exactly 300 of 400');
--- no_error_log
[alert]
[crit]
[error]



=== TEST 2: shared memory, 500r/d: a concurrent burst of 600 admits exactly 500, then Retry-After is the day and at most one slot (53 min 20 s) more
--- http_config eval
"v3xy_limit_zone d rate=500r/d key=\$http_x_merchant;\n" . $main::Backend
--- config
    location /d/ {
        v3xy_limit d;
        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
    }
--- init
Test::More::is(main::burst('/d/a', 'burst2', 600, 20), '200=500 429=100',
               'exactly 500 of 600');
--- request
GET /d/a
--- more_headers
X-Merchant: burst2
--- error_code: 429
--- response_headers_like
Retry-After: 8[6-9]\d{3}
RateLimit-Policy: "d";q=500;w=86400
RateLimit: "d";r=0;t=8[6-9]\d{3}
--- no_error_log
[alert]
[crit]
[error]



=== TEST 3: shared memory, 100r/h (8-bit slots of 65,455 ms): a concurrent burst of 200 admits exactly 100
--- http_config eval
"v3xy_limit_zone h rate=100r/h key=\$http_x_merchant;\n" . $main::Backend
--- config
    location /h/ {
        v3xy_limit h;
        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
    }
--- init
Test::More::is(main::burst('/h/a', 'burst3', 200, 20), '200=100 429=100',
               'exactly 100 of 200');
--- request
GET /h/a
--- more_headers
X-Merchant: burst3
--- error_code: 429
--- response_headers_like
Retry-After: 3(59[89]|6\d\d)
RateLimit-Policy: "h";q=100;w=3600
RateLimit: "h";r=0;t=3(59[89]|6\d\d)
--- no_error_log
[alert]
[crit]
[error]



=== TEST 4: a zone of 1m at 300r/m holds 6,000 keys that all still count (a ring held about 250): every one admitted, none forgotten, no warning
--- http_config eval
"v3xy_limit_zone m rate=300r/m key=\$http_x_merchant size=1m;\n"
. $main::Backend
--- config
    location /m/ {
        v3xy_limit m;
        v3xy_limit_fail closed;
        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
    }
--- init
my $st = main::many_keys('/m/a', 6000);
Test::More::is(join(' ', map { "$_=$st->{$_}" } sort keys %$st), '200=6000',
               'all 6,000 keys admitted');
# and each still counts: k1 has 298 left
my ($s, $head) = V3xy::http_req('GET', '/m/a', undef, 'X-Merchant' => 'k1');
Test::More::like($head, qr/^RateLimit: "m";r=298;/m, 'k1 remembered');
--- no_error_log
is full of keys
[alert]
[crit]
[error]



=== TEST 5: shared memory: a reload that changes nothing keeps the counts; 300r/m to 400r/m admits exactly 100 more; to 50r/m (8-bit slots) admits none
--- http_config eval
"v3xy_limit_zone m rate=300r/m key=\$http_x_merchant;\n" . $main::Backend
--- config
    location /m/ {
        v3xy_limit m;
        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
    }
--- init
Test::More::is(main::burst('/m/a', 'rl', 320, 16), '200=300 429=20',
               '300 of 320');
main::reload('300r/m', '300r/m');
Time::HiRes::sleep(1);
Test::More::is(main::after_reload('/m/a', 'rl', 300, 5), '429=5',
               'the same rate after a reload: still none left');
main::reload('300r/m', '400r/m');
Test::More::is(main::after_reload('/m/a', 'rl', 400, 120), '200=100 429=20',
               '400r/m: exactly 100 more');
main::reload('400r/m', '50r/m');
Test::More::is(main::after_reload('/m/a', 'rl', 50, 5), '429=5',
               '50r/m: the 400 admissions still count');
--- no_error_log
[alert]
[crit]
[error]



=== TEST 6: Redis: a reload that changes nothing keeps the counts; 300r/m to 400r/m admits exactly 100 more; to 50r/m (8-bit slots) admits none
--- http_config eval
"v3xy_redis 127.0.0.1:\$TEST_NGINX_REDIS_PORT connect_timeout=5s timeout=2s;\n"
. "v3xy_limit_zone m rate=300r/m key=\$http_x_merchant;\n" . $main::Backend
--- config
    location /m/ {
        v3xy_limit m;
        v3xy_limit_fail closed;
        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
    }
--- init
V3xy::redis('DEL', 'v3xy:{m:rr}', 'v3xy:{m:rr2}');
V3xy::wait_ready('/m/ready');
Test::More::is(main::burst('/m/a', 'rr', 320, 16), '200=300 429=20',
               '300 of 320');
# 8 + 4 + 1 bytes of head, 56 of counters
Test::More::is(V3xy::redis('STRLEN', 'v3xy:{m:rr}'), 69, '69 bytes in Redis');
# the script's verdicts are the slots' (as src/v3xy_slots.c's): the 300
# leave together 27 or 28 slots of 2,223 ms on, and a fresh key's one
# admission as late
my ($s1, $h1) = V3xy::http_req('GET', '/m/a', undef, 'X-Merchant' => 'rr');
Test::More::like($h1, qr/^Retry-After: 6[0-3]\r$/m, 'Retry-After 60 to 63');
Test::More::like($h1, qr/^RateLimit: "m";r=0;t=6[0-3]\r$/m, 't 60 to 63');
my ($s2, $h2) = V3xy::http_req('GET', '/m/a', undef, 'X-Merchant' => 'rr2');
Test::More::like($h2, qr/^RateLimit: "m";r=299;t=6[0-3]\r$/m,
                 'a fresh key: 299 left, t 60 to 63');
my $ttl = V3xy::redis('PTTL', 'v3xy:{m:rr2}');
Test::More::ok($ttl > 59000 && $ttl <= 62244, "kept until its slot leaves: $ttl ms");
main::reload('300r/m', '300r/m');
Time::HiRes::sleep(1);
Test::More::is(main::after_reload('/m/a', 'rr', 300, 5), '429=5',
               'the same rate after a reload: still none left');
main::reload('300r/m', '400r/m');
Test::More::is(main::after_reload('/m/a', 'rr', 400, 120), '200=100 429=20',
               '400r/m: exactly 100 more');
main::reload('400r/m', '50r/m');
Test::More::is(main::after_reload('/m/a', 'rr', 50, 5), '429=5',
               '50r/m: the 400 admissions still count');
--- no_error_log
[alert]
[crit]
[error]
