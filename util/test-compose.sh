#!/bin/sh
# Validate docker/compose.yaml with Debian's docker-compose ("config" needs
# no engine) and check that what it resolves to is the sidecar pattern:
# Redis; two sidecars of the image that share that Redis and hold the key;
# an app in each sidecar's network namespace that calls 127.0.0.1 and does
# not hold the key.
#
#   util/test-compose.sh BUILD_DIR
#
# Running it is not tried here: podman-compose 1.0.3 (Debian 12) has no
# "config", passes network_mode "service:..." to podman unchanged (podman
# wants "container:...") and adds the project network to every container,
# host network included; and a compose network is a bridge with private
# addresses, which our machines do not use.  util/test-image.sh runs the
# same pattern with podman instead.
set -eu

here=$(cd "$(dirname "$0")/.." && pwd)
out=$(mkdir -p "$1/compose-test" && cd "$1/compose-test" && pwd)

docker-compose -f "$here/docker/compose.yaml" config > "$out/config.yaml" \
    2> "$out/config.err" || {
        cat "$out/config.err" >&2
        echo "not ok - docker-compose config: docker/compose.yaml is invalid" >&2
        exit 1
    }
echo "ok 1 - docker-compose config: docker/compose.yaml is valid"

/usr/bin/python3 - "$out/config.yaml" <<'EOF'
import sys, yaml

services = yaml.safe_load(open(sys.argv[1]))["services"]
sidecars = [n for n, s in services.items() if "build" in s]
apps = [n for n, s in services.items() if n.startswith("app-")]

def check(cond, what):
    if not cond:
        print("not ok - docker/compose.yaml: " + what, file=sys.stderr)
        sys.exit(1)

check("redis" in services, "no redis service")
check(len(sidecars) == 2, "not two sidecars: %s" % sidecars)
redis = {services[s]["environment"].get("V3XY_REDIS") for s in sidecars}
check(len(redis) == 1 and list(redis)[0].startswith("redis:"),
      "the sidecars do not share one Redis: %s" % redis)
for s in sidecars:
    svc = services[s]
    check(svc["build"]["dockerfile"] == "docker/Dockerfile", s + ": build")
    check([x["source"] for x in svc.get("secrets", [])] == ["v3xy_api_key"],
          s + ": no key")
check(len(apps) == 2, "not two apps: %s" % apps)
for a in apps:
    svc = services[a]
    check(svc.get("network_mode", "").startswith("service:sidecar-"),
          a + ": not in a sidecar's network namespace")
    check("127.0.0.1" in svc["environment"].get("V3XY_SIDECAR", ""),
          a + ": does not call the sidecar on 127.0.0.1")
    check(not svc.get("secrets"), a + ": holds the key")
print("ok 2 - redis, two sidecars sharing it with the key, two apps in their"
      " network namespaces without it")
EOF
echo "compose-test: 2 passed, 0 failed"
