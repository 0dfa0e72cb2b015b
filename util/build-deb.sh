#!/bin/sh
# Build the Debian package with dpkg-buildpackage in the work tree:
#
#   util/build-deb.sh BUILD_DIR
#
# debian/rules builds the module with "make module", so a module that
# "make" has built already is not built again.  dpkg-buildpackage's usual
# places are changed so that nothing is written beside the repository and
# build/ is kept: no "debian/rules clean" first (-nc; dh_clean instead, which
# leaves build/ alone), the .deb files, .buildinfo and .changes in
# BUILD_DIR/deb/.  The .deb is copied to BUILD_DIR/; its path is printed last.
set -eu

build=${1:?usage: $0 BUILD_DIR}
here=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$build/deb"
build=$(cd "$build" && pwd)
out=$build/deb
rm -f "$out"/*.deb "$out"/*.buildinfo "$out"/*.changes

version=$(dpkg-parsechangelog -l "$here/debian/changelog" -S Version)
arch=$(dpkg --print-architecture)
base=libnginx-mod-http-v3xy_${version}_${arch}

cd "$here"
{
    dh_clean
    DEB_DESTDIR=$out dpkg-buildpackage -b -nc -us -uc \
        --buildinfo-file="$out/$base.buildinfo" \
        --buildinfo-option=-u"$out" \
        --changes-file="$out/$base.changes" \
        --changes-option=-u"$out"
} > "$out/build.log" 2>&1 || {
    tail -n 40 "$out/build.log" >&2
    echo "make deb: dpkg-buildpackage failed; see $out/build.log" >&2
    exit 1
}

cp "$out/$base.deb" "$build/$base.deb"
echo "$build/$base.deb"
