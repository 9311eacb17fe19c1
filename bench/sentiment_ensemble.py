#!/usr/bin/env python3
"""Would averaging several seeds of a sentiment recipe reach issue 18's 0.88?

Trains the recipe once per seed (`glia train`, one thread), then scores every single bundle
and the ensembles of every k of them (mean of P(positive)) on uci-sentiment's dev and test
splits, through `glia predict`. The split is the one core/data/uci.h defines, as
tests/integration/test_text_serving.py's uci_splits recomputes it; the sentence counts are
checked against glia's own (309 dev, 307 test).

Dev decides, test is printed beside it for the record (issue 18: select on dev, never tune on
test). README, "Language-model pretraining", has the figures of models/sentiment-lm's recipe.

    /usr/bin/python3 bench/sentiment_ensemble.py --glia build-rel/cli/glia \
        --recipe models/sentiment-lm/recipe.yaml --seeds 1,2,3,4,5 --work /tmp/sentiment-ensemble
"""
import argparse
import itertools
import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
import test_text_serving as ts  # noqa: E402  (the UCI split and `glia predict`, as the tests read them)


def train_seed(glia, recipe, seed, work):
    """Trains the recipe with `seed:` replaced; the copy sits beside the recipe so that its
    relative paths (model.yaml, lexicons, init bundle) still resolve, and is removed after."""
    out = os.path.join(work, "seed%d" % seed)
    if os.path.exists(os.path.join(out, "model.safetensors")):
        return out
    with open(recipe, encoding="utf-8") as f:
        text = f.read()
    text, n = re.subn(r"(?m)^seed:.*$", "seed: %d" % seed, text)
    if n != 1:
        sys.exit("%s: expected one top-level 'seed:' line" % recipe)
    copy = os.path.join(os.path.dirname(os.path.abspath(recipe)), ".ensemble-seed%d.yaml" % seed)
    try:
        with open(copy, "w", encoding="utf-8") as f:
            f.write(text)
        subprocess.run([glia, "train", copy, "--out", out, "--threads", "1"], check=True,
                       stdout=subprocess.DEVNULL)
    finally:
        os.unlink(copy)
    return out


def p_positive(glia, bundle, texts):
    """P(positive) of each text, from `glia predict`."""
    rows = ts.glia_predict(glia, texts, bundle)
    if len(rows) != len(texts):
        sys.exit("glia predict answered %d lines for %d texts" % (len(rows), len(texts)))
    return [prob if label == "positive" else 1.0 - prob for label, prob, _ in rows]


def accuracy(probs, gold):
    return sum((p > 0.5) == (g == 1) for p, g in zip(probs, gold)) / len(gold)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--glia", default="build-rel/cli/glia")
    ap.add_argument("--recipe", default="models/sentiment-lm/recipe.yaml")
    ap.add_argument("--seeds", default="1,2,3,4,5")
    ap.add_argument("--work", default="/tmp/sentiment-ensemble")
    ap.add_argument("--data", default=os.environ.get("GLIA_UCI_SENTIMENT", ".cache/data/uci-sentiment"))
    args = ap.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    splits = ts.uci_splits(args.data)
    if not splits:
        sys.exit("%s: no UCI sentences (scripts/setup --test fetches them)" % args.data)
    if (len(splits["dev"]), len(splits["test"])) != (309, 307):
        sys.exit("split sizes %d/%d, not glia's 309/307" % (len(splits["dev"]), len(splits["test"])))
    os.makedirs(args.work, exist_ok=True)
    bundles = [train_seed(args.glia, args.recipe, s, args.work) for s in seeds]
    probs = {}
    for name, rows in splits.items():
        texts = [t for t, _ in rows]
        probs[name] = [p_positive(args.glia, b, texts) for b in bundles]
    gold = {name: [g for _, g in rows] for name, rows in splits.items()}
    print("| members | dev: mean / min / max over the subsets | test: mean / min / max |")
    print("|---|---|---|")
    for k in range(1, len(bundles) + 1):
        cells = []
        for name in ("dev", "test"):
            accs = []
            for members in itertools.combinations(range(len(bundles)), k):
                mean = [sum(probs[name][i][j] for i in members) / k for j in range(len(gold[name]))]
                accs.append(accuracy(mean, gold[name]))
            cells.append("%.4f / %.4f / %.4f" % (sum(accs) / len(accs), min(accs), max(accs)))
        print("| %d of %d (seeds %s) | %s | %s |" % (k, len(bundles), args.seeds, cells[0], cells[1]))


if __name__ == "__main__":
    main()
