#!/usr/bin/python3
# translate.py - glia vs ONNX Runtime vs PyTorch on the translation model (core/nn/seq2seq.h),
# measured in one run; prints a markdown table.
#
# ONNX Runtime (decoding only): the same weights exported by torch.onnx.export (opset 17) as an
# encoder that returns every decoder layer's cross-attention keys/values of the memory and a
# decoder step with the self-attention key/value cache as input and output (onnx_modules below,
# checked against nn.Transformer's forward before export), decoded by bench/ort_translate.js
# on onnxruntime-node (scripts/setup --test, .cache/npm-ort/) with glia's search rule for rule.
# Per round: glia's four settings, then ONNX Runtime's, then PyTorch's; the sgemm peak
# (bench_cnn --peak) once per round for the GFLOP/s note. --no-ort / --no-torch leave a side
# out. Run it as the environment is and once with OPENBLAS_CORETYPE=Haswell on the command
# line; the script never sets it.
#
# Training: bench_translate cuts the shipped recipe's training split into batches exactly as
# glia's trainer does (length-bucketed under batch_tokens, first epoch's order), writes the
# first STEPS + 2 of them and its initial weights, and times its own training steps on them
# (forward, label-smoothed cross-entropy, backward, clip 1.0, Adam; 2 warm-up steps). PyTorch
# trains the same module - tests/parity's Translator (nn.Embedding + nn.Transformer(batch_first)
# + tied nn.Linear) with dropout 0.1 at every site of nn.Transformer and on the embeddings -
# from the same initial weights on the same batches: nn.CrossEntropyLoss(label_smoothing,
# ignore_index=0) over the padded logits, clip_grad_norm_, torch.optim.Adam with the recipe's
# betas and eps, and at each step the learning rate glia's schedule gives. Figure: target
# tokens (labels, </s> included) per second over the timed steps.
#
# Decoding: the same weights on both sides (models/translate-en-es when it has weights, else
# a bundle trained in seconds from tests/data/translate-tiny/recipe.yaml), 100 sentences of the
# gettext test split (`glia gettext`, evenly spaced over the split), tokenised by glia (PyTorch
# gets the same ids), translated in batches of consecutive sentences with the manifest's
# max_tokens and length penalty. glia: glia_s2s_translate (cached keys and values, finished
# rows leave the batch). PyTorch: the encoder once, then nn.Transformer's decoder re-run on the
# whole prefix at every step and the generator on the last position - what nn.Transformer users
# write -; greedy drops finished rows from the batch too, and beam search follows glia's rules
# (core/nn/seq2seq.c's beam(): the best 2k continuations per input, </s> ends a hypothesis only
# from the first k, score / ((5 + n) / 6)^alpha, an input stops at k finished hypotheses). Both
# run in float32 with log-probabilities summed in float64, under torch.inference_mode() in eval
# mode for PyTorch. Figures: median latency of one sentence at batch 1 (greedy, beam 4) and
# sentences per second at batch 32 (greedy, beam 4); one untimed pass over the first batch
# first. Also how many outputs are token for token the same on both sides.
#
# For each thread count (glia: OpenBLAS threads, as `glia train --threads`; PyTorch:
# torch.set_num_threads and, since it calls the same system OpenBLAS, OPENBLAS_NUM_THREADS, with
# OMP_WAIT_POLICY=PASSIVE so that its OpenMP threads do not spin against OpenBLAS's), glia and
# PyTorch run alternately ROUNDS times; every figure is the median over rounds and the ratios
# compare the medians, so the shared machine's noise hits both sides alike.
#
#   /usr/bin/python3 bench/translate.py [--build build] [--bundle DIR] [--rounds 3]
#                                       [--threads 1,2] [--steps 10] [--sentences 100]
#                                       [--recipe models/translate-en-es/recipe.yaml]
#                                       [--limit N] [--skip-train] [--skip-decode]
#                                       [--no-ort] [--no-torch] [--no-peak]
import argparse
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import warnings

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHIPPED = os.path.join(ROOT, "models", "translate-en-es")
TINY_RECIPE = os.path.join(ROOT, "tests", "data", "translate-tiny", "recipe.yaml")
BOS, EOS = 2, 3
# (name, beam, batch)
CONFIGS = [("greedy b1", 1, 1), ("beam4 b1", 4, 1), ("greedy b32", 1, 32), ("beam4 b32", 4, 32)]


def log(msg):
    print("# " + msg, file=sys.stderr, flush=True)


def run_json(cmd, env=None):
    r = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if r.returncode != 0:
        sys.exit("%s failed (%d):\n%s" % (" ".join(cmd), r.returncode, r.stderr[-3000:]))
    return json.loads(r.stdout.strip().splitlines()[-1])


def blas_env(threads):
    """Both sides call the system's OpenBLAS (PyTorch through libblas, the pthreads build, which
    torch.set_num_threads does not reach): its thread count is set for both. PyTorch's own
    OpenMP threads wait passively: spinning, they take the cores from OpenBLAS's threads (with 2
    threads each on 2 cores, PyTorch's batch-1 greedy decoding took 3x longer than on 1 thread)."""
    env = dict(os.environ)
    env["OPENBLAS_NUM_THREADS"] = str(threads)
    env["OMP_NUM_THREADS"] = str(threads)
    env["OMP_WAIT_POLICY"] = "PASSIVE"
    return env


# ------------------------------------------------------------------------------ PyTorch side


