# Podman as it works on our machines (sourced by the image scripts):
#
#   . util/podman.sh
#   pm build $pm_build_flags ...; pm run $pm_run_flags ...
#   pm run $pm_limits --network container:NAME ...
#
# What it works around, none of which belongs in docker/: crun fails on
# hybrid cgroups (runc does not), there is no systemd (cgroupfs), the
# sandbox lacks CAP_SYS_RESOURCE so a container's rlimits may not exceed
# podman's own (podman lowers its nproc to 32768 and cannot raise nofile
# past the hard limit), and containers share the host's network: only
# loopback and the Debian mirror are reached, no bridge is made.

# shellcheck shell=sh

pm() {
    podman --runtime runc --cgroup-manager cgroupfs "$@"
}

# hard limits of this shell, whatever the shell
pm_nofile=$(awk '/^Max open files/ { print $5 }' /proc/self/limits)
pm_nproc=$(awk '/^Max processes/ { print $4 }' /proc/self/limits)
case "$pm_nofile" in unlimited) pm_nofile=1048576 ;; esac
case "$pm_nproc" in unlimited) pm_nproc=32768 ;; esac
[ "$pm_nofile" -gt 1048576 ] && pm_nofile=1048576
[ "$pm_nproc" -gt 32768 ] && pm_nproc=32768

pm_limits="--ulimit nofile=$pm_nofile:$pm_nofile
           --ulimit nproc=$pm_nproc:$pm_nproc"
pm_run_flags="--network host $pm_limits"
# docker format: HEALTHCHECK and STOPSIGNAL are kept (OCI drops HEALTHCHECK);
# --pull=never: no registry is asked for the base
# read by the scripts that source this file
# shellcheck disable=SC2034
pm_build_flags="$pm_run_flags --format docker --pull=never"
