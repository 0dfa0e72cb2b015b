# The world of the failover suites (t/060, t/061): a key file, the echo
# server, a test CA with certificates for primary.test, backup.test and
# other.test, and the upstreams: two TLS servers of the same nginx that pass
# what they got (and the SNI they saw) to the echo server, a closed port, a
# mute listener and a black hole.  setup() starts it; $Upstreams is the
# http-level configuration that names them.

package V3xyFailover;

use strict;
use warnings;

use V3xy qw(key_file start_echo test_certs start_mute start_blackhole
            free_port);

our $Key = 'v3xy_dev_FailoverTestKey0123456789abcdef';

sub setup {
    $ENV{TEST_NGINX_KEY_FILE} = key_file('api_key', "$Key\n");
    start_echo();
    test_certs(qw(primary.test backup.test other.test));
    $ENV{TEST_NGINX_PRIMARY_PORT} = free_port();
    $ENV{TEST_NGINX_BACKUP_PORT} = free_port();
    $ENV{TEST_NGINX_OTHER_PORT} = free_port();
    $ENV{TEST_NGINX_DEAD_PORT} = free_port();
    $ENV{TEST_NGINX_MUTE_PORT} = start_mute();
    $ENV{TEST_NGINX_HOLE_PORT} = start_blackhole();
}

our $Upstreams = <<'_EOC_';
    upstream primary.test { server 127.0.0.1:$TEST_NGINX_PRIMARY_PORT; }
    upstream backup.test  { server 127.0.0.1:$TEST_NGINX_BACKUP_PORT; }
    upstream other.test   { server 127.0.0.1:$TEST_NGINX_OTHER_PORT; }
    upstream liar.test    { server 127.0.0.1:$TEST_NGINX_OTHER_PORT; }
    upstream dead.test    { server 127.0.0.1:$TEST_NGINX_DEAD_PORT; }
    upstream mute.test    { server 127.0.0.1:$TEST_NGINX_MUTE_PORT; }
    upstream hole.test    { server 127.0.0.1:$TEST_NGINX_HOLE_PORT; }

    # other.test: a certificate for other.test only
    server {
        listen 127.0.0.1:$TEST_NGINX_OTHER_PORT ssl;
        ssl_certificate $TEST_NGINX_CERTS/other.test.crt;
        ssl_certificate_key $TEST_NGINX_CERTS/other.test.key;
        access_log off;
        return 200 "other\n";
    }

    server {
        listen 127.0.0.1:$TEST_NGINX_PRIMARY_PORT ssl;
        ssl_certificate $TEST_NGINX_CERTS/primary.test.crt;
        ssl_certificate_key $TEST_NGINX_CERTS/primary.test.key;
        access_log off;

        location ^~ /v1/s500 { return 500 "primary 500\n"; }
        location ^~ /v1/s404 { return 404 "primary 404\n"; }
        location ^~ /v1/s502 { return 502 "primary 502\n"; }
        location ^~ /v1/s503 { return 503 "primary 503\n"; }
        location ^~ /v1/s504 { return 504 "primary 504\n"; }

        location /v1/both/ {
            return 502 "primary 502\n";
        }

        location / {
            if ($http_x_primary_down) {
                return 502 "primary down\n";
            }

            proxy_pass http://127.0.0.1:$TEST_NGINX_ECHO_PORT;
            proxy_set_header X-Served-By primary;
            proxy_set_header X-Got-Host $http_host;
            proxy_set_header X-Got-SNI $ssl_server_name;
        }
    }

    server {
        listen 127.0.0.1:$TEST_NGINX_BACKUP_PORT ssl;
        ssl_certificate $TEST_NGINX_CERTS/backup.test.crt;
        ssl_certificate_key $TEST_NGINX_CERTS/backup.test.key;
        access_log off;

        location /v1/both/ {
            return 502 "backup 502\n";
        }

        location / {
            proxy_pass http://127.0.0.1:$TEST_NGINX_ECHO_PORT;
            proxy_set_header X-Served-By backup;
            proxy_set_header X-Got-Host $http_host;
            proxy_set_header X-Got-SNI $ssl_server_name;
        }
    }
_EOC_

1;
