#!/usr/bin/python3
# mpi_scaling.py - data-parallel training over MPI on this machine, and on paper beyond it.
#
# For each shipped model family (models/fashion-cnn, models/sentiment-lstm,
# models/translate-en-es: their architectures and optimizers, on a slice of their data) it
# trains, alternately, ROUNDS times each:
#   1 rank x 2 threads   glia train --threads 2 (translation: one stream, 2 OpenBLAS threads)
#   2 ranks x 1 thread   mpirun -np 2 glia train --threads 1 (gradients summed in buckets
#                        during the backward pass: the default)
#   the same, --no-overlap (one allreduce after the pass); on and off alternate which goes
#                        first from round to round
#   1 rank x 1 thread    glia train --threads 1: the compute time per step for the estimate
# and prints the medians of the last epoch's images/s, sentences/s or target tokens/s, the
# seconds per step with overlap on and off, rank 0's share of time in the reducer's calls
# (which includes waiting for the other rank), and how many buckets started before the
# backward pass ended.
#
# Then the estimate: every rank computes one recipe-sized batch in the measured time per
# step t_c, and a step adds the ring allreduce of the gradient, G = 4 bytes x parameters
# (the whole flat buffer, frozen tensors included, as glia sums it), plus two 16-byte sums
# (the loss and counts, the stop votes):
#   t_allreduce(bytes) = 2 (N - 1) / N * bytes / bandwidth + 2 (N - 1) * latency
#   no overlap:   efficiency = t_c / (t_c + t_allreduce(G) + 2 t_allreduce(16))
#   with overlap: the gradient goes in B buckets (each its own ring: B latency terms); the
#   backward pass still runs for w = f t_c after the first bucket starts (f: that time's
#   share of a step, measured by the 2 x 1 overlapped run), and the buckets it starts only
#   when it ends (the head's: measured share h of the buckets) cannot hide at all:
#     exposed = max(t_buckets(h G), t_buckets(G) - w)
#     efficiency = t_c / (t_c + exposed + 2 t_allreduce(16))
# with the link's full rate as bandwidth and an assumed latency per message: 50 us on
# 10 Gb/s Ethernet (MPI over TCP), 5 us on 100 Gb/s (RDMA: InfiniBand or RoCE). A second
# table keeps the global batch fixed instead (each rank computes 1/N of it: t_c / N).
#
#   /usr/bin/python3 bench/mpi_scaling.py [--build build-rel] [--rounds 3] [--only cnn,text,translation]
#                                         [--bucket-kb 1024]
# Needs a release build with Open MPI (meson setup build-rel -Dbuildtype=release), mpirun
# and the data sets of scripts/setup.
import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODELS = os.path.join(ROOT, "models")
NPM = os.path.join(ROOT, ".cache", "npm-bench", "node_modules")
UCI = os.path.join(ROOT, ".cache", "data", "uci-sentiment")

NETWORKS = [("10 Gb/s", 10e9 / 8, 50e-6), ("100 Gb/s", 100e9 / 8, 5e-6)]
RANKS = [8, 64]


def recipes(tmp):
    """name -> (recipe path, unit, what one step is)."""
    out = {}
    path = os.path.join(tmp, "cnn.yaml")
    with open(path, "w") as f:  # fashion-cnn's recipe on 30 batches of 128 per epoch
        f.write("""model: %s/fashion-cnn/model.yaml
dataset: {name: fashion-mnist, validation: 512, limit: 4352}
seed: 1
epochs: 2
batch: {policy: fixed, size: 128}
optimizer: {type: adamw, lr: 0.001, weight_decay: 0.05}
loss: {label_smoothing: 0.1}
augment: {hflip: true, translate: 2}
""" % MODELS)
    out["cnn"] = (path, "images", "batch of 128 images")
    path = os.path.join(tmp, "text.yaml")
    with open(path, "w") as f:  # sentiment-lstm's recipe, the whole train split (75 batches of 32)
        f.write("""model: %s/sentiment-lstm/model.yaml
dataset: {name: uci-sentiment, path: %s}
seed: 1
epochs: 2
vocabulary: {min_count: 1}
lexicon:
  - {path: %s/sentiment/languages/en/labels.json, format: json, scale: 0.2}
  - {path: %s/vader-sentiment/vader_lexicon.txt, format: tsv, scale: 0.25}
batch: {policy: fixed, size: 32}
optimizer: {type: adam, lr: 0.002}
clip_grad_norm: 5.0
""" % (MODELS, UCI, NPM, NPM))
    out["text"] = (path, "sentences", "batch of 32 sentences")
    path = os.path.join(tmp, "translation.yaml")
    with open(path, "w") as f:  # translate-en-es's recipe on the first 2000 pairs
        f.write("""model: %s/translate-en-es/model.yaml
dataset: {name: gettext-en-es, limit: 2000}
seed: 1
epochs: 2
tokenizer: {vocab_size: 8000}
batch_tokens: 3000
optimizer: {type: adam, lr: 0.001, beta1: 0.9, beta2: 0.98, eps: 1.0e-9}
schedule: {type: inverse_sqrt, warmup_steps: 400, warmup_start_factor: 0.01}
loss: {label_smoothing: 0.1}
clip_grad_norm: 1.0
evaluation: {beam_size: 1, limit: 20}
""" % MODELS)
    out["translation"] = (path, "tokens", "batch of <= 3000 tokens")
    return out