def torch_setup(threads):
    import torch
    warnings.filterwarnings("ignore", message=".*nested tensors.*")
    torch.set_num_threads(threads)
    sys.path.insert(0, os.path.join(ROOT, "tests", "parity"))
    import glia_torch as gt
    import test_seq2seq_parity as sp
    return torch, gt, sp


def translator(torch, sp, cfg, dropout):
    """tests/parity's Translator (built without dropout) with dropout p at every site of
    nn.Transformer (the Dropout modules and the attention weights) and on the embeddings."""
    nn = torch.nn

    class Dropped(sp.Translator):
        def forward(self, src, tgt):
            S, T = src.shape[1], tgt.shape[1]
            x = self.drop(self.embedding(src) * math.sqrt(self.E) + self.pe[:S])
            y = self.drop(self.embedding(tgt) * math.sqrt(self.E) + self.pe[:T])
            causal = nn.Transformer.generate_square_subsequent_mask(T)
            h = self.transformer(x, y, tgt_mask=causal, src_key_padding_mask=src == 0,
                                 tgt_key_padding_mask=tgt == 0, memory_key_padding_mask=src == 0)
            return self.generator(h)

    m = Dropped(cfg["vocab_size"], cfg["d_model"], cfg["nhead"], cfg["num_encoder_layers"],
                cfg["num_decoder_layers"], cfg["dim_feedforward"], bool(cfg["norm_first"]),
                bool(cfg["tie_embeddings"]), cfg["max_positions"])
    m.drop = nn.Dropout(dropout)
    for mod in m.modules():
        if isinstance(mod, nn.Dropout):
            mod.p = dropout
        elif isinstance(mod, nn.MultiheadAttention):
            mod.dropout = dropout
    return m


def load_weights(torch, gt, m, path, tie):
    sd = {k: torch.as_tensor(v) for k, v in gt.load_safetensors(path).items()}
    if tie:
        sd["generator.weight"] = sd["embedding.weight"]
    m.load_state_dict(sd, strict=True)


def torch_train(a):
    torch, gt, sp = torch_setup(a.threads)
    with open(a.spec) as f:
        spec = json.load(f)
    cfg, opt_cfg = spec["model"], spec["optimizer"]
    if opt_cfg["type"] != "adam":
        raise SystemExit("translate.py: the recipe's optimizer is %s; only adam is mirrored" % opt_cfg["type"])
    torch.manual_seed(1)
    m = translator(torch, sp, cfg, cfg["dropout"])
    load_weights(torch, gt, m, spec["init"], cfg["tie_embeddings"])
    m.train()
    t = gt.load_safetensors(spec["batches"])
    lrs = t["lr"].tolist()
    batches = []
    for k in range(len(lrs)):
        lab = t["b%d.labels" % k].long()
        batches.append((t["b%d.src" % k].long(), t["b%d.tgt" % k].long(), lab.reshape(-1), int((lab != 0).sum())))
    opt = torch.optim.Adam(m.parameters(), lr=lrs[0], betas=(opt_cfg["beta1"], opt_cfg["beta2"]),
                           eps=opt_cfg["eps"], weight_decay=opt_cfg["weight_decay"])
    lossf = torch.nn.CrossEntropyLoss(label_smoothing=spec["label_smoothing"], ignore_index=0)
    clip, V, warm = spec["clip_grad_norm"], cfg["vocab_size"], spec["warmup"]
    secs, losses, tokens = [], [], 0
    for k, (src, tgt, lab, n) in enumerate(batches):
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        loss = lossf(m(src, tgt).reshape(-1, V), lab)
        loss.backward()
        if clip > 0:
            torch.nn.utils.clip_grad_norm_(m.parameters(), clip)
        for g in opt.param_groups:
            g["lr"] = lrs[k]
        opt.step()
        secs.append(time.perf_counter() - t0)
        losses.append(float(loss))
        if k >= warm:
            tokens += n
    timed = sum(secs[warm:])
    rates = [b[3] / s for b, s in zip(batches[warm:], secs[warm:])]
    print(json.dumps({"impl": "torch", "torch": torch.__version__, "threads": a.threads, "tokens_per_s": tokens / timed,
                      "step_tokens_per_s_median": statistics.median(rates), "timed_s": timed,
                      "ms": [s * 1e3 for s in secs], "losses": losses}))


def encode(torch, m, src):
    x = m.embedding(src) * math.sqrt(m.E) + m.pe[:src.shape[1]]
    pad = src == 0
    return m.transformer.encoder(x, src_key_padding_mask=pad), pad


def last_logits(torch, m, ys, mem, pad, causal):
    T = ys.shape[1]
    y = m.embedding(ys) * math.sqrt(m.E) + m.pe[:T]
    h = m.transformer.decoder(y, mem, tgt_mask=causal[:T, :T], memory_key_padding_mask=pad)
    return m.generator(h[:, -1])


def ban_repeats(ids, ngram, z):
    """core/nn/seq2seq.c's no-repeat n-gram guard on one row of logits z (in place)."""
    n = len(ids)
    if ngram < 1 or n < ngram:
        return
    tail = ids[n - (ngram - 1):]
    for j in range(n - ngram + 1):
        if ids[j:j + ngram - 1] == tail:
            z[ids[j + ngram - 1]] = -math.inf


