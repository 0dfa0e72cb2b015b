# Configuration: the module loads into Debian's nginx, and nginx refuses to
# start, with a precise message, when the key file is missing, unreadable,
# empty or not a developer key.

use lib 't/lib';
use File::Temp qw(tempdir);
use Test::Nginx::Socket 'no_plan';
use V3xy qw(key_file);

my $good = 'v3xy_dev_Config_Test_Secret_0000000';

$ENV{TEST_NGINX_KEY} = key_file('key', "$good\n");
$ENV{TEST_NGINX_KEY_CRLF} = key_file('crlf', "$good\r\n");
$ENV{TEST_NGINX_KEY_BARE} = key_file('bare', $good);
$ENV{TEST_NGINX_KEY_WORLD} = key_file('world', "$good\n", 0644);
$ENV{TEST_NGINX_KEY_EMPTY} = key_file('empty', '');
$ENV{TEST_NGINX_KEY_BLANK} = key_file('blank', "  \n\n");
$ENV{TEST_NGINX_KEY_PREFIX} = key_file('prefix', "sk_live_Config_Test_Secret_0000\n");
$ENV{TEST_NGINX_KEY_SHORT} = key_file('short', "v3xy_dev_tooShort15chars\n");
$ENV{TEST_NGINX_KEY_CHAR} = key_file('char', "v3xy_dev_Config Test Secret 0000\n");
$ENV{TEST_NGINX_KEY_LINES} = key_file('lines', "$good\n$good\n");
$ENV{TEST_NGINX_KEY_LARGE} = key_file('large', 'v3xy_dev_' . ('a' x 5000));
$ENV{TEST_NGINX_KEY_DIR} = tempdir('v3xy-dir-XXXXXX', TMPDIR => 1, CLEANUP => 1);
$ENV{TEST_NGINX_KEY_MISSING} = "$ENV{TEST_NGINX_KEY_DIR}/no-such-key";

log_level('info');
no_long_string();
run_tests();

__DATA__

=== TEST 1: the module loads and leaves locations without its directives alone
--- config
    location /t {
        return 200 "ok\n";
    }
--- request
GET /t
--- response_body
ok
--- no_error_log
[error]
[warn]



=== TEST 2: a good key file (mode 0600) loads; the log names its fingerprint only
--- config
    location /t {
        v3xy_api_key_file $TEST_NGINX_KEY;
        return 200 "$v3xy_key_id\n";
    }
--- request
GET /t
--- response_body_like: ^v3xy_dev_\.\.\.[0-9a-f]{12}$
--- error_log eval
qr/\[notice\] .*v3xy_api_key_file: ".*\/key" holds key v3xy_dev_\.\.\.[0-9a-f]{12}/
--- no_error_log
[warn]
Config_Test_Secret



=== TEST 3: CRLF and no final newline give the same key
--- config
    location /a { v3xy_api_key_file $TEST_NGINX_KEY; return 200 "$v3xy_key_id\n"; }
    location /b { v3xy_api_key_file $TEST_NGINX_KEY_CRLF; return 200 "$v3xy_key_id\n"; }
    location /c { v3xy_api_key_file $TEST_NGINX_KEY_BARE; return 200 "$v3xy_key_id\n"; }
--- pipelined_requests eval
["GET /a", "GET /b", "GET /c"]
--- response_body eval
# python3 -c 'import hashlib;
#   print(hashlib.sha256(b"v3xy_dev_Config_Test_Secret_0000000").hexdigest()[:12])'
["v3xy_dev_...6ccbf8a04e49\n", "v3xy_dev_...6ccbf8a04e49\n",
 "v3xy_dev_...6ccbf8a04e49\n"]



=== TEST 4: a key file readable by others loads with a warning
--- config
    location /t {
        v3xy_api_key_file $TEST_NGINX_KEY_WORLD;
        return 200 "ok\n";
    }
--- request
GET /t
--- response_body
ok
--- error_log eval
qr/\[warn\] .*v3xy_api_key_file: ".*\/world" is readable by other users/



=== TEST 5: a missing key file stops nginx
--- config
    location /t {
        v3xy_api_key_file $TEST_NGINX_KEY_MISSING;
    }
--- must_die
--- error_log eval
qr/\[emerg\] .*v3xy_api_key_file: cannot open ".*\/no-such-key" \(2: No such file or directory\)/



=== TEST 6: a directory is not a key file
--- config
    location /t {
        v3xy_api_key_file $TEST_NGINX_KEY_DIR;
    }
--- must_die
--- error_log eval
qr/\[emerg\] .*v3xy_api_key_file: ".*" is not a regular file/



