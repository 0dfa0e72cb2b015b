#!/bin/bash
# Configure an nginx source tree, copied into a build directory, to build
# this module as a dynamic module.
#
#   util/configure-nginx.sh NGINX_SRC BUILD_DIR MODULE_DIR
#
# Debian's nginx-dev tree (/usr/share/nginx/src) holds headers, auto/ and a
# conf_flags file with the flags Debian's nginx was configured with: using
# them gives a module whose signature matches /usr/sbin/nginx.  Any other
# tree (a release tarball or a git checkout of nginx) is configured with
# --with-compat, which keeps the module ABI independent of other options.
set -euo pipefail

src=$(cd "${1:?NGINX_SRC}" && pwd)
dst=${2:?BUILD_DIR}
mod=$(cd "${3:?MODULE_DIR}" && pwd)

rm -rf "$dst"
mkdir -p "$dst"
cp -a "$src/." "$dst/"
cd "$dst"

if [ -x ./configure ]; then
    configure=./configure
else
    configure=./auto/configure      # a git checkout of nginx
fi

if [ -f conf_flags ]; then
    # Debian's nginx-dev file of the flags its nginx was built with: not
    # ours, and only there at run time
    # shellcheck disable=SC1091
    . ./conf_flags
    flags=("${NGX_CONF_FLAGS[@]}")
else
    # what the suites use that a plain build lacks (Debian's has them)
    flags=(--with-compat --with-debug --with-http_ssl_module --with-threads
           --with-http_v2_module --with-http_auth_request_module
           --with-http_addition_module --with-http_slice_module
           --with-http_stub_status_module --with-http_realip_module
           --with-http_sub_module)
fi

$configure "${flags[@]}" \
    --with-cc-opt="-g -O2 -fstack-protector-strong -Wformat \
-Werror=format-security -fPIC -D_FORTIFY_SOURCE=2" \
    --with-ld-opt="-Wl,-z,relro -Wl,-z,now -fPIC" \
    --add-dynamic-module="$mod" > configure.log 2>&1 || {
        tail -n 30 configure.log >&2
        echo "configure failed; see $dst/configure.log" >&2
        exit 1
    }

echo "configured $src in $dst"
