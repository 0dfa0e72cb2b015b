#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
#
# bench/failover.sh NGINX MODULE_SO      (make bench)
#
# Latency while the primary is black-holed (a listener on loopback whose
# accept queue is full: the kernel drops the SYNs, connect() times out),
# with and without v3xy_backup's circuit breaker, in one run; and, for
# reference, plain nginx proxying straight to the backup.  wrk --latency
# prints the percentiles; the table at the end has p50, p90, p99.
#
# Environment: DURATION (10s, at most 5m), CONNECTIONS (10),
# CONNECT_TIMEOUT (1s).

set -euo pipefail

usage="usage: bench/failover.sh NGINX MODULE_SO"
nginx=${1:?$usage}
module=${2:?$usage}
DURATION=${DURATION:-10s}
CONNECTIONS=${CONNECTIONS:-10}
CONNECT_TIMEOUT=${CONNECT_TIMEOUT:-1s}

# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

key=v3xy_dev_$(python3 -c 'import secrets; print(secrets.token_urlsafe(24))')
(umask 077; printf '%s\n' "$key" > "$dir/api_key")

# the black hole: backlog 0, its queue filled by our own connections; it
# lives as long as this script (the python process holds the sockets)
python3 - "$dir/hole.port" <<'PY' &
import socket, sys, time
srv = socket.socket()
srv.bind(("127.0.0.1", 0))
srv.listen(0)
port = srv.getsockname()[1]
fill = []
for _ in range(8):
    c = socket.socket()
    c.setblocking(False)
    try:
        c.connect(("127.0.0.1", port))
    except BlockingIOError:
        pass
    fill.append(c)
open(sys.argv[1], "w").write(str(port))
time.sleep(3600)
PY
echo $! > "$dir/hole.pid"
stops+=("$dir/hole.pid")

for _ in $(seq 50); do
    [ -s "$dir/hole.port" ] && break
    sleep 0.1
done
p_hole=$(cat "$dir/hole.port") || die "no black hole"

read -r p_back p_plain p_nobreaker p_breaker < <(free_ports 4)

nginx_conf "$dir" <<EOF
    upstream hole   { server 127.0.0.1:$p_hole; }
    upstream backup { server 127.0.0.1:$p_back; keepalive 32; }

    proxy_http_version 1.1;
    proxy_set_header Connection "";
    proxy_connect_timeout $CONNECT_TIMEOUT;

    # the backup
    server {
        listen 127.0.0.1:$p_back;
        location / { return 200 "backup\n"; }
    }

    # reference: plain nginx, straight to the backup
    server {
        listen 127.0.0.1:$p_plain;
        location / { proxy_pass http://backup; }
    }

    server {
        listen 127.0.0.1:$p_nobreaker;
        location / {
            v3xy_api_key_file $dir/api_key;
            proxy_pass http://hole;
            v3xy_backup http://backup fails=0;
        }
    }

    server {
        listen 127.0.0.1:$p_breaker;
        location / {
            v3xy_api_key_file $dir/api_key;
            proxy_pass http://hole;
            v3xy_backup http://backup fails=5 cooldown=600s;
        }
    }
EOF

start_nginx "$dir"

# the front must answer through the backup, and the hole must hold
body=$(curl -sS -m 10 "http://127.0.0.1:$p_nobreaker/") || die "no answer"
[ "$body" = backup ] || die "the front without breaker answered: $body"
! curl -sS -m 2 -o /dev/null "http://127.0.0.1:$p_hole/" 2>/dev/null \
    || die "the black hole answered"

echo "$("$nginx" -v 2>&1), $(basename "$module")"
echo "wrk -t1 -c$CONNECTIONS -d$DURATION --latency," \
     "proxy_connect_timeout $CONNECT_TIMEOUT, primary black-holed"

declare -A p50 p90 p99 rps

run() {
    local out

    out=$(wrk -t1 -c"$CONNECTIONS" -d"$DURATION" --timeout 10s --latency \
              "http://127.0.0.1:$2/") || die "$1: wrk failed"

    ! grep -q 'Non-2xx' <<< "$out" || die "$1: non-2xx responses: $out"

    p50[$1]=$(awk '$1 == "50%" { print $2 }' <<< "$out")
    p90[$1]=$(awk '$1 == "90%" { print $2 }' <<< "$out")
    p99[$1]=$(awk '$1 == "99%" { print $2 }' <<< "$out")
    rps[$1]=$(awk '$1 == "Requests/sec:" { print $2 }' <<< "$out")
}

run plain "$p_plain"
run no_breaker "$p_nobreaker"
run breaker "$p_breaker"        # opens the breaker in its first second
run open "$p_breaker"           # the breaker is open all along

printf '%-34s %10s %10s %10s %10s\n' front p50 p90 p99 req/s
for f in plain no_breaker breaker open; do
    case $f in
    plain)      name="plain nginx, straight to backup" ;;
    no_breaker) name="v3xy_backup fails=0 (no breaker)" ;;
    breaker)    name="breaker fails=5, run that opens it" ;;
    open)       name="breaker fails=5, open" ;;
    esac
    printf '%-34s %10s %10s %10s %10s\n' "$name" "${p50[$f]}" "${p90[$f]}" \
           "${p99[$f]}" "${rps[$f]}"
done

echo "(wrk corrects for coordinated omission: a 1 s request stands for the"
echo " requests a steady client would have sent meanwhile; hence the tail of"
echo " the run that opens the breaker)"

grep -q 'breaker open:' "$dir/error.log" || die "the breaker never opened"
echo "primary connect timeouts: $(grep -c 'timed out' "$dir/error.log")," \
     "breaker openings: $(grep -c 'breaker open:' "$dir/error.log")"