=== TEST 7: an empty key file stops nginx
--- config
    location /t {
        v3xy_api_key_file $TEST_NGINX_KEY_EMPTY;
    }
--- must_die
--- error_log eval
qr/\[emerg\] .*v3xy_api_key_file: ".*\/empty" is empty/



=== TEST 8: a key file of white space only is empty
--- config
    location /t {
        v3xy_api_key_file $TEST_NGINX_KEY_BLANK;
    }
--- must_die
--- error_log eval
qr/\[emerg\] .*v3xy_api_key_file: ".*\/blank" is empty/



=== TEST 9: a key of another form stops nginx, without printing it
--- config
    location /t {
        v3xy_api_key_file $TEST_NGINX_KEY_PREFIX;
    }
--- must_die
--- error_log eval
qr/\[emerg\] .*v3xy_api_key_file: ".*\/prefix" does not hold a developer key \(v3xy_dev_<secret>\): does not start with "v3xy_dev_"/
--- no_error_log
Config_Test_Secret



=== TEST 10: a secret under 16 characters is used, with a warning that it is weak (the specification sets no length)
--- config
    location /t {
        v3xy_api_key_file $TEST_NGINX_KEY_SHORT;
        return 200 "ok\n";
    }
--- request
GET /t
--- response_body
ok
--- error_log eval
qr/\[warn\] .*v3xy_api_key_file: ".*\/short" holds a weak key: its secret is shorter than 16 characters/
--- no_error_log
tooShort15chars



=== TEST 11: a secret with spaces is refused
--- config
    location /t {
        v3xy_api_key_file $TEST_NGINX_KEY_CHAR;
    }
--- must_die
--- error_log
secret has a space, a control character or a byte that is not ASCII



=== TEST 12: two lines are not one key
--- config
    location /t {
        v3xy_api_key_file $TEST_NGINX_KEY_LINES;
    }
--- must_die
--- error_log
secret has a space, a control character



=== TEST 13: a large file is not a key file
--- config
    location /t {
        v3xy_api_key_file $TEST_NGINX_KEY_LARGE;
    }
--- must_die
--- error_log eval
qr/\[emerg\] .*v3xy_api_key_file: ".*\/large" is too large for a secret file \(5009 bytes, at most 4096\)/



=== TEST 14: the directive twice in one block is an error
--- config
    location /t {
        v3xy_api_key_file $TEST_NGINX_KEY;
        v3xy_api_key_file $TEST_NGINX_KEY;
    }
--- must_die
--- error_log eval
qr/\[emerg\] .*"v3xy_api_key_file" directive is duplicate/



=== TEST 15: v3xy_browser takes reject or allow only
--- config
    location /t {
        v3xy_browser maybe;
    }
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid value "maybe" in .*nginx\.conf:\d+/



=== TEST 16: a relative key path is relative to the configuration's directory
--- config
    location /t {
        v3xy_api_key_file ../html/relkey;
        return 200 "$v3xy_key_id\n";
    }
--- user_files
>>> relkey
v3xy_dev_Config_Test_Secret_0000000
--- request
GET /t
--- response_body
v3xy_dev_...6ccbf8a04e49



=== TEST 17: a Cluster's or sentinels' address is not a unix socket
--- http_config
    v3xy_redis cluster=unix:/tmp/v3xy-no-such.sock;
--- config
    location /t {
        return 200;
    }
--- must_die
--- error_log eval
qr/\[emerg\] \d+#\d+: invalid address "unix:\/tmp\/v3xy-no-such.sock": a Cluster's nodes and sentinels are reached over TCP, not a unix socket in \S+nginx\.conf:\d+/



=== TEST 18: sentinel_password_file: a missing file stops nginx
--- http_config
    v3xy_redis sentinel=127.0.0.1:1 master=v3xy sentinel_password_file=$TEST_NGINX_KEY_MISSING;
--- config
    location /t {
        return 200;
    }
--- must_die
--- error_log eval
qr/\[emerg\] .*v3xy_redis sentinel_password_file: cannot open ".*\/no-such-key" \(2: No such file or directory\)/



=== TEST 19: sentinel_password_file: an empty file stops nginx
--- http_config
    v3xy_redis sentinel=127.0.0.1:1 master=v3xy sentinel_password_file=$TEST_NGINX_KEY_BLANK;
--- config
    location /t {
        return 200;
    }
--- must_die
--- error_log eval
qr/\[emerg\] .*v3xy_redis sentinel_password_file: ".*\/blank" is empty/



