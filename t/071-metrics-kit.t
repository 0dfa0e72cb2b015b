# The operations kit against the module: the alert rules of
# examples/prometheus/v3xy.rules.yml and the Grafana dashboard of
# examples/grafana/v3xy-dashboard.json may only name metrics, and label
# values, that the module exports.  Grafana is not in Debian: this test
# reads the metric names out of the rules' and the dashboard's PromQL,
# drives a real nginx with the module until every family and every label
# value they name is there, and fails on any that its scrape lacks.  Then
# a real Prometheus, with the rules, scrapes it: healthy traffic raises no
# alert, each fault raises its own, and every dashboard query returns
# data.

use lib 't/lib';
use Digest::SHA qw(hmac_sha256_hex sha256_hex);
use File::Spec ();
use File::Temp ();
use IO::Socket::INET;
use JSON::PP ();
use URI::Escape qw(uri_escape);
use Test::Nginx::Socket 'no_plan';
use V3xy qw(start_echo start_redis stop_redis redis key_file free_port);

start_echo();
start_redis();

our $Secret = 'whsec_kit_5c2e9a1d7b40';
our $Key = 'v3xy_dev_Kit_Gateway_0123456789abcdef01';
$ENV{TEST_NGINX_KEY_FILE} = key_file('api_key', "v3xy_dev_Kit_Sidecar_0123456789abcdef01\n");
$ENV{TEST_NGINX_WHSEC} = key_file('whsec', "$Secret\n");
$ENV{TEST_NGINX_DEAD_PORT} = free_port();
$ENV{TEST_NGINX_DEAD2_PORT} = free_port();

our $Rules = 'examples/prometheus/v3xy.rules.yml';
our $Dashboard = 'examples/grafana/v3xy-dashboard.json';

# Prometheus adds these; Grafana's variables fill them
our %Added = map { $_ => 1 } qw(job instance);

# rule_exprs(FILE): the "expr:" of each rule (block scalars or one line)
sub rule_exprs {
    my ($file) = @_;
    my (@exprs, $indent, $cur);

    open my $fh, '<', $file or die "$file: $!";

    while (my $line = <$fh>) {
        if (defined $cur) {
            if ($line =~ /^(\s*)\S/ && length $1 > $indent) {
                $cur .= $line;
                next;
            }
            push @exprs, $cur;
            undef $cur;
        }

        if ($line =~ /^(\s*)-?\s*expr:\s*[|>]-?\s*$/) {
            ($indent, $cur) = (length $1, '');
        } elsif ($line =~ /^\s*-?\s*expr:\s*(\S.*)$/) {
            push @exprs, $1;
        }
    }

    push @exprs, $cur if defined $cur;
    close $fh;

    return @exprs;
}

# dashboard_exprs(FILE): the PromQL of every panel's targets, and the
# queries of the template variables (label_values(METRIC, LABEL))
sub dashboard_exprs {
    my ($file) = @_;
    my @exprs;

    open my $fh, '<', $file or die "$file: $!";
    my $dash = JSON::PP->new->decode(do { local $/; <$fh> });
    close $fh;

    my $walk;
    $walk = sub {
        my ($node) = @_;

        if (ref $node eq 'HASH') {
            push @exprs, $node->{expr} if defined $node->{expr}
                                          && !ref $node->{expr};
            $walk->($_) for values %$node;

        } elsif (ref $node eq 'ARRAY') {
            $walk->($_) for @$node;
        }
    };

    $walk->($dash->{panels});

    my @vars = map { $_->{definition} } grep { $_->{type} eq 'query' }
               @{$dash->{templating}{list}};

    return (\@exprs, \@vars);
}

# undocumented(DASHBOARD, DOC): the titles of the rows and panels that
# DOC's "### Dashboard" section does not name (row: "* Title:", panel:
# "Title" in quotes; line breaks as spaces)
sub undocumented {
    my ($file, $doc) = @_;

    open my $fh, '<', $file or die "$file: $!";
    my $dash = JSON::PP->new->decode(do { local $/; <$fh> });
    close $fh;

    open $fh, '<', $doc or die "$doc: $!";
    my $text = do { local $/; <$fh> };
    close $fh;

    my ($sec) = $text =~ /^### Dashboard\n(.*?)^##/ms or return ('no section');
    $sec =~ s/\s+/ /g;

    return map { $_->{title} } grep {
        my $t = $_->{title};
        $_->{type} eq 'row' ? index($sec, "* $t:") < 0
                            : index($sec, qq("$t")) < 0;
    } @{$dash->{panels}};
}

