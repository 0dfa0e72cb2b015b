# Fixtures for the suites of more than one nginx (t/033, t/035, t/036,
# t/038): instance B, a second nginx beside Test::Nginx's (instance A),
# clients that keep many requests in flight on A and B, the two error
# logs, and the settings those suites share.  Everything on 127.0.0.1.

package V3xyFleet;

use strict;
use warnings;

use Exporter 'import';
use File::Temp qw(tempdir);
use IO::Select;
use IO::Socket::INET;
use POSIX ();
use Time::HiRes ();

use V3xy qw(free_port redis wait_until);

our @EXPORT_OK = qw(start_b stop_b b_port b_pid b_log a_pid a_log bad_lines
                    $Warn fleet_suite wait_ready blast blast_split
                    http_head workers_of wait_redis_ready fleet_burst);

my $parent = $$;

# Instance B: a second nginx with the module, the same http config and
# locations (TEST_NGINX_* expanded, from %ENV or from the overrides: its
# own backend port, say), its own port, two workers; stopped in END.
my ($bdir, $bport, $bpid);

sub b_port { $bport }
sub b_pid { $bpid }

sub start_b {
    my ($http, $locations, %env) = @_;
    my $bin = $ENV{TEST_NGINX_BINARY} || 'nginx';
    my $so = $ENV{TEST_NGINX_LOAD_MODULES}
        or die "TEST_NGINX_LOAD_MODULES is not set\n";
    my $user = $> == 0 ? "user root;\n" : '';

    $bdir = tempdir('v3xy-b-XXXXXX', TMPDIR => 1, CLEANUP => 1);
    $bport = free_port();

    for ($http, $locations) {
        s/\$(TEST_NGINX_\w+)/$env{$1} \/\/ $ENV{$1} \/\/ die "no \$$1\n"/ge;
    }

    open my $fh, '>', "$bdir/nginx.conf" or die "$bdir/nginx.conf: $!";
    print $fh <<"_EOC_";
load_module $so;
${user}daemon on;
master_process on;
worker_processes 2;
pid $bdir/nginx.pid;
error_log $bdir/error.log info;

events {
    worker_connections 1024;
    accept_mutex off;
}

http {
    access_log off;
    client_body_temp_path $bdir/client_body_temp;
    proxy_temp_path $bdir/proxy_temp;
    fastcgi_temp_path $bdir/fastcgi_temp;
    uwsgi_temp_path $bdir/uwsgi_temp;
    scgi_temp_path $bdir/scgi_temp;

$http
    server {
        listen 127.0.0.1:$bport;
        server_name localhost;

$locations
    }
}
_EOC_
    close $fh;

    system($bin, '-p', "$bdir/", '-e', "$bdir/error.log",
           '-c', "$bdir/nginx.conf") == 0
        or die "instance B did not start (status $?):\n" . b_log();

    wait_until(sub {
        if (!$bpid && open my $p, '<', "$bdir/nginx.pid") {
            ($bpid) = (<$p> // '') =~ /(\d+)/;
        }
        my $s = $bpid && IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                               PeerPort => $bport);
        return $s ? 1 : 0;
    }, "instance B on 127.0.0.1:$bport");

    return $bport;
}

# B's master exits when its workers have; the workers too get a KILL
# should it not within 5 s
sub stop_b {
    return unless $bpid;

    my @workers = workers_of($bpid);

    kill 'TERM', $bpid;

    for (1 .. 100) {
        last unless kill 0, $bpid;
        Time::HiRes::sleep(0.05);
    }

    kill 'KILL', $bpid, @workers if kill 0, $bpid;
    $bpid = undef;
}

sub b_log {
    open my $fh, '<', "$bdir/error.log" or return "(no error log)\n";
    local $/;
    return <$fh>;
}

