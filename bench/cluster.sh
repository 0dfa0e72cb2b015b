#!/usr/bin/env bash
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

dir=$(mktemp -d)
redis_ports=()

stop() {
    local pid

    [ -s "$1" ] || return 0
    pid=$(cat "$1")
    kill "$pid" 2>/dev/null || return 0

    for _ in $(seq 50); do
        kill -0 "$pid" 2>/dev/null || return 0
        sleep 0.1
    done
}

cleanup() {
    local rc=$? f

    stop "$dir/s/nginx.pid"
    stop "$dir/c/nginx.pid"

    for f in "$dir"/redis-*.pid; do
        [ -e "$f" ] && stop "$f"
    done

    if [ "$rc" -ne 0 ]; then
        for f in "$dir/s/error.log" "$dir/c/error.log"; do
            [ -s "$f" ] || continue
            echo "--- ${f#"$dir"/} (last 20 lines)" >&2
            tail -n 20 "$f" >&2
        done
    fi

    rm -rf "$dir"
}

trap cleanup EXIT
trap 'exit 1' INT TERM

die() { echo "bench: $*" >&2; exit 1; }

. "$(dirname "$0")/pin.sh"

chmod 0755 "$dir"
mkdir -p "$dir/s/tmp" "$dir/c/tmp"
cp "$module" "$dir/module.so"

# eleven free loopback ports: nginx S and C (front, backend), one Redis,
# three Cluster nodes and their bus ports
read -r p_s p_sb p_c p_cb p_r n1 n2 n3 b1 b2 b3 < <(python3 -c '
import socket
ss = [socket.socket() for _ in range(11)]
for s in ss:
    s.bind(("127.0.0.1", 0))
print(*(s.getsockname()[1] for s in ss))
')

redis() {
    local port=$1
    shift
    $pin_others redis-server --port "$port" --bind 127.0.0.1 --save '' \
        --appendonly no \
        --daemonize yes --pidfile "$dir/redis-$port.pid" --dir "$dir" \
        --logfile "$dir/redis-$port.log" "$@" >/dev/null \
        || die "redis-server on $port did not start"
    redis_ports+=("$port")
}

redis "$p_r"
redis "$n1" --cluster-enabled yes --cluster-port "$b1" \
      --cluster-config-file "$dir/nodes-$n1.conf"
redis "$n2" --cluster-enabled yes --cluster-port "$b2" \
      --cluster-config-file "$dir/nodes-$n2.conf"
redis "$n3" --cluster-enabled yes --cluster-port "$b3" \
      --cluster-config-file "$dir/nodes-$n3.conf"

for p in "${redis_ports[@]}"; do
    for _ in $(seq 50); do
        [ "$(redis-cli -p "$p" ping 2>/dev/null)" = PONG ] && break
        sleep 0.1
    done
done

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
    cat > "$dir/$1/nginx.conf" <<EOF
load_module $dir/module.so;

worker_processes 1;
$pin_nginx
pid $dir/$1/nginx.pid;
error_log $dir/$1/error.log warn;

events { worker_connections 1024; }

http {
    access_log off;

    client_body_temp_path $dir/$1/tmp/body;
    proxy_temp_path       $dir/$1/tmp/proxy;
    fastcgi_temp_path     $dir/$1/tmp/fastcgi;
    uwsgi_temp_path       $dir/$1/tmp/uwsgi;
    scgi_temp_path        $dir/$1/tmp/scgi;

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
}
EOF
}

conf s "$p_s" "$p_sb" "v3xy_redis 127.0.0.1:$p_r timeout=1s;"
conf c "$p_c" "$p_cb" \
     "v3xy_redis cluster=127.0.0.1:$n1,127.0.0.1:$n2 timeout=1s;"

for i in s c; do
    "$nginx" -p "$dir/$i" -c "$dir/$i/nginx.conf" -e "$dir/$i/error.log" \
        || die "nginx $i did not start"
done

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

# CPU time (ticks) of processes so far, from /proc
cpu() { cat "${@/#//proc/}" 2>/dev/null | awk '{ t += $14 + $15 }
                                              END { print t + 0 }'; }

run() {
    local out reqs non2xx t0 r0

    t0=$(cpu ${procs[$1]}) r0=$(cpu ${procs[$1r]})

    out=$($pin_others wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" \
              -s "$dir/keys.lua" "http://127.0.0.1:$2/") \
        || die "$1: wrk failed"

    rps=$(awk '$1 == "Requests/sec:" { print $2 }' <<< "$out")
    reqs=$(awk '/ requests in / { print $1 }' <<< "$out")
    non2xx=$(awk -F': *' '/Non-2xx/ { print $2 }' <<< "$out")

    [ -n "$rps" ] && [ "${reqs:-0}" -gt 0 ] || die "$1: cannot parse wrk"
    [ -z "$non2xx" ] || die "$1: $non2xx non-2xx/3xx responses"

    total[$1]=$(( ${total[$1]} + reqs ))
    ticks[$1]=$(( ${ticks[$1]} + $(cpu ${procs[$1]}) - t0 ))
    ticks[$1r]=$(( ${ticks[$1r]} + $(cpu ${procs[$1r]}) - r0 ))
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

median() {
    printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END {
        m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
        printf "%.3f", m }'
}

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
