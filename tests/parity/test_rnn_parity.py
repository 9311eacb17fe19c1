#!/usr/bin/python3
# test_rnn_parity.py - glia's recurrent layers against PyTorch (TAP output).
#
# PyTorch builds nn.LSTM(batch_first=True, num_layers=2, bidirectional=True), nn.RNN (tanh,
# two layers, bidirectional), a three-layer one-directional LSTM and an nn.Embedding with
# padding_idx, and a padded batch of sequences of different lengths (unsorted). Their
# state_dicts, the batch, the lengths and random output gradients go to glia's
# rnn_forward (tests/parity/rnn_forward.c) as one safetensors file; glia's outputs must
# match what pack_padded_sequence / pad_packed_sequence give (max |diff| < 1e-4), be
# exactly 0 at padded positions, and so must h_n / c_n, the three poolings over time,
# d(input) and every parameter gradient of
#   L = sum(out * dout) + sum(h_n * dh_n) + sum(c_n * dc_n)
# (dout is non-zero at padded positions too: glia must ignore it there, as PyTorch does).
# The padded positions of glia's input hold NaN and its padded token ids lie outside the
# vocabulary, so reading any of them would show. Last, the weights glia initialises
# load into the PyTorch modules with load_state_dict(strict=True), within PyTorch's bounds.
#
# Usage: test_rnn_parity.py RNN_FORWARD_EXE   (exit 77 = skipped when torch is missing)
import math
import os
import subprocess
import sys
import tempfile

try:
    import numpy as np  # noqa: F401  (glia_torch needs it)
    import torch
    import torch.nn as nn
    from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence
except ImportError as e:  # pragma: no cover - depends on the machine
    print("1..0 # SKIP PyTorch not available (%s); scripts/setup --test installs python3-torch" % e)
    sys.exit(77)

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import glia_torch as gt  # noqa: E402

TOL = 1e-4
B, T = 5, 7
LENGTHS = [7, 3, 1, 5, 6]  # unsorted; the longest fills T, one has length 1
IN = 5

# name -> (mode, hidden, layers, bidirectional)
MODULES = {
    "lstm": ("lstm", 6, 2, True),
    "rnn": ("rnn_tanh", 4, 2, True),
    "lstm_uni": ("lstm", 3, 3, False),
}
VOCAB, EMB_DIM, PAD = 11, 4, 0

results = []


def check(name, ok, detail=""):
    results.append(ok)
    print("%s %d - %s%s" % ("ok" if ok else "not ok", len(results), name, (" # " + detail) if detail else ""))
    sys.stdout.flush()


def build(mode, hidden, layers, bi):
    cls = nn.LSTM if mode == "lstm" else nn.RNN
    kw = {} if mode == "lstm" else {"nonlinearity": "tanh"}
    return cls(IN, hidden, num_layers=layers, bidirectional=bi, batch_first=True, **kw)


def maxdiff(a, b):
    if a is None or b is None or tuple(a.shape) != tuple(b.shape):
        return float("inf")
    return float((a.double() - b.double()).abs().max())


def compare(name, got, want, detail=""):
    d = maxdiff(got, want)
    check(name, d < TOL, "max |diff| %.3g%s" % (d, detail))


