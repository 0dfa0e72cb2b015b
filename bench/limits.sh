#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
#
# bench/limits.sh NGINX MODULE_SO      (the second half of make bench)
#
# wrk: v3xy_limit against plain nginx, with the limit in shared memory and
# in Redis, and against the peer a user would pick instead.  v3xy_redis is
# per http block and moves every zone to Redis, so there are three nginx
# instances (the same binary), each with its own backend and its own plain
# front:
#
#   A: plain, shm     (v3xy_limit, the zone in shared memory)
#   B: plain, redis   (v3xy_redis, v3xy_limit_fail closed)
#   C: plain, peer    OpenResty's way on Debian: libnginx-mod-http-lua and
#                     resty.redis (lua-nginx-redis: nginx.redis on
#                     Debian), a fixed window per
#                     request in access_by_lua: INCR and EXPIRE of the
#                     key of the current window in one pipelined round
#                     trip, on a cosocket keepalive pool, 429 over the
#                     limit; the same Redis, the same X-Merchant keys.
#                     One counter a key, but not exact: up to 2N in a
#                     rolling window (N at the end of one window, N at
#                     the start of the next).
#
# and each limit is compared with the plain front of its own instance,
# measured in the same round (and B's limit with C's peer).  Every request
# carries one of LIMIT_KEYS distinct X-Merchant values (the zone's key),
# the plain fronts' too, so that wrk does the same work for all six.  The
# rate admits everything: a refusal or a Redis failure is a non-2xx
# response and ends the run.  Latency: p50 and p99 of wrk --latency, the
# median of the rounds.
#
# NETEM=0.5ms: Redis at a distance (bench/netem.sh): everything runs in a
# network namespace of its own where the packets to and from Redis's port
# are delayed by NETEM each way, and nothing else is; root only.
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
# REQUESTS (5000, 0 under NETEM; 0: no callgrind run), PIN (1:
# bench/pin.sh), LIMIT_KEYS (10000), LIMIT_ZONE ("rate=100r/s": the zone's
# rate, burst; the peer takes its rate as a fixed window), LIMIT_SIZE (the
# zone's size=; empty: its default, 10m), NETEM (empty: off; 0.5ms: the
# delay each way to Redis).

set -euo pipefail

# shellcheck source=netem.sh
. "$(dirname "$0")/netem.sh"
netem_enter "$@"

usage="usage: bench/limits.sh NGINX MODULE_SO"
nginx=${1:?$usage}
module=${2:?$usage}
ROUNDS=${ROUNDS:-5}
DURATION=${DURATION:-5s}
THREADS=${THREADS:-1}
CONNECTIONS=${CONNECTIONS:-50}
LIMIT_KEYS=${LIMIT_KEYS:-10000}
if [ -n "$NETEM" ]; then REQUESTS=${REQUESTS:-0}; fi
REQUESTS=${REQUESTS:-5000}
# An exact window (the default algorithm) costs 136 bytes a key in shared
# memory at any rate above 6 a window (bounded slots, issue 19): the
# default 10m zone holds about 77,000 keys, so 10,000 fit without a size=
# (until issue 19, a ring of one time per admission: 1 KiB a key at
# 100r/s, hence size=32m then).  10,000 keys at even 100,000 requests/s
# see 10 a second each.  LIMIT_ZONE="rate=1000000r/s burst=1000" measures
# GCRA instead.
LIMIT_ZONE=${LIMIT_ZONE:-rate=100r/s}
LIMIT_SIZE=${LIMIT_SIZE:-}

# the peer's fixed window: N requests a second, minute or hour
if [[ $LIMIT_ZONE =~ rate=([0-9]+)r/([smhd]) ]]; then
    peer_n=${BASH_REMATCH[1]}
    case ${BASH_REMATCH[2]} in
    s) peer_w=1 ;;
    m) peer_w=60 ;;
    h) peer_w=3600 ;;
    d) peer_w=86400 ;;
    esac
else
    echo "bench: LIMIT_ZONE has no rate=Nr/s|m|h|d: $LIMIT_ZONE" >&2
    exit 1
fi

lua_mods=/usr/lib/nginx/modules
# the peer's Lua (bench/peer.lua), by an absolute path for nginx
bench_dir=$(cd "$(dirname "$0")" && pwd)
for m in ndk_http_module ngx_http_lua_module; do
    [ -f "$lua_mods/$m.so" ] \
        || { echo "bench: $lua_mods/$m.so is missing:" \
                  "util/deps.sh bench" >&2; exit 1; }
