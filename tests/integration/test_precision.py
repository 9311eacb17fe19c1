#!/usr/bin/python3
# test_precision.py - bf16 precision per model, end to end (TAP).
#
# Usage: test_precision.py GLIAD GLIA
#   gliad's config overrides a manifest's precision per model (models[].precision), a manifest's
#   own `precision: bf16` is honoured, /v1/models and the OIP model metadata (/v2/models/NAME,
#   its "parameters") say the precision in effect and the one asked,
#   and bf16 answers stay close to fp32's (same labels, probabilities within 0.02) for the image
#   and text models and the translator; with GLIA_NO_BF16=1 (bf16.h: the fallback a CPU without
#   AVX512_BF16 takes) the same config serves fp32, says so in /v1/models and the log, and
#   answers exactly as fp32. Bad values in the config, the manifest or glia's --precision are
#   refused naming the key. On a CPU without AVX512_BF16 the bf16 checks expect the fallback.
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import test_gliad as tg  # noqa: E402  (the Daemon harness and the TAP helpers)

check = tg.check
MODELS = os.path.join(tg.ROOT, "models")
HAVE_BF16 = "avx512_bf16" in open("/proc/cpuinfo").read().split()
SENTENCES = ["The food was great and the staff friendly.", "Terrible, it broke after a day.",
             "Not bad at all.", "I would not buy this again."]
ENGLISH = ["Cannot open file", "Print the version and exit", "No such file or directory"]


def served(d, name):
    e = tg.model_entry(d, name)
    return e.get("precision"), e.get("precision_requested")


def oip_served(d, name):
    """The same pair from the Open Inference Protocol's model metadata, or the answer when it has none."""
    s, _, b = d.json("GET", "/v2/models/" + name)
    p = b.get("parameters") if s == 200 and isinstance(b, dict) else None
    return (p.get("precision"), p.get("precision_requested")) if isinstance(p, dict) else (s, b)


def probs(d, name, body, ctype="application/json"):
    s, _, b = d.json("POST", "/v1/models/%s/predict" % name, body, {"Content-Type": ctype})
    return b["outputs"] if s == 200 else None


def probabilities(o):
    """A text answer's probabilities, or an image answer's top_k as {label: score}."""
    return o["probabilities"] if "probabilities" in o else {t["label"]: t["score"] for t in o["top_k"]}


def close(a, b, tol):
    """Same labels, every probability both answers give within tol."""
    if a is None or b is None or len(a) != len(b):
        return False
    for x, y in zip(a, b):
        px, py = probabilities(x), probabilities(y)
        if x["label"] != y["label"] or abs(x["score"] - y["score"]) > tol:
            return False
        if any(abs(px[k] - py[k]) > tol for k in px if k in py):
            return False
    return True


def daemon(gliad, tmp, extra, env=None):
    # the harness writes "{name: N, path: P}": the path's text carries the extra keys
    models = [(n, "%s, precision: %s" % (p, prec) if prec else p) for n, p, prec in extra]
    return tg.Daemon(gliad, tmp, extra_models=models, env=env)


