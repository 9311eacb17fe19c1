#!/usr/bin/python3
# starvation.py - a sentiment client's latency while long translation requests run in the same
# gliad (issue 13, "one client can take the server"). gliad serves the three shipped models with
# 2 workers and its default limits; a client sends one sentiment request at a time, first on the
# idle server, then while two translation requests run at once:
#   abuse:   192 sentences, beam_size 16, max_tokens 159 each (the report's requests)
#   maximal: the largest request the default limits.max_translation_tokens (131072) allows at
#            beam_size 16 and max_tokens 159: 51 sentences
# and prints, per scenario, the translation requests' statuses and seconds, and the client's
# p50/p99/max (ms), its request count and its failures (any status but 200, e.g. 504). The
# client waits for each answer, so a stall shows as a few long requests (max, failures), not
# as many: read p99 with them. Before the
# limits (an older gliad) the abuse requests are served; with them, they are refused 413.
#
#   /usr/bin/python3 bench/starvation.py [--gliad build-rel/daemon/gliad] [--idle 200] [--limits 'K: V, ...']
# Use a release build (meson setup build-rel -Dbuildtype=release).
import argparse
import http.client
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
from test_limits import SENTENCES  # noqa: E402  (the test's sentences: gettext-like messages)


def start(gliad, tmp, limits):
    cfg = os.path.join(tmp, "gliad.yaml")
    with open(cfg, "w") as f:
        f.write("listen: {address: 127.0.0.1, port: 0}\nworkers: 2\nblas_threads: 1\nstate_dir: %s\n%smodels:\n%s\n"
                % (tmp, "limits: {%s}\n" % limits if limits else "", "\n".join("  - {name: %s, path: %s/models/%s}" % (m, ROOT, m)
                                  for m in ("fashion-cnn", "sentiment-lstm", "translate-en-es"))))
    log = open(os.path.join(tmp, "gliad.log"), "w+")
    proc = subprocess.Popen([gliad, "--config", cfg], stdout=log, stderr=subprocess.STDOUT,
                            env=dict(os.environ, OPENBLAS_NUM_THREADS="1"))
    for _ in range(3000):  # bounds the start, 30 s
        log.seek(0)
        for line in log.read().splitlines():
            if "listening on" in line:
                return proc, int(line.split(" port ")[1].split(":")[0])
        time.sleep(0.01)
    proc.kill()
    sys.exit("gliad did not start")


def post(port, body, timeout=600):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    t = time.monotonic()
    c.request("POST", "/v1/predict", json.dumps(body), {"Content-Type": "application/json"})
    r = c.getresponse()
    r.read()
    c.close()
    return r.status, time.monotonic() - t


def client(port, until, limit=None):
    """Sequential sentiment requests until until() is true (or limit requests)."""
    lat, failed = [], 0
    while not until() and (limit is None or len(lat) < limit):
        s, dt = post(port, {"model": "sentiment-lstm", "inputs": ["The food was cold and the waiter rude."]})
        lat.append(dt)
        failed += s != 200
    return lat, failed


def pct(xs, q):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))] * 1e3 if xs else float("nan")


def scenario(port, name, n):
    body = {"model": "translate-en-es", "inputs": (SENTENCES * 30)[:n], "beam_size": 16, "max_tokens": 159}
    results = [None, None]

    def long(i):
        results[i] = post(port, body)

    threads = [threading.Thread(target=long, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    time.sleep(0.2)  # let both reach the daemon
    lat, failed = client(port, lambda: not any(t.is_alive() for t in threads))
    for t in threads:
        t.join()
    print("%-8s %3d sentences: translation %s; sentiment p50 %8.1f ms  p99 %8.1f ms  max %8.1f ms  (%d requests, "
          "%d failed)" % (name, n, ", ".join("%d in %.1f s" % r for r in results), pct(lat, 0.5), pct(lat, 0.99),
                          pct(lat, 1.0), len(lat), failed), flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--gliad", default=os.path.join(ROOT, "build-rel", "daemon", "gliad"))
    ap.add_argument("--idle", type=int, default=200)
    ap.add_argument("--limits", default="", help="gliad.yaml limits keys, e.g. 'max_translation_tokens: 1000000' "
                    "(serves the abuse requests: the cap and the turns alone)")
    a = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="glia-starvation-")
    proc, port = start(a.gliad, tmp, a.limits)
    try:
        lat, failed = client(port, lambda: False, a.idle)
        print("%-8s               sentiment p50 %8.1f ms  p99 %8.1f ms  max %8.1f ms  (%d requests, %d failed)"
              % ("idle", pct(lat, 0.5), pct(lat, 0.99), pct(lat, 1.0), len(lat), failed), flush=True)
        scenario(port, "abuse", 192)
        scenario(port, "maximal", 51)
    finally:
        proc.terminate()
        proc.wait(60)


if __name__ == "__main__":
    main()