def greedy(torch, m, src, max_steps, causal, ngram=0):
    mem, pad = encode(torch, m, src)
    n = src.shape[0]
    ys = torch.full((n, 1), BOS, dtype=torch.long)
    alive = list(range(n))
    outs = [None] * n
    for _ in range(max_steps):
        logits = last_logits(torch, m, ys, mem, pad, causal)
        if ngram:
            for r in range(ys.shape[0]):
                ban_repeats(ys[r, 1:].tolist(), ngram, logits[r])
        best = logits.argmax(-1)
        fin = (best == EOS).tolist()
        if any(fin):
            for r, f in enumerate(fin):
                if f:
                    outs[alive[r]] = ys[r, 1:].tolist()
            keep = torch.tensor([not f for f in fin])
            if not keep.any():
                return outs
            ys, mem, pad, best = ys[keep], mem[keep], pad[keep], best[keep]
            alive = [i for i, f in zip(alive, fin) if not f]
        ys = torch.cat([ys, best[:, None]], 1)
    for r, i in enumerate(alive):  # stopped by the length limit
        outs[i] = ys[r, 1:].tolist()
    return outs


def add_done(lst, k, norm, ids):
    """core/nn/seq2seq.c's add_done: input i's best k finished hypotheses, best first."""
    if len(lst) < k:
        lst.append((norm, ids))
    elif norm > lst[-1][0]:
        lst[-1] = (norm, ids)
    else:
        return
    at = len(lst) - 1
    while at > 0 and lst[at][0] > lst[at - 1][0]:
        lst[at], lst[at - 1] = lst[at - 1], lst[at]
        at -= 1


def beam(torch, m, src, k, max_tokens, alpha, causal, ngram=0):
    mem0, pad0 = encode(torch, m, src)
    n, V = src.shape[0], m.generator.out_features
    max_out = min(max_tokens + 1, m.pe.shape[0])
    owner = list(range(n))  # one row per live hypothesis (one per input at the first step)
    ys = torch.full((n, 1), BOS, dtype=torch.long)
    scores = torch.zeros(n, dtype=torch.float64)
    done = [[] for _ in range(n)]
    outs = [None] * n
    pos = 0
    while owner:
        last = pos == max_out - 1  # </s> is forced after max_out tokens
        idx = torch.tensor(owner)
        logits = last_logits(torch, m, ys, mem0[idx], pad0[idx], causal)
        if ngram:
            for r in range(ys.shape[0]):
                ban_repeats(ys[r, 1:].tolist(), ngram, logits[r])
        cand = scores[:, None] + torch.log_softmax(logits.double(), -1)
        if last:
            only = torch.full_like(cand, -math.inf)
            only[:, EOS] = cand[:, EOS]
            cand = only
        parents, toks, new_scores, new_owner = [], [], [], []
        R, r0 = len(owner), 0
        lp = 1.0 if alpha == 0 else ((5.0 + pos + 1) / 6.0) ** alpha
        while r0 < R:
            i, r1 = owner[r0], r0
            while r1 < R and owner[r1] == i:
                r1 += 1
            flat = cand[r0:r1].reshape(-1)
            vals, ids = flat.topk(min(2 * k, flat.numel()))
            live = 0
            for c, (s, j) in enumerate(zip(vals.tolist(), ids.tolist())):
                if live >= k or s == -math.inf:
                    break
                r, tok = r0 + j // V, j % V
                if tok == EOS:
                    if c < k:  # only candidates ranked within the first k may end a hypothesis
                        add_done(done[i], k, s / lp, ys[r, 1:].tolist())
                    continue
                parents.append(r)
                toks.append(tok)
                new_scores.append(s)
                new_owner.append(i)
                live += 1
            if len(done[i]) >= k or last or live == 0:
                del parents[len(parents) - live:], toks[len(toks) - live:]
                del new_scores[len(new_scores) - live:], new_owner[len(new_owner) - live:]
                outs[i] = done[i][0][1]
            r0 = r1
        if not new_owner:
            break
        ys = torch.cat([ys[torch.tensor(parents)], torch.tensor(toks)[:, None]], 1)
        scores = torch.tensor(new_scores, dtype=torch.float64)
        owner = new_owner
        pos += 1
    return outs


def bundle_module(torch, gt, sp, bundle):
    """The bundle's weights in tests/parity's Translator, eval mode, and its configuration."""
    man = gt.load_manifest(os.path.join(bundle, "model.yaml"))
    arch = man["architecture"]
    w = gt.load_safetensors(os.path.join(bundle, "model.safetensors"))
    cfg = dict(arch, vocab_size=w["embedding.weight"].shape[0], norm_first=arch.get("norm_first", False),
               tie_embeddings=arch.get("tie_embeddings", True))
    m = translator(torch, sp, cfg, 0.0)
    load_weights(torch, gt, m, os.path.join(bundle, "model.safetensors"), cfg["tie_embeddings"])
    m.eval()
    return m, cfg


