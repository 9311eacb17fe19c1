#!/usr/bin/python3
# test_text_serving.py - the shipped sentiment-lstm through the real gliad (TAP output).
#
# Usage: test_text_serving.py GLIAD GLIA
#   The daemon serves models/sentiment-lstm next to fashion-cnn; answers are compared with
#   `glia predict` (same C core, no HTTP), batches with single requests (padding and
#   batching never change a probability), and, when scripts/setup --test has fetched the
#   UCI sentences, the daemon's accuracy on the test split with `glia eval`'s.
import json
import os
import re
import subprocess
import sys
import tempfile
import threading

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import test_gliad as tg  # noqa: E402  (the Daemon harness and the TAP helpers)

BUNDLE = os.path.join(tg.ROOT, "models", "sentiment-lstm")
NEGATION = os.path.join(tg.ROOT, "models", "sentiment-negation")  # reads negation scopes
# negated negatives, then negated positives: sentiment-negation must get the sign right
NEGATED = ["not bad at all", "I don't hate it", "The service was not terrible", "not good",
           "I would not recommend this place.", "It wasn't worth it."]
UCI = os.environ.get("GLIA_UCI_SENTIMENT", os.path.join(tg.ROOT, ".cache", "data", "uci-sentiment"))
check = tg.check
JSON = {"Content-Type": "application/json"}

SENTENCES = [
    "I loved it",
    "The food was awful and the service was slow.",
    "Not bad at all.",
    "This phone is great, the battery lasts for days!",
    "I didn't like the ending.",
    "Terrible.",
    "Best purchase I've made all year, highly recommended.",
    "The plot is predictable and the acting is wooden",
]


def glia_predict(glia, texts, bundle=BUNDLE):
    # "--": a text may start with '-' (the UCI splits hold "-My order was not correct.")
    out = subprocess.run([glia, "predict", bundle, "--"] + texts, capture_output=True, text=True,
                         check=True).stdout
    rows = []
    for line in out.splitlines():
        label, prob, text = line.split("\t", 2)
        rows.append((label, float(prob), text))
    return rows


def fnv1a(b):
    h = 0x811C9DC5
    for c in b:
        h = ((h ^ c) * 0x01000193) & 0xFFFFFFFF
    return h


def uci_splits(data_dir=UCI):
    """{"dev": rows, "test": rows} of (text, label), split as core/data/uci.h does (strip,
    skip blanks, dedupe reading amazon, imdb, yelp, FNV-1a % 10: 1 dev, 0 test); None when
    the sentences are missing."""
    seen, rows = set(), {"dev": [], "test": []}
    for source in ("amazon", "imdb", "yelp"):
        path = os.path.join(data_dir, source + ".json")
        if not os.path.exists(path):
            return None
        with open(path, encoding="utf-8") as f:
            for e in json.load(f):
                text = e["text"].strip(" \t\n\r\f\v")
                if not text or e.get("class") is None or text in seen:
                    continue
                seen.add(text)
                split = {0: "test", 1: "dev"}.get(fnv1a(text.encode()) % 10)
                if split:
                    rows[split].append((text, 1 if e["class"] in (1, "1", "positive") else 0))
    return rows


def uci_test_split():
    """The test split of tests/unit/test_text.c."""
    splits = uci_splits()
    return splits["test"] if splits else None


