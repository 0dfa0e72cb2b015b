#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
#
# bench/webhooks.sh NGINX MODULE_SO
#
# wrk: signed webhook deliveries through v3xy_webhook_secret_file against
# plain nginx proxying the same bodies, for a 1 KiB body, a 1 MiB body held
# in memory and a 1 MiB body that nginx spills to a temporary file.  One
# nginx instance serves both fronts and their backend, so the two differ
# only in the verification: header parse, HMAC-SHA256 over the body (read
# back from the file in the third case), constant-time compare.
#
# Besides requests per second, the worker's CPU time per request (from
# /proc): on a shared machine the rates swing with the neighbours, the CPU
# a request costs much less, and the difference between the fronts is what
# the verification costs.
#
# Environment: ROUNDS (5), DURATION (5s), THREADS (1), CONNECTIONS_1K (20),
# CONNECTIONS_1M (4).

set -euo pipefail

usage="usage: bench/webhooks.sh NGINX MODULE_SO"
nginx=${1:?$usage}
module=${2:?$usage}
ROUNDS=${ROUNDS:-5}
DURATION=${DURATION:-5s}
THREADS=${THREADS:-1}
CONNECTIONS_1K=${CONNECTIONS_1K:-20}
CONNECTIONS_1M=${CONNECTIONS_1M:-4}

# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

secret=whsec_$(python3 -c 'import secrets; print(secrets.token_urlsafe(24))')
(umask 077; printf '%s\n' "$secret" > "$dir/whsec")

# The bodies (JSON of exactly 1 KiB and 1 MiB, random so that nothing about
# them is special) and their signatures, signed once with t = now: wrk
# repeats the same delivery, which v3xy_webhook_tolerance 1h keeps valid for
# the whole run (and v3xy_webhook_replay off keeps admissible).  A tampered
# copy differs in one byte and keeps the signature: it must be refused.
declare -A sigs
read -r 'sigs[1k]' 'sigs[1m]' < <(python3 - "$dir" <<'EOF'
import base64, hashlib, hmac, os, sys, time

d = sys.argv[1]
secret = open(d + "/whsec", "rb").read().strip()
t = str(int(time.time())).encode()
sigs = []

for name, size in (("1k", 1024), ("1m", 1 << 20)):
    head, tail = b'{"type":"bench","pad":"', b'"}'
    pad = base64.urlsafe_b64encode(os.urandom(size))
    body = head + pad[:size - len(head) - len(tail)] + tail
    assert len(body) == size

    with open(f"{d}/body.{name}", "wb") as f:
        f.write(body)
    with open(f"{d}/tampered.{name}", "wb") as f:
        f.write(body.replace(b'"bench"', b'"Bench"', 1))

    mac = hmac.new(secret, t + b"." + body, hashlib.sha256).hexdigest()
    sigs.append(f"t={t.decode()},v1={mac}")

print(*sigs)
EOF
)
[ -n "${sigs[1m]}" ] || die "cannot sign the bodies"

# wrk sends the same request every time: it is built once, from these
cat > "$dir/post.lua" <<'EOF'
local f = assert(io.open(os.getenv("BODY"), "rb"))
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "application/json"
wrk.headers["X-V3XY-Signature"] = os.getenv("SIGNATURE")
EOF

read -r p_back p_plain p_verify < <(free_ports 3)