def env():
    e = dict(os.environ)
    e.update({"OMPI_ALLOW_RUN_AS_ROOT": "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1", "OPENBLAS_NUM_THREADS": "1"})
    return e


OVERLAP = re.compile(r"^overlap: ([0-9]+) of ([0-9]+) gradient buckets \(([0-9]+) KiB\) started during the "
                     r"backward pass, which ran ([0-9.]+) s", re.M)


def train(glia, recipe, out, ranks, threads, extra=()):
    shutil.rmtree(out, ignore_errors=True)
    # --bind-to none: Open MPI pins each rank to a core, which on a shared machine keeps a
    # rank on a busy core while the other idles (measured: 298 images/s bound, 423 not)
    cmd = (["mpirun", "--bind-to", "none", "-np", str(ranks)] if ranks > 1 else []) + \
        [glia, "train", recipe, "--out", out, "--threads", str(threads)] + list(extra)
    p = subprocess.run(cmd, capture_output=True, text=True, env=env())
    if p.returncode != 0:
        sys.exit("failed: %s\n%s%s" % (" ".join(cmd), p.stdout[-2000:], p.stderr[-2000:]))
    text = p.stdout
    rate = float(re.findall(r"/s=([0-9.]+)", text)[-1])  # the last epoch's
    seconds = float(re.search(r"trained in ([0-9.]+) s", text).group(1))
    params = int(re.search(r"([0-9]+) parameters", text).group(1))
    m = re.search(r"allreduce: ([0-9.]+) s of ([0-9.]+) s", text)
    share = float(m.group(1)) / float(m.group(2)) if m else None
    with open(os.path.join(out, "model.yaml")) as f:
        steps = int(re.search(r"^  steps: ([0-9]+)$", f.read(), re.M).group(1))
    o = OVERLAP.search(text)
    return {"rate": rate, "seconds": seconds, "steps": steps, "params": params, "share": share,
            "step": seconds / steps, "early": int(o.group(1)) if o else 0, "buckets": int(o.group(2)) if o else 0,
            "window": float(o.group(4)) / steps if o else 0.0}


def allreduce(n, nbytes, bandwidth, latency):
    return 2 * (n - 1) / n * nbytes / bandwidth + 2 * (n - 1) * latency


