# Fixtures for the suites of Redis at fleet scale (t/035, t/036, t/038):
# a Redis Cluster of real redis-servers, a primary with a replica watched
# by three sentinels (and, to mislead them, a replica of the replica and a
# sentinel of its own).  Everything on 127.0.0.1.  The second nginx and
# the clients are V3xyFleet's; they are exported from here too, under the
# names that the suites' blocks call (V3xyCluster::blast, ...).

package V3xyCluster;

use strict;
use warnings;

use Exporter 'import';
use File::Temp qw(tempdir);
use IO::Socket::INET;
use POSIX ();
use Time::HiRes ();

use V3xy qw(free_port wait_until);
use V3xyFleet qw(blast start_b stop_b b_port b_log);

our @EXPORT_OK = qw(start_cluster node_cli kill_node restart_node node_id
                    slot_owner cluster_ok start_sentinels sentinel_cli
                    sentinel_master blast start_b stop_b b_port b_log
                    wait_until keyslot name_in_slot start_sub_replica
                    start_liar owner forget_owners on_owner cmdstat);

my $dir = tempdir('v3xy-cluster-XXXXXX', TMPDIR => 1, CLEANUP => 1);
my $parent = $$;
my (%server, %args, @cluster);

# spawn(PORT, ARGS...): a server ($V3xy::REDIS_SERVER) on PORT;
# spawn_bin(BIN, PORT, ARGS...): the same of another binary (the sentinel)
sub spawn {
    return spawn_bin($V3xy::REDIS_SERVER, @_);
}

sub spawn_bin {
    my ($bin, $port, @a) = @_;

    $args{$port} = [$bin, @a];

    my $pid = fork;
    die "fork: $!" unless defined $pid;

    if ($pid == 0) {
        open STDOUT, '>', '/dev/null';
        exec $bin, @a or POSIX::_exit(127);
    }

    $server{$port} = $pid;

    for (1 .. 200) {
        my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                      PeerPort => $port);
        if ($s) {
            close $s;
            return $port;
        }
        Time::HiRes::sleep(0.02);
    }

    die "$bin on port $port did not start\n";
}

# keyslot(KEY): the Cluster slot of a Redis key (CRC16 of its hash tag)
sub keyslot {
    my ($key) = @_;
    my ($tag) = $key =~ /\{([^}]+)\}/;
    $tag = $key unless defined $tag && $key =~ /^[^{]*\{\Q$tag\E\}/;
    my $crc = 0;

    for my $c (unpack 'C*', $tag) {
        $crc ^= $c << 8;
        for (1 .. 8) {
            $crc = ($crc & 0x8000) ? (($crc << 1) ^ 0x1021) & 0xffff
                                   : ($crc << 1) & 0xffff;
        }
    }

    return $crc & 16383;
}

# name_in_slot(ZONE, SLOT, PREFIX): a key value whose Redis key
# v3xy:{ZONE:value} is in that slot
sub name_in_slot {
    my ($zone, $slot, $prefix) = @_;

    for my $i (0 .. 1_000_000) {
        return "$prefix$i" if keyslot("v3xy:{$zone:$prefix$i}") == $slot;
    }

    die "no key in slot $slot\n";
}

# node_cli(PORT, ARGS...): redis-cli against one server; its output
sub node_cli {
    my ($port, @a) = @_;
    open my $fh, '-|', $V3xy::REDIS_CLI, '-h', '127.0.0.1', '-p', $port, @a
        or die "$V3xy::REDIS_CLI: $!";
    local $/;
    my $out = <$fh> // '';
    close $fh;
    $out =~ s/\s+\z//;
    return $out;
}