=== TEST 20: sentinel_password_file: a directory is not a password file
--- http_config
    v3xy_redis sentinel=127.0.0.1:1 master=v3xy sentinel_password_file=$TEST_NGINX_KEY_DIR;
--- config
    location /t {
        return 200;
    }
--- must_die
--- error_log eval
qr/\[emerg\] .*v3xy_redis sentinel_password_file: ".*" is not a regular file/



=== TEST 21: sentinel_password_file goes with sentinel= only
--- http_config
    v3xy_redis 127.0.0.1:1 sentinel_password_file=$TEST_NGINX_KEY;
--- config
    location /t {
        return 200;
    }
--- must_die
--- error_log eval
qr/\[emerg\] \d+#\d+: invalid parameter "sentinel_password_file=\S+" without sentinel= in \S+nginx\.conf:\d+/



=== TEST 22: sentinel_password_file: read at load, never in the log
--- http_config
    v3xy_redis sentinel=127.0.0.1:1 master=v3xy sentinel_password_file=$TEST_NGINX_KEY;
--- config
    location /t {
        return 200 "ok\n";
    }
--- request
GET /t
--- response_body
ok
--- no_error_log
Config_Test_Secret
[emerg]



=== TEST 23: sentinel_poll is at least 100ms, and with sentinel= only
--- http_config
    v3xy_redis sentinel=127.0.0.1:1 master=v3xy sentinel_poll=50ms;
--- config
    location /t {
        return 200;
    }
--- must_die
--- error_log eval
qr/\[emerg\] \d+#\d+: invalid parameter "sentinel_poll=50ms": at least 100ms in \S+nginx\.conf:\d+/



=== TEST 24: master= and sentinel_poll= need sentinel=
--- http_config
    v3xy_redis 127.0.0.1:1 sentinel_poll=1s;
--- config
    location /t {
        return 200;
    }
--- must_die
--- error_log eval
qr/\[emerg\] \d+#\d+: invalid parameter "sentinel_poll=1s" without sentinel= in \S+nginx\.conf:\d+/



=== TEST 25: master= needs sentinel= too
--- http_config
    v3xy_redis cluster=127.0.0.1:1 master=v3xy;
--- config
    location /t {
        return 200;
    }
--- must_die
--- error_log eval
qr/\[emerg\] \d+#\d+: invalid parameter "master=v3xy" without sentinel= in \S+nginx\.conf:\d+/



=== TEST 26: the first parameter is where Redis is, not another parameter
--- http_config
    v3xy_redis master=v3xy sentinel=127.0.0.1:1;
--- config
    location /t {
        return 200;
    }
--- must_die
--- error_log eval
qr/\[emerg\] \d+#\d+: invalid parameter "master=v3xy": the first parameter is where Redis is \(host:port, unix:path, cluster= or sentinel=\) in \S+nginx\.conf:\d+/



=== TEST 27: v3xy_redis: a parameter given twice is refused (the second would silently win)
--- http_config
    v3xy_redis 127.0.0.1:1 timeout=1s connect_timeout=1s timeout=2s;
--- config
    location /t {
        return 200;
    }
--- must_die
--- error_log
duplicate parameter "timeout=2s": timeout= given twice



=== TEST 28: v3xy_limit_zone: rate= or burst= twice is refused; tier= repeats (one per tier)
--- http_config
    v3xy_limit_zone ok rate=5r/m key=$remote_addr tier=a:6r/m tier=b:7r/m;
    v3xy_limit_zone bad rate=5r/m key=$remote_addr burst=2 rate=6r/m;
--- config
    location /t {
        return 200;
    }
--- must_die
--- error_log
duplicate parameter "rate=6r/m": rate= given twice



=== TEST 29: v3xy_key_store: cache= twice is refused
--- http_config
    v3xy_redis 127.0.0.1:1;
--- config
    location /t {
        v3xy_key_store redis cache=10s cache=20s;
    }
--- must_die
--- error_log
duplicate parameter "cache=20s": cache= given twice



=== TEST 30: v3xy_backup: fails= twice is refused; a "=" in the URL is no parameter
--- config
    location /ok {
        v3xy_api_key_file $TEST_NGINX_KEY;
        proxy_pass http://127.0.0.1:1;
        v3xy_backup http://127.0.0.1:2/?fails=1 fails=2;
    }

    location /t {
        v3xy_api_key_file $TEST_NGINX_KEY;
        proxy_pass http://127.0.0.1:1;
        v3xy_backup http://127.0.0.1:2 fails=2 cooldown=5s fails=3;
    }
--- must_die
--- error_log
duplicate parameter "fails=3": fails= given twice
