#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
#
# bench/metrics.sh NGINX MODULE_SO      (make bench)
#
# wrk: the sidecar (key injected, a limit in shared memory with distinct
# keys, so that nothing is refused) with metrics off against the same with
# metrics on (a v3xy_metrics location: the zone, the counters, the log
# handler).  Metrics are per http block, so "off" and "on" are two nginx
# instances of one worker each, with one backend of their own, measured
# in alternating order.  After the run, the scrape of "on" must count
# every request that wrk made there (the counters do count).
#
# wrk's ratio on this 2-core machine swings by 20 % from round to round
# (the two instances compete with wrk and each other), far more than the
# 1 % that the goal allows.  So the script then counts instructions, which
# do not depend on the load: each instance alone, master_process off,
# under callgrind (bench/callgrind.sh, instrumented after a warm-up),
# serves the same REQUESTS requests from one keepalive client; nginx's
# user-space instructions per request, off against on, bound the cost of
# the metrics from above (the kernel's part of a request is not counted).
#
# Environment: ROUNDS (5), DURATION (5s), THREADS (1), CONNECTIONS (50),
# REQUESTS (5000; 0: no callgrind run).

set -euo pipefail

usage="usage: bench/metrics.sh NGINX MODULE_SO"
nginx=${1:?$usage}
module=${2:?$usage}
ROUNDS=${ROUNDS:-5}
DURATION=${DURATION:-5s}
THREADS=${THREADS:-1}
CONNECTIONS=${CONNECTIONS:-50}
REQUESTS=${REQUESTS:-5000}

# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=callgrind.sh
. "$(dirname "$0")/callgrind.sh"

key=v3xy_dev_$(python3 -c 'import secrets; print(secrets.token_urlsafe(24))')
(umask 077; printf '%s\n' "$key" > "$dir/api_key")

# wrk's requests carry a different merchant each: nothing is refused
cat > "$dir/merchants.lua" <<'EOF'
local n = 0
request = function()
    n = n + 1
    return wrk.format("GET", "/v1/payments/" .. n,
                      { ["X-Merchant"] = "m" .. n })
end
EOF

read -r p_back_off p_off p_back_on p_on < <(free_ports 4)

# conf NAME BACKEND_PORT FRONT_PORT [METRICS_LOCATION]
conf() {
    nginx_conf "$dir/$1" "${MAIN:-}" <<EOF
    v3xy_limit_zone bench rate=100r/s key=\$http_x_merchant size=32m;

    upstream backend {
        server 127.0.0.1:$2;
        keepalive 32;
    }

    proxy_http_version 1.1;

    server {
        listen 127.0.0.1:$2;
        location / { return 200 "ok\n"; }
    }

    server {
        listen 127.0.0.1:$3;

        location /v1/ {
            v3xy_api_key_file $dir/api_key;
            v3xy_limit bench;
            proxy_set_header Connection "";
            proxy_pass http://backend;
        }

        ${4:-}
    }
EOF
}

conf off "$p_back_off" "$p_off"
conf on "$p_back_on" "$p_on" "location = /metrics { v3xy_metrics; }"

start_nginx "$dir/off" off
start_nginx "$dir/on" on

[ "$(status "http://127.0.0.1:$p_on/metrics")" = 200 ] \
    || die "on: no metrics"
[ "$(status "http://127.0.0.1:$p_off/metrics")" = 404 ] \
    || die "off: metrics where there should be none"

ok_count() {
    curl -sS "http://127.0.0.1:$p_on/metrics" | awk '
        $1 == "v3xy_requests_total{role=\"sidecar\",code=\"ok\"}" { print $2 }'
}

echo "$("$nginx" -v 2>&1), $(basename "$module")"
echo "wrk -t$THREADS -c$CONNECTIONS -d$DURATION, $ROUNDS rounds" \
     "(off :$p_off, on :$p_on)"

declare -A total=([off]=0 [on]=0)

# run NAME PORT: one wrk run; sets rps, adds to the totals
run() {
    local out reqs non2xx

    out=$(wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" \
              -s "$dir/merchants.lua" "http://127.0.0.1:$2/") \
        || die "$1: wrk failed"

    rps=$(awk '$1 == "Requests/sec:" { print $2 }' <<< "$out")
    reqs=$(awk '/ requests in / { print $1 }' <<< "$out")
    non2xx=$(awk -F': *' '/Non-2xx/ { print $2 }' <<< "$out")

    if [ -z "$rps" ] || [ -z "$reqs" ]; then
        die "$1: cannot parse wrk: $out"
    fi
    ! grep -qE '\[(alert|crit|emerg)\]' "$dir/$1/error.log" \
        || die "$1: nginx logged alerts (a worker crashed?)"
    [ -z "$non2xx" ] || die "$1: $non2xx non-2xx/3xx responses"

    total[$1]=$(( ${total[$1]} + reqs ))
}

before=$(ok_count)
run off "$p_off"
run on "$p_on"
printf '%-6s %12s %12s %8s\n' round off/s on/s ratio
ratios=() offs=() ons=()

for i in $(seq "$ROUNDS"); do
    if [ $((i % 2)) -eq 1 ]; then
        run off "$p_off"; off=$rps
        run on "$p_on";   on=$rps
    else
        run on "$p_on";   on=$rps
        run off "$p_off"; off=$rps
    fi

    ratio=$(awk -v a="$on" -v b="$off" 'BEGIN { printf "%.3f", a / b }')
    printf '%-6s %12s %12s %8s\n' "$i" "$off" "$on" "$ratio"
    ratios+=("$ratio") offs+=("$off") ons+=("$on")
done

printf '%-6s %12.2f %12.2f\n' median "$(median "${offs[@]}")" \
       "$(median "${ons[@]}")"

# wrk counts the responses it read; requests cut at the end of a run are
# counted by nginx but not by wrk, at most one per connection and run
counted=$(( $(ok_count) - before ))
echo "requests counted by the metrics: $counted; completed by wrk:" \
     "${total[on]}"
if [ "$counted" -lt "${total[on]}" ] \
   || [ "$counted" -gt $(( total[on] + CONNECTIONS * (ROUNDS + 1) )) ]; then
    die "the metrics did not count wrk's requests"
fi

echo "ratio on/off (median of $ROUNDS): $(median "${ratios[@]}")"

[ "$REQUESTS" -gt 0 ] || exit 0

stop "$dir/off/nginx.pid"
stop "$dir/on/nginx.pid"
rm -f "$dir/off/nginx.pid" "$dir/on/nginx.pid"

# instructions NAME FRONT_PORT BACKEND_PORT [METRICS_LOCATION]: the
# instance alone under callgrind; prints its instructions per request
instructions() {
    MAIN="master_process off; daemon off;" conf "$1" "$3" "$2" "${4:-}"
    cg_start "$1" "$nginx" "$dir/$1" "$dir/$1/nginx.conf" "$2"
    cg_ir "$2" /v1/payments/ 0 "$REQUESTS"
    cg_stop
}

echo "callgrind: $REQUESTS requests on one keepalive connection," \
     "master_process off"
ir_off=$(instructions off "$p_off" "$p_back_off")
ir_on=$(instructions on "$p_on" "$p_back_on" \
            "location = /metrics { v3xy_metrics; }")
echo "instructions per request: off $ir_off, on $ir_on"
echo "ratio off/on of nginx's user-space instructions (the kernel's part" \
     "of a request is not counted: the ratio overstates the cost):" \
     "$(awk -v a="$ir_off" -v b="$ir_on" 'BEGIN { printf "%.4f", a / b }')"
