#!/bin/sh
# Test the sidecar image from outside, with podman, on the host's network
# (loopback addresses only, free ports):
#
#   util/test-image.sh IMAGE BASE_IMAGE BUILD_DIR SUITE
#
# SUITE: the Debian release of BASE_IMAGE (bookworm, trixie); the test kit
# is built on the same base, as localhost/v3xy-testkit:SUITE, and the
# image must be of that release.
# Redis in a container (the test kit image, docker/testkit.Dockerfile),
# two sidecar containers that share it, an echo server on the host as the
# API.  Checks: the image's defaults pass "nginx -t"; no compiler or
# headers in the image; nginx runs as www-data; the health check answers;
# the key is injected (a client's key dropped), also for an app container in
# the sidecar's network namespace (docker/compose.yaml's pattern); a
# browser's request gets the 403 JSON; with the primary down, the backup
# answers; the rate limit is shared by the two (exactly 60 of 70 admitted
# across both); the key rotated under traffic, as a Kubernetes secret
# volume swaps it, reloads nginx within seconds (every request answered, a
# request in flight finished with the old key, then only the new key
# sent), a broken key file leaves it running and says so; the key appears
# in no log; "podman stop" ends nginx gracefully within seconds.
set -eu

usage="usage: $0 IMAGE BASE_IMAGE BUILD_DIR SUITE"
image=${1:?$usage}
base=${2:?$usage}
build=${3:?$usage}
suite=${4:?$usage}
here=$(cd "$(dirname "$0")/.." && pwd)
. "$here/util/podman.sh"

testkit=localhost/v3xy-testkit:$suite
tmp=$(mkdir -p "$build/docker-test-$suite" && cd "$build/docker-test-$suite" \
      && pwd)
# V3XY_TEST_NAME: the containers' prefix, for runs side by side
ctr=${V3XY_TEST_NAME:-v3xy-test-$suite}
echo_pid=
traffic_pid=
upload_pid=

pass=0
ok()   { pass=$((pass + 1)); echo "ok $pass - $*"; }
fail() { echo "not ok - $*" >&2; exit 1; }

cleanup() {
    rc=$?
    if [ $rc != 0 ]; then
        for c in a b c d; do
            echo "--- podman logs $ctr-$c (last 20 lines)" >&2
            pm logs "$ctr-$c" 2>&1 | tail -n 20 >&2 || true
        done
    fi
    rm_containers
    for p in $echo_pid $traffic_pid $upload_pid; do
        kill "$p" 2>/dev/null
    done
    exit $rc
}
# one by one: Debian 12's podman 4.3 removes none of the names ("rm -f",
# exit 0) when one of them does not exist, as after an early failure
rm_containers() {
    for c in a b c d redis; do
        pm rm -f -t 0 "$ctr-$c" > /dev/null 2>&1 || true
    done
}

trap cleanup EXIT
trap 'exit 1' INT TERM

free_port() {
    perl -MIO::Socket::INET -e 'print IO::Socket::INET->new(Listen => 1,
        LocalAddr => "127.0.0.1", LocalPort => 0)->sockport, "\n"'
}

# GET or POST through a sidecar: prints the status; the body in $tmp/body
req() {
    port=$1; shift
    curl -s -o "$tmp/body" -w '%{http_code}' --max-time 5 "$@" \
        "http://127.0.0.1:$port$path" || true
}

# containers left by an interrupted run
rm_containers

# podman's flags ($pm_*): a list, split on purpose
# shellcheck disable=SC2086
pm build $pm_build_flags --build-arg BASE="$base" \
    -f "$here/docker/testkit.Dockerfile" -t "$testkit" "$here/docker" \
    > "$tmp/testkit-build.log" 2>&1 || {
        tail -n 20 "$tmp/testkit-build.log" >&2; fail "test kit image"; }

