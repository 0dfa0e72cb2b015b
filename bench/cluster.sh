#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
#
# bench/cluster.sh NGINX MODULE_SO      (make bench, after limits.sh)
#
# wrk: the Redis limit against a single Redis and against a Redis Cluster
# of three masters (no replicas), in the same run.  Two nginx instances,
# the same zone and location, one worker each:
#
#   S: v3xy_redis HOST:PORT           (one redis-server)
#   C: v3xy_redis cluster=HOST:PORT   (three redis-servers, 16384 slots)
#
# Every request carries one of LIMIT_KEYS distinct X-Merchant values; the
# rate admits everything, so a refusal or a Redis failure (fail closed:
# 503) is a non-2xx response and ends the run.  Rounds alternate S and C.
# The goal: C within 5% of S.  Then, over the measured runs: script calls
# per request on each side, and the CPU per request of each side's nginx
# worker and of its Redis server(s) (C: the three together).
#
# Environment: ROUNDS (5), DURATION (5s), THREADS (1), CONNECTIONS (50),
# PIN (1: bench/pin.sh), LIMIT_KEYS (10000), LIMIT_ZONE ("rate=100r/s").

set -euo pipefail

usage="usage: bench/cluster.sh NGINX MODULE_SO"
nginx=${1:?$usage}
module=${2:?$usage}
ROUNDS=${ROUNDS:-5}
DURATION=${DURATION:-5s}
THREADS=${THREADS:-1}
CONNECTIONS=${CONNECTIONS:-50}
LIMIT_KEYS=${LIMIT_KEYS:-10000}
LIMIT_ZONE=${LIMIT_ZONE:-rate=100r/s}

# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=pin.sh
. "$(dirname "$0")/pin.sh"

# eleven free loopback ports: nginx S and C (front, backend), one Redis,
# three Cluster nodes and their bus ports
read -r p_s p_sb p_c p_cb p_r n1 n2 n3 b1 b2 b3 < <(free_ports 11)

start_redis "$p_r"
start_redis "$n1" --cluster-enabled yes --cluster-port "$b1" \
    --cluster-config-file "$dir/nodes-$n1.conf"
start_redis "$n2" --cluster-enabled yes --cluster-port "$b2" \
    --cluster-config-file "$dir/nodes-$n2.conf"
start_redis "$n3" --cluster-enabled yes --cluster-port "$b3" \
    --cluster-config-file "$dir/nodes-$n3.conf"

redis-cli --cluster create "127.0.0.1:$n1" "127.0.0.1:$n2" "127.0.0.1:$n3" \
    --cluster-replicas 0 --cluster-yes >/dev/null \
    || die "redis-cli --cluster create failed"

for _ in $(seq 100); do
    ok=0
    for p in "$n1" "$n2" "$n3"; do
        redis-cli -p "$p" cluster info | grep -q 'cluster_state:ok' \
            && ok=$((ok + 1))
    done
    [ "$ok" -eq 3 ] && break
    sleep 0.1
done
[ "$ok" -eq 3 ] || die "the cluster is not ok"

# conf NAME FRONT BACKEND V3XY_REDIS
conf() {
    nginx_conf "$dir/$1" "$pin_nginx" <<EOF
    $4

    v3xy_limit_zone bench $LIMIT_ZONE key=\$http_x_merchant;

    upstream backend {
        server 127.0.0.1:$3;
        keepalive 32;
    }

    proxy_http_version 1.1;

    server {
        listen 127.0.0.1:$3;
        location / { return 200 "ok\n"; }
    }

    server {
        listen 127.0.0.1:$2;
        v3xy_limit_fail closed;

        location / {
            v3xy_limit bench;
            proxy_set_header Connection "";
            proxy_pass http://backend;
        }
    }
EOF
}

conf s "$p_s" "$p_sb" "v3xy_redis 127.0.0.1:$p_r timeout=1s;"
conf c "$p_c" "$p_cb" \
     "v3xy_redis cluster=127.0.0.1:$n1,127.0.0.1:$n2 timeout=1s;"

start_nginx "$dir/s" s
start_nginx "$dir/c" c

# both decide in Redis: a key's count where it belongs, before the runs
for _ in $(seq 50); do
    st=$(curl -sS -o /dev/null -w '%{http_code}' -H 'X-Merchant: check' \
              "http://127.0.0.1:$p_c/")
    [ "$st" = 200 ] && break
    sleep 0.1
done
curl -sS -o /dev/null -H 'X-Merchant: check' "http://127.0.0.1:$p_s/"
[ "$(redis-cli -p "$p_r" exists 'v3xy:{bench:check}')" = 1 ] \
    || die "S: the count is not in Redis"
[ "$(redis-cli -c -p "$n1" exists 'v3xy:{bench:check}')" = 1 ] \
    || die "C: the count is not in the Cluster"

cat > "$dir/keys.lua" <<EOF
request = function()
    return wrk.format(nil, nil,
                      { ["X-Merchant"] = "k" .. math.random(1, $LIMIT_KEYS) })
end
EOF

