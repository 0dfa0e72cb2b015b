#!/bin/sh
# Compiles the module's sources as an nginx built without --with-debug
# (mainline's default, and most distributions') would: the ngx_log_debug*
# lines vanish, and nothing else may break (a variable only a debug line
# reads, say).  Debian's nginx has debug, so the normal build cannot tell.
#
#   util/check-nodebug.sh NGX_BUILD_DIR     (after "make module")
set -eu

b=$1
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$b"

cflags=$(sed -n 's/^CFLAGS = *//p' objs/Makefile)
incs=$(make -s -f objs/Makefile -p 2>/dev/null \
       | sed -n 's/^ALL_INCS = //p' | head -n 1)

if [ -z "$cflags" ] || [ -z "$incs" ]; then
    echo "check-nodebug: cannot read CFLAGS or ALL_INCS of $b/objs/Makefile" >&2
    exit 1
fi

n=0
for f in "$top"/src/*.c "$top"/ngx_v3xy_module/*.c; do
    # nginx's flags and include options: lists, split on purpose
    # shellcheck disable=SC2086
    ${CC:-cc} -c $cflags -DNGX_DEBUG=0 $incs -o /dev/null "$f"
    n=$((n + 1))
done

echo "check-nodebug: $n files compile without NGX_DEBUG"
