#!/usr/bin/python3
# oip_binary.py - the OIP v2 binary tensor extension against JSON numbers on the CNN:
# POST /v2/models/fashion-cnn/infer, one Fashion-MNIST test image per request, at
# concurrency 64 (wrk), in three forms: a JSON FP32 tensor of 784 numbers, the same tensor
# as 3136 raw bytes (binary_data_size + Inference-Header-Content-Length), and the raw 784
# UINT8 pixels (the server applies the manifest's preprocessing). Rounds alternate the
# forms; medians are printed, next to the in-process throughput of the same model measured
# in the same run (bench_cnn: batch 64 split over the workers, as serve.py compares), and
# the cost of parsing the JSON tensor alone (bench_json_tensor, Jansson as gliad uses it)
# against the model's own time per image.
#
#   /usr/bin/python3 bench/oip_binary.py [--build build-rel] [--seconds 10] [--rounds 3]
# Needs wrk (Debian package wrk) and a release build. Reuses serve.py's daemon start and
# wrk driver.
import argparse
import gzip
import json
import os
import statistics
import struct
import subprocess
import sys
import tempfile
import http.client

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import serve  # noqa: E402  (free_port, start, wrk: the serving benchmark's own)

PATH = "/v2/models/fashion-cnn/infer"


def first_test_image():
    with gzip.open("/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz") as f:
        return f.read()[16:16 + 784]


def bodies(pixels):
    """{form: (body bytes, headers)} for one image, as clients send them: JSON numbers are
    float32 values printed as doubles (what numpy's tolist() gives a JSON encoder)."""
    values = [struct.unpack("<f", struct.pack("<f", p / 255.0 / 0.3530 - 0.2860 / 0.3530))[0] for p in pixels]
    tensor = {"name": "input", "shape": [1, 1, 28, 28]}
    js = json.dumps({"inputs": [dict(tensor, datatype="FP32", data=values)]}).encode()
    out = {"JSON FP32 (784 numbers)": (js, {"Content-Type": "application/json"})}
    for label, datatype, raw in (("binary FP32 (3136 bytes)", "FP32", struct.pack("<784f", *values)),
                                 ("binary UINT8 (784 bytes)", "UINT8", bytes(pixels))):
        header = json.dumps({"inputs": [dict(tensor, datatype=datatype,
                                             parameters={"binary_data_size": len(raw)})]}).encode()
        out[label] = (header + raw, {"Content-Type": "application/octet-stream",
                                     "Inference-Header-Content-Length": str(len(header))})
    return out


def wrk_script(tmp, name, body, headers):
    """A wrk script posting body to PATH: the body is read from a file, since the binary
    forms are not text a Lua literal could carry."""
    data = os.path.join(tmp, name + ".body")
    with open(data, "wb") as f:
        f.write(body)
    script = os.path.join(tmp, name + ".lua")
    with open(script, "w") as f:
        f.write('wrk.method = "POST"\nwrk.path = "%s"\n' % PATH)
        for k, v in headers.items():
            f.write('wrk.headers["%s"] = "%s"\n' % (k, v))
        f.write('local f = io.open("%s", "rb")\nwrk.body = f:read("*a")\nf:close()\n' % data)
    return script, data


def answer(port, body, headers):
    """The class one request gets (argmax of probabilities), or the error it gets."""
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    c.request("POST", PATH, body=body, headers=headers)
    r = c.getresponse()
    data = r.read()
    c.close()
    if r.status != 200:
        return "HTTP %d %s" % (r.status, data[:200])
    probs = json.loads(data)["outputs"][0]["data"]
    return max(range(len(probs)), key=lambda k: probs[k])


def cpu_seconds(pid):
    """User + system CPU time gliad has used so far (/proc/PID/stat): per request it is a cost
    the machine's other load does not inflate, unlike wall-clock rates."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def in_process(build, workers):
    """bench_cnn's figures (batch-1 latency on one thread, batch-64 throughput over the workers)."""
    return json.loads(subprocess.run([os.path.join(build, "bench", "bench_cnn"), serve.BUNDLE, "--threads",
                                      str(workers)], capture_output=True, text=True, check=True).stdout)


