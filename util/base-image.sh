#!/bin/sh
# A Debian base image made from Debian's own packages, for building
# docker/Dockerfile (and the trixie leg's container, util/test-suite.sh)
# where no container registry is reachable:
#
#   util/base-image.sh BUILD_DIR IMAGE SUITE
#
# SUITE: a Debian suite by its code name, bookworm (12) or trixie (13).
# debootstrap --variant=minbase SUITE from this machine's Debian mirror,
# with apt sources for SUITE, SUITE-updates and SUITE-security on this
# machine's mirrors and their updates installed, trimmed as
# debian:SUITE-slim is (no documentation, manual pages or locales; no apt
# lists or caches; services are not started by package scripts), imported
# into podman as IMAGE.
#
# A rerun does nothing when podman has an IMAGE of SUITE made by this
# script (also for a fresh clone on the same machine), and imports
# BUILD_DIR/image/base-SUITE.tar, the root file system kept from the last
# debootstrap, when podman has none.  BASE_REFRESH=1 makes both anew.
set -eu

build=${1:?usage: $0 BUILD_DIR IMAGE SUITE}
image=${2:?usage: $0 BUILD_DIR IMAGE SUITE}
suite=${3:?usage: $0 BUILD_DIR IMAGE SUITE}
case "$suite" in
*[!a-z]*|"") echo "$0: SUITE is a code name (bookworm, trixie)" >&2; exit 2 ;;
esac
here=$(cd "$(dirname "$0")" && pwd)
. "$here/podman.sh"

mkdir -p "$build/image"
dir=$(cd "$build/image" && pwd)
tar=$dir/base-$suite.tar

label() {
    pm image inspect --format "{{ index .Labels \"$1\" }}" "$image" \
        2>/dev/null || true
}

if [ "${BASE_REFRESH:-0}" = 1 ]; then
    rm -f "$tar"
elif [ "$(label org.v3xy.base)" = debootstrap ] \
     && [ "$(label org.v3xy.base.suite)" = "$suite" ]; then
    echo "base image $image ($suite): podman has it" \
         "(BASE_REFRESH=1 makes it anew)"
    exit 0
fi

if [ ! -f "$tar" ]; then
    mirror=$("$here/debian-mirror.sh")
    security=$("$here/debian-mirror.sh" security)
    root=$dir/rootfs-$suite
    log=$dir/debootstrap-$suite.log
    rm -rf "$root"
    echo "debootstrap --variant=minbase $suite from $mirror"
    debootstrap --variant=minbase "$suite" "$root" "$mirror" \
        > "$log" 2>&1 || {
            tail -n 20 "$log" >&2
            echo "debootstrap failed; see $log" >&2
            exit 1
        }

    # what debian:$suite-slim leaves out, left out of later installs too
    cat > "$root/etc/dpkg/dpkg.cfg.d/slim" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/lintian/*
path-exclude /usr/share/linda/*
path-exclude /usr/share/locale/*
EOF
    find "$root/usr/share/doc" -mindepth 1 ! -type d ! -name copyright \
        -delete
    find "$root/usr/share/doc" -mindepth 1 -type d -empty -delete
    rm -rf "$root/usr/share/man/"* "$root/usr/share/groff/"* \
           "$root/usr/share/info/"* "$root/usr/share/lintian/"* \
           "$root/usr/share/locale/"*
    cat > "$root/etc/apt/apt.conf.d/docker-clean" <<'EOF'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
EOF
    printf '%s\n' 'Acquire::Languages "none";' \
        > "$root/etc/apt/apt.conf.d/docker-no-languages"
    printf '%s\n' '#!/bin/sh' '# no service starts while an image is built' \
        'exit 101' > "$root/usr/sbin/policy-rc.d"
    chmod 755 "$root/usr/sbin/policy-rc.d"

    rm -f "$root/etc/apt/sources.list"
    cat > "$root/etc/apt/sources.list.d/debian.sources" <<EOF
Types: deb
URIs: $mirror
Suites: $suite $suite-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: $security
Suites: $suite-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
    # the updates that SUITE-updates and SUITE-security have since the
    # point release (debian:SUITE-slim is rebuilt with them)
    mount -t proc proc "$root/proc"
    chroot "$root" sh -c 'apt-get -q update &&
        DEBIAN_FRONTEND=noninteractive apt-get -q -y upgrade' \
        >> "$log" 2>&1 || status=$?
    umount "$root/proc"
    if [ "${status:-0}" != 0 ]; then
        tail -n 20 "$log" >&2
        echo "apt-get upgrade in $root failed; see $log" >&2
        exit 1
    fi

    rm -rf "$root/var/lib/apt/lists/"* "$root/var/cache/apt/"*.bin \
           "$root/var/cache/apt/archives/"*.deb "$root/var/log/"*.log \
           "$root/var/log/apt/"* "$root/var/cache/ldconfig/aux-cache"
    # the host's name and resolver are the container engine's business
    rm -f "$root/etc/hostname" "$root/etc/resolv.conf"

    tar -C "$root" --numeric-owner -cf "$tar.tmp" .
    mv "$tar.tmp" "$tar"
    rm -rf "$root"
fi

sum=$(sha256sum "$tar" | cut -d' ' -f1)
pm import --quiet \
    --change 'CMD ["bash"]' \
    --change "LABEL org.v3xy.base=debootstrap" \
    --change "LABEL org.v3xy.base.suite=$suite" \
    --change "LABEL org.v3xy.base.sha256=$sum" \
    "$tar" "$image" > /dev/null
echo "base image $image ($suite): imported from $tar ($(du -m "$tar" | cut -f1) MB)"
