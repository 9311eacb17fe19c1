#!/usr/bin/python3
# glia_torch.py - PyTorch side of glia's parity tests (library + CLI).
#
# Why: glia's weights are safetensors files meant to be interchangeable with
# PyTorch. This module rebuilds a glia model.yaml "sequential" architecture as
# the equivalent torch module tree (nn.Sequential of named nn.Sequentials, so
# state_dict names read "features.0.weight") and a "text-rnn" architecture as
# TextRNN (core/nn/textnet.h's module), reads/writes safetensors by hand
# (no safetensors package is needed), applies the manifest's preprocessing the
# same way the C code does, and offers a CLI so C tests can compare against
# PyTorch reference outputs. Dependencies: torch, numpy, yaml only.
#
# Run with Debian's /usr/bin/python3 (has torch). CLI:
#   glia_torch.py init    MANIFEST OUT.safetensors [--seed N]      (sequential or text-rnn)
#   glia_torch.py logits  MANIFEST WEIGHTS.safetensors IN.safetensors OUT.safetensors
#                         (sequential: tensor "input"; text-rnn: "ids" [N, T], "lengths" [N])
#   glia_torch.py testset N OUT.safetensors [--manifest MANIFEST]
import argparse
import gzip
import json
import os
import struct
import sys
from collections import OrderedDict

import numpy as np
import torch
import torch.nn as nn
import yaml
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
DEFAULT_MANIFEST = os.path.join(ROOT, "models", "fashion-cnn", "model.yaml")
FASHION_DIR = "/usr/share/datasets/fashion-mnist"

# ---------------------------------------------------------------- manifest


def load_manifest(manifest):
    """manifest: path to model.yaml, or an already-parsed dict."""
    if isinstance(manifest, dict):
        return manifest
    with open(manifest) as f:
        return yaml.safe_load(f)


def _layer(spec):
    t = spec["type"]
    if t == "conv2d":
        return nn.Conv2d(spec["in_channels"], spec["out_channels"], spec["kernel_size"],
                         stride=spec.get("stride", 1), padding=spec.get("padding", 0))
    if t in ("maxpool2d", "avgpool2d"):
        k = spec["kernel_size"]
        stride = spec.get("stride", k)
        pad = spec.get("padding", 0)
        if t == "maxpool2d":
            return nn.MaxPool2d(k, stride=stride, padding=pad)
        return nn.AvgPool2d(k, stride=stride, padding=pad)  # count_include_pad=True
    if t == "linear":
        return nn.Linear(spec["in_features"], spec["out_features"])
    if t == "relu":
        return nn.ReLU()
    if t == "tanh":
        return nn.Tanh()
    if t == "sigmoid":
        return nn.Sigmoid()
    if t == "flatten":
        return nn.Flatten()
    if t == "dropout":
        return nn.Dropout(spec.get("p", 0.5))
    if t == "batchnorm2d":
        return nn.BatchNorm2d(spec["num_features"], eps=spec.get("eps", 1e-5),
                              momentum=spec.get("momentum", 0.1))
    raise ValueError("unsupported layer type: %r" % t)


def build_module(manifest_path):
    """torch module for a glia manifest's architecture: sequential, or text-rnn (then
    see build_text_module: a path is needed to find the vocabulary)."""
    m = load_manifest(manifest_path)
    arch = m["architecture"]
    if arch.get("type") == "text-rnn":
        return build_text_module(manifest_path)
    if arch.get("type", "sequential") != "sequential":
        raise ValueError("unsupported architecture type: %r" % arch.get("type"))
    return nn.Sequential(OrderedDict(
        (mod["name"], nn.Sequential(*[_layer(l) for l in mod["layers"]])) for mod in arch["modules"]))