done
[ -f /usr/share/lua/5.1/nginx/redis.lua ] \
    || { echo "bench: nginx.redis (lua-nginx-redis) is missing:" \
              "util/deps.sh bench" >&2
         exit 1; }

# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=pin.sh
. "$(dirname "$0")/pin.sh"

read -r p_back_a p_plain_a p_shm p_back_b p_plain_b p_redis p_rs \
    p_back_c p_plain_c p_peer p_delay < <(free_ports 11)

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
# redis_port: where nginx sends its Redis traffic (p_rs, or a delaying
# proxy's port: bench/netem.sh)
redis_port=$p_rs
netem_delay "$p_rs" "$p_delay"

# conf NAME BACKEND_PORT PLAIN_PORT LIMIT_PORT [V3XY_REDIS]: one instance
conf() {
    nginx_conf "$dir/$1" "${MAIN:-} $pin_nginx" <<EOF
    ${5:-}

    v3xy_limit_zone bench $LIMIT_ZONE key=\$http_x_merchant
                    ${LIMIT_SIZE:+size=$LIMIT_SIZE};
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
     "v3xy_redis 127.0.0.1:$redis_port timeout=1s;"

# C: the peer (bench/peer.lua).  resty.redis's pipeline: both commands in
# one write, both replies read after it; the connection back to the pool
# (set_keepalive) only after a full exchange, as OpenResty's documentation
# has it.
mkdir -p "$dir/c"

nginx_conf "$dir/c" "${MAIN:-} $pin_nginx
load_module $lua_mods/ndk_http_module.so;
load_module $lua_mods/ngx_http_lua_module.so;" <<EOF
    lua_package_path "$bench_dir/?.lua;;";

    upstream backend {
        server 127.0.0.1:$p_back_c;
        keepalive 32;
    }

    proxy_http_version 1.1;

    server {
        listen 127.0.0.1:$p_back_c;
        location / { return 200 "ok\n"; }
    }

    server {
        listen 127.0.0.1:$p_plain_c;

        location / {
            proxy_set_header Connection "";
            proxy_pass http://backend;
        }
    }

    server {
        listen 127.0.0.1:$p_peer;

        location / {
            access_by_lua_block {
                require("peer").limit("bench", $peer_n, $peer_w, $redis_port)
            }
            proxy_set_header Connection "";
            proxy_pass http://backend;
        }

        location /tight {
            access_by_lua_block {
                require("peer").limit("tight", 2, 60, $redis_port)
            }
            proxy_set_header Connection "";
            proxy_pass http://backend;
        }
    }
EOF

start_nginx "$dir/a" A
start_nginx "$dir/b" B
start_nginx "$dir/c" C

# The figures only mean something if the limits are enforced, and B's
# through Redis (not in its shared memory): 2r/m lets two through, then
# 429; B's count must be in Redis, under the module's key.
for front in A:$p_shm B:$p_redis C:$p_peer; do
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
[ "$(redis_cli --scan --pattern 'peer:{tight:check}:*' | wc -l)" = 1 ] \
    || die "C: the peer's count is not in Redis"

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
echo "limits: $LIMIT_KEYS keys (X-Merchant), zone $LIMIT_ZONE" \
     "size=${LIMIT_SIZE:-10m (default)};" \
     "redis-server $(redis-server --version | awk '{ print $3 }' | tr -d v=)" \
     "on :$p_rs"
echo "wrk -t$THREADS -c$CONNECTIONS -d$DURATION --latency, $ROUNDS rounds;" \
     "nginx A: plain :$p_plain_a, shm :$p_shm;" \
     "nginx B (v3xy_redis): plain :$p_plain_b, redis :$p_redis;" \
     "nginx C (lua, nginx.redis): plain :$p_plain_c," \
     "peer :$p_peer ($peer_n a ${peer_w}s fixed window)"
pin_note
echo "load: $(uptime | sed 's/.*load average: //') ($(nproc) cores)"
if [ -n "${BENCH_NETNS:-}" ]; then
    read -r rtt_redis rtt_http < <(netem_check "$redis_port" "$p_plain_a")
    read -r rtt_direct _ < <(netem_check "$p_rs" "$p_plain_a")
    echo "netem: $NETEM each way to Redis in namespace $BENCH_NETNS" \
         "($netem_how); median round trip: Redis PING as nginx sees it" \
         "$rtt_redis ms (direct $rtt_direct ms), HTTP to nginx A's plain" \
         "front $rtt_http ms"
fi

# CPU time (ticks) of a process so far, from /proc

worker_a=$(pgrep -P "$(cat "$dir/a/nginx.pid")")
worker_b=$(pgrep -P "$(cat "$dir/b/nginx.pid")")
worker_c=$(pgrep -P "$(cat "$dir/c/nginx.pid")")
redis_pid=$(cat "$dir/redis-$p_rs.pid")

# run NAME PORT: one wrk run; sets rps, adds to the totals and to the CPU
# ticks of the nginx worker (and for redis and peer, of redis-server, and
# their Redis commands to $dir/cmds-NAME: "name calls usec" a run)
declare -A total ticks lat50 lat99
fronts="plain_a shm plain_b redis plain_c peer"
zero() {
    local f

    for f in $fronts; do
        total[$f]=0 ticks[$f]=0 lat50[$f]='' lat99[$f]=''
    done
    ticks[redis_server]=0 ticks[peer_server]=0
    rm -f "$dir/cmds-redis" "$dir/cmds-peer"
}
zero

run() {
    local out reqs non2xx sockerr worker t0 r0 s0

    case $1 in
    plain_a|shm)   worker=$worker_a ;;
    plain_b|redis) worker=$worker_b ;;
    *)             worker=$worker_c ;;
    esac

    t0=$(cpu "$worker") r0=$(cpu "$redis_pid")
    case $1 in redis|peer) s0=$(cmdstats) ;; esac

    out=$(pinned wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency \
              -s "$dir/keys.lua" "http://127.0.0.1:$2/") \
        || die "$1: wrk failed"

    ticks[$1]=$(( ${ticks[$1]} + $(cpu "$worker") - t0 ))
    case $1 in
    redis|peer)
        ticks[$1_server]=$(( ${ticks[$1_server]} + $(cpu "$redis_pid") \
                             - r0 ))
        join -a 2 -e 0 -o 0,1.2,1.3,2.2,2.3 \
                <(sort <<< "$s0") <(cmdstats | sort) \
            | awk '$1 != "info" && $4 > $2 { print $1, $4 - $2, $5 - $3 }' \
            >> "$dir/cmds-$1"
        ;;
    esac

    wrk_figures "$out"
    lat50[$1]="${lat50[$1]} $p50" lat99[$1]="${lat99[$1]} $p99"

    if [ -z "$rps" ] || [ -z "$reqs" ]; then
        die "$1: cannot parse wrk: $out"
    fi
    [ "$reqs" -gt 0 ] || die "$1: no request completed"
    ! grep -qE '\[(alert|crit|emerg)\]' "$dir/a/error.log" "$dir/b/error.log" \
            "$dir/c/error.log" \
        || die "$1: nginx logged alerts (a worker crashed?)"
    # 429: the rate is too low for the load; 503: Redis failed
    [ -z "$non2xx" ] || die "$1: $non2xx non-2xx/3xx responses"
    [ -z "$sockerr" ] || echo "  $1: socket errors: $sockerr"

    total[$1]=$(( ${total[$1]} + reqs ))
}

