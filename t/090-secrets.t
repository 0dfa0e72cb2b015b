# Secrets: the injected key appears in no response and in no log line of
# ours at any level; with the default (combined) access log and the error
# log at info, it appears in no log line at all, whatever path a request
# takes.  (nginx's own debug log lists the headers proxy_pass sends: the
# manual says so, docs/operations.md#secrets.)  A worker's core dump
# (gcore) holds neither the key nor a webhook secret, after verified
# deliveries; a reload wipes the old ones from the master's memory (all
# of it, read from /proc, dumpable or not).

use lib 't/lib';
use Test::Nginx::Socket 'no_plan';
use Digest::SHA qw(hmac_sha256_hex);
use V3xy qw(key_file);

our $Secret = 'NeverLogThis_0123456789abcdefXYZ';
our $Key = "v3xy_dev_$Secret";

$ENV{TEST_NGINX_KEY} = key_file('key', "$Key\n");
$ENV{TEST_NGINX_SECRET} = $Secret;

our $Whsec = 'whsec_CoreDumpsMustNotHoldThis_7d1e';
our $WhsecOld = 'whsec_NorThisRotatedOne_48b2c9';
$ENV{TEST_NGINX_WHSEC} = key_file('whsec', "$Whsec\n");
$ENV{TEST_NGINX_WHSEC_OLD} = key_file('whsec_old', "$WhsecOld\n");

# the secrets of the reload test, before and after: files of their own
our %Reload = (key_a => 'v3xy_dev_ReloadKeyBefore_2f7a91c3d0',
               key_b => 'v3xy_dev_ReloadKeyAfter_6b04e8d2f5',
               whsec_a => 'whsec_ReloadSecretBefore_91aa3e',
               whsec_b => 'whsec_ReloadSecretAfter_0c5d77');
$ENV{TEST_NGINX_RELOAD_KEY} = key_file('key_reload', "$Reload{key_a}\n");
$ENV{TEST_NGINX_RELOAD_WHSEC} = key_file('whsec_reload', "$Reload{whsec_a}\n");

our $Now = time;

sub sig {
    my ($body, $secret) = @_;
    return "t=$::Now,v1=" . hmac_sha256_hex("$::Now.$body", $secret);
}

# nginx's master and workers
sub nginx_pids {
    open my $fh, '<', "$ENV{TEST_NGINX_SERVER_ROOT}/logs/nginx.pid"
        or die "nginx.pid: $!";
    chomp(my $master = <$fh>);
    return ($master, split ' ', `pgrep -P $master`);
}

# which of the strings the file holds, read in pieces that overlap
sub file_holds {
    my ($file, @needles) = @_;
    my (%found, $buf, $tail);
    open my $fh, '<:raw', $file or die "$file: $!";
    $tail = '';

    while (read $fh, $buf, 1 << 20) {
        $buf = $tail . $buf;
        index($buf, $_) >= 0 and $found{$_} = 1 for @needles;
        $tail = substr $buf, -256;
    }

    return grep { $found{$_} } @needles;
}

# which of the strings a core dump of the process holds: gcore writes what
# the kernel would (pages under MADV_DONTDUMP are left out)
sub core_holds {
    my ($pid, @needles) = @_;
    my $prefix = "$ENV{TEST_NGINX_SERVER_ROOT}/core";

    system("gcore -o $prefix $pid >/dev/null 2>&1") == 0
        or die "gcore $pid failed";

    my @found = file_holds("$prefix.$pid", @needles);
    unlink "$prefix.$pid";
    return @found;
}