def main():
    if len(sys.argv) != 3:
        print("usage: test_text_serving.py GLIAD GLIA", file=sys.stderr)
        return 2
    gliad, glia = sys.argv[1], sys.argv[2]
    if not os.path.exists(os.path.join(BUNDLE, "model.safetensors")):
        print("1..0 # SKIP models/sentiment-lstm has no weights")
        return 77
    tmp = tempfile.mkdtemp(prefix="glia-text-")
    d = tg.Daemon(gliad, tmp, extra_models=[("sentiment-lstm", BUNDLE), ("sentiment-negation", NEGATION)],
                  max_batch=16, wait_us=2000)
    try:
        check("gliad starts with both shipped models", d.port is not None, d.text()[-500:] if d.port is None else "")
        if d.port is None:
            return 1
        want = glia_predict(glia, SENTENCES)

        # /v1/predict: shape of each output, and the same answers as `glia predict`
        s, h, body = d.json("POST", "/v1/predict", {"model": "sentiment-lstm", "inputs": SENTENCES})
        outs = body.get("outputs", []) if isinstance(body, dict) else []
        shaped = s == 200 and len(outs) == len(SENTENCES) and all(
            set(o) == {"label", "index", "score", "probabilities"} and set(o["probabilities"]) == {"negative", "positive"}
            and abs(sum(o["probabilities"].values()) - 1) < 1e-5 and o["score"] == o["probabilities"][o["label"]]
            for o in outs)
        check("/v1/predict answers label, score and both probabilities per text", shaped, str(body)[:300])
        same = shaped and all(o["label"] == w[0] and abs(o["score"] - w[1]) < 1e-4 for o, w in zip(outs, want))
        check("the daemon's answers are glia predict's", same,
              "; ".join("%s %.4f vs %s %.4f" % (o["label"], o["score"], w[0], w[1]) for o, w in zip(outs, want)))
        check("the answers make sense (loved -> positive, awful -> negative)",
              shaped and outs[0]["label"] == "positive" and outs[1]["label"] == "negative" and
              outs[3]["label"] == "positive" and outs[5]["label"] == "negative", str([o["label"] for o in outs]))

        # the manifest's negation_scope applies in the daemon as in glia predict
        ns, _, nbody = d.json("POST", "/v1/predict", {"model": "sentiment-negation", "inputs": NEGATED})
        nouts = nbody.get("outputs", []) if isinstance(nbody, dict) else []
        want_neg = glia_predict(glia, NEGATED, NEGATION)
        check("sentiment-negation: the daemon's answers are glia predict's, negated negatives positive",
              ns == 200 and len(nouts) == len(NEGATED) and
              all(o["label"] == w[0] and abs(o["score"] - w[1]) < 1e-4 for o, w in zip(nouts, want_neg)) and
              [o["label"] for o in nouts] == ["positive"] * 3 + ["negative"] * 3,
              "; ".join("%s %.4f vs %s %.4f" % (o["label"], o["score"], w[0], w[1]) for o, w in zip(nouts, want_neg)))

        # batching and padding never change a result: concurrent single requests of
        # different lengths (batched together by the queue) == one batch == glia predict
        singles = [None] * len(SENTENCES)

        def one(i):
            singles[i] = d.json("POST", "/v1/predict", {"model": "sentiment-lstm", "inputs": [{"text": SENTENCES[i]}]})

        for _ in range(3):
            threads = [threading.Thread(target=one, args=(i,)) for i in range(len(SENTENCES))]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            agree = all(r[0] == 200 and abs(r[2]["outputs"][0]["score"] - o["score"]) < 1e-5
                        for r, o in zip(singles, outs))
            if not agree:
                break
        check("concurrent single requests (batched by the queue) give the batch's probabilities", agree,
              str([r[2] for r in singles if r[0] != 200][:2]))
        m = re.findall(r'glia_inference_batch_size_bucket\{model="sentiment-lstm",version="1",le="1"\} (\d+)', d.request("GET", "/metrics")[2].decode())
        check("/metrics counts the text model's batches", bool(m))

        # raw text/plain body, OIP v2 with BYTES
        s, h, body = d.json("POST", "/v1/models/sentiment-lstm/predict", SENTENCES[0].encode(),
                            {"Content-Type": "text/plain; charset=utf-8"})
        check("a text/plain body is one input", s == 200 and abs(body["outputs"][0]["score"] - outs[0]["score"]) < 1e-5,
              str(body)[:200])
        s, h, meta = d.json("GET", "/v2/models/sentiment-lstm")
        check("OIP metadata: one BYTES input [-1], FP32 probabilities [-1, 2]",
              s == 200 and meta["inputs"][0]["datatype"] == "BYTES" and meta["inputs"][0]["shape"] == [-1] and
              meta["outputs"][0]["shape"] == [-1, 2], str(meta))
        s, h, body = d.json("POST", "/v2/models/sentiment-lstm/infer",
                            {"inputs": [{"name": "text", "shape": [2], "datatype": "BYTES", "data": SENTENCES[:2]}]})
        data = body.get("outputs", [{}])[0].get("data", []) if isinstance(body, dict) else []
        check("OIP infer with a BYTES tensor gives the same probabilities",
              s == 200 and len(data) == 4 and abs(data[1] - outs[0]["probabilities"]["positive"]) < 1e-5 and
              abs(data[2] - outs[1]["probabilities"]["negative"]) < 1e-5, str(body)[:300])
        s, h, body = d.json("POST", "/v2/models/sentiment-lstm/infer",
                            {"inputs": [{"name": "text", "shape": [1], "datatype": "FP32", "data": [1.0]}]})
        check("OIP infer with a non-BYTES tensor is 400", s == 400, str(body))

        # truncation: past input.max_tokens (128) tokens the tail is dropped, as in training
        head = " ".join(["great"] * 128)
        s1, _, a = d.json("POST", "/v1/predict", {"model": "sentiment-lstm", "inputs": [head]})
        s2, _, b = d.json("POST", "/v1/predict", {"model": "sentiment-lstm", "inputs": [head + " awful" * 300]})
        check("a text longer than max_tokens is truncated to its first 128 tokens",
              s1 == 200 and s2 == 200 and a["outputs"][0]["score"] == b["outputs"][0]["score"], "%s %s" % (a, b))

        # bad input: clear 4xx problems, and the daemon keeps serving
        bad = [
            ({"model": "sentiment-lstm", "inputs": [""]}, 422, "empty"),
            ({"model": "sentiment-lstm", "inputs": ["   \t "]}, 422, "no words"),
            ({"model": "sentiment-lstm", "inputs": [42]}, 400, "string"),
            ({"model": "sentiment-lstm", "inputs": [{"text": "x", "lang": "en"}]}, 400, "text"),
            ({"model": "sentiment-lstm", "inputs": ["ok", None]}, 400, "inputs[1]"),
            ({"model": "sentiment-lstm", "inputs": ["x" * 70000]}, 413, "at most"),
        ]
        for req, status, word in bad:
            s, h, body = d.json("POST", "/v1/predict", req)
            check("%s -> %d" % (json.dumps(req)[:60], status),
                  tg.is_problem(s, h, body, status) and word in body["detail"], "%d %s" % (s, body))
        s, h, body = d.json("POST", "/v1/predict", b'{"model": "sentiment-lstm", "inputs": ["caf\xe9 \xff"]}', JSON)
        check("invalid UTF-8 in a JSON body -> 400 naming the byte", tg.is_problem(s, h, body, 400) and "0x" in body["detail"],
              str(body))
        s, h, body = d.json("POST", "/v1/models/sentiment-lstm/predict", b"caf\xc3 good", {"Content-Type": "text/plain"})
        check("invalid UTF-8 in a text/plain body -> 422 naming the offset",
              tg.is_problem(s, h, body, 422) and "UTF-8" in body["detail"] and "byte 3" in body["detail"], str(body))
        s, h, body = d.json("POST", "/v1/models/sentiment-lstm/predict", b"\x89PNG", {"Content-Type": "image/png"})
        check("an image sent to the text model -> 415", tg.is_problem(s, h, body, 415), str(body))
        s, h, body = d.json("POST", "/v1/predict", {"model": "sentiment-lstm", "inputs": ["still fine"]})
        check("the daemon still serves after the bad requests", s == 200)
        s, h, m = d.json("GET", "/v1/models/sentiment-lstm")
        check("/v1/models describes the text model", s == 200 and m.get("task") == "text-classification" and
              m["input"]["datatype"] == "BYTES" and m["labels"] == ["negative", "positive"] and
              m["evaluation"].get("accuracy", 0) >= 0.85, str(m)[:300])

        # the whole UCI test split through the daemon: glia eval's accuracy
        rows = uci_test_split()
        if rows is None:
            check("UCI test split through the daemon # SKIP scripts/setup --test fetches the sentences", True)
        else:
            right = 0
            for i in range(0, len(rows), 64):
                chunk = rows[i:i + 64]
                s, _, body = d.json("POST", "/v1/predict", {"model": "sentiment-lstm", "inputs": [t for t, _ in chunk]})
                if s != 200:
                    break
                right += sum(o["index"] == y for o, (_, y) in zip(body["outputs"], chunk))
            acc = right / len(rows)
            ev = subprocess.run([glia, "eval", BUNDLE], capture_output=True, text=True).stdout
            m = re.search(r"^accuracy=([0-9.]+)$", ev, re.M)
            check("accuracy on the %d test sentences through the daemon equals glia eval's" % len(rows),
                  m is not None and abs(acc - float(m.group(1))) < 5e-5 and acc >= 0.85,
                  "daemon %.4f, glia eval %s" % (acc, m.group(1) if m else ev[-200:]))
        rc = d.stop()
        check("SIGTERM drains and exits 0", rc == 0, "exit %s" % rc)
        check("no sanitizer report in the log", "runtime error" not in d.text() and "Sanitizer" not in d.text(),
              d.text()[-800:])
    finally:
        if d.proc.poll() is None:
            d.stop(timeout=5)
    print("1..%d" % len(tg.results))
    return 0 if all(tg.results) else 1


if __name__ == "__main__":
    sys.exit(main())
