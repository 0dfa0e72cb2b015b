#!/bin/sh
# Fetch Debian's libtest-nginx-perl (unstable suite, architecture all) into
# a private directory without touching the machine's apt sources: a private
# apt state (source list, lists and cache under $1) is used for one
# "apt-get download", and the package is unpacked with dpkg-deb.
#
# usage: util/get-test-nginx.sh DIR     -> DIR/root/usr/share/perl5
set -eu

dir=${1:?usage: $0 DIR}
mkdir -p "$dir/lists/partial" "$dir/cache/archives/partial" "$dir/root"
dir=$(cd "$dir" && pwd)

# The Debian mirror this machine already uses (deb822 or one-line sources).
mirror=$(
    { cat /etc/apt/sources.list.d/*.sources 2>/dev/null \
        | sed -n 's/^URIs:[[:space:]]*//p' | tr ' ' '\n'
      cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null \
        | sed -n 's/^deb[[:space:]]\+\(\[[^]]*\][[:space:]]\+\)\?\([^[:space:]]*\).*/\2/p'
    } | grep -E '^https?://[^ ]+/debian/?$' | head -n 1)
mirror=${mirror:-http://deb.debian.org/debian}
mirror=${mirror%/}

echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg]" \
     "$mirror sid main" > "$dir/sources.list"

apt_private() {
    apt-get -q \
        -o Dir::Etc::SourceList="$dir/sources.list" \
        -o Dir::Etc::SourceParts=- \
        -o Dir::State::Lists="$dir/lists" \
        -o Dir::Cache="$dir/cache" \
        -o APT::Architectures=all \
        -o APT::Sandbox::User=root \
        "$@"
}

apt_private update >/dev/null
(cd "$dir" && apt_private download libtest-nginx-perl >/dev/null)

# the newest download, should an earlier one be there
deb=$(find "$dir" -maxdepth 1 -name 'libtest-nginx-perl_*.deb' \
          -printf '%T@ %p\n' | sort -n | tail -n 1 | cut -d' ' -f2-)
dpkg-deb -x "$deb" "$dir/root"
echo "Test::Nginx from $(basename "$deb") ($mirror sid) in $dir/root/usr/share/perl5"
