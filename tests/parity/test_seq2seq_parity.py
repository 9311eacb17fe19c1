#!/usr/bin/python3
# test_seq2seq_parity.py - the translation model (core/nn/seq2seq.h) against PyTorch (TAP).
#
# PyTorch builds the Translator module that seq2seq.h documents - nn.Embedding (source and
# target, padding_idx 0) + nn.Transformer(batch_first=True) + nn.Linear generator, tied or
# not, post- and pre-norm - with every parameter moved off its initial value. Its state_dict
# (the tied generator.weight left out, as safetensors' save_model does) goes to a bundle with
# a small tokenizer, `glia forward` loads it strictly and computes the teacher-forced logits
# of a padded batch; they must match PyTorch's at every valid position (max |diff| < 1e-4).
# The other way: when models/translate-en-es has weights (trained by glia), PyTorch loads them
# with load_state_dict(strict=True) (generator.weight aliased to embedding.weight) and gives
# glia's logits for real sentences' ids.
#
# Usage: test_seq2seq_parity.py GLIA   (exit 77 = skipped without torch)
import math
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

ROOT = os.environ.get("GLIA_SOURCE_ROOT", os.path.dirname(os.path.dirname(HERE)))
TOL = 1e-4
results = []


def check(name, ok, detail=""):
    results.append(bool(ok))
    print("%s %d - %s" % ("ok" if ok else "not ok", len(results), name))
    if not ok and detail:
        print("# " + str(detail)[:500])
    sys.stdout.flush()


def positions(steps, d):
    pe = torch.zeros(steps, d, dtype=torch.float64)
    pos = torch.arange(steps, dtype=torch.float64).unsqueeze(1)
    div = torch.exp(torch.arange(0, d, 2, dtype=torch.float64) * (-math.log(10000.0) / d))
    pe[:, 0::2] = torch.sin(pos * div)
    pe[:, 1::2] = torch.cos(pos * div)
    return pe.float()


class Translator(nn.Module):
    """core/nn/seq2seq.h's module, as its header writes it."""

    def __init__(self, V, E, nhead, enc, dec, F, norm_first, tie, max_positions):
        super().__init__()
        self.E = E
        self.embedding = nn.Embedding(V, E, padding_idx=0)
        self.transformer = nn.Transformer(E, nhead, enc, dec, F, dropout=0.0, batch_first=True,
                                          norm_first=norm_first)
        self.generator = nn.Linear(E, V)
        if tie:
            self.generator.weight = self.embedding.weight
        self.register_buffer("pe", positions(max_positions, E), persistent=False)

    def forward(self, src, tgt):
        S, T = src.shape[1], tgt.shape[1]
        x = self.embedding(src) * math.sqrt(self.E) + self.pe[:S]
        y = self.embedding(tgt) * math.sqrt(self.E) + self.pe[:T]
        causal = nn.Transformer.generate_square_subsequent_mask(T)
        h = self.transformer(x, y, tgt_mask=causal, src_key_padding_mask=src == 0, tgt_key_padding_mask=tgt == 0,
                             memory_key_padding_mask=src == 0)
        return self.generator(h)


def tokenizer_file(path, letters):
    """A glia-bpe file without merges: the specials, the word marker and single letters."""
    toks = ["<pad>", "<unk>", "<s>", "</s>"] + letters + ["\u2581"]  # the alphabet in code point order
    with open(path, "w", encoding="utf-8") as f:
        f.write("glia-bpe 1\nbyte-fallback no\nvocab %d\nmerges 0\n" % len(toks))
        for t in toks:
            f.write(t + "\n")
    return len(toks)


MANIFEST = """name: parity
task: translation
weights: model.safetensors
tokenizer: tokenizer.bpe
input: {max_tokens: 12}
architecture: {type: transformer-seq2seq, d_model: %d, nhead: %d, num_encoder_layers: %d,
  num_decoder_layers: %d, dim_feedforward: %d, dropout: 0.0, norm_first: %s, tie_embeddings: %s,
  max_positions: 16}
"""


def batch(V, seed):
    g = torch.Generator().manual_seed(seed)
    src_len, tgt_len = [6, 2, 4, 1], [5, 1, 3, 4]
    S, T = max(src_len), max(tgt_len)
    src = torch.zeros(len(src_len), S, dtype=torch.int64)
    tgt = torch.zeros(len(tgt_len), T, dtype=torch.int64)
    for i, (ls, lt) in enumerate(zip(src_len, tgt_len)):
        src[i, :ls] = torch.randint(4, V, (ls,), generator=g)
        src[i, ls - 1] = 3  # </s>
        tgt[i, :lt] = torch.randint(4, V, (lt,), generator=g)
        tgt[i, 0] = 2  # <s>
    return src, tgt, tgt_len


