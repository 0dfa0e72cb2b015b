#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
#
# bench/scale.sh NGINX MODULE_SO      (make bench: quick; make bench-scale)
#
# The cost curve of a limit against the number of keys that it holds: for
# each N of SCALE_KEYS, the exact window (rate=RATE) and GCRA (rate=RATE
# burst=the same N), each in shared memory and in Redis, and the OpenResty
# peer of bench/limits.sh (Debian's lua module, INCR + EXPIRE of a fixed
# window in one round trip), against plain nginx:
#
#   A: plain, ex, gc           the zones in shared memory (v3xy_limit_fail
#                              closed: a full zone shows as 503s)
#   B: plain, ex, gc           v3xy_redis: the same zones in Redis
#   C: plain, peer             the peer, on the same Redis
#
# One variant after the other: Redis emptied (FLUSHALL), the variant's
# store filled with N distinct X-Merchant keys (wrk, key i for request i,
# until N responses; the zones are sized for N, a 503 of the fill says
# that they do not hold N keys), Redis's memory read (INFO memory's
# used_memory since the FLUSHALL over DBSIZE, and MEMORY USAGE of one
# key; GCRA's keys expire within window / N of their last request, so few
# are held and its used_memory figure is rough), then ROUNDS rounds of its
# plain front and itself, the order reversed every other round, every
# request with one of the N keys drawn at random (nothing refused: RATE
# admits every key's share).  Figures:
# requests/s against plain (the median of the rounds' ratios), the nginx
# worker's CPU per request (/proc ticks over requests, the limit front
# and its plain front), and before anything else the shared memory a key
# costs: a zone of the default size (10m) filled with more keys than it
# can hold, its size over the keys that it admitted (GCRA's at 1r/h, where
# no key goes idle during the probe; slab rounding, the
# hash table and the zone's own header included: a 10m zone holds
# 10m / that).  A zone of N × that × 1.25 that does not fit in half the
# memory available says "does not fit" and is skipped.
#
# Output: a table, SCALE_OUT/scale.dat (the data) and SCALE_OUT/scale.svg
# (or .png)
# (gnuplot: throughput ratio, CPU per request and memory per key against
# keys).
#
# Environment: SCALE_KEYS ("10000 100000 1000000"), RATE (300r/m), ROUNDS
# (3), DURATION (5s), THREADS (1), CONNECTIONS (50), PIN (1: bench/pin.sh),
# SCALE_OUT (the directory of this script), SCALE_CHART (svg; or png).

set -euo pipefail

usage="usage: bench/scale.sh NGINX MODULE_SO"
nginx=${1:?$usage}
module=${2:?$usage}
SCALE_KEYS=${SCALE_KEYS:-10000 100000 1000000}
RATE=${RATE:-300r/m}
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-5s}
THREADS=${THREADS:-1}
CONNECTIONS=${CONNECTIONS:-50}
SCALE_OUT=${SCALE_OUT:-$(dirname "$0")}
SCALE_CHART=${SCALE_CHART:-svg}

if [[ $RATE =~ ^([0-9]+)r/([smhd])$ ]]; then
    rate_n=${BASH_REMATCH[1]}
    case ${BASH_REMATCH[2]} in
    s) rate_w=1 ;;
    m) rate_w=60 ;;
    h) rate_w=3600 ;;
    d) rate_w=86400 ;;
    esac
else
    echo "bench: RATE is Nr/s, Nr/m, Nr/h or Nr/d, not $RATE" >&2
    exit 1
fi

lua_mods=/usr/lib/nginx/modules
# the peer's Lua (bench/peer.lua), by an absolute path for nginx
bench_dir=$(cd "$(dirname "$0")" && pwd)
for f in "$lua_mods/ndk_http_module.so" "$lua_mods/ngx_http_lua_module.so" \
         /usr/share/lua/5.1/nginx/redis.lua; do
    [ -f "$f" ] || { echo "bench: $f is missing: util/deps.sh bench" >&2
                     exit 1; }
