#!/bin/sh
# Build the Debian package with dpkg-buildpackage from a copy of the work
# tree, so that nothing is written beside the repository (dpkg-buildpackage
# puts its results in the parent directory) and "debian/rules clean" does
# not empty the work tree's build/.
#
#   util/build-deb.sh BUILD_DIR
#
# The copy is BUILD_DIR/deb/src; the .deb, .buildinfo and .changes land in
# BUILD_DIR/deb/, and the .deb is copied to BUILD_DIR/.  Prints the .deb's
# path last.
set -eu

build=${1:?usage: $0 BUILD_DIR}
here=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$build"
build=$(cd "$build" && pwd)
out=$build/deb

rm -rf "$out"
mkdir -p "$out/src"
# the work tree as it is (uncommitted changes too), without build products
(cd "$here" && tar -c --exclude=./.git --exclude=./build \
     --exclude='./t/servroot*' .) | tar -x -C "$out/src"

version=$(dpkg-parsechangelog -l "$here/debian/changelog" -S Version)
arch=$(dpkg --print-architecture)
deb=libnginx-mod-http-v3xy_${version}_${arch}.deb

(cd "$out/src" && dpkg-buildpackage -b -us -uc) > "$out/build.log" 2>&1 || {
    tail -n 40 "$out/build.log" >&2
    echo "make deb: dpkg-buildpackage failed; see $out/build.log" >&2
    exit 1
}

cp "$out/$deb" "$build/$deb"
echo "$build/$deb"
