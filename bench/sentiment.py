#!/usr/bin/python3
# sentiment.py - glia vs ONNX Runtime vs PyTorch on a text-classification bundle
# (sentiment-lstm), measured in one run; prints a markdown table.
#
# Figures: latency of one 20-word sentence (batch 1) and throughput at batch 64 (20-word
# sentences), forward pass only (token ids in, logits out; tokenising is not timed), peak
# RSS. Both sides run the SAME weights: PyTorch is tests/parity/glia_torch.py's TextRNN
# (core/nn/textnet.h's module, pack_padded_sequence as in training) with the bundle's
# model.safetensors loaded strictly, in eval mode under torch.inference_mode(). Since every
# sentence here has the same length, PyTorch is also timed without packing (the same
# nn.LSTM on the padded tensor), its fastest form for this input, in its own column.
#
# ONNX Runtime (onnxruntime-node, pinned by scripts/setup --test in .cache/npm-ort/, run by
# bench/ort_run.js) runs the same weights: the unpacked module above exported with
# torch.onnx.export (opset 14, dynamic batch), taking the token ids and the lexicon features
# (the frozen lexicon table's rows, looked up here) as its two inputs, intra-op threads = the
# row's thread count. All three get the same 64 sentences (--ids / --logits of bench_text), and
# the largest absolute difference of the batch-64 logits from glia's is printed for each.
#
# For each thread count, glia's bench_text, ONNX Runtime and PyTorch (a child process running this file
# with --torch) run alternately ROUNDS times; every figure is the median over rounds (each
# itself a median of many timings), and the ratio columns compare the medians, so the
# shared machine's noise hits both sides alike. glia's batch 1 runs on one thread, as one
# gliad worker answers one request; with 2 threads only its batch 64 is split over two
# workers, while PyTorch uses its intra-op threads for both.
#
#   /usr/bin/python3 bench/sentiment.py [--build build] [--bundle models/sentiment-lstm]
#                                       [--rounds 5] [--threads 1,2] [--words 20] [--profile]
#                                       [--no-ort]
#
# Run it once as the environment is and once with OPENBLAS_CORETYPE=Haswell given on the
# command line (the first line says which kernels OpenBLAS picked); the script never sets it.
import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time


ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUNDLE = os.path.join(ROOT, "models", "sentiment-lstm")


def run_json(cmd, env=None):
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env).stdout
    return json.loads(out.strip().splitlines()[-1])


def glia(build, bundle, threads, words, profile=False, work=None):
    cmd = [os.path.join(build, "bench", "bench_text"), bundle, "--threads", str(threads), "--words", str(words)]
    if work:
        cmd += ["--ids", os.path.join(work, "ids32.bin"), "--logits", os.path.join(work, "glia_logits.bin")]
    r = run_json(cmd + (["--profile"] if profile else []))
    return {"lat": r["latency_b1_ms"], "tp": r["throughput_b64"], "lat_np": None, "tp_np": None,
            "rss": r["peak_rss_mb"], "core": r["coretype"], "params": r["parameters"],
            "profile": r.get("profile_b1_us")}


def torch_side(bundle, threads, words, work):
    r = run_json(["/usr/bin/python3", os.path.abspath(__file__), "--torch", "--bundle", bundle, "--threads",
                  str(threads), "--words", str(words), "--work", work])
    return {"lat": r["latency_b1_ms"], "tp": r["throughput_b64"], "lat_np": r["latency_b1_ms_unpacked"],
            "tp_np": r["throughput_b64_unpacked"], "rss": r["peak_rss_mb"], "core": "torch " + r["torch"]}


def ort_side(work, threads, words):
    """ONNX Runtime on the exported model: batch 1 (the first sentence) and batch 64."""
    spec = {"threads": threads, "cases": []}
    for name, n, runs, warm in (("b1", 1, 2000, 20), ("b64", 64, 100, 10)):
        spec["cases"].append({"name": name, "model": "textnet.onnx", "runs": runs, "warm": warm,
                              "inputs": {"ids": {"file": "ids64_%d.bin" % n, "type": "int64", "dims": [n, words]},
                                         "lexicon": {"file": "lex_%d.bin" % n, "type": "float32",
                                                     "dims": [n, words, LEX[0]]}},
                              "output_file": "ort_logits_%d.bin" % n})
    path = os.path.join(work, "ort_spec_%d.json" % threads)
    with open(path, "w") as f:
        json.dump(spec, f)
    r = run_json(["node", os.path.join(ROOT, "bench", "ort_run.js"), path])
    return {"lat": r["cases"]["b1"]["ms"], "tp": 64e3 / r["cases"]["b64"]["ms"], "rss": r["peak_rss_mb"],
            "core": "onnxruntime " + r["version"]}


