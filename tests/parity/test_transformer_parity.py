#!/usr/bin/python3
# test_transformer_parity.py - glia's Transformer stacks against PyTorch's nn.Transformer (TAP).
#
# PyTorch builds nn.Transformer(d_model=16, nhead=2, 2 encoder and 2 decoder layers,
# dim_feedforward=32, dropout=0, batch_first=True), once post-norm and once pre-norm
# (norm_first), with every parameter moved off its initial value. Its state_dict goes to a
# safetensors file that glia's transformer_forward (tests/parity/transformer_forward.c)
# loads with glia_params_load_strict; a padded batch of source and target sequences of
# different lengths goes to another, with key padding masks for the source (encoder
# self-attention and decoder cross-attention) and the target, and the causal target mask.
# glia's encoder output (memory), decoder output, the decoder run one position at a time
# over its key/value cache, d(src), d(tgt) and every parameter gradient of
#   L = sum(out * dout) over valid target positions
# must match PyTorch (max |diff| < 1e-4) at valid positions; padded inputs hold NaN on
# glia's side, so reading one would show. PyTorch's eval-mode forward (its fast path) is
# compared too.
#
# Usage: test_transformer_parity.py TRANSFORMER_FORWARD_EXE   (exit 77 = skipped without torch)
import os
import subprocess
import sys
import tempfile
import warnings

try:
    import numpy as np  # noqa: F401  (glia_torch needs it)
    import torch
    import torch.nn as nn
except ImportError as e:  # pragma: no cover - depends on the machine
    print("1..0 # SKIP PyTorch not available (%s); scripts/setup --test installs python3-torch" % e)
    sys.exit(77)

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import glia_torch as gt  # noqa: E402

TOL = 1e-4
E, NHEAD, FF, NENC, NDEC = 16, 2, 32, 2, 2
B, S, T = 4, 6, 5
SRC_LEN = [6, 2, 4, 1]  # unsorted, one of length 1
TGT_LEN = [3, 5, 1, 4]

results = []


def check(name, ok, detail=""):
    results.append(ok)
    print("%s %d - %s%s" % ("ok" if ok else "not ok", len(results), name, (" # " + detail) if detail else ""))
    sys.stdout.flush()


def maxdiff(a, b, mask=None):
    if a is None or b is None or tuple(a.shape) != tuple(b.shape):
        return float("inf")
    d = (a.double() - b.double()).abs()
    if mask is not None:
        d = d[mask]
    return float(d.max()) if d.numel() else 0.0


def run(exe, norm_first):
    torch.manual_seed(1 + norm_first)
    model = nn.Transformer(d_model=E, nhead=NHEAD, num_encoder_layers=NENC, num_decoder_layers=NDEC,
                           dim_feedforward=FF, dropout=0.0, batch_first=True, norm_first=bool(norm_first))
    with torch.no_grad():
        for p in model.parameters():  # norms and biases off 1 / 0 so their gradients matter
            p.add_(0.1 * torch.randn_like(p))
    src_len = torch.tensor(SRC_LEN)
    tgt_len = torch.tensor(TGT_LEN)
    src_valid = torch.arange(S)[None, :] < src_len[:, None]
    tgt_valid = torch.arange(T)[None, :] < tgt_len[:, None]
    causal = torch.triu(torch.ones(T, T, dtype=torch.bool), diagonal=1)
    src = torch.randn(B, S, E)
    tgt = torch.randn(B, T, E)
    dout = torch.randn(B, T, E)

    model.train()  # dropout is 0: the plain path, with autograd
    s = src.clone().requires_grad_(True)
    t = tgt.clone().requires_grad_(True)
    memory = model.encoder(s, src_key_padding_mask=~src_valid)
    out = model.decoder(t, memory, tgt_mask=causal, tgt_key_padding_mask=~tgt_valid,
                        memory_key_padding_mask=~src_valid)
    (out * dout * tgt_valid[:, :, None]).sum().backward()
    model.eval()
    with torch.no_grad():
        out_eval = model(src, tgt, tgt_mask=causal, src_key_padding_mask=~src_valid,
                         tgt_key_padding_mask=~tgt_valid, memory_key_padding_mask=~src_valid)

    src_glia, tgt_glia = src.clone(), tgt.clone()
    src_glia[~src_valid] = float("nan")
    tgt_glia[~tgt_valid] = float("nan")
    meta = {"d_model": str(E), "nhead": str(NHEAD), "dim_feedforward": str(FF), "num_encoder_layers": str(NENC),
            "num_decoder_layers": str(NDEC), "norm_first": str(norm_first), "layer_norm_eps": "1e-5"}
    what = "pre-norm" if norm_first else "post-norm"
    with tempfile.TemporaryDirectory() as tmp:
        wpath, ipath, opath = (os.path.join(tmp, f) for f in ("w.safetensors", "in.safetensors", "out.safetensors"))
        gt.save_safetensors(wpath, {k: v.detach() for k, v in model.state_dict().items()})
        gt.save_safetensors(ipath, {"src": src_glia, "tgt": tgt_glia, "src_lengths": src_len.to(torch.int32),
                                    "tgt_lengths": tgt_len.to(torch.int32), "dout": dout}, metadata=meta)
        r = subprocess.run([exe, wpath, ipath, opath], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        check("%s: transformer_forward loads the state_dict strictly and runs" % what, r.returncode == 0,
              r.stderr.decode(errors="replace").strip()[:300])
        got = gt.load_safetensors(opath) if r.returncode == 0 else {}

    sv, tv = src_valid[:, :, None].expand(B, S, E), tgt_valid[:, :, None].expand(B, T, E)
    d = maxdiff(got.get("memory"), memory.detach(), sv)
    check("%s: encoder output (memory) matches" % what, d < TOL, "max |diff| %.3g" % d)
    d = maxdiff(got.get("output"), out.detach(), tv)
    check("%s: decoder output matches" % what, d < TOL, "max |diff| %.3g" % d)
    d = maxdiff(got.get("output"), out_eval, tv)
    check("%s: decoder output matches PyTorch's eval-mode forward" % what, d < TOL, "max |diff| %.3g" % d)
    d = maxdiff(got.get("incremental"), out.detach(), tv)
    check("%s: incremental decoding (key/value cache) matches" % what, d < TOL, "max |diff| %.3g" % d)
    d = max(maxdiff(got.get("dsrc"), s.grad), maxdiff(got.get("dtgt"), t.grad))
    check("%s: d(src), d(tgt) match autograd (0 at padding)" % what, d < TOL, "max |diff| %.3g" % d)
    worst, at, n = 0.0, "", 0
    for k, p in model.named_parameters():
        n += 1
        dk = maxdiff(got.get("grad." + k), p.grad)
        if dk >= worst:
            worst, at = dk, k
    check("%s: all %d parameter gradients match autograd" % (what, n), worst < TOL,
          "max |diff| %.3g at %s" % (worst, at))
    return 7


def main():
    exe = sys.argv[1]
    torch.set_num_threads(1)
    warnings.filterwarnings("ignore", message=".*nested tensors.*")  # eval mode's fast path
    print("1..14")
    run(exe, 0)
    run(exe, 1)
    return 0 if all(results) and len(results) == 14 else 1


if __name__ == "__main__":
    sys.exit(main())
