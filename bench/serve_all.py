#!/usr/bin/python3
# serve_all.py - HTTP against in-process for every shipped model: gliad's requests/s at
# concurrency 64 (wrk, POST /v1/predict, one input per request) next to the same model's
# in-process throughput at the batch gliad's batcher builds, measured in the same run.
#
# gliad runs one model at a time with --workers workers (default 2, this machine's cores),
# batching on (max 32 inputs, 500 us), blas_threads 1. The in-process figure is what those
# workers could do with full batches and no HTTP: the model's bench at batch 64 split over the
# same number of threads (bench_cnn / bench_text: one lane of 32 per worker, single-threaded
# BLAS), and for translation, as bench_translate decodes on one thread only, --workers
# bench_translate processes at once, each decoding batches of 32, their sentences/s added.
#   fashion-cnn      one Fashion-MNIST test image, a base64 PNG in JSON (as serve.py)
#   sentiment-lstm   one 20-word sentence (bench_text's default length, random ids in-process)
#   translate-en-es  one short sentence with the manifest's decoding (beam 4, length penalty,
#                    no-repeat guard); in-process: the same sentence, --beam 4, batches of 32
# Rounds alternate the models; every figure is a median over rounds. gliad's CPU time per
# request (from /proc) is printed too: unlike requests/s, other load on the machine does not
# inflate it; and the mean batch its workers ran (glia_inference_batch_size in /metrics).
# --baseline BUILD runs that build's gliad too, under the same load in every round, right
# before or after this one's (the order alternates), for a before/after within one run. The
# OpenBLAS core is the environment's: give OPENBLAS_CORETYPE on the command line to compare,
# the script never sets it.
#
#   /usr/bin/python3 bench/serve_all.py [--build build-rel] [--baseline BUILD] [--rounds 3] [--seconds 10]
#                                       [--workers 2] [--rows ...]
# Needs wrk (Debian package wrk, in scripts/setup) and a release build.
import argparse
import json
import os
import re
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
import serve  # noqa: E402  (free_port, start, wrk, image_png_base64)
import oip_binary  # noqa: E402  (cpu_seconds)

SENTENCE = ("the food was great but the service was painfully slow and we waited almost an hour "
            "for a cold table")
TRANSLATE = "Print the version number and exit."


# A turn of a translation batch holds at most limits.translation_turn_tokens (default 4096)
# decoder tokens. Until it counted each sentence by its likely output (beam x min(max_tokens,
# 2 x source + 8)) instead of beam x max_tokens, that let 6 sentences of any length into a batch
# at the manifest's beam 4 x 159; the optional row translate-en-es-full-turn gives the turn room
# for 32 such sentences (32 x 4 x 159 = 20352), which compares the two rules on a baseline build.
FULL_TURN = "limits: {translation_turn_tokens: 20480}\n"


def models():
    """(row, model, request body, unit, what one request is, extra gliad config)"""
    return [
        ("fashion-cnn", "fashion-cnn",
         {"model": "fashion-cnn", "inputs": [{"image": serve.image_png_base64()}], "top_k": 1}, "images/s",
         "28x28 image, base64 PNG", ""),
        ("sentiment-lstm", "sentiment-lstm", {"model": "sentiment-lstm", "inputs": [SENTENCE]}, "sentences/s",
         "20-word sentence", ""),
        ("translate-en-es", "translate-en-es", {"model": "translate-en-es", "inputs": [TRANSLATE]},
         "sentences/s", "7-word sentence, beam 4", ""),
        ("translate-en-es-full-turn", "translate-en-es", {"model": "translate-en-es", "inputs": [TRANSLATE]},
         "sentences/s", "the same, translation_turn_tokens 20480", FULL_TURN),
    ]


def bundle(name):
    return os.path.join(ROOT, "models", name)


def children_cpu():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def in_process(build, name, workers, tmp):
    """Items per second with full batches of 32 per worker and no HTTP, CPU microseconds per
    item, and the OpenBLAS core. bench_cnn and bench_text time their batch-64 loop's CPU
    themselves; for translation it is the bench_translate processes' whole CPU time over the
    sentences they decoded (bundle load and warm-up batch included: a few % high)."""
    if name == "fashion-cnn":
        r = json.loads(subprocess.run([os.path.join(build, "bench", "bench_cnn"), bundle(name), "--threads",
                                       str(workers), "--no-train"], capture_output=True, text=True,
                                      check=True).stdout)
        return r["throughput_b64"], r["cpu_us_per_image_b64"], r["coretype"]
    if name == "sentiment-lstm":
        r = json.loads(subprocess.run([os.path.join(build, "bench", "bench_text"), bundle(name), "--threads",
                                       str(workers), "--words", "20"], capture_output=True, text=True,
                                      check=True).stdout)
        return r["throughput_b64"], r["cpu_us_per_sentence_b64"], r["coretype"]
    path = os.path.join(tmp, "translate.txt")
    with open(path, "w") as f:
        f.write((TRANSLATE + "\n") * 96)
    cmd = [os.path.join(build, "bench", "bench_translate"), "decode", bundle(name), "--sentences", path,
           "--beam", "4", "--batch", "32", "--threads", "1"]
    cpu0 = children_cpu()
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True) for _ in range(workers)]
    outs = [json.loads(p.communicate()[0].strip().splitlines()[-1]) for p in procs]
    cpu = children_cpu() - cpu0
    if any(p.returncode for p in procs):
        raise RuntimeError("bench_translate failed")
    sentences = sum(o["sentences"] + o["batch"] for o in outs)  # + the untimed warm-up batch
    return sum(o["sentences_per_s"] for o in outs), cpu / sentences * 1e6, outs[0].get("coretype", "?")


