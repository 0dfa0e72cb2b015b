# nginx -s reload under traffic: requests keep being answered and limits
# stay exact while workers of two configurations run side by side (the
# shared-memory zone is kept by a reload; Redis is Redis), and no worker
# logs an alert.  Four clients send requests for one key on connections of
# their own while the master is sent HUP twice.

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

# traffic(PATH, KEY, CLIENTS, EACH [, STALL]): CLIENTS processes send EACH
# requests each, one connection a request, HUP four times meanwhile (with
# STALL, Redis sleeps 0.3 s from each HUP, so that the new workers' first
# connections wait for their handshake while requests come); returns a
# hash of status => count
sub traffic {
    my ($path, $key, $clients, $each, $stall) = @_;
    my $pidfile = "$ENV{TEST_NGINX_SERVER_ROOT}/logs/nginx.pid";

    # nginx may still be starting (under valgrind it takes seconds)
    for (1 .. 400) {
        last if V3xy::http_get('/t') == 200 && -s $pidfile;
        Time::HiRes::sleep(0.05);
    }

    open my $fh, '<', $pidfile or die "$pidfile: $!";
    chomp(my $master = <$fh>);
    close $fh;

    pipe my $rd, my $wr or die "pipe: $!";
    my @pids;

    for (1 .. $clients) {
        my $pid = fork // die "fork: $!";

        if ($pid == 0) {
            close $rd;
            for (1 .. $each) {
                my $s = IO::Socket::INET->new(
                    PeerAddr => '127.0.0.1',
                    PeerPort => $ENV{TEST_NGINX_SERVER_PORT});
                my $st = 0;
                if ($s) {
                    print $s "GET $path HTTP/1.0\r\nHost: x\r\n"
                             . "X-Merchant: $key\r\n\r\n";
                    local $/;
                    my $r = <$s> // '';
                    ($st) = $r =~ m{\AHTTP/\d\.\d (\d+)};
                    close $s;
                }
                syswrite $wr, ($st // 0) . "\n";
                Time::HiRes::sleep(0.003);
            }
            POSIX::_exit(0);
        }

        push @pids, $pid;
    }

    close $wr;

    # reloads while the clients run
    for (1 .. 4) {
        Time::HiRes::sleep(0.15);

        if ($stall) {
            my $pid = fork // die "fork: $!";
            if ($pid == 0) {
                exec $V3xy::REDIS_CLI, '-p', $ENV{TEST_NGINX_REDIS_PORT},
                     'DEBUG', 'SLEEP', '0.3';
            }
            push @pids, $pid;
            Time::HiRes::sleep(0.02);
        }

        kill 'HUP', $master;
    }

    my %st;
    while (my $line = <$rd>) {
        chomp $line;
        $st{$line}++;
    }
    waitpid $_, 0 for @pids;

    return \%st;
}

add_block_preprocessor(sub {
    my $block = shift;

    $block->set_value('timeout', 60) if $ENV{TEST_NGINX_USE_VALGRIND};
    $block->set_value('request', 'GET /t') unless defined $block->request;
    $block->set_value('config', $block->config . <<'_EOC_');
    location = /t {
        return 200 "ok\n";
    }
_EOC_
});

no_long_string();
run_tests();

__DATA__

=== TEST 1: limits in shared memory: every request answered, exactly 40 admitted across four reloads
--- http_config
    v3xy_limit_zone reload rate=40r/m key=$http_x_merchant;

    server {
        listen 127.0.0.1:$TEST_NGINX_BACKEND_PORT;
        access_log off;
        location / { return 200 "ok\n"; }
    }
--- config
    location /limited/ {
        v3xy_limit reload;
        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
    }
--- init
my $st = main::traffic('/limited/a', 'shm-key', 6, 40);
Test::More::is($st->{200}, 40, 'exactly 40 admitted');
Test::More::is($st->{429}, 200, 'the other 200 refused');
Test::More::is(scalar(keys %$st), 2, 'no other status: '
               . join(' ', map { "$_=$st->{$_}" } sort keys %$st));
--- no_error_log
[alert]
[crit]
[error]



=== TEST 2: limits in Redis: every request answered, exactly 40 admitted across four reloads
--- http_config
    v3xy_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT connect_timeout=5s timeout=2s;
    v3xy_limit_zone reload rate=40r/m key=$http_x_merchant;

    server {
        listen 127.0.0.1:$TEST_NGINX_BACKEND_PORT;
        access_log off;
        location / { return 200 "ok\n"; }
    }
--- config
    location /limited/ {
        v3xy_limit reload;
        v3xy_limit_fail closed;
        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
    }
--- init
V3xy::redis('DEL', 'v3xy:{reload:redis-key}');
my $st = main::traffic('/limited/a', 'redis-key', 6, 40, 1);
Test::More::is($st->{200}, 40, 'exactly 40 admitted');
Test::More::is($st->{429}, 200, 'the other 200 refused');
Test::More::is(scalar(keys %$st), 2, 'no other status: '
               . join(' ', map { "$_=$st->{$_}" } sort keys %$st));
--- no_error_log
[alert]
[crit]
[error]