# which of the strings the process's memory holds, every readable mapping,
# pages left out of core dumps included
sub memory_holds {
    my ($pid, @needles) = @_;
    my (%found, $buf);
    no warnings 'portable';    # 64-bit addresses
    open my $maps, '<', "/proc/$pid/maps" or die "maps: $!";
    open my $mem, '<:raw', "/proc/$pid/mem" or die "mem: $!";

    while (<$maps>) {
        my ($from, $to, $perms, $name) =
            /^([0-9a-f]+)-([0-9a-f]+) (\S+) \S+ \S+ \S+\s*(.*)$/ or next;
        next if $perms !~ /^r/ || $name =~ /^\[(?:vvar|vsyscall)\]/;

        my ($a, $len) = (hex $from, hex($to) - hex($from));
        sysseek($mem, $a, 0) or next;
        my $n = sysread($mem, $buf, $len) or next;
        index($buf, $_) >= 0 and $found{$_} = 1 for @needles;
    }

    return grep { $found{$_} } @needles;
}

# a port with nothing listening: a dead upstream on loopback
my $dead = IO::Socket::INET->new(Listen => 1, LocalAddr => '127.0.0.1',
                                 LocalPort => 0) or die $!;
$ENV{TEST_NGINX_DEAD_PORT} = $dead->sockport;
close $dead;

add_block_preprocessor(sub {
    my $block = shift;

    $block->set_value('config', <<'_EOC_') unless defined $block->config;
    location /v1/ {
        v3xy_api_key_file $TEST_NGINX_KEY;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/backend/;
    }

    location /allow/ {
        v3xy_api_key_file $TEST_NGINX_KEY;
        v3xy_browser allow;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/backend/;
    }

    location /redirect/ {
        v3xy_api_key_file $TEST_NGINX_KEY;
        rewrite ^/redirect/(.*)$ /v1/$1 last;
    }

    location /dead/ {
        v3xy_api_key_file $TEST_NGINX_KEY;
        proxy_pass http://127.0.0.1:$TEST_NGINX_DEAD_PORT;
    }

    location /backend/ {
        if ($http_x_v3xy_api_key = "v3xy_dev_$TEST_NGINX_SECRET") {
            return 200 "match\n";
        }
        return 200 "mismatch\n";
    }
_EOC_

    $block->set_value('log_level', 'info') unless defined $block->log_level;

    if (!defined $block->no_error_log) {
        $block->set_value('no_error_log', [$::Secret, '[error]']);
    }

    $block->set_value('no_access_log', $::Secret);
    $block->set_value('raw_response_headers_unlike', qr/\Q$::Secret\E/);
});

# a master and a worker, as in production: the core dump is a worker's, the
# reload the master's
master_on();
no_long_string();
run_tests();

__DATA__

=== TEST 1: injected key, admitted request
--- request
GET /v1/developer/payment-status?payment_ref=cp_1
--- response_body
match



=== TEST 2: a client-sent key is dropped and logged by fingerprint only
--- request
GET /v1/developer/wallets
--- more_headers
X-V3XY-API-Key: v3xy_dev_ClientSentKeyShouldBeDropped
--- response_body
match
--- error_log eval
qr/dropped 1 client-sent X-V3XY-API-Key header\(s\), injecting key v3xy_dev_\.\.\.[0-9a-f]{12}/



=== TEST 3: a browser request is refused
--- request
GET /v1/developer/wallets
--- more_headers
Origin: https://shop.example.com
--- error_code: 403
--- response_body_unlike: NeverLogThis
--- error_log
api_key_origin



=== TEST 4: a CORS preflight is refused
--- request
OPTIONS /v1/developer/payments/crypto
--- more_headers
Origin: https://shop.example.com
Access-Control-Request-Method: POST
--- error_code: 403
--- response_body_unlike: NeverLogThis



=== TEST 5: a browser request where browsers are allowed
--- request
POST /allow/developer/payments/crypto
{"asset":"LTC","amount_usd_cents":2500}
--- more_headers
Origin: https://internal.example.com
--- response_body
match



=== TEST 6: an internal redirect into a key location
--- request
GET /redirect/developer/wallets
--- response_body
match



=== TEST 7: the upstream is down: 502, and the error line holds no key
--- request
GET /dead/developer/wallets
--- error_code: 502
--- response_body_unlike: NeverLogThis
--- error_log
connect() failed (111: Connection refused)
--- no_error_log
NeverLogThis



