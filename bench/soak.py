#!/usr/bin/env python3
"""bench/soak.py: the traffic of bench/soak.sh, and its verdict.

    soak.py traffic DIR SECONDS PORT_A PORT_B
    soak.py verdict DIR LIMIT GRACE

traffic: threads send mixed requests to the two nginx instances in turn
for SECONDS, each on a new connection with a 5 s timeout, and append one
line per request to DIR/requests:

    <start, s since the epoch> <end> <class> <status> <ok 1|0> <detail>

A request is ok when it was answered in time with a status its class
allows (the classes and their statuses are in CLASSES).  The class
"exact" counts in a zone of LIMIT a window (fail closed) under a key that
changes every BUCKET seconds; its lines carry the bucket.

verdict: reads DIR/requests and DIR/events (lines "<time> redis_down"
and "<time> redis_up" written by soak.sh) and prints, exiting 1 if any
promise broke:
  - requests by class and status, and every one that was not ok;
  - for each bucket of "exact" whose life (and GRACE seconds after a
    Redis restart) saw Redis up throughout: admitted == LIMIT exactly.
"""

import collections
import hashlib
import hmac
import http.client
import json
import os
import random
import sys
import threading
import time

BUCKET = 10
THREADS = 8
PAUSE = 0.005       # s between a thread's requests: about 1,500 a second

# class: (weight, statuses it may get)
CLASSES = {
    "sidecar": (6, {200}),
    "browser": (1, {403}),
    "failover": (2, {200}),
    "exact": (3, {200, 429, 503}),
    "gateway": (4, {200}),
    "bad_key": (1, {403}),
    "no_key": (1, {401}),
    "webhook": (2, {200}),
    "replay": (0, {409}),
    "bad_sig": (1, {401}),
}


def request(port, method, path, headers=None, body=None):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        c.request(method, path, body=body, headers=headers or {})
        r = c.getresponse()
        data = r.read()
        return r.status, r.getheader("Content-Type", ""), data
    finally:
        c.close()


def code_of(data):
    try:
        return json.loads(data).get("code", "-")
    except ValueError:
        return "-"