def parse_costs(build, forms, scripts):
    """{form: microseconds} to take the tensor out of one body: the JSON numbers, or the
    binary FP32 bytes after their JSON header."""
    out = {}
    for label in ("JSON FP32 (784 numbers)", "binary FP32 (3136 bytes)"):
        headers = forms[label][1]
        extra = (["--header-length", headers["Inference-Header-Content-Length"]]
                 if "Inference-Header-Content-Length" in headers else [])
        r = subprocess.run([os.path.join(build, "bench", "bench_json_tensor"), scripts[label][1]] + extra,
                           capture_output=True, text=True, check=True)
        out[label] = json.loads(r.stdout)["median_us"]
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.path.join(serve.ROOT, "build"))
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--concurrency", type=int, default=64)
    a = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="glia-bench-oip-")
    forms = bodies(first_test_image())
    scripts = {}
    for i, (label, (body, headers)) in enumerate(forms.items()):
        scripts[label] = wrk_script(tmp, "form%d" % i, body, headers)

    load_before = os.getloadavg()[0]
    port = serve.free_port()
    p, _ = serve.start(a.build, tmp, port, 32, 500, a.workers)
    try:
        classes = {label: answer(port, body, headers) for label, (body, headers) in forms.items()}
        print("gliad, POST %s, one 28x28 image per request, %d workers, batching on (max 32, 500 us), "
              "wrk at concurrency %d, %d s per run, %d alternating rounds (medians)" %
              (PATH, a.workers, a.concurrency, a.seconds, a.rounds))
        print("class each form gets for the image: %s" % ", ".join("%s: %s" % kv for kv in classes.items()))
        sys.stdout.flush()
        # each round: the in-process figures, the parse costs, then every form under load,
        # so that what else runs on the machine weighs on all of them alike
        runs, inprocs, parses = {label: [] for label in forms}, [], []
        for _ in range(a.rounds):
            inprocs.append(in_process(a.build, a.workers))
            parses.append(parse_costs(a.build, forms, scripts))
            for label in forms:
                cpu0 = cpu_seconds(p.pid)
                rps, p50, p99, bad = serve.wrk(port, a.concurrency, a.seconds, scripts[label][0])
                runs[label].append((rps, p50, p99, bad, (cpu_seconds(p.pid) - cpu0) / (rps * a.seconds) * 1e6))
    finally:
        p.terminate()
        p.wait()
    inproc = {k: statistics.median(r[k] for r in inprocs) for k in ("throughput_b64", "latency_b1_ms")}
    parse = {label: statistics.median(r[label] for r in parses) for label in parses[0]}
    print("OpenBLAS core: %s; in-process (bench_cnn, same run, %d threads, median of %d): %.0f images/s at "
          "batch 64, %.3f ms per image at batch 1" % (inprocs[0]["coretype"], a.workers, len(inprocs),
                                                      inproc["throughput_b64"], inproc["latency_b1_ms"]))
    print()

    # Two HTTP / in-process ratios: requests/s over bench_cnn's batch-64 images/s (serve.py's
    # ratio; wall clock, so only as steady as the machine), and the model's own time per image
    # (batch 1, one thread: a median, which preemption barely moves) over gliad's CPU per
    # request (the share of gliad's CPU that is the model's work).
    print("| form | body (bytes) | requests/s | p50 (ms) | p99 (ms) | non-2xx | gliad CPU per request (us) "
          "| HTTP / in-process (requests/s) | in-process / HTTP (CPU per image) |")
    print("|---|---|---|---|---|---|---|---|---|")
    for label, rows in runs.items():
        rps, cpu = statistics.median(r[0] for r in rows), statistics.median(r[4] for r in rows)
        print("| %s | %d | %.0f | %.2f | %.2f | %d | %.0f | %.2f | %.2f |" % (
            label, len(forms[label][0]), rps, statistics.median(r[1] for r in rows),
            statistics.median(r[2] for r in rows), sum(r[3] for r in rows), cpu, rps / inproc["throughput_b64"],
            inproc["latency_b1_ms"] * 1e3 / cpu))
    print()
    json_rps = statistics.median(r[0] for r in runs["JSON FP32 (784 numbers)"])
    print("binary / JSON requests/s: %s" % ", ".join(
        "%s %.2fx" % (label.split(" (")[0], statistics.median(r[0] for r in rows) / json_rps)
        for label, rows in runs.items() if label.startswith("binary")))
    print("requests/s per round: %s" % "; ".join("%s: %s" % (label, ", ".join("%.0f" % r[0] for r in rows))
                                              for label, rows in runs.items()))
    print()
    print("| taking one request's tensor apart, or running the model on it | microseconds |")
    print("|---|---|")
    for label, us in parse.items():
        what = ("Jansson parse + 784 numbers to float32 (%d-byte body)" if label.startswith("JSON")
                else "Jansson parse of the JSON header + copy of the raw bytes (%d-byte body)") % len(forms[label][0])
        print("| %s | %.1f |" % (what, us))
    print("| the model, one image at batch 1 (bench_cnn, 1 thread) | %.1f |" % (inproc["latency_b1_ms"] * 1e3))
    print("| the model, CPU time per image at batch 64 (bench_cnn: %d threads / throughput) | %.1f |" % (
        a.workers, a.workers * 1e6 / inproc["throughput_b64"]))
    print()
    print("load average (1 min) of the machine: %.1f before, %.1f after (%d cores)" % (
        load_before, os.getloadavg()[0], os.cpu_count()))


if __name__ == "__main__":
    main()
