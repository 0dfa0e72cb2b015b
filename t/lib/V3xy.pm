# Fixtures for the Test::Nginx suites of ngx_http_v3xy_module: key files
# with chosen modes, and servers that nginx talks to (on loopback only).
# The suites themselves are plain Test::Nginx::Socket files.

package V3xy;

use strict;
use warnings;

use Exporter 'import';
use File::Temp qw(tempdir);
use IO::Socket::INET;
use POSIX ();

our @EXPORT_OK = qw(key_file start_echo header_lines start_redis stop_redis
                    redis free_port http_get wait_ready wait_log
                    redis_ready_block test_certs start_mute
                    start_blackhole http_req start_recorder wait_until);

# The Redis under test: Debian's redis-server, redis-cli and a sentinel
# (redis-server --sentinel), or another server of the protocol by its own
# names, e.g. Valkey's: TEST_V3XY_REDIS_SERVER=valkey-server,
# TEST_V3XY_REDIS_CLI=valkey-cli (the sentinel is the server's unless
# TEST_V3XY_REDIS_SENTINEL names one).  The suites and V3xyCluster use
# these, never the names themselves.
our $REDIS_SERVER = $ENV{TEST_V3XY_REDIS_SERVER} || 'redis-server';
our $REDIS_CLI = $ENV{TEST_V3XY_REDIS_CLI} || 'redis-cli';
our $REDIS_SENTINEL = $ENV{TEST_V3XY_REDIS_SENTINEL} || $REDIS_SERVER;

my $dir = tempdir('v3xy-test-XXXXXX', TMPDIR => 1, CLEANUP => 1);
my $parent = $$;
my @children;

# key_file(NAME, CONTENT [, MODE]): writes a file, returns its path.
sub key_file {
    my ($name, $content, $mode) = @_;
    my $path = "$dir/$name";

    open my $fh, '>', $path or die "$path: $!";
    binmode $fh;
    print $fh $content;
    close $fh;
    chmod(defined $mode ? $mode : 0600, $path) or die "chmod $path: $!";

    return $path;
}

# An HTTP server on 127.0.0.1 whose response body is the request it got,
# byte for byte (head and body): tests read what nginx sent upstream.
# Returns the port and sets $ENV{TEST_NGINX_ECHO_PORT}.
sub start_echo {
    my $srv = IO::Socket::INET->new(Listen => 64, LocalAddr => '127.0.0.1',
                                    LocalPort => 0, Proto => 'tcp',
                                    ReuseAddr => 1)
        or die "echo server: $!";
    my $port = $srv->sockport;

    my $pid = fork;
    die "fork: $!" unless defined $pid;

    if ($pid == 0) {
        $SIG{TERM} = sub { POSIX::_exit(0) };
        # nginx may close mid-response (a client gone): the server goes on
        $SIG{PIPE} = 'IGNORE';
        while (my $c = $srv->accept) {
            serve_echo($c);
            close $c;
        }
        POSIX::_exit(0);
    }

    close $srv;
    push @children, $pid;
    $ENV{TEST_NGINX_ECHO_PORT} = $port;
    return $port;
}

sub serve_echo {
    my ($c) = @_;
    my $req = read_request($c);

    return if !defined $req;

    print $c "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
             . "Content-Length: " . length($req) . "\r\n"
             . "Connection: close\r\n\r\n" . $req;
}

