#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
#
# bench/soak.sh NGINX MODULE_SO          (make soak; not in make test)
#
# Endurance: the three roles under mixed traffic for SOAK_MINUTES (10)
# against two nginx instances sharing one Redis, while
#   - Redis is killed (SIGKILL) 20 s into every minute and started again,
#     empty, 3 s later;
#   - both instances are reloaded every 30 s;
#   - the sidecar's key file is replaced (a new key, renamed into place)
#     before every other reload.
# The traffic (bench/soak.py, 8 threads, a new connection a request):
# the sidecar's key injection (fail local), a browser's request (403),
# failover from a primary answering 503 to the backup, an exact window of
# LIMIT a minute that fails closed under a key changing every 10 s, the
# gateway's key store with good, unknown and missing keys, webhook
# deliveries (good, the same again at the other instance: 409, a bad
# signature).
#
# It prints every 10 s the workers' RSS (kB, both instances, the old
# workers of a reload included), instance a's master's RSS (all, and its
# own memory without the shared zones' pages it touched), the keys in
# Redis, the keys instance a's zones hold in shared memory and the
# zone-full counter, then its verdict, and exits 1 if a promise broke:
#   - a request not answered within 5 s, or with a status its class does
#     not allow (a replay that passed counts only if Redis did not lose
#     its mark by a restart in between);
#   - an exact-window bucket that lived while Redis was up (and 5 s after
#     a restart) admitted other than LIMIT;
#   - the workers' RSS growing by more than 10 % from minute 2 to the end
#     (the largest sample of each minute; judged from SOAK_MINUTES=3 on);
#   - a fail-closed 503 of the exact window whose code is not
#     rate_limit_unavailable (the 503s are counted apart: while Redis was
#     down, and after it came back while nginx reconnects);
#   - a worker exiting on a signal, or an alert, crit or emerg line.
#
# Environment: SOAK_MINUTES (10), LIMIT (50).

set -euo pipefail

usage="usage: bench/soak.sh NGINX MODULE_SO"
nginx=${1:?$usage}
module=${2:?$usage}
SOAK_MINUTES=${SOAK_MINUTES:-10}
LIMIT=${LIMIT:-50}
here=$(cd "$(dirname "$0")" && pwd)

# shellcheck source=lib.sh
. "$here/lib.sh"

[[ $SOAK_MINUTES =~ ^[1-9][0-9]*$ ]] || die "SOAK_MINUTES: a whole number"

rand() { python3 -c 'import secrets; print(secrets.token_urlsafe(24))'; }

# the sidecar's key: written aside and renamed into place, as a secret
# mount is swapped
rotate_key() {
    (umask 077; printf 'v3xy_dev_soak%s\n' "$(rand)" > "$dir/api_key.new")
    mv "$dir/api_key.new" "$dir/api_key"
}

rotate_key
gw_key=v3xy_dev_$(rand)
printf '%s\n' "$gw_key" > "$dir/gw_key"
printf '%s acct_soak payments:read\n' \
    "$(printf %s "$gw_key" | sha256sum | cut -d' ' -f1)" > "$dir/keys"
(umask 077; printf 'whsec_%s\n' "$(rand)" > "$dir/whsec")

read -r p_redis p_api p_bak p_app p_a p_b < <(free_ports 6)

start_redis "$p_redis"

# the API (primary and backup base URLs) and the app behind the edge
nginx_conf "$dir/api" <<EOF
    server {
        listen 127.0.0.1:$p_api;
        location = /v1/flaky { return 503; }
        location / {
            if (\$http_x_v3xy_api_key !~ "^v3xy_dev_soak") { return 401; }
            return 200 "primary\n";
        }
    }

    server {
        listen 127.0.0.1:$p_bak;
        location / {
            if (\$http_x_v3xy_api_key !~ "^v3xy_dev_soak") { return 401; }
            return 200 "backup\n";
        }
    }

    server {
        listen 127.0.0.1:$p_app;
        location / { return 200 "app\n"; }
    }
EOF
start_nginx "$dir/api" api

for i in a b; do
    port=$p_a
    [ "$i" = b ] && port=$p_b

    nginx_conf "$dir/$i" <<EOF
    v3xy_redis 127.0.0.1:$p_redis timeout=200ms;

    v3xy_limit_zone side rate=100000r/m key=\$v3xy_key_id;
    v3xy_limit_zone exact rate=${LIMIT}r/m key=\$http_x_soak_bucket;
    v3xy_limit_zone gw rate=100000r/m key=\$v3xy_key_id;

    upstream primary { server 127.0.0.1:$p_api; keepalive 16; }
    upstream backup  { server 127.0.0.1:$p_bak; keepalive 16; }
    upstream app     { server 127.0.0.1:$p_app; keepalive 16; }

    proxy_http_version 1.1;
    proxy_set_header Connection "";

    server {
        listen 127.0.0.1:$port;

        location /v1/ {
            v3xy_api_key_file $dir/api_key;
            v3xy_limit side;
            v3xy_limit_fail local;
            proxy_pass http://primary;
            v3xy_backup http://backup;
        }

        location /exact/ {
            v3xy_api_key_file $dir/api_key;
            v3xy_limit exact;
            v3xy_limit_fail closed;
            proxy_pass http://primary;
        }

        location /gw/ {
            v3xy_key_store file=$dir/keys;
            v3xy_scope payments:read;
            v3xy_limit gw;
            v3xy_limit_fail local;
            proxy_pass http://app;
        }

        location = /webhooks/v3xy {
            v3xy_webhook_secret_file $dir/whsec;
            v3xy_webhook_tolerance 60s;
            v3xy_limit_fail local;
            proxy_pass http://app;
        }

        location = /metrics { v3xy_metrics; }
    }
