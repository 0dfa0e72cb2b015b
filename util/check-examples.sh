#!/bin/sh
# "nginx -t" of every examples/*.conf with the module just built: each runs
# from a prefix of its own, with made-up secrets where the example names
# files under /etc/v3xy/ and a resolver.conf.
#
#   util/check-examples.sh NGINX MODULE BUILD_DIR
set -eu

nginx=$1
module=$(cd "$(dirname "$2")" && pwd)/$(basename "$2")
build=$3
here=$(cd "$(dirname "$0")/.." && pwd)

for example in "$here"/examples/*.conf; do
    name=$(basename "$example" .conf)
    prefix=$(mkdir -p "$build/examples/$name" && cd "$build/examples/$name" && pwd)
    mkdir -p "$prefix/conf" "$prefix/logs" "$prefix/modules" "$prefix/secrets"
    ln -sf "$module" "$prefix/modules/ngx_http_v3xy_module.so"
    echo "resolver 127.0.0.1;" > "$prefix/conf/resolver.conf"

    sed "s|/etc/v3xy/|$prefix/secrets/|g" "$example" > "$prefix/conf/nginx.conf"

    grep -o "$prefix/secrets/[A-Za-z0-9_.-]*" "$prefix/conf/nginx.conf" \
    | sort -u | while read -r f
    do
        base=$(basename "$f")
        (umask 077
         case "$base" in
         api_key*) echo "v3xy_dev_ExampleCheck_${base}_0000" ;;
         keys)     printf '%s acct_example payments:read\n' \
                       "$(printf %s v3xy_dev_ExampleCheck_0000000000 \
                          | sha256sum | cut -d' ' -f1)" ;;
         *)        echo "example-secret-$base" ;;
         esac > "$f")
    done

    "$nginx" -q -t -p "$prefix/" -c conf/nginx.conf
    echo "examples/$name.conf: configuration test passed"
done