LEX = [0]


def export(a):
    """Writes the shared inputs, PyTorch's logits and the ONNX model into a.work; returns
    the lexicon width. Runs in the --torch child so the parent never imports torch."""
    r = run_json(["/usr/bin/python3", os.path.abspath(__file__), "--export", "--bundle", a.bundle, "--words",
                  str(a.words), "--work", a.work])
    LEX[0] = r["lexicon"]
    return r


def export_main(a):
    import numpy as np
    import torch
    sys.path.insert(0, os.path.join(ROOT, "tests", "parity"))
    import glia_torch as gt

    model = gt.build_text_module(os.path.join(a.bundle, "model.yaml"))
    model.load_state_dict(gt.load_safetensors(os.path.join(a.bundle, "model.safetensors")), strict=True)
    model.eval()
    v = model.embedding.num_embeddings
    g = torch.Generator().manual_seed(7)
    ids = torch.randint(2, v, (64, a.words), generator=g)
    ids.to(torch.int32).numpy().tofile(os.path.join(a.work, "ids32.bin"))
    k = model.lexicon.embedding_dim if model.lexicon is not None else 0

    class Unpacked(torch.nn.Module):
        """The module without pack_padded_sequence (every row has the same length); the
        lexicon features come in as an input, as a tokenizer would compute them."""

        def __init__(self, m):
            super().__init__()
            self.m = m

        def forward(self, x_ids, lex):
            return unpacked_forward(self.m, x_ids, lex if k else None)

    wrapped = Unpacked(model).eval()
    with torch.inference_mode():
        lex = model.lexicon(ids) if k else torch.zeros(64, a.words, 1)
        want = model(ids, torch.full((64,), a.words, dtype=torch.int64))
    want.numpy().astype(np.float32).tofile(os.path.join(a.work, "torch_logits.bin"))
    for n in (1, 64):
        ids[:n].numpy().astype(np.int64).tofile(os.path.join(a.work, "ids64_%d.bin" % n))
        lex[:n].numpy().astype(np.float32).tofile(os.path.join(a.work, "lex_%d.bin" % n))
    torch.onnx.export(wrapped, (ids[:1], lex[:1]), os.path.join(a.work, "textnet.onnx"), opset_version=14,
                      input_names=["ids", "lexicon"], output_names=["logits"],
                      dynamic_axes={"ids": {0: "batch"}, "lexicon": {0: "batch"}, "logits": {0: "batch"}})
    print(json.dumps({"lexicon": int(lex.shape[2]), "torch": torch.__version__}))


def max_diff(work, a, b):
    import numpy as np  # here, not at the top: glia's peak RSS (kept across exec) would carry it

    x = np.fromfile(os.path.join(work, a), dtype=np.float32)
    y = np.fromfile(os.path.join(work, b), dtype=np.float32)
    if x.shape != y.shape:
        return float("inf")
    return float(np.abs(x - y).max())


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


def unpacked_forward(model, x_ids, lex):
    """The TextRNN without pack_padded_sequence (right only when no row is padded), with the
    lexicon features (or None) given as an input."""
    import torch
    x = model.embedding(x_ids)
    if lex is not None:
        x = torch.cat([x, lex], dim=2)
    out, state = model.rnn(x)
    h_n = state[0] if isinstance(state, tuple) else state
    if model.pooling == "last":
        p = torch.cat([h_n[-2], h_n[-1]], dim=1) if model.dirs == 2 else h_n[-1]
    elif model.pooling == "mean":
        p = out.mean(1)
    else:
        p = out.max(1).values
    return model.fc(p)


