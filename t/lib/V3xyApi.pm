# A stand-in for the V3XY API that says 429 when told to, and counts what
# reached it (t/062).  On 127.0.0.1, one connection at a time.
#
#   - a request with "X-Test-429: VALUE" is answered 429 with the API's
#     JSON and "Retry-After: VALUE" ("-": no Retry-After at all);
#   - any other request is answered 200 "api ok";
#   - GET /__count/PREFIX answers how many requests whose path starts with
#     /PREFIX reached it (itself not counted);
#   - every answer carries X-Api-Seen: the key it got (X-V3XY-API-Key), or
#     "-".
#
# start_api() returns the port and sets $ENV{TEST_NGINX_API_PORT};
# api_count(PREFIX) asks for a count.

package V3xyApi;

use strict;
use warnings;

use Exporter 'import';
use IO::Socket::INET;
use POSIX ();

use V3xy qw(http_req);

our @EXPORT_OK = qw(start_api api_count);

my $pid;

sub start_api {
    my $srv = IO::Socket::INET->new(Listen => 64, LocalAddr => '127.0.0.1',
                                    LocalPort => 0, Proto => 'tcp',
                                    ReuseAddr => 1)
        or die "api: $!";
    my $port = $srv->sockport;
    $pid = fork;
    die "fork: $!" unless defined $pid;

    if ($pid == 0) {
        $SIG{TERM} = sub { POSIX::_exit(0) };
        $SIG{PIPE} = 'IGNORE';
        my @paths;

        while (my $c = $srv->accept) {
            serve($c, \@paths);
            close $c;
        }
        POSIX::_exit(0);
    }

    close $srv;
    $ENV{TEST_NGINX_API_PORT} = $port;
    return $port;
}

sub serve {
    my ($c, $paths) = @_;
    my $req = '';

    binmode $c;

    while ($req !~ /\r\n\r\n/) {
        my $n = sysread $c, $req, 65536, length $req;
        return if !$n;
    }

    my ($head) = $req =~ /\A(.*?)\r\n\r\n/s;
    my ($path) = $head =~ m{\A\S+ (\S+)};
    my ($len) = $head =~ /^content-length:\s*(\d+)/mi;

    while (defined $len && length($req) - length($head) - 4 < $len) {
        my $n = sysread $c, $req, 65536, length $req;
        last if !$n;
    }

    my ($key) = $head =~ /^x-v3xy-api-key:\s*(\S+)/mi;
    my ($ra) = $head =~ /^x-test-429:[ \t]*([^\r\n]*?)[ \t]*\r?$/mi;
    my ($status, $extra, $body) = (200, '', "api ok\n");

    if (defined $path && $path =~ m{\A/__count(/.*)\z}) {
        my $prefix = $1;
        $body = scalar(grep { index($_, $prefix) == 0 } @$paths) . "\n";

    } else {
        push @$paths, $path // '';

        if (defined $ra) {
            $status = 429;
            $extra = $ra eq '-' ? '' : "Retry-After: $ra\r\n";
            $body = '{"success":false,"error":"Too many requests",'
                    . '"code":"rate_limited"}';
        }
    }

    print $c "HTTP/1.1 $status X\r\nContent-Type: application/json\r\n"
             . $extra . "X-Api-Seen: " . ($key // '-') . "\r\n"
             . "Content-Length: " . length($body) . "\r\n"
             . "Connection: close\r\n\r\n" . $body;
}

sub api_count {
    my ($prefix) = @_;
    my ($status, undef, $body) = http_req('GET', "/__count$prefix", undef,
                                          port => $ENV{TEST_NGINX_API_PORT});
    die "api_count: $status\n" unless $status == 200;
    chomp $body;
    return $body;
}

my $parent = $$;

END {
    kill 'TERM', $pid if $pid && $$ == $parent;
}

1;
