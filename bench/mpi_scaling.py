#!/usr/bin/python3
# mpi_scaling.py - data-parallel training over MPI on this machine, and on paper beyond it.
#
# For each shipped model family (models/fashion-cnn, models/sentiment-lstm,
# models/translate-en-es: their architectures and optimizers, on a slice of their data) it
# trains, alternately, ROUNDS times each:
#   1 rank x 2 threads   glia train --threads 2 (translation: one stream, 2 OpenBLAS threads)
#   2 ranks x 1 thread   mpirun -np 2 glia train --threads 1
#   1 rank x 1 thread    glia train --threads 1: the compute time per step for the estimate
# and prints the medians of the last epoch's images/s, sentences/s or target tokens/s, and
# rank 0's share of time in the reducer's sums (which includes waiting for the other rank).
#
# Then the estimate: every rank computes one recipe-sized batch in the measured time per
# step t_c, and a step adds the ring allreduce of the gradient, G = 4 bytes x parameters
# (the whole flat buffer, frozen tensors included, as glia sums it), plus two 16-byte sums
# (the loss and counts, the stop votes):
#   t_allreduce(bytes) = 2 (N - 1) / N * bytes / bandwidth + 2 (N - 1) * latency
#   efficiency = t_c / (t_c + t_allreduce(G) + 2 t_allreduce(16))     (no overlap)
# with the link's full rate as bandwidth and an assumed latency per message: 50 us on
# 10 Gb/s Ethernet (MPI over TCP), 5 us on 100 Gb/s (RDMA: InfiniBand or RoCE). A second
# table keeps the global batch fixed instead (each rank computes 1/N of it: t_c / N).
#
#   /usr/bin/python3 bench/mpi_scaling.py [--build build-rel] [--rounds 3] [--only cnn,text,translation]
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


def train(glia, recipe, out, ranks, threads):
    shutil.rmtree(out, ignore_errors=True)
    # --bind-to none: Open MPI pins each rank to a core, which on a shared machine keeps a
    # rank on a busy core while the other idles (measured: 298 images/s bound, 423 not)
    cmd = (["mpirun", "--bind-to", "none", "-np", str(ranks)] if ranks > 1 else []) + \
        [glia, "train", recipe, "--out", out, "--threads", str(threads)]
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
    return {"rate": rate, "seconds": seconds, "steps": steps, "params": params, "share": share}


def allreduce(n, nbytes, bandwidth, latency):
    return 2 * (n - 1) / n * nbytes / bandwidth + 2 * (n - 1) * latency


def efficiency(t_c, n, params, bandwidth, latency):
    comm = allreduce(n, 4 * params, bandwidth, latency) + 2 * allreduce(n, 16, bandwidth, latency)
    return t_c / (t_c + comm)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.path.join(ROOT, "build-rel"))
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--only", default="cnn,text,translation")
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
            got = {"1x2": [], "2x1": [], "1x1": []}
            for _ in range(a.rounds):
                got["1x2"].append(train(glia, recipe, os.path.join(tmp, "a"), 1, 2))
                got["2x1"].append(train(glia, recipe, os.path.join(tmp, "b"), 2, 1))
                got["1x1"].append(train(glia, recipe, os.path.join(tmp, "c"), 1, 1))
            runs[name] = (unit, step, got)
            print("# %s done" % name, file=sys.stderr)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    def med(rs, key):
        return statistics.median(r[key] for r in rs)

    print()
    print("| family | unit | 1 rank x 2 threads | 2 ranks x 1 thread | 2x1 / 1x2 | rank 0 in allreduce (2x1) | 1 rank x 1 thread |")
    print("|---|---|---|---|---|---|---|")
    for name, (unit, step, got) in runs.items():
        r12, r21, r11 = med(got["1x2"], "rate"), med(got["2x1"], "rate"), med(got["1x1"], "rate")
        print("| %s | %s/s | %.0f | %.0f | %.2fx | %.0f %% | %.0f |"
              % (name, unit, r12, r21, r21 / r12, 100 * med(got["2x1"], "share"), r11))

    print()
    print("Estimate, no overlap; latency: %s. Each rank computes one recipe-sized batch (global batch x N):"
          % ", ".join("%s %g us" % (n, lat * 1e6) for n, _, lat in NETWORKS))
    head = " | ".join("N=%d %s" % (n, net) for n in RANKS for net, _, _ in NETWORKS)
    print()
    print("| family | parameters | gradient (MB) | step | t_c (ms) | " + head + " |")
    print("|---|---|---|---|---|" + "---|" * (len(RANKS) * len(NETWORKS)))
    table2 = []
    for name, (unit, step, got) in runs.items():
        params = int(med(got["1x1"], "params"))
        t_c = statistics.median(r["seconds"] / r["steps"] for r in got["1x1"])
        cells = ["%.0f %%" % (100 * efficiency(t_c, n, params, bw, lat)) for n in RANKS for _, bw, lat in NETWORKS]
        cells2 = ["%.0f %%" % (100 * efficiency(t_c / n, n, params, bw, lat)) for n in RANKS for _, bw, lat in NETWORKS]
        print("| %s | %d | %.2f | %s | %.1f | %s |" % (name, params, 4 * params / 1e6, step, 1e3 * t_c,
                                                     " | ".join(cells)))
        table2.append("| %s | %s |" % (name, " | ".join(cells2)))
    print()
    print("The same, the global batch fixed (each rank computes 1/N of it in t_c / N):")
    print()
    print("| family | " + head + " |")
    print("|---|" + "---|" * (len(RANKS) * len(NETWORKS)))
    for line in table2:
        print(line)
    print()
    print("t_c: seconds / steps of the 1 x 1 run (validation included: a slight overestimate of compute).")


if __name__ == "__main__":
    main()
