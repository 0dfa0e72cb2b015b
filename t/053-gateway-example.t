# examples/gateway.conf itself, run twice (instances A and B, as two edges
# of a fleet) against one real Redis: "Key / wallet changes: 10 requests /
# hour per account" holds across both, on POST and DELETE of
# /v1/developer/api-keys and /v1/developer/wallets together, GETs not
# counted, each account apart; the Session routes take a Bearer token from
# the session store, the account reaches the backend and the access log,
# the token never the log; the key routes still take developer keys.
#
# The example is used as it is: only its addresses, paths and log targets
# are changed (each change must match, or the test dies), so that the test
# follows the file a user copies.

use strict;
use warnings;

use lib 't/lib';
use Cwd qw(abs_path);
use Digest::SHA qw(sha256_hex);
use File::Temp qw(tempdir);
use Test::More;
use V3xy qw(start_echo start_redis redis free_port http_req wait_until);

my $bin = $ENV{TEST_NGINX_BINARY} || 'nginx';
my $so = $ENV{TEST_NGINX_LOAD_MODULES}
    or plan skip_all => 'TEST_NGINX_LOAD_MODULES is not set';
$so = abs_path($so);

my $echo = start_echo();
my $redis = start_redis();

my $key = 'v3xy_dev_GatewayExample_0123456789abcdef';
my @instances;

# an instance of the example: its prefix, port; started, stopped in END
sub start_instance {
    my ($name) = @_;
    my $prefix = tempdir("v3xy-example-$name-XXXXXX", TMPDIR => 1,
                         CLEANUP => 1);
    my $port = free_port();

    mkdir "$prefix/$_" or die "$prefix/$_: $!" for qw(conf logs secrets);

    open my $in, '<', 'examples/gateway.conf' or die "gateway.conf: $!";
    my $conf = do { local $/; <$in> };
    close $in;

    my @edits = (
        [qr{^load_module modules/ngx_http_v3xy_module\.so;}m,
         ($> == 0 ? "user root;\n" : '') . "load_module $so;"],
        [qr{^error_log stderr notice;}m,
         "error_log $prefix/logs/error.log info;"],
        [qr{access_log /dev/stdout v3xy_gateway;},
         "access_log $prefix/logs/access.log v3xy_gateway;"],
        [qr{v3xy_redis 127\.0\.0\.1:6379 }, "v3xy_redis 127.0.0.1:$redis "],
        [qr{server 127\.0\.0\.1:9000;}, "server 127.0.0.1:$echo;"],
        [qr{listen 127\.0\.0\.1:8082;}, "listen 127.0.0.1:$port;"],
        [qr{worker_connections 4096;}, "worker_connections 256;"],
        [qr{/etc/v3xy/}, "$prefix/secrets/"],
    );

    for my $e (@edits) {
        $conf =~ s/$e->[0]/$e->[1]/g
            or die "examples/gateway.conf no longer has $e->[0]\n";
    }

    open my $out, '>', "$prefix/conf/nginx.conf" or die $!;
    print $out $conf;
    close $out;

    open my $keys, '>', "$prefix/secrets/keys" or die $!;
    print $keys sha256_hex($key) . " acct_keys payments:read\n";
    close $keys;

    system($bin, '-p', "$prefix/", '-e', "$prefix/logs/error.log",
           '-c', 'conf/nginx.conf') == 0
        or die "instance $name did not start:\n"
               . slurp("$prefix/logs/error.log");

    push @instances, $prefix;

    # up, and its workers' Redis connections too: a session resolves
    redis('HSET', 'v3xy:session:' . sha256_hex("ready-$name"),
          account => "acct_ready_$name", status => 'active');
    wait_until(sub {
        for (1 .. 8) {
            my ($s) = http_req('GET', '/v1/developer/api-keys', undef,
                               port => $port,
                               Authorization => "Bearer ready-$name");
            return 0 if $s != 200;
        }
        return 1;
    }, "instance $name");

    return ($port, $prefix);
}

sub slurp {
    open my $fh, '<', $_[0] or return '';
    local $/;
    return <$fh>;
}

END {
    for my $prefix (@instances) {
        my ($pid) = slurp("$prefix/logs/nginx-gateway.pid") =~ /(\d+)/;
        next unless $pid;
        kill 'QUIT', $pid;
        for (1 .. 100) {
            last unless kill 0, $pid;
            select undef, undef, undef, 0.05;
        }
    }
}

# a session of the store, as the auth service writes it
sub session {
    my ($token, $account) = @_;
    redis('HSET', 'v3xy:session:' . sha256_hex($token),
          account => $account, status => 'active');
    redis('EXPIRE', 'v3xy:session:' . sha256_hex($token), 3600);
}

# req(PORT, METHOD, PATH, TOKEN): the status (and the body)
sub req {
    my ($port, $method, $path, $token, $body) = @_;
    my ($status, undef, $rbody) = http_req($method, $path, $body,
        port => $port,
        (defined $token ? (Authorization => "Bearer $token") : ()));
    return wantarray ? ($status, $rbody) : $status;
}

my ($pa, $da) = start_instance('a');
my ($pb, $db) = start_instance('b');

my $tok1 = 'phone.' . 'Zm9vYmFyMQ' x 3;
my $tok2 = 'laptop.' . 'Zm9vYmFyMg' x 3;
my $tok3 = 'other.' . 'Zm9vYmFyMw' x 3;
session($tok1, 'acct_777');
session($tok2, 'acct_777');
session($tok3, 'acct_888');

