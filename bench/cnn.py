#!/usr/bin/python3
# cnn.py - glia vs ONNX Runtime vs PyTorch on the fashion-cnn bundle, measured in one run;
# prints a table.
#
# For each thread count, glia's bench_cnn, ONNX Runtime (bench/ort_run.js, onnxruntime-node
# pinned by scripts/setup --test) and PyTorch's torch_cnn.py run alternately ROUNDS times on
# the same weights; every figure is the median over rounds (each itself a median of many
# timings), and the ratio columns compare the medians, so the shared machine's noise hits
# all sides alike. ONNX Runtime runs the bundle's PyTorch module (tests/parity/glia_torch.py)
# exported with torch.onnx.export (opset 14, dynamic batch), intra-op threads = the row's
# thread count; it has no training, so its training cell is empty.
#
# All three get the same 64 images (bench_cnn --input / --logits); the largest absolute
# difference of the batch-64 logits from glia's is printed for ONNX Runtime and PyTorch.
# GFLOP/s: the forward's multiply-adds per image (convolutions and linear layers, counted on
# the PyTorch module) x 2 x images/s, next to the machine's single-core sgemm peak that
# bench_cnn --peak measures in the same run (a 512^3 sgemm, the best of 20 calls).
#
# The first line says which kernels OpenBLAS picked. Run it once as the environment is and
# once with OPENBLAS_CORETYPE=Haswell given on the command line; the script never sets it.
#
#   /usr/bin/python3 bench/cnn.py [--build build] [--rounds 3] [--threads 1,2] [--no-ort]
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile


ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUNDLE = os.path.join(ROOT, "models", "fashion-cnn")


def run_json(cmd, env=None):
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env).stdout
    return json.loads(out.strip().splitlines()[-1])


def glia(build, threads, work):
    r = run_json([os.path.join(build, "bench", "bench_cnn"), BUNDLE, "--threads", str(threads), "--input",
                  os.path.join(work, "x_64.bin"), "--logits", os.path.join(work, "glia_logits.bin"), "--peak"])
    return {"lat": r["latency_b1_ms"], "tp": r["throughput_b64"], "train": r["train_images_per_s"],
            "rss_inf": r["peak_rss_inference_mb"], "rss": r["peak_rss_mb"], "core": r["coretype"],
            "peak": r["sgemm_peak_gflops"]}


def torch(threads):
    r = run_json(["/usr/bin/python3", os.path.join(ROOT, "bench", "torch_cnn.py"), "--manifest",
                  os.path.join(BUNDLE, "model.yaml"), "--weights", os.path.join(BUNDLE, "model.safetensors"),
                  "--threads", str(threads)])
    return {"lat": r["latency_b1_ms_median"], "tp": r["throughput_ips"], "train": r["train_ips"],
            "rss_inf": r["peak_rss_inference_mb"], "rss": r["peak_rss_mb"], "core": "torch " + r["torch"]}


def ort(work, threads, shape):
    spec = {"threads": threads, "cases": []}
    for name, n, runs, warm in (("b1", 1, 1000, 50), ("b64", 64, 30, 3)):
        spec["cases"].append({"name": name, "model": "cnn.onnx", "runs": runs, "warm": warm,
                              "inputs": {"x": {"file": "x_%d.bin" % n, "type": "float32", "dims": [n] + shape}},
                              "output_file": "ort_logits_%d.bin" % n})
    path = os.path.join(work, "ort_spec_%d.json" % threads)
    with open(path, "w") as f:
        json.dump(spec, f)
    r = run_json(["node", os.path.join(ROOT, "bench", "ort_run.js"), path])
    return {"lat": r["cases"]["b1"]["ms"], "tp": 64e3 / r["cases"]["b64"]["ms"], "train": float("nan"),
            "rss_inf": r["peak_rss_mb"], "rss": float("nan"), "core": "onnxruntime " + r["version"]}


def export_main(a):
    import numpy as np
    """In a child process (the parent never imports torch): the shared images, PyTorch's
    logits of them, the ONNX model and the forward's FLOP count."""
    import torch as th
    sys.path.insert(0, os.path.join(ROOT, "tests", "parity"))
    from glia_torch import build_module, load_manifest, load_safetensors

    m = load_manifest(os.path.join(BUNDLE, "model.yaml"))
    model = build_module(m)
    model.load_state_dict(load_safetensors(os.path.join(BUNDLE, "model.safetensors")), strict=True)
    model.eval()
    shape = list(m["input"]["shape"])
    x = th.randn([64] + shape, generator=th.Generator().manual_seed(7))
    x.numpy().astype(np.float32).tofile(os.path.join(a.work, "x_64.bin"))
    x[:1].numpy().astype(np.float32).tofile(os.path.join(a.work, "x_1.bin"))
    macs = [0]

    def count(mod, inp, out):
        if isinstance(mod, th.nn.Conv2d):
            k = mod.kernel_size[0] * mod.kernel_size[1] * mod.in_channels // mod.groups
            macs[0] += k * out[0].numel()
        elif isinstance(mod, th.nn.Linear):
            macs[0] += mod.in_features * mod.out_features

    hooks = [mod.register_forward_hook(count) for mod in model.modules()]
    with th.inference_mode():
        model(x[:1])
        for h in hooks:
            h.remove()
        model(x).numpy().astype(np.float32).tofile(os.path.join(a.work, "torch_logits.bin"))
    th.onnx.export(model, (x[:1],), os.path.join(a.work, "cnn.onnx"), opset_version=14, input_names=["x"],
                   output_names=["logits"], dynamic_axes={"x": {0: "batch"}, "logits": {0: "batch"}})
    print(json.dumps({"shape": shape, "flop_per_image": 2 * macs[0], "torch": th.__version__}))