def torch_decode(a):
    torch, gt, sp = torch_setup(a.threads)
    with open(a.spec) as f:
        spec = json.load(f)
    m, cfg = bundle_module(torch, gt, sp, spec["bundle"])
    P = cfg["max_positions"]
    causal = torch.nn.Transformer.generate_square_subsequent_mask(P)
    src, max_tokens, alpha = spec["src"], spec["max_tokens"], spec["length_penalty"]
    ngram = spec.get("no_repeat_ngram", 0)
    results = {}
    with torch.inference_mode():
        for name, k, bsz in CONFIGS:
            def run(batch):
                S = max(len(s) for s in batch)
                x = torch.zeros(len(batch), S, dtype=torch.long)
                for r, s in enumerate(batch):
                    x[r, :len(s)] = torch.tensor(s)
                if k == 1:
                    return greedy(torch, m, x, min(max_tokens, P - 1), causal, ngram)
                return beam(torch, m, x, k, max_tokens, alpha, causal, ngram)
            run(src[:bsz])  # warm-up
            times, outs = [], []
            for at in range(0, len(src), bsz):
                t0 = time.perf_counter()
                o = run(src[at:at + bsz])
                times.append(time.perf_counter() - t0)
                outs.extend(o)
            results[name] = {"batch_ms_median": statistics.median(times) * 1e3, "total_s": sum(times),
                             "sentences_per_s": len(src) / sum(times), "out": outs}
    print(json.dumps({"impl": "torch", "torch": torch.__version__, "threads": a.threads, "results": results}))


# ------------------------------------------------------------------------------ ONNX export


def onnx_modules(torch, m, cfg):
    """The translator as ONNX Runtime users deploy one (the encoder once, then a decoder step with
    a key/value cache), written over the PyTorch module's own parameters so that export sees plain
    matmuls, softmax and LayerNorm (nn.Transformer's fused fast path does not export):

      encoder(src [B, S] int64) -> cross_k, cross_v [L, B, H, S, Dh] (every decoder layer's
          cross-attention keys and values of the memory, computed once), mem_bias [B, 1, 1, S]
          (0, or -inf at <pad>)
      step(tok [B, 1] int64, pos [1] int64, past_k, past_v [L, B, H, t, Dh], cross_k, cross_v,
           mem_bias) -> logits [B, V], present_k, present_v [L, B, H, t + 1, Dh]

    The arithmetic is nn.Transformer's (pre- or post-norm, q scaled by Dh^-1/2, ReLU, the stacks'
    final LayerNorms, generator over the last LayerNorm's output)."""
    nn, F = torch.nn, torch.nn.functional
    E, H = cfg["d_model"], cfg["nhead"]
    Dh = E // H
    pre = bool(cfg["norm_first"])
    enc_layers, dec_layers = m.transformer.encoder.layers, m.transformer.decoder.layers

    def heads(x):  # [B, T, E] -> [B, H, T, Dh]
        return x.reshape(x.shape[0], x.shape[1], H, Dh).transpose(1, 2)

    def merge(x):  # [B, H, T, Dh] -> [B, T, E]
        return x.transpose(1, 2).reshape(x.shape[0], x.shape[2], E)

    def attend(q, k, v, bias):
        sc = torch.matmul(q * (Dh ** -0.5), k.transpose(-1, -2))
        if bias is not None:
            sc = sc + bias
        return merge(torch.matmul(torch.softmax(sc, -1), v))

    def ln(mod, x):
        return F.layer_norm(x, (E,), mod.weight, mod.bias, mod.eps)

    def ff(layer, x):
        return F.linear(F.relu(F.linear(x, layer.linear1.weight, layer.linear1.bias)), layer.linear2.weight,
                        layer.linear2.bias)

    def sublayer(x, norm, f):
        return x + f(ln(norm, x)) if pre else ln(norm, x + f(x))

    def embed(ids, pe):
        return m.embedding(ids) * math.sqrt(E) + pe

    class Encoder(nn.Module):
        def __init__(self):
            super().__init__()
            self.m = m  # the parameters are the module's: ONNX initializers, not traced constants

        def forward(self, src):
            S = src.shape[1]
            bias = torch.zeros(src.shape, dtype=torch.float32).masked_fill(src == 0, float("-inf"))
            bias = bias[:, None, None, :]
            x = embed(src, m.pe[:S])
            for layer in enc_layers:
                sa = layer.self_attn

                def self_att(u, sa=sa):
                    q, k, v = F.linear(u, sa.in_proj_weight, sa.in_proj_bias).chunk(3, -1)
                    return F.linear(attend(heads(q), heads(k), heads(v), bias), sa.out_proj.weight,
                                    sa.out_proj.bias)

                x = sublayer(x, layer.norm1, self_att)
                x = sublayer(x, layer.norm2, lambda u, layer=layer: ff(layer, u))
            x = ln(m.transformer.encoder.norm, x)
            ks, vs = [], []
            for layer in dec_layers:
                ca = layer.multihead_attn
                k, v = F.linear(x, ca.in_proj_weight[E:], ca.in_proj_bias[E:]).chunk(2, -1)
                ks.append(heads(k))
                vs.append(heads(v))
            return torch.stack(ks), torch.stack(vs), bias

    class Step(nn.Module):
        def __init__(self):
            super().__init__()
            self.m = m

        def forward(self, tok, pos, past_k, past_v, cross_k, cross_v, mem_bias):
            y = embed(tok, m.pe.index_select(0, pos))
            new_k, new_v = [], []
            for i, layer in enumerate(dec_layers):
                sa, ca = layer.self_attn, layer.multihead_attn

                def self_att(u, sa=sa, i=i):
                    q, k, v = F.linear(u, sa.in_proj_weight, sa.in_proj_bias).chunk(3, -1)
                    k = torch.cat([past_k[i], heads(k)], 2)
                    v = torch.cat([past_v[i], heads(v)], 2)
                    new_k.append(k)
                    new_v.append(v)
                    return F.linear(attend(heads(q), k, v, None), sa.out_proj.weight, sa.out_proj.bias)

                def cross_att(u, ca=ca, i=i):
                    q = F.linear(u, ca.in_proj_weight[:E], ca.in_proj_bias[:E])
                    return F.linear(attend(heads(q), cross_k[i], cross_v[i], mem_bias), ca.out_proj.weight,
                                    ca.out_proj.bias)

                y = sublayer(y, layer.norm1, self_att)
                y = sublayer(y, layer.norm2, cross_att)
                y = sublayer(y, layer.norm3, lambda u, layer=layer: ff(layer, u))
            y = ln(m.transformer.decoder.norm, y)
            return m.generator(y[:, 0]), torch.stack(new_k), torch.stack(new_v)

    return Encoder().eval(), Step().eval()


