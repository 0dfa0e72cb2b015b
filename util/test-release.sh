#!/bin/sh
# A Debian release's leg of "make test" (make test-trixie), in a container
# of that release built the way the image's base is:
#
#   util/test-release.sh SUITE BUILD_DIR
#
# SUITE (trixie; bookworm works too) as a debootstrap base
# (util/base-image.sh: localhost/v3xy-base:SUITE, BUILD_DIR/image/
# base-SUITE.tar), with what the tests need on top
# (docker/testenv.Dockerfile: localhost/v3xy-testenv:SUITE, util/deps.sh's
# groups suites, deb-test and, after bookworm, valkey).  In it, on the
# host's network (loopback only), on a copy of the sources (the files of
# the image's build context, .dockerignore) whose build/ is
# BUILD_DIR/SUITE/, with this machine's Test::Nginx (BUILD_DIR/test-nginx,
# make test-nginx-lib): make test-unit, test-nginx, test-valkey (where Valkey
# is), deb and test-deb.  The base, the tools and BUILD_DIR/SUITE/ stay, so
# that a second run is warm.  Prints what each step took.
set -eu

usage="usage: $0 SUITE BUILD_DIR"
here=$(cd "$(dirname "$0")/.." && pwd)

# in the container: the steps, timed
if [ "${1:-}" = --inside ]; then
    rm -rf /v3xy
    mkdir /v3xy
    tar -C /src --exclude-from=/src/.dockerignore -cf - . \
        | tar -C /v3xy -xf -
    ln -s /out /v3xy/build
    cat /etc/debian_version > /out/debian_version
    cd /v3xy
    steps="test-unit test-nginx"
    command -v valkey-server > /dev/null && steps="$steps test-valkey"
    steps="$steps deb test-deb"
    times=
    for step in $steps; do
        start=$(date +%s)
        make "$step"
        times="$times $step $(($(date +%s) - start)) s,"
    done
    echo "$times"
    exit 0
fi

suite=${1:?$usage}
build=${2:?$usage}
. "$here/util/podman.sh"

base=localhost/v3xy-base:$suite
env=localhost/v3xy-testenv:$suite
mkdir -p "$build/$suite"
build=$(cd "$build" && pwd)
out=$build/$suite
begin=$(date +%s)

"$here/util/base-image.sh" "$build" "$base" "$suite"

groups="suites deb-test"
[ "$suite" = bookworm ] || groups="$groups valkey"
start=$(date +%s)
# $pm_build_flags: a list of flags, split on purpose
# shellcheck disable=SC2086
pm build $pm_build_flags --build-arg BASE="$base" \
    --build-arg GROUPS="$groups" -f "$here/docker/testenv.Dockerfile" \
    -t "$env" "$here" > "$out/testenv-build.log" 2>&1 || {
        tail -n 40 "$out/testenv-build.log" >&2
        echo "podman build of $env failed; see $out/testenv-build.log" >&2
        exit 1
    }
tools=$(($(date +%s) - start))
echo "test-$suite: $env ready in $tools s"

# Test::Nginx as this machine fetched it for its own leg (make
# test-nginx-lib): the same version in both legs, fetched once
if [ -d "$build/test-nginx/root" ]; then
    rm -rf "$out/test-nginx"
    mkdir -p "$out/test-nginx"
    cp -a "$build/test-nginx/root" "$build/test-nginx/.ready" \
        "$out/test-nginx/"
fi

# the container's own name, so that an interrupted run's can be removed
ctr=v3xy-release-$suite
pm rm -f -t 0 "$ctr" > /dev/null 2>&1 || true
# $pm_run_flags: a list of flags, split on purpose
# shellcheck disable=SC2086
pm run --rm --name "$ctr" $pm_run_flags \
    -v "$here:/src:ro" -v "$out:/out" -e JOBS="${JOBS:-2}" \
    "$env" /src/util/test-release.sh --inside 2>&1 | tee "$out/leg.log"
# the steps' times: the last line of the container's output, which only a
# run whose every step passed prints
times=$(tail -n 1 "$out/leg.log")
case "$times" in
" test-unit "*) ;;
*) echo "test-$suite: failed in the container; see $out/leg.log" >&2
   exit 1 ;;
esac
echo "test-$suite: in Debian $suite ($(cat "$out/debian_version" \
    2>/dev/null || echo ?)): base and tools $tools s (base: see above),$times" \
    "all $(($(date +%s) - begin)) s"