# reads in between: not counted
my @got;
for my $i (1 .. 5) {
    push @got, scalar req($i % 2 ? $pa : $pb, 'GET', '/v1/developer/wallets',
                          $tok1);
}
is_deeply(\@got, [(200) x 5], 'GETs of wallets: 200');

# ten changes: POST and DELETE, both routes, both tokens, both instances
my @changes = (
    [$pa, 'POST', '/v1/developer/api-keys', $tok1],
    [$pb, 'POST', '/v1/developer/wallets', $tok2],
    [$pa, 'DELETE', '/v1/developer/api-keys/k_1', $tok2],
    [$pb, 'DELETE', '/v1/developer/wallets/w_1', $tok1],
    [$pa, 'POST', '/v1/developer/wallets', $tok1],
    [$pb, 'GET', '/v1/developer/api-keys', $tok1],    # not a change
    [$pb, 'POST', '/v1/developer/api-keys', $tok2],
    [$pa, 'DELETE', '/v1/developer/wallets/w_2', $tok2],
    [$pb, 'POST', '/v1/developer/wallets', $tok1],
    [$pa, 'HEAD', '/v1/developer/wallets', $tok1],    # not a change
    [$pa, 'POST', '/v1/developer/api-keys', $tok1],
    [$pb, 'DELETE', '/v1/developer/api-keys/k_2', $tok2],
);

@got = map { scalar req(@$_, '{}') } @changes;
is_deeply(\@got, [(200) x 12],
          'ten changes (and two reads) across A and B: all admitted');

my ($status, $body) = req($pa, 'POST', '/v1/developer/wallets', $tok1, '{}');
is($status, 429, 'the eleventh change, on A: 429');
like($body, qr/"code":"rate_limited"/, '... rate_limited');
is(scalar req($pb, 'DELETE', '/v1/developer/api-keys/k_3', $tok2), 429,
   'the twelfth, on B with the other token: 429');
is(scalar req($pb, 'POST', '/v1/developer/api-keys', $tok2, '{}'), 429,
   'a POST on B: 429');

@got = map { scalar req($_, 'GET', '/v1/developer/wallets', $tok1) }
       ($pa, $pb, $pa);
is_deeply(\@got, [200, 200, 200], 'reads still pass once changes are spent');

@got = map { scalar req($_ % 2 ? $pa : $pb, 'POST', '/v1/developer/wallets',
                        $tok3, '{}') } 1 .. 10;
is_deeply(\@got, [(200) x 10], 'another account: its own ten');
is(scalar req($pb, 'POST', '/v1/developer/wallets', $tok3, '{}'), 429,
   '... then 429');

# what the backend got, what the log says

($status, $body) = req($pa, 'GET', '/v1/developer/wallets?who', $tok1);
is($status, 200, 'a read');
like($body, qr/^X-V3XY-Account: acct_777\r$/m,
     'the backend gets the session\'s account');
like($body, qr/^Authorization: Bearer \Q$tok1\E\r$/m,
     '... and the Authorization header');

my $id = 'session...' . substr(sha256_hex($tok1), 0, 12);
my $line;
wait_until(sub {
    ($line) = grep { /wallets\?who/ } split /\n/,
              slurp("$da/logs/access.log");
    return defined $line;
}, 'the access log line');
like($line, qr/ 200 account=acct_777 key=- tier=- session=\Q$id\E refused=- /,
     'the access log: account and session fingerprint');

# refusals of the Session routes

($status, $body) = req($pa, 'POST', '/v1/developer/wallets', undef, '{}');
is($status, 401, 'no Bearer token: 401');
like($body, qr/"code":"session_missing"/, '... session_missing');

($status, $body) = req($pb, 'DELETE', '/v1/developer/api-keys/k_1',
                       'never-issued-token');
is($status, 401, 'an unknown token: 401');
like($body, qr/"code":"session_invalid"/, '... session_invalid');

# the key routes: developer keys as before

($status, undef, $body) = http_req('GET', '/v1/developer/payment-status',
                                   undef,
                                   port => $pb, 'X-V3XY-API-Key' => $key);
is($status, 200, 'a key route with a developer key: 200');
like($body, qr/^X-V3XY-Account: acct_keys\r$/m, '... its account');

# only the Session routes' paths take a session: a path that begins like
# one is not proxied; any other path under /v1/developer/ is the API's
# JSON 404 (answered before keys are checked: "return" runs first)

for my $path ('/v1/developer/wallets-evil', '/v1/developer/api-keys.evil',
              '/v1/developer/walletsx/w_1')
{
    my ($st, $hd, $bd) = http_req('GET', $path, undef, port => $pa,
                                  Authorization => "Bearer $tok1");
    is($st, 404, "$path with a session: 404, no Session route");
    like($hd, qr{^Content-Type: application/json\r$}mi, '... as JSON');
    is($bd, '{"success":false,"error":"Not found.","code":"not_found"}',
       '... the API\'s body');
}

# no token in any log of either instance

for my $prefix ($da, $db) {
    for my $log ("$prefix/logs/error.log", "$prefix/logs/access.log") {
        my $text = slurp($log);
        unlike($text, qr/Zm9vYmFy|never-issued/, "no token in $log")
            or diag($text);
    }
}

done_testing();
