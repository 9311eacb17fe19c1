#!/usr/bin/env python3
"""bench/ab.py - the same in-process benchmarks from two builds of glia, alternating in one run,
so that a change is judged against its parent on the same machine at the same moment (the house
rule for shared, noisy machines: ratios from one run, medians).

    bench/ab.py BUILD_BEFORE BUILD_AFTER [--rounds N] [--threads N]

Runs bench_cnn (models/fashion-cnn), bench_text (models/sentiment-lstm, 20 words) and
bench_translate decode (models/translate-en-es, 50 test sentences of gettext-en-es, greedy,
batch 1) from each build, alternating before/after for N rounds, and prints a table of the
medians and the after/before ratio (> 1: after is faster, or smaller for RSS). It also
prints which OpenBLAS core ran (from the environment; this script never sets it).
"""
import argparse, json, os, statistics, subprocess, sys, tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def tool(build, name):
    for sub in ("bench", ""):
        p = os.path.join(build, sub, name)
        if os.path.exists(p):
            return p
    sys.exit("no %s in %s (ninja -C %s bench/%s)" % (name, build, build, name))


def glia(build):
    for sub in ("cli", "daemon"):  # the glia tool moved from daemon/ to cli/
        p = os.path.join(build, sub, "glia")
        if os.path.exists(p):
            return p
    sys.exit("no glia in " + build)


def run_json(cmd, env):
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("before")
    ap.add_argument("after")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()
    env = dict(os.environ, OPENBLAS_NUM_THREADS=str(a.threads))
    models = os.path.join(ROOT, "models")
    with tempfile.TemporaryDirectory() as tmp:
        sentences = os.path.join(tmp, "en.txt")
        en = subprocess.run([glia(a.after), "gettext", "--split", "test", "--side", "en"], capture_output=True,
                            text=True, env=env, check=True).stdout.splitlines()[:50]
        with open(sentences, "w") as f:
            f.write("\n".join(en) + "\n")
        figures = {}  # (figure, side) -> [values]
        coretypes = set()

        def add(side, name, value):
            figures.setdefault((name, side), []).append(value)

        for _ in range(a.rounds):
            for side, build in (("before", a.before), ("after", a.after)):
                c = run_json([tool(build, "bench_cnn"), os.path.join(models, "fashion-cnn"), "--threads",
                              str(a.threads)], env)
                add(side, "CNN latency batch 1 (ms)", c["latency_b1_ms"])
                add(side, "CNN batch 64 (img/s)", c["throughput_b64"])
                add(side, "CNN training, Adam batch 64 (img/s)", c["train_images_per_s"])
                add(side, "CNN peak RSS with training (MB)", c["peak_rss_mb"])
                coretypes.add(c.get("coretype", "?"))
                t = run_json([tool(build, "bench_text"), os.path.join(models, "sentiment-lstm"), "--threads",
                              str(a.threads), "--words", "20"], env)
                add(side, "LSTM latency batch 1 (ms)", t["latency_b1_ms"])
                add(side, "LSTM batch 64 (sentences/s)", t["throughput_b64"])
                d = run_json([tool(build, "bench_translate"), "decode", os.path.join(models, "translate-en-es"),
                              "--sentences", sentences, "--beam", "1", "--batch", "1", "--threads",
                              str(a.threads)], env)
                add(side, "Transformer greedy batch 1 (ms/sentence)", d["batch_ms_median"])
    core = os.environ.get("OPENBLAS_CORETYPE", "unset")
    print("OPENBLAS_CORETYPE %s, OpenBLAS ran %s; threads %d; medians of %d alternating rounds" %
          (core, "/".join(sorted(coretypes)), a.threads, a.rounds))
    print("| figure | before | after | after/before speed |")
    print("|---|---|---|---|")
    names = []
    for name, _ in figures:
        if name not in names:
            names.append(name)
    for name in names:
        b = statistics.median(figures[(name, "before")])
        f = statistics.median(figures.get((name, "after"), [float("nan")]))
        lower_is_better = "(ms" in name or "(MB)" in name
        ratio = b / f if lower_is_better else f / b
        print("| %s | %.4g | %.4g | %.3fx |" % (name, b, f, ratio))


if __name__ == "__main__":
    main()