def torch_main(a):
    """The PyTorch side, in its own process (for its RSS and thread count); one JSON line."""
    import numpy as np
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
    if a.work:  # the sentences glia and ONNX Runtime get
        ids = torch.from_numpy(np.fromfile(os.path.join(a.work, "ids32.bin"), dtype=np.int32).astype(np.int64))
        ids = ids.reshape(64, a.words)
    lengths = torch.full((64,), a.words, dtype=torch.int64)

    def unpacked(x_ids):
        return unpacked_forward(model, x_ids, model.lexicon(x_ids) if model.lexicon is not None else None)

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
    ap.add_argument("--no-ort", action="store_true", help="leave ONNX Runtime out")
    ap.add_argument("--torch", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--export", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--work", default=None, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.torch:
        torch_main(a)
        return
    if a.export:
        export_main(a)
        return
    a.bundle = os.path.abspath(a.bundle)
    if not os.path.exists(os.path.join(a.bundle, "model.safetensors")):
        sys.exit("%s has no model.safetensors: train one (see its recipe.yaml) and pass --bundle" % a.bundle)
    with tempfile.TemporaryDirectory(prefix="glia-sentiment-") as work:
        a.work = work
        exp = export(a)
        first = glia(a.build, a.bundle, 1, a.words, work=work)
        print("%s (%d parameters), %d-word sentences, %d rounds per figure, medians; glia's OpenBLAS kernels: %s"
              % (os.path.relpath(a.bundle, ROOT) if a.bundle.startswith(ROOT) else a.bundle, first["params"],
                 a.words, a.rounds, first["core"]))
        print()
        print("| threads | figure | glia | ONNX Runtime | glia / ORT | PyTorch | glia / PyTorch | "
              "PyTorch unpacked | glia / unpacked |")
        print("|---|---|---|---|---|---|---|---|---|")
        ort_version = ""
        for t in [int(x) for x in a.threads.split(",")]:
            g, o, p = [], [], []
            for _ in range(a.rounds):  # alternating, so the machine's noise hits all alike
                g.append(glia(a.build, a.bundle, t, a.words, work=work))
                if not a.no_ort:
                    o.append(ort_side(work, t, a.words))
                p.append(torch_side(a.bundle, t, a.words, work))
            ort_version = o[0]["core"] if o else "not run"
            rows = [
                ("latency, batch 1 (ms)", "lat", "lat_np", True),
                ("throughput, batch 64 (sentences/s)", "tp", "tp_np", False),
                ("peak RSS (MB)", "rss", None, True),
            ]

            def ratio(gv, xv, lower_better):
                return xv / gv if lower_better else gv / xv

            for name, key, key_np, lower in rows:
                gv, pv = med(g, key), med(p, key)
                ov = med(o, key) if o else float("nan")
                nv = med(p, key_np) if key_np else None
                np_cols = "%.3f | %.2fx" % (nv, ratio(gv, nv, lower)) if key_np else " | "
                print("| %d | %s | %.3f | %.3f | %.2fx | %.3f | %.2fx | %s |"
                      % (t, name, gv, ov, ratio(gv, ov, lower), pv, ratio(gv, pv, lower), np_cols))
            sys.stdout.flush()
        print()
        print("ratios: > 1 means glia is better (%s, torch %s, one process each)" % (ort_version, exp["torch"]))
        print("batch-64 logits, largest |difference| from glia's: PyTorch %.2g, ONNX Runtime %s"
              % (max_diff(work, "glia_logits.bin", "torch_logits.bin"),
                 "%.2g" % max_diff(work, "glia_logits.bin", "ort_logits_64.bin") if not a.no_ort else "not run"))
    if a.profile:
        rows = [glia(a.build, a.bundle, 1, a.words, profile=True)["profile"] for _ in range(a.rounds)]
        print()
        print("glia batch-1 forward by piece (microseconds, medians over %d runs; the pieces of the path the "
              "forward takes; rnn detail is layer 0, direction 0)" % a.rounds)
        print()
        print("| piece | us |")
        print("|---|---|")

        def cell(k, got):
            return got[0] if isinstance(got[0], str) else "%.3f" % statistics.median(got)

        for k in rows[0]:
            if k != "rnn_detail":
                print("| %s | %s |" % (k, cell(k, [r[k] for r in rows])))
        for k in rows[0]["rnn_detail"]:
            print("| rnn: %s | %s |" % (k, cell(k, [r["rnn_detail"][k] for r in rows])))


if __name__ == "__main__":
    main()