# The master of A (undef while it has not written its pid file).
sub a_pid {
    open my $fh, '<', $Test::Nginx::Util::PidFile or return undef;
    my ($pid) = (<$fh> // '') =~ /(\d+)/;
    return $pid;
}

sub a_log {
    open my $fh, '<', $Test::Nginx::Util::ErrLogFile or return '';
    local $/;
    return <$fh>;
}

# the lines of a log at warn or above
sub bad_lines {
    my ($log) = @_;
    return grep { /\[(warn|error|crit|alert|emerg)\]/ } split /\n/, $log;
}

# For no_error_log: any warning but those of requests to /ready while the
# topology or the master is not known yet (seconds under valgrind): they
# fall back, as they should.
our $Warn = qr{\[warn\](?!.*v3xy_limit_fail closed in effect, .*"GET /ready )};

# fleet_suite(HTTP_CONFIG, LOCATIONS): what every block has unless it says
# otherwise (HTTP_CONFIG undef: nothing), and the settings of the suites:
# two workers in A too, but not under valgrind, where nginx's own master
# (ngx_set_environment) leaks in each worker it spawns; errors at info;
# the blocks in their order.
sub fleet_suite {
    my ($http, $locations) = @_;

    Test::Nginx::Util::add_block_preprocessor(sub {
        my $block = shift;

        $block->set_value('http_config', $http)
            if defined $http && !defined $block->http_config;
        $block->set_value('config', $locations)
            unless defined $block->config;
    });

    if (!$ENV{TEST_NGINX_USE_VALGRIND}) {
        Test::Nginx::Util::master_on();
        Test::Nginx::Util::workers(2);
    }

    Test::Nginx::Util::log_level('info');
    Test::Nginx::Util::worker_connections(1024);
    Test::Nginx::Util::no_shuffle();
    Test::Nginx::Util::no_long_string();
}

# wait_ready([PORT...]): requests to /ready (a location whose limit fails
# "closed") answered by Redis, 8 at once, on each port: A's and B's when
# none are given (every worker's connection and topology are up)
sub wait_ready {
    my @ports = @_ ? @_ : ($ENV{TEST_NGINX_SERVER_PORT},
                           defined $bpid ? ($bport) : ());

    for my $port (@ports) {
        wait_until(sub {
            my @st = blast($port, 8, map { ['/ready'] } 1 .. 8);
            return !grep { $_ != 200 } @st;
        }, "127.0.0.1:$port/ready");
    }
}

# blast(PORT, INFLIGHT, REQ...): each REQ [PATH, HEADER => VALUE ...] as
# an HTTP/1.0 request on a connection of its own, up to INFLIGHT at once;
# returns their statuses (0: no answer within 10 s), in order.
sub blast {
    my ($port, $inflight, @reqs) = @_;
    my (@status, %of, %buf);
    my $sel = IO::Select->new;
    my $next = 0;
    my $deadline = Time::HiRes::time() + 60;

    my $open = sub {
        my $i = $next++;
        my ($path, %h) = @{ $reqs[$i] };
        my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                      PeerPort => $port);
        if (!$s) {
            $status[$i] = 0;
            return;
        }
        my $r = "GET $path HTTP/1.0\r\nHost: localhost\r\n";
        $r .= "$_: $h{$_}\r\n" for sort keys %h;
        syswrite $s, "$r\r\n";
        $of{fileno $s} = $i;
        $buf{$i} = '';
        $sel->add($s);
    };

    $open->() while $next < @reqs && $sel->count < $inflight;

    while ($sel->count) {
        last if Time::HiRes::time() > $deadline;

        for my $s ($sel->can_read(1)) {
            my $i = $of{fileno $s};
            my $n = sysread $s, $buf{$i}, 65536, length $buf{$i};
            next if $n;
            $sel->remove($s);
            close $s;
            my ($st) = $buf{$i} =~ m{\AHTTP/\d\.\d (\d+)};
            $status[$i] = $st // 0;
            $open->() while $next < @reqs && $sel->count < $inflight;
        }
    }

    $status[$_] //= 0 for 0 .. $#reqs;
    return @status;
}

# blast_split(PATH, HEADER, VALUE...): a request to PATH for each VALUE of
# the header, the first half on B, the rest on A, all at once; their
# statuses (A's, then B's)
sub blast_split {
    my ($path, $header, @values) = @_;
    my $half = int(@values / 2);
    my @b = @values[0 .. $half - 1];
    my @a = @values[$half .. $#values];

    pipe my $r, my $w or die "pipe: $!";
    my $pid = fork // die "fork: $!";

    if ($pid == 0) {
        close $r;
        print $w join(' ', blast($bport, scalar @b,
                                 map { [$path, $header => $_] } @b));
        close $w;
        POSIX::_exit(0);
    }

    close $w;
    my @st = blast($ENV{TEST_NGINX_SERVER_PORT}, scalar @a,
                   map { [$path, $header => $_] } @a);
    push @st, split ' ', (<$r> // '');
    close $r;
    waitpid $pid, 0;

    return @st;
}

# http_head(PORT, PATH, HEADER => VALUE ...): one HTTP/1.0 GET on a
# connection of its own; (status, head).  Dies without an answer in 5 s.
sub http_head {
    my ($port, $path, %h) = @_;
    local $SIG{ALRM} = sub { die "127.0.0.1:$port: no answer in 5 s\n" };
    alarm 5;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port)
        or die "127.0.0.1:$port: $!";
    print $s "GET $path HTTP/1.0\r\nHost: localhost\r\n",
             (map { "$_: $h{$_}\r\n" } sort keys %h), "\r\n";
    local $/;
    my $resp = <$s> // '';
    close $s;
    alarm 0;
    my ($head) = $resp =~ /\A(.*?\r\n)\r\n/s;
    my ($status) = $resp =~ m{\AHTTP/\d\.\d (\d+)};
    return ($status // 0, $head // '');
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

# Local port => pid of the established connections to the test's Redis
# ($TEST_NGINX_REDIS_PORT) of these processes, from /proc (no ss or lsof
# needed).
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

# Every worker of A and B has its connection to the test's Redis and its
# handshake done (Redis ran its PING): only then does a burst test the
# count and not the start-up.  Returns the number of workers.
sub wait_redis_ready {
    my @workers;

    for (1 .. 200) {        # A under valgrind takes seconds to start
        my $a = a_pid();
        @workers = $a ? (workers_of($a), workers_of($bpid)) : ();

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

# fleet_burst(PATH, KEY, TOTAL, CLIENTS): CLIENTS forked processes open
# TOTAL connections, alternately to A and B, say they are ready, wait for
# the word, then all send their GET (X-Merchant: KEY) at once and read the
# answers.  Returns the list of "instance status worker" of every request
# (worker: the response's X-Worker).
sub fleet_burst {
    my ($path, $key, $total, $clients) = @_;
    my %name = ($ENV{TEST_NGINX_SERVER_PORT} => 'A', $bport => 'B');
    my @ports = ($ENV{TEST_NGINX_SERVER_PORT}, $bport);
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

END {
    stop_b() if $$ == $parent;
}

1;
