#!/bin/sh
# Entry point of the sidecar image: write the settings that come from the
# environment into /run/v3xy/ and run nginx in the foreground (it is PID 1;
# "docker stop" sends SIGQUIT: graceful).
#
#   V3XY_API_URL   where /v1/ goes: https://api.v3xyservices.com (default),
#                  or http://host:port of a test server
#   V3XY_BACKUP_URL  where requests go when that fails (v3xy_backup, one
#                  breaker for all locations): https://api-backup.pages.dev
#                  (default), or "off"
#   V3XY_REDIS     the arguments of v3xy_redis, e.g. "redis:6379" or
#                  "redis:6379 timeout=50ms": the limits are shared by every
#                  sidecar that names this Redis; unset, each container
#                  counts in its own shared memory
#   V3XY_LISTEN    port or IPv4 address:port (default 8080); a sidecar that
#                  shares its network namespace with the app: 127.0.0.1:8080
#   V3XY_RESOLVER  DNS server for the API's name (default: the first
#                  nameserver of /etc/resolv.conf)
#   V3XY_KEY_POLL  seconds between two looks at the key file (default 1),
#                  or "off"
#
# The key is read from /run/secrets/v3xy_api_key, which must be readable by
# uid 33 (www-data).  Arguments, if any, replace nginx's (and nothing
# watches the key).
#
# Key rotation: a watcher, forked before nginx starts (nginx then becomes
# its parent), compares the key file's SHA-256 every V3XY_KEY_POLL
# seconds.  A new content that stays the same for one more look (a file
# written in place is not read half-written) is tested with "nginx -t":
# good, it logs the new key's fingerprint and reloads nginx (SIGHUP:
# requests in flight finish with the old key, new ones get the new);
# refused, it logs nginx's reason and nginx keeps running with the old
# key.  A Kubernetes secret volume swaps a symlink (..data) at once;
# Docker and Podman bind mounts show a file replaced in place (cp, or a
# shell's ">"), not one renamed over it (mv, most editors): mount a
# directory for those.
set -eu

run=/run/v3xy

die() { echo "v3xy-entrypoint: $*" >&2; exit 1; }

# http(s)://host[:port]: a URI part would replace the location's prefix
url() {
    echo "$2" | grep -Eqx 'https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?' \
        || die "$1 must be http(s)://host[:port], no path: $2"
}

api=${V3XY_API_URL:-https://api.v3xyservices.com}
api=${api%/}
url V3XY_API_URL "$api"

backup=${V3XY_BACKUP_URL:-https://api-backup.pages.dev}
backup=${backup%/}
[ "$backup" = off ] || url "V3XY_BACKUP_URL (or off)" "$backup"

listen=${V3XY_LISTEN:-8080}
echo "$listen" | grep -Eqx '([0-9.]+:)?[0-9]{1,5}' \
    || die "V3XY_LISTEN must be a port or IPv4 address:port: $listen"

redis=${V3XY_REDIS:-}
case "$redis" in
*[\;\{\}\'\"\\]*) die "V3XY_REDIS may not hold ; { } quotes or backslashes" ;;
esac

poll=${V3XY_KEY_POLL:-1}
echo "$poll" | grep -Eqx 'off|[1-9][0-9]{0,3}' \
    || die "V3XY_KEY_POLL must be a number of seconds (1 to 9999) or off:" \
           "$poll"

resolver=${V3XY_RESOLVER:-$(awk '$1 == "nameserver" { print $2; exit }' \
                               /etc/resolv.conf 2>/dev/null || true)}
case "$resolver" in
*:*) resolver="[$resolver]" ;;
esac

[ -r /run/secrets/v3xy_api_key ] \
    || die "no readable key at /run/secrets/v3xy_api_key (mount the" \
           "secret, readable by uid $(id -u))"

{
    echo "# written by v3xy-entrypoint at start"
    if [ -n "$resolver" ]; then
        echo "resolver $resolver valid=300s;"
    fi
    if [ -n "$redis" ]; then
        echo "v3xy_redis $redis;"
    fi
} > "$run/http.conf"

{
    echo "# written by v3xy-entrypoint at start"
    echo "listen $listen;"
    echo "set \$api_url $api;"
    [ "$backup" = off ] || echo "set \$backup_host ${backup#*://};"
} > "$run/server.conf"

{
    echo "# written by v3xy-entrypoint at start"
    # the scheme as text: v3xy_backup tells http from https when it loads
    [ "$backup" = off ] \
        || echo "v3xy_backup ${backup%%://*}://\$backup_host breaker=api;"
} > "$run/backup.conf"

# names are resolved when a request needs them
if [ -z "$resolver" ]; then
    for u in $api $backup; do
        [ "$u" = off ] && continue
        host=${u#*://}
        host=${host%:*}
        case "$host" in
        *[!0-9.]*) die "no nameserver in /etc/resolv.conf for $host:" \
                       "set V3XY_RESOLVER" ;;
        esac
    done
fi

if [ $# -gt 0 ]; then
    exec nginx "$@"
fi

# the key file's content, as its SHA-256 (never the key), or "none"
key_state() {
    sha256sum < /run/secrets/v3xy_api_key 2> /dev/null || echo none
}

# the watcher: its parent is nginx's master once the exec below is done,
# the same process ($$); it signals it only once nginx has written its pid.
# LOADED: the key file's state taken before nginx starts, so that a change
# made before the watcher's first look is seen as one
watch_key() {
    master=$1
    loaded=$2
    key=/run/secrets/v3xy_api_key
    say() { echo "v3xy-entrypoint: $*" >&2; }

    until [ "$(cat /run/v3xy/nginx.pid 2> /dev/null)" = "$master" ]; do
        sleep 1
    done

    seen=$loaded

    while sleep "$poll"; do
        # nginx gone (the container stops): so is the watcher
        kill -0 "$master" 2> /dev/null || exit 0

        now=$(key_state)
        if [ "$now" != "$seen" ]; then
            seen=$now
            continue
        fi
        [ "$now" = "$loaded" ] && continue
        loaded=$now

        if out=$(nginx -t 2>&1); then
            id=$(echo "$out" | sed -n 's/.* holds key \(v3xy_dev_[^ ]*\).*/\1/p')
            say "$key changed: key ${id:-?}; reloading nginx"
            kill -HUP "$master"
        else
            # "[emerg] what, in FILE:LINE", without nginx's time and pid
            why=$(echo "$out" | grep -m 1 -E '\[(emerg|alert|crit)\]' \
                  | sed -E 's/^.*(\[(emerg|alert|crit)\]) ([0-9]+#[0-9]+: )?/\1 /')
            say "$key changed, but nginx refuses the new file (${why:-nginx -t" \
                "failed}): nginx keeps running with the previous key"
        fi
    done
}

if [ "$poll" != off ]; then
    watch_key $$ "$(key_state)" &
fi

exec nginx -g 'daemon off;'
