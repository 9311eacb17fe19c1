#!/usr/bin/python3
# torch_reference_train.py - PyTorch reference training run for a glia
# sequential model (default: models/fashion-cnn/model.yaml) on Fashion-MNIST.
#
# Why: glia's own C trainer must be judged against what the same architecture
# reaches in PyTorch under the same rules. This script fixes those rules:
#   * preprocessing exactly pixel/255 then (x - mean) / std from the manifest
#     (0.2860 / 0.3530 for fashion-cnn);
#   * train on the first 55000 training images, validate on the last 5000,
#     test on the 10000 t10k images;
#   * optional augmentation only: random horizontal flip (p=0.5) and/or random
#     translation by up to +-2 pixels in x and y (independently, uniform
#     integer), zero-padded in raw pixel space (value 0 = black, i.e. done
#     before normalisation, like torchvision RandomCrop(28, padding=2)).
# It prints one line per epoch (val accuracy, seconds) and a final test line,
# and can save the trained weights as safetensors (names = state_dict names).
#
# Use Debian's /usr/bin/python3 (torch 1.13). Example (recommended recipe):
#   /usr/bin/python3 bench/torch_reference_train.py --epochs 15 --augment flip,shift
import argparse
import gzip
import math
import os
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tests", "parity"))

DATA = "/usr/share/datasets/fashion-mnist"


