# bench/pin.sh: sourced by the benchmarks that run Redis beside nginx.
#
# PIN=1 (the default, on two cores or more): nginx's worker runs on CPU 0
# alone, wrk and redis-server on the other CPUs, as where Redis has its
# own machine: what is measured is then what the module costs nginx, not
# Redis's CPU taken from nginx's core.  PIN=0: every process anywhere, as
# on a machine that runs all of them (the figures then also carry Redis's
# CPU, and swing more with the machine's other load).
#
#   $pin_nginx    a line for nginx.conf's main context (maybe empty)
#   $pin_others   a command prefix for wrk and redis-server (maybe empty)

PIN=${PIN:-1}
pin_nginx= pin_others=

if [ "$PIN" = 1 ] && [ "$(nproc)" -ge 2 ]; then
    command -v taskset >/dev/null || die "taskset is missing (util-linux)"
    pin_nginx="worker_cpu_affinity 1;"
    pin_cpus=1
    [ "$(nproc)" -eq 2 ] || pin_cpus="1-$(( $(nproc) - 1 ))"
    pin_others="taskset -c $pin_cpus"
fi

# what the figures mean, for the report
pin_note() {
    if [ -n "$pin_nginx" ]; then
        echo "pinned: nginx's worker on CPU 0; wrk, redis-server on" \
             "CPU $pin_cpus (PIN=0: no pinning)"
    else
        echo "not pinned: nginx, wrk and redis-server share $(nproc) CPUs"
    fi
}
