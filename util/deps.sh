#!/bin/sh
# Install with apt-get what "make" and "make run" (build), "make test"
# (test), "make bench", "make valgrind", "make deb" (deb), "make test-deb"
# (deb-test) or "make image" (image) need and this machine lacks.  Needs
# root when something is missing; does nothing otherwise.
set -eu

build="gcc make nginx nginx-dev libssl-dev libpcre2-dev zlib1g-dev
       libhiredis-dev libjansson-dev libutf8proc-dev libidn2-dev
       ca-certificates"
# util/check-docs.sh needs perl (Encode), util/shellcheck.sh shellcheck;
# t/043 moves nginx's and Redis's clocks with libfaketime (LD_PRELOAD)
test="$build libcmocka-dev redis-server curl openssl clang libclang-rt-14-dev
      prometheus perl shellcheck libfaketime
      libtest-base-perl libtext-diff-perl libipc-run-perl
      liblist-moreutils-perl libtest-longstring-perl liburi-perl
      libwww-perl libhttp-message-perl"
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

case "${1:-build}" in
build)    want=$build ;;
test)     want=$test ;;
bench)    want=$bench ;;
valgrind) want=valgrind ;;
deb)      want=$deb ;;
deb-test) want="$deb lintian" ;;
image)    want=$image ;;
*)        echo "usage: $0 build|test|bench|valgrind|deb|deb-test|image" >&2; exit 2 ;;
esac

missing=
for p in $want; do
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