def glia_logits(glia, bundle, src, tgt, tmp):
    inp, out = os.path.join(tmp, "in.safetensors"), os.path.join(tmp, "out.safetensors")
    gt.save_safetensors(inp, {"src": src.to(torch.int32).numpy(), "tgt": tgt.to(torch.int32).numpy()})
    r = subprocess.run([glia, "forward", bundle, inp, out], capture_output=True, text=True)
    if r.returncode != 0:
        return None, r.stderr
    return gt.load_safetensors(out)["logits"], ""


def max_diff(a, b, tgt_len):
    return max(float((a[i, :n] - b[i, :n]).abs().max()) for i, n in enumerate(tgt_len))


def main():
    if len(sys.argv) != 2:
        print("usage: test_seq2seq_parity.py GLIA", file=sys.stderr)
        return 2
    glia = sys.argv[1]
    warnings.filterwarnings("ignore", message=".*nested tensors.*")
    tmp = tempfile.mkdtemp(prefix="glia-s2s-parity-")
    torch.manual_seed(0)
    E, NHEAD, NENC, NDEC, FF = 16, 2, 2, 2, 32
    letters = list("abcdefghijklmnopqrstuvwxyz")
    for norm_first in (False, True):
        for tie in (True, False):
            bundle = os.path.join(tmp, "nf%d-tie%d" % (norm_first, tie))
            os.makedirs(bundle)
            V = tokenizer_file(os.path.join(bundle, "tokenizer.bpe"), letters)
            with open(os.path.join(bundle, "model.yaml"), "w") as f:
                f.write(MANIFEST % (E, NHEAD, NENC, NDEC, FF, str(norm_first).lower(), str(tie).lower()))
            m = Translator(V, E, NHEAD, NENC, NDEC, FF, norm_first, tie, 16).eval()
            with torch.no_grad():
                for p in m.parameters():  # off PyTorch's init, biases and norms included
                    p.add_(torch.randn_like(p) * 0.3)
            sd = {k: v.detach().numpy() for k, v in m.state_dict().items()}
            if tie:
                del sd["generator.weight"]  # the same tensor as embedding.weight
            gt.save_safetensors(os.path.join(bundle, "model.safetensors"), sd)
            src, tgt, tgt_len = batch(V, 1 + norm_first + 2 * tie)
            with torch.no_grad():
                want = m(src, tgt)
            got, why = glia_logits(glia, bundle, src, tgt, tmp)
            what = "%s-norm, %s generator" % ("pre" if norm_first else "post", "tied" if tie else "untied")
            if got is None:
                check("glia loads PyTorch's state_dict strictly (%s)" % what, False, why)
                continue
            d = max_diff(got, want, tgt_len)
            check("PyTorch state_dict -> glia: same logits on a padded batch (%s), max |diff| %.2g" % (what, d),
                  d < TOL)

    # glia's own weights into PyTorch: the shipped bundle, when trained
    shipped = os.path.join(ROOT, "models", "translate-en-es")
    if not os.path.exists(os.path.join(shipped, "model.safetensors")):
        check("glia's weights -> PyTorch # SKIP models/translate-en-es has no weights", True)
    else:
        man = gt.load_manifest(os.path.join(shipped, "model.yaml"))
        a = man["architecture"]
        sd = {k: torch.as_tensor(v) for k, v in gt.load_safetensors(
            os.path.join(shipped, "model.safetensors")).items()}
        V = sd["embedding.weight"].shape[0]
        m = Translator(V, a["d_model"], a["nhead"], a["num_encoder_layers"], a["num_decoder_layers"],
                       a["dim_feedforward"], a.get("norm_first", False), a.get("tie_embeddings", True),
                       a["max_positions"]).eval()
        if a.get("tie_embeddings", True):
            sd["generator.weight"] = sd["embedding.weight"]
        missing = m.load_state_dict(sd, strict=True)
        check("PyTorch loads glia's translate-en-es weights with strict=True", not missing.missing_keys and
              not missing.unexpected_keys, str(missing))
        src, tgt, tgt_len = batch(V, 7)
        with torch.no_grad():
            want = m(src, tgt)
        got, why = glia_logits(glia, shipped, src, tgt, tmp)
        d = max_diff(got, want, tgt_len) if got is not None else float("inf")
        check("glia's weights -> PyTorch: same logits (max |diff| %.2g)" % d, d < TOL, why)
    print("1..%d" % len(results))
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