def main():
    exe = sys.argv[1]
    torch.manual_seed(0)
    torch.set_num_threads(1)
    n_tests = 1 + len(MODULES) * 6 + 2 + 1
    print("1..%d" % n_tests)

    lengths = torch.tensor(LENGTHS, dtype=torch.int64)
    mask = torch.arange(T)[None, :] < lengths[:, None]  # [B, T] valid positions
    tensors, meta = {"lengths": lengths.to(torch.int32)}, {"steps": str(T), "modules": " ".join(MODULES)}
    ref = {}
    for name, (mode, hidden, layers, bi) in MODULES.items():
        m = build(mode, hidden, layers, bi)
        dirs = 2 if bi else 1
        x = torch.randn(B, T, IN)
        x_glia = x.clone()
        x_glia[~mask] = float("nan")  # glia must never read padded positions
        dout = torch.randn(B, T, hidden * dirs)  # non-zero at padding too
        dh = torch.randn(layers * dirs, B, hidden)
        dc = torch.randn(layers * dirs, B, hidden)
        for k, v in m.state_dict().items():
            tensors["%s.%s" % (name, k)] = v
        tensors.update({name + ".input": x_glia, name + ".dout": dout, name + ".dh_n": dh})
        if mode == "lstm":
            tensors[name + ".dc_n"] = dc
        meta.update({name + ".mode": mode, name + ".input_size": str(IN), name + ".hidden_size": str(hidden),
                     name + ".num_layers": str(layers), name + ".bidirectional": str(int(bi))})

        xr = x.clone().requires_grad_(True)
        packed = pack_padded_sequence(xr, lengths, batch_first=True, enforce_sorted=False)
        out_p, state = m(packed)
        out, _ = pad_packed_sequence(out_p, batch_first=True, total_length=T)
        h_n, c_n = state if mode == "lstm" else (state, None)
        loss = (out * dout).sum() + (h_n * dh).sum() + ((c_n * dc).sum() if c_n is not None else 0.0)
        loss.backward()
        o = out.detach()
        if bi:
            last = torch.cat([o[torch.arange(B), lengths - 1, :hidden], o[:, 0, hidden:]], dim=1)
        else:
            last = o[torch.arange(B), lengths - 1]
        mean = o.sum(1) / lengths[:, None].to(o.dtype)
        mx = o.masked_fill(~mask[:, :, None], float("-inf")).max(1).values
        ref[name] = {
            "output": o, "h_n": h_n.detach(), "c_n": None if c_n is None else c_n.detach(),
            "pool_last": last, "pool_mean": mean, "pool_max": mx, "dinput": xr.grad,
            "grads": {k: p.grad for k, p in m.named_parameters()},
            "last_from_h_n": torch.cat([h_n[-2], h_n[-1]], 1).detach() if bi else h_n[-1].detach(),
            "module": m, "hidden": hidden,
        }

    emb = nn.Embedding(VOCAB, EMB_DIM, padding_idx=PAD)
    tokens = torch.randint(1, VOCAB, (B, T))
    tokens[0, 2] = PAD  # the padding index at a valid position: used, never trained
    tokens[3, 0] = PAD
    tokens[~mask] = PAD
    tokens_glia = tokens.clone().to(torch.int32)
    tokens_glia[~mask] = 1000  # outside the vocabulary: glia must not read them
    emb_dout = torch.randn(B, T, EMB_DIM)
    tensors.update({"emb.weight": emb.weight.detach(), "tokens": tokens_glia, "emb.dout": emb_dout})
    meta.update({"embedding": "emb", "emb.num_embeddings": str(VOCAB), "emb.embedding_dim": str(EMB_DIM),
                 "emb.padding_idx": str(PAD)})
    e_out = emb(tokens)
    (e_out * emb_dout * mask[:, :, None]).sum().backward()

    with tempfile.TemporaryDirectory() as tmp:
        inp, outp, initp = (os.path.join(tmp, f) for f in ("in.safetensors", "out.safetensors", "init.safetensors"))
        gt.save_safetensors(inp, tensors, metadata=meta)
        run = subprocess.run([exe, inp, outp, initp], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        check("rnn_forward runs", run.returncode == 0, run.stderr.decode(errors="replace").strip()[:300])
        got = gt.load_safetensors(outp) if run.returncode == 0 else {}
        init = gt.load_safetensors(initp) if run.returncode == 0 else {}

    for name, (mode, hidden, layers, bi) in MODULES.items():
        r = ref[name]
        what = "%s (%s, %d layers, %s)" % (name, mode, layers, "bidirectional" if bi else "one direction")
        out = got.get(name + ".output")
        compare("%s: outputs match pack_padded_sequence" % what, out, r["output"])
        pad_ok = out is not None and bool((out[~mask] == 0).all())
        check("%s: outputs at padded positions are exactly 0" % what, pad_ok)
        d = maxdiff(got.get(name + ".h_n"), r["h_n"])
        if r["c_n"] is not None:
            d = max(d, maxdiff(got.get(name + ".c_n"), r["c_n"]))
        check("%s: final states h_n%s match" % (what, ", c_n" if r["c_n"] is not None else ""), d < TOL,
              "max |diff| %.3g" % d)
        d = max(maxdiff(got.get(name + "." + p), r[p]) for p in ("pool_last", "pool_mean", "pool_max"))
        d = max(d, maxdiff(got.get(name + ".pool_last"), r["last_from_h_n"]))
        check("%s: last/mean/max pooling over time match" % what, d < TOL, "max |diff| %.3g" % d)
        compare("%s: d(input) matches autograd (0 at padding)" % what, got.get(name + ".dinput"), r["dinput"])
        worst, at = 0.0, ""
        for k, g in r["grads"].items():
            dk = maxdiff(got.get("%s.grad.%s" % (name, k)), g)
            if dk >= worst:
                worst, at = dk, k
        check("%s: all %d parameter gradients match autograd" % (what, len(r["grads"])), worst < TOL,
              "max |diff| %.3g at %s" % (worst, at))

    compare("embedding: output matches nn.Embedding (0 at padding)", got.get("emb.output"),
            e_out.detach() * mask[:, :, None])
    compare("embedding: weight gradient matches (padding row untrained)", got.get("emb.grad.weight"),
            emb.weight.grad)

    # glia's initialisation loads into PyTorch strictly, within PyTorch's bounds
    problems = []
    for name, (mode, hidden, layers, bi) in MODULES.items():
        m = build(mode, hidden, layers, bi)
        sd = {k[len(name) + 1:]: v for k, v in init.items() if k.startswith(name + ".")}
        try:
            m.load_state_dict(sd, strict=True)
        except Exception as e:  # report it below
            problems.append("%s: %s" % (name, str(e)[:150]))
            continue
        bound = 1.0 / math.sqrt(hidden)
        for k, p in m.named_parameters():
            if float(p.detach().abs().max()) > bound:
                problems.append("%s.%s beyond %.3g" % (name, k, bound))
    e2 = nn.Embedding(VOCAB, EMB_DIM, padding_idx=PAD)
    try:
        e2.load_state_dict({"weight": init["emb.weight"]}, strict=True)
        if not bool((e2.weight[PAD] == 0).all()):
            problems.append("embedding padding row is not zero")
    except Exception as e:  # report it below
        problems.append("emb: %s" % str(e)[:150])
    check("glia's initialisation loads into PyTorch with strict=True, within its bounds", not problems,
          "; ".join(problems)[:300])

    return 0 if all(results) and len(results) == n_tests else 1


if __name__ == "__main__":
    sys.exit(main())