def export_onnx(a):
    """Writes encoder.onnx and step.onnx of the bundle into a.work and checks them against
    nn.Transformer's own forward (teacher-forced logits of a few test sentences)."""
    torch, gt, sp = torch_setup(1)
    with open(a.spec_export) as f:
        spec = json.load(f)
    m, cfg = bundle_module(torch, gt, sp, spec["bundle"])
    enc, step = onnx_modules(torch, m, cfg)
    L, H, E = cfg["num_decoder_layers"], cfg["nhead"], cfg["d_model"]
    Dh = E // H
    src = spec["src"][:3]
    S = max(len(s) for s in src)
    x = torch.zeros(len(src), S, dtype=torch.long)
    for r, s in enumerate(src):
        x[r, :len(s)] = torch.tensor(s)
    tgt = torch.tensor([[BOS, 5, 9, 14, 7]] * len(src))
    T = tgt.shape[1]
    opset = 17
    with torch.inference_mode():
        # the cached step against the module's teacher-forced logits
        ref = m(x, tgt)
        ck, cv, mb = enc(x)
        pk = torch.zeros(L, len(src), H, 0, Dh)
        pv = torch.zeros(L, len(src), H, 0, Dh)
        worst = 0.0
        for t in range(T):
            logits, pk, pv = step(tgt[:, t:t + 1], torch.tensor([t]), pk, pv, ck, cv, mb)
            worst = max(worst, float((logits - ref[:, t]).abs().max()))
    if worst > 1e-3:
        sys.exit("translate.py: the exported decoder step differs from nn.Transformer by %g" % worst)
    with torch.no_grad():
        torch.onnx.export(enc, (x,), os.path.join(a.work, "encoder.onnx"), opset_version=opset,
                          input_names=["src"], output_names=["cross_k", "cross_v", "mem_bias"],
                          dynamic_axes={"src": {0: "B", 1: "S"}, "cross_k": {1: "B", 3: "S"},
                                        "cross_v": {1: "B", 3: "S"}, "mem_bias": {0: "B", 3: "S"}})
        pk3 = torch.zeros(L, len(src), H, 3, Dh)
        torch.onnx.export(step, (tgt[:, :1], torch.tensor([3]), pk3, pk3.clone(), ck, cv, mb),
                          os.path.join(a.work, "step.onnx"), opset_version=opset,
                          input_names=["tok", "pos", "past_k", "past_v", "cross_k", "cross_v", "mem_bias"],
                          output_names=["logits", "present_k", "present_v"],
                          dynamic_axes={"tok": {0: "B"}, "past_k": {1: "B", 3: "t"}, "past_v": {1: "B", 3: "t"},
                                        "cross_k": {1: "B", 3: "S"}, "cross_v": {1: "B", 3: "S"},
                                        "mem_bias": {0: "B", 3: "S"}, "logits": {0: "B"},
                                        "present_k": {1: "B", 3: "t1"}, "present_v": {1: "B", 3: "t1"}})
    print(json.dumps({"torch": torch.__version__, "opset": opset, "step_vs_module_max_abs": worst, "layers": L,
                      "heads": H, "head_dim": Dh, "vocab": cfg["vocab_size"]}))


# ------------------------------------------------------------------------------ orchestration


def tool(build, *parts):
    p = os.path.join(build, *parts)
    if not os.path.exists(p):
        sys.exit("%s is missing: build it (ninja -C %s)" % (p, build))
    return p


