#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
#
# bench/limits.sh NGINX MODULE_SO      (the second half of make bench)
#
# wrk: v3xy_limit against plain nginx, with the limit in shared memory and
# in Redis.  v3xy_redis is per http block and moves every zone to Redis, so
# there are two nginx instances, each with its own backend and its own
# plain front:
#
#   A: plain, shm     (v3xy_limit, the zone in shared memory)
#   B: plain, redis   (v3xy_redis, v3xy_limit_fail closed)
#
# and each limit is compared with the plain front of its own instance,
# measured in the same round.  Every request carries one of LIMIT_KEYS
# distinct X-Merchant values (the zone's key), the plain fronts' too, so
# that wrk does the same work for all four.  The rate admits everything: a
# refusal or a Redis failure is a non-2xx response and ends the run.
#
# Then instructions per request under callgrind (bench/callgrind.sh), which
# do not swing with the machine's load: each instance alone, master_process
# off, its plain front and its limit front, REQUESTS requests each on one
# keepalive connection, every one with a key of its own (nothing refused;
# a new key is the dearest case).  User space only: what the module adds
# to nginx's own work, not to the kernel's (most of a request's CPU time
# here), and for B not Redis's; on one connection each decision is alone
# in its script call (no batching).
#
# Environment: ROUNDS (5), DURATION (5s), THREADS (1), CONNECTIONS (50),
# REQUESTS (5000; 0: no callgrind run), PIN (1: bench/pin.sh),
# LIMIT_KEYS (10000), LIMIT_ZONE ("rate=100r/s": the zone's rate, burst).

set -euo pipefail

usage="usage: bench/limits.sh NGINX MODULE_SO"
nginx=${1:?$usage}
module=${2:?$usage}
ROUNDS=${ROUNDS:-5}
DURATION=${DURATION:-5s}
THREADS=${THREADS:-1}
CONNECTIONS=${CONNECTIONS:-50}
LIMIT_KEYS=${LIMIT_KEYS:-10000}
REQUESTS=${REQUESTS:-5000}
# An exact window (the default algorithm) holds one slot per admission:
# 100r/s costs about 1 KiB a key (10 MiB for 10,000 keys, hence size=32m),
# and 10,000 keys at even 100,000 requests/s see 10 a second each.  Far
# larger limits cost megabytes a key (1000000r/m: 8 MB); GCRA is O(1):
# LIMIT_ZONE="rate=1000000r/s burst=1000" measures that instead.
LIMIT_ZONE=${LIMIT_ZONE:-rate=100r/s}

# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=pin.sh
. "$(dirname "$0")/pin.sh"

read -r p_back_a p_plain_a p_shm p_back_b p_plain_b p_redis p_rs \
    < <(free_ports 7)

redis_cli() { redis-cli -h 127.0.0.1 -p "$p_rs" "$@"; }

# redis commands since a snapshot of INFO commandstats: "name calls usec"
cmdstats() {
    redis_cli info commandstats | tr -d '\r' | awk -F'[:,=]' '
        /^cmdstat_/ { sub(/^cmdstat_/, "", $1); print $1, $3, $5 }'
}

# the limiter's script calls so far (EVALSHA, or EVAL after NOSCRIPT)
scripts() {
    cmdstats | awk '$1 ~ /^eval(sha)?$/ { n += $2 } END { print n + 0 }'
}

# no persistence: nothing but the limiter's own work on Redis's CPU
start_redis "$p_rs"

