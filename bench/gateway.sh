#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
#
# bench/gateway.sh NGINX MODULE_SO      (make bench)
#
# wrk: the gateway's key check with a cached key against plain nginx, in
# one nginx instance with one backend and three fronts:
#
#   plain   proxy_pass, the key goes through untouched;
#   file    v3xy_key_store file=: the key hashed, found by binary search,
#           its scope checked, X-V3XY-Account set, the key dropped;
#   redis   v3xy_key_store redis (cache=10s, the default): the same, the
#           answer taken from the cache in shared memory, Redis asked
#           once per cache time;
#   session v3xy_session_store redis (cache=10s): a cached session, the
#           Bearer token hashed and its account taken from the session
#           cache; its figure is set against the redis front's (a cached
#           session against a cached key).
#
# Every request carries the same valid key, the plain front's too, so that
# wrk does the same work for the first three; the session front's carry
# a valid Bearer token of about the same length instead.  Any non-2xx ends the run.  Before
# measuring: the backend must get the account (not the key) from both key
# stores, an unknown key must be refused, and the Redis front must have
# asked Redis; after: Redis commands per request (the cache's hit rate).
#
# Environment: ROUNDS (5), DURATION (5s), THREADS (1), CONNECTIONS (50).

set -euo pipefail

usage="usage: bench/gateway.sh NGINX MODULE_SO"
nginx=${1:?$usage}
module=${2:?$usage}
ROUNDS=${ROUNDS:-5}
DURATION=${DURATION:-5s}
THREADS=${THREADS:-1}
CONNECTIONS=${CONNECTIONS:-50}

# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

# v3xy_dev_ and 32 characters of [A-Za-z0-9_-]; the stores hold its SHA-256
key=v3xy_dev_$(python3 -c 'import secrets; print(secrets.token_urlsafe(24))')
digest=$(printf %s "$key" | sha256sum | cut -d' ' -f1)
printf '%s acct_bench payments:create,payments:read\n' "$digest" \
    > "$dir/keys"

# a session token as an auth service makes one; the store holds its SHA-256
token=$(python3 -c 'import secrets; print(secrets.token_urlsafe(30))')
token_digest=$(printf %s "$token" | sha256sum | cut -d' ' -f1)

read -r p_back p_plain p_file p_redis p_rs p_sess < <(free_ports 6)

redis_cli() { redis-cli -h 127.0.0.1 -p "$p_rs" "$@"; }

# HMGETs so far: the key store's lookups
hmgets() {
    redis_cli info commandstats | tr -d '\r' \
        | awk -F'[:,=]' '$1 == "cmdstat_hmget" { n = $3 } END { print n + 0 }'
}

start_redis "$p_rs"

redis_cli hset "v3xy:key:$digest" account acct_bench \
    scopes 'payments:create payments:read' status active >/dev/null
redis_cli hset "v3xy:session:$token_digest" account acct_bench \
    status active >/dev/null

nginx_conf "$dir" <<EOF
    # the key store's only: no limits here
    v3xy_redis 127.0.0.1:$p_rs timeout=1s;

    upstream backend {
        server 127.0.0.1:$p_back;
        keepalive 32;
    }

    proxy_http_version 1.1;

    server {
        listen 127.0.0.1:$p_back;

        location / { return 200 "ok\n"; }

        # for the check before the benchmark only: the account, no key
        location = /v1/check {
            if (\$http_x_v3xy_account != "acct_bench") { return 403; }
            if (\$http_x_v3xy_api_key) { return 409; }
            return 200 "ok\n";
        }
    }

    # a location's proxy_set_header hides every inherited one: hence
    # Connection "" in every front, so that all keep upstream keepalive
    server {
        listen 127.0.0.1:$p_plain;

        location / {
            proxy_set_header Connection "";
            proxy_pass http://backend;
        }
    }

    server {
        listen 127.0.0.1:$p_file;

        location / {
            v3xy_key_store file=$dir/keys;
            v3xy_scope payments:read;
            proxy_set_header Connection "";
            proxy_pass http://backend;
        }
    }

    server {
        listen 127.0.0.1:$p_redis;

        location / {
            v3xy_key_store redis;
            v3xy_scope payments:read;
            proxy_set_header Connection "";
            proxy_pass http://backend;
        }
    }

    server {
        listen 127.0.0.1:$p_sess;

        location / {
            v3xy_session_store redis;
            proxy_set_header Connection "";
            proxy_pass http://backend;
        }
    }
EOF

start_nginx "$dir"