done
command -v gnuplot >/dev/null \
    || { echo "bench: gnuplot is missing: util/deps.sh bench" >&2; exit 1; }

# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=pin.sh
. "$(dirname "$0")/pin.sh"

mkdir -p "$SCALE_OUT"

read -r p_back_a p_plain_a p_lim_a p_back_b p_plain_b p_lim_b p_rs \
    p_back_c p_plain_c p_peer < <(free_ports 10)

redis_cli() { redis-cli -h 127.0.0.1 -p "$p_rs" "$@"; }

start_redis "$p_rs"

# conf NAME BACKEND PLAIN LIMIT EX_SIZE GC_SIZE [V3XY_REDIS]: an instance
# with /ex and /gc (and for the probe, /pex and /pgc: 10m zones)
conf() {
    nginx_conf "$dir/$1" "$pin_nginx" <<EOF
    ${7:-}

    v3xy_limit_zone ex rate=$RATE key=\$http_x_merchant size=$5;
    v3xy_limit_zone gc rate=$RATE burst=$rate_n key=\$http_x_merchant size=$6;
    v3xy_limit_zone pex rate=$RATE key=\$http_x_merchant;
    # GCRA's state is one time whatever the rate, and a key of 1r/h stays
    # busy (not replaceable) for an hour where one of RATE would go idle
    # within window / N: so that the probe fills the zone
    v3xy_limit_zone pgc rate=1r/h burst=1 key=\$http_x_merchant;

    upstream backend {
        server 127.0.0.1:$2;
        keepalive 32;
    }

    proxy_http_version 1.1;
    proxy_set_header Connection "";

    server {
        listen 127.0.0.1:$2;
        location / { return 200 "ok\n"; }
    }

    server {
        listen 127.0.0.1:$3;
        location / { proxy_pass http://backend; }
    }

    server {
        listen 127.0.0.1:$4;

        v3xy_limit_fail closed;

        location /ex  { v3xy_limit ex;  proxy_pass http://backend; }
        location /gc  { v3xy_limit gc;  proxy_pass http://backend; }
        location /pex { v3xy_limit pex; proxy_pass http://backend; }
        location /pgc { v3xy_limit pgc; proxy_pass http://backend; }
    }
EOF
}

# the peer: bench/peer.lua
nginx_conf "$dir/c" "$pin_nginx
load_module $lua_mods/ndk_http_module.so;
load_module $lua_mods/ngx_http_lua_module.so;" <<EOF
    lua_package_path "$bench_dir/?.lua;;";

    upstream backend {
        server 127.0.0.1:$p_back_c;
        keepalive 32;
    }

    proxy_http_version 1.1;
    proxy_set_header Connection "";

    server {
        listen 127.0.0.1:$p_back_c;
        location / { return 200 "ok\n"; }
    }

    server {
        listen 127.0.0.1:$p_plain_c;
        location / { proxy_pass http://backend; }
    }

    server {
        listen 127.0.0.1:$p_peer;

        location / {
            access_by_lua_block {
                require("peer").limit("bench", $rate_n, $rate_w, $p_rs)
            }
            proxy_pass http://backend;
        }
    }
EOF

conf b "$p_back_b" "$p_plain_b" "$p_lim_b" 1m 1m \
     "v3xy_redis 127.0.0.1:$p_rs timeout=1s;"
start_nginx "$dir/b" B
start_nginx "$dir/c" C

# CPU time (ticks) of a process so far, from /proc
worker() { pgrep -P "$(cat "$dir/$1/nginx.pid")"; }
hz=$(getconf CLK_TCK)

# fill PORT PATH N PREFIX: N requests with keys PREFIX1 .. PREFIXN (more
# connections than requests left wrap around), until N responses; sets
# reqs, non2xx, and secs (how long it took).  wrk's main thread sleeps for
# -d whatever its threads do: the script stops its thread and leaves a
# mark, and a SIGINT (wrk's "stop now") ends the sleep.
fill() {
    local t0 pid

    rm -f "$dir/fill.done"
    cat > "$dir/fill.lua" <<EOF
local i, done = 0, 0
request = function()
    i = i + 1
    return wrk.format(nil, nil,
                      { ["X-Merchant"] = "$4" .. ((i - 1) % $3 + 1) })
end
response = function()
    done = done + 1
    if done == $3 then
        io.open("$dir/fill.done", "w"):close()
        wrk.thread:stop()
    end
end
EOF
    t0=$(date +%s.%N)
    # not through the function pinned: $! must be wrk's pid (taskset execs)
    ${pin_cpus:+taskset -c "$pin_cpus"} \
        wrk -t1 -c"$(( $3 < CONNECTIONS ? $3 : CONNECTIONS ))" \
        -d 3600s -s "$dir/fill.lua" "http://127.0.0.1:$1$2" \
        > "$dir/fill.out" 2>&1 &
    pid=$!
    while [ ! -e "$dir/fill.done" ] && kill -0 "$pid" 2>/dev/null; do
        sleep 0.1
    done
    kill -INT "$pid" 2>/dev/null || true
    wait "$pid" || die "fill $2: wrk failed: $(cat "$dir/fill.out")"
    secs=$(awk -v t0="$t0" -v t1="$(date +%s.%N)" \
               'BEGIN { printf "%.1f", t1 - t0 }')
    wrk_figures "$(cat "$dir/fill.out")"
    non2xx=${non2xx:-0}
}

# Shared memory a key: the 10m zones /pex and /pgc of A, filled with
# PROBE keys on a few connections (fail closed: a key that does not fit is
# a 503, and leaves nothing behind); within one window, so that no key is
# idle and none is replaced.
PROBE=${PROBE:-150000}
conf a "$p_back_a" "$p_plain_a" "$p_lim_a" 1m 1m
start_nginx "$dir/a" A
declare -A shm_key
for z in pex pgc; do
    CONNECTIONS=8 fill "$p_lim_a" "/$z" "$PROBE" p
    held=$(( reqs - non2xx ))
    [ "$non2xx" -gt 0 ] || die "$z: $PROBE keys fit in 10m: raise PROBE"
    [ "${secs%.*}" -lt "$rate_w" ] \
        || echo "  $z: the probe took $secs s, more than a window:" \
                "idle keys were replaced, the figure is low"
    shm_key[${z#p}]=$(( 10 * 1048576 / held ))
    echo "shared memory: a 10m zone ($z) holds $held keys:" \
         "${shm_key[${z#p}]} bytes a key (${secs} s)"
done
stop "$dir/a/nginx.pid"

echo
echo "scale: keys ${SCALE_KEYS}; rate=$RATE (ex), rate=$RATE" \
     "burst=$rate_n (gc); peer: $rate_n a ${rate_w}s fixed window;" \
     "redis-server $(redis-server --version | awk '{ print $3 }' | tr -d v=)"
echo "wrk -t$THREADS -c$CONNECTIONS -d$DURATION, $ROUNDS rounds a variant"
pin_note
echo "load: $(uptime | sed 's/.*load average: //') ($(nproc) cores)"

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", a / b }'; }
us() { awk -v t="$1" -v n="$2" -v hz="$hz" \
           'BEGIN { printf "%.1f", 1e6 * t / hz / n }'; }

# measure VARIANT INSTANCE PLAIN_PORT LIMIT_PORT PATH N: ROUNDS rounds,
# sets m_ratio m_plain m_limit (medians) and m_cpu_p m_cpu_l (us/request)
measure() {
    local i o w t0 tp=0 tl=0 np=0 nl=0 rs=() ps=() ls=() p l

    cat > "$dir/keys.lua" <<EOF
request = function()
    return wrk.format(nil, nil,
                      { ["X-Merchant"] = "k" .. math.random(1, $6) })
end
EOF
    w=$(worker "$2")
    for i in $(seq "$ROUNDS"); do
        if [ $((i % 2)) -eq 1 ]; then o="plain limit"; else o="limit plain"; fi
        for f in $o; do
            t0=$(cpu "$w")
            if [ "$f" = plain ]; then
                out=$(pinned wrk -t"$THREADS" -c"$CONNECTIONS" \
                          -d"$DURATION" -s "$dir/keys.lua" \
                          "http://127.0.0.1:$3/") || die "$1: wrk failed"
            else
                out=$(pinned wrk -t"$THREADS" -c"$CONNECTIONS" \
                          -d"$DURATION" -s "$dir/keys.lua" \
                          "http://127.0.0.1:$4$5") || die "$1: wrk failed"
            fi
            wrk_figures "$out"
            [ "${reqs:-0}" -gt 0 ] || die "$1: no request: $out"
            [ -z "$non2xx" ] || die "$1 $f: $non2xx non-2xx responses"
            if [ "$f" = plain ]; then
                p=$rps tp=$(( tp + $(cpu "$w") - t0 )) np=$(( np + reqs ))
            else
                l=$rps tl=$(( tl + $(cpu "$w") - t0 )) nl=$(( nl + reqs ))
            fi
        done
        ps+=("$p") ls+=("$l") rs+=("$(ratio "$l" "$p")")
    done
    m_plain=$(median "${ps[@]}") m_limit=$(median "${ls[@]}")
    m_ratio=$(median "${rs[@]}")
    m_cpu_p=$(us "$tp" "$np") m_cpu_l=$(us "$tl" "$nl")
}

# redis_mem [ZONE]: the Redis memory of a fill: sets r_key (MEMORY USAGE of
# one key; with ZONE, of a fresh key of B's ZONE when none is left),
# r_used (used_memory since the FLUSHALL over the keys held), r_keys
redis_mem() {
    local used k

    used=$(redis_cli info memory | tr -d '\r' \
           | awk -F: '$1 == "used_memory" { print $2 }')
    r_keys=$(redis_cli dbsize)
    # GCRA's keys expire as soon as their TAT is past: one may go between
    # RANDOMKEY and MEMORY USAGE
    r_key=
    for _ in 1 2 3 4 5 6 7 8 9 10; do
        k=$(redis_cli randomkey)
        [ -z "$k" ] || r_key=$(redis_cli memory usage "$k")
        [ -z "$r_key" ] || break
    done
    # none left: a fresh key of the zone's, read at once
    if [ -z "$r_key" ] && [ -n "${1:-}" ]; then
        [ "$(status -H 'X-Merchant: mem' "http://127.0.0.1:$p_lim_b/$1")" \
              = 200 ] || die "$1: the request for MEMORY USAGE failed"
        r_key=$(redis_cli memory usage "v3xy:{$1:mem}")
    fi
    r_key=${r_key:--}
    r_used=$(( (used - used0) / (r_keys > 0 ? r_keys : 1) ))
}

data="$SCALE_OUT/scale.dat"
{
    echo "# bench/scale.sh, $(date -u '+%Y-%m-%d %H:%M UTC'), rate=$RATE," \
         "load $(uptime | sed 's/.*load average: //')"
    echo "# keys variant ratio plain_rps limit_rps cpu_plain_us" \
         "cpu_limit_us shm_bytes_key redis_bytes_key redis_used_key"
} > "$data"

fmt='%8s %-9s %9s %9s %6s %7s %7s %6s %6s %6s %6s\n'
# shellcheck disable=SC2059  # the format is ours
printf "$fmt" keys variant "plain/s" "limit/s" ratio "cpu us" "plain" \
       "shm B" "R mu" "R used" "fill s"

mem_avail=$(awk '$1 == "MemAvailable:" { printf "%d", $2 * 1024 }' \
                /proc/meminfo)

for n in $SCALE_KEYS; do
    # A's zones for n keys, a quarter more than the probe's bytes a key
    declare -A size fits
    for z in ex gc; do
        size[$z]=$(( n * shm_key[$z] * 5 / 4 / 1048576 + 2 ))
        fits[$z]=1
    done
    if [ $(( (size[ex] + size[gc]) * 1048576 )) -gt $(( mem_avail / 2 )) ]
    then
        # the larger first: GCRA alone may still fit
        fits[ex]=0 size[ex]=1
        [ $(( size[gc] * 1048576 )) -le $(( mem_avail / 2 )) ] \
            || fits[gc]=0 size[gc]=1
    fi

    conf a "$p_back_a" "$p_plain_a" "$p_lim_a" "${size[ex]}m" "${size[gc]}m"
    rm -f "$dir/a/nginx.pid"
    start_nginx "$dir/a" A

    for v in ex-shm gc-shm ex-redis gc-redis peer; do
        z=${v%-*} r_key=- r_used=- shm=-
        case $v in
        *-shm)   inst=a pp=$p_plain_a lp=$p_lim_a path=/$z
                 shm=${shm_key[$z]}
                 if [ "${fits[$z]}" = 0 ]; then
                     # shellcheck disable=SC2059
                     printf "$fmt" "$n" "$v" "does not" "fit" \
                            "(${size[$z]}m" "needed)" - - - - -
                     continue
                 fi ;;
        *-redis) inst=b pp=$p_plain_b lp=$p_lim_b path=/$z ;;
        peer)    inst=c pp=$p_plain_c lp=$p_peer path=/ ;;
        esac

        redis_cli flushall >/dev/null
        used0=$(redis_cli info memory | tr -d '\r' \
                | awk -F: '$1 == "used_memory" { print $2 }')
        fill "$lp" "$path" "$n" k
        [ "$non2xx" -eq 0 ] \
            || die "$v: $non2xx of $n keys refused in the fill (zone full?)"
        case $v in
        *-redis) redis_mem "$z" ;;
        peer)    redis_mem ;;
        esac

        measure "$v" "$inst" "$pp" "$lp" "$path" "$n"
        # shellcheck disable=SC2059
        printf "$fmt" "$n" "$v" "$m_plain" "$m_limit" "$m_ratio" \
               "$m_cpu_l" "$m_cpu_p" "$shm" "$r_key" "$r_used" "$secs"
        echo "$n $v $m_ratio $m_plain $m_limit $m_cpu_p $m_cpu_l $shm" \
             "$r_key $r_used" >> "$data"
    done

    stop "$dir/a/nginx.pid"
done

echo "(cpu us: the nginx worker's CPU per request of the limit, and of" \
     "its plain front; shm B: bytes a key in shared memory; R mu: MEMORY" \
     "USAGE of one key; R used: used_memory over DBSIZE after the fill)"

case $SCALE_CHART in
svg) term='set terminal svg size 1200,420 dynamic font "sans,11"' ;;
png) term='set terminal pngcairo size 1200,420 font "sans,10"' ;;
*)   die "SCALE_CHART: svg or png, not $SCALE_CHART" ;;
esac

