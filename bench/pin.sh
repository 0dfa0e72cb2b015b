# shellcheck shell=bash
#
# bench/pin.sh: sourced, after bench/lib.sh, by the benchmarks that run
# Redis beside nginx.
#
# PIN=1 (the default, on two cores or more): nginx's worker runs on CPU 0
# alone, wrk and redis-server on the other CPUs, as where Redis has its
# own machine: what is measured is then what the module costs nginx, not
# Redis's CPU taken from nginx's core.  PIN=0: every process anywhere, as
# on a machine that runs all of them (the figures then also carry Redis's
# CPU, and swing more with the machine's other load).
#
#   $pin_nginx        a line for nginx.conf's main context (maybe empty)
#   pinned COMMAND    COMMAND on the other CPUs: for wrk and redis-server
#                     (lib.sh's start_redis runs it so)

PIN=${PIN:-1}
pin_nginx='' pin_cpus=''

if [ "$PIN" = 1 ] && [ "$(nproc)" -ge 2 ]; then
    command -v taskset >/dev/null || die "taskset is missing (util-linux)"
    pin_nginx="worker_cpu_affinity 1;"
    pin_cpus=1
    [ "$(nproc)" -eq 2 ] || pin_cpus="1-$(( $(nproc) - 1 ))"
fi

pinned() {
    if [ -n "$pin_cpus" ]; then
        taskset -c "$pin_cpus" "$@"
    else
        "$@"
    fi
}

# what the figures mean, for the report
pin_note() {
    if [ -n "$pin_nginx" ]; then
        echo "pinned: nginx's worker on CPU 0; wrk, redis-server on" \
             "CPU $pin_cpus (PIN=0: no pinning)"
    else
        echo "not pinned: nginx, wrk and redis-server share $(nproc) CPUs"
    fi
}