def read_idx(path):
    with gzip.open(path, "rb") as f:
        raw = f.read()
    magic = int.from_bytes(raw[0:4], "big")
    ndim = magic & 0xFF
    dims = [int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def load_split(kind):
    x = read_idx(os.path.join(DATA, "%s-images-idx3-ubyte.gz" % kind))
    y = read_idx(os.path.join(DATA, "%s-labels-idx1-ubyte.gz" % kind))
    return x, y


def build_model(manifest):
    try:
        from glia_torch import build_module
        return build_module(manifest)
    except ImportError:
        raise SystemExit("tests/parity/glia_torch.py is required")


def augment(x01, flip, shift, gen):
    """x01: (B,1,28,28) float in [0,1] (before normalisation)."""
    b = x01.shape[0]
    if flip:
        m = torch.rand(b, generator=gen) < 0.5
        x01 = torch.where(m.view(b, 1, 1, 1), x01.flip(3), x01)
    if shift:
        h, w = x01.shape[2], x01.shape[3]
        padded = F.pad(x01, (2, 2, 2, 2))  # zeros = black pixels
        dx = torch.randint(0, 5, (b,), generator=gen)
        dy = torch.randint(0, 5, (b,), generator=gen)
        # gather per-sample windows with index arithmetic (vectorised crop)
        rows = (dy.view(b, 1) + torch.arange(h).view(1, h))  # (b,h)
        cols = (dx.view(b, 1) + torch.arange(w).view(1, w))  # (b,w)
        bi = torch.arange(b).view(b, 1, 1)
        x01 = padded[bi, 0, rows.view(b, h, 1), cols.view(b, 1, w)].unsqueeze(1)
    return x01


def lr_at(step, total, warmup, base, sched, step_every, gamma, steps_per_epoch):
    if warmup > 0 and step < warmup:
        return base * (step + 1) / warmup
    if sched == "constant":
        return base
    if sched == "cosine":
        t = (step - warmup) / max(1, total - warmup)
        return base * 0.5 * (1.0 + math.cos(math.pi * t))
    if sched == "step":
        return base * gamma ** ((step // steps_per_epoch) // step_every)
    if sched == "exp":
        return base * gamma ** (step / steps_per_epoch)
    raise ValueError(sched)


@torch.no_grad()
def accuracy(model, x, y, bs=1000):
    model.eval()
    correct = 0
    for i in range(0, x.shape[0], bs):
        correct += (model(x[i:i + bs]).argmax(1) == y[i:i + bs]).sum().item()
    return correct / x.shape[0]


def main():
    ap = argparse.ArgumentParser(description="PyTorch reference training on Fashion-MNIST")
    ap.add_argument("--manifest", default=os.path.join(ROOT, "models/fashion-cnn/model.yaml"))
    ap.add_argument("--epochs", type=int, default=15)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--optim", default="adamw", choices=["sgd", "nesterov", "rmsprop", "adam", "adamw"])
    ap.add_argument("--momentum", type=float, default=0.9)
    ap.add_argument("--wd", type=float, default=0.05, help="weight decay (decoupled for adamw)")
    ap.add_argument("--sched", default="cosine", choices=["constant", "cosine", "step", "exp"])
    ap.add_argument("--warmup-epochs", type=float, default=1.0, help="linear warmup length")
    ap.add_argument("--step-every", type=int, default=5, help="step schedule: epochs per decay")
    ap.add_argument("--gamma", type=float, default=0.5, help="step/exp schedule decay factor")
    ap.add_argument("--label-smoothing", type=float, default=0.1)
    ap.add_argument("--augment", default="flip,shift", help="comma list of: flip, shift (or none)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--channels-last", type=int, default=1, help="1: channels_last memory format")
    ap.add_argument("--save", default=None, help="write trained weights (safetensors)")
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    gen = torch.Generator().manual_seed(args.seed + 1)
    aug = set(a for a in args.augment.split(",") if a and a != "none")
    bad = aug - {"flip", "shift"}
    if bad:
        raise SystemExit("unknown augmentation: %s" % ",".join(sorted(bad)))

    import yaml
    with open(args.manifest) as f:
        pre = yaml.safe_load(f)["input"]["preprocessing"]
    scale, mean, std = float(pre["scale"]), float(pre["mean"]), float(pre["std"])

    xtr, ytr = load_split("train")
    xte, yte = load_split("t10k")
    to01 = lambda a: torch.from_numpy(a.astype(np.float32)).unsqueeze(1) * scale
    norm = lambda t: (t - mean) / std
    x01 = to01(xtr)
    ytr_t = torch.from_numpy(ytr.astype(np.int64))
    xtrain01, ytrain = x01[:55000], ytr_t[:55000]
    xval, yval = norm(x01[55000:]), ytr_t[55000:]
    xtest, ytest = norm(to01(xte)), torch.from_numpy(yte.astype(np.int64))

    model = build_model(args.manifest)
    if args.channels_last:  # same maths, ~10% faster conv on CPU (mkldnn)
        model = model.to(memory_format=torch.channels_last)
    params = model.parameters()
    if args.optim == "sgd":
        opt = torch.optim.SGD(params, lr=args.lr, momentum=args.momentum, weight_decay=args.wd)
    elif args.optim == "nesterov":
        opt = torch.optim.SGD(params, lr=args.lr, momentum=args.momentum, nesterov=True, weight_decay=args.wd)
    elif args.optim == "rmsprop":
        opt = torch.optim.RMSprop(params, lr=args.lr, weight_decay=args.wd)
    elif args.optim == "adam":
        opt = torch.optim.Adam(params, lr=args.lr, weight_decay=args.wd)
    else:
        opt = torch.optim.AdamW(params, lr=args.lr, weight_decay=args.wd)
    lossf = nn.CrossEntropyLoss(label_smoothing=args.label_smoothing)

    n = xtrain01.shape[0]
    spe = n // args.batch  # drop the last partial batch
    total = spe * args.epochs
    warm = int(round(args.warmup_epochs * spe))
    print("# recipe: optim=%s lr=%g wd=%g batch=%d epochs=%d sched=%s warmup_epochs=%g "
          "label_smoothing=%g augment=%s seed=%d threads=%d torch=%s"
          % (args.optim, args.lr, args.wd, args.batch, args.epochs, args.sched, args.warmup_epochs,
             args.label_smoothing, ",".join(sorted(aug)) or "none", args.seed, args.threads,
             torch.__version__), flush=True)
    step = 0
    t_all = time.time()
    for ep in range(1, args.epochs + 1):
        model.train()
        t0 = time.time()
        perm = torch.randperm(n, generator=gen)
        tot_loss = 0.0
        for i in range(spe):
            idx = perm[i * args.batch:(i + 1) * args.batch]
            xb = xtrain01[idx]
            if aug:
                xb = augment(xb, "flip" in aug, "shift" in aug, gen)
            xb = norm(xb)
            if args.channels_last:
                xb = xb.contiguous(memory_format=torch.channels_last)
            lr = lr_at(step, total, warm, args.lr, args.sched, args.step_every, args.gamma, spe)
            for g in opt.param_groups:
                g["lr"] = lr
            loss = lossf(model(xb), ytrain[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            tot_loss += loss.item()
            step += 1
        t_train = time.time() - t0
        va = accuracy(model, xval, yval)
        print("epoch %2d  loss %.4f  val_acc %.4f  lr %.2e  train_s %.1f  epoch_s %.1f"
              % (ep, tot_loss / spe, va, lr, t_train, time.time() - t0), flush=True)
    te = accuracy(model, xtest, ytest)
    print("test_acc %.4f  total_s %.1f" % (te, time.time() - t_all), flush=True)
    if args.save:
        from glia_torch import save_safetensors
        save_safetensors(args.save, {k: v.detach().contiguous() for k, v in model.state_dict().items()},
                         metadata={"recipe": " ".join(sys.argv[1:]), "test_acc": "%.4f" % te})


if __name__ == "__main__":
    main()
