# shellcheck shell=bash
#
# bench/lib.sh: what every benchmark of bench/ does first, sourced after
# "set -euo pipefail" with $nginx and $module set: a private directory
# removed at exit (the processes started through here stopped first, their
# logs shown on failure), a copy of the module to load, and the pieces of
# every benchmark:
#
#   free_ports N                N distinct free loopback ports, one line
#   nginx_conf PREFIX [MAIN]    PREFIX/nginx.conf: the module, one worker,
#                               PREFIX's pid, error log and temp paths,
#                               MAIN in the main context, the http block's
#                               content read from stdin
#   start_nginx PREFIX [NAME]   nginx with PREFIX/nginx.conf, stopped at exit
#   start_redis PORT [ARG...]   a redis-server of our own, no persistence,
#                               $dir/redis-PORT.pid; waits for its PONG
#   stop PIDFILE                the process in PIDFILE, waiting for its exit
#   status CURL_ARG...          the HTTP status of one curl request
#   wrk_figures OUT             rps, reqs, non2xx, sockerr from wrk's output
#   cpu PID                     a process's user + system CPU ticks
#   wrk_measured NAME PORT HEADER
#                               one wrk run (THREADS, CONNECTIONS,
#                               DURATION) on PORT's /v1/status with HEADER:
#                               sets rps, adds $worker's CPU ticks to
#                               ticks[NAME] and the requests to total[NAME];
#                               dies on a wrk failure, a non-2xx, an alert
#                               (and p50, p99 in ms with wrk --latency)
#   median NUMBER...            the median, three decimals
#   pinned COMMAND...           COMMAND, on the CPUs of bench/pin.sh if it
#                               pins (sourced after this file)
#   die MESSAGE

dir=$(mktemp -d)

# what cleanup stops, the last started first, and the logs it shows on
# failure
stops=()
logs=()

# stop PIDFILE: waits for the exit, so that nothing writes into a removed
# dir; says so when the process does not go
stop() {
    local pid

    [ -s "$1" ] || return 0
    pid=$(cat "$1")
    kill "$pid" 2>/dev/null || return 0

    for _ in $(seq 50); do
        kill -0 "$pid" 2>/dev/null || return 0
        sleep 0.1
    done

    echo "bench: pid $pid (${1#"$dir"/}) did not exit" >&2
}

cleanup() {
    local rc=$? i f

    for (( i = ${#stops[@]} - 1; i >= 0; i-- )); do
        stop "${stops[i]}"
    done

    if [ "$rc" -ne 0 ]; then
        for f in "${logs[@]}"; do
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

# under root the workers run as nobody: they must reach the temp dirs
chmod 0755 "$dir"

# load a copy: a rebuild during the run rewrites the .so in place, and
# workers that have it mapped then die of SIGBUS and SIGSEGV
cp "${module:?}" "$dir/module.so"

# free_ports N: hold all N before releasing any, so that they differ
free_ports() {
    python3 - "$1" <<'PY'
import socket, sys
ss = [socket.socket() for _ in range(int(sys.argv[1]))]
for s in ss:
    s.bind(("127.0.0.1", 0))
print(*(s.getsockname()[1] for s in ss))
PY
}

# nginx_conf PREFIX [MAIN]: the http block's content on stdin
nginx_conf() {
    mkdir -p "$1/tmp"

    {
        cat <<EOF
load_module $dir/module.so;

worker_processes 1;
${2:-}
pid $1/nginx.pid;
error_log $1/error.log warn;

events { worker_connections 1024; }

http {
    access_log off;

    client_body_temp_path $1/tmp/body;
    proxy_temp_path       $1/tmp/proxy;
    fastcgi_temp_path     $1/tmp/fastcgi;
    uwsgi_temp_path       $1/tmp/uwsgi;
    scgi_temp_path        $1/tmp/scgi;

EOF
        cat
        echo "}"
    } > "$1/nginx.conf"
}

# start_nginx PREFIX [NAME]
start_nginx() {
    stops+=("$1/nginx.pid")
    logs+=("$1/error.log")
    "${nginx:?}" -p "$1" -c "$1/nginx.conf" -e "$1/error.log" \
        || die "nginx${2:+ $2} did not start"
}

pinned() { "$@"; }

# start_redis PORT [ARG...]
start_redis() {
    local port=$1

    shift
    stops+=("$dir/redis-$port.pid")
    logs+=("$dir/redis-$port.log")
    pinned redis-server --port "$port" --bind 127.0.0.1 --save '' \
        --appendonly no --daemonize yes --pidfile "$dir/redis-$port.pid" \
        --dir "$dir" --logfile "$dir/redis-$port.log" "$@" >/dev/null \
        || die "redis-server on $port did not start"

    for _ in $(seq 50); do
        [ "$(redis-cli -p "$port" ping 2>/dev/null)" = PONG ] && return 0
        sleep 0.1
    done

    die "redis-server on $port does not answer"
}

status() {
    curl -sS -o /dev/null -w '%{http_code}' "$@"
}

# wrk_figures OUT: sets rps (Requests/sec), reqs (requests completed),
# non2xx (empty: none), sockerr (empty: none), and with wrk --latency
# p50 and p99 (milliseconds, empty without --latency)
# shellcheck disable=SC2034  # the caller's variables, not used here
wrk_figures() {
    rps=$(awk '$1 == "Requests/sec:" { print $2 }' <<< "$1")
    reqs=$(awk '/ requests in / { print $1 }' <<< "$1")
    non2xx=$(awk -F': *' '/Non-2xx/ { print $2 }' <<< "$1")
    sockerr=$(sed -n 's/^ *Socket errors: //p' <<< "$1")
    p50=$(wrk_percentile 50% <<< "$1")
    p99=$(wrk_percentile 99% <<< "$1")
}

# wrk_percentile 50%: that line of wrk's Latency Distribution, in ms
wrk_percentile() {
    awk -v p="$1" '
        /Latency Distribution/ { in_d = 1; next }
        in_d && $1 == p {
            v = $2; u = $2
            sub(/[a-z]+$/, "", v); sub(/^[0-9.]+/, "", u)
            f = u == "us" ? 0.001 : u == "ms" ? 1 : u == "s" ? 1000 : 60000
            printf "%.3f", v * f
            exit
        }'
}

median() {
    printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END {
        m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
        printf "%.3f", m }'
}

cpu() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }

# wrk_measured NAME PORT HEADER: the caller declares the associative
# arrays ticks and total and sets worker
# shellcheck disable=SC2154  # worker, ticks, total: the caller's
wrk_measured() {
    local out reqs non2xx sockerr t0

    t0=$(cpu "$worker")

    out=$(wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" \
              -H "$3" "http://127.0.0.1:$2/v1/status") \
        || die "$1: wrk failed"

    ticks[$1]=$(( ${ticks[$1]} + $(cpu "$worker") - t0 ))

    wrk_figures "$out"

    if [ -z "$rps" ] || [ -z "$reqs" ]; then
        die "$1: cannot parse wrk: $out"
    fi
    [ "$reqs" -gt 0 ] || die "$1: no request completed"
    ! grep -qE '\[(alert|crit|emerg)\]' "$dir/error.log" \
        || die "$1: nginx logged alerts (a worker crashed?)"
    # on the gateway, 403: the key was refused; 503: Redis failed for an
    # uncached key
    [ -z "$non2xx" ] || die "$1: $non2xx non-2xx/3xx responses"
    [ -z "$sockerr" ] || echo "  $1: socket errors: $sockerr"

    total[$1]=$(( ${total[$1]} + reqs ))
}
