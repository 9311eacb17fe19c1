#!/usr/bin/python3
# sentiment.py - glia vs PyTorch on a text-classification bundle (sentiment-lstm), measured
# in one run; prints a markdown table.
#
# Figures: latency of one 20-word sentence (batch 1) and throughput at batch 64 (20-word
# sentences), forward pass only (token ids in, logits out; tokenising is not timed), peak
# RSS. Both sides run the SAME weights: PyTorch is tests/parity/glia_torch.py's TextRNN
# (core/nn/textnet.h's module, pack_padded_sequence as in training) with the bundle's
# model.safetensors loaded strictly, in eval mode under torch.inference_mode(). Since every
# sentence here has the same length, PyTorch is also timed without packing (the same
# nn.LSTM on the padded tensor), its fastest form for this input, in its own column.
#
# For each thread count, glia's bench_text and PyTorch (a child process running this file
# with --torch) run alternately ROUNDS times; every figure is the median over rounds (each
# itself a median of many timings), and the ratio columns compare the medians, so the
# shared machine's noise hits both sides alike. glia's batch 1 runs on one thread, as one
# gliad worker answers one request; with 2 threads only its batch 64 is split over two
# workers, while PyTorch uses its intra-op threads for both.
#
#   /usr/bin/python3 bench/sentiment.py [--build build] [--bundle models/sentiment-lstm]
#                                       [--rounds 5] [--threads 1,2] [--words 20] [--profile]
import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUNDLE = os.path.join(ROOT, "models", "sentiment-lstm")


def run_json(cmd, env=None):
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env).stdout
    return json.loads(out.strip().splitlines()[-1])


def glia(build, bundle, threads, words, profile=False):
    cmd = [os.path.join(build, "bench", "bench_text"), bundle, "--threads", str(threads), "--words", str(words)]
    r = run_json(cmd + (["--profile"] if profile else []))
    return {"lat": r["latency_b1_ms"], "tp": r["throughput_b64"], "lat_np": None, "tp_np": None,
            "rss": r["peak_rss_mb"], "core": r["coretype"], "params": r["parameters"],
            "profile": r.get("profile_b1_us")}


def torch_side(bundle, threads, words):
    r = run_json(["/usr/bin/python3", os.path.abspath(__file__), "--torch", "--bundle", bundle, "--threads",
                  str(threads), "--words", str(words)])
    return {"lat": r["latency_b1_ms"], "tp": r["throughput_b64"], "lat_np": r["latency_b1_ms_unpacked"],
            "tp_np": r["throughput_b64_unpacked"], "rss": r["peak_rss_mb"], "core": "torch " + r["torch"]}


def med(rows, key):
    return statistics.median(r[key] for r in rows)


def timings(fn, n, warm=20):
    for _ in range(warm):
        fn()
    t = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        t.append(time.perf_counter() - t0)
    return statistics.median(t)


