# A fleet: two nginx instances, two workers each, one Redis.  A concurrent
# burst for one key, split across both instances, admits exactly the limit
# (exact window and GCRA): the count is Redis's, not each worker's.
#
# Instance A is the nginx of Test::Nginx; instance B is a second nginx that
# this file starts itself (same module, same limits, its own backend) and
# stops in END.  v3xy_limit_fail closed: should Redis misbehave, requests
# get 503, never a silent admission, so the counts stay honest.

use lib 't/lib';
use Test::Nginx::Socket 'no_plan';
use V3xy qw(start_redis redis free_port);

use File::Temp qw(tempdir);
use IO::Socket::INET;
use POSIX ();
use Time::HiRes ();

start_redis();

# The http level and the locations of both instances; B gets its own
# backend port.  X-Worker names the worker that answered (report only).
our $HttpConfig = <<'_EOC_';
    v3xy_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT connect_timeout=5s timeout=2s;
    v3xy_limit_zone burst rate=20r/m key=$http_x_merchant;
    v3xy_limit_zone gcra rate=5r/m key=$http_x_merchant burst=5;

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

    location /gcra/ {
        v3xy_limit gcra;
        v3xy_limit_fail closed;
        add_header X-Worker $pid always;
        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
    }
_EOC_

$ENV{TEST_NGINX_BACKEND_PORT} = free_port();

# instance B

our $Main = $$;
our $BDir = tempdir('v3xy-fleet-XXXXXX', TMPDIR => 1, CLEANUP => 1);
our $BPort = free_port();
our $BPid;

start_b();

END {
    stop_b() if $$ == $Main;
}

sub expand {
    my ($text, %env) = @_;
    $text =~ s/\$(TEST_NGINX_\w+)/$env{$1} \/\/ $ENV{$1} \/\/ die "no \$$1\n"/ge;
    return $text;
}

sub start_b {
    my $bin = $ENV{TEST_NGINX_BINARY} || 'nginx';
    my $so = $ENV{TEST_NGINX_LOAD_MODULES}
        or die "TEST_NGINX_LOAD_MODULES is not set\n";
    my %env = (TEST_NGINX_BACKEND_PORT => free_port());
    my $http = expand($HttpConfig, %env);
    my $locations = expand($Locations, %env);
    my $user = $> == 0 ? "user root;\n" : '';

    open my $fh, '>', "$BDir/nginx.conf" or die "$BDir/nginx.conf: $!";
    print $fh <<"_EOC_";
load_module $so;
${user}daemon on;
master_process on;
worker_processes 2;
pid $BDir/nginx.pid;
error_log $BDir/error.log info;

events {
    worker_connections 1024;
    accept_mutex off;
}

http {
    access_log off;
    client_body_temp_path $BDir/client_body_temp;
    proxy_temp_path $BDir/proxy_temp;
    fastcgi_temp_path $BDir/fastcgi_temp;
    uwsgi_temp_path $BDir/uwsgi_temp;
    scgi_temp_path $BDir/scgi_temp;

$http
    server {
        listen 127.0.0.1:$BPort;
        server_name localhost;

$locations
    }
}
_EOC_
    close $fh;

    system($bin, '-p', "$BDir/", '-e', "$BDir/error.log",
           '-c', "$BDir/nginx.conf") == 0
        or die "instance B did not start (status $?):\n" . b_log();

    for (1 .. 100) {
        if (!$BPid && open my $p, '<', "$BDir/nginx.pid") {
            ($BPid) = <$p> =~ /(\d+)/;
        }

        my $s = $BPid && IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                               PeerPort => $BPort);
        if ($s) {
            close $s;
            return;
        }

        Time::HiRes::sleep(0.05);
    }

    die "instance B does not listen on 127.0.0.1:$BPort:\n" . b_log();
}