# A third-party HTTP server on 127.0.0.1 that remembers what reached it:
# each request is answered 200 "recorded", and GET /__recorded answers,
# then forgets, the request line of every request since, each followed by
# its credential header lines (X-V3XY-API-Key in any spelling, "-" or "_",
# and Authorization).  One connection at a time, in the order they came:
# what nginx sent before a later /__recorded is in its answer.  Returns
# the port and sets $ENV{TEST_NGINX_RECORDER_PORT}.
sub start_recorder {
    my $srv = IO::Socket::INET->new(Listen => 64, LocalAddr => '127.0.0.1',
                                    LocalPort => 0, Proto => 'tcp',
                                    ReuseAddr => 1)
        or die "recorder: $!";
    my $port = $srv->sockport;

    my $pid = fork;
    die "fork: $!" unless defined $pid;

    if ($pid == 0) {
        $SIG{TERM} = sub { POSIX::_exit(0) };
        # nginx may close mid-response (a client gone): the server goes on
        $SIG{PIPE} = 'IGNORE';
        my $seen = '';

        while (my $c = $srv->accept) {
            my $req = read_request($c);
            my $body = "recorded\n";

            if (defined $req && $req =~ m{\AGET /__recorded }) {
                $body = $seen;
                $seen = '';

            } elsif (defined $req) {
                my ($line) = $req =~ /\A([^\r\n]*\r\n)/;
                $seen .= $line // '';
                $seen .= join '', grep {
                    /^(?:x[-_]v3xy[-_]api[-_]key|authorization):/i
                } split /(?<=\n)/, ($req =~ /\A(.*?\r\n)\r\n/s)[0] // '';
            }

            print $c "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                     . "Content-Length: " . length($body) . "\r\n"
                     . "Connection: close\r\n\r\n" . $body;
            close $c;
        }
        POSIX::_exit(0);
    }

    close $srv;
    push @children, $pid;
    $ENV{TEST_NGINX_RECORDER_PORT} = $port;
    return $port;
}

# One request's head and body from a client socket, or undef.
sub read_request {
    my ($c) = @_;
    my $req = '';

    binmode $c;

    while ($req !~ /\r\n\r\n/) {
        my $n = sysread $c, $req, 65536, length $req;
        return undef if !$n;
    }

    my ($head) = $req =~ /\A(.*?\r\n\r\n)/s;

    if ($head =~ /^content-length:\s*(\d+)/mi) {
        my $want = length($head) + $1;
        while (length $req < $want) {
            my $n = sysread $c, $req, 65536, length $req;
            last if !$n;
        }

    } elsif ($head =~ /^transfer-encoding:\s*chunked/mi) {
        while ($req !~ /\r\n0\r\n(?:[^\r\n]+\r\n)*\r\n\z/) {
            my $n = sysread $c, $req, 65536, length $req;
            last if !$n;
        }
    }

    return $req;
}

# A free TCP port on 127.0.0.1 (nothing listens on it when this returns).
sub free_port {
    my $s = IO::Socket::INET->new(Listen => 1, LocalAddr => '127.0.0.1',
                                  LocalPort => 0, ReuseAddr => 1)
        or die "free_port: $!";
    my $port = $s->sockport;
    close $s;
    return $port;
}

# test_certs(NAME ...): a test CA and, for each NAME, a certificate for
# that DNS name signed by it, made with the openssl command.  Returns the
# directory: ca.crt, NAME.crt, NAME.key.  Sets $ENV{TEST_NGINX_CERTS}.
sub test_certs {
    my (@names) = @_;
    my $d = "$dir/certs";

    mkdir $d or die "$d: $!";

    openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2',
            '-subj', '/CN=v3xy test CA', '-keyout', "$d/ca.key",
            '-out', "$d/ca.crt");

    for my $n (@names) {
        openssl('req', '-newkey', 'rsa:2048', '-nodes', '-subj', "/CN=$n",
                '-keyout', "$d/$n.key", '-out', "$d/$n.csr");

        open my $fh, '>', "$d/$n.ext" or die "$d/$n.ext: $!";
        print $fh "subjectAltName=DNS:$n\n";
        close $fh;

        openssl('x509', '-req', '-in', "$d/$n.csr", '-CA', "$d/ca.crt",
                '-CAkey', "$d/ca.key", '-CAcreateserial', '-days', '2',
                '-extfile', "$d/$n.ext", '-out', "$d/$n.crt");
    }

    $ENV{TEST_NGINX_CERTS} = $d;
    return $d;
}

sub openssl {
    my $pid = fork;
    die "fork: $!" unless defined $pid;

    if ($pid == 0) {
        open STDOUT, '>', '/dev/null';
        open STDERR, '>', '/dev/null';
        exec 'openssl', @_ or POSIX::_exit(127);
    }

    waitpid $pid, 0;
    die "openssl @_: status $?\n" if $?;
}

