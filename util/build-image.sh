#!/bin/sh
# Build docker/Dockerfile with podman, on a base image of a Debian release
# made by debootstrap (no registry is reachable here):
#
#   util/build-image.sh BUILD_DIR BASE_IMAGE IMAGE SUITE
#
# SUITE: bookworm or trixie (util/base-image.sh makes BASE_IMAGE of it).
# The podman flags that our machines need are in util/podman.sh; the
# Dockerfile itself is what a Docker user builds.  podman's layer cache
# makes a rebuild with unchanged sources quick.
set -eu

usage="usage: $0 BUILD_DIR BASE_IMAGE IMAGE SUITE"
build=${1:?$usage}
base=${2:?$usage}
image=${3:?$usage}
suite=${4:?$usage}
here=$(cd "$(dirname "$0")/.." && pwd)
. "$here/util/podman.sh"

"$here/util/base-image.sh" "$build" "$base" "$suite"

mkdir -p "$build/image"
log=$(cd "$build/image" && pwd)/build-$suite.log
start=$(date +%s)
# $pm_build_flags: a list of flags, split on purpose
# shellcheck disable=SC2086
pm build $pm_build_flags --build-arg BASE="$base" \
    -f "$here/docker/Dockerfile" -t "$image" "$here" > "$log" 2>&1 || {
        tail -n 40 "$log" >&2
        echo "podman build failed; see $log" >&2
        exit 1
    }

size=$(pm image inspect --format '{{.Size}}' "$image")
echo "image $image: $((size / 1000000)) MB, built in $(($(date +%s) - start)) s"