# start_cluster(N): N masters, no replicas, slots spread by redis-cli.
# cluster-require-full-coverage no: a dead master leaves the other slots
# served.  Returns the ports.
sub start_cluster {
    my ($n) = @_;
    my @ports;

    for (1 .. $n) {
        my $port = free_port();
        my $bus = free_port();
        push @ports, $port;
        spawn($port, '--port', $port, '--cluster-port', $bus,
              '--bind', '127.0.0.1', '--cluster-enabled', 'yes',
              '--cluster-config-file', "$dir/nodes-$port.conf",
              '--cluster-node-timeout', '1000',
              '--cluster-require-full-coverage', 'no',
              '--save', '', '--appendonly', 'no', '--dir', $dir,
              '--loglevel', 'warning', '--logfile', "$dir/redis-$port.log");
    }

    my $pid = fork;
    die "fork: $!" unless defined $pid;

    if ($pid == 0) {
        open STDOUT, '>', '/dev/null';
        exec $V3xy::REDIS_CLI, '--cluster', 'create',
             (map { "127.0.0.1:$_" } @ports), '--cluster-replicas', '0',
             '--cluster-yes'
            or POSIX::_exit(127);
    }

    waitpid $pid, 0;
    die "$V3xy::REDIS_CLI --cluster create: status $?\n" if $?;

    wait_until(sub { cluster_ok(@ports) }, 'the cluster');

    @cluster = @ports;
    return @ports;
}

# every node says the cluster is ok and knows every other node
sub cluster_ok {
    my (@ports) = @_;

    for my $p (@ports) {
        return 0 unless node_cli($p, 'CLUSTER', 'INFO')
                        =~ /cluster_state:ok.*cluster_slots_ok:16384/s;
        my @known = grep { /connected/ && !/fail/ }
                    split /\n/, node_cli($p, 'CLUSTER', 'NODES');
        return 0 unless @known == @ports;
    }

    return 1;
}

sub node_id {
    my ($port) = @_;
    return node_cli($port, 'CLUSTER', 'MYID');
}