# the key, as an operator mounts it: readable by the image's user only
key="v3xy_dev_ImageTest_$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')"
secret=${key#v3xy_dev_}
rm -f "$tmp/api_key"
(umask 077; printf '%s\n' "$key" > "$tmp/api_key")
chown 33:33 "$tmp/api_key"

# podman (no systemd here) prints errors about timers for HEALTHCHECKs:
# they go to $tmp/*.err
# the image as it is: default settings, "nginx -t"
# podman's flags ($pm_*): a list, split on purpose
# shellcheck disable=SC2086
pm run --rm $pm_run_flags -v "$tmp/api_key:/run/secrets/v3xy_api_key:ro" \
    "$image" -q -t > "$tmp/nginx-t.log" 2>&1 || {
        cat "$tmp/nginx-t.log" >&2; fail "nginx -t with the defaults"; }
ok "nginx -t of the image's configuration, default settings"

# the release the image was asked for: its os-release and its nginx
# $pm_run_flags: a list of flags, split on purpose; the script in single
# quotes is expanded by the container's shell, not this one
# shellcheck disable=SC2086,SC2016
release=$(pm run --rm $pm_run_flags --entrypoint /bin/sh "$image" -c \
    '. /etc/os-release; echo "$VERSION_CODENAME $(cat /etc/debian_version)" \
        "$(nginx -v 2>&1)"' 2> "$tmp/release.err") || {
        cat "$tmp/release.err" >&2; fail "the image's release"; }
[ "${release%% *}" = "$suite" ] || fail "the image is not $suite: $release"
ok "the image is Debian $release"

# $pm_run_flags: a list of flags, split on purpose; the script in single
# quotes is expanded by the container's shell, not this one
# shellcheck disable=SC2086,SC2016
pm run --rm $pm_run_flags --entrypoint /bin/sh "$image" -c '
    for c in cc gcc g++ c++ cpp clang ld as make; do
        command -v $c && exit 1
    done
    # headers come in -dev packages (iproute2 ships one, bpf_elf.h)
    [ -e /usr/include/stdio.h ] && exit 1
    dpkg-query -W -f "\${Package}\n" | grep -E -- "-dev(:|\$)" && exit 1
    exit 0' > "$tmp/tools.log" 2>&1 || {
        cat "$tmp/tools.log" >&2; fail "a compiler or headers in the image"; }
ok "no compiler, no headers, no -dev package in the image"

# Redis, then the API, then two sidecars that share that Redis
redis_port=$(free_port)
# podman's flags ($pm_*): a list, split on purpose
# shellcheck disable=SC2086
pm run -d --name "$ctr-redis" $pm_run_flags "$testkit" \
    redis-server --bind 127.0.0.1 --port "$redis_port" --save '' \
    --appendonly no > /dev/null 2>> "$tmp/podman.err"
for i in $(seq 50); do
    [ "$(pm exec "$ctr-redis" redis-cli -p "$redis_port" ping 2>/dev/null)" \
        = PONG ] && break
    [ "$i" = 50 ] && fail "Redis in a container did not answer"
    sleep 0.1
done

perl -I"$here/t/lib" -MV3xy=start_echo -e '
    $SIG{TERM} = sub { exit 0 };
    $| = 1;
    print start_echo(), "\n";
    sleep 3600;' > "$tmp/echo.port" &
echo_pid=$!
for i in $(seq 50); do
    [ -s "$tmp/echo.port" ] && break
    sleep 0.1
done
echo_port=$(cat "$tmp/echo.port")
[ -n "$echo_port" ] || fail "echo server"

# sidecar NAME PORT [podman run arguments]: the key mounted, on 127.0.0.1
sidecar() {
    name=$1 port=$2
    shift 2
    # podman's flags ($pm_*): a list, split on purpose
    # shellcheck disable=SC2086
    pm run -d --name "$ctr-$name" $pm_run_flags \
        -v "$tmp/api_key:/run/secrets/v3xy_api_key:ro" \
        -e V3XY_LISTEN="127.0.0.1:$port" "$@" \
        "$image" > /dev/null 2> "$tmp/run-$name.log"
}

port_a=$(free_port)
port_b=$(free_port)
for c in "a $port_a" "b $port_b"; do
    # $c: the name and the port, split on purpose
    # shellcheck disable=SC2086
    sidecar $c \
        -e V3XY_API_URL="http://127.0.0.1:$echo_port" \
        -e V3XY_BACKUP_URL=off \
        -e V3XY_REDIS="127.0.0.1:$redis_port timeout=500ms"
done

for c in a b; do
    for i in $(seq 50); do
        pm healthcheck run "$ctr-$c" > /dev/null 2>&1 && break
        [ "$i" = 50 ] && fail "$ctr-$c: the health check does not pass"
        sleep 0.1
    done
done
ok "two sidecars answer their HEALTHCHECK (podman healthcheck run)"

