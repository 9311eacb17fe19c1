#!/usr/bin/python3
# cnn.py - glia vs PyTorch on the fashion-cnn bundle, measured in one run; prints a table.
#
# For each thread count, glia's bench_cnn and PyTorch's torch_cnn.py run alternately
# ROUNDS times on the same weights; every figure is the median over rounds (each itself a
# median of many timings), and the ratio column compares the two medians, so the shared
# machine's noise hits both sides alike. A second table compares OpenBLAS core types for
# glia (OPENBLAS_CORETYPE), which decides the GEMM kernels.
#
#   /usr/bin/python3 bench/cnn.py [--build build] [--rounds 3] [--threads 1,2]
import argparse
import json
import os
import statistics
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUNDLE = os.path.join(ROOT, "models", "fashion-cnn")


def run_json(cmd, env=None):
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env).stdout
    return json.loads(out.strip().splitlines()[-1])


def glia(build, threads, coretype=None):
    env = dict(os.environ)
    env.pop("OPENBLAS_CORETYPE", None)
    if coretype:
        env["OPENBLAS_CORETYPE"] = coretype
    r = run_json([os.path.join(build, "bench", "bench_cnn"), BUNDLE, "--threads", str(threads)], env)
    return {"lat": r["latency_b1_ms"], "tp": r["throughput_b64"], "train": r["train_images_per_s"],
            "rss_inf": r["peak_rss_inference_mb"], "rss": r["peak_rss_mb"], "core": r["coretype"]}


def torch(threads):
    r = run_json(["/usr/bin/python3", os.path.join(ROOT, "bench", "torch_cnn.py"), "--manifest",
                  os.path.join(BUNDLE, "model.yaml"), "--weights", os.path.join(BUNDLE, "model.safetensors"),
                  "--threads", str(threads)])
    return {"lat": r["latency_b1_ms_median"], "tp": r["throughput_ips"], "train": r["train_ips"],
            "rss_inf": r["peak_rss_inference_mb"], "rss": r["peak_rss_mb"], "core": "torch " + r["torch"]}


def med(rows, key):
    return statistics.median(r[key] for r in rows)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--coretypes", default="Haswell,SkylakeX,Cooperlake")
    a = ap.parse_args()
    print("fashion-cnn (870,634 parameters), %d rounds per figure, medians" % a.rounds)
    print()
    print("| threads | figure | glia | PyTorch | glia / PyTorch | target |")
    print("|---|---|---|---|---|---|")
    for t in [int(x) for x in a.threads.split(",")]:
        g, p = [], []
        for _ in range(a.rounds):
            g.append(glia(a.build, t))
            p.append(torch(t))
        rows = [
            ("latency, batch 1 (ms)", "lat", True, ">= 1.5x"),
            ("throughput, batch 64 (images/s)", "tp", False, ">= 1x"),
            ("training, Adam batch 64 (images/s)", "train", False, ">= 1x"),
            ("peak RSS, inference (MB)", "rss_inf", True, ""),
            ("peak RSS, with training (MB)", "rss", True, ""),
        ]
        for name, key, lower_better, target in rows:
            gv, pv = med(g, key), med(p, key)
            ratio = pv / gv if lower_better else gv / pv
            print("| %d | %s | %.3f | %.3f | %.2fx | %s |" % (t, name, gv, pv, ratio, target))
        sys.stdout.flush()
    print()
    print("glia with each OPENBLAS_CORETYPE (1 thread; default = what OpenBLAS detects)")
    print()
    print("| OPENBLAS_CORETYPE | kernels | latency b1 (ms) | batch 64 (images/s) | training (images/s) |")
    print("|---|---|---|---|---|")
    for ct in [None] + a.coretypes.split(","):
        g = [glia(a.build, 1, ct) for _ in range(a.rounds)]
        print("| %s | %s | %.3f | %.1f | %.1f |" % (ct or "(default)", g[0]["core"], med(g, "lat"), med(g, "tp"),
                                                 med(g, "train")))
        sys.stdout.flush()


if __name__ == "__main__":
    main()