sub stop_b {
    return unless $BPid;

    my @workers = workers_of($BPid);

    kill 'TERM', $BPid;

    for (1 .. 100) {
        return unless kill 0, $BPid;
        Time::HiRes::sleep(0.05);
    }

    kill 'KILL', $BPid, @workers;
}

sub b_log {
    open my $fh, '<', "$BDir/error.log" or return "(no error log)\n";
    local $/;
    return <$fh>;
}

sub bad_lines {
    my ($log) = @_;
    return grep { /\[(warn|error|crit|alert|emerg)\]/ } split /\n/, $log;
}

# The workers of a master (the master itself when it has none), from /proc.
sub workers_of {
    my ($master) = @_;
    my @w;

    opendir my $dh, '/proc' or die "/proc: $!";

    for my $pid (grep { /^\d+$/ } readdir $dh) {
        open my $fh, '<', "/proc/$pid/stat" or next;
        my ($ppid) = (<$fh> // '') =~ /\) \S+ (\d+)/;
        push @w, $pid if defined $ppid && $ppid == $master;
    }

    return @w ? @w : ($master);
}

# Local port => pid of the established connections to Redis of these
# processes, from /proc (no ss or lsof needed).
sub redis_conns {
    my (@pids) = @_;
    my $rport = sprintf '%04X', $ENV{TEST_NGINX_REDIS_PORT};
    my (%pid_of_inode, %conns);
    local $_;

    for my $pid (@pids) {
        opendir my $dh, "/proc/$pid/fd" or next;
        for (readdir $dh) {
            my $l = readlink "/proc/$pid/fd/$_" // next;
            $pid_of_inode{$1} = $pid if $l =~ /^socket:\[(\d+)\]$/;
        }
    }

    open my $fh, '<', '/proc/net/tcp' or die "/proc/net/tcp: $!";

    while (<$fh>) {
        my @f = split ' ';
        next unless @f > 9 && $f[3] eq '01' && $f[2] =~ /:$rport$/;
        my $pid = $pid_of_inode{$f[9]} // next;
        $conns{hex((split /:/, $f[1])[1])} = $pid;
    }

    return %conns;
}

# Every worker of both instances has its Redis connection and its
# handshake done (Redis ran its PING): only then does a burst test the
# count and not the start-up.
sub wait_redis_ready {
    my @workers;

    for (1 .. 200) {        # A under valgrind takes seconds to start
        my $a = A_pid();
        @workers = $a ? (workers_of($a), workers_of($BPid)) : ();

        my %conns = redis_conns(@workers);
        my %cmd = map { /addr=127\.0\.0\.1:(\d+) .*cmd=(\S+)/ ? ($1 => $2) : () }
                  split /\n/, redis('CLIENT', 'LIST');
        my %done = map { $conns{$_} => 1 }
                   grep { ($cmd{$_} // 'NULL') ne 'NULL' } keys %conns;

        if (@workers && @workers == grep { $done{$_} } @workers) {
            Time::HiRes::sleep(0.02);    # the PING's reply on its way back
            return scalar @workers;
        }

        Time::HiRes::sleep(0.05);
    }

    die "nginx workers (@workers) are not all connected to Redis\n";
}

# The master of A (undef while it has not written its pid file).
sub A_pid {
    open my $fh, '<', $Test::Nginx::Util::PidFile or return undef;
    my ($pid) = (<$fh> // '') =~ /(\d+)/;
    return $pid;
}

# One HTTP/1.0 GET on a connection of its own: (status, headers text).
sub get {
    my ($port, $path, $key) = @_;
    local $SIG{ALRM} = sub { die "127.0.0.1:$port: no answer in 5 s\n" };
    alarm 5;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port)
        or die "127.0.0.1:$port: $!";
    print $s "GET $path HTTP/1.0\r\nHost: localhost\r\nX-Merchant: $key\r\n\r\n";
    local $/;
    my $resp = <$s> // '';
    close $s;
    alarm 0;
    my ($head) = $resp =~ /\A(.*?\r\n)\r\n/s;
    my ($status) = $resp =~ m{\AHTTP/\d\.\d (\d+)};
    return ($status // 0, $head // '');
}

# fleet_burst(PATH, KEY, TOTAL, CLIENTS): CLIENTS forked processes open
# TOTAL connections, alternately to A and B, say they are ready, wait for
# the word, then all send their GET at once and read the answers.
# Returns the list of "instance status worker" of every request.
sub fleet_burst {
    my ($path, $key, $total, $clients) = @_;
    my %name = ($ENV{TEST_NGINX_SERVER_PORT} => 'A', $BPort => 'B');
    my @ports = ($ENV{TEST_NGINX_SERVER_PORT}, $BPort);
    my $per = $total / $clients;
    my (@pids, @out);

    pipe my $ready_r, my $ready_w or die "pipe: $!";
    pipe my $go_r, my $go_w or die "pipe: $!";
    pipe my $out_r, my $out_w or die "pipe: $!";

    for my $i (0 .. $clients - 1) {
        my $pid = fork;
        die "fork: $!" unless defined $pid;

        if ($pid == 0) {
            close $ready_r;
            close $go_w;
            close $out_r;
            $SIG{ALRM} = sub { POSIX::_exit(1) };
            alarm 10;

            my (@socks, $lines);

            for my $j (0 .. $per - 1) {
                my $port = $ports[($i + $j) % 2];
                my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                              PeerPort => $port);
                if ($s) {
                    push @socks, [$port, $s];
                } else {
                    $lines .= "$name{$port} connect -\n";
                }
            }

            syswrite $ready_w, "r\n";
            sysread $go_r, my $buf, 1;       # EOF: go

            for (@socks) {
                syswrite $_->[1], "GET $path HTTP/1.0\r\nHost: localhost\r\n"
                                  . "X-Merchant: $key\r\n\r\n";
            }

            for (@socks) {
                my ($port, $s) = @$_;
                my $resp = '';
                1 while sysread $s, $resp, 65536, length $resp;
                my ($status) = $resp =~ m{\AHTTP/\d\.\d (\d+)};
                my ($worker) = $resp =~ m{^X-Worker: (\d+)}mi;
                $lines .= "$name{$port} " . ($status // 'none') . " "
                          . ($worker // '-') . "\n";
            }

            syswrite $out_w, $lines;         # < PIPE_BUF: one piece
            POSIX::_exit(0);
        }

        push @pids, $pid;
    }

    close $ready_w;
    close $go_r;
    close $out_w;

    my $ready = 0;
    $ready++ while $ready < $clients && defined <$ready_r>;
    close $go_w;                             # all at once

    @out = map { chomp; $_ } <$out_r>;
    waitpid $_, 0 for @pids;

    return @out;
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
        my $a = '';
        if (open my $fh, '<', $Test::Nginx::Util::ErrLogFile) {
            local $/;
            $a = <$fh>;
        }
        Test::More::diag(join "\n", "warnings and errors of A:",
                         bad_lines($a), "warnings and errors of B:",
                         bad_lines(b_log()), "(end)");
    }
}

add_block_preprocessor(sub {
    my $block = shift;

    $block->set_value('http_config', $HttpConfig)
        unless defined $block->http_config;
    $block->set_value('config', $Locations) unless defined $block->config;
});

# Two workers in A too; not under valgrind, where nginx's own master
# (ngx_set_environment) leaks in each worker it spawns.
if (!$ENV{TEST_NGINX_USE_VALGRIND}) {
    master_on();
    workers(2);
}

log_level('info');
worker_connections(1024);
no_shuffle();
no_long_string();
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
Test::More::like($head, qr/^RateLimit: "burst";r=19;t=(59|60)\r$/m,
                 'with 19 left for it');
--- request
GET /burst/a
--- more_headers
X-Merchant: fleet2
--- error_code: 200
--- response_headers_like
RateLimit-Policy: "burst";q=20;w=60
RateLimit: "burst";r=18;t=(59|60)
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
