#!/bin/bash
# HEALTHCHECK of the sidecar image: GET /healthz must answer 200 within
# two seconds.  bash's /dev/tcp, so that the image needs no HTTP client.
set -eu

listen=${V3XY_LISTEN:-8080}
port=${listen##*:}
addr=127.0.0.1
case "$listen" in
*:*) addr=${listen%:*} ;;
esac
[ "$addr" = 0.0.0.0 ] && addr=127.0.0.1

exec 3<>"/dev/tcp/$addr/$port"
printf 'GET /healthz HTTP/1.0\r\nHost: localhost\r\n\r\n' >&3
read -r -t 2 _ status _ <&3
[ "$status" = 200 ]