# conf NAME BACKEND_PORT PLAIN_PORT LIMIT_PORT [V3XY_REDIS]: one instance
conf() {
    nginx_conf "$dir/$1" "${MAIN:-} $pin_nginx" <<EOF
    ${5:-}

    v3xy_limit_zone bench $LIMIT_ZONE key=\$http_x_merchant size=32m;
    # for the check before the benchmark only: the third request is refused
    v3xy_limit_zone tight rate=2r/m key=\$http_x_merchant;

    upstream backend {
        server 127.0.0.1:$2;
        keepalive 32;
    }

    proxy_http_version 1.1;

    server {
        listen 127.0.0.1:$2;
        location / { return 200 "ok\n"; }
    }

    # a location's proxy_set_header hides every inherited one: hence
    # Connection "" in both fronts, so that both keep upstream keepalive
    server {
        listen 127.0.0.1:$3;

        location / {
            proxy_set_header Connection "";
            proxy_pass http://backend;
        }
    }

    server {
        listen 127.0.0.1:$4;

        # fail closed: a Redis failure must show as a 503, not be hidden
        # by the shared-memory fallback (A has no Redis: no effect there)
        v3xy_limit_fail closed;

        location / {
            v3xy_limit bench;
            proxy_set_header Connection "";
            proxy_pass http://backend;
        }

        location /tight {
            v3xy_limit tight;
            proxy_set_header Connection "";
            proxy_pass http://backend;
        }
    }
EOF
}

conf a "$p_back_a" "$p_plain_a" "$p_shm"
# timeout=1s, not the default 100 ms: a later reply fails its request (503
# under fail closed) and three in a row drop the connection with every
# request in flight, so one stall of a shared machine (another job on the
# cores) would end the run; a real failure still shows
conf b "$p_back_b" "$p_plain_b" "$p_redis" \
     "v3xy_redis 127.0.0.1:$p_rs timeout=1s;"

start_nginx "$dir/a" A
start_nginx "$dir/b" B

# The figures only mean something if the limits are enforced, and B's
# through Redis (not in its shared memory): 2r/m lets two through, then
# 429; B's count must be in Redis, under the module's key.
for front in A:$p_shm B:$p_redis; do
    port=${front#*:}
    got=
    for _ in 1 2 3; do
        got="$got $(status -H 'X-Merchant: check' \
                        "http://127.0.0.1:$port/tight")"
    done
    [ "$got" = " 200 200 429" ] \
        || die "${front%:*}: 2r/m answered$got, not 200 200 429"
done

[ "$(redis_cli exists 'v3xy:{tight:check}')" = 1 ] \
    || die "B: the count of the 2r/m zone is not in Redis"

# ... and the measured zone, on a key of wrk's: one script call in Redis
# (not its key, which a high GCRA rate expires within milliseconds)
calls=$(scripts)

for front in A:$p_shm B:$p_redis; do
    curl -sS -D - -o /dev/null -H 'X-Merchant: k1' \
            "http://127.0.0.1:${front#*:}/" \
        | grep -qi '^RateLimit: "bench"' \
        || die "${front%:*}: no RateLimit header from the bench zone"
done

[ "$(scripts)" -eq $((calls + 1)) ] \
    || die "B: the bench zone's decision did not go through Redis"

# a random key of LIMIT_KEYS a request; the same script for every front
cat > "$dir/keys.lua" <<EOF
request = function()
    return wrk.format(nil, nil,
                      { ["X-Merchant"] = "k" .. math.random(1, $LIMIT_KEYS) })
end
EOF

echo
echo "limits: $LIMIT_KEYS keys (X-Merchant), zone $LIMIT_ZONE;" \
     "redis-server $(redis-server --version | awk '{ print $3 }' | tr -d v=)" \
     "on :$p_rs"
echo "wrk -t$THREADS -c$CONNECTIONS -d$DURATION, $ROUNDS rounds;" \
     "nginx A: plain :$p_plain_a, shm :$p_shm;" \
     "nginx B (v3xy_redis): plain :$p_plain_b, redis :$p_redis"
pin_note

# CPU time (ticks) of a process so far, from /proc
cpu() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }

worker_a=$(pgrep -P "$(cat "$dir/a/nginx.pid")")
worker_b=$(pgrep -P "$(cat "$dir/b/nginx.pid")")
redis_pid=$(cat "$dir/redis-$p_rs.pid")

# run NAME PORT: one wrk run; sets rps, adds to the totals and to the CPU
# ticks of the nginx worker (and for redis, of redis-server)
declare -A total ticks
zero() {
    total=([plain_a]=0 [shm]=0 [plain_b]=0 [redis]=0)
    ticks=([plain_a]=0 [shm]=0 [plain_b]=0 [redis]=0 [redis_server]=0)
}
zero