class TextRNN(nn.Module):
    """core/nn/textnet.h's text classifier, registered in its state_dict order:

        x      = cat(embedding(ids), lexicon(ids))     [N, T, E + K]   (no lexicon when K = 0)
        x      = dropout(x, embedding_dropout)
        h      = rnn(pack_padded_sequence(x, lengths))  [N, T, F]       (F = H * dirs)
        p      = pool over the valid steps              [N, F]          last (= h_n), mean, max
        logits = fc(dropout(p))                         [N, C]

    ids [N, T] (any int dtype; padded positions must hold a valid id, e.g. 0) and
    lengths [N] in 1..T. The lexicon table is frozen (requires_grad False) but, as in glia,
    part of the state_dict."""

    def __init__(self, vocab_size, embedding_dim, lexicon_features=0, mode="lstm", hidden_size=64,
                 num_layers=1, bidirectional=False, pooling="last", embedding_dropout=0.0, dropout=0.0,
                 num_classes=2, dropout_words_only=False):
        super().__init__()
        if mode not in ("lstm", "rnn_tanh"):
            raise ValueError("unsupported rnn type: %r" % mode)
        if pooling not in ("last", "mean", "max"):
            raise ValueError("unsupported pooling: %r" % pooling)
        self.embedding = nn.Embedding(vocab_size, embedding_dim, padding_idx=0)
        if lexicon_features > 0:
            self.lexicon = nn.Embedding(vocab_size, lexicon_features)
            self.lexicon.weight.requires_grad_(False)
        else:
            self.lexicon = None
        self.embedding_dropout = nn.Dropout(embedding_dropout)
        self.dropout_words_only = dropout_words_only  # embedding_dropout_scope: words
        cls, kw = (nn.LSTM, {}) if mode == "lstm" else (nn.RNN, {"nonlinearity": "tanh"})
        self.rnn = cls(embedding_dim + lexicon_features, hidden_size, num_layers=num_layers,
                       bidirectional=bool(bidirectional), batch_first=True, **kw)
        self.dirs = 2 if bidirectional else 1
        self.pooling = pooling
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(hidden_size * self.dirs, num_classes)

    def forward(self, ids, lengths):
        ids = ids.long()
        lengths = lengths.long().cpu()
        n, t = ids.shape
        x = self.embedding(ids)
        if self.dropout_words_only:
            x = self.embedding_dropout(x)
        if self.lexicon is not None:
            x = torch.cat([x, self.lexicon(ids)], dim=2)
        if not self.dropout_words_only:
            x = self.embedding_dropout(x)
        packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
        out, state = self.rnn(packed)
        h_n = state[0] if isinstance(state, tuple) else state
        if self.pooling == "last":
            # forward half at lengths-1, reverse half at 0: the last layer's h_n
            p = torch.cat([h_n[-2], h_n[-1]], dim=1) if self.dirs == 2 else h_n[-1]
        else:
            out, _ = pad_packed_sequence(out, batch_first=True, total_length=t)
            mask = (torch.arange(t)[None, :] < lengths[:, None])[:, :, None]
            if self.pooling == "mean":
                p = out.sum(1) / lengths[:, None].to(out.dtype)
            else:
                p = out.masked_fill(~mask, float("-inf")).max(1).values
        return self.fc(self.dropout(p))


def read_vocab(path):
    """token list of a vocabulary file: line i is id i (0 <pad>, 1 <unk>)."""
    with open(path, encoding="utf-8") as f:
        return [line.rstrip("\n") for line in f]


def manifest_vocab_path(manifest_path):
    """the manifest's vocabulary file, relative to the manifest's directory."""
    m = load_manifest(manifest_path)
    return os.path.join(os.path.dirname(os.path.abspath(manifest_path)), m["vocabulary"])


def encode_tokens(vocab, tokens):
    """ids of pre-tokenised (lower-case) words; unknown words get id 1 (<unk>)."""
    index = {w: i for i, w in enumerate(vocab)}
    return [index.get(w, 1) for w in tokens]


def build_text_module(manifest_path, vocab_size=None):
    """TextRNN for a text-rnn manifest. num_embeddings: vocab_size if given, else the
    manifest's embedding.num_embeddings, else the line count of its vocabulary file (the
    manifest must then be a path, not a dict)."""
    m = load_manifest(manifest_path)
    arch = m["architecture"]
    if arch.get("type") != "text-rnn":
        raise ValueError("not a text-rnn architecture: %r" % arch.get("type"))
    emb, rnn = arch["embedding"], arch["rnn"]
    if emb.get("padding_idx", 0) != 0:
        raise ValueError("embedding.padding_idx must be 0")
    v = vocab_size or emb.get("num_embeddings")
    if v is None:
        if isinstance(manifest_path, dict):
            raise ValueError("num_embeddings comes from the vocabulary file: pass a manifest path or vocab_size")
        v = len(read_vocab(manifest_vocab_path(manifest_path)))
    return TextRNN(v, emb["embedding_dim"], (arch.get("lexicon") or {}).get("features", 0),
                   mode=rnn.get("type", "lstm"), hidden_size=rnn["hidden_size"],
                   num_layers=rnn.get("num_layers", 1), bidirectional=bool(rnn.get("bidirectional", False)),
                   pooling=arch.get("pooling", "last"), embedding_dropout=arch.get("embedding_dropout", 0.0),
                   dropout=arch.get("dropout", 0.0), num_classes=arch["classifier"]["out_features"],
                   dropout_words_only=arch.get("embedding_dropout_scope", "all") == "words")


