#!/usr/bin/python3
# test_explain.py - POST /v1/models/{name}/explain through the real gliad (TAP output).
#
# Usage: test_explain.py GLIAD GLIA
#   The daemon serves fashion-cnn and sentiment-lstm. Checked: the image answer's shapes and
#   its agreement with predict; masking the most salient pixels (as the daemon ranks them)
#   lowers the target's probability more than masking as many random pixels, on 20 test
#   images through HTTP (tests/unit/test_explain.c does 200 on the core); the PNG heat map is
#   a 224 x 224 RGB PNG; integrated gradients add up to logit - baseline_logit within 1 %
#   (steps 256); a raw image body; every refusal is a 4xx problem+json; the metrics count it.
#   fashion-cnn-bn (batch norm) is served in evaluation mode - its probabilities are PyTorch's
#   with the running statistics - and its saliency is PyTorch's input gradient through them.
import base64
import os
import random
import re
import struct
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import test_gliad as tg  # noqa: E402  (the Daemon harness and the TAP helpers)

check = tg.check
SENTIMENT = os.path.join(tg.ROOT, "models", "sentiment-lstm")
TRANSLATE = os.path.join(tg.ROOT, "models", "translate-en-es")
FASHION_BN = os.path.join(tg.ROOT, "models", "fashion-cnn-bn")
IMAGES = 20


def image_input(pixels):
    return {"image": base64.b64encode(tg.png_bytes(pixels)).decode()}


def probs_of(d, tensor):
    status, _, body = d.json("POST", "/v1/models/fashion-cnn/predict",
                             {"inputs": [{"tensor": {"shape": [1, 28, 28], "data": tensor}}], "top_k": 10})
    assert status == 200, body
    return {o["index"]: o["score"] for o in body["outputs"][0]["top_k"]} if "top_k" in body["outputs"][0] else body


def main():
    gliad, _glia = sys.argv[1], sys.argv[2]
    print("1..19")
    with tempfile.TemporaryDirectory() as tmp:
        d = tg.Daemon(gliad, tmp, extra_models=[("sentiment-lstm", SENTIMENT), ("translate-en-es", TRANSLATE),
                                                ("fashion-cnn-bn", FASHION_BN)])
        try:
            run(d)
            run_bn(d)
        finally:
            rc = d.stop()
            check("gliad stopped cleanly", rc == 0, d.text()[-2000:])
    sys.exit(0 if all(tg.results) else 1)


def run_bn(d):
    """The batch-norm bundle against PyTorch in eval mode: predict, and explain's input gradient."""
    sys.path.insert(0, os.path.join(tg.ROOT, "tests", "parity"))
    import torch
    import glia_torch as gt
    manifest = os.path.join(FASHION_BN, "model.yaml")
    model = gt.build_module(manifest)
    model.load_state_dict(gt.load_safetensors(os.path.join(FASHION_BN, "model.safetensors")), strict=True)
    model.eval()
    images = tg.fashion_test_images(24)[16:]
    worst = 0.0
    for px in images:
        status, _, out = d.json("POST", "/v1/models/fashion-cnn-bn/predict",
                                {"inputs": [{"tensor": {"shape": [1, 28, 28], "data": tg.preprocess(px)}}],
                                 "top_k": 10})
        x = gt.preprocess(torch.frombuffer(bytearray(px), dtype=torch.uint8).numpy().reshape(1, 28, 28), manifest)
        with torch.no_grad():
            ref = torch.softmax(model(x), 1)[0]
        got = {o["index"]: o["score"] for o in out["outputs"][0]["top_k"]} if status == 200 else {}
        worst = max([worst] + [abs(got.get(i, -1.0) - float(ref[i])) for i in range(10)])
    check("fashion-cnn-bn: gliad's probabilities on %d test images are PyTorch's in eval mode (max |diff| %.2g)"
          % (len(images), worst), worst < 1e-4)

    px = images[0]
    status, _, e = d.json("POST", "/v1/models/fashion-cnn-bn/explain", {"inputs": [image_input(px)]})
    x = gt.preprocess(torch.frombuffer(bytearray(px), dtype=torch.uint8).numpy().reshape(1, 28, 28),
                      manifest).clone().requires_grad_(True)
    logits = model(x)
    t = e["target"]["index"] if status == 200 else 0
    logits[0, t].backward()
    blank = tg.preprocess([0])[0]
    ref = (x.grad[0, 0] * (x.detach()[0, 0] - blank)).flatten().tolist()
    got = e["saliency"]["data"] if status == 200 else [0.0] * 784
    scale = max(abs(v) for v in ref)
    diff = max(abs(a - b) for a, b in zip(got, ref)) / scale
    check("fashion-cnn-bn: the saliency is PyTorch's input gradient x input, eval mode (max |diff| %.2g of the range)"
          % diff, status == 200 and diff < 1e-3, e if status != 200 else "")