run() {
    local out reqs non2xx sockerr worker t0 r0

    case $1 in
    plain_a|shm) worker=$worker_a ;;
    *)           worker=$worker_b ;;
    esac

    t0=$(cpu "$worker") r0=$(cpu "$redis_pid")

    out=$(pinned wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" \
              -s "$dir/keys.lua" "http://127.0.0.1:$2/") \
        || die "$1: wrk failed"

    ticks[$1]=$(( ${ticks[$1]} + $(cpu "$worker") - t0 ))
    if [ "$1" = redis ]; then
        ticks[redis_server]=$(( ticks[redis_server] + $(cpu "$redis_pid") \
                                - r0 ))
    fi

    wrk_figures "$out"

    if [ -z "$rps" ] || [ -z "$reqs" ]; then
        die "$1: cannot parse wrk: $out"
    fi
    [ "$reqs" -gt 0 ] || die "$1: no request completed"
    ! grep -qE '\[(alert|crit|emerg)\]' "$dir/a/error.log" "$dir/b/error.log" \
        || die "$1: nginx logged alerts (a worker crashed?)"
    # 429: the rate is too low for the load; 503: Redis failed
    [ -z "$non2xx" ] || die "$1: $non2xx non-2xx/3xx responses"
    [ -z "$sockerr" ] || echo "  $1: socket errors: $sockerr"

    total[$1]=$(( ${total[$1]} + reqs ))
}

# the warm-up does not count, but fills both stores with the keys
for c in plain_a:$p_plain_a shm:$p_shm plain_b:$p_plain_b redis:$p_redis; do
    run "${c%:*}" "${c#*:}"
done
zero

stats0=$(cmdstats)

printf '%-6s %11s %11s %6s   %11s %11s %6s\n' \
       round "A plain/s" "shm/s" ratio "B plain/s" "redis/s" ratio
r_shm=() r_redis=() pa=() ps=() pb=() pr=()

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", a / b }'; }

for i in $(seq "$ROUNDS"); do
    # reverse the order every other round, so that a drift favours none
    if [ $((i % 2)) -eq 1 ]; then
        run plain_a "$p_plain_a"; plain_a=$rps
        run shm "$p_shm";         shm=$rps
        run plain_b "$p_plain_b"; plain_b=$rps
        run redis "$p_redis";     redis=$rps
    else
        run redis "$p_redis";     redis=$rps
        run plain_b "$p_plain_b"; plain_b=$rps
        run shm "$p_shm";         shm=$rps
        run plain_a "$p_plain_a"; plain_a=$rps
    fi

    rs=$(ratio "$shm" "$plain_a") rr=$(ratio "$redis" "$plain_b")
    printf '%-6s %11s %11s %6s   %11s %11s %6s\n' \
           "$i" "$plain_a" "$shm" "$rs" "$plain_b" "$redis" "$rr"
    r_shm+=("$rs") r_redis+=("$rr")
    pa+=("$plain_a") ps+=("$shm") pb+=("$plain_b") pr+=("$redis")
done

stats1=$(cmdstats)

printf '%-6s %11.2f %11.2f %6s   %11.2f %11.2f\n' median \
       "$(median "${pa[@]}")" "$(median "${ps[@]}")" "" \
       "$(median "${pb[@]}")" "$(median "${pr[@]}")"
echo "total requests: A plain ${total[plain_a]}, shm ${total[shm]};" \
     "B plain ${total[plain_b]}, redis ${total[redis]} (no non-2xx responses)"

# CPU per request shows where a limit's cost goes: into the nginx worker,
# or into redis-server, a third busy process beside wrk and the worker that
# takes its CPU from them when the cores are few.  Like requests per
# second it varies with the load (fewer requests per wakeup cost more).
hz=$(getconf CLK_TCK)
us() { awk -v t="$1" -v n="$2" -v hz="$hz" \
           'BEGIN { printf "%.1f", 1e6 * t / hz / n }'; }