# the worker's Redis connection comes up on its own time
for _ in $(seq 50); do
    [ "$(status -H "X-V3XY-API-Key: $key" \
            "http://127.0.0.1:$p_redis/v1/check")" = 200 ] && break
    sleep 0.1
done

# The figures only mean something if both stores check the key: the
# backend gets the account and not the key, an unknown key is refused,
# and the Redis front asked Redis (once: then its cache answers).
calls=$(hmgets)

for front in file:$p_file redis:$p_redis; do
    port=${front#*:}
    [ "$(status -H "X-V3XY-API-Key: $key" \
            "http://127.0.0.1:$port/v1/check")" = 200 ] \
        || die "${front%:*}: the backend did not get the account alone"
    [ "$(status -H 'X-V3XY-API-Key: v3xy_dev_NotInAnyStore_0000000000' \
            "http://127.0.0.1:$port/v1/check")" = 403 ] \
        || die "${front%:*}: an unknown key was not refused"
    [ "$(status "http://127.0.0.1:$port/v1/check")" = 401 ] \
        || die "${front%:*}: a request without a key was not refused"
done

[ "$(hmgets)" -eq $((calls + 1)) ] \
    || die "redis: the unknown key was not looked up in Redis"

# the session front: the account alone for a valid token, 401 otherwise
[ "$(status -H "Authorization: Bearer $token" \
        "http://127.0.0.1:$p_sess/v1/check")" = 200 ] \
    || die "session: the backend did not get the account alone"
[ "$(status -H 'Authorization: Bearer NotInTheStore_0000000000' \
        "http://127.0.0.1:$p_sess/v1/check")" = 401 ] \
    || die "session: an unknown token was not refused"
[ "$(status "http://127.0.0.1:$p_sess/v1/check")" = 401 ] \
    || die "session: a request without a token was not refused"
[ "$(hmgets)" -eq $((calls + 3)) ] \
    || die "session: the tokens were not looked up in Redis"

echo
echo "gateway: a cached key; $("$nginx" -v 2>&1), $(basename "$module");" \
     "redis-server $(redis-server --version | awk '{ print $3 }' | tr -d v=)" \
     "on :$p_rs"
echo "wrk -t$THREADS -c$CONNECTIONS -d$DURATION, $ROUNDS rounds" \
     "(backend :$p_back, plain :$p_plain, file :$p_file, redis :$p_redis," \
     "session :$p_sess)"

# CPU time (ticks) of a process so far, from /proc

worker=$(pgrep -P "$(cat "$dir/nginx.pid")")

# run NAME PORT: one wrk run; sets rps, adds to the totals and the ticks
declare -A total ticks
zero() {
    total=([plain]=0 [file]=0 [redis]=0 [session]=0)
    ticks=([plain]=0 [file]=0 [redis]=0 [session]=0)
}
zero

run() {
    local header

    header="X-V3XY-API-Key: $key"
    [ "$1" != session ] || header="Authorization: Bearer $token"

    wrk_measured "$1" "$2" "$header"
}

# the warm-up does not count
for c in plain:$p_plain file:$p_file redis:$p_redis session:$p_sess; do
    run "${c%:*}" "${c#*:}"
done
zero

calls=$(hmgets)

printf '%-6s %11s %11s %6s %11s %6s %11s %6s\n' \
       round plain/s file/s ratio redis/s ratio session/s /redis
r_file=() r_redis=() r_sess=() pp=() pf=() pr=() ps=()

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", a / b }'; }

for i in $(seq "$ROUNDS"); do
    # reverse the order every other round, so that a drift favours none
    if [ $((i % 2)) -eq 1 ]; then
        run plain "$p_plain";    plain=$rps
        run file "$p_file";      file=$rps
        run redis "$p_redis";    redis=$rps
        run session "$p_sess";   sess=$rps
    else
        run session "$p_sess";   sess=$rps
        run redis "$p_redis";    redis=$rps
        run file "$p_file";      file=$rps
        run plain "$p_plain";    plain=$rps
    fi

    rf=$(ratio "$file" "$plain") rr=$(ratio "$redis" "$plain")
    rs=$(ratio "$sess" "$redis")
    printf '%-6s %11s %11s %6s %11s %6s %11s %6s\n' \
           "$i" "$plain" "$file" "$rf" "$redis" "$rr" "$sess" "$rs"
    r_file+=("$rf") r_redis+=("$rr") r_sess+=("$rs")
    pp+=("$plain") pf+=("$file") pr+=("$redis") ps+=("$sess")
done

calls=$(( $(hmgets) - calls ))

printf '%-6s %11.2f %11.2f %6s %11.2f %6s %11.2f\n' median \
       "$(median "${pp[@]}")" "$(median "${pf[@]}")" "" \
       "$(median "${pr[@]}")" "" "$(median "${ps[@]}")"
echo "total requests: plain ${total[plain]}, file ${total[file]}," \
     "redis ${total[redis]}, session ${total[session]} (no non-2xx" \
     "responses)"

hz=$(getconf CLK_TCK)
us() { awk -v t="$1" -v n="$2" -v hz="$hz" \
           'BEGIN { printf "%.1f", 1e6 * t / hz / n }'; }
echo "cpu us per request, nginx worker: plain" \
     "$(us "${ticks[plain]}" "${total[plain]}")," \
     "file $(us "${ticks[file]}" "${total[file]}")," \
     "redis $(us "${ticks[redis]}" "${total[redis]}")," \
     "session $(us "${ticks[session]}" "${total[session]}") ($(nproc) cores)"
echo "redis lookups (HMGET) during the measured runs: $calls for" \
     "$(( total[redis] + total[session] )) requests of the redis and" \
     "session fronts (one per cache time each)"

# config-time notices land here too (before error_log applies): skip them
warnings=$(grep -E '\[(warn|error)\]' "$dir/error.log" | head -n 20) || true
[ -z "$warnings" ] || printf 'error.log:\n%s\n' "$warnings" | sed '2,$s/^/  /'

echo "ratio file/plain (median of $ROUNDS): $(median "${r_file[@]}")"
echo "ratio redis/plain (median of $ROUNDS): $(median "${r_redis[@]}")"
echo "ratio session/redis, a cached session against a cached key" \
     "(median of $ROUNDS): $(median "${r_sess[@]}")"