def efficiency(t_c, n, params, bandwidth, latency, overlap=None):
    """overlap: (buckets per step, share of them started when the pass ended, the pass's
    time after the first bucket started as a share of the step) or None."""
    small = 2 * allreduce(n, 16, bandwidth, latency)
    if not overlap:
        return t_c / (t_c + allreduce(n, 4 * params, bandwidth, latency) + small)
    buckets, late, window = overlap

    def t_buckets(share):  # share of the gradient, in share of the buckets
        k = max(1, round(share * buckets))
        return allreduce(n, 4 * params * share, bandwidth, 0) + k * allreduce(n, 0, bandwidth, latency)
    exposed = max(t_buckets(late), t_buckets(1.0) - window * t_c)
    return t_c / (t_c + exposed + small)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.path.join(ROOT, "build-rel"))
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--only", default="cnn,text,translation")
    ap.add_argument("--bucket-kb", type=int, default=0, help="passed to glia train (0: its default)")
    ap.add_argument("--epochs", type=int, default=0, help="passed to glia train (0: the recipes' 2)")
    ap.add_argument("--overlap-only", action="store_true",
                    help="only the 2 x 1 runs with overlap on and off (a loaded machine: the ratios); the "
                         "estimate then takes t_c from --t-c")
    ap.add_argument("--t-c", default="", help="with --overlap-only: ms per step of 1 x 1, e.g. cnn=215,text=22")
    a = ap.parse_args()
    glia = os.path.join(a.build, "cli", "glia")
    if not shutil.which("mpirun"):
        sys.exit("no mpirun: apt-get install openmpi-bin libopenmpi-dev, then rebuild")
    version = subprocess.run([glia, "--version"], capture_output=True, text=True, env=env()).stdout
    blas = re.search(r"^blas: (.*)$", version, re.M)
    print("glia: %s; %s; OpenBLAS: %s; %d rounds, medians" % (glia, version.splitlines()[0],
                                                              blas.group(1) if blas else "?", a.rounds))
    tmp = tempfile.mkdtemp(prefix="glia-mpi-bench-")
    try:
        runs = {}
        for name, (recipe, unit, step) in recipes(tmp).items():
            if name not in a.only.split(","):
                continue
            got = {"1x2": [], "2x1": [], "2x1off": [], "1x1": []}
            epochs = ["--epochs", str(a.epochs)] if a.epochs else []
            bucket = ["--bucket-kb", str(a.bucket_kb)] if a.bucket_kb else []
            for i in range(a.rounds):
                if not a.overlap_only:
                    got["1x2"].append(train(glia, recipe, os.path.join(tmp, "a"), 1, 2, epochs))
                for off in ((False, True) if i % 2 == 0 else (True, False)):
                    key, extra = ("2x1off", ["--no-overlap"]) if off else ("2x1", bucket)
                    got[key].append(train(glia, recipe, os.path.join(tmp, "b"), 2, 1, extra + epochs))
                if not a.overlap_only:
                    got["1x1"].append(train(glia, recipe, os.path.join(tmp, "c"), 1, 1, epochs))
            runs[name] = (unit, step, got)
            print("# %s done" % name, file=sys.stderr)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    def med(rs, key):
        return statistics.median(r[key] for r in rs)

    given = dict((k, float(v) / 1e3) for k, v in (kv.split("=") for kv in a.t_c.split(",") if kv))
    print()
    print("| family | unit | 1 rank x 2 threads | 2 ranks x 1 thread | 2x1 / 1x2 | rank 0 in allreduce (2x1) | 1 rank x 1 thread |")
    print("|---|---|---|---|---|---|---|")
    for name, (unit, step, got) in runs.items():
        if a.overlap_only:
            continue
        r12, r21, r11 = med(got["1x2"], "rate"), med(got["2x1"], "rate"), med(got["1x1"], "rate")
        print("| %s | %s/s | %.0f | %.0f | %.2fx | %.0f %% | %.0f |"
              % (name, unit, r12, r21, r21 / r12, 100 * med(got["2x1"], "share"), r11))

    print()
    print("Overlap on and off, 2 ranks x 1 thread (medians; on and off alternate):")
    print()
    print("| family | s/step off | s/step on | off / on | rank 0 in allreduce off | on | buckets a step "
          "| started during backward | backward after the first bucket (of a step) |")
    print("|---|---|---|---|---|---|---|---|---|")
    overlap = {}
    for name, (unit, step, got) in runs.items():
        on, off = got["2x1"], got["2x1off"]
        buckets = med(on, "buckets") / med(on, "steps")
        early = med(on, "early") / max(1, med(on, "buckets"))
        window = statistics.median(r["window"] / r["step"] for r in on)
        overlap[name] = (buckets, 1 - early, window)
        print("| %s | %.4f | %.4f | %.3fx | %.0f %% | %.0f %% | %.1f | %.0f %% | %.0f %% |"
              % (name, med(off, "step"), med(on, "step"), med(off, "step") / med(on, "step"),
                 100 * med(off, "share"), 100 * med(on, "share"), buckets, 100 * early, 100 * window))

    print()
    print("Estimate; latency: %s. Each rank computes one recipe-sized batch (global batch x N), "
          "without overlap / with it:" % ", ".join("%s %g us" % (n, lat * 1e6) for n, _, lat in NETWORKS))
    head = " | ".join("N=%d %s" % (n, net) for n in RANKS for net, _, _ in NETWORKS)
    print()
    print("| family | parameters | gradient (MB) | step | t_c (ms) | " + head + " |")
    print("|---|---|---|---|---|" + "---|" * (len(RANKS) * len(NETWORKS)))
    table2 = []
    for name, (unit, step, got) in runs.items():
        params = int(med(got["2x1"], "params"))
        if a.overlap_only and name not in given:
            continue
        t_c = given[name] if a.overlap_only else statistics.median(r["seconds"] / r["steps"] for r in got["1x1"])
        ov = overlap[name]

        cells, cells2 = [], []
        for n in RANKS:
            for _, bw, lat in NETWORKS:
                cells.append("%.0f / %.0f %%" % tuple(100 * efficiency(t_c, n, params, bw, lat, o) for o in (None, ov)))
                cells2.append("%.0f / %.0f %%" % tuple(100 * efficiency(t_c / n, n, params, bw, lat, o)
                                                       for o in (None, ov)))
        print("| %s | %d | %.2f | %s | %.1f | %s |" % (name, params, 4 * params / 1e6, step, 1e3 * t_c,
                                                     " | ".join(cells)))
        table2.append("| %s | %s |" % (name, " | ".join(cells2)))
    print()
    print("The same, the global batch fixed (each rank computes 1/N of it in t_c / N), without / with overlap:")
    print()
    print("| family | " + head + " |")
    print("|---|" + "---|" * (len(RANKS) * len(NETWORKS)))
    for line in table2:
        print(line)
    print()
    print("t_c: seconds / steps of the 1 x 1 run (validation included: a slight overestimate of compute).")


if __name__ == "__main__":
    main()
