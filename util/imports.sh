#!/bin/sh
# Which of the module's files uses which other file's symbols.
#
#   util/imports.sh [objdir]
#
# Reads the object files that "make module" left (nm: what each defines and
# what it needs) and prints one line per glue file of ngx_v3xy_module/:
#
#   limit: error redis shm
#
# means ngx_http_v3xy_limit.c calls or reads something defined in
# ngx_http_v3xy_error.c, _redis.c and _shm.c. Files of src/ (no nginx in
# them) are left out: everyone may use them. Then it lists the cycles of
# two (a uses b and b uses a) and the files on a cycle, between files and
# between capabilities: the files of a capability that has an
# ngx_http_v3xy_X_internal.h (redis_*.c, limit_*.c) are one capability X,
# whose files may use each other (one state machine may span two).
# Exits 1 if capabilities form a cycle.
# The module's own variable, ngx_http_v3xy_module, is not counted: every
# file reads its configuration through it, as in nginx's own modules.

set -eu

objdir=${1:-build/nginx-debian/objs/addon/ngx_v3xy_module}

if ! ls "$objdir"/*.o > /dev/null 2>&1; then
    echo "imports.sh: no object files in $objdir: run \"make module\"" >&2
    exit 1
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

for o in "$objdir"/*.o; do
    f=$(basename "$o" .o)
    f=${f#ngx_http_v3xy_}
    nm --defined-only -g "$o" \
        | awk '$2 ~ /^[TDBRC]$/ && $3 != "ngx_http_v3xy_module" { print $3 }' \
        | sed "s/\$/ $f/" >> "$tmp/defs"
    nm -u "$o" | awk '{ print $2 }' | sed "s/^/$f /" >> "$tmp/uses"
done

sort -k1,1 "$tmp/defs" > "$tmp/defs.s"
sort -k2,2 "$tmp/uses" > "$tmp/uses.s"

# user owner pairs
join -1 2 -2 1 -o 1.1,2.2 "$tmp/uses.s" "$tmp/defs.s" \
    | awk '$1 != $2' | sort -u > "$tmp/edges"

for o in "$objdir"/*.o; do
    f=$(basename "$o" .o)
    f=${f#ngx_http_v3xy_}
    printf '%s:' "$f"
    awk -v f="$f" '$1 == f { printf " %s", $2 }' "$tmp/edges"
    printf '\n'
done

# a file's capability: X for X.c and X_*.c where X_internal.h exists
cap() {
    for h in "$srcdir"/ngx_http_v3xy_*_internal.h; do
        [ -e "$h" ] || continue
        c=$(basename "$h" _internal.h)
        c=${c#ngx_http_v3xy_}
        case $1 in "$c"|"$c"_*) echo "$c"; return ;; esac
    done
    echo "$1"
}

srcdir=${V3XY_GLUE_DIR:-ngx_v3xy_module}

while read -r a b; do
    echo "$(cap "$a") $(cap "$b")"
done < "$tmp/edges" | awk '$1 != $2' | sort -u > "$tmp/caps"

report() {
    edges=$1
    echo "  mutual uses:"
    awk '{ e[$1 " " $2] = 1 } END {
             n = 0
             for (k in e) {
                 split(k, p, " ")
                 if (p[1] < p[2] && e[p[2] " " p[1]]) {
                     print "    " p[1] " <-> " p[2]; n++
                 }
             }
             if (n == 0) print "    none"
         }' "$edges" | sort

    # tsort says "input contains a loop" on stderr when there is a cycle
    if tsort "$edges" > /dev/null 2> "$tmp/tsort"; then
        echo "  cycles: none"
        return 0
    fi

    echo "  cycles: yes, on one:"
    grep -v 'input contains a loop' "$tmp/tsort" | sed 's/^tsort: /    /' \
        | sort -u
    return 1
}

echo
echo "files:"
report "$tmp/edges" || true

echo
echo "capabilities:"
awk '{ print $1; print $2 }' "$tmp/caps" | sort -u | while read -r c; do
    printf '  %s:' "$c"
    awk -v c="$c" '$1 == c { printf " %s", $2 }' "$tmp/caps"
    printf '\n'
done
report "$tmp/caps"