def preprocess(images, manifest):
    """uint8 images (N,H,W) or (N,C,H,W) -> float32 tensor (N,C,H,W).

    Computes ((invert ? 255 - p : p) * scale - mean) / std in the same float32
    form as core/model/manifest.c (p * (scale/std) - mean/std). Grayscale/resize
    are not applied: images must already have the manifest's input shape."""
    m = load_manifest(manifest)
    pre = m["input"].get("preprocessing", {})
    f32 = np.float32
    scale_v, mean_v, std_v = f32(pre.get("scale", 1.0)), f32(pre.get("mean", 0.0)), f32(pre.get("std", 1.0))
    scale = f32(scale_v / std_v)
    shift = f32(mean_v / std_v)
    x = np.asarray(images)
    if x.dtype != np.uint8:
        raise TypeError("preprocess expects uint8 images")
    x = x.astype(np.float32)
    if pre.get("invert", False):
        x = f32(255.0) - x
    x = (x * scale - shift).astype(np.float32)
    if x.ndim == 3:
        x = x[:, None, :, :]
    c, h, w = m["input"]["shape"]
    if tuple(x.shape[1:]) != (c, h, w):
        raise ValueError("images have shape %s, manifest wants %s" % (x.shape[1:], (c, h, w)))
    return torch.from_numpy(np.ascontiguousarray(x))

# ------------------------------------------------------------- safetensors

# safetensors dtype -> (little-endian numpy dtype, torch dtype); BF16 handled apart
_DTYPES = {
    "F64": ("<f8", torch.float64),
    "F32": ("<f4", torch.float32),
    "F16": ("<f2", torch.float16),
    "I64": ("<i8", torch.int64),
    "I32": ("<i4", torch.int32),
    "I16": ("<i2", torch.int16),
    "I8": ("i1", torch.int8),
    "U8": ("u1", torch.uint8),
    "BOOL": ("?", torch.bool),
}
_TORCH_TO_ST = {v[1]: k for k, v in _DTYPES.items()}
_TORCH_TO_ST[torch.bfloat16] = "BF16"


def load_safetensors(path, with_metadata=False):
    """dict name -> torch tensor (and the __metadata__ dict if asked)."""
    with open(path, "rb") as f:
        raw = f.read()
    if len(raw) < 8:
        raise ValueError("%s: too short for a safetensors file" % path)
    (hlen,) = struct.unpack("<Q", raw[:8])
    if 8 + hlen > len(raw):
        raise ValueError("%s: header length %d beyond end of file" % (path, hlen))
    header = json.loads(raw[8:8 + hlen].decode("utf-8"))
    data = memoryview(raw)[8 + hlen:]
    meta = header.pop("__metadata__", None) or {}
    out = OrderedDict()
    for name, info in header.items():
        dt, shape = info["dtype"], [int(s) for s in info["shape"]]
        b, e = (int(o) for o in info["data_offsets"])
        if not 0 <= b <= e <= len(data):
            raise ValueError("%s: %s: data_offsets out of range" % (path, name))
        count = int(np.prod(shape)) if shape else 1
        buf = data[b:e]
        if dt == "BF16":
            if e - b != 2 * count:
                raise ValueError("%s: %s: size mismatch" % (path, name))
            u = np.frombuffer(buf, dtype="<u2").astype(np.uint32) << 16
            t = torch.from_numpy(u.view(np.float32).copy()).to(torch.bfloat16)
        elif dt in _DTYPES:
            npdt = np.dtype(_DTYPES[dt][0])
            if e - b != npdt.itemsize * count:
                raise ValueError("%s: %s: size mismatch" % (path, name))
            a = np.frombuffer(buf, dtype=npdt).astype(npdt.newbyteorder("="))
            t = torch.from_numpy(a.copy())
        else:
            raise ValueError("%s: %s: unsupported dtype %s" % (path, name, dt))
        out[name] = t.reshape(shape)
    return (out, meta) if with_metadata else out