path=/healthz
{ [ "$(req "$port_a")" = 200 ] && grep -q '"success":true' "$tmp/body"; } \
    || fail "GET /healthz"
ok "GET /healthz from outside: 200"

for c in a b; do
    users=$(pm top "$ctr-$c" user | sed 1d | sort -u | tr '\n' ' ')
    [ "$users" = "www-data " ] || fail "$ctr-$c: nginx runs as: $users"
done
ok "nginx (master and workers) runs as www-data, not root"

path='/v1/developer/payment-status?payment_ref=cp_1'
status=$(req "$port_a" -H 'X-V3XY-API-Key: v3xy_dev_ClientSentKey_000000000')
[ "$status" = 200 ] || fail "GET through the sidecar: $status"
{ [ "$(grep -ci '^x-v3xy-api-key:' "$tmp/body")" = 1 ] \
    && grep -q "^X-V3XY-API-Key: $key" "$tmp/body"; } \
    || fail "the key is not what the API got: $(cat "$tmp/body")"
ok "the key from the secret is injected, the client's key dropped"

# the app of docker/compose.yaml: in the sidecar's network namespace, no key
# podman's flags ($pm_*): a list, split on purpose
# shellcheck disable=SC2086
pm run --rm $pm_limits --network "container:$ctr-a" "$testkit" \
    curl -s --max-time 5 "http://127.0.0.1:$port_a$path" > "$tmp/app.txt" \
    2> "$tmp/app.err" || {
        cat "$tmp/app.err" >&2; fail "an app container calling the sidecar"; }
grep -q "^X-V3XY-API-Key: $key" "$tmp/app.txt" \
    || fail "the app's request got no key: $(cat "$tmp/app.txt")"
ok "an app container in the sidecar's network namespace: key added"

status=$(req "$port_b" -H 'Origin: https://shop.example')
{ [ "$status" = 403 ] \
    && grep -q '"code":"api_key_origin"' "$tmp/body"; } \
    || fail "browser request: $status $(cat "$tmp/body")"
ok "a request with Origin: 403 api_key_origin (JSON)"

path=/v1/developer/payments/crypto
admitted=0 refused=0
for i in $(seq 35); do
    for port in "$port_a" "$port_b"; do
        case $(req "$port" -X POST -d '{}' \
                   -H 'Content-Type: application/json') in
        200) admitted=$((admitted + 1)) ;;
        429) refused=$((refused + 1)) ;;
        *)   fail "POST $path: $(cat "$tmp/body")" ;;
        esac
    done
done
{ [ "$admitted" = 60 ] && [ "$refused" = 10 ]; } \
    || fail "shared limit: $admitted admitted, $refused refused of 70"
pm exec "$ctr-redis" redis-cli -p "$redis_port" --scan \
    --pattern 'v3xy:{payments_create:*' | grep -q . \
    || fail "no payments_create key in Redis"
ok "70 requests across both sidecars: 60 admitted, 10 refused (in Redis)"

# a third sidecar whose primary is down: the backup (the echo server) gets
# the request, with the key
port_c=$(free_port)
sidecar c "$port_c" -e V3XY_API_URL="http://127.0.0.1:$(free_port)" \
    -e V3XY_BACKUP_URL="http://127.0.0.1:$echo_port"
for i in $(seq 50); do
    pm healthcheck run "$ctr-c" > /dev/null 2>&1 && break
    [ "$i" = 50 ] && fail "$ctr-c: the health check does not pass"
    sleep 0.1
done
path='/v1/developer/payment-status?payment_ref=cp_2'
{ [ "$(req "$port_c")" = 200 ] \
    && grep -q "^X-V3XY-API-Key: $key" "$tmp/body"; } \
    || fail "failover to V3XY_BACKUP_URL: $(cat "$tmp/body")"
pm logs "$ctr-c" 2>&1 | grep -q 'cp_2 .* 200 .*via=backup failover=connect' \
    || fail "failover: no access log line via=backup"
ok "primary down: the backup (V3XY_BACKUP_URL) answers, with the key"

