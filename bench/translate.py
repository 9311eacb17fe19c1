#!/usr/bin/python3
# translate.py - glia vs PyTorch on the translation model (core/nn/seq2seq.h), measured in one
# run; prints a markdown table.
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


def greedy(torch, m, src, max_steps, causal):
    mem, pad = encode(torch, m, src)
    n = src.shape[0]
    ys = torch.full((n, 1), BOS, dtype=torch.long)
    alive = list(range(n))
    outs = [None] * n
    for _ in range(max_steps):
        best = last_logits(torch, m, ys, mem, pad, causal).argmax(-1)
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


def beam(torch, m, src, k, max_tokens, alpha, causal):
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


def torch_decode(a):
    torch, gt, sp = torch_setup(a.threads)
    with open(a.spec) as f:
        spec = json.load(f)
    man = gt.load_manifest(os.path.join(spec["bundle"], "model.yaml"))
    arch = man["architecture"]
    w = gt.load_safetensors(os.path.join(spec["bundle"], "model.safetensors"))
    cfg = dict(arch, vocab_size=w["embedding.weight"].shape[0], norm_first=arch.get("norm_first", False),
               tie_embeddings=arch.get("tie_embeddings", True))
    m = translator(torch, sp, cfg, 0.0)
    load_weights(torch, gt, m, os.path.join(spec["bundle"], "model.safetensors"), cfg["tie_embeddings"])
    m.eval()
    P = cfg["max_positions"]
    causal = torch.nn.Transformer.generate_square_subsequent_mask(P)
    src, max_tokens, alpha = spec["src"], spec["max_tokens"], spec["length_penalty"]
    results = {}
    with torch.inference_mode():
        for name, k, bsz in CONFIGS:
            def run(batch):
                S = max(len(s) for s in batch)
                x = torch.zeros(len(batch), S, dtype=torch.long)
                for r, s in enumerate(batch):
                    x[r, :len(s)] = torch.tensor(s)
                if k == 1:
                    return greedy(torch, m, x, min(max_tokens, P - 1), causal)
                return beam(torch, m, x, k, max_tokens, alpha, causal)
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