# An upstream that accepts connections, reads what comes and never
# answers (nginx's read timeout ends it).  Returns the port.
sub start_mute {
    my $srv = IO::Socket::INET->new(Listen => 64, LocalAddr => '127.0.0.1',
                                    LocalPort => 0, Proto => 'tcp',
                                    ReuseAddr => 1)
        or die "mute server: $!";
    my $port = $srv->sockport;

    my $pid = fork;
    die "fork: $!" unless defined $pid;

    if ($pid == 0) {
        $SIG{TERM} = sub { POSIX::_exit(0) };
        # nginx may close mid-response (a client gone): the server goes on
        $SIG{PIPE} = 'IGNORE';
        my @held;
        while (my $c = $srv->accept) {
            push @held, $c;    # held open, never answered
        }
        POSIX::_exit(0);
    }

    close $srv;
    push @children, $pid;
    return $port;
}

# A black hole on loopback: a listener that never accepts, its accept
# queue filled by connections of our own, so that the kernel drops the
# SYNs of anyone else and their connect() times out.  Returns the port.
my @blackholes;

sub start_blackhole {
    my $srv = IO::Socket::INET->new(Listen => 0, LocalAddr => '127.0.0.1',
                                    LocalPort => 0, Proto => 'tcp',
                                    ReuseAddr => 1)
        or die "black hole: $!";
    my $port = $srv->sockport;
    my @fill;

    for (1 .. 8) {
        my $c = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                      PeerPort => $port, Blocking => 0);
        push @fill, $c if $c;
    }

    push @blackholes, $srv, @fill;
    return $port;
}

# http_req(METHOD, PATH, BODY, HEADER => VALUE ...): one HTTP/1.0 request
# to the nginx under test, for --- init; returns (status, head, body).
# A header "port" sends it to that port of 127.0.0.1 instead.
sub http_req {
    my ($method, $path, $body, %h) = @_;
    my $port = delete $h{port} // $ENV{TEST_NGINX_SERVER_PORT};
    my $s;

    for (1 .. 400) {
        $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                   PeerPort => $port)
            and last;
        select undef, undef, undef, 0.05;
    }

    $s or die "http_req: $!";
    binmode $s;
    $body //= '';
    my $req = "$method $path HTTP/1.0\r\nHost: localhost\r\n";
    $req .= "Content-Length: " . length($body) . "\r\n" if length $body;
    $req .= "$_: $h{$_}\r\n" for sort keys %h;
    print $s "$req\r\n$body";
    local $/;
    my $resp = <$s> // '';
    close $s;
    my ($status) = $resp =~ m{\AHTTP/\d\.\d (\d+)};
    my ($head, $rest) = $resp =~ /\A(.*?\r\n)\r\n(.*)\z/s;
    return ($status // 0, $head // '', $rest // '');
}

# A real redis-server ($REDIS_SERVER) on 127.0.0.1, no persistence; started
# again on the same port after stop_redis() when given that port.
# Options: port => P, password => S.  Sets $ENV{TEST_NGINX_REDIS_PORT}.
my %redis;

sub start_redis {
    my (%opt) = @_;
    my $port = $opt{port} // $ENV{TEST_NGINX_REDIS_PORT} // free_port();
    my @args = ('--port', $port, '--bind', '127.0.0.1', '--save', '',
                '--appendonly', 'no', '--dir', $dir, '--daemonize', 'no',
                '--loglevel', 'warning', '--logfile', "$dir/redis-$port.log",
                '--enable-debug-command', 'local');
    push @args, '--requirepass', $opt{password} if defined $opt{password};

    my $pid = fork;
    die "fork: $!" unless defined $pid;

    if ($pid == 0) {
        exec $REDIS_SERVER, @args or POSIX::_exit(127);
    }

    $redis{$port} = $pid;
    push @children, $pid;

    for (1 .. 100) {
        my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                      PeerPort => $port);
        if ($s) {
            close $s;
            $ENV{TEST_NGINX_REDIS_PORT} = $port;
            return $port;
        }
        select undef, undef, undef, 0.05;
    }

    die "$REDIS_SERVER on port $port did not start";
}

sub stop_redis {
    my $port = shift // $ENV{TEST_NGINX_REDIS_PORT};
    my $pid = delete $redis{$port} or return;

    kill 'KILL', $pid;
    waitpid $pid, 0;
    @children = grep { $_ != $pid } @children;
}