def torch_main(a):
    """The PyTorch side, in its own process (for its RSS and thread count); one JSON line."""
    import torch
    sys.path.insert(0, os.path.join(ROOT, "tests", "parity"))
    import glia_torch as gt

    a.threads = int(a.threads)
    torch.set_num_threads(a.threads)
    manifest = os.path.join(a.bundle, "model.yaml")
    model = gt.build_text_module(manifest)
    model.load_state_dict(gt.load_safetensors(os.path.join(a.bundle, "model.safetensors")), strict=True)
    model.eval()
    v = model.embedding.num_embeddings
    g = torch.Generator().manual_seed(7)
    ids = torch.randint(2, v, (64, a.words), generator=g)
    lengths = torch.full((64,), a.words, dtype=torch.int64)

    def unpacked(x_ids):
        # the same module without pack_padded_sequence: right only when no row is padded
        x = model.embedding(x_ids)
        if model.lexicon is not None:
            x = torch.cat([x, model.lexicon(x_ids)], dim=2)
        out, state = model.rnn(x)
        h_n = state[0] if isinstance(state, tuple) else state
        if model.pooling == "last":
            p = torch.cat([h_n[-2], h_n[-1]], dim=1) if model.dirs == 2 else h_n[-1]
        elif model.pooling == "mean":
            p = out.mean(1)
        else:
            p = out.max(1).values
        return model.fc(p)

    with torch.inference_mode():
        d = float((model(ids, lengths) - unpacked(ids)).abs().max())
        if d > 1e-4:
            raise SystemExit("unpacked PyTorch differs from the packed module by %g" % d)
        i1, l1 = ids[:1], lengths[:1]
        lat = timings(lambda: model(i1, l1), 2000)
        lat_np = timings(lambda: unpacked(i1), 2000)
        tp = 64 / timings(lambda: model(ids, lengths), 100, warm=10)
        tp_np = 64 / timings(lambda: unpacked(ids), 100, warm=10)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    print(json.dumps({"impl": "torch", "torch": torch.__version__, "threads": a.threads, "latency_b1_ms": lat * 1e3,
                      "latency_b1_ms_unpacked": lat_np * 1e3, "throughput_b64": tp, "throughput_b64_unpacked": tp_np,
                      "peak_rss_mb": rss}))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--bundle", default=BUNDLE)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--words", type=int, default=20)
    ap.add_argument("--profile", action="store_true", help="also print glia's batch-1 time by piece")
    ap.add_argument("--torch", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.torch:
        torch_main(a)
        return
    a.bundle = os.path.abspath(a.bundle)
    if not os.path.exists(os.path.join(a.bundle, "model.safetensors")):
        sys.exit("%s has no model.safetensors: train one (see its recipe.yaml) and pass --bundle" % a.bundle)
    first = glia(a.build, a.bundle, 1, a.words)
    print("%s (%d parameters), %d-word sentences, %d rounds per figure, medians; glia's OpenBLAS kernels: %s"
          % (os.path.relpath(a.bundle, ROOT) if a.bundle.startswith(ROOT) else a.bundle, first["params"], a.words,
             a.rounds, first["core"]))
    print()
    print("| threads | figure | glia | PyTorch | glia / PyTorch | PyTorch unpacked | glia / unpacked | target |")
    print("|---|---|---|---|---|---|---|---|")
    torch_version = ""
    for t in [int(x) for x in a.threads.split(",")]:
        g, p = [], []
        for _ in range(a.rounds):
            g.append(glia(a.build, a.bundle, t, a.words))
            p.append(torch_side(a.bundle, t, a.words))
        torch_version = p[0]["core"]
        rows = [
            ("latency, batch 1 (ms)", "lat", "lat_np", True, ">= 2x" if t == 1 else ""),
            ("throughput, batch 64 (sentences/s)", "tp", "tp_np", False, ""),
            ("peak RSS (MB)", "rss", None, True, ""),
        ]
        for name, key, key_np, lower_better, target in rows:
            gv, pv = med(g, key), med(p, key)
            ratio = pv / gv if lower_better else gv / pv
            if key_np:
                nv = med(p, key_np)
                ratio_np = nv / gv if lower_better else gv / nv
                np_cols = "%.3f | %.2fx" % (nv, ratio_np)
            else:
                np_cols = " | "
            print("| %d | %s | %.3f | %.3f | %.2fx | %s | %s |" % (t, name, gv, pv, ratio, np_cols, target))
        sys.stdout.flush()
    print()
    print("ratios: > 1 means glia is better; target: glia at least 2x PyTorch at batch 1 (%s)" % torch_version)
    if a.profile:
        rows = [glia(a.build, a.bundle, 1, a.words, profile=True)["profile"] for _ in range(a.rounds)]
        print()
        print("glia batch-1 forward by piece (microseconds, medians over %d runs; rnn detail is one layer and "
              "direction, shapes of core/nn/rnn.c)" % a.rounds)
        print()
        print("| piece | us |")
        print("|---|---|")
        for k in rows[0]:
            if k != "rnn_detail":
                print("| %s | %.2f |" % (k, statistics.median(r[k] for r in rows)))
        for k in rows[0]["rnn_detail"]:
            print("| rnn: %s | %.3f |" % (k, statistics.median(r["rnn_detail"][k] for r in rows)))


if __name__ == "__main__":
    main()