def pick_bundle(a, tmp):
    if a.bundle:
        return os.path.abspath(a.bundle), "given"
    if os.path.exists(os.path.join(SHIPPED, "model.safetensors")):
        return SHIPPED, "shipped"
    out = os.path.join(tmp, "translate-tiny")
    log("models/translate-en-es has no weights: training the tiny model (%s)" % os.path.relpath(TINY_RECIPE, ROOT))
    r = subprocess.run([tool(a.build, "cli", "glia"), "train", TINY_RECIPE, "--out", out, "--threads", "1"],
                       capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit("glia train failed:\n" + r.stderr[-3000:])
    return out, "tiny (models/translate-en-es has no weights yet)"


def test_sentences(a, path):
    r = subprocess.run([tool(a.build, "cli", "glia"), "gettext", "--split", "test", "--side", "en"],
                       capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit("glia gettext failed:\n" + r.stderr[-3000:])
    lines = [s for s in r.stdout.split("\n") if s.strip()]
    n = min(a.sentences, len(lines))
    picked = [lines[i * len(lines) // n] for i in range(n)]  # evenly spaced over the split
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(picked) + "\n")
    return picked


def med(rows, key):
    return statistics.median(r[key] for r in rows)


def spread(rows, key, fmt):
    return "/".join(fmt % r[key] for r in rows)


def bench_train(a, tmp):
    bt = tool(a.build, "bench", "bench_translate")
    batches, init = os.path.join(tmp, "batches.safetensors"), os.path.join(tmp, "init.safetensors")
    spec_path = os.path.join(tmp, "train.json")
    out = {}
    for t in a.threads:
        g, p = [], []
        for rnd in range(a.rounds):
            cmd = [bt, "train", a.recipe, "--steps", str(a.steps), "--batches", batches, "--init", init,
                   "--threads", str(t)]
            if a.limit is not None:
                cmd += ["--limit", str(a.limit)]
            log("train: threads %d round %d: glia" % (t, rnd + 1))
            r = run_json(cmd, env=blas_env(t))
            g.append(r)
            with open(spec_path, "w") as f:
                json.dump({"batches": batches, "init": init, "model": r["model"], "optimizer": r["optimizer"],
                           "label_smoothing": r["label_smoothing"], "clip_grad_norm": r["clip_grad_norm"],
                           "warmup": r["warmup"]}, f)
            log("train: threads %d round %d: PyTorch" % (t, rnd + 1))
            p.append(run_json(["/usr/bin/python3", os.path.abspath(__file__), "--torch-train", spec_path,
                               "--threads", str(t)], env=blas_env(t)))
        out[t] = (g, p)
    return out


def sgemm_peak(a):
    """The machine's single-core sgemm peak (bench_cnn --peak: the best of 20 512^3 calls), as
    bench/cnn.py states it, measured between the rounds of this run."""
    cnn = os.path.join(ROOT, "models", "fashion-cnn")
    if not os.path.exists(os.path.join(a.build, "bench", "bench_cnn")) or not os.path.isdir(cnn):
        return None
    return run_json([os.path.join(a.build, "bench", "bench_cnn"), cnn, "--threads", "1", "--runs", "1", "--peak"],
                    env=blas_env(1))["sgemm_peak_gflops"]


def ort_export(a, tmp, bundle, src):
    """encoder.onnx and step.onnx of the bundle in tmp (a child process: the parent never imports
    torch), checked there against nn.Transformer's forward."""
    spec = os.path.join(tmp, "export.json")
    with open(spec, "w") as f:
        json.dump({"bundle": bundle, "src": src}, f)
    return run_json(["/usr/bin/python3", os.path.abspath(__file__), "--export-onnx", spec, "--work", tmp])


def ort_decode(a, tmp, exp, first, t):
    spec = {"threads": t, "encoder": "encoder.onnx", "step": "step.onnx", "layers": exp["layers"],
            "heads": exp["heads"], "head_dim": exp["head_dim"], "vocab": exp["vocab"], "src": first["src"],
            "max_tokens": first["max_tokens"], "max_positions": first["max_positions"],
            "length_penalty": first["length_penalty"], "no_repeat_ngram": first["no_repeat_ngram"],
            "configs": [list(c) for c in CONFIGS]}
    path = os.path.join(tmp, "ort_decode_%d.json" % t)
    with open(path, "w") as f:
        json.dump(spec, f)
    return run_json(["node", os.path.join(ROOT, "bench", "ort_translate.js"), path], env=blas_env(t))


def bench_decode(a, tmp, bundle, sentences_file):
    """glia, ONNX Runtime and PyTorch alternately, a.rounds times per thread count; the sgemm
    peak once per round."""
    bt = tool(a.build, "bench", "bench_translate")
    spec_path = os.path.join(tmp, "decode.json")
    out, exp, peaks = {}, None, []
    for t in a.threads:
        g = {name: [] for name, _, _ in CONFIGS}
        o, p = [], []
        for rnd in range(a.rounds):
            log("decode: threads %d round %d: glia" % (t, rnd + 1))
            for name, k, bsz in CONFIGS:
                r = run_json([bt, "decode", bundle, "--sentences", sentences_file, "--beam", str(k), "--batch",
                              str(bsz), "--threads", str(t)], env=blas_env(t))
                g[name].append(r)
            first = g[CONFIGS[0][0]][0]
            if not a.no_ort:
                if exp is None:
                    log("decode: exporting the encoder and the cached decoder step to ONNX")
                    exp = ort_export(a, tmp, bundle, first["src"])
                log("decode: threads %d round %d: ONNX Runtime" % (t, rnd + 1))
                o.append(ort_decode(a, tmp, exp, first, t))
            if not a.no_torch:
                with open(spec_path, "w") as f:
                    json.dump({"bundle": bundle, "src": first["src"], "max_tokens": first["max_tokens"],
                               "length_penalty": first["length_penalty"],
                               "no_repeat_ngram": first["no_repeat_ngram"]}, f)
                log("decode: threads %d round %d: PyTorch" % (t, rnd + 1))
                p.append(run_json(["/usr/bin/python3", os.path.abspath(__file__), "--torch-decode", spec_path,
                                   "--threads", str(t)], env=blas_env(t)))
            if t == 1 and not a.no_peak:
                log("decode: round %d: sgemm peak" % (rnd + 1))
                pk = sgemm_peak(a)
                if pk:
                    peaks.append(pk)
        out[t] = (g, o, p)
    return out, exp, (statistics.median(peaks) if peaks else None)


def decode_flop(cfg, src, outs):
    """Useful floating-point operations of decoding: per sentence the encoder over its source and
    one decoder step per output token and the closing </s> (the cached step: the projections,
    attention over the positions so far and the memory, the feed-forward, the generator), the
    cross-attention keys/values once; padding and dead rows not counted."""
    E, F, V = cfg["d_model"], cfg["dim_feedforward"], cfg["vocab_size"]
    Le, Ld = cfg["num_encoder_layers"], cfg["num_decoder_layers"]
    total = 0
    for s, o in zip(src, outs):
        S, n = len(s), len(o) + 1
        total += Le * (S * 2 * (4 * E * E + 2 * E * F) + 2 * 2 * S * S * E)  # encoder
        total += Ld * S * 2 * 2 * E * E  # cross-attention keys and values
        for t in range(n):
            total += Ld * (2 * (4 * E * E + 2 * E * E + 2 * E * F) + 2 * 2 * (t + 1) * E + 2 * 2 * S * E)
            total += 2 * E * V
    return total


def verdict(ratio, need):
    return "%s (>= %gx)" % ("met" if ratio >= need else "NOT met", need)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--bundle", help="a translation bundle (default: models/translate-en-es, else a tiny one)")
    ap.add_argument("--recipe", default=os.path.join(SHIPPED, "recipe.yaml"))
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--steps", type=int, default=10, help="timed training steps (after 2 warm-up steps)")
    ap.add_argument("--limit", type=int, help="training pairs the recipe prepares (default: all)")
    ap.add_argument("--sentences", type=int, default=100)
    ap.add_argument("--skip-train", action="store_true")
    ap.add_argument("--skip-decode", action="store_true")
    ap.add_argument("--no-ort", action="store_true", help="leave ONNX Runtime out")
    ap.add_argument("--no-torch", action="store_true", help="leave PyTorch's decoding out")
    ap.add_argument("--no-peak", action="store_true", help="do not measure the sgemm peak")
    ap.add_argument("--torch-train", dest="spec_train", help=argparse.SUPPRESS)
    ap.add_argument("--torch-decode", dest="spec_decode", help=argparse.SUPPRESS)
    ap.add_argument("--export-onnx", dest="spec_export", help=argparse.SUPPRESS)
    ap.add_argument("--work", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.spec_export:
        export_onnx(a)
        return
    if a.spec_train or a.spec_decode:
        a.threads = int(a.threads)
        a.spec = a.spec_train or a.spec_decode
        (torch_train if a.spec_train else torch_decode)(a)
        return
    a.threads = [int(x) for x in a.threads.split(",")]
    a.build, a.recipe = os.path.abspath(a.build), os.path.abspath(a.recipe)
    t_start = time.time()
    tmp = tempfile.mkdtemp(prefix="glia-bench-translate-")
    rows, notes = [], []
    torch_version, ort_version, core = "", "", ""

    if not a.skip_train:
        res = bench_train(a, tmp)
        g0 = res[a.threads[0]][0][0]
        core = g0["coretype"]
        m = g0["model"]
        shapes = ["%dx%d/%d" % (b["B"], b["S"], b["T"]) for b in g0["batches"][g0["warmup"]:]]
        notes.append("training: %s (%d parameters, vocabulary %d, d_model %d, %d+%d layers, FF %d, dropout %g), "
                     "%d training pairs; %d timed steps after %d warm-up on the same batches (B x S/T: %s, "
                     "%d target tokens)" % (os.path.relpath(a.recipe, ROOT), g0["parameters"], m["vocab_size"],
                                            m["d_model"], m["num_encoder_layers"], m["num_decoder_layers"],
                                            m["dim_feedforward"], m["dropout"], g0["train_pairs"], g0["steps"],
                                            g0["warmup"], " ".join(shapes), g0["timed_tokens"]))
        for t in a.threads:
            g, p = res[t]
            torch_version = p[0]["torch"]
            gv, pv = med(g, "tokens_per_s"), med(p, "tokens_per_s")
            rows.append((t, "training, target tokens/s", "%.0f" % gv, "-", "%.0f" % pv, None, gv / pv,
                         verdict(gv / pv, 1.3), spread(g, "tokens_per_s", "%.0f"), "-",
                         spread(p, "tokens_per_s", "%.0f")))
            gl = [b["loss"] for b in g[0]["batches"]]
            pl = p[0]["losses"]
            notes.append("training losses, threads %d, round 1, step by step (same initial weights and batches, "
                         "different dropout masks): glia %s; PyTorch %s" %
                         (t, " ".join("%.3f" % x for x in gl), " ".join("%.3f" % x for x in pl)))

    if not a.skip_decode:
        bundle, which = pick_bundle(a, tmp)
        sentences_file = os.path.join(tmp, "sentences.txt")
        sents = test_sentences(a, sentences_file)
        res, exp, peak = bench_decode(a, tmp, bundle, sentences_file)
        for t in a.threads:
            g, o, p = res[t]
            if p:
                torch_version = p[0]["torch"]
            if o:
                ort_version = o[0]["version"]
            core = core or g[CONFIGS[0][0]][0]["coretype"]
            for name, k, bsz in CONFIGS:
                gr = g[name]
                orr = [x["results"][name] for x in o]
                pr = [x["results"][name] for x in p]
                what = "greedy" if k == 1 else "beam %d" % k
                key, fmt = ("batch_ms_median", "%.2f") if bsz == 1 else ("sentences_per_s", "%.1f")
                gv = med(gr, key)
                ov = med(orr, key) if orr else None
                pv = med(pr, key) if pr else None
                # > 1: glia better (latency: theirs / glia's; throughput: glia's / theirs)
                ratio = (lambda x: x / gv) if bsz == 1 else (lambda x: gv / x)
                target = verdict(ratio(ov), 1.2) if ov and (bsz == 1 or k == 1) else ""
                label = ("latency per sentence, batch 1, %s (ms)" % what if bsz == 1 else
                         "sentences/s, batch %d, %s" % (bsz, what))
                rows.append((t, label, fmt % gv, fmt % ov if ov else "-", fmt % pv if pv else "-",
                             ratio(ov) if ov else None, ratio(pv) if pv else None, target, spread(gr, key, fmt),
                             spread(orr, key, fmt) if orr else "-", spread(pr, key, fmt) if pr else "-"))
        g, o, p = res[a.threads[0]]
        first = g[CONFIGS[0][0]][0]
        src_tok = sum(len(s) for s in first["src"])
        notes.append("decoding: %s (%s), %d test sentences (%d source tokens with </s>), max_tokens %d, "
                     "length penalty %g, no_repeat_ngram %d (the manifest's; all three sides apply them)" %
                     (os.path.relpath(bundle, ROOT) if bundle.startswith(ROOT) else bundle, which, len(sents),
                      src_tok, first["max_tokens"], first["length_penalty"], first["no_repeat_ngram"]))
        if exp:
            notes.append("ONNX Runtime: the same weights exported by torch.onnx.export (opset %d) as an encoder "
                         "(the memory's cross-attention keys/values of every decoder layer, once) and a decoder "
                         "step with a self-attention key/value cache in and out (largest logit difference of "
                         "the step from nn.Transformer's forward before export: %.2g); the search "
                         "(bench/ort_translate.js) is glia's, in JavaScript, one session.run per step" %
                         (exp["opset"], exp["step_vs_module_max_abs"]))
        for name, k, bsz in CONFIGS:
            go = g[name][0]["out"]
            unfinished = sum(1 for f in g[name][0]["finished"] if not f)
            same = []
            for side, r in (("ONNX Runtime", o), ("PyTorch", p)):
                if r:
                    same.append("%s %d" % (side, sum(x == y for x, y in zip(go, r[0]["results"][name]["out"]))))
            inside = ""
            if o:
                share = statistics.median(x["results"][name]["session_run_s"] / x["results"][name]["total_s"]
                                          for x in o)
                inside = "; ONNX Runtime spent %.0f%% of its time inside session.run" % (100 * share)
            notes.append("%s: token sequences identical to glia's: %s of %d sentences (glia: %d output tokens, "
                         "%d stopped by max_tokens)%s" % (name, ", ".join(same) or "-", len(go),
                                                           g[name][0]["output_tokens"], unfinished, inside))
        gb1, gb32 = g["greedy b1"][0]["out"], g["greedy b32"][0]["out"]
        notes.append("glia greedy, batch 1 vs batch 32: %d of %d identical" %
                     (sum(x == y for x, y in zip(gb1, gb32)), len(gb1)))
        if peak:
            cfg = first["model"]
            parts = []
            for name, k, bsz in CONFIGS:
                if k != 1:
                    continue
                flop = decode_flop(cfg, first["src"], g[name][0]["out"])
                t1 = a.threads[0]
                sides = [("glia", [x["total_s"] for x in res[t1][0][name]])]
                if o:
                    sides.append(("ORT", [x["results"][name]["total_s"] for x in o]))
                if p:
                    sides.append(("PyTorch", [x["results"][name]["total_s"] for x in p]))
                parts.append("%s: %s" % (name, ", ".join(
                    "%s %.1f (%.0f%%)" % (side, flop / statistics.median(v) / 1e9,
                                          100 * flop / statistics.median(v) / 1e9 / peak) for side, v in sides)))
            notes.append("useful GFLOP/s of greedy decoding, %d thread(s), against the single-core sgemm peak "
                         "measured in this run (bench_cnn --peak: %.1f GFLOP/s): %s" %
                         (a.threads[0], peak, "; ".join(parts)))
        for i in range(min(3, len(sents))):
            notes.append("example: %r -> glia greedy %r" % (sents[i], g["greedy b1"][0]["text"][i]))

    print("glia vs ONNX Runtime %s vs PyTorch %s, translation model; %d rounds per figure, alternating, medians; "
          "glia's OpenBLAS kernels: %s (OPENBLAS_CORETYPE %s); total %.0f s" %
          (ort_version or "(not run)", torch_version or "(not run)", a.rounds, core,
           os.environ.get("OPENBLAS_CORETYPE", "unset"), time.time() - t_start))
    print()
    print("| threads | figure | glia | ONNX Runtime | PyTorch | glia / ORT | glia / PyTorch | target | "
          "glia by round | ORT by round | PyTorch by round |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for t, name, gv, ov, pv, ro, rp, target, gs, os_, ps in sorted(rows, key=lambda r: r[0]):
        print("| %d | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |" %
              (t, name, gv, ov, pv, "%.2fx" % ro if ro else "-", "%.2fx" % rp if rp else "-", target, gs, os_, ps))
    print()
    print("ratios: > 1 means glia is better (tokens/s and sentences/s: glia / other; latency: other / glia); "
          "targets (issue 17): decoding 1.2x ONNX Runtime, training 1.3x PyTorch")
    for n in notes:
        print("- " + n)
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