echo "cpu us per request: nginx worker: A plain" \
     "$(us "${ticks[plain_a]}" "${total[plain_a]}")," \
     "shm $(us "${ticks[shm]}" "${total[shm]}");" \
     "B plain $(us "${ticks[plain_b]}" "${total[plain_b]}")," \
     "redis $(us "${ticks[redis]}" "${total[redis]}");" \
     "redis-server $(us "${ticks[redis_server]}" "${total[redis]}")" \
     "($(nproc) cores)"

# Calls during the measured Redis runs only: nothing else talks to this
# Redis then.  EVALSHA/EVAL are what nginx sends; the other commands run
# inside the script (Redis counts them too).  wrk does not count the
# requests still in flight when it stops, hence slightly above 1.00.
join -a 2 -e 0 -o 0,1.2,1.3,2.2,2.3 \
        <(sort <<< "$stats0") <(sort <<< "$stats1") \
    | awk -v n="${total[redis]}" '
        $1 == "info" { next }
        $4 > $2 { calls[$1] = $4 - $2; us[$1] = $5 - $3 }
        END {
            sent = calls["evalsha"] + calls["eval"]
            printf "redis commands per request: %.2f (evalsha %d, eval %d," \
                   " requests %d; %.1f us each in Redis)\n", sent / n,
                   calls["evalsha"], calls["eval"], n,
                   (us["evalsha"] + us["eval"]) / (sent ? sent : 1)
            s = ""
            for (k in calls)
                if (k != "evalsha" && k != "eval")
                    s = s sprintf(", %s %.2f", k, calls[k] / n)
            if (s != "")
                print "  inside the script, per request: " substr(s, 3)
        }'

# config-time notices land here too (before error_log applies): skip them
warnings=$(grep -hE '\[(warn|error)\]' "$dir/a/error.log" "$dir/b/error.log" \
           | head -n 20) || true
[ -z "$warnings" ] || printf 'error.log:\n%s\n' "$warnings" | sed '2,$s/^/  /'

echo "ratio shm/plain (nginx A, median of $ROUNDS):" \
     "$(median "${r_shm[@]}")"
echo "ratio redis/plain (nginx B, median of $ROUNDS):" \
     "$(median "${r_redis[@]}")"

[ "$REQUESTS" -gt 0 ] || exit 0

# shellcheck source=callgrind.sh
. "$(dirname "$0")/callgrind.sh"

stop "$dir/a/nginx.pid"
stop "$dir/b/nginx.pid"
rm -f "$dir/a/nginx.pid" "$dir/b/nginx.pid"

echo "callgrind: $REQUESTS requests a front on one keepalive connection," \
     "master_process off"

MAIN="master_process off; daemon off;" conf a "$p_back_a" "$p_plain_a" "$p_shm"
cg_start a "$nginx" "$dir/a" "$dir/a/nginx.conf" "$p_plain_a"
ir_pa=$(cg_ir "$p_plain_a" /p 0 "$REQUESTS")
ir_shm=$(cg_ir "$p_shm" /s 0 "$REQUESTS")
cg_stop

MAIN="master_process off; daemon off;" conf b "$p_back_b" "$p_plain_b" \
    "$p_redis" "v3xy_redis 127.0.0.1:$p_rs timeout=1s;"
cg_start b "$nginx" "$dir/b" "$dir/b/nginx.conf" "$p_plain_b"
ir_pb=$(cg_ir "$p_plain_b" /p 0 "$REQUESTS")
ir_redis=$(cg_ir "$p_redis" /r 0 "$REQUESTS")
cg_stop

echo "instructions per request: A plain $ir_pa, shm $ir_shm;" \
     "B plain $ir_pb, redis $ir_redis (the worker only)"
# user space only: the kernel's part of a request (most of its CPU time
# here) is not counted, so these ratios overstate what a limit costs
echo "ratio plain/shm of nginx's user-space instructions:" \
     "$(awk -v a="$ir_pa" -v b="$ir_shm" 'BEGIN { printf "%.4f", a / b }')"
echo "ratio plain/redis of nginx's user-space instructions:" \
     "$(awk -v a="$ir_pb" -v b="$ir_redis" 'BEGIN { printf "%.4f", a / b }')"