# selectors(EXPR): [metric, {label => value}] of each metric it names,
# with the labels it matches by equality (Prometheus's own and Grafana's
# variables left out)
sub selectors {
    my ($expr) = @_;
    my @sel;

    while ($expr =~ /\b(v3xy_[a-z0-9_]+)\b(\s*\{([^}]*)\})?/g) {
        my ($name, $matchers) = ($1, $3 // '');
        my %eq;

        while ($matchers =~ /(\w+)\s*(=~|!~|!=|=)\s*"([^"]*)"/g) {
            $eq{$1} = $3 if $2 eq '=' && !$Added{$1} && $3 !~ /\$/;
        }

        push @sel, [$name, \%eq];
    }

    return @sel;
}

# missing(SCRAPE, EXPR ...): what the expressions name that the scrape
# (its text) does not have, one line each
sub missing {
    my ($text, @exprs) = @_;
    my (%series, @out, %seen);

    for (split /\n/, $text) {
        next if /^#/;
        my ($name, $labels) = /^(v3xy_[a-z0-9_]+)(?:\{([^}]*)\})? / or next;
        push @{$series{$name}}, { ($labels // '') =~ /(\w+)="([^"]*)"/g };
    }

    for my $sel (map { selectors($_) } @exprs) {
        my ($name, $eq) = @$sel;
        my $what = $name . (%$eq ? '{' . join(',', map { qq($_="$eq->{$_}") }
                                                  sort keys %$eq) . '}' : '');
        next if $seen{$what}++;

        my $found = grep {
            my $s = $_;
            !grep { ($s->{$_} // "\0") ne $eq->{$_} } keys %$eq;
        } @{$series{$name} // []};

        push @out, $what unless $found;
    }

    return @out;
}

# families(SCRAPE): the names of the families it declares (# TYPE)
sub families {
    my ($text) = @_;
    return $text =~ /^# TYPE (v3xy_[a-z0-9_]+) /mg;
}

# a request to nginx: its status
sub req {
    my ($method, $path, $body, %h) = @_;
    my ($status) = V3xy::http_req($method, $path, $body, %h);
    return $status;
}

sub sig {
    my ($body) = @_;
    my $t = time;
    return "t=$t,v1=" . hmac_sha256_hex("$t.$body", $::Secret);
}

sub delivery {
    my ($n, $good) = @_;
    my $body = qq({"type":"payment.confirmed","data":{"payment_ref":"kit_$n"}});
    return req('POST', '/webhooks/v3xy', $body, 'Content-Type' => 'application/json',
               'X-V3XY-Signature' => $good ? sig($body)
                                           : sig("not $body"));
}

# prom(PORT, PATH): a GET to Prometheus's API, decoded, or undef
sub prom {
    my ($port, $path) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port)
        or return undef;
    print $s "GET $path HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
    local $/;
    my $r = <$s> // '';
    close $s;
    my ($body) = $r =~ /\r\n\r\n(.*)\z/s or return undef;
    return eval { JSON::PP->new->decode($body) };
}

sub query {
    my ($port, $q) = @_;
    return prom($port, '/api/v1/query?query=' . uri_escape($q));
}

# alerts(PORT): the names of the alerts pending or firing
sub alerts {
    my ($port) = @_;
    my $r = prom($port, '/api/v1/alerts') or return ();
    my %names = map { $_->{labels}{alertname} => 1 } @{$r->{data}{alerts}};
    return sort keys %names;
}

master_on();
workers(1);
no_shuffle();
no_long_string();
run_tests();

__DATA__

=== TEST 1: the checker finds a metric or a label value that the scrape lacks
--- config
    location = /t {
        return 200;
    }
--- init
my $scrape = <<'_M_';
# TYPE v3xy_requests_total counter
v3xy_requests_total{role="sidecar",code="ok"} 3
v3xy_nginx_http_requests_total 7
_M_
my @m = main::missing($scrape,
    'sum(rate(v3xy_requests_total{job=~"$job",code="ok"}[5m]))',
    'v3xy_nginx_http_requests_total',
    'rate(v3xy_requests_total{code="api_key_origin"}[5m])',
    'v3xy_requests_total{role="sidecar",code!="ok"} / v3xy_no_such_total',
    'max by (breaker) (v3xy_breaker_state)');
Test::More::is(join(' ', @m),
               'v3xy_requests_total{code="api_key_origin"} v3xy_no_such_total v3xy_breaker_state',
               'missing: a label value, two names');
my @r = main::rule_exprs($main::Rules);
Test::More::cmp_ok(scalar(@r), '>=', 7, 'the rules: ' . scalar(@r) . ' expressions');
Test::More::ok(!grep({ !/v3xy_/ } @r), 'each names a v3xy_ metric');
my ($d, $v) = main::dashboard_exprs($main::Dashboard);
Test::More::cmp_ok(scalar(@$d), '>=', 20, 'the dashboard: ' . scalar(@$d) . ' queries');
Test::More::is(scalar(@$v), 2, 'and two template variables');
Test::More::ok(grep({ /v3xy_limit_decisions_total/ && /by \([^)]*\btier\b/ } @$d),
               'the limit decisions by tier');
my @untold = main::undocumented($main::Dashboard, 'docs/operations.md');
Test::More::is(join(' | ', @untold), '',
               "docs/operations.md's Dashboard names every row and panel");
--- request
GET /t



=== TEST 2: the rules and the dashboard name only what a scrape has; a real Prometheus with the rules: no alert while healthy, each fault its alert, every dashboard query returns data
--- http_config
    v3xy_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT timeout=500ms;
    v3xy_limit_zone create rate=1000r/m key=$http_x_merchant;
--- config
    location /v1/ {
        v3xy_api_key_file $TEST_NGINX_KEY_FILE;
        v3xy_limit create;
        proxy_pass http://127.0.0.1:$TEST_NGINX_ECHO_PORT;
    }

    location /failover/ {
        v3xy_api_key_file $TEST_NGINX_KEY_FILE;
        proxy_pass http://127.0.0.1:$TEST_NGINX_DEAD_PORT;
        v3xy_backup http://127.0.0.1:$TEST_NGINX_ECHO_PORT fails=2 cooldown=60s breaker=api;
    }

    location /down/ {
        v3xy_api_key_file $TEST_NGINX_KEY_FILE;
        proxy_pass http://127.0.0.1:$TEST_NGINX_DEAD_PORT;
        v3xy_backup http://127.0.0.1:$TEST_NGINX_DEAD2_PORT fails=1000 breaker=down;
    }

    location /gw/ {
        v3xy_key_store redis cache=60s;
        proxy_pass http://127.0.0.1:$TEST_NGINX_ECHO_PORT;
    }

    location /session/ {
        v3xy_session_store redis cache=60s;
        proxy_pass http://127.0.0.1:$TEST_NGINX_ECHO_PORT;
    }

    location = /webhooks/v3xy {
        v3xy_webhook_secret_file $TEST_NGINX_WHSEC;
        proxy_pass http://127.0.0.1:$TEST_NGINX_ECHO_PORT;
    }

    location = /metrics {
        v3xy_metrics;
    }
--- init
my $port = $ENV{TEST_NGINX_SERVER_PORT};
my @rules = main::rule_exprs($main::Rules);
my ($dash, $vars) = main::dashboard_exprs($main::Dashboard);

V3xy::redis('DEL', 'v3xy:key:' . Digest::SHA::sha256_hex($main::Key));
V3xy::redis('HSET', 'v3xy:key:' . Digest::SHA::sha256_hex($main::Key), 'account', 'acct_kit',
            'scopes', 'payments:write', 'status', 'active');
V3xy::redis('HSET', 'v3xy:session:' . Digest::SHA::sha256_hex('kit-session-token'),
            'account', 'acct_kit', 'status', 'active');
V3xy::wait_until(sub {
    (V3xy::http_req('GET', '/metrics'))[2] =~ /^v3xy_redis_up\{worker="0"\} 1$/m
}, 'the Redis connection');

# Prometheus: the rules as shipped, the nginx of this test every second
my $dir = File::Temp::tempdir('v3xy-kit-XXXXXX', TMPDIR => 1, CLEANUP => 1);
my $prom = V3xy::free_port();
my $rules = File::Spec->rel2abs($main::Rules);
open my $fh, '>', "$dir/prometheus.yml" or die $!;
print $fh <<"_YML_";
global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files:
  - $rules
scrape_configs:
  - job_name: v3xy
    static_configs:
      - targets: ['127.0.0.1:$port']
_YML_
close $fh;

my $pid = fork // die "fork: $!";
if ($pid == 0) {
    open STDOUT, '>', "$dir/prometheus.log";
    open STDERR, '>&', \*STDOUT;
    exec 'prometheus', "--config.file=$dir/prometheus.yml",
         "--storage.tsdb.path=$dir/data",
         "--web.listen-address=127.0.0.1:$prom" or POSIX::_exit(127);
}

my $scraped = sub {
    my $r = main::query($prom, 'up{job="v3xy"}');
    return $r && @{$r->{data}{result} // []}
           && $r->{data}{result}[0]{value}[1] eq '1';
};
V3xy::wait_until($scraped, 'Prometheus scraping nginx');

# healthy: every role's requests pass; a few seconds of rules evaluated
my @ok;
push @ok, main::req('GET', '/v1/a', undef, 'X-Merchant' => "m$_") for 1 .. 5;
push @ok, main::req('GET', '/gw/a', undef, 'X-V3XY-API-Key' => $main::Key) for 1 .. 3;
push @ok, main::delivery($_, 1) for 1 .. 2;
push @ok, main::req('GET', '/session/a', undef,
                    Authorization => 'Bearer kit-session-token') for 1 .. 2;
Test::More::is("@ok", join(' ', (200) x 12), 'healthy traffic');
select undef, undef, undef, 4;
Test::More::is(join(' ', main::alerts($prom)), '', 'no alert while healthy');

# the faults; a series that first appears needs a second sample to rise
push my @st, main::req('GET', '/v1/a', undef, Origin => 'https://shop.example');
push @st, main::req('GET', '/down/a');
select undef, undef, undef, 2.5;

push @st, main::req('GET', '/v1/a', undef, Origin => 'https://shop.example')
    for 1 .. 25;
push @st, main::req('GET', '/down/a') for 1 .. 5;
push @st, main::req('GET', '/failover/a') for 1 .. 3;
push @st, main::delivery(100 + $_, 0) for 1 .. 5;

V3xy::stop_redis();
V3xy::wait_until(sub {
    (V3xy::http_req('GET', '/metrics'))[2] =~ /^v3xy_redis_up\{worker="0"\} 0$/m
}, 'nginx seeing Redis gone');
push @st, main::req('GET', '/v1/a', undef, 'X-Merchant' => "d$_") for 1 .. 5;
push @st, main::req('GET', '/gw/a', undef,
                    'X-V3XY-API-Key' => "v3xy_dev_Kit_Unknown${_}_0123456789abcdef")
    for 1 .. 5;
push @st, main::req('GET', '/session/a', undef,
                    Authorization => "Bearer kit-unknown-session-$_")
    for 1 .. 5;

Test::More::is("@st", join(' ', 403, 503, (403) x 25, (503) x 5, (200) x 3,
                                (401) x 5, (200) x 5, (503) x 5, (503) x 5),
               'the faults: statuses');

my (undef, undef, $scrape) = V3xy::http_req('GET', '/metrics');

# every metric and label value that the rules and the dashboard name
Test::More::is(join(' ', main::missing($scrape, @rules)), '',
               'the rules name only what the module exports');
Test::More::is(join(' ', main::missing($scrape, @$dash, @$vars)), '',
               'the dashboard names only what the module exports');

# every family the module exports has its panel
my $all = join "\n", @$dash;
my @unshown = grep { $all !~ /\b\Q$_\E(_bucket|_sum|_count)?\b/ }
              main::families($scrape);
Test::More::is("@unshown", '', 'every family on the dashboard');

# each fault its alert (pending or firing: the rules' "for" is minutes)
my @want = sort qw(V3xyBreakerOpen V3xyUpstreamUnavailable V3xyRedisDown
                   V3xyLimitsDecidedByFailMode V3xyKeyStoreUnavailable
                   V3xySessionStoreUnavailable
                   V3xyBrowserRefusalsSurge V3xyWebhookSignaturesFailing);
my @got;
for (1 .. 300) {
    @got = main::alerts($prom);
    last if "@got" eq "@want";
    select undef, undef, undef, 0.1;
}
Test::More::is("@got", "@want", 'each fault raised its alert');

# the dashboard's queries, as Grafana would send them for all instances
my @empty;
for my $q (@$dash) {
    (my $e = $q) =~ s/\$__rate_interval/1m/g;
    $e =~ s/\$(job|instance)\b/.+/g;
    my $r = main::query($prom, $e);
    push @empty, $q unless $r && $r->{status} eq 'success'
                           && @{$r->{data}{result}};
}
Test::More::is(join("\n", @empty), '', 'every dashboard query returns data');

kill 'TERM', $pid;
waitpid $pid, 0;
V3xy::start_redis();
--- request
GET /metrics
--- response_body_like
v3xy_breaker_state\{breaker="api"\} 1
--- timeout: 60