# the port of the master that owns the slot, as PORT's node sees it
sub slot_owner {
    my ($port, $slot) = @_;

    for (split /\n/, node_cli($port, 'CLUSTER', 'NODES')) {
        my @f = split ' ';
        next unless $f[2] =~ /master/;
        my ($p) = $f[1] =~ /:(\d+)/;
        for my $r (@f[8 .. $#f]) {
            next if $r =~ /^\[/;
            my ($a, $b) = split /-/, $r;
            $b //= $a;
            return $p if $slot >= $a && $slot <= $b;
        }
    }

    return undef;
}

sub kill_node {
    my ($port) = @_;
    my $pid = delete $server{$port} or return;
    kill 'KILL', $pid;
    waitpid $pid, 0;
}

# the same server again, with its nodes.conf: it takes its slots back
sub restart_node {
    my ($port) = @_;
    my ($bin, @a) = @{ $args{$port} };
    spawn_bin($bin, $port, @a);
}

# A primary, a replica of it and three sentinels (quorum 2, down after
# 1 s).  Sets TEST_NGINX_SENTINELS (host:port,...); returns
# (primary port, replica port, sentinel ports...).  password => PW: the
# sentinels want it from clients (requirepass, which they also use among
# themselves); sentinel_cli sends it.
my $sentinel_pw;

sub start_sentinels {
    my (%opt) = @_;
    $sentinel_pw = $opt{password};

    my $primary = free_port();
    my $replica = free_port();
    my @common = ('--bind', '127.0.0.1', '--save', '', '--appendonly', 'no',
                  '--dir', $dir, '--loglevel', 'warning');

    spawn($primary, '--port', $primary, @common,
          '--logfile', "$dir/redis-$primary.log");
    spawn($replica, '--port', $replica, @common,
          '--logfile', "$dir/redis-$replica.log",
          '--replicaof', '127.0.0.1', $primary);

    wait_until(sub { node_cli($replica, 'INFO', 'replication')
                     =~ /master_link_status:up/ }, 'the replica');

    my @sentinels;

    for (1 .. 3) {
        my $port = free_port();
        my $conf = "$dir/sentinel-$port.conf";

        open my $fh, '>', $conf or die "$conf: $!";
        print $fh "port $port\nbind 127.0.0.1\ndir $dir\n"
                  . "logfile $dir/sentinel-$port.log\n"
                  . "sentinel monitor v3xy 127.0.0.1 $primary 2\n"
                  . "sentinel down-after-milliseconds v3xy 1000\n"
                  . "sentinel failover-timeout v3xy 5000\n"
                  . (defined $sentinel_pw ? "requirepass $sentinel_pw\n" : '');
        close $fh;

        spawn_bin($V3xy::REDIS_SENTINEL, $port, $conf, '--sentinel');
        push @sentinels, $port;
    }

    # every sentinel knows the replica and the other sentinels
    wait_until(sub {
        for my $s (@sentinels) {
            my $m = sentinel_cli($s, 'SENTINEL', 'MASTER', 'v3xy');
            return 0 unless $m =~ /num-slaves\n1\n/
                            && $m =~ /num-other-sentinels\n2\n/;
        }
        return 1;
    }, 'the sentinels');

    $ENV{TEST_NGINX_SENTINELS} = join ',', map { "127.0.0.1:$_" } @sentinels;

    return ($primary, $replica, @sentinels);
}

sub sentinel_cli {
    my ($port, @a) = @_;
    return node_cli($port, defined $sentinel_pw
                           ? ('--no-auth-warning', '-a', $sentinel_pw) : (),
                    @a);
}

# A replica of the replica: the sentinels never see it (they learn the
# replicas of the master only).  Returns its port.
sub start_sub_replica {
    my ($of) = @_;
    my $port = free_port();

    spawn($port, '--port', $port, '--bind', '127.0.0.1', '--save', '',
          '--appendonly', 'no', '--dir', $dir, '--loglevel', 'warning',
          '--logfile', "$dir/redis-$port.log", '--replicaof', '127.0.0.1',
          $of);

    wait_until(sub { node_cli($port, 'INFO', 'replication')
                     =~ /master_link_status:up/ }, 'the sub-replica');

    return $port;
}

# A sentinel of its own that monitors TARGET (a replica) as the master
# "v3xy" (quorum 1, never down for it within a test): it names a replica.
# The sentinels' password if they have one.  Returns its port.
sub start_liar {
    my ($target) = @_;
    my $port = free_port();
    my $conf = "$dir/sentinel-$port.conf";

    open my $fh, '>', $conf or die "$conf: $!";
    print $fh "port $port\nbind 127.0.0.1\ndir $dir\n"
              . "logfile $dir/sentinel-$port.log\n"
              . "sentinel monitor v3xy 127.0.0.1 $target 1\n"
              . "sentinel down-after-milliseconds v3xy 600000\n"
              . (defined $sentinel_pw ? "requirepass $sentinel_pw\n" : '');
    close $fh;

    spawn_bin($V3xy::REDIS_SENTINEL, $port, $conf, '--sentinel');

    wait_until(sub { (sentinel_master($port) // 0) == $target }, 'the liar');

    return $port;
}

# the port of the master the sentinel names
sub sentinel_master {
    my ($sentinel) = @_;
    my $out = sentinel_cli($sentinel, 'SENTINEL', 'get-master-addr-by-name',
                           'v3xy');
    my (undef, $port) = split /\n/, $out;
    return $port;
}

# start_cluster's master (port) that owns a Redis key, from a copy of
# the map that forget_owners() drops
my %owner;

sub owner {
    my $slot = keyslot($_[0]);
    return $owner{$slot} //= slot_owner($cluster[0], $slot);
}

sub forget_owners { %owner = () }

# on_owner(KEY, COMMAND...): what that master holds under a key (the
# Cluster routes nothing here)
sub on_owner {
    my ($key, @cmd) = @_;
    return node_cli(owner($key), @cmd, $key);
}

# cmdstat(PORT, COMMAND, FIELD): a field of a command's stats on a node
# since RESETSTAT (calls, rejected_calls: refused before running, as with
# MOVED and ASK)
sub cmdstat {
    my ($port, $cmd, $field) = @_;
    my $s = node_cli($port, 'INFO', 'commandstats');
    return $s =~ /^cmdstat_\Q$cmd\E:.*\b\Q$field\E=(\d+)/m ? $1 : 0;
}

END {
    if ($$ == $parent) {
        # nginx first, then the sentinels: they would fail over what goes
        # down
        V3xyFleet::stop_b();
        my @pids = values %server;
        kill 'TERM', @pids if @pids;
        waitpid $_, 0 for @pids;
    }
}

1;
