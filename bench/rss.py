#!/usr/bin/python3
# rss.py - how much memory gliad needs with the shipped models, to size a container's
# requests and limits (etc/kubernetes/deployment.yaml). gliad serves a model repository
# holding the three shipped bundles as version 1 (the layout the Kubernetes example mounts),
# with the ConfigMap's workers and batching; the script reads VmRSS after the load, then
# drives every model at once from several clients (images in batches of 32, sentences,
# translations with beam 4 and the longest outputs allowed) and reads VmRSS and VmHWM (the
# peak) of the process. Prints a table.
#
#   /usr/bin/python3 bench/rss.py [--build build-rel] [--seconds 20] [--clients 8] [--workers 2]
# Loopback only; the load is bounded by --seconds.
import argparse
import base64
import http.client
import json
import os
import re
import shutil
import subprocess
import tempfile
import threading
import time

from serve import free_port  # bench/serve.py, beside this script

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODELS = ("fashion-cnn", "sentiment-lstm", "translate-en-es")


def status_kib(pid, key):
    with open("/proc/%d/status" % pid) as f:
        m = re.search(r"^%s:\s+(\d+) kB" % key, f.read(), re.M)
    return int(m.group(1)) if m else 0


def requests():
    """One body per model, each the heaviest ordinary request of its kind."""
    samples = os.path.join(ROOT, "models", "fashion-cnn", "samples")
    images = [base64.b64encode(open(os.path.join(samples, f), "rb").read()).decode()
              for f in sorted(os.listdir(samples))]
    sentences = ["The food was cold and the waiter rude, but the view made up for it."] * 32
    english = ["Print the version number and exit, then remove the temporary files it made."] * 8
    return [
        {"model": "fashion-cnn", "inputs": [{"image": images[i % len(images)]} for i in range(32)]},
        {"model": "sentiment-lstm", "inputs": sentences},
        {"model": "translate-en-es", "inputs": english, "beam_size": 4, "max_tokens": 128},
    ]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build-rel")
    ap.add_argument("--seconds", type=float, default=20)
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--workers", type=int, default=2)
    a = ap.parse_args()
    gliad = os.path.join(ROOT, a.build, "daemon", "gliad")
    tmp = tempfile.mkdtemp(prefix="glia-rss-")
    try:
        for m in MODELS:
            os.makedirs(os.path.join(tmp, "repo", m))
            os.symlink(os.path.join(ROOT, "models", m), os.path.join(tmp, "repo", m, "1"))
        os.makedirs(os.path.join(tmp, "state"))
        port = free_port()
        config = os.path.join(tmp, "gliad.yaml")
        with open(config, "w") as f:
            f.write("listen: {address: 127.0.0.1, port: %d}\nworkers: %d\nblas_threads: 1\nmodels: []\n"
                    "model_repository: repo\nstate_dir: state\nlog: {level: warn}\n" % (port, a.workers))
        proc = subprocess.Popen([gliad, "--config", config], stderr=subprocess.DEVNULL,
                                env=dict(os.environ, OPENBLAS_NUM_THREADS="1"))
        deadline = time.monotonic() + 60
        ready = False
        while time.monotonic() < deadline and not ready and proc.poll() is None:
            try:
                c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                c.request("GET", "/readyz")
                ready = c.getresponse().status == 200
                c.close()
            except OSError:
                pass
            time.sleep(0.05)
        if not ready:
            raise SystemExit("gliad did not become ready")
        idle = status_kib(proc.pid, "VmRSS")
        bodies = [json.dumps(b).encode() for b in requests()]
        counts, errors, lock = [0, 0, 0], [], threading.Lock()
        stop = time.monotonic() + a.seconds

        def client(k):
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
            i = k
            while time.monotonic() < stop:
                which = i % len(bodies)
                c.request("POST", "/v1/predict", body=bodies[which], headers={"Content-Type": "application/json"})
                r = c.getresponse()
                r.read()
                with lock:
                    if r.status == 200:
                        counts[which] += 1
                    else:
                        errors.append(r.status)
                i += 1
            c.close()
        threads = [threading.Thread(target=client, args=(k,)) for k in range(a.clients)]
        for t in threads:
            t.start()
        loaded = 0
        while any(t.is_alive() for t in threads):
            loaded = max(loaded, status_kib(proc.pid, "VmRSS"))
            time.sleep(0.1)
        peak = status_kib(proc.pid, "VmHWM")
        proc.terminate()
        proc.wait(60)
        print("| workers | clients | seconds | requests (cnn/text/translate) | errors (count x status) | RSS idle (MiB) "
              "| RSS under load, max sampled (MiB) | VmHWM peak (MiB) |")
        print("|---|---|---|---|---|---|---|---|")
        print("| %d | %d | %.0f | %d/%d/%d | %s | %.1f | %.1f | %.1f |" % (
            a.workers, a.clients, a.seconds, counts[0], counts[1], counts[2],
            ", ".join("%d x %d" % (errors.count(s), s) for s in sorted(set(errors))) or "0",
            idle / 1024, loaded / 1024, peak / 1024))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