# the chart: one panel a figure, one line a variant; a variant that did not
# fit has no point at that N
gnuplot <<EOF
$term
set output "$SCALE_OUT/scale.$SCALE_CHART"
set multiplot layout 1,3 title "v3xy\\\\_limit at $RATE: cost against keys \
held (bench/scale.sh, $(date -u +%Y-%m-%d))"
set logscale x
set xlabel "keys"
set key bottom left
set grid
set style data linespoints
set title "throughput / plain nginx"
set yrange [0:1.2]
plot for [v in "ex-shm gc-shm ex-redis gc-redis peer"] \
    "< awk '\$2 == \"".v."\"' $data" using 1:3 title v
set title "nginx worker CPU per request (us)"
set yrange [0:*]
plot for [v in "ex-shm gc-shm ex-redis gc-redis peer"] \
    "< awk '\$2 == \"".v."\"' $data" using 1:7 title v
set title "bytes a key (shared memory; Redis MEMORY USAGE)"
set logscale y
set yrange [*:*]
set key top left
plot for [v in "ex-shm gc-shm"] \
    "< awk '\$2 == \"".v."\"' $data" using 1:8 title v, \
     for [v in "ex-redis gc-redis peer"] \
    "< awk '\$2 == \"".v."\"' $data" using 1:9 title v
unset multiplot
EOF

echo "data: $data; chart: $SCALE_OUT/scale.$SCALE_CHART"