EOF
    start_nginx "$dir/$i" "$i"
done

[ "$(status "http://127.0.0.1:$p_a/v1/developer/payment-status")" = 200 ] \
    || die "the sidecar does not answer 200"

seconds=$((SOAK_MINUTES * 60))
: > "$dir/events"
: > "$dir/requests"

event() { echo "$(date +%s.%N) $*" >> "$dir/events"; }

# workers' RSS of an instance, in kB, the old workers of a reload included
rss() {
    local master

    master=$(cat "$dir/$1/nginx.pid" 2>/dev/null) || { echo 0; return; }
    ps -o rss= --ppid "$master" | awk '{ s += $1 } END { print s + 0 }'
}

# the master's RSS, in kB (what every new worker starts from): FIELD of
# /proc/PID/status, VmRSS (all) or RssAnon (its own memory, not the
# shared zones' pages it touched)
master_rss() {
    awk -v f="$2:" '$1 == f { print $2 }' \
        "/proc/$(cat "$dir/$1/nginx.pid" 2>/dev/null)/status" 2>/dev/null \
        || echo 0
}

# metric PORT PATTERN: the sum of the series of an instance that match
metric() {
    curl -sS -m 2 "http://127.0.0.1:$1/metrics" 2>/dev/null \
        | awk -v re="$2" '$0 ~ re { s += $NF } END { print s + 0 }'
}

echo "$("$nginx" -v 2>&1), Redis $(redis-server --version \
        | sed -n 's/.* v=\([^ ]*\).*/\1/p')," \
     "$(basename "$module"), $SOAK_MINUTES min, LIMIT $LIMIT/min"
printf '%6s %9s %9s %9s %9s %10s %9s %9s\n' second rss_a_kB rss_b_kB \
    master_a m_anon_a redis_keys zone_keys zone_full

python3 "$here/soak.py" traffic "$dir" "$seconds" "$p_a" "$p_b" &
traffic=$!

start=$(date +%s)
last=-1
reloads=0
rotations=0
kills=0

while kill -0 "$traffic" 2>/dev/null; do
    sleep 0.2
    t=$(( $(date +%s) - start ))
    [ "$t" -ne "$last" ] || continue
    last=$t

    if [ $((t % 60)) -eq 20 ] && [ "$t" -lt $((seconds - 5)) ]; then
        event redis_down
        kill -9 "$(cat "$dir/redis-$p_redis.pid")"
        kills=$((kills + 1))
    elif [ $((t % 60)) -eq 23 ] && [ "$kills" -gt 0 ]; then
        start_redis "$p_redis"
        event redis_up
    fi

    if [ $((t % 30)) -eq 0 ] && [ "$t" -gt 0 ]; then
        if [ $((t % 60)) -eq 0 ]; then
            rotate_key
            rotations=$((rotations + 1))
            event key_rotated
        fi
        for i in a b; do
            kill -HUP "$(cat "$dir/$i/nginx.pid")"
        done
        reloads=$((reloads + 1))
        event reload
    fi

    if [ $((t % 10)) -eq 5 ]; then
        keys=$(redis-cli -p "$p_redis" dbsize 2>/dev/null || echo -)
        line=$(printf '%6d %9d %9d %9d %9d %10s %9d %9d' "$t" "$(rss a)" \
                   "$(rss b)" "$(master_rss a VmRSS)" \
                   "$(master_rss a RssAnon)" "$keys" \
                   "$(metric "$p_a" '^v3xy_limit_zone_keys.*"held"')" \
                   "$(( $(metric "$p_a" '^v3xy_limit_zone_full_total') \
                        + $(metric "$p_b" '^v3xy_limit_zone_full_total') ))")
        echo "$line"
        echo "$line" >> "$dir/series"
    fi
done

wait "$traffic" || die "the traffic failed"

# Redis back for good if the run ended while it was down
if ! kill -0 "$(cat "$dir/redis-$p_redis.pid" 2>/dev/null)" 2>/dev/null; then
    start_redis "$p_redis"
    event redis_up
fi

echo "reloads: $reloads, key rotations: $rotations, Redis kills: $kills"

rc=0
python3 "$here/soak.py" verdict "$dir" "$LIMIT" 5 || rc=1

# the largest sample of each minute, from minute 2 (second 60) on: needs
# two minutes of them to compare
if [ "$SOAK_MINUTES" -lt 3 ]; then
    echo "workers RSS: not judged (SOAK_MINUTES below 3)"
else
awk '$1 >= 60 {
        m = int($1 / 60); v = $2 + $3
        if (v > max[m]) max[m] = v
        if (!(m in max) || first == "") first = m
        last = m
     }
     END {
        for (m = first; m <= last; m++) printf "  minute %d: %d kB\n", m + 1, max[m]
        g = max[first] ? (max[last] - max[first]) * 100 / max[first] : 0
        printf "workers RSS, both instances: %+.1f %% from minute %d to %d\n",
               g, first + 1, last + 1
        exit (g > 10)
     }' "$dir/series" || { echo "RSS grew by more than 10 %"; rc=1; }
fi

for i in a b; do
    n=$(grep -c 'exited on signal' "$dir/$i/error.log" || true)
    a=$(grep -cE '\[(alert|crit|emerg)\]' "$dir/$i/error.log" || true)
    echo "nginx $i: $n workers exited on a signal, $a alert/crit/emerg lines"
    if [ "$n" -ne 0 ] || [ "$a" -ne 0 ]; then
        grep -E 'exited on signal|\[(alert|crit|emerg)\]' "$dir/$i/error.log" \
            | head -n 5
        rc=1
    fi
done

if [ "$rc" -eq 0 ]; then
    echo "soak: every promise kept"
else
    echo "soak: FAILED"
fi
exit "$rc"