def traffic(d, seconds, ports):
    secret = open(os.path.join(d, "whsec"), "rb").read().strip()
    key = open(os.path.join(d, "gw_key")).read().strip()
    out = open(os.path.join(d, "requests"), "a", buffering=1)
    lock = threading.Lock()
    end = time.time() + seconds
    names = [n for n, (w, _) in CLASSES.items() for _ in range(w)]

    def one(port, cls, serial):
        """(status, detail) of one request of cls; may raise."""
        if cls == "sidecar":
            s, _, data = request(port, "GET", "/v1/developer/payment-status")
            return s, data.decode(errors="replace").strip()
        if cls == "browser":
            s, _, data = request(port, "GET", "/v1/developer/payment-status",
                                 {"Origin": "https://shop.example",
                                  "Sec-Fetch-Mode": "cors"})
            return s, code_of(data)
        if cls == "failover":
            s, _, data = request(port, "GET", "/v1/flaky")
            return s, data.decode(errors="replace").strip()
        if cls == "exact":
            b = "b%d" % (time.time() // BUCKET)
            s, _, data = request(port, "GET", "/exact/",
                                 {"X-Soak-Bucket": b})
            return s, b if s != 503 else b + ":" + code_of(data)
        if cls == "gateway":
            s, _, data = request(port, "GET", "/gw/payment-status",
                                 {"X-V3XY-API-Key": key})
            return s, code_of(data) if s != 200 else "ok"
        if cls == "bad_key":
            s, _, data = request(port, "GET", "/gw/payment-status",
                                 {"X-V3XY-API-Key":
                                  "v3xy_dev_notinthestore0000000000"})
            return s, code_of(data)
        if cls == "no_key":
            s, _, data = request(port, "GET", "/gw/payment-status")
            return s, code_of(data)
        if cls == "bad_sig":
            body = b'{"type":"payment.confirmed","n":%d}' % serial
            t = str(int(time.time())).encode()
            mac = hmac.new(b"not the secret", t + b"." + body,
                           hashlib.sha256).hexdigest()
            s, _, data = request(port, "POST", "/webhooks/v3xy",
                                 {"X-V3XY-Signature": "t=%s,v1=%s"
                                  % (t.decode(), mac),
                                  "Content-Type": "application/json"}, body)
            return s, code_of(data)
        raise ValueError(cls)

    def log(t0, cls, status, ok, detail):
        with lock:
            out.write("%.3f %.3f %s %s %d %s\n"
                      % (t0, time.time(), cls, status, ok, detail))

    def worker(n):
        rnd = random.Random(n)
        serial = n * 10 ** 9
        while time.time() < end:
            time.sleep(PAUSE)
            serial += 1
            cls = rnd.choice(names)
            port = ports[serial % 2]
            if cls == "webhook":
                # a fresh delivery, then the same again at the other
                # instance: accepted once, refused as a replay
                body = (b'{"type":"payment.confirmed","id":"%d-%d"}'
                        % (serial, time.time_ns()))
                t = str(int(time.time())).encode()
                mac = hmac.new(secret, t + b"." + body,
                               hashlib.sha256).hexdigest()
                h = {"X-V3XY-Signature": "t=%s,v1=%s" % (t.decode(), mac),
                     "Content-Type": "application/json"}
                for c, p in (("webhook", port), ("replay", ports[1 - serial % 2])):
                    t0 = time.time()
                    try:
                        s, _, data = request(p, "POST", "/webhooks/v3xy",
                                             h, body)
                        log(t0, c, s, s in CLASSES[c][1], code_of(data)
                            if s != 200 else "ok")
                    except Exception as e:
                        log(t0, c, "-", 0, type(e).__name__)
                continue
            t0 = time.time()
            try:
                s, detail = one(port, cls, serial)
                log(t0, cls, s, s in CLASSES[cls][1], detail or "-")
            except Exception as e:
                log(t0, cls, "-", 0, type(e).__name__)

    ts = [threading.Thread(target=worker, args=(i,)) for i in range(THREADS)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()


def verdict(d, limit, grace):
    down = []
    start = None
    for line in open(os.path.join(d, "events")):
        t, what = line.split()[:2]
        if what == "redis_down":
            start = float(t)
        elif what == "redis_up" and start is not None:
            down.append((start, float(t) + grace))
            start = None
    if start is not None:
        down.append((start, float("inf")))

    def redis_was_down(a, b):
        return any(x < b and a < y for x, y in down)

    by = collections.Counter()
    bad = []
    buckets = collections.defaultdict(collections.Counter)
    span = {}
    # a replay that passed is only a broken promise if the mark of its
    # delivery was not lost with a Redis that went away in between
    for line in open(os.path.join(d, "requests")):
        f = line.split(None, 5)
        t0, t1, cls, status, ok = float(f[0]), float(f[1]), f[2], f[3], f[4]
        detail = f[5].strip() if len(f) > 5 else ""
        by[(cls, status)] += 1
        if cls == "replay" and status == "200" and redis_was_down(t0 - 6, t1 + 0.1):
            by[("replay passed: Redis down/restarted", status)] += 1
            ok = "1"
        if ok != "1":
            bad.append(line.strip())
        if cls == "exact" and status == "503":
            # fail closed: only while Redis is away, and only this code
            detail, code = (detail.split(":", 1) + ["-"])[:2]
            if code != "rate_limit_unavailable":
                bad.append(line.strip())
            elif redis_was_down(t0 - 1, t1):
                by[("exact 503: Redis down", status)] += 1
            else:
                by[("exact 503: Redis up, reconnecting", status)] += 1
        if cls == "exact":
            buckets[detail][status] += 1
            a, b = span.get(detail, (t0, t1))
            span[detail] = (min(a, t0), max(b, t1))

    print("requests by class and status:")
    for (cls, status), n in sorted(by.items()):
        print("  %-34s %-4s %8d" % (cls, status, n))
    total = sum(by.values())
    print("requests: %d, not answered as promised: %d" % (total, len(bad)))
    for line in bad[:20]:
        print("  " + line)

    exact = inexact = skipped = 0
    for b, c in sorted(buckets.items()):
        n = int(b[1:])
        a, z = n * BUCKET, (n + 1) * BUCKET
        if redis_was_down(min(a, span[b][0]), max(z, span[b][1])) \
           or c["200"] + c["429"] < limit:
            skipped += 1
            continue
        if c["200"] == limit:
            exact += 1
        else:
            inexact += 1
            print("  bucket %s with Redis up: %d admitted, not %d (%s)"
                  % (b, c["200"], limit, dict(c)))
    print("exact window (%d a window, fail closed): %d buckets with Redis up"
          " throughout, %d exact, %d not; %d skipped (Redis down in their"
          " life, or too few requests)"
          % (limit, exact + inexact, exact, inexact, skipped))

    return 0 if not bad and not inexact and exact > 0 else 1


def main():
    if sys.argv[1] == "traffic":
        traffic(sys.argv[2], float(sys.argv[3]),
                (int(sys.argv[4]), int(sys.argv[5])))
        return 0
    return verdict(sys.argv[2], int(sys.argv[3]), float(sys.argv[4]))


if __name__ == "__main__":
    sys.exit(main())
