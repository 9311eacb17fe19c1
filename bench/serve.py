#!/usr/bin/python3
# serve.py - gliad under load: POST /v1/predict (one Fashion-MNIST test image, a base64
# PNG in JSON, per request) with wrk at concurrency 1, 8 and 64, with dynamic batching on and off,
# next to the in-process throughput of the same model measured in the same run
# (bench_cnn, batch 64, same threads), so the serving overhead shows as a ratio.
# Also: start-to-ready time and gliad's RSS with the model loaded. Prints a table.
#
#   /usr/bin/python3 bench/serve.py [--build build] [--seconds 10]
# Needs wrk (Debian package wrk) and a release build (scripts/build).
import argparse
import base64
import gzip
import json
import os
import re
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time
import zlib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUNDLE = os.path.join(ROOT, "models", "fashion-cnn")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def image_png_base64():
    with gzip.open("/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz") as f:
        data = f.read()[16:16 + 784]
    raw = b"".join(b"\x00" + data[r * 28:(r + 1) * 28] for r in range(28))

    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xffffffff)
    png = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 28, 28, 8, 0, 0, 0, 0)) +
           chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))
    return base64.b64encode(png).decode()


def start(build, tmp, port, max_batch, wait_us, workers, model="fashion-cnn", bundle=BUNDLE, extra=""):
    """gliad serving one bundle (serve_all.py passes the other shipped models, and extra
    configuration lines)."""
    cfg = os.path.join(tmp, "gliad.yaml")
    with open(cfg, "w") as f:
        f.write("listen: {address: 127.0.0.1, port: %d}\nworkers: %d\nqueue: {length: 1024}\n"
                "batching: {max_size: %d, max_wait_us: %d}\nmodels:\n  - {name: %s, path: %s}\n"
                "log: {level: warn}\n%s" % (port, workers, max_batch, wait_us, model, bundle, extra))
    t0 = time.monotonic()
    p = subprocess.Popen([os.path.join(build, "daemon", "gliad"), "--config", cfg], stderr=subprocess.DEVNULL)
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.05) as s:
                s.sendall(b"GET /readyz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                if s.recv(64).startswith(b"HTTP/1.1 200"):
                    break
        except OSError:
            pass
        time.sleep(0.002)
    return p, time.monotonic() - t0


def rss_mb(pid):
    with open("/proc/%d/status" % pid) as f:
        return int(re.search(r"VmRSS:\s+(\d+)", f.read()).group(1)) / 1024.0


def wrk(port, conns, seconds, script):
    out = subprocess.run(["wrk", "-t", str(min(conns, 2)), "-c", str(conns), "-d", "%ds" % seconds, "--latency",
                          "-s", script, "http://127.0.0.1:%d/v1/predict" % port],
                         capture_output=True, text=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))

    def ms(label):
        m = re.search(r"\s%s\s+([\d.]+)(us|ms|s)" % label, out)
        v = float(m.group(1))
        return v / 1000 if m.group(2) == "us" else v * 1000 if m.group(2) == "s" else v
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return rps, ms("50%"), ms("99%"), int(errors.group(1)) if errors else 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--workers", type=int, default=2)
    a = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="glia-bench-http-")
    script = os.path.join(tmp, "post.lua")
    body = json.dumps({"model": "fashion-cnn", "inputs": [{"image": image_png_base64()}], "top_k": 1})
    with open(script, "w") as f:
        f.write('wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\nwrk.body = %s\n'
                % json.dumps(body))
    inproc = json.loads(subprocess.run([os.path.join(a.build, "bench", "bench_cnn"), BUNDLE, "--threads",
                                        str(a.workers)], capture_output=True, text=True).stdout)
    print("gliad, POST /v1/predict with one 28x28 image (base64 PNG in JSON), %d workers, wrk %d s per row" %
          (a.workers, a.seconds))
    print("in-process (bench_cnn, same run): %.0f images/s at batch 64, %.3f ms at batch 1" %
          (inproc["throughput_b64"], inproc["latency_b1_ms"]))
    print()
    print("| batching | concurrency | requests/s | p50 (ms) | p99 (ms) | p99/p50 | non-2xx | HTTP / in-process |")
    print("|---|---|---|---|---|---|---|---|")
    starts, rss = [], None
    for label, max_batch, wait in (("on (max 32, 500 us)", 32, 500), ("off", 1, 0)):
        port = free_port()
        p, ready = start(a.build, tmp, port, max_batch, wait, a.workers)
        starts.append(ready)
        if rss is None:
            rss = rss_mb(p.pid)
        for conns in (1, 8, 64):
            rps, p50, p99, bad = wrk(port, conns, a.seconds, script)
            print("| %s | %d | %.0f | %.2f | %.2f | %.1f | %d | %.2f |" % (label, conns, rps, p50, p99, p99 / p50, bad,
                                                                       rps / inproc["throughput_b64"]))
            sys.stdout.flush()
        p.terminate()
        p.wait()
    print()
    print("start to ready (exec to /readyz 200): %.0f ms median of %d; RSS with the model loaded: %.1f MB" %
          (statistics.median(starts) * 1e3, len(starts), rss))


if __name__ == "__main__":
    main()