echo
echo "cluster: $LIMIT_KEYS keys, zone $LIMIT_ZONE; wrk -t$THREADS" \
     "-c$CONNECTIONS -d$DURATION, $ROUNDS rounds; S: one redis-server," \
     "C: a Cluster of three masters"
pin_note

# cpu NAME: CPU time (ticks) so far of the processes of procs[NAME], from
# /proc
cpu() {
    local stats

    read -ra stats <<< "${procs[$1]}"
    cat "${stats[@]/#//proc/}" 2>/dev/null \
        | awk '{ t += $14 + $15 } END { print t + 0 }'
}

run() {
    local out reqs non2xx t0 r0

    t0=$(cpu "$1") r0=$(cpu "$1r")

    out=$(pinned wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" \
              -s "$dir/keys.lua" "http://127.0.0.1:$2/") \
        || die "$1: wrk failed"

    wrk_figures "$out"

    if [ -z "$rps" ] || [ "${reqs:-0}" -le 0 ]; then
        die "$1: cannot parse wrk"
    fi
    [ -z "$non2xx" ] || die "$1: $non2xx non-2xx/3xx responses"

    total[$1]=$(( ${total[$1]} + reqs ))
    ticks[$1]=$(( ${ticks[$1]} + $(cpu "$1") - t0 ))
    ticks[$1r]=$(( ${ticks[$1r]} + $(cpu "$1r") - r0 ))
}

# script calls (EVALSHA, EVAL) a redis-server has run so far
scripts() {
    redis-cli -p "$1" info commandstats | tr -d '\r' | awk -F'[:,=]' '
        $1 ~ /^cmdstat_eval(sha)?$/ { n += $3 } END { print n + 0 }'
}

cluster_scripts() {
    echo $(( $(scripts "$n1") + $(scripts "$n2") + $(scripts "$n3") ))
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", a / b }'; }

declare -A total ticks procs

# the processes whose CPU a run costs: the nginx worker, the Redis servers
procs[s]="$(pgrep -P "$(cat "$dir/s/nginx.pid")")/stat"
procs[sr]="$(cat "$dir/redis-$p_r.pid")/stat"
procs[c]="$(pgrep -P "$(cat "$dir/c/nginx.pid")")/stat"
procs[cr]=
for p in "$n1" "$n2" "$n3"; do
    procs[cr]="${procs[cr]} $(cat "$dir/redis-$p.pid")/stat"
done

# warm-up: fills both stores with the keys
total=([s]=0 [c]=0) ticks=([s]=0 [c]=0 [sr]=0 [cr]=0)
run s "$p_s"
run c "$p_c"
total=([s]=0 [c]=0) ticks=([s]=0 [c]=0 [sr]=0 [cr]=0)
calls_s=$(scripts "$p_r") calls_c=$(cluster_scripts)

printf '%-6s %11s %11s %6s\n' round "single/s" "cluster/s" ratio
rs=() rc=() rr=()

for i in $(seq "$ROUNDS"); do
    if [ $((i % 2)) -eq 1 ]; then
        run s "$p_s"; s=$rps
        run c "$p_c"; c=$rps
    else
        run c "$p_c"; c=$rps
        run s "$p_s"; s=$rps
    fi

    r=$(ratio "$c" "$s")
    printf '%-6s %11s %11s %6s\n' "$i" "$s" "$c" "$r"
    rs+=("$s") rc+=("$c") rr+=("$r")
done

printf '%-6s %11s %11s %6s\n' median "$(median "${rs[@]}")" \
       "$(median "${rc[@]}")" "$(median "${rr[@]}")"

# one call carries the decisions of one event-loop pass: of every key with
# one Redis, of the keys of one master in a Cluster (and one per key that
# a master could not decide)
echo "script calls per request: single" \
     "$(ratio $(( $(scripts "$p_r") - calls_s )) "${total[s]}")," \
     "cluster $(ratio $(( $(cluster_scripts) - calls_c )) "${total[c]}")" \
     "(requests: ${total[s]}, ${total[c]})"
hz=$(getconf CLK_TCK)
us() { awk -v t="$1" -v n="$2" -v hz="$hz" \
           'BEGIN { printf "%.1f", 1e6 * t / hz / n }'; }
echo "cpu us per request: nginx worker: single" \
     "$(us "${ticks[s]}" "${total[s]}"), cluster" \
     "$(us "${ticks[c]}" "${total[c]}"); redis-servers: single" \
     "$(us "${ticks[sr]}" "${total[s]}"), cluster (three)" \
     "$(us "${ticks[cr]}" "${total[c]}") ($(nproc) cores)"

keys=0
for p in "$n1" "$n2" "$n3"; do
    k=$(redis-cli -p "$p" dbsize)
    echo "  cluster node :$p holds $k keys"
    keys=$((keys + k))
done

warnings=$(grep -hE '\[(warn|error|alert|crit)\]' "$dir/s/error.log" \
                "$dir/c/error.log" || true)
[ -z "$warnings" ] || { echo "$warnings" >&2; die "nginx logged warnings"; }
