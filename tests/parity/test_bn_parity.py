#!/usr/bin/python3
# test_bn_parity.py - glia's batchnorm2d against PyTorch's nn.BatchNorm2d (TAP output).
#
# On fashion-cnn-bn's architecture with its dropout set to p = 0 (so that both sides
# compute the same function in training), from a PyTorch state_dict whose batch-norm
# weights, biases and running estimates are all moved away from their initial values:
#   1. the state_dict loads into glia unchanged (num_batches_tracked an int64 scalar);
#   2. evaluation logits (running estimates) agree;
#   3. training-mode logits (batch statistics) agree;
#   4. the parameter gradients of that training forward agree;
#   5. the state glia writes after it loads into PyTorch with load_state_dict(strict=True),
#      num_batches_tracked an int64 that counted the batch;
#   6. and its running estimates are PyTorch's after the same forward (momentum 0.1,
#      unbiased variance);
#   7. the shipped fashion-cnn-bn weights load into PyTorch (strict) and give glia's logits
#      on 64 test images.
# Usage: test_bn_parity.py BN_FORWARD GLIA_EXE   (exit 77 = skipped without torch)
import os
import subprocess
import sys
import tempfile

try:
    import torch
    import yaml
except ImportError as e:  # pragma: no cover - depends on the machine
    print("1..0 # SKIP PyTorch not available (%s); scripts/setup --test installs python3-torch" % e)
    sys.exit(77)

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import glia_torch as gt  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(HERE))
BUNDLE = os.path.join(ROOT, "models", "fashion-cnn-bn")
MANIFEST = os.path.join(BUNDLE, "model.yaml")
TOL = 1e-4
N = 16

results = []


def check(name, ok, detail=""):
    results.append(ok)
    print("%s %d - %s%s" % ("ok" if ok else "not ok", len(results), name, (" # " + detail) if detail else ""))
    sys.stdout.flush()


def maxdiff(a, b):
    return float((a.float() - b.float()).abs().max())


def main():
    bn_forward, glia = sys.argv[1], sys.argv[2]
    torch.set_num_threads(1)
    print("1..7")
    with open(MANIFEST) as f:
        text = f.read().split("# --- results", 1)[0]
    m = yaml.safe_load(text)
    for mod in m["architecture"]["modules"]:
        for layer in mod["layers"]:
            if layer["type"] == "dropout":
                layer["p"] = 0.0
    with tempfile.TemporaryDirectory() as tmp:
        man = os.path.join(tmp, "model.yaml")
        with open(man, "w") as f:
            yaml.safe_dump(m, f)
        with open(os.path.join(BUNDLE, "labels.txt")) as f, open(os.path.join(tmp, "labels.txt"), "w") as g:
            g.write(f.read())
        torch.manual_seed(3)
        model = gt.build_module(m)
        with torch.no_grad():
            for mod in model.modules():
                if isinstance(mod, torch.nn.BatchNorm2d):
                    c = mod.num_features
                    mod.weight.uniform_(0.5, 1.5)
                    mod.bias.uniform_(-0.5, 0.5)
                    mod.running_mean.uniform_(-0.3, 0.3)
                    mod.running_var.uniform_(0.5, 2.0)
                    mod.num_batches_tracked.fill_(7)
                    assert c > 0
        weights = os.path.join(tmp, "w.safetensors")
        gt.save_safetensors(weights, model.state_dict())
        x = torch.randn(N, 1, 28, 28) * 1.5 + 0.2
        dout = torch.randn(N, 10)
        gt.save_safetensors(os.path.join(tmp, "in.safetensors"), {"input": x, "dout": dout})
        out, state = os.path.join(tmp, "out.safetensors"), os.path.join(tmp, "state.safetensors")
        r = subprocess.run([bn_forward, man, weights, os.path.join(tmp, "in.safetensors"), out, state],
                           capture_output=True, text=True)
        check("a PyTorch state_dict with BatchNorm2d loads into glia", r.returncode == 0, r.stderr.strip()[:200])
        if r.returncode != 0:
            for _ in range(6):
                check("skipped: glia did not run", False)
            return
        got = gt.load_safetensors(out)

        model.eval()
        with torch.no_grad():
            ref_eval = model(x)
        d = maxdiff(got["eval"], ref_eval)
        check("evaluation logits agree (running estimates)", d < TOL, "max |diff| %.3g" % d)

        model.train()
        xr = x.clone()
        ref_train = model(xr)
        model.zero_grad()
        ref_train.backward(dout)
        d = maxdiff(got["train"], ref_train.detach())
        check("training logits agree (batch statistics)", d < TOL, "max |diff| %.3g" % d)
        worst, where = 0.0, ""
        for name, p in model.named_parameters():
            g = got["grad." + name]
            e = maxdiff(g, p.grad) / max(1.0, float(p.grad.abs().max()))
            if e > worst:
                worst, where = e, name
        check("parameter gradients agree", worst < 1e-3, "worst relative %.3g at %s" % (worst, where))

        sd = gt.load_safetensors(state)
        other = gt.build_module(m)
        try:
            other.load_state_dict(sd, strict=True)
            nbt = sd["features.1.num_batches_tracked"]
            ok = nbt.dtype == torch.int64 and nbt.dim() == 0 and int(nbt) == 8
            check("glia's state after a training forward loads into PyTorch (strict)", ok,
                  "num_batches_tracked %s %s" % (nbt.dtype, nbt.tolist()))
        except Exception as e:
            check("glia's state after a training forward loads into PyTorch (strict)", False, str(e)[:200])
        worst, where = 0.0, ""
        for name, buf in model.named_buffers():
            e = maxdiff(sd[name], buf) / max(1.0, float(buf.abs().max().float()))
            if e > worst:
                worst, where = e, name
        check("the running estimates moved as PyTorch's", worst < 1e-5, "worst %.3g at %s" % (worst, where))

        # the shipped bundle
        try:
            shipped = gt.build_module(MANIFEST)
            shipped.load_state_dict(gt.load_safetensors(os.path.join(BUNDLE, "model.safetensors")), strict=True)
            shipped.eval()
            images, _ = gt.fashion_test(64)
            xs = gt.preprocess(images, MANIFEST)
            with torch.no_grad():
                ref = shipped(xs)
            inp, o = os.path.join(tmp, "x.safetensors"), os.path.join(tmp, "y.safetensors")
            gt.save_safetensors(inp, {"input": xs})
            subprocess.run([glia, "forward", BUNDLE, inp, o], check=True)
            d = maxdiff(gt.load_safetensors(o)["logits"], ref)
            check("the shipped fashion-cnn-bn gives PyTorch's logits", d < TOL, "max |diff| %.3g" % d)
        except Exception as e:
            check("the shipped fashion-cnn-bn gives PyTorch's logits", False, str(e)[:200])


if __name__ == "__main__":
    main()
    sys.exit(0 if results and all(results) else 1)
