# shellcheck shell=bash
#
# bench/callgrind.sh: sourced, after bench/lib.sh ($dir, die), by a
# benchmark.
#
# Instructions, not seconds: callgrind counts the same for the same binary
# and requests whatever the machine's load, where wrk's ratios swing.
#
#   cg_start NAME NGINX PREFIX CONF PORT   nginx (CONF says master_process
#                                          off) under callgrind, not yet
#                                          instrumented; waits for PORT
#   cg_ir PORT PATH FIRST N                instructions per request of N
#                                          requests, GET PATH<i> with
#                                          X-Merchant: c<i> on one
#                                          keepalive connection, i from
#                                          FIRST; any non-200 ends the run
#   cg_stop                                stops it

: "${dir:?bench/callgrind.sh wants bench/lib.sh sourced first}"

cg_start() {
    command -v callgrind_control >/dev/null \
        || die "valgrind is not installed (util/deps.sh valgrind)"

    cat > "$dir/cg_client.py" <<'PY'
import http.client, sys
port, path, first, n = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), \
    int(sys.argv[4])
c = http.client.HTTPConnection("127.0.0.1", port)
bad = 0
for i in range(first, first + n):
    c.request("GET", "%s%d" % (path, i), headers={"X-Merchant": "c%d" % i})
    r = c.getresponse()
    r.read()
    bad += r.status != 200
print(bad)
PY

    cg_name=$1 cg_out="$dir/cg-$1.out"
    valgrind --tool=callgrind --instr-atstart=no \
        --callgrind-out-file="$cg_out" \
        "$2" -p "$3" -c "$4" -e "$3/error.log" 2> "$dir/cg-$1.log" &
    cg_pid=$!

    for _ in $(seq 300); do
        curl -sS -o /dev/null "http://127.0.0.1:$5/" 2>/dev/null && return
        sleep 0.1
    done

    die "$1: nginx under callgrind does not answer"
}

cg_ir() {
    local bad ir n

    # the dumps so far ($(cg_ir ...) runs in a subshell: nothing is kept)
    n=$(( $(find "$dir" -maxdepth 1 -name "cg-$cg_name.out.*" | wc -l) + 1 ))

    # a warm-up, not counted: the first requests fill caches and pools
    bad=$(python3 "$dir/cg_client.py" "$1" "$2" "$(( $3 + 1000000 ))" 200)
    callgrind_control -z "$cg_pid" >/dev/null 2>&1
    callgrind_control -i on "$cg_pid" >/dev/null 2>&1
    bad=$(( bad + $(python3 "$dir/cg_client.py" "$1" "$2" "$3" "$4") ))
    callgrind_control -i off "$cg_pid" >/dev/null 2>&1
    callgrind_control -d "$cg_pid" >/dev/null 2>&1

    [ "$bad" -eq 0 ] || die "$cg_name: $bad responses were not 200"

    for _ in $(seq 100); do
        [ -s "$cg_out.$n" ] && break
        sleep 0.1
    done

    ir=$(awk '$1 == "totals:" { print $2; exit }' "$cg_out.$n")
    [ -n "$ir" ] || die "$cg_name: no callgrind totals"
    echo $(( ir / $4 ))
}

cg_stop() {
    kill -TERM "$cg_pid" 2>/dev/null || true
    wait "$cg_pid" 2>/dev/null || true
}