# key rotation.  A secret volume as Kubernetes writes it: the key a
# symlink into ..data, ..data a symlink to the current version's directory,
# swapped at once by a rename.
newkey() { echo "v3xy_dev_Rotation$1_$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')"; }
# the fingerprint ($v3xy_key_id): the first 12 hex digits of its SHA-256
fp() { echo "v3xy_dev_...$(printf '%s' "$1" | sha256sum | cut -c1-12)"; }
vol=$tmp/secrets
version() {
    mkdir -m 0700 "$vol/..$1"
    (umask 077; printf '%s\n' "$2" > "$vol/..$1/v3xy_api_key")
    chown -R 33:33 "$vol/..$1"
}
swap() {
    ln -s "..$1" "$vol/..data_tmp"
    mv -T "$vol/..data_tmp" "$vol/..data"
}
key1=$(newkey 1)
key2=$(newkey 2)
key3=$(newkey 3)
rm -rf "$vol"
mkdir -m 0755 "$vol"
version v1 "$key1"
ln -s ..v1 "$vol/..data"
ln -s ..data/v3xy_api_key "$vol/v3xy_api_key"

port_d=$(free_port)
# podman's flags ($pm_*): a list, split on purpose
# shellcheck disable=SC2086
pm run -d --name "$ctr-d" $pm_run_flags -v "$vol:/run/secrets:ro" \
    -e V3XY_LISTEN="127.0.0.1:$port_d" \
    -e V3XY_API_URL="http://127.0.0.1:$echo_port" -e V3XY_BACKUP_URL=off \
    "$image" > /dev/null 2> "$tmp/run-d.log"
for i in $(seq 50); do
    pm healthcheck run "$ctr-d" > /dev/null 2>&1 && break
    [ "$i" = 50 ] && fail "$ctr-d: the health check does not pass"
    sleep 0.1
done

# traffic: one request after another, each line "START_MS STATUS KEY"
now_ms() { echo $(($(date +%s%N) / 1000000)); }
: > "$tmp/traffic.txt"
rm -f "$tmp/traffic.stop"
(
    while [ ! -e "$tmp/traffic.stop" ]; do
        t=$(now_ms)
        st=$(curl -s -o "$tmp/traffic.body" -w '%{http_code}' --max-time 5 \
                 "http://127.0.0.1:$port_d/v1/developer/rotation" || true)
        k=$(tr -d '\r' < "$tmp/traffic.body" \
            | sed -n 's/^X-V3XY-API-Key: //p')
        echo "$t $st ${k:--}" >> "$tmp/traffic.txt"
    done
) &
traffic_pid=$!
lines() { wc -l < "$tmp/traffic.txt"; }
# wait_lines N: N more answers than now
wait_lines() {
    want=$(($(lines) + $1))
    for i in $(seq 100); do
        [ "$(lines)" -ge "$want" ] && return 0
        sleep 0.1
    done
    fail "traffic: no answers"
}
wait_lines 20

# a request in flight across the reload: 96 KB sent at 16 KB/s
head -c 98304 /dev/zero | tr '\0' x > "$tmp/upload.bin"
curl -s -o "$tmp/upload.body" -w '%{http_code}' --max-time 30 \
    --limit-rate 16k --data-binary @"$tmp/upload.bin" \
    "http://127.0.0.1:$port_d/v1/developer/rotation-upload" \
    > "$tmp/upload.status" 2>/dev/null &
upload_pid=$!
sleep 0.5

version v2 "$key2"
swapped=$(now_ms)
swap v2
for i in $(seq 150); do
    grep -q " $key2\$" "$tmp/traffic.txt" && break
    [ "$i" = 150 ] && fail "the new key not sent 15 s after the swap"
    sleep 0.1
done
took=$(($(now_ms) - swapped))
wait "$upload_pid" || true
upload_pid=
{ [ "$(cat "$tmp/upload.status")" = 200 ] \
    && grep -q "^X-V3XY-API-Key: $key1" "$tmp/upload.body"; } \
    || fail "the request in flight: $(cat "$tmp/upload.status")," \
            "$(grep -c "$key2" "$tmp/upload.body") with the new key"
wait_lines 20

# a broken file: nginx keeps the running configuration
version v3 "not-a-developer-key"
swap v3
for i in $(seq 150); do
    pm logs "$ctr-d" 2>&1 | grep -q 'refuses the new file' && break
    [ "$i" = 150 ] && fail "a broken key file: nothing said in 15 s"
    sleep 0.1
done
wait_lines 20

# and a good one after it
version v4 "$key3"
swap v4
for i in $(seq 150); do
    grep -q " $key3\$" "$tmp/traffic.txt" && break
    [ "$i" = 150 ] && fail "the third key not sent 15 s after the swap"
    sleep 0.1