def main():
    gliad, glia = sys.argv[1], sys.argv[2]
    images = tg.fashion_test_images(8)
    img_body = {"inputs": [{"tensor": {"shape": [1, 28, 28], "data": tg.preprocess(im)}} for im in images]}
    txt_body = {"inputs": SENTENCES}
    tmp = tempfile.mkdtemp(prefix="glia-precision-")
    want_bf16 = "bf16" if HAVE_BF16 else "fp32"
    try:
        # a copy of sentiment-lstm whose manifest says bf16
        own = os.path.join(tmp, "sentiment-bf16")
        shutil.copytree(os.path.join(MODELS, "sentiment-lstm"), own)
        with open(os.path.join(own, "model.yaml"), "a") as f:
            f.write("precision: bf16\n")
        extra = [("fashion-bf16", tg.BUNDLE, "bf16"), ("sentiment-lstm", os.path.join(MODELS, "sentiment-lstm"), None),
                 ("sentiment-bf16", own, None), ("sentiment-fp32", own, "fp32"),
                 ("translate-en-es", os.path.join(MODELS, "translate-en-es"), None),
                 ("translate-bf16", os.path.join(MODELS, "translate-en-es"), "bf16")]
        d = daemon(gliad, tmp, extra)
        try:
            check("gliad starts with precision overrides", d.port is not None, d.text()[-1500:])
            check("/v1/models: fp32 by default, requested fp32",
                  served(d, "fashion-cnn") == ("fp32", "fp32") and served(d, "sentiment-lstm") == ("fp32", "fp32"),
                  (served(d, "fashion-cnn"), served(d, "sentiment-lstm")))
            check("/v1/models: the config's bf16 (precision in effect %s)" % want_bf16,
                  served(d, "fashion-bf16") == (want_bf16, "bf16") and served(d, "translate-bf16") == (want_bf16, "bf16"),
                  (served(d, "fashion-bf16"), served(d, "translate-bf16")))
            check("/v1/models: the manifest's bf16, and the config's fp32 over it",
                  served(d, "sentiment-bf16") == (want_bf16, "bf16") and served(d, "sentiment-fp32") == ("fp32", "fp32"),
                  (served(d, "sentiment-bf16"), served(d, "sentiment-fp32")))
            names = [n for n, _, _ in extra] + ["fashion-cnn"]
            check("OIP model metadata: parameters.precision and precision_requested as /v1/models says them",
                  all(oip_served(d, n) == served(d, n) for n in names) and
                  oip_served(d, "sentiment-bf16") == (want_bf16, "bf16"),
                  [(n, oip_served(d, n), served(d, n)) for n in names])
            a, b = probs(d, "fashion-cnn", img_body), probs(d, "fashion-bf16", img_body)
            check("image model: bf16 gives fp32's labels, probabilities within 0.02", close(a, b, 0.02),
                  json.dumps([a, b])[:600])
            a, b = probs(d, "sentiment-lstm", txt_body), probs(d, "sentiment-bf16", txt_body)
            check("text model: bf16 gives fp32's labels, probabilities within 0.02", close(a, b, 0.02),
                  json.dumps([a, b])[:600])
            c = probs(d, "sentiment-fp32", txt_body)
            check("text model: the config's fp32 answers exactly as the shipped fp32", a == c, json.dumps([a, c])[:600])
            tr = {"inputs": ENGLISH, "beam_size": 1}
            a, b = probs(d, "translate-en-es", tr), probs(d, "translate-bf16", tr)
            same = sum(x["translation"] == y["translation"] for x, y in zip(a or [], b or []))
            check("translator: bf16 translates (%d of %d greedy outputs as fp32's)" % (same, len(ENGLISH)),
                  a is not None and b is not None and same >= len(ENGLISH) - 1, json.dumps([a, b])[:600])
            if HAVE_BF16:
                check("the log says what bf16 serves", "model fashion-bf16: serving bf16" in d.text(), d.text()[-1500:])
            # the override changes on SIGHUP: the model reloads in the new precision
            with open(d.config) as f:
                config = f.read()
            with open(d.config, "w") as f:
                f.write(config.replace("precision: fp32", "precision: bf16"))
            tg.sighup_and_wait(d)
            check("SIGHUP with another precision reloads the model in it (/v1/models and OIP metadata)",
                  served(d, "sentiment-fp32") == (want_bf16, "bf16") == oip_served(d, "sentiment-fp32"),
                  (served(d, "sentiment-fp32"), oip_served(d, "sentiment-fp32")))
        finally:
            d.stop()

        tmp2 = os.path.join(tmp, "fallback")
        os.mkdir(tmp2)
        d = daemon(gliad, tmp2, extra[:3], env={"GLIA_NO_BF16": "1"})
        try:
            check("GLIA_NO_BF16=1: bf16 asked, fp32 in effect",
                  served(d, "fashion-bf16") == ("fp32", "bf16") and served(d, "sentiment-bf16") == ("fp32", "bf16"),
                  (served(d, "fashion-bf16"), served(d, "sentiment-bf16")))
            check("GLIA_NO_BF16=1: the OIP model metadata says fp32 in effect, bf16 asked",
                  oip_served(d, "fashion-bf16") == ("fp32", "bf16") and
                  oip_served(d, "sentiment-bf16") == ("fp32", "bf16"),
                  (oip_served(d, "fashion-bf16"), oip_served(d, "sentiment-bf16")))
            check("GLIA_NO_BF16=1: the log says bf16 falls back", "no AVX512_BF16" in d.text(), d.text()[-1500:])
            check("GLIA_NO_BF16=1: answers exactly as fp32",
                  probs(d, "fashion-bf16", img_body) == probs(d, "fashion-cnn", img_body) and
                  probs(d, "sentiment-bf16", txt_body) == probs(d, "sentiment-lstm", txt_body))
        finally:
            d.stop()

        # refused: a bad value in the config, in a manifest, on glia's command line
        tmp3 = os.path.join(tmp, "bad")
        os.mkdir(tmp3)
        d = daemon(gliad, tmp3, [("fashion-x", tg.BUNDLE, "fp16")])
        rc = d.stop()
        check("config precision: fp16 is refused naming the key",
              rc != 0 and re.search(r"gliad\.yaml:\d+.*models\[1\]\.precision: must be fp32 or bf16 \(got 'fp16'\)",
                                    d.text()), d.text()[-800:])
        with open(os.path.join(own, "model.yaml"), "a") as f:
            f.write("precision: half\n")
        with open(os.path.join(own, "model.yaml")) as f:
            text = f.read().replace("precision: bf16\nprecision: half\n", "precision: half\n")
        with open(os.path.join(own, "model.yaml"), "w") as f:
            f.write(text)
        r = subprocess.run([glia, "predict", own, "good"], capture_output=True, text=True)
        check("manifest precision: half is refused naming file, line and key",
              r.returncode == 1 and re.search(r"model\.yaml:\d+.*precision must be fp32 or bf16 \(got 'half'\)", r.stderr),
              r.stderr)
        r = subprocess.run([glia, "predict", os.path.join(MODELS, "sentiment-lstm"), "--precision", "int8", "good"],
                           capture_output=True, text=True)
        check("glia predict --precision int8 is a usage error", r.returncode == 2 and "int8" in r.stderr, r.stderr)
        r32 = subprocess.run([glia, "predict", os.path.join(MODELS, "sentiment-lstm"), "good", "awful"],
                             capture_output=True, text=True)
        r16 = subprocess.run([glia, "predict", os.path.join(MODELS, "sentiment-lstm"), "--precision", "bf16", "good",
                              "awful"], capture_output=True, text=True)
        labels = [[line.split("\t")[0] for line in r.stdout.splitlines()] for r in (r32, r16)]
        check("glia predict --precision bf16: fp32's labels (%s)" % want_bf16,
              r16.returncode == 0 and labels[0] == labels[1] and len(labels[0]) == 2 and
              ("precision bf16" in r16.stderr if HAVE_BF16 else "no AVX512_BF16" in r16.stderr), (r32, r16))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print("1..%d" % len(tg.results))
    return 0 if all(tg.results) else 1


if __name__ == "__main__":
    sys.exit(main())
