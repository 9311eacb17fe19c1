#!/usr/bin/python3
# precision.py - bf16 against fp32 inference (issue 17.3), one thread, in the same run, with
# ONNX Runtime beside them where bench/cnn.py and bench/sentiment.py already run it.
#
#   bench/precision.py [--build build-rel] [--rounds 3] [--no-ort] [--sentences 100]
#
# Each round runs every figure once in each precision, alternating (fp32, bf16, ORT), so a
# shared machine's noise hits them alike; the tables give medians over the rounds. Figures:
#   - fashion-cnn and fashion-cnn-bn: bench_cnn --no-train, batch-1 latency and batch-64
#     images/s (ORT on fashion-cnn: cnn.py's export, the same 64 images);
#   - sentiment-lstm: bench_text, 20-word sentences, batch-1 latency and batch-64 sentences/s
#     (ORT: sentiment.py's export, the same ids);
#   - translate-en-es: bench_translate decode over --sentences test sentences (`glia gettext`,
#     evenly spaced over the split): greedy and beam 4 at batch 1 (ms per sentence, the
#     median batch) and greedy at batch 32 (sentences/s), and how many outputs bf16 changes.
# The OpenBLAS core each binary ran with is printed; OPENBLAS_CORETYPE is left as the
# environment has it (run the script again with it set to compare cores).
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
import cnn  # noqa: E402  (its ONNX export and ORT runner)
import sentiment  # noqa: E402

ENV = dict(os.environ, OPENBLAS_NUM_THREADS="1")


def run_json(cmd):
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=ENV).stdout
    return json.loads(out.strip().splitlines()[-1])


def tool(a, name):
    return os.path.join(a.build, "bench", name)


def cnn_glia(a, bundle, prec, work):
    cmd = [tool(a, "bench_cnn"), bundle, "--no-train", "--precision", prec]
    if work:
        cmd += ["--input", os.path.join(work, "x_64.bin")]
    r = run_json(cmd)
    return {"lat": r["latency_b1_ms"], "tp": r["throughput_b64"], "core": r["coretype"], "prec": r["precision"]}


def text_glia(a, prec, work):
    r = run_json([tool(a, "bench_text"), sentiment.BUNDLE, "--words", "20", "--precision", prec, "--ids",
                  os.path.join(work, "ids32.bin")])
    return {"lat": r["latency_b1_ms"], "tp": r["throughput_b64"], "core": r["coretype"], "prec": r["precision"]}


def decode(a, prec, sentences, beam, batch):
    r = run_json([tool(a, "bench_translate"), "decode", os.path.join(ROOT, "models", "translate-en-es"),
                  "--sentences", sentences, "--beam", str(beam), "--batch", str(batch), "--precision", prec])
    return {"ms": r["batch_ms_median"] / batch, "sps": r["sentences_per_s"], "out": r["out"], "core": r["coretype"],
            "prec": r["precision"]}


def med(rows, key):
    return statistics.median(r[key] for r in rows)