done
wait_lines 20
touch "$tmp/traffic.stop"
wait "$traffic_pid" || true
traffic_pid=

# every request answered 200; each key only until the next one was sent,
# but for the reload's overlap (nginx lets its new workers start for
# 100 ms before it tells the old ones to stop accepting): 1 s
awk -v k1="$key1" -v k2="$key2" -v k3="$key3" '
    $2 != 200     { print "status " $2 " at " $1; bad = 1 }
    $3 == k1      { n1++; last1 = $1 }
    $3 == k2      { n2++; last2 = $1; if (!first2) first2 = $1 }
    $3 == k3      { n3++; if (!first3) first3 = $1 }
    $3 != k1 && $3 != k2 && $3 != k3 { print "key " $3 " at " $1; bad = 1 }
    END {
        if (!n1 || !n2 || !n3) { print "keys sent: " n1 " " n2 " " n3; bad = 1 }
        if (last1 > first2 + 1000) { print "the old key " last1 - first2 " ms after the new"; bad = 1 }
        if (last2 > first3 + 1000) { print "the second key " last2 - first3 " ms after the third"; bad = 1 }
        printf "%d %d %d\n", n1, n2, n3
        exit bad
    }' "$tmp/traffic.txt" > "$tmp/traffic.check" \
    || fail "traffic across the rotations: $(cat "$tmp/traffic.check")"
counts=$(tail -n 1 "$tmp/traffic.check")

pm logs "$ctr-d" > "$tmp/logs-d.txt" 2>&1
grep -q "v3xy-entrypoint: /run/secrets/v3xy_api_key changed: key $(fp "$key2"); reloading nginx" \
    "$tmp/logs-d.txt" || fail "no log of the rotation to $(fp "$key2")"
grep -q "holds key $(fp "$key3")" "$tmp/logs-d.txt" \
    || fail "nginx did not load $(fp "$key3")"
grep -q 'refuses the new file (\[emerg\] v3xy_api_key_file: .*): nginx keeps running with the previous key' \
    "$tmp/logs-d.txt" || fail "the broken file: $(grep refuses "$tmp/logs-d.txt")"
[ "$(grep -c 'reloading nginx' "$tmp/logs-d.txt")" = 2 ] \
    || fail "reloads: $(grep -c 'reloading nginx' "$tmp/logs-d.txt"), not 2"
ok "key rotated under traffic (a Kubernetes-style symlink swap): the new key" \
   "sent $took ms after the swap, a request in flight finished with the" \
   "old, every request 200 (by key: $counts); a broken file refused," \
   "nginx kept the previous key and said so"

for c in a b c d; do
    pm logs "$ctr-$c" > "$tmp/logs-$c.txt" 2>&1
    for s in "$secret" "${key1#v3xy_dev_}" "${key2#v3xy_dev_}" \
             "${key3#v3xy_dev_}"; do
        ! grep -qF "$s" "$tmp/logs-$c.txt" \
            || fail "$ctr-$c: a key is in podman logs"
    done
done
grep -q 'GET /v1/developer/payment-status.* 200 .*key=v3xy_dev_\.\.\.' \
    "$tmp/logs-a.txt" || fail "no access log line in podman logs"
grep -q 'start worker process' "$tmp/logs-a.txt" \
    || fail "no error log in podman logs"
ok "podman logs: access and error log, nothing of the key"

stopped=
for c in a b; do
    start=$(date +%s%N)
    pm stop -t 10 "$ctr-$c" > /dev/null 2>> "$tmp/podman.err"
    ms=$((($(date +%s%N) - start) / 1000000))
    code=$(pm inspect "$ctr-$c" --format '{{.State.ExitCode}}')
    { [ "$code" = 0 ] && [ "$ms" -lt 5000 ]; } \
        || fail "$ctr-$c: podman stop took $ms ms, exit code $code"
    pm logs "$ctr-$c" 2>&1 | grep -q 'gracefully shutting down' \
        || fail "$ctr-$c: no graceful shutdown"
    stopped="$stopped $ms ms"
done
ok "podman stop: graceful (SIGQUIT), exit 0, in$stopped"

echo "docker-test: image $(($(pm image inspect --format '{{.Size}}' \
    "$image") / 1000000)) MB"
echo "docker-test: $pass passed, 0 failed"
