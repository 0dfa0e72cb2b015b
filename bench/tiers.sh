#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
#
# bench/tiers.sh NGINX MODULE_SO      (make bench)
#
# wrk: a limit with tiers against the same limit without, in one nginx
# instance (one worker) with one backend and two gateway fronts, both with
# the key store file and one zone keyed on $v3xy_key_id:
#
#   untiered  a key of no tier, a zone of rate= alone: the path of before
#             tiers;
#   tiered    a key of tier "t8" (the key store's tier=), a zone of rate=
#             and eight tiers, t8 the last: the request's tier found among
#             them (the longest search), the key decided at its rate.
#
# The rates admit everything (any non-2xx ends the run).  Before
# measuring: each front's RateLimit-Policy must show the rate it should
# apply (the tier's on the tiered front).  REDIS=1: both zones in Redis
# (v3xy_redis, a redis-server of the script's own) instead of shared
# memory.
#
# Environment: ROUNDS (5), DURATION (5s), THREADS (1), CONNECTIONS (50),
# REDIS (0).

set -euo pipefail

usage="usage: bench/tiers.sh NGINX MODULE_SO"
nginx=${1:?$usage}
module=${2:?$usage}
ROUNDS=${ROUNDS:-5}
DURATION=${DURATION:-5s}
THREADS=${THREADS:-1}
CONNECTIONS=${CONNECTIONS:-50}
REDIS=${REDIS:-0}

# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

key_u=v3xy_dev_$(python3 -c 'import secrets; print(secrets.token_urlsafe(24))')
key_t=v3xy_dev_$(python3 -c 'import secrets; print(secrets.token_urlsafe(24))')

{
    printf '%s acct_u payments:read\n' \
        "$(printf %s "$key_u" | sha256sum | cut -d' ' -f1)"
    printf '%s acct_t payments:read tier=t8\n' \
        "$(printf %s "$key_t" | sha256sum | cut -d' ' -f1)"
} > "$dir/keys"

read -r p_back p_u p_t p_rs < <(free_ports 4)

redis_conf=
if [ "$REDIS" = 1 ]; then
    start_redis "$p_rs"
    redis_conf="v3xy_redis 127.0.0.1:$p_rs timeout=1s;"
fi

# the tiered zone's rate= admits everything too: the key's tier must
# decide, which the check below sees in RateLimit-Policy
nginx_conf "$dir" <<EOF
    $redis_conf

    v3xy_limit_zone untiered key=\$v3xy_key_id rate=1000000r/s;
    v3xy_limit_zone tiered key=\$v3xy_key_id rate=900000r/s
                    tier=t1:910000r/s tier=t2:920000r/s tier=t3:930000r/s
                    tier=t4:940000r/s tier=t5:950000r/s tier=t6:960000r/s
                    tier=t7:970000r/s tier=t8:1000000r/s;

    upstream backend {
        server 127.0.0.1:$p_back;
        keepalive 32;
    }

    proxy_http_version 1.1;

    server {
        listen 127.0.0.1:$p_back;

        location / { return 200 "ok\n"; }
    }

    server {
        listen 127.0.0.1:$p_u;

        location / {
            v3xy_key_store file=$dir/keys;
            v3xy_limit untiered;
            v3xy_limit_fail closed;
            proxy_set_header Connection "";
            proxy_pass http://backend;
        }
    }

    server {
        listen 127.0.0.1:$p_t;

        location / {
            v3xy_key_store file=$dir/keys;
            v3xy_limit tiered;
            v3xy_limit_fail closed;
            proxy_set_header Connection "";
            proxy_pass http://backend;
        }
    }
EOF

start_nginx "$dir"

# policy PORT KEY: the q of RateLimit-Policy (after Redis is up: 503 until)
policy() {
    local q

    for _ in $(seq 50); do
        q=$(curl -s -o /dev/null -D - -H "X-V3XY-API-Key: $2" \
                 "http://127.0.0.1:$1/v1/status" | tr -d '\r' \
                | sed -n 's/^RateLimit-Policy: "[a-z]*";q=\([0-9]*\);.*/\1/ip')
        [ -n "$q" ] && break
        sleep 0.1
    done

    echo "$q"
}

[ "$(policy "$p_u" "$key_u")" = 1000000 ] \
    || die "untiered: not the zone's rate="
[ "$(policy "$p_t" "$key_t")" = 1000000 ] \
    || die "tiered: not the rate of the key's tier t8"

store="shared memory"
[ "$REDIS" = 1 ] && store="Redis (redis-server on :$p_rs)"

echo
echo "tiers: a key of tier t8 in a zone of eight tiers, against a key of" \
     "none in a zone of none; the zones in $store;" \
     "$("$nginx" -v 2>&1), $(basename "$module")"
echo "wrk -t$THREADS -c$CONNECTIONS -d$DURATION, $ROUNDS rounds" \
     "(backend :$p_back, untiered :$p_u, tiered :$p_t)"

# CPU time (ticks) of a process so far, from /proc

worker=$(pgrep -P "$(cat "$dir/nginx.pid")")

declare -A total ticks
zero() {
    total=([untiered]=0 [tiered]=0)
    ticks=([untiered]=0 [tiered]=0)
}
zero

# run NAME PORT KEY: one wrk run; sets rps, adds to the totals and ticks
run() { wrk_measured "$1" "$2" "X-V3XY-API-Key: $3"; }

# the warm-up does not count
run untiered "$p_u" "$key_u"
run tiered "$p_t" "$key_t"
zero

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", a / b }'; }

printf '%-6s %11s %11s %6s\n' round untiered/s tiered/s ratio
ratios=() pu=() pt=()

for i in $(seq "$ROUNDS"); do
    # reverse the order every other round, so that a drift favours none
    if [ $((i % 2)) -eq 1 ]; then
        run untiered "$p_u" "$key_u"; u=$rps
        run tiered "$p_t" "$key_t";   t=$rps
    else
        run tiered "$p_t" "$key_t";   t=$rps
        run untiered "$p_u" "$key_u"; u=$rps
    fi

    r=$(ratio "$t" "$u")
    printf '%-6s %11s %11s %6s\n' "$i" "$u" "$t" "$r"
    ratios+=("$r") pu+=("$u") pt+=("$t")
done

printf '%-6s %11.2f %11.2f\n' median "$(median "${pu[@]}")" \
       "$(median "${pt[@]}")"

hz=$(getconf CLK_TCK)
us() { awk -v t="$1" -v n="$2" -v hz="$hz" \
           'BEGIN { printf "%.1f", 1e6 * t / hz / n }'; }
echo "cpu us per request, nginx worker: untiered" \
     "$(us "${ticks[untiered]}" "${total[untiered]}")," \
     "tiered $(us "${ticks[tiered]}" "${total[tiered]}") ($(nproc) cores)"

echo "ratio tiered/untiered (median of $ROUNDS): $(median "${ratios[@]}")"