def table(title, rows, fig):
    """rows: (name, fp32 runs, bf16 runs, ORT runs or [], key, lower is better)."""
    print("%s\n" % title)
    print("| figure | fp32 | bf16 | bf16 speed-up | ONNX Runtime | bf16 / ORT |")
    print("|---|---|---|---|---|---|")
    for name, f, b, o, key, lower in rows:
        fv, bv = med(f, key), med(b, key)
        ov = med(o, key) if o else None
        up = fv / bv if lower else bv / fv
        vs = ("%.2fx" % (ov / bv if lower else bv / ov)) if ov else "-"
        print("| %s | %s | %s | %.2fx | %s | %s |" % (name, fig % fv, fig % bv, up, fig % ov if ov else "-", vs))
    print()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.path.join(ROOT, "build-rel"))
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--sentences", type=int, default=100)
    ap.add_argument("--no-ort", action="store_true")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="glia-precision-") as work:
        exp = run_json(["/usr/bin/python3", os.path.join(HERE, "cnn.py"), "--export", "--work", work])
        sa = argparse.Namespace(bundle=sentiment.BUNDLE, words=20, work=os.path.join(work, "text"))
        os.mkdir(sa.work)
        sentiment.export(sa)
        lines = subprocess.run([os.path.join(a.build, "cli", "glia"), "gettext", "--split", "test", "--side", "en"],
                               check=True, capture_output=True, text=True).stdout.split("\n")
        lines = [s for s in lines if s.strip()]
        n = min(a.sentences, len(lines))
        sentences = os.path.join(work, "sentences.txt")
        with open(sentences, "w", encoding="utf-8") as f:
            f.write("\n".join(lines[i * len(lines) // n] for i in range(n)) + "\n")

        runs = {k: [] for k in ("cf", "cb", "co", "nf", "nb", "tf", "tb", "to", "g1f", "g1b", "b4f", "b4b",
                                "g32f", "g32b")}
        for _ in range(a.rounds):
            runs["cf"].append(cnn_glia(a, cnn.BUNDLE, "fp32", work))
            runs["cb"].append(cnn_glia(a, cnn.BUNDLE, "bf16", work))
            if not a.no_ort:
                runs["co"].append(cnn.ort(work, 1, exp["shape"]))
            bn = os.path.join(ROOT, "models", "fashion-cnn-bn")
            runs["nf"].append(cnn_glia(a, bn, "fp32", None))
            runs["nb"].append(cnn_glia(a, bn, "bf16", None))
            runs["tf"].append(text_glia(a, "fp32", sa.work))
            runs["tb"].append(text_glia(a, "bf16", sa.work))
            if not a.no_ort:
                runs["to"].append(sentiment.ort_side(sa.work, 1, 20))
            for key, beam, batch in (("g1", 1, 1), ("b4", 4, 1), ("g32", 1, 32)):
                runs[key + "f"].append(decode(a, "fp32", sentences, beam, batch))
                runs[key + "b"].append(decode(a, "bf16", sentences, beam, batch))
        print("one thread, %d alternating rounds, medians; OpenBLAS core: %s; precision in effect: %s" %
              (a.rounds, runs["cf"][0]["core"], runs["cb"][0]["prec"]))
        print()
        table("fashion-cnn (%.1f MFLOP per image)" % (exp["flop_per_image"] / 1e6), [
            ("latency, batch 1 (ms)", runs["cf"], runs["cb"], runs["co"], "lat", True),
            ("throughput, batch 64 (images/s)", runs["cf"], runs["cb"], runs["co"], "tp", False)], "%.4g")
        table("fashion-cnn-bn", [
            ("latency, batch 1 (ms)", runs["nf"], runs["nb"], [], "lat", True),
            ("throughput, batch 64 (images/s)", runs["nf"], runs["nb"], [], "tp", False)], "%.4g")
        table("sentiment-lstm (20-word sentences)", [
            ("latency, batch 1 (ms)", runs["tf"], runs["tb"], runs["to"], "lat", True),
            ("throughput, batch 64 (sentences/s)", runs["tf"], runs["tb"], runs["to"], "tp", False)], "%.4g")
        table("translate-en-es (%d test sentences)" % n, [
            ("greedy, batch 1 (ms per sentence)", runs["g1f"], runs["g1b"], [], "ms", True),
            ("beam 4, batch 1 (ms per sentence)", runs["b4f"], runs["b4b"], [], "ms", True),
            ("greedy, batch 32 (sentences/s)", runs["g32f"], runs["g32b"], [], "sps", False)], "%.4g")
        for key, what in (("g1", "greedy"), ("b4", "beam 4"), ("g32", "greedy batch 32")):
            f, b = runs[key + "f"][0]["out"], runs[key + "b"][0]["out"]
            print("translate-en-es %s: bf16 outputs identical to fp32's on %d of %d sentences" %
                  (what, sum(x == y for x, y in zip(f, b)), len(f)))


if __name__ == "__main__":
    main()
