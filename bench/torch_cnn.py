#!/usr/bin/python3
# torch_cnn.py - PyTorch speed/memory figures for a glia sequential model, the
# yardstick for glia's own C benchmark (bench/bench_cnn.c).
#
# Why: to say how glia's CPU inference/training compares with PyTorch, both
# must run the same network (built from the same model.yaml, same weights) on
# the same machine with the same thread count. Prints ONE JSON line:
#   latency_b1_ms_median     batch-1 eval forward, median of --lat-runs (>=1000)
#   throughput_ips           images/s at --batch (64), median of --tp-runs (>=20)
#   train_ips                images/s of one Adam training step (forward,
#                            cross-entropy, backward, step) at --batch, train
#                            mode (dropout on), median of --train-steps (>=30)
#   peak_rss_inference_mb    ru_maxrss after the inference runs
#   peak_rss_mb              ru_maxrss at the end (includes training)
# plus torch version and threads. Inputs are random N(0,1) of the manifest's
# input shape (speed does not depend on values); weights are loaded strictly.
#
#   /usr/bin/python3 bench/torch_cnn.py --manifest models/fashion-cnn/model.yaml \
#       --weights models/fashion-cnn/model.safetensors --threads 1
import argparse
import json
import os
import resource
import statistics
import sys
import time

import torch
import torch.nn.functional as F

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "parity"))
from glia_torch import build_module, load_manifest, load_safetensors  # noqa: E402


def rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: KiB


def timed(fn, runs, warmup):
    for _ in range(warmup):
        fn()
    ts = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return statistics.median(ts)


def main():
    ap = argparse.ArgumentParser(description="PyTorch CNN speed figures (one JSON line)")
    ap.add_argument("--manifest", default=os.path.join(ROOT, "models/fashion-cnn/model.yaml"))
    ap.add_argument("--weights", default=None, help="safetensors (default: PyTorch init, seed 0)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--lat-runs", type=int, default=1000)
    ap.add_argument("--tp-runs", type=int, default=20)
    ap.add_argument("--train-steps", type=int, default=30)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--channels-last", action="store_true", help="channels_last memory format")
    a = ap.parse_args()
    a.lat_runs, a.tp_runs, a.train_steps = max(a.lat_runs, 1000), max(a.tp_runs, 20), max(a.train_steps, 30)

    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    m = load_manifest(a.manifest)
    model = build_module(m)
    if a.weights:
        model.load_state_dict(load_safetensors(a.weights), strict=True)
    mf = torch.channels_last if a.channels_last else torch.contiguous_format
    model = model.to(memory_format=mf)
    c, h, w = m["input"]["shape"]
    nclass = [l for mod in m["architecture"]["modules"] for l in mod["layers"]
              if l["type"] == "linear"][-1]["out_features"]
    x1 = torch.randn(1, c, h, w).contiguous(memory_format=mf)
    xb = torch.randn(a.batch, c, h, w).contiguous(memory_format=mf)
    yb = torch.randint(0, nclass, (a.batch,))

    model.eval()
    with torch.inference_mode():
        lat = timed(lambda: model(x1), a.lat_runs, 100)
        tp = timed(lambda: model(xb), a.tp_runs, 5)
    rss_inf = rss_mb()

    model.train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)

    def step():
        loss = F.cross_entropy(model(xb), yb)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    tr = timed(step, a.train_steps, 5)
    print(json.dumps({
        "framework": "pytorch",
        "torch": torch.__version__,
        "threads": a.threads,
        "manifest": a.manifest,
        "weights": a.weights,
        "memory_format": "channels_last" if a.channels_last else "contiguous",
        "latency_b1_ms_median": round(lat * 1e3, 4),
        "latency_runs": a.lat_runs,
        "batch": a.batch,
        "throughput_ips": round(a.batch / tp, 1),
        "throughput_runs": a.tp_runs,
        "train_ips": round(a.batch / tr, 1),
        "train_steps": a.train_steps,
        "peak_rss_inference_mb": round(rss_inf, 1),
        "peak_rss_mb": round(rss_mb(), 1),
    }), flush=True)


if __name__ == "__main__":
    main()