# the warm-up does not count, but fills the stores with the keys
declare -A port=([plain_a]=$p_plain_a [shm]=$p_shm [plain_b]=$p_plain_b
                 [redis]=$p_redis [plain_c]=$p_plain_c [peer]=$p_peer)
for f in $fronts; do
    run "$f" "${port[$f]}"
done
zero

fmt='%-6s %9s %9s %6s  %9s %9s %6s  %9s %9s %6s  %6s\n'
# shellcheck disable=SC2059  # the format is ours
printf "$fmt" round "A plain/s" "shm/s" ratio "B plain/s" "redis/s" ratio \
       "C plain/s" "peer/s" ratio "r/peer"
r_shm=() r_redis=() r_peer=() r_rp=()
declare -A per

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", a / b }'; }

order=$fronts
reversed=$(tr ' ' '\n' <<< "$fronts" | tac | tr '\n' ' ')
declare -A rate
for i in $(seq "$ROUNDS"); do
    # reverse the order every other round, so that a drift favours none
    if [ $((i % 2)) -eq 1 ]; then order=$fronts; else order=$reversed; fi
    for f in $order; do
        run "$f" "${port[$f]}"
        rate[$f]=$rps
        per[$f]="${per[$f]:-} $rps"
    done

    rs=$(ratio "${rate[shm]}" "${rate[plain_a]}")
    rr=$(ratio "${rate[redis]}" "${rate[plain_b]}")
    rp=$(ratio "${rate[peer]}" "${rate[plain_c]}")
    rrp=$(ratio "${rate[redis]}" "${rate[peer]}")
    # shellcheck disable=SC2059
    printf "$fmt" "$i" "${rate[plain_a]}" "${rate[shm]}" "$rs" \
           "${rate[plain_b]}" "${rate[redis]}" "$rr" \
           "${rate[plain_c]}" "${rate[peer]}" "$rp" "$rrp"
    r_shm+=("$rs") r_redis+=("$rr") r_peer+=("$rp") r_rp+=("$rrp")
