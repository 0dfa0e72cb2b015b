#!/bin/sh
# Test the Debian package on this machine, through the system's nginx,
# without starting it or changing its configuration for good:
#
#   util/test-deb.sh DEB BUILD_DIR
#
# lintian (no error); apt-get install ./DEB; the link in modules-enabled;
# "nginx -t" of the default configuration (which now loads the module), of
# a temporary configuration that takes the module from modules-enabled and
# uses its directives, and of the shipped examples/sidecar.conf; apt-get
# remove (link put aside, nginx -t), install again (link back), apt-get
# purge (no link, nothing dangling, nginx -t).  A package that was installed
# before is purged too, unless a file under /etc/nginx uses the module (then
# the test stops).  Needs root.
set -eu

deb=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
tmp=$(mkdir -p "$2/deb-test" && cd "$2/deb-test" && pwd)
pkg=libnginx-mod-http-v3xy
enabled=/etc/nginx/modules-enabled
link=$enabled/50-mod-http-v3xy.conf
avail=/usr/share/nginx/modules-available/mod-http-v3xy.conf
doc=/usr/share/doc/$pkg

pass=0
ok()   { pass=$((pass + 1)); echo "ok $pass - $*"; }
fail() { echo "not ok - $*" >&2; exit 1; }

apt() {
    DEBIAN_FRONTEND=noninteractive apt-get -q -y \
        -o DPkg::Lock::Timeout=300 "$@" > "$tmp/apt.log" 2>&1 || {
        cat "$tmp/apt.log" >&2; fail "apt-get $*"; }
}

installed() {
    dpkg-query -W -f='${Status}\n' $pkg 2>/dev/null | grep -q 'ok installed'
}

# a failed run leaves neither the package nor a link behind
cleanup() {
    rc=$?
    if [ $rc != 0 ] && dpkg-query -W $pkg > /dev/null 2>&1; then
        echo "test-deb: failed; purging $pkg" >&2
        DEBIAN_FRONTEND=noninteractive apt-get -q -y \
            -o DPkg::Lock::Timeout=300 purge $pkg > /dev/null 2>&1 || true
    fi
    exit $rc
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

nginx_t() {     # nginx -t quietly, its messages on failure
    /usr/sbin/nginx -q -t "$@" > "$tmp/nginx-t.log" 2>&1 || {
        cat "$tmp/nginx-t.log" >&2; return 1; }
}

lintian --fail-on error "$deb" > "$tmp/lintian.log" 2>&1 || {
    cat "$tmp/lintian.log" >&2; fail "lintian reports errors"; }
ok "lintian: no error ($(grep -c '^[EWI]:' "$tmp/lintian.log" || true) tags)"

if dpkg-query -W $pkg > /dev/null 2>&1; then
    # unless this machine's nginx uses the module: the purge would break it
    users=$(grep -rlE '^[[:space:]]*v3xy_' /etc/nginx 2>/dev/null || true)
    if [ -n "$users" ]; then
        echo "test-deb: $pkg is installed and used by $users" >&2
        echo "test-deb: the test would purge it; run it on another machine" >&2
        exit 1
    fi
    echo "test-deb: $pkg was installed before; the test purges it"
    apt purge $pkg
fi

apt install "$deb"
installed || fail "$pkg not installed"
ok "apt-get install $(basename "$deb")"

[ "$(readlink $link)" = "$avail" ] || fail "$link is not a link to $avail"
grep -qx 'load_module modules/ngx_http_v3xy_module.so;' "$avail" \
    || fail "$avail has no load_module line"
ok "$link -> $avail"

for f in README.md.gz docs/directives.md.gz docs/operations.md.gz \
         docs/install.md.gz docs/development.md.gz copyright \
         examples/sidecar.conf examples/gateway.conf examples/webhooks.conf
do
    [ -f "$doc/$f" ] || fail "$doc/$f missing"
done
ok "README, docs and examples in $doc"

nginx_t || fail "nginx -t (default configuration, module enabled)"
ok "nginx -t of the default configuration loads the module"

# the directives, the module taken from modules-enabled as nginx.conf does
umask 077
echo "v3xy_dev_DebPackageTest_0000000000" > "$tmp/api_key"
echo "deb-test-webhook-secret" > "$tmp/whsec"
umask 022
cat > "$tmp/directives.conf" <<EOF
include $enabled/*.conf;
pid $tmp/nginx.pid;
error_log stderr;
events { worker_connections 64; }
http {
    access_log off;
    v3xy_limit_zone per_key rate=60r/m key=\$v3xy_key_id;
    server {
        listen 127.0.0.1:1;
        location /v1/ {
            v3xy_api_key_file $tmp/api_key;
            v3xy_browser reject;
            v3xy_limit per_key;
            v3xy_limit_fail local;
            proxy_pass http://127.0.0.1:2;
        }
        location = /webhooks/v3xy {
            v3xy_webhook_secret_file $tmp/whsec;
            v3xy_webhook_tolerance 300s;
            proxy_pass http://127.0.0.1:3;
        }
    }
}
EOF
nginx_t -c "$tmp/directives.conf" || fail "nginx -t with the directives"
ok "nginx -t: the module from modules-enabled, its directives"

# the example as shipped, from a prefix of its own (its pid and logs are
# relative) whose modules/ is the package's directory
mkdir -p "$tmp/sidecar/conf" "$tmp/sidecar/logs"
ln -sfn /usr/lib/nginx/modules "$tmp/sidecar/modules"
sed "s|/etc/v3xy/api_key|$tmp/api_key|" "$doc/examples/sidecar.conf" \
    > "$tmp/sidecar/conf/nginx.conf"
echo "resolver 127.0.0.1;" > "$tmp/sidecar/conf/resolver.conf"
nginx_t -p "$tmp/sidecar/" -c conf/nginx.conf \
    || fail "nginx -t of the shipped example"
ok "nginx -t of $doc/examples/sidecar.conf"

apt remove $pkg
{ [ ! -e $link ] && [ ! -L $link ]; } || fail "$link left after remove"
[ -L "$link.removed" ] || fail "$link.removed missing after remove"
nginx_t || fail "nginx -t after remove"
ok "apt-get remove: link put aside, nginx -t passes"

apt install "$deb"
[ "$(readlink $link)" = "$avail" ] || fail "link not restored on reinstall"
[ ! -L "$link.removed" ] || fail "$link.removed left after reinstall"
ok "apt-get install again: link restored"

apt purge $pkg
! dpkg-query -W $pkg > /dev/null 2>&1 || fail "$pkg still known to dpkg"
{ [ ! -L $link ] && [ ! -L "$link.removed" ]; } || fail "link left after purge"
[ ! -e /usr/lib/nginx/modules/ngx_http_v3xy_module.so ] \
    || fail "module left after purge"
dangling=$(find $enabled -xtype l)
[ -z "$dangling" ] || fail "dangling links in $enabled: $dangling"
nginx_t || fail "nginx -t after purge"
ok "apt-get purge: no link, nothing dangling, nginx -t passes"

echo "test-deb: $pass passed, 0 failed"