def mean_batch(port, name):
    """(sum, count) of glia_inference_batch_size for the model, from /metrics. Retried: the
    64 connections wrk just closed may still count against connections_per_client."""
    for _ in range(100):
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
                s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                data = b""
                while True:
                    chunk = s.recv(65536)
                    if not chunk:
                        break
                    data += chunk
            text = data.decode()
            total = re.search(r'^glia_inference_batch_size_sum\{model="%s"[^}]*\} (\S+)' % name, text, re.M)
            count = re.search(r'^glia_inference_batch_size_count\{model="%s"[^}]*\} (\S+)' % name, text, re.M)
            if total and count:
                return float(total.group(1)), float(count.group(1))
        except OSError:
            pass
        time.sleep(0.05)
    raise RuntimeError("serve_all.py: no glia_inference_batch_size in gliad's /metrics")


def under_load(build, tmp, row, name, body, workers, seconds, extra):
    script = os.path.join(tmp, row + ".lua")
    with open(script, "w") as f:
        f.write('wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\nwrk.body = %s\n'
                % json.dumps(json.dumps(body)))
    port = serve.free_port()
    p, _ = serve.start(build, tmp, port, 32, 500, workers, model=name, bundle=bundle(name), extra=extra)
    try:
        serve.wrk(port, 64, 1, script)  # warm-up: first batches, page faults
        batch0 = mean_batch(port, name)
        cpu0 = oip_binary.cpu_seconds(p.pid)
        rps, p50, p99, bad = serve.wrk(port, 64, seconds, script)
        cpu = oip_binary.cpu_seconds(p.pid) - cpu0
        batch1 = mean_batch(port, name)
    finally:
        p.terminate()
        p.wait()
    batch = (batch1[0] - batch0[0]) / max(1.0, batch1[1] - batch0[1])
    return rps, p50, p99, bad, cpu / (rps * seconds) * 1e6, batch


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.path.join(ROOT, "build-rel"))
    ap.add_argument("--baseline", help="another build whose gliad runs beside --build's in every round")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--rows", default="fashion-cnn,sentiment-lstm,translate-en-es")
    a = ap.parse_args()
    if not shutil.which("wrk"):
        sys.exit("serve_all.py: needs wrk (scripts/setup installs it)")
    chosen = [m for m in models() if m[0] in a.rows.split(",")]
    tmp = tempfile.mkdtemp(prefix="glia-bench-serve-all-")
    http = {m[0]: [] for m in chosen}
    base = {m[0]: [] for m in chosen}
    inproc = {m[0]: [] for m in chosen}
    core = "?"
    for r in range(a.rounds):
        for row, name, body, _, _, extra in chosen:
            ips, cpu, core = in_process(a.build, name, a.workers, tmp)
            inproc[row].append((ips, cpu))
            # with a baseline, which gliad goes first alternates by round
            builds = [(a.build, http)] + ([(a.baseline, base)] if a.baseline else [])
            for build, into in builds if r % 2 == 0 else builds[::-1]:
                into[row].append(under_load(build, tmp, row, name, body, a.workers, a.seconds, extra))
            print("round %d %s: in-process %.1f/s (%.0f us CPU each), HTTP %.1f requests/s (%.0f us CPU each, "
                  "batch %.1f)%s" % (r + 1, row, ips, cpu, http[row][-1][0], http[row][-1][4], http[row][-1][5],
                                     "; baseline %.1f requests/s (%.0f us CPU each, batch %.1f)" % (
                                         base[row][-1][0], base[row][-1][4], base[row][-1][5]) if a.baseline
                                     else ""), file=sys.stderr)
    print("gliad at concurrency 64 (%d workers, batching max 32 / 500 us, wrk %d s) against in-process "
          "batches of 32 per worker; OpenBLAS core %s; medians of %d rounds" % (a.workers, a.seconds, core,
                                                                             a.rounds))
    print()
    # Two ratios: requests/s over the in-process rate (the figure, which other load on
    # the machine skews, since the two are measured at different moments), and in-process CPU
    # per item over gliad's CPU per request (the share of gliad's work that is the model's).
    print("| model | one request | gliad | requests/s | p50 (ms) | p99 (ms) | non-2xx | mean batch "
          "| gliad CPU per request (us) | in-process (per s) | in-process CPU per item (us) "
          "| HTTP / in-process (rate) | in-process / HTTP (CPU per item) |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for row, name, _, unit, what, _ in chosen:
        ips = statistics.median(x[0] for x in inproc[row])
        icpu = statistics.median(x[1] for x in inproc[row])
        for label, runs in (("this build", http[row]), ("baseline", base[row])):
            if not runs:
                continue
            rps = statistics.median(x[0] for x in runs)
            gcpu = statistics.median(x[4] for x in runs)
            print("| %s | %s | %s | %.0f | %.2f | %.2f | %d | %.1f | %.0f | %.0f %s | %.0f | **%.2f** | %.2f |" % (
                name, what, label, rps, statistics.median(x[1] for x in runs),
                statistics.median(x[2] for x in runs), sum(x[3] for x in runs),
                statistics.median(x[5] for x in runs), gcpu, ips, unit, icpu, rps / ips, icpu / gcpu))
    print()
    for row, _, _, _, _, _ in chosen:
        print("%s per round: HTTP %s requests/s%s; in-process %s per s" % (
            row, ", ".join("%.0f" % x[0] for x in http[row]),
            " (baseline %s)" % ", ".join("%.0f" % x[0] for x in base[row]) if base[row] else "",
            ", ".join("%.0f" % x[0] for x in inproc[row])))


if __name__ == "__main__":
    main()