# redis(ARGS...): runs redis-cli ($REDIS_CLI) against the test's Redis,
# returns its
# output without the final newline.
sub redis {
    my @auth = defined $ENV{TEST_V3XY_REDIS_PASSWORD}
             ? ('-a', $ENV{TEST_V3XY_REDIS_PASSWORD}, '--no-auth-warning') : ();
    open my $fh, '-|', $REDIS_CLI, '-h', '127.0.0.1', '-p',
        $ENV{TEST_NGINX_REDIS_PORT}, @auth, @_
        or die "$REDIS_CLI: $!";
    local $/;
    my $out = <$fh>;
    close $fh;
    $out //= '';
    $out =~ s/\s+\z//;
    return $out;
}

# http_get(PATH, HEADER => VALUE ...): one GET to the nginx under test
# (127.0.0.1:$TEST_NGINX_SERVER_PORT), for --- init; returns the status.
sub http_get {
    my ($path, %h) = @_;
    my $s;

    # nginx may still be starting (under valgrind it takes seconds)
    for (1 .. 200) {
        $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                   PeerPort => $ENV{TEST_NGINX_SERVER_PORT})
            and last;
        select undef, undef, undef, 0.05;
    }

    $s or die "http_get: $!";
    my $req = "GET $path HTTP/1.0\r\nHost: localhost\r\n";
    $req .= "$_: $h{$_}\r\n" for sort keys %h;
    print $s "$req\r\n";
    local $/;
    my $resp = <$s>;
    close $s;
    my ($status) = ($resp // '') =~ m{\AHTTP/\d\.\d (\d+)};
    return $status // 0;
}

# wait_ready(PATH): polls PATH until it answers neither 503 nor nothing,
# for a location whose limit fails "closed": nginx's Redis connection is
# up (under valgrind that takes seconds).
sub wait_ready {
    my ($path) = @_;

    for (1 .. 400) {
        my $status = eval { http_get($path) } // 0;
        return if $status && $status != 503;
        select undef, undef, undef, 0.05;
    }

    die "wait_ready: $path never answered";
}

# redis_ready_block(BLOCK), for add_block_preprocessor: a block whose nginx
# talks to Redis gets /ready, a location that fails "closed" until the
# Redis connection is up, and, with wait => 1 and no --- init of its own,
# waits for it.
sub redis_ready_block {
    my ($block, %opt) = @_;
    my $http = $block->http_config;

    return unless defined $http && $http =~ /v3xy_redis/;

    $block->set_value('http_config', $http . <<'_EOC_');
    v3xy_limit_zone ready rate=1000r/s key=$request_id burst=1000;
_EOC_
    $block->set_value('config', $block->config . <<'_EOC_');
    location = /ready {
        v3xy_limit ready;
        v3xy_limit_fail closed;
        proxy_pass http://127.0.0.1:$TEST_NGINX_ECHO_PORT;
    }
_EOC_
    $block->set_value('init', "V3xy::wait_ready('/ready');")
        if $opt{wait} && !defined $block->init;
}

# wait_log(REGEX): waits (up to 20 s) until nginx's error log of the test
# has a line that matches, for what nginx does on its own time.
sub wait_log {
    my ($re) = @_;
    my $log = "$ENV{TEST_NGINX_SERVER_ROOT}/logs/error.log";

    for (1 .. 400) {
        if (open my $fh, '<', $log) {
            while (<$fh>) {
                return 1 if /$re/;
            }
        }
        select undef, undef, undef, 0.05;
    }

    return 0;
}

# wait_until(SUB, WHAT): polls SUB (up to 30 s) until it returns true;
# dies naming WHAT otherwise.
sub wait_until {
    my ($sub, $what) = @_;

    for (1 .. 600) {
        return 1 if $sub->();
        select undef, undef, undef, 0.05;
    }

    die "timed out waiting for $what\n";
}

# A response_body_filters sub that keeps the header lines of this name
# (case-insensitive) of an echoed request, "\r\n" ends included.
sub header_lines {
    my ($name) = @_;

    return sub {
        my ($body) = @_;
        my ($head) = $body =~ /\A(.*?\r\n)\r\n/s;
        return join '', grep { /^\Q$name\E:/i } split /(?<=\n)/, $head // '';
    };
}

END {
    if ($$ == $parent) {
        kill 'TERM', @children if @children;
        waitpid $_, 0 for @children;
    }
}

1;