=== TEST 8: at debug level no line of ours holds the key; the fingerprint is there
--- log_level: debug
--- request
GET /v1/developer/wallets
--- more_headers
X-V3XY-API-Key: v3xy_dev_ClientSentKeyShouldBeDropped
--- response_body
match
--- error_log eval
qr/v3xy: dropped 1 client-sent X-V3XY-API-Key header\(s\), injecting key v3xy_dev_\.\.\.[0-9a-f]{12}/
--- no_error_log eval
[qr/ v3xy(?:_api_key_file)?: [^\n]*NeverLogThis/, qr/\[(?:error|warn)\]/]



=== TEST 9: a worker's core dump holds neither the key nor a webhook secret, after deliveries under both secrets
--- skip_eval: 1: $ENV{TEST_NGINX_USE_VALGRIND} || system('command -v gcore >/dev/null') != 0
--- config
    location /v1/ {
        v3xy_api_key_file $TEST_NGINX_KEY;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/backend/;
    }

    location = /webhooks/v3xy {
        v3xy_webhook_secret_file $TEST_NGINX_WHSEC $TEST_NGINX_WHSEC_OLD;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/backend/;
    }

    location /backend/ {
        return 200 "taken\n";
    }
--- init
# Test::Nginx runs this even where skip_eval skips the block (no nginx)
for my $n ($ENV{TEST_NGINX_USE_VALGRIND}
           || system('command -v gcore >/dev/null') != 0 ? () : 1 .. 3) {
    my $body = qq({"type":"payment.confirmed","data":{"payment_ref":"cp_$n"}});
    my ($status) = V3xy::http_req('POST', '/webhooks/v3xy', $body,
        'X-V3XY-Signature' => main::sig($body, $n == 2 ? $::WhsecOld : $::Whsec));
    die "delivery $n: $status\n" unless $status == 200;
}
--- request
POST /webhooks/v3xy
{"type":"payment.confirmed","data":{"payment_ref":"cp_4"}}
--- more_headers eval
"X-V3XY-Signature: " . main::sig('{"type":"payment.confirmed","data":{"payment_ref":"cp_4"}}', $::Whsec)
--- response_body_filters eval
sub {
    my ($master, @workers) = main::nginx_pids();
    # the whole key: the environment holds $Secret alone (TEST_NGINX_SECRET)
    my @found = map { main::core_holds($_, $::Whsec, $::WhsecOld, $::Key) } @workers;
    return @workers ? "core holds: @found\n" : "no worker\n";
}
--- response_body
core holds: 



=== TEST 10: a reload wipes the old key and webhook secret from the master's memory
--- skip_eval: 1: $ENV{TEST_NGINX_USE_VALGRIND}
--- config
    location /v1/ {
        v3xy_api_key_file $TEST_NGINX_RELOAD_KEY;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/backend/;
    }

    location = /webhooks/v3xy {
        v3xy_webhook_secret_file $TEST_NGINX_RELOAD_WHSEC;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/backend/;
    }

    location /backend/ {
        return 200 "taken\n";
    }
--- request
GET /backend/
--- response_body_filters eval
sub {
    my ($master, @old) = main::nginx_pids();
    my @a = @::Reload{qw(key_a whsec_a)};
    my @b = @::Reload{qw(key_b whsec_b)};
    my @before = main::memory_holds($master, @a);

    # rotated files, then a reload: the master reads the new ones and
    # releases the configuration that held the old ones
    V3xy::key_file('key_reload', "$::Reload{key_b}\n");
    V3xy::key_file('whsec_reload', "$::Reload{whsec_b}\n");
    kill 'HUP', $master;

    for (1 .. 400) {
        my ($m, @now) = main::nginx_pids();
        my %old = map { $_ => 1 } @old;
        last if @now && !grep { $old{$_} } @now;
        select undef, undef, undef, 0.05;
    }

    my @after = main::memory_holds($master, @a, @b);
    return "before: " . scalar(@before) . " of 2; after: "
           . join(' ', map { /Before/ ? 'old' : 'new' } @after) . "\n";
}
--- response_body
before: 2 of 2; after: new new
