#!/bin/sh
# Install with apt-get what "make" and "make run" (build), the unit tests
# and the Test::Nginx suites (suites), "make test" (test), "make bench",
# "make valgrind", "make deb" (deb), "make test-deb" (deb-test), "make
# image" (image) or the trixie leg's Valkey (valkey) need and this machine
# lacks; one or more groups:
#
#   util/deps.sh GROUP...
#
# The same names on Debian 12 (bookworm) and 13 (trixie); valkey is
# trixie's only.  Needs root when something is missing; does nothing
# otherwise.
build="gcc make nginx nginx-dev libssl-dev libpcre2-dev zlib1g-dev
       libhiredis-dev libjansson-dev libutf8proc-dev libidn2-dev
       ca-certificates"
# the unit tests (cmocka) and the Test::Nginx suites: Redis, promtool
# (prometheus) for t/070 and t/071, libfaketime for t/043 (it moves nginx's and
# Redis's clocks with LD_PRELOAD), gcore (gdb) for t/090's core dumps,
# Test::Nginx's own needs (it runs ps: procps, which a minbase root lacks)
suites="$build libcmocka-dev redis-server curl openssl prometheus perl procps
        libfaketime gdb
        libtest-base-perl libtext-diff-perl libipc-run-perl
        liblist-moreutils-perl libtest-longstring-perl liburi-perl
        libwww-perl libhttp-message-perl"
# the fuzzers (libclang-rt-dev: clang's runtime of either release, 14 on
# bookworm, 19 on trixie), util/check-docs.sh (perl's Encode),
# util/shellcheck.sh
test="$suites clang libclang-rt-dev shellcheck"
# dpkg-buildpackage (nginx-dev brings debhelper and dh-sequence-nginx)
deb="$build build-essential dpkg-dev"
# make bench: the OpenResty-way peer of bench/limits.sh (Debian's lua
# module for its nginx and resty.redis), tc and ip (iproute2) for its
# NETEM mode, gnuplot for bench/scale.sh's chart
bench="wrk python3 libnginx-mod-http-lua libnginx-mod-http-ndk
       lua-nginx-redis iproute2 gnuplot-nox"
# podman with runc (crun fails on hybrid cgroups), debootstrap for the base
# image, docker-compose (Compose v1, python) to validate docker/compose.yaml
image="podman runc debootstrap docker-compose curl"

# the Redis suites against Valkey too (valkey-server brings valkey-tools:
# valkey-cli)
valkey="valkey-server"

want=
for group in "${@:-build}"; do
    case "$group" in
    build)    want="$want $build" ;;
    suites)   want="$want $suites" ;;
    test)     want="$want $test" ;;
    bench)    want="$want $bench" ;;
    valgrind) want="$want valgrind" ;;
    deb)      want="$want $deb" ;;
    deb-test) want="$want $deb lintian" ;;
    image)    want="$want $image" ;;
    valkey)   want="$want $valkey" ;;
    *)        echo "usage: $0 GROUP...: build, suites, test, bench," \
                   "valgrind, deb, deb-test, image, valkey" >&2
              exit 2 ;;
    esac
done

missing=
# $want: a list of package names, split on purpose; each once
# shellcheck disable=SC2086
for p in $(printf '%s\n' $want | sort -u); do
    dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q 'ok installed' \
        || missing="$missing $p"
done

[ -z "$missing" ] && exit 0

if [ "$(id -u)" != 0 ]; then
    echo "missing packages:$missing; run as root, or install them with" \
         "apt-get install$missing" >&2
    exit 1
fi

echo "installing:$missing"
apt-get update -q
# $missing: a list of package names, split on purpose
# shellcheck disable=SC2086
DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
    --no-install-recommends $missing
