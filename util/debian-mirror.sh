#!/bin/sh
# Print the Debian mirror this machine's apt uses (deb822 or one-line
# sources), or with "security" its security mirror; Debian's own when the
# sources name none.
#
#   util/debian-mirror.sh [security]
set -eu

case "${1:-}" in
security) path=debian-security; fallback=http://deb.debian.org/debian-security ;;
"")       path=debian;          fallback=http://deb.debian.org/debian ;;
*)        echo "usage: $0 [security]" >&2; exit 2 ;;
esac

mirror=$(
    { cat /etc/apt/sources.list.d/*.sources 2>/dev/null \
        | sed -n 's/^URIs:[[:space:]]*//p' | tr ' ' '\n'
      cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null \
        | sed -n 's/^deb[[:space:]]\+\(\[[^]]*\][[:space:]]\+\)\?\([^[:space:]]*\).*/\2/p'
    } | grep -E "^https?://[^ ]+/$path/?\$" | head -n 1) || true
mirror=${mirror:-$fallback}
echo "${mirror%/}"
