#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
#
# bench/run.sh NGINX MODULE_SO      (make bench)
#
# wrk: the key injected by v3xy_api_key_file against the same key set with a
# plain proxy_set_header.  One nginx instance serves both fronts and their
# backend, so the two differ only in how the key gets into the request.
# Then bench/limits.sh: rate limits in shared memory and in Redis.
#
# Environment: ROUNDS (5), DURATION (5s), THREADS (1), CONNECTIONS (50).

set -euo pipefail

usage="usage: bench/run.sh NGINX MODULE_SO"
nginx=${1:?$usage}
module=${2:?$usage}
ROUNDS=${ROUNDS:-5}
DURATION=${DURATION:-5s}
THREADS=${THREADS:-1}
CONNECTIONS=${CONNECTIONS:-50}

# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

# v3xy_dev_ and 32 characters of [A-Za-z0-9_-]
key=v3xy_dev_$(python3 -c 'import secrets; print(secrets.token_urlsafe(24))')
(umask 077; printf '%s\n' "$key" > "$dir/api_key")

read -r p_back p_plain p_module < <(free_ports 3)

nginx_conf "$dir" <<EOF
    upstream backend {
        server 127.0.0.1:$p_back;
        keepalive 32;
    }

    proxy_http_version 1.1;

    server {
        listen 127.0.0.1:$p_back;

        location / { return 200 "ok\n"; }

        # for the check before the benchmark only: did the key arrive?
        location = /check {
            if (\$http_x_v3xy_api_key != "$key") { return 403; }
            return 200 "ok\n";
        }
    }

    # a location's proxy_set_header hides every inherited one: hence
    # Connection "" in both fronts, so that both keep upstream keepalive
    server {
        listen 127.0.0.1:$p_plain;

        location / {
            proxy_set_header Connection "";
            proxy_set_header X-V3XY-API-Key "$key";
            proxy_pass http://backend;
        }
    }

    server {
        listen 127.0.0.1:$p_module;

        location / {
            proxy_set_header Connection "";
            v3xy_api_key_file $dir/api_key;
            proxy_pass http://backend;
        }
    }
EOF

start_nginx "$dir"

# The comparison only means something if both fronts deliver the key, and
# replace a client-sent one; /check on the backend itself must refuse.

[ "$(status "http://127.0.0.1:$p_back/check")" = 403 ] \
    || die "backend /check does not refuse a request without the key"

for front in plain:$p_plain module:$p_module; do
    port=${front#*:}
    [ "$(status "http://127.0.0.1:$port/check")" = 200 ] \
        || die "${front%:*}: the backend did not get the key"
    [ "$(status -H 'X-V3XY-API-Key: v3xy_dev_client_sent_key_0000' \
            "http://127.0.0.1:$port/check")" = 200 ] \
        || die "${front%:*}: a client-sent key was not replaced"
done

echo "$("$nginx" -v 2>&1), $(basename "$module")"
echo "wrk -t$THREADS -c$CONNECTIONS -d$DURATION, $ROUNDS rounds" \
     "(backend :$p_back, plain :$p_plain, module :$p_module)"

# run NAME PORT: one wrk run; sets rps, adds to the totals
declare -A total=([plain]=0 [module]=0)

run() {
    local out reqs non2xx sockerr

    out=$(wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" \
              "http://127.0.0.1:$2/") || die "$1: wrk failed"

    wrk_figures "$out"

    if [ -z "$rps" ] || [ -z "$reqs" ]; then
        die "$1: cannot parse wrk: $out"
    fi
    [ "$reqs" -gt 0 ] || die "$1: no request completed"
    ! grep -qE '\[(alert|crit|emerg)\]' "$dir/error.log" \
        || die "$1: nginx logged alerts (a worker crashed?)"
    [ -z "$non2xx" ] || die "$1: $non2xx non-2xx/3xx responses"
    [ -z "$sockerr" ] || echo "  $1: socket errors: $sockerr"

    total[$1]=$(( ${total[$1]} + reqs ))
}

run plain "$p_plain"
run module "$p_module"
total=([plain]=0 [module]=0)    # the warm-up does not count

printf '%-6s %12s %12s %8s\n' round plain/s module/s ratio
ratios=() plains=() modules=()

for i in $(seq "$ROUNDS"); do
    # swap the order every round, so that a drift favours neither
    if [ $((i % 2)) -eq 1 ]; then
        run plain "$p_plain";   plain=$rps
        run module "$p_module"; mod=$rps
    else
        run module "$p_module"; mod=$rps
        run plain "$p_plain";   plain=$rps
    fi

    ratio=$(awk -v m="$mod" -v p="$plain" 'BEGIN { printf "%.3f", m / p }')
    printf '%-6s %12s %12s %8s\n' "$i" "$plain" "$mod" "$ratio"
    ratios+=("$ratio") plains+=("$plain") modules+=("$mod")
done

printf '%-6s %12.2f %12.2f\n' median "$(median "${plains[@]}")" \
       "$(median "${modules[@]}")"
echo "total requests: plain ${total[plain]}, module ${total[module]}" \
     "(no non-2xx responses)"

# config-time notices land here too (before error_log applies): skip them
warnings=$(grep -E '\[(warn|error)\]' "$dir/error.log" | head -n 20) || true
[ -z "$warnings" ] || printf 'error.log:\n%s\n' "$warnings" | sed '2,$s/^/  /'

echo "ratio module/plain (median of $ROUNDS): $(median "${ratios[@]}")"

# the limits benchmark brings its own nginx instances: stop this one first,
# so that it does not compete for the CPU
trap - EXIT
cleanup
"$(dirname "$0")/limits.sh" "$nginx" "$module"
