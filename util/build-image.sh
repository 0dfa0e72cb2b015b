#!/bin/sh
# Build docker/Dockerfile with podman, on a base image made by debootstrap
# (no registry is reachable here):
#
#   util/build-image.sh BUILD_DIR BASE_IMAGE IMAGE
#
# The podman flags that our machines need are in util/podman.sh; the
# Dockerfile itself is what a Docker user builds.  podman's layer cache
# makes a rebuild with unchanged sources quick.
set -eu

build=${1:?usage: $0 BUILD_DIR BASE_IMAGE IMAGE}
base=${2:?usage: $0 BUILD_DIR BASE_IMAGE IMAGE}
image=${3:?usage: $0 BUILD_DIR BASE_IMAGE IMAGE}
here=$(cd "$(dirname "$0")/.." && pwd)
. "$here/util/podman.sh"

"$here/util/base-image.sh" "$build" "$base"

mkdir -p "$build/image"
log=$(cd "$build/image" && pwd)/build.log
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