def bench_decode(a, tmp, bundle, sentences_file):
    bt = tool(a.build, "bench", "bench_translate")
    spec_path = os.path.join(tmp, "decode.json")
    out = {}
    for t in a.threads:
        g = {name: [] for name, _, _ in CONFIGS}
        p = []
        for rnd in range(a.rounds):
            log("decode: threads %d round %d: glia" % (t, rnd + 1))
            for name, k, bsz in CONFIGS:
                r = run_json([bt, "decode", bundle, "--sentences", sentences_file, "--beam", str(k), "--batch",
                              str(bsz), "--threads", str(t)], env=blas_env(t))
                g[name].append(r)
            first = g[CONFIGS[0][0]][0]
            with open(spec_path, "w") as f:
                json.dump({"bundle": bundle, "src": first["src"], "max_tokens": first["max_tokens"],
                           "length_penalty": first["length_penalty"]}, f)
            log("decode: threads %d round %d: PyTorch" % (t, rnd + 1))
            p.append(run_json(["/usr/bin/python3", os.path.abspath(__file__), "--torch-decode", spec_path,
                               "--threads", str(t)], env=blas_env(t)))
        out[t] = (g, p)
    return out


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
    ap.add_argument("--torch-train", dest="spec_train", help=argparse.SUPPRESS)
    ap.add_argument("--torch-decode", dest="spec_decode", help=argparse.SUPPRESS)
    a = ap.parse_args()
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
    torch_version, core = "", ""

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
            rows.append((t, "training, target tokens/s", "%.0f" % gv, "%.0f" % pv, gv / pv, verdict(gv / pv, 1),
                         spread(g, "tokens_per_s", "%.0f"), spread(p, "tokens_per_s", "%.0f")))
            gl = [b["loss"] for b in g[0]["batches"]]
            pl = p[0]["losses"]
            notes.append("training losses, threads %d, round 1, step by step (same initial weights and batches, "
                         "different dropout masks): glia %s; PyTorch %s" %
                         (t, " ".join("%.3f" % x for x in gl), " ".join("%.3f" % x for x in pl)))

    if not a.skip_decode:
        bundle, which = pick_bundle(a, tmp)
        sentences_file = os.path.join(tmp, "sentences.txt")
        sents = test_sentences(a, sentences_file)
        res = bench_decode(a, tmp, bundle, sentences_file)
        for t in a.threads:
            g, p = res[t]
            torch_version = p[0]["torch"]
            core = core or g[CONFIGS[0][0]][0]["coretype"]
            for name, k, bsz in CONFIGS:
                gr = g[name]
                pr = [x["results"][name] for x in p]
                what = "greedy" if k == 1 else "beam %d" % k
                if bsz == 1:
                    gv, pv = med(gr, "batch_ms_median"), med(pr, "batch_ms_median")
                    ratio = pv / gv
                    rows.append((t, "latency per sentence, batch 1, %s (ms)" % what, "%.2f" % gv, "%.2f" % pv,
                                 ratio, verdict(ratio, 2) if k == 1 else "",
                                 spread(gr, "batch_ms_median", "%.2f"), spread(pr, "batch_ms_median", "%.2f")))
                else:
                    gv, pv = med(gr, "sentences_per_s"), med(pr, "sentences_per_s")
                    ratio = gv / pv
                    rows.append((t, "sentences/s, batch %d, %s" % (bsz, what), "%.1f" % gv, "%.1f" % pv, ratio, "",
                                 spread(gr, "sentences_per_s", "%.1f"), spread(pr, "sentences_per_s", "%.1f")))
        g, p = res[a.threads[0]]
        first = g[CONFIGS[0][0]][0]
        src_tok = sum(len(s) for s in first["src"])
        notes.append("decoding: %s (%s), %d test sentences (%d source tokens with </s>), max_tokens %d, "
                     "length penalty %g" % (os.path.relpath(bundle, ROOT) if bundle.startswith(ROOT) else bundle,
                                            which, len(sents), src_tok, first["max_tokens"],
                                            first["length_penalty"]))
        for name, k, bsz in CONFIGS:
            go, po = g[name][0]["out"], p[0]["results"][name]["out"]
            same = sum(x == y for x, y in zip(go, po))
            unfinished = sum(1 for f in g[name][0]["finished"] if not f)
            notes.append("%s: glia and PyTorch give identical token sequences for %d of %d sentences "
                         "(glia: %d output tokens, %d stopped by max_tokens)" %
                         (name, same, len(go), g[name][0]["output_tokens"], unfinished))
        gb1, gb32 = g["greedy b1"][0]["out"], g["greedy b32"][0]["out"]
        notes.append("glia greedy, batch 1 vs batch 32: %d of %d identical" %
                     (sum(x == y for x, y in zip(gb1, gb32)), len(gb1)))
        for i in range(min(3, len(sents))):
            notes.append("example: %r -> glia greedy %r" % (sents[i], g["greedy b1"][0]["text"][i]))

    print("glia vs PyTorch %s, translation model; %d rounds per figure, medians; glia's OpenBLAS kernels: %s; "
          "total %.0f s" % (torch_version, a.rounds, core, time.time() - t_start))
    print()
    print("| threads | figure | glia | PyTorch | glia / PyTorch | target | glia by round | PyTorch by round |")
    print("|---|---|---|---|---|---|---|---|")
    for t, name, gv, pv, ratio, target, gs, ps in sorted(rows, key=lambda r: r[0]):
        print("| %d | %s | %s | %s | %.2fx | %s | %s | %s |" % (t, name, gv, pv, ratio, target, gs, ps))
    print()
    print("ratios: > 1 means glia is better (tokens/s and sentences/s: glia / PyTorch; latency: PyTorch / glia)")
    for n in notes:
        print("- " + n)
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