# /mem/ keeps a 1 MiB body in one memory buffer, /file/ (16k, nginx's own
# default on 64-bit) writes anything larger than 16 KiB to a temporary file:
# proxy_pass then sends it from there, and the verification reads it back.
# There nginx warns of every such body: its error log is kept at error, so
# that a log line per request is neither measured nor reported.
nginx_conf "$dir" <<EOF
    client_max_body_size 2m;

    upstream backend {
        server 127.0.0.1:$p_back;
        keepalive 32;
    }

    # no location sets proxy_set_header, so this one reaches all of them
    proxy_http_version 1.1;
    proxy_set_header Connection "";

    # return answers without waiting for the body and drains it
    # afterwards, the same for both fronts; a front must have handed the
    # whole body over before the answer comes, which run checks
    server {
        listen 127.0.0.1:$p_back;

        location / { return 200 "ok\n"; }

        # the serial number of this connection: how many nginx has opened
        location = /serial { return 200 "\$connection\n"; }
    }

    server {
        listen 127.0.0.1:$p_plain;

        location /mem/ {
            client_body_buffer_size 2m;
            proxy_pass http://backend;
        }

        location /file/ {
            client_body_buffer_size 16k;
            error_log $dir/error.log error;
            proxy_pass http://backend;
        }
    }

    server {
        listen 127.0.0.1:$p_verify;

        v3xy_webhook_secret_file $dir/whsec;
        v3xy_webhook_tolerance 1h;
        v3xy_webhook_replay off;

        location /mem/ {
            client_body_buffer_size 2m;
            proxy_pass http://backend;
        }

        location /file/ {
            client_body_buffer_size 16k;
            error_log $dir/error.log error;
            proxy_pass http://backend;
        }
    }
EOF

start_nginx "$dir"

# a worker that crashes after its answer only shows in the log
alive() {
    ! grep -qE '\[(alert|crit|emerg)\]' "$dir/error.log" \
        || die "$1: nginx logged alerts (a worker crashed?)"
}

# post PORT PATH BODY SIGNATURE: the status of one delivery
post() {
    curl -sS -o /dev/null -w '%{http_code}' -H 'Expect:' \
         -H 'Content-Type: application/json' -H "X-V3XY-Signature: $4" \
         --data-binary "@$3" "http://127.0.0.1:$1$2"
}