def save_safetensors(path, tensors, metadata=None):
    """Write tensors (dict name -> tensor/ndarray) as safetensors, in the
    given order, data little-endian and contiguous; header padded with spaces
    to a multiple of 8. metadata: optional dict str -> str."""
    header = OrderedDict()
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    blobs, off = [], 0
    for name, t in tensors.items():
        if isinstance(t, np.ndarray):
            t = torch.from_numpy(np.ascontiguousarray(t))
        t = t.detach().cpu().contiguous()
        if t.dtype not in _TORCH_TO_ST:
            raise ValueError("%s: unsupported dtype %s" % (name, t.dtype))
        st = _TORCH_TO_ST[t.dtype]
        if st == "BF16":
            b = t.view(torch.int16).numpy().astype("<i2").tobytes()
        else:
            b = t.numpy().astype(_DTYPES[st][0]).tobytes()
        header[name] = {"dtype": st, "shape": list(t.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header, separators=(",", ":")).encode("utf-8")
    h += b" " * (-len(h) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)
    os.replace(tmp, path)

# ----------------------------------------------------------------- dataset


def read_idx(path):
    """numpy array from an IDX (optionally gzipped) file."""
    op = gzip.open if path.endswith(".gz") else open
    with op(path, "rb") as f:
        raw = f.read()
    if raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise ValueError("%s: not an unsigned-byte IDX file" % path)
    ndim = raw[3]
    dims = struct.unpack(">%dI" % ndim, raw[4:4 + 4 * ndim])
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def fashion_test(n=None):
    x = read_idx(os.path.join(FASHION_DIR, "t10k-images-idx3-ubyte.gz"))
    y = read_idx(os.path.join(FASHION_DIR, "t10k-labels-idx1-ubyte.gz"))
    return (x, y) if n is None else (x[:n], y[:n])

# --------------------------------------------------------------------- CLI


def cmd_init(a):
    torch.manual_seed(a.seed)
    model = build_module(a.manifest)
    save_safetensors(a.out, model.state_dict(), metadata={"init": "pytorch-default", "seed": str(a.seed)})


def cmd_logits(a):
    torch.set_num_threads(a.threads)
    model = build_module(a.manifest)
    model.load_state_dict(load_safetensors(a.weights), strict=True)
    model.eval()
    inputs = load_safetensors(a.input)
    if isinstance(model, TextRNN):
        with torch.no_grad():
            y = model(inputs["ids"], inputs["lengths"])
        save_safetensors(a.out, {"logits": y.float()})
        return
    x = inputs["input"]
    if x.dtype != torch.float32 or x.dim() != 4:
        raise SystemExit("input must be float32 (N,C,H,W), got %s %s" % (x.dtype, tuple(x.shape)))
    with torch.no_grad():
        y = model(x)
    save_safetensors(a.out, {"logits": y.float()})


def cmd_testset(a):
    x, y = fashion_test(a.n)
    save_safetensors(a.out, {"input": preprocess(x, a.manifest),
                             "labels": torch.from_numpy(y.astype(np.int64))})


def main(argv=None):
    ap = argparse.ArgumentParser(description="PyTorch reference side of glia parity tests")
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("init", help="save PyTorch default-initialised weights")
    p.add_argument("manifest")
    p.add_argument("out")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(fn=cmd_init)
    p = sub.add_parser("logits", help="eval-mode logits of tensor 'input' (or 'ids', 'lengths') -> 'logits'")
    p.add_argument("manifest")
    p.add_argument("weights")
    p.add_argument("input")
    p.add_argument("out")
    p.add_argument("--threads", type=int, default=1)
    p.set_defaults(fn=cmd_logits)
    p = sub.add_parser("testset", help="first N Fashion-MNIST test images ('input') and 'labels'")
    p.add_argument("n", type=int)
    p.add_argument("out")
    p.add_argument("--manifest", default=DEFAULT_MANIFEST)
    p.set_defaults(fn=cmd_testset)
    a = ap.parse_args(argv)
    a.fn(a)


if __name__ == "__main__":
    main()
