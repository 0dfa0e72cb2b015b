#!/bin/sh
# Run examples/sidecar.conf with the module just built, in the foreground.
#
#   util/run-sidecar.sh NGINX MODULE KEY_FILE RUN_DIR
#
# RUN_DIR becomes nginx's prefix: conf/nginx.conf (the example, with
# KEY_FILE as its key file), conf/resolver.conf (from /etc/resolv.conf),
# modules/ (the module), logs/.
set -eu

nginx=$1
module=$2
key=$3
run=$4
here=$(cd "$(dirname "$0")/.." && pwd)

if [ ! -f "$key" ]; then
    # a directory of its own only where there is none (never re-mode /tmp)
    mkdir_line=
    if [ ! -d "$(dirname "$key")" ]; then
        mkdir_line="    install -d -m 700 '$(dirname "$key")'"
    fi

    cat >&2 <<EOM
make run: no API key file at $key

Write your developer key (v3xy_dev_...) there, readable by root only:

$mkdir_line
    (umask 077; printf '%s\n' 'v3xy_dev_PASTE_YOUR_SECRET_HERE' > '$key')

or name another file: make run KEY_FILE=/path/to/key
EOM
    exit 1
fi

key=$(cd "$(dirname "$key")" && pwd)/$(basename "$key")

# the path goes into nginx.conf in double quotes: spaces are fine there
case $key in
*'"'* | *\\* | *'$'*)
    printf 'make run: %s: a key file path with ", \\ or $ cannot go into %s\n' \
           "$key" "nginx.conf; name another" >&2
    exit 1 ;;
esac

if grep -q 'PASTE_YOUR_SECRET_HERE' "$key" 2>/dev/null; then
    echo "make run: $key still holds the placeholder key of the README;" \
         "the API will refuse it (nginx starts anyway)" >&2
fi

mkdir -p "$run/conf" "$run/logs" "$run/modules"
run=$(cd "$run" && pwd)

ln -sf "$(cd "$(dirname "$module")" && pwd)/$(basename "$module")" \
    "$run/modules/ngx_http_v3xy_module.so"

ns=$(awk '$1 == "nameserver" { print $2; exit }' /etc/resolv.conf 2>/dev/null)
case "$ns" in
"")  echo "make run: no nameserver in /etc/resolv.conf" >&2; exit 1 ;;
*:*) ns="[$ns]" ;;
esac
echo "resolver $ns valid=300s;" > "$run/conf/resolver.conf"

# & and | are sed's in the replacement: escaped
sed_key=$(printf '%s\n' "$key" | sed 's/[&|]/\\&/g')
sed "s|/etc/v3xy/api_key|\"$sed_key\"|" "$here/examples/sidecar.conf" \
    > "$run/conf/nginx.conf"

"$nginx" -q -t -p "$run/" -c conf/nginx.conf

echo "v3xy sidecar on http://127.0.0.1:8080/v1/ (Ctrl-C stops it)"
exec "$nginx" -p "$run/" -c conf/nginx.conf -g 'daemon off;'
