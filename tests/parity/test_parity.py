#!/usr/bin/python3
# test_parity.py - glia <-> PyTorch parity on the fashion-cnn architecture (TAP output).
#
#   1. glia's shipped weights load into the PyTorch module with load_state_dict(strict=True)
#      and both give the same logits on the same 256 test images (max |diff| < 1e-4);
#   2. PyTorch's own default-initialised weights, saved as safetensors, served through glia
#      give the same logits and the same predictions;
#   3. `glia predict` on PGM files of test images (decode + preprocessing in C) gives the
#      label and probability that PyTorch computes from the raw pixels.
# Usage: test_parity.py GLIA_EXE   (exit 77 = skipped when torch is not installed)
import os
import subprocess
import sys
import tempfile

try:
    import numpy as np
    import torch
except ImportError as e:  # pragma: no cover - depends on the machine
    print("1..0 # SKIP PyTorch not available (%s); scripts/setup --test installs python3-torch" % e)
    sys.exit(77)

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import glia_torch as gt  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(HERE))
BUNDLE = os.path.join(ROOT, "models", "fashion-cnn")
MANIFEST = os.path.join(BUNDLE, "model.yaml")
TOL = 1e-4
N = 256

results = []


def check(name, ok, detail=""):
    results.append(ok)
    print("%s %d - %s%s" % ("ok" if ok else "not ok", len(results), name, (" # " + detail) if detail else ""))
    sys.stdout.flush()


def torch_logits(weights, x):
    model = gt.build_module(MANIFEST)
    model.load_state_dict(gt.load_safetensors(weights), strict=True)
    model.eval()
    with torch.no_grad():
        return model(x)


def glia_logits(glia, bundle, x, tmp):
    inp, out = os.path.join(tmp, "in.safetensors"), os.path.join(tmp, "out.safetensors")
    gt.save_safetensors(inp, {"input": x})
    subprocess.run([glia, "forward", bundle, inp, out], check=True)
    return gt.load_safetensors(out)["logits"]


def main():
    glia = sys.argv[1]
    torch.set_num_threads(1)
    print("1..6")
    images, labels = gt.fashion_test(N)
    x = gt.preprocess(images, MANIFEST)
    with tempfile.TemporaryDirectory() as tmp:
        # 1. glia -> PyTorch
        try:
            ref = torch_logits(os.path.join(BUNDLE, "model.safetensors"), x)
            check("glia's weights load into PyTorch with strict=True", True)
        except Exception as e:  # report, then fail the comparisons too
            check("glia's weights load into PyTorch with strict=True", False, str(e)[:200])
            ref = None
        got = glia_logits(glia, BUNDLE, x, tmp)
        diff = float((got - ref).abs().max()) if ref is not None else float("inf")
        check("glia and PyTorch logits agree on %d test images" % N, diff < TOL, "max |diff| %.3g" % diff)

        # 2. PyTorch -> glia
        other = os.path.join(tmp, "torch-bundle")
        os.mkdir(other)
        with open(MANIFEST) as f:
            text = f.read()
        with open(os.path.join(other, "model.yaml"), "w") as f:
            f.write(text.split("# --- results", 1)[0])
        with open(os.path.join(BUNDLE, "labels.txt")) as f, open(os.path.join(other, "labels.txt"), "w") as g:
            g.write(f.read())
        torch.manual_seed(7)
        model = gt.build_module(MANIFEST)
        gt.save_safetensors(os.path.join(other, "model.safetensors"), model.state_dict())
        model.eval()
        with torch.no_grad():
            ref2 = model(x)
        got2 = glia_logits(glia, other, x, tmp)
        diff2 = float((got2 - ref2).abs().max())
        check("PyTorch-saved weights served by glia give PyTorch's logits", diff2 < TOL, "max |diff| %.3g" % diff2)
        same = int((got2.argmax(1) == ref2.argmax(1)).sum())
        check("and the same predictions", same == N, "%d of %d" % (same, N))

        # 3. glia predict on image files
        files = []
        for i in range(16):
            p = os.path.join(tmp, "img%02d.pgm" % i)
            with open(p, "wb") as f:
                f.write(b"P5\n28 28\n255\n" + images[i].astype(np.uint8).tobytes())
            files.append(p)
        out = subprocess.run([glia, "predict", BUNDLE] + files, check=True, capture_output=True, text=True).stdout
        rows = [l.split("\t") for l in out.strip().splitlines()]
        names = [l.strip() for l in open(os.path.join(BUNDLE, "labels.txt")) if l.strip()]
        prob = torch.softmax(ref, 1) if ref is not None else None
        ok_label = ok_prob = len(rows) == len(files)
        worst = 0.0
        for i, r in enumerate(rows[: len(files)]):
            k = int(prob[i].argmax())
            ok_label = ok_label and r[1] == names[k]
            worst = max(worst, abs(float(r[2]) - float(prob[i, k])))
        check("glia predict labels match PyTorch on PGM files", ok_label)
        check("glia predict probabilities match PyTorch", ok_prob and worst < 1e-3, "max |diff| %.3g" % worst)
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