def max_diff(work, a, b):
    import numpy as np  # here, not at the top: glia's peak RSS (kept across exec) would carry it

    x = np.fromfile(os.path.join(work, a), dtype=np.float32)
    y = np.fromfile(os.path.join(work, b), dtype=np.float32)
    return float(np.abs(x - y).max()) if x.shape == y.shape else float("inf")


def med(rows, key):
    return statistics.median(r[key] for r in rows)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--no-ort", action="store_true", help="leave ONNX Runtime out")
    ap.add_argument("--export", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--work", default=None, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.export:
        export_main(a)
        return
    with tempfile.TemporaryDirectory(prefix="glia-cnn-") as work:
        exp = run_json(["/usr/bin/python3", os.path.abspath(__file__), "--export", "--work", work])
        flop = exp["flop_per_image"]
        first = glia(a.build, 1, work)
        print("fashion-cnn (870,634 parameters, %.1f MFLOP per image), %d rounds per figure, medians; glia's "
              "OpenBLAS kernels: %s" % (flop / 1e6, a.rounds, first["core"]))
        print()
        print("| threads | figure | glia | ONNX Runtime | glia / ORT | PyTorch | glia / PyTorch |")
        print("|---|---|---|---|---|---|---|")
        ort_version, peaks, gflops = "not run", [], []
        for t in [int(x) for x in a.threads.split(",")]:
            g, o, p = [], [], []
            for _ in range(a.rounds):  # alternating, so the machine's noise hits all alike
                g.append(glia(a.build, t, work))
                if not a.no_ort:
                    o.append(ort(work, t, exp["shape"]))
                p.append(torch(t))
            peaks += [r["peak"] for r in g]
            ort_version = o[0]["core"] if o else "not run"
            rows = [
                ("latency, batch 1 (ms)", "lat", True),
                ("throughput, batch 64 (images/s)", "tp", False),
                ("training, Adam batch 64 (images/s)", "train", False),
                ("peak RSS, inference (MB)", "rss_inf", True),
                ("peak RSS, with training (MB)", "rss", True),
            ]

            def ratio(gv, xv, lower_better):
                return "-" if xv != xv else "%.2fx" % (xv / gv if lower_better else gv / xv)

            for name, key, lower in rows:
                gv, pv = med(g, key), med(p, key)
                ov = med(o, key) if o else float("nan")
                print("| %d | %s | %.3f | %s | %s | %.3f | %s |"
                      % (t, name, gv, "-" if ov != ov else "%.3f" % ov, ratio(gv, ov, lower), pv,
                         ratio(gv, pv, lower)))
            gflops.append((t, med(g, "tp") * flop / 1e9, med(o, "tp") * flop / 1e9 if o else float("nan"),
                           med(p, "tp") * flop / 1e9, 1e-6 * flop / med(g, "lat"),
                           1e-6 * flop / med(o, "lat") if o else float("nan")))
            sys.stdout.flush()
        peak = statistics.median(peaks)
        print()
        print("GFLOP/s against the single-core sgemm peak measured in this run (%.1f GFLOP/s, 512^3, %s):"
              % (peak, first["core"]))
        print()
        print("| threads | glia batch 64 | ORT batch 64 | PyTorch batch 64 | glia batch 1 | ORT batch 1 |")
        print("|---|---|---|---|---|---|")
        for t, gb, ob, pb, g1, o1 in gflops:
            print("| %d | %.1f (%.0f%%) | %.1f (%.0f%%) | %.1f (%.0f%%) | %.1f (%.0f%%) | %.1f (%.0f%%) |"
                  % (t, gb, 100 * gb / peak, ob, 100 * ob / peak, pb, 100 * pb / peak, g1, 100 * g1 / peak, o1,
                     100 * o1 / peak))
        print()
        print("ratios: > 1 means glia is better (%s, torch %s)" % (ort_version, exp["torch"]))
        print("batch-64 logits, largest |difference| from glia's: PyTorch %.2g, ONNX Runtime %s"
              % (max_diff(work, "glia_logits.bin", "torch_logits.bin"),
                 "%.2g" % max_diff(work, "glia_logits.bin", "ort_logits_64.bin") if not a.no_ort else "not run"))


if __name__ == "__main__":
    main()