done

# shellcheck disable=SC2086,SC2059  # per[]: numbers, split on purpose
printf "$fmt" median "$(median ${per[plain_a]})" "$(median ${per[shm]})" \
       "$(median "${r_shm[@]}")" \
       "$(median ${per[plain_b]})" "$(median ${per[redis]})" \
       "$(median "${r_redis[@]}")" \
       "$(median ${per[plain_c]})" "$(median ${per[peer]})" \
       "$(median "${r_peer[@]}")" "$(median "${r_rp[@]}")"
echo "total requests: A plain ${total[plain_a]}, shm ${total[shm]};" \
     "B plain ${total[plain_b]}, redis ${total[redis]};" \
     "C plain ${total[plain_c]}, peer ${total[peer]} (no non-2xx responses)"

echo "latency, ms (wrk --latency, the median of $ROUNDS rounds):"
printf '  %-8s %8s %8s\n' front p50 p99
for f in $fronts; do
    # shellcheck disable=SC2086  # numbers, split on purpose
    printf '  %-8s %8s %8s\n' "$f" "$(median ${lat50[$f]})" \
           "$(median ${lat99[$f]})"
done

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
     "C plain $(us "${ticks[plain_c]}" "${total[plain_c]}")," \
     "peer $(us "${ticks[peer]}" "${total[peer]}");" \
     "redis-server $(us "${ticks[redis_server]}" "${total[redis]}")" \
     "(redis), $(us "${ticks[peer_server]}" "${total[peer]}") (peer)" \
     "($(nproc) cores)"

# Calls during the measured Redis runs only: nothing else talks to this
# Redis then.  EVALSHA/EVAL are what nginx sends; the other commands run
# inside the script (Redis counts them too).  wrk does not count the
# requests still in flight when it stops, hence slightly above 1.00.
awk -v n="${total[redis]}" '
        { calls[$1] += $2; us[$1] += $3 }
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
        }' "$dir/cmds-redis"
awk -v n="${total[peer]}" '
        { calls[$1] += $2; us[$1] += $3; all += $2; t += $3 }
        END {
            s = ""
            for (k in calls)
                s = s sprintf(", %s %.2f", k, calls[k] / n)
            printf "peer: redis commands per request: %s (%.1f us each" \
                   " in Redis)\n", substr(s, 3), t / (all ? all : 1)
        }' "$dir/cmds-peer"

# config-time notices land here too (before error_log applies): skip them
warnings=$(grep -hE '\[(warn|error)\]' "$dir/a/error.log" "$dir/b/error.log" \
               "$dir/c/error.log" | head -n 20) || true
[ -z "$warnings" ] || printf 'error.log:\n%s\n' "$warnings" | sed '2,$s/^/  /'

echo "ratio shm/plain (nginx A, median of $ROUNDS):" \
     "$(median "${r_shm[@]}")"
echo "ratio redis/plain (nginx B, median of $ROUNDS):" \
     "$(median "${r_redis[@]}")"
echo "ratio peer/plain (nginx C, median of $ROUNDS):" \
     "$(median "${r_peer[@]}")"
echo "ratio redis/peer (B's limit, C's peer, median of $ROUNDS):" \
     "$(median "${r_rp[@]}")"

[ "$REQUESTS" -gt 0 ] || exit 0

# shellcheck source=callgrind.sh
. "$(dirname "$0")/callgrind.sh"

stop "$dir/a/nginx.pid"
stop "$dir/b/nginx.pid"
stop "$dir/c/nginx.pid"
rm -f "$dir/a/nginx.pid" "$dir/b/nginx.pid" "$dir/c/nginx.pid"

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
