# shellcheck shell=bash
#
# bench/netem.sh: Redis at a distance, for a benchmark that sources it
# twice: before bench/lib.sh (netem_enter) and once Redis's port is known
# (netem_delay).
#
# NETEM=0.5ms (empty: off) runs the whole benchmark in a network namespace
# of its own (ip netns, root), on that namespace's loopback only, where
# tc delays the packets to and from Redis's port by NETEM each way (prio
# qdisc, netem on a fourth band, u32 filters on the destination and source
# port): a round trip to Redis costs 2 × NETEM more, while wrk <-> nginx
# and nginx <-> its backend are not delayed.  The namespace is deleted on
# exit, whatever happens inside.
#
#   netem_enter "$@"     when NETEM is set and we are not inside yet: runs
#                        this script again inside a new namespace and exits
#                        with its status (does nothing otherwise)
#   netem_delay PORT PROXY_PORT
#                        inside: the delay on Redis's traffic (on PORT);
#                        sets redis_port, where nginx must send it (PORT,
#                        or PROXY_PORT where tc has no netem: then a
#                        user-space proxy, bench/delay.py, delays it), and
#                        netem_how, what did it
#   netem_check PORT HTTP_PORT
#                        median round trips (ms) of a Redis PING to PORT
#                        and of a GET to an nginx front on HTTP_PORT

NETEM=${NETEM:-}

netem_enter() {
    local ns rc=0

    [ -n "$NETEM" ] && [ -z "${BENCH_NETNS:-}" ] || return 0

    if [ "$(id -u)" != 0 ]; then
        echo "bench: NETEM needs root (ip netns, tc)" >&2
        exit 1
    fi
    command -v tc >/dev/null || { echo "bench: tc missing (iproute2)" >&2
                                  exit 1; }

    ns=v3xy-bench-$$
    ip netns add "$ns" || exit 1
    # shellcheck disable=SC2064  # $ns now, not at exit
    trap "ip netns del $ns" EXIT
    trap 'exit 1' INT TERM
    ip netns exec "$ns" ip link set lo up

    BENCH_NETNS=$ns ip netns exec "$ns" bash "$0" "$@" || rc=$?
    exit "$rc"
}

# shellcheck disable=SC2034  # redis_port, netem_how: the caller's
netem_delay() {
    local ms

    redis_port=$1
    [ -n "${BENCH_NETNS:-}" ] || return 0

    # bands 1:1 to 1:3 take all traffic as the default prio qdisc would
    # (its priomap); only the filters send anything to 1:4, the delayed one
    if tc qdisc add dev lo root handle 1: prio bands 4 \
            priomap 1 2 2 2 1 2 0 0 1 1 1 1 1 1 1 1 2>/dev/null \
        && tc qdisc add dev lo parent 1:4 handle 40: netem \
            delay "$NETEM" limit 100000 2>/dev/null
    then
        for m in dport sport; do
            tc filter add dev lo parent 1: protocol ip prio 1 u32 \
                match ip "$m" "$1" 0xffff flowid 1:4 \
                || die "tc: cannot add the filter on $m $1"
        done
        netem_how="tc netem on lo, u32 filters on port $1"
        return 0
    fi

    # a kernel without sch_prio or sch_netem (no modules to load): the
    # delay in user space, a proxy that nginx talks to instead of Redis
    tc qdisc del dev lo root 2>/dev/null || true
    case $NETEM in
    *ms) ms=${NETEM%ms} ;;
    *us) ms=$(awk -v u="${NETEM%us}" 'BEGIN { print u / 1000 }') ;;
    *)   die "NETEM: Nms or Nus, not $NETEM" ;;
    esac
    redis_port=$2
    stops+=("$dir/delay.pid")
    logs+=("$dir/delay.log")
    # not through the function pinned: $! must be python's own pid (taskset
    # execs), or the stop at exit would leave the proxy running
    ${pin_cpus:+taskset -c "$pin_cpus"} \
        python3 "$(dirname "$0")/delay.py" "$2" "$1" "$ms" \
        > "$dir/delay.log" 2>&1 &
    echo $! > "$dir/delay.pid"
    for _ in $(seq 50); do
        grep -q ready "$dir/delay.log" && break
        sleep 0.1
    done
    grep -q ready "$dir/delay.log" || die "bench/delay.py did not start"
    netem_how="this kernel has no tc netem (sch_prio, sch_netem): a" \
    netem_how="$netem_how user-space proxy instead, bench/delay.py on :$2"
}

# netem_check REDIS_PORT HTTP_PORT: median round trips, in ms, of 200
# PINGs to REDIS_PORT and 200 keepalive GETs to an nginx front, on one
# connection each
netem_check() {
    python3 - "$1" "$2" <<'PY'
import http.client, socket, statistics, sys, time
rp, hp = int(sys.argv[1]), int(sys.argv[2])
s = socket.create_connection(("127.0.0.1", rp))
s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
rt = []
for _ in range(200):
    t = time.perf_counter()
    s.sendall(b"PING\r\n")
    assert s.recv(64) == b"+PONG\r\n"
    rt.append(time.perf_counter() - t)
c = http.client.HTTPConnection("127.0.0.1", hp)
ht = []
for _ in range(200):
    t = time.perf_counter()
    c.request("GET", "/", headers={"X-Merchant": "rtt"})
    c.getresponse().read()
    ht.append(time.perf_counter() - t)
print("%.3f %.3f" % (1e3 * statistics.median(rt), 1e3 * statistics.median(ht)))
PY
}
