# bench/lib.sh: what every benchmark of bench/ does first, sourced after
# "set -euo pipefail" with $module set: a private directory removed at
# exit (nginx stopped first, its error log shown on failure), and a copy of
# the module to load.

dir=$(mktemp -d)

cleanup() {
    local rc=$? pid

    if [ -s "$dir/nginx.pid" ]; then
        pid=$(cat "$dir/nginx.pid")
        kill "$pid" 2>/dev/null || true
        # wait for the exit, so that nginx does not write into a removed dir
        for _ in $(seq 50); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
    fi

    if [ "$rc" -ne 0 ] && [ -s "$dir/error.log" ]; then
        echo "--- error.log (last 20 lines)" >&2
        tail -n 20 "$dir/error.log" >&2
    fi

    rm -rf "$dir"
}

trap cleanup EXIT
trap 'exit 1' INT TERM

die() { echo "bench: $*" >&2; exit 1; }

# under root the workers run as nobody: they must reach the temp dirs
chmod 0755 "$dir"
mkdir "$dir/tmp"

# load a copy: a rebuild during the run rewrites the .so in place, and
# workers that have it mapped then die of SIGBUS and SIGSEGV
cp "$module" "$dir/module.so"

# median NUMBER...: the median, three decimals
median() {
    printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END {
        m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
        printf "%.3f", m }'
}