def run(d):
    images = tg.fashion_test_images(IMAGES)
    status, h, body = d.json("POST", "/v1/models/fashion-cnn/explain", {"inputs": [image_input(images[0])]})
    _, _, pred = d.json("POST", "/v1/models/fashion-cnn/predict", {"inputs": [image_input(images[0])]})
    ok = (status == 200 and body.get("saliency", {}).get("shape") == [28, 28] and
          len(body["saliency"]["data"]) == 784 and body["method"] == "gradient_x_input" and
          abs(sum(body["probabilities"]) - 1) < 1e-4 and "png" not in body)
    check("an image's explanation: a 28 x 28 saliency map and the probabilities", ok, body)
    check("the target is the predicted class by default",
          ok and body["target"]["label"] == pred["outputs"][0]["label"], (body.get("target"), pred))

    # masking through HTTP: the pixels the daemon ranks highest matter more than random ones
    background = tg.preprocess([0])[0]
    rng = random.Random(7)
    salient = rand = 0.0
    for px in images:
        status, _, e = d.json("POST", "/v1/models/fashion-cnn/explain", {"inputs": [image_input(px)]})
        x = tg.preprocess(px)
        t = e["target"]["index"]
        p = e["probabilities"][t]
        order = sorted(range(784), key=lambda i: -e["saliency"]["data"][i])[:78]
        for idx, acc in ((order, "s"), (rng.sample(range(784), 78), "r")):
            y = list(x)
            for i in idx:
                y[i] = background
            status, _, out = d.json("POST", "/v1/models/fashion-cnn/predict",
                                    {"inputs": [{"tensor": {"shape": [1, 28, 28], "data": y}}]})
            q = out["outputs"][0]["probabilities"][t] if "probabilities" in out["outputs"][0] else None
            if q is None:
                q = dict((o["label"], o["score"]) for o in out["outputs"][0]["top_k"]).get(e["target"]["label"], 0.0)
            if acc == "s":
                salient += (p - q) / len(images)
            else:
                rand += (p - q) / len(images)
    print("# masking 10%% of pixels on %d images via HTTP: mean drop %.4f (salient) vs %.4f (random)" %
          (len(images), salient, rand))
    check("masking the most salient 10 %% lowers the target more than random 10 %% (%.3f vs %.3f)" % (salient, rand),
          salient > rand)

    status, _, body = d.json("POST", "/v1/models/fashion-cnn/explain",
                             {"inputs": [image_input(images[1])], "format": "png", "method": "smoothgrad",
                              "samples": 8, "target": "Trouser"})
    png = base64.b64decode(body.get("png", "")) if status == 200 else b""
    ihdr = struct.unpack(">IIBB", png[16:26]) if len(png) > 26 else None
    check("smoothgrad with a PNG heat map: a 224 x 224 RGB PNG, the target named by label",
          status == 200 and body["method"] == "smoothgrad" and png[:8] == b"\x89PNG\r\n\x1a\n" and
          ihdr == (224, 224, 8, 2) and body["target"] == {"index": 1, "label": "Trouser"}, (status, ihdr))

    status, _, body = d.json("POST", "/v1/models/fashion-cnn/explain", tg.png_bytes(images[2]),
                             {"Content-Type": "image/png"})
    check("a raw image body is explained", status == 200 and len(body["saliency"]["data"]) == 784, body)

    text = "The food was great and the staff were lovely, but the music was far too loud."
    status, _, body = d.json("POST", "/v1/models/sentiment-lstm/explain",
                             {"inputs": [text], "method": "integrated_gradients", "steps": 256})
    ok = status == 200 and len(body["tokens"]) == len(body["scores"]) > 5
    gap = body["logit"] - body["baseline_logit"] if ok else 0
    check("integrated gradients add up to logit - baseline_logit within 1 %",
          ok and abs(sum(body["scores"]) - gap) <= 0.01 * abs(gap), body)
    print("# tokens %s" % (body.get("tokens"),))
    status, _, body = d.json("POST", "/v1/models/sentiment-lstm/explain", {"inputs": ["Terrible service."],
                                                                          "target": "negative"})
    check("gradient x embedding by default, one score per token",
          status == 200 and body["method"] == "gradient_x_embedding" and body["target"]["index"] == 0 and
          len(body["tokens"]) == len(body["scores"]) and "baseline_logit" not in body, body)

    # translation: the cross-attention alignment and each output token's log-probability
    sentence = "Cannot open the file for writing"
    status, _, body = d.json("POST", "/v1/models/translate-en-es/explain",
                             {"inputs": [sentence], "beam_size": 2, "max_tokens": 40})
    _, _, pred = d.json("POST", "/v1/models/translate-en-es/predict",
                        {"inputs": [sentence], "beam_size": 2, "max_tokens": 40})
    ok = status == 200 and body["translation"] == pred["outputs"][0]["translation"]
    check("a translation's explanation translates as predict does", ok, (body, pred))
    rows = body.get("alignment", []) if ok else []
    ok = (ok and len(rows) == len(body["output_tokens"]) == len(body["log_probs"]) and
          all(len(r) == len(body["source_tokens"]) for r in rows) and
          all(abs(sum(r) - 1) <= 1e-5 and min(r) >= 0 for r in rows) and all(v <= 0 for v in body["log_probs"]))
    check("alignment rows sum to 1 over the source tokens, one row and one log-probability per output token",
          ok, body)
    print("# %s -> %s: source %s, output %s" % (sentence, body.get("translation"), body.get("source_tokens"),
                                               body.get("output_tokens")))
    status, h, last = d.json("POST", "/v1/models/translate-en-es/explain", {"inputs": [sentence], "layers": "all"})
    layers = last.get("layer_alignments", []) if status == 200 else []
    ok = (len(layers) >= 2 and all(len(a) == len(last["output_tokens"]) for a in layers) and
          all(abs(sum(r) - 1) <= 1e-5 for a in layers for r in a) and
          all(abs(x - y) <= 1e-5 for r, s in zip(layers[-1], last["alignment"]) for x, y in zip(r, s)))
    check("layers all: one alignment per decoder layer, rows summing to 1, the last one the default alignment",
          ok, (status, len(layers)))

    bad = [
        ("an unknown target label", "fashion-cnn", {"inputs": [image_input(images[0])], "target": "Hat"}, 400),
        ("a target out of range", "fashion-cnn", {"inputs": [image_input(images[0])], "target": 10}, 400),
        ("an unknown method", "fashion-cnn", {"inputs": [image_input(images[0])], "method": "lime"}, 400),
        ("the translation method on a text model", "sentiment-lstm", {"inputs": ["ok"], "method": "attention"}, 400),
        ("a text method on an image model", "fashion-cnn",
         {"inputs": [image_input(images[0])], "method": "integrated_gradients"}, 400),
        ("samples out of range", "fashion-cnn",
         {"inputs": [image_input(images[0])], "method": "smoothgrad", "samples": 65}, 400),
        ("steps out of range", "sentiment-lstm", {"inputs": ["ok"], "method": "integrated_gradients", "steps": 0}, 400),
        ("two inputs", "sentiment-lstm", {"inputs": ["good", "bad"]}, 400),
        ("an input that overflows the network", "fashion-cnn",
         {"inputs": [{"tensor": {"shape": [1, 28, 28], "data": [-3.3e38] * 784}}]}, 422),
        ("a target for a translation", "translate-en-es", {"inputs": ["File"], "target": 1}, 400),
        ("beam_size for a classifier", "sentiment-lstm", {"inputs": ["good"], "beam_size": 2}, 400),
        ("a bad beam_size", "translate-en-es", {"inputs": ["File"], "beam_size": 0}, 400),
        ("an unknown model", "nope", {"inputs": ["good"]}, 404),
    ]
    fails = []
    for name, model, req, want in bad:
        status, h, body = d.json("POST", "/v1/models/%s/explain" % model, req)
        if not tg.is_problem(status, h, body, want):
            fails.append((name, status, body))
    check("refusals are 4xx problem+json (%d cases)" % len(bad), not fails, fails)
    status, h, body = d.json("POST", "/v1/models/sentiment-lstm/explain", {"inputs": ["fine"], "format": "png"})
    check("format png on a text model is refused", tg.is_problem(status, h, body, 400), body)

    metrics = d.request("GET", "/metrics")[2].decode()
    m = re.search(r'glia_explain_requests_total\{model="fashion-cnn",version="1",method="gradient_x_input",'
                  r'outcome="ok"\} (\d+)', metrics)
    check("glia_explain_requests_total counts the image explanations",
          # the images, the raw body, the first image and the overflowing tensor (it ran: its 422 is the answer's)
          m is not None and int(m.group(1)) == IMAGES + 3, m and m.group(0))
    check("glia_explain_duration_seconds has the smoothgrad run",
          'glia_explain_duration_seconds_count{model="fashion-cnn",version="1",method="smoothgrad"} 1' in metrics)
    m = re.search(r'glia_inference_requests_total\{model="sentiment-lstm",version="1",outcome="ok"\} (\d+)', metrics)
    check("explanations are not counted as predictions", m is None, m and m.group(0))
    status, _, body = d.json("GET", "/v1/models/fashion-cnn")
    check("the daemon still serves", status == 200)


if __name__ == "__main__":
    main()