# The comparison only means something if the verify front really checks
# the body on each path: the signed delivery passes, one changed byte is
# refused; plain nginx passes both.
for c in /mem/:1k /mem/:1m /file/:1m; do
    path=${c%:*} name=${c#*:}

    [ "$(post "$p_verify" "$path" "$dir/body.$name" "${sigs[$name]}")" \
        = 200 ] || die "verify $path: the signed $name body was not admitted"
    [ "$(post "$p_verify" "$path" "$dir/tampered.$name" "${sigs[$name]}")" \
        = 401 ] || die "verify $path: the tampered $name body was not refused"
    [ "$(post "$p_plain" "$path" "$dir/body.$name" "${sigs[$name]}")" \
        = 200 ] || die "plain $path: the $name body was not proxied"
    alive "checks of $path with the $name body"
done

echo "$("$nginx" -v 2>&1), $(basename "$module"), $(openssl version)"
echo "backend :$p_back, plain :$p_plain, verify :$p_verify;" \
     "$ROUNDS rounds of wrk -t$THREADS -d$DURATION per body"

serial() {
    curl -sS "http://127.0.0.1:$p_back/serial" || die "backend: no serial"
}

# the one worker serves both fronts and the backend
worker=$(pgrep -P "$(cat "$dir/nginx.pid")") || die "no nginx worker"
hz=$(getconf CLK_TCK)

# its CPU time so far, user and system, in clock ticks
ticks() {
    awk '{ print $14 + $15 }' "/proc/$worker/stat" \
        || die "the nginx worker is gone"
}

# run NAME PORT: one wrk run of the current case; sets rps, and cpu (the
# worker's microseconds per request)
run() {
    local out reqs non2xx sockerr before opened t0

    before=$(serial) t0=$(ticks)
    out=$(BODY=$body SIGNATURE=$signature \
          wrk -t"$THREADS" -c"$conns" -d"$DURATION" -s "$dir/post.lua" \
              "http://127.0.0.1:$2$path") || die "$1: wrk failed"
    cpu=$(( ($(ticks) - t0) * 1000000 / hz ))
    opened=$(( $(serial) - before - 1 ))

    wrk_figures "$out"

    if [ -z "$rps" ] || [ -z "$reqs" ]; then
        die "$1: cannot parse wrk: $out"
    fi
    [ "$reqs" -gt 0 ] || die "$1: no request completed"
    cpu=$(( cpu / reqs ))
    alive "$1"
    # wrk counts 4xx and 5xx here; the backend never redirects
    [ -z "$non2xx" ] || die "$1: $non2xx non-2xx responses"
    [ -z "$sockerr" ] || die "$1: socket errors: $sockerr"

    # A front drops its upstream connection when the answer comes before
    # it has sent the whole body: then it did less than proxy the body.
    # With keepalive held only wrk's connections, their renewals every
    # 1000 requests and the first upstream ones are new.
    [ "$opened" -le $(( reqs / 10 + 4 * conns )) ] \
        || die "$1: $opened connections for $reqs requests: keepalive broke"
}

# MiB/s of body for a rate of requests
mibs() {
    awk -v r="$1" -v s="$size" 'BEGIN { printf "%.1f", r * s / 1048576 }'
}

summary=()

# bench LABEL PATH SIZE_NAME BYTES CONNECTIONS
bench() {
    local label=$1 i plain verify ratio cost pcpu vcpu
    local ratios=() plains=() verifies=() pcpus=() vcpus=() costs=()

    path=$2 body=$dir/body.$3 signature=${sigs[$3]} size=$4 conns=$5

    echo
    echo "$label: wrk -t$THREADS -c$conns -d$DURATION, POST $path"

    run plain "$p_plain"        # warm-up, not counted
    run verify "$p_verify"

    printf '%-6s %10s %10s %7s %13s %22s\n' round plain/s verify/s ratio \
           'verify MiB/s' 'CPU us/req plain verify'

    for i in $(seq "$ROUNDS"); do
        # swap the order every round, so that a drift favours neither
        if [ $((i % 2)) -eq 1 ]; then
            run plain "$p_plain";   plain=$rps  pcpu=$cpu
            run verify "$p_verify"; verify=$rps vcpu=$cpu
        else
            run verify "$p_verify"; verify=$rps vcpu=$cpu
            run plain "$p_plain";   plain=$rps  pcpu=$cpu
        fi

        ratio=$(awk -v v="$verify" -v p="$plain" \
                    'BEGIN { printf "%.3f", v / p }')
        printf '%-6s %10s %10s %7s %13s %15s %6s\n' "$i" "$plain" "$verify" \
               "$ratio" "$(mibs "$verify")" "$pcpu" "$vcpu"
        ratios+=("$ratio") plains+=("$plain") verifies+=("$verify")
        pcpus+=("$pcpu") vcpus+=("$vcpu") costs+=($((vcpu - pcpu)))
    done

    plain=$(median "${plains[@]}") verify=$(median "${verifies[@]}")
    printf '%-6s %10.2f %10.2f %7s %13s %15.0f %6.0f\n' median "$plain" \
           "$verify" '' "$(mibs "$verify")" "$(median "${pcpus[@]}")" \
           "$(median "${vcpus[@]}")"

    ratio=$(median "${ratios[@]}")
    cost=$(median "${costs[@]}")
    echo "ratio verify/plain (median of $ROUNDS): $ratio"
    # as a rate of body per core where the body outweighs what every
    # request costs (header, MAC setup): comparable to openssl speed
    awk -v c="$cost" -v s="$size" 'BEGIN {
        printf "verification: %+.0f us of CPU per request (median of the " \
               "per-round differences)", c
        if (c > 0 && s >= 65536) printf ", %.0f MiB/s of body per core", s / c
        printf "\n" }'
    summary+=("$(printf '  %-26s %12s %+11.0f' "$label" "$ratio" "$cost")")
}

bench "1 KiB body"                 /mem/  1k 1024    "$CONNECTIONS_1K"
bench "1 MiB body, in memory"      /mem/  1m 1048576 "$CONNECTIONS_1M"
bench "1 MiB body, temporary file" /file/ 1m 1048576 "$CONNECTIONS_1M"

# config-time notices land here too (before error_log applies): skip them
warnings=$(grep -E '\[(warn|error)\]' "$dir/error.log" | head -n 20) || true
[ -z "$warnings" ] || printf '\nerror.log:\n%s\n' "$warnings" | sed '3,$s/^/  /'

echo
echo "medians of the per-round figures (no non-2xx response):"
printf '  %-26s %12s %11s\n' '' verify/plain 'CPU us/req'
printf '%s\n' "${summary[@]}"
