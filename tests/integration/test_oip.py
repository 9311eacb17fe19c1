#!/usr/bin/python3
# test_oip.py - the Open Inference Protocol v2 end to end (TAP output) on the shipped models:
# server and model metadata, per-version routes, the request's id, parameters and outputs,
# flat and nested data, FP32/UINT8 images, BYTES texts and INT32/INT64 token ids, the
# classification extension, and the binary tensor data extension in both directions (built
# here with struct, as a Triton client would). Every error is {"error": ...} with its status.
#
# Usage: test_oip.py GLIAD GLIA
#   Fashion-MNIST test images come from the Debian package (scripts/setup installs it).
import json
import os
import re
import struct
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import test_gliad as tg  # noqa: E402  (the Daemon harness and the TAP helpers)
import test_http_hardening as th  # noqa: E402  (raw requests)

check = tg.check
MODELS = os.path.join(tg.ROOT, "models")
SENTIMENT = os.path.join(MODELS, "sentiment-lstm")
TRANSLATE = os.path.join(MODELS, "translate-en-es")
PIXEL_LIMIT = 8 * 784  # limits.max_request_pixels here: 8 Fashion-MNIST images


def labels(bundle):
    with open(os.path.join(bundle, "labels.txt")) as f:
        return [line.strip() for line in f if line.strip()]


def word_ids(words):
    # sentiment-lstm's vocab.txt: line k+1 holds id k
    with open(os.path.join(SENTIMENT, "vocab.txt")) as f:
        vocab = {w.rstrip("\n"): i for i, w in enumerate(f)}
    return [vocab[w] for w in words]


def piece_ids(pieces):
    # tokenizer.bpe: four header lines, then the token of id k on line 5 + k
    with open(os.path.join(TRANSLATE, "tokenizer.bpe")) as f:
        lines = f.read().split("\n")
    n = int(lines[2].split()[1])
    vocab = {t: k for k, t in enumerate(lines[4:4 + n])}
    return [vocab[p] for p in pieces]


def is_error(r, status, *words):
    s, h, b = r
    return (s == status and h.get("content-type", "").startswith("application/json") and isinstance(b, dict) and
            set(b) == {"error"} and all(w in b["error"] for w in words))


def tensor(name, datatype, shape, data, **params):
    t = {"name": name, "datatype": datatype, "shape": shape, "data": data}
    if params:
        t["parameters"] = params
    return t


def binary_request(d, path, header, chunks, headers=None):
    """POSTs a JSON header followed by the binary chunks; returns status, headers, body."""
    text = json.dumps(header).encode()
    h = {"Inference-Header-Content-Length": str(len(text)), "Content-Type": "application/octet-stream"}
    h.update(headers or {})
    return d.request("POST", path, text + b"".join(chunks), h)


def split_binary(h, body):
    """A binary answer: its JSON header and, per output with binary_data_size, its bytes."""
    n = int(h["inference-header-content-length"])
    header = json.loads(body[:n])
    at, parts = n, {}
    for o in header["outputs"]:
        size = o.get("parameters", {}).get("binary_data_size")
        if size is not None:
            parts[o["name"]] = body[at:at + size]
            at += size
    return header, parts, at == len(body)


def bytes_elements(b):
    out, at = [], 0
    while at < len(b):
        (n,) = struct.unpack_from("<I", b, at)
        out.append(b[at + 4:at + 4 + n].decode())
        at += 4 + n
    return out


def bytes_chunk(texts):
    return b"".join(struct.pack("<I", len(t.encode())) + t.encode() for t in texts)


def close(a, b, tol=1e-4):
    return len(a) == len(b) and all(abs(x - y) <= tol for x, y in zip(a, b))


def probs_of(r):
    return r[2]["outputs"][0]["data"] if r[0] == 200 else None


def main():
    gliad = sys.argv[1]
    images = tg.fashion_test_images(4)
    fashion_labels = labels(tg.BUNDLE)
    with tempfile.TemporaryDirectory() as tmp:
        d = tg.Daemon(gliad, tmp, extra_models=[("sentiment-lstm", SENTIMENT), ("translate-en-es", TRANSLATE)],
                      limits={"max_request_pixels": PIXEL_LIMIT})
        try:
            if d.port is None:
                check("gliad starts", False, d.text())
                return
            run(d, images, fashion_labels)
        finally:
            rc = d.stop()
        check("gliad exits 0 after the OIP requests", rc == 0, d.text()[-3000:])


def run(d, images, fashion_labels):
    cnn = "/v2/models/fashion-cnn"
    # ---- server, health and model metadata ----
    r = d.json("GET", "/v2")
    check("GET /v2 lists the extensions gliad implements",
          r[0] == 200 and r[2].get("name") == "glia" and
          sorted(r[2].get("extensions", [])) == ["binary_tensor_data", "classification", "model_repository"], r)
    live, ready = d.json("GET", "/v2/health/live"), d.json("GET", "/v2/health/ready")
    check("health live and ready", live[0] == 200 and ready[0] == 200, (live, ready))
    meta = d.json("GET", cnn)
    check("image model metadata: versions, FP32 input, probabilities output",
          meta[0] == 200 and meta[2]["versions"] == ["1"] and meta[2]["platform"] == "glia" and
          meta[2]["inputs"] == [{"name": "input", "datatype": "FP32", "shape": [-1, 1, 28, 28]}] and
          meta[2]["outputs"] == [{"name": "probabilities", "datatype": "FP32", "shape": [-1, 10]}], meta)
    r = d.json("GET", "/v2/models/sentiment-lstm")
    check("text model metadata describes the token-id input",
          r[0] == 200 and [(i["name"], i["datatype"]) for i in r[2]["inputs"]] ==
          [("text", "BYTES"), ("input_ids", "INT64")], r)
    r = d.json("GET", "/v2/models/translate-en-es")
    check("translation metadata: translation and tokens outputs",
          r[0] == 200 and [(o["name"], o["datatype"]) for o in r[2]["outputs"]] ==
          [("translation", "BYTES"), ("tokens", "INT32")], r)

    # ---- per-version routes ----
    r = d.json("GET", cnn + "/versions/1")
    check("GET .../versions/1 is the version's metadata", r[0] == 200 and r[2] == meta[2], r)
    check("a version not loaded: 404 {error}", is_error(d.json("GET", cnn + "/versions/7"), 404, "version 7"))
    r = d.json("GET", cnn + "/versions/1/ready")
    check("GET .../versions/1/ready", r[0] == 200 and r[2] == {"name": "fashion-cnn", "ready": True}, r)
    check("ready of a version not loaded: 404", is_error(d.json("GET", cnn + "/versions/7/ready"), 404))
    check("ready of an unknown model: 404", is_error(d.json("GET", "/v2/models/nope/ready"), 404))
    check("a negative version is no version (not the serving one): 404",
          all(is_error(d.json(m, cnn + "/versions/-1" + tail, body), 404, "numbered from 1")
              for m, tail, body in [("GET", "", None), ("GET", "/ready", None), ("POST", "/infer", {"inputs": []})]))

    # ---- FP32 images: flat, nested, per version; id echoed ----
    fp32 = [v for i in range(2) for v in tg.preprocess(images[i])]
    flat = d.json("POST", cnn + "/infer", {"id": "my-req-42", "inputs": [tensor("input", "FP32", [2, 1, 28, 28], fp32)]})
    check("FP32 infer answers probabilities [2, 10] and echoes the id",
          flat[0] == 200 and flat[2]["id"] == "my-req-42" and flat[2]["model_name"] == "fashion-cnn" and
          flat[2]["model_version"] == "1" and flat[2]["outputs"][0]["shape"] == [2, 10] and
          flat[2]["outputs"][0]["datatype"] == "FP32", flat)
    ref = probs_of(flat)
    r = d.json("POST", cnn + "/infer", {"inputs": [tensor("input", "FP32", [2, 1, 28, 28], fp32)]})
    check("without an id the answer's id is X-Request-Id", r[0] == 200 and r[2]["id"] == r[1].get("x-request-id"), r)
    nested = [[[fp32[i * 784 + y * 28:i * 784 + y * 28 + 28] for y in range(28)]] for i in range(2)]
    r = d.json("POST", cnn + "/versions/1/infer", {"inputs": [tensor("input", "FP32", [2, 1, 28, 28], nested)]})
    check("nested data through /versions/1/infer gives the flat answer", r[0] == 200 and probs_of(r) == ref, r)
    bad = [nested[0], nested[1][0]]
    check("nested data not matching the shape: 400",
          is_error(d.json("POST", cnn + "/infer", {"inputs": [tensor("input", "FP32", [2, 1, 28, 28], bad)]}), 400,
                   "nested"))
    check("infer on a version not loaded: 404",
          is_error(d.json("POST", cnn + "/versions/9/infer", {"inputs": [tensor("x", "FP32", [1, 1, 28, 28],
                                                                               fp32[:784])]}), 404, "version 9"))

    # ---- UINT8 pixels get the manifest's preprocessing ----
    u8 = list(images[0]) + list(images[1])
    r = d.json("POST", cnn + "/infer", {"inputs": [tensor("input", "UINT8", [2, 1, 28, 28], u8)]})
    check("UINT8 pixels give the probabilities of the preprocessed FP32 tensor", r[0] == 200 and close(probs_of(r), ref),
          (r, ref))
    r = binary_request(d, cnn + "/infer", {"inputs": [{"name": "input", "datatype": "UINT8", "shape": [2, 1, 28, 28],
                                                       "parameters": {"binary_data_size": 1568}}]},
                       [images[0] + images[1]])
    check("binary UINT8 pixels give the same", r[0] == 200 and close(json.loads(r[2])["outputs"][0]["data"], ref), r)
    check("a UINT8 value over 255: 400",
          is_error(d.json("POST", cnn + "/infer", {"inputs": [tensor("input", "UINT8", [1, 1, 28, 28],
                                                                    [256] + u8[1:784])]}), 400, "UINT8"))
    r = d.json("POST", cnn + "/infer", {"inputs": [tensor("input", "UINT8", [9, 1, 28, 28], u8[:784] * 9)]})
    check("UINT8 images over limits.max_request_pixels: 413", is_error(r, 413, "max_request_pixels"), r)
    check("an image model refuses INT32: 400 naming what it takes",
          is_error(d.json("POST", cnn + "/infer", {"inputs": [tensor("input", "INT32", [1, 1, 28, 28], u8[:784])]}), 400,
                   "FP32", "UINT8"))

    # ---- classification extension, top_k, outputs ----
    r = d.json("POST", cnn + "/infer", {"inputs": [tensor("input", "FP32", [2, 1, 28, 28], fp32)],
                                        "outputs": [{"name": "probabilities", "parameters": {"classification": 3}}]})
    ok = r[0] == 200 and r[2]["outputs"][0]["datatype"] == "BYTES" and r[2]["outputs"][0]["shape"] == [2, 3]
    if ok:
        for i in range(2):
            row = ref[i * 10:i * 10 + 10]
            order = sorted(range(10), key=lambda k: -row[k])[:3]
            want = ["%f:%d:%s" % (row[k], k, fashion_labels[k]) for k in order]
            ok = ok and r[2]["outputs"][0]["data"][i * 3:i * 3 + 3] == want
    check("classification: 3 strings score:index:label per image, as Triton prints them", ok, r)
    r2 = d.json("POST", cnn + "/infer", {"parameters": {"top_k": 3},
                                         "inputs": [tensor("input", "FP32", [2, 1, 28, 28], fp32)]})
    check("parameters.top_k is the same classification", r2[0] == 200 and r2[2]["outputs"] == r[2]["outputs"], r2)
    check("classification 0: 400", is_error(d.json("POST", cnn + "/infer", {
        "inputs": [tensor("input", "FP32", [1, 1, 28, 28], fp32[:784])],
        "outputs": [{"name": "probabilities", "parameters": {"classification": 0}}]}), 400, "classification"))
    check("an unknown output: 400 naming it", is_error(d.json("POST", cnn + "/infer", {
        "inputs": [tensor("input", "FP32", [1, 1, 28, 28], fp32[:784])], "outputs": [{"name": "logits"}]}), 400,
        "logits", "probabilities"))
    check("an unknown output parameter: 400 naming it", is_error(d.json("POST", cnn + "/infer", {
        "inputs": [tensor("input", "FP32", [1, 1, 28, 28], fp32[:784])],
        "outputs": [{"name": "probabilities", "parameters": {"shiny": True}}]}), 400, "shiny"))
    check("an unknown request parameter: 400 naming it", is_error(d.json("POST", cnn + "/infer", {
        "parameters": {"temperature": 0.5}, "inputs": [tensor("input", "FP32", [1, 1, 28, 28], fp32[:784])]}), 400,
        "temperature"))
    check("beam_size on a classifier: 400", is_error(d.json("POST", cnn + "/infer", {
        "parameters": {"beam_size": 2}, "inputs": [tensor("input", "FP32", [1, 1, 28, 28], fp32[:784])]}), 400,
        "beam_size"))

    # ---- binary tensor data: requests ----
    chunk = struct.pack("<%df" % len(fp32), *fp32)
    header = {"inputs": [{"name": "input", "datatype": "FP32", "shape": [2, 1, 28, 28],
                          "parameters": {"binary_data_size": len(chunk)}}]}
    r = binary_request(d, cnn + "/infer", header, [chunk])
    body = json.loads(r[2]) if r[0] == 200 else r
    check("a binary FP32 request gives the JSON request's answer (as JSON)",
          r[0] == 200 and r[1]["content-type"].startswith("application/json") and
          close(body["outputs"][0]["data"], ref, 1e-6), body)
    r = binary_request(d, cnn + "/infer", header, [chunk[:-4]])
    check("binary data shorter than binary_data_size: 400", is_error((r[0], r[1], json.loads(r[2])), 400), r)
    wrong = {"inputs": [dict(header["inputs"][0], parameters={"binary_data_size": len(chunk) - 4})]}
    r = binary_request(d, cnn + "/infer", wrong, [chunk[:-4]])
    check("binary_data_size not shape x datatype: 400 with both numbers",
          is_error((r[0], r[1], json.loads(r[2])), 400, str(len(chunk) - 4), str(len(chunk))), r)
    r = binary_request(d, cnn + "/infer", header, [chunk, b"\0\0\0\0"])
    check("bytes no input claims: 400", is_error((r[0], r[1], json.loads(r[2])), 400, "4 bytes"), r)
    r = d.json("POST", cnn + "/infer", header)
    check("binary_data_size without Inference-Header-Content-Length: 400",
          is_error(r, 400, "Inference-Header-Content-Length"), r)
    r = d.request("POST", cnn + "/infer", b"{}", {"Inference-Header-Content-Length": "99"})
    check("a header length past the body: 400", is_error((r[0], r[1], json.loads(r[2])), 400), r)
    r = binary_request(d, cnn + "/infer", header, [chunk], {"Inference-Header-Content-Length": "7"})
    check("a header length cutting the JSON: 400 (not JSON)", is_error((r[0], r[1], json.loads(r[2])), 400, "JSON"), r)
    nan = struct.pack("<f", float("nan")) + chunk[4:3136]
    r = binary_request(d, cnn + "/infer", {"inputs": [dict(header["inputs"][0], shape=[1, 1, 28, 28],
                                                           parameters={"binary_data_size": 3136})]}, [nan])
    check("a binary NaN: 400", is_error((r[0], r[1], json.loads(r[2])), 400, "finite"), r)

    # ---- binary tensor data: answers ----
    r = binary_request(d, cnn + "/infer", dict(header, parameters={"binary_data_output": True}), [chunk])
    ok = r[0] == 200 and r[1].get("content-type") == "application/octet-stream"
    if ok:
        head, parts, whole = split_binary(r[1], r[2])
        out = head["outputs"][0]
        ok = (whole and "data" not in out and out["parameters"]["binary_data_size"] == 80 and out["shape"] == [2, 10] and
              close(list(struct.unpack("<20f", parts["probabilities"])), ref, 1e-6))
    check("binary_data_output: FP32 probabilities after the JSON header", ok, r)
    r = d.request("POST", cnn + "/infer", {"inputs": [tensor("input", "FP32", [2, 1, 28, 28], fp32)],
                                           "outputs": [{"name": "probabilities",
                                                        "parameters": {"classification": 2, "binary_data": True}}]})
    ok = r[0] == 200 and r[1].get("content-type") == "application/octet-stream"
    if ok:
        head, parts, whole = split_binary(r[1], r[2])
        ok = whole and bytes_elements(parts["probabilities"])[0].endswith(":" + fashion_labels[
            max(range(10), key=lambda k: ref[k])])
    check("classification strings as binary BYTES", ok, r)

    # ---- text classifier: BYTES, token ids, binary ----
    text_path = "/v2/models/sentiment-lstm/infer"
    texts = ["a great movie", "awful boring film"]
    r = d.json("POST", text_path, {"inputs": [tensor("text", "BYTES", [2], texts)]})
    text_ref = probs_of(r)
    check("BYTES texts: probabilities [2, 2]", r[0] == 200 and r[2]["outputs"][0]["shape"] == [2, 2], r)
    ids = [word_ids(t.split()) for t in texts]
    rows = [row + [0] * (3 - len(row)) for row in ids]
    r = d.json("POST", text_path, {"inputs": [tensor("input_ids", "INT32", [2, 3], rows)]})
    check("INT32 token ids give the texts' probabilities", r[0] == 200 and close(probs_of(r), text_ref, 1e-6), (r, ids))
    padded = [row + [0, 0] for row in rows]
    chunk = struct.pack("<10q", *[v for row in padded for v in row])
    r = binary_request(d, text_path, {"inputs": [{"name": "input_ids", "datatype": "INT64", "shape": [2, 5],
                                                  "parameters": {"binary_data_size": len(chunk)}}]}, [chunk])
    check("binary INT64 ids padded with 0 give the same",
          r[0] == 200 and close(json.loads(r[2])["outputs"][0]["data"], text_ref, 1e-6), r)
    r = binary_request(d, text_path, {"inputs": [{"name": "text", "datatype": "BYTES", "shape": [2],
                                                  "parameters": {"binary_data_size": len(bytes_chunk(texts))}}]},
                       [bytes_chunk(texts)])
    check("binary BYTES texts give the same", r[0] == 200 and close(json.loads(r[2])["outputs"][0]["data"], text_ref,
                                                                     1e-6), r)
    broken = struct.pack("<I", 100) + b"short"
    r = binary_request(d, text_path, {"inputs": [{"name": "text", "datatype": "BYTES", "shape": [1],
                                                  "parameters": {"binary_data_size": len(broken)}}]}, [broken])
    check("a BYTES length past the data: 400", is_error((r[0], r[1], json.loads(r[2])), 400, "100 bytes"), r)
    check("a token id outside the vocabulary: 400", is_error(d.json("POST", text_path, {
        "inputs": [tensor("input_ids", "INT32", [1, 2], [5, 10 ** 7])]}), 400, "vocabulary"))
    check("a row of padding only: 400", is_error(d.json("POST", text_path, {
        "inputs": [tensor("input_ids", "INT64", [1, 2], [0, 0])]}), 400, "no token"))
    check("a text model refuses FP32: 400 naming what it takes", is_error(d.json("POST", text_path, {
        "inputs": [tensor("text", "FP32", [1], [1.0])]}), 400, "BYTES", "INT32"))
    check("an unknown datatype: 400", is_error(d.json("POST", text_path, {
        "inputs": [tensor("text", "STRING", [1], ["x"])]}), 400, "datatype"))
    check("top_k on a text classifier gives its classification",
          d.json("POST", text_path, {"parameters": {"top_k": 1}, "inputs": [tensor("text", "BYTES", [2], texts)]})[2]
          ["outputs"][0]["data"][0].endswith(":1:positive"))

    # ---- translation: parameters, outputs, ids ----
    mt = "/v2/models/translate-en-es/infer"
    r = d.json("POST", mt, {"inputs": [tensor("text", "BYTES", [1], ["File not found"])]})
    mt_ref = r[2]["outputs"] if r[0] == 200 else None
    check("translation answers translation and tokens", r[0] == 200 and [o["name"] for o in mt_ref] ==
          ["translation", "tokens"], r)
    pieces = piece_ids(["▁File", "▁not", "▁found"])
    r = d.json("POST", mt, {"inputs": [tensor("input_ids", "INT32", [1, 3], pieces)]})
    check("token ids without </s> translate as the text", r[0] == 200 and r[2]["outputs"] == mt_ref, (r, mt_ref))
    r = d.json("POST", mt, {"inputs": [tensor("input_ids", "INT64", [1, 5], [pieces + [3, 0]])]})
    check("token ids ending in </s>, padded, translate the same", r[0] == 200 and r[2]["outputs"] == mt_ref, r)
    r = d.json("POST", mt, {"parameters": {"max_tokens": 1}, "inputs": [tensor("text", "BYTES", [1], ["File not found"])],
                            "outputs": [{"name": "tokens"}]})
    check("max_tokens 1 and outputs [tokens]: one INT32 output of 1 token",
          r[0] == 200 and r[2]["outputs"] == [{"name": "tokens", "shape": [1], "datatype": "INT32", "data": [1]}], r)
    check("beam_size 0: 400", is_error(d.json("POST", mt, {"parameters": {"beam_size": 0},
                                                          "inputs": [tensor("text", "BYTES", [1], ["Done"])]}), 400,
                                       "beam_size"))
    check("top_k on translation: 400", is_error(d.json("POST", mt, {"parameters": {"top_k": 1},
                                                                   "inputs": [tensor("text", "BYTES", [1], ["Done"])]}),
                                                400, "top_k"))
    check("classification on a translation output: 400", is_error(d.json("POST", mt, {
        "inputs": [tensor("text", "BYTES", [1], ["Done"])],
        "outputs": [{"name": "translation", "parameters": {"classification": 1}}]}), 400, "classification"))
    check("an output asked twice: 400", is_error(d.json("POST", mt, {
        "inputs": [tensor("text", "BYTES", [1], ["Done"])], "outputs": [{"name": "tokens"}, {"name": "tokens"}]}), 400,
        "twice"))
    r = d.request("POST", mt, {"inputs": [tensor("text", "BYTES", [1], ["File not found"])],
                               "outputs": [{"name": "translation", "parameters": {"binary_data": True}},
                                           {"name": "tokens"}]})
    ok = r[0] == 200 and r[1].get("content-type") == "application/octet-stream"
    if ok:
        head, parts, whole = split_binary(r[1], r[2])
        ok = (whole and bytes_elements(parts["translation"]) == mt_ref[0]["data"] and
              head["outputs"][1]["data"] == mt_ref[1]["data"])
    check("binary_data on one output: that one binary, the other JSON", ok, r)

    # ---- other errors ----
    check("two inputs: 400", is_error(d.json("POST", cnn + "/infer", {"inputs": [tensor("a", "FP32", [1], [0.0])] * 2}),
                                      400, "exactly one"))
    check("an unknown request field: 400", is_error(d.json("POST", cnn + "/infer", {
        "inputs": [tensor("input", "FP32", [1, 1, 28, 28], fp32[:784])], "colour": 1}), 400, "colour"))
    check("a negative dimension: 400", is_error(d.json("POST", cnn + "/infer", {
        "inputs": [tensor("input", "FP32", [-1, 1, 28, 28], [])]}), 400, "shape"))
    check("an id that is not a string: 400", is_error(d.json("POST", cnn + "/infer", {
        "id": 5, "inputs": [tensor("input", "FP32", [1, 1, 28, 28], fp32[:784])]}), 400, "id"))
    check("an unknown model: 404", is_error(d.json("POST", "/v2/models/nope/infer", {
        "inputs": [tensor("input", "FP32", [1, 1, 28, 28], fp32[:784])]}), 404))
    # a binary body announced over limits.body (1 MiB here): answered from the headers alone
    status, head, payload = th.raw(d.port, b"POST /v2/models/fashion-cnn/infer HTTP/1.1\r\nHost: x\r\n"
                                   b"Connection: close\r\nInference-Header-Content-Length: 100\r\n"
                                   b"Content-Length: 2097152\r\n\r\n")
    check("a binary body over limits.body: 413 {error}", status == 413 and payload.startswith(b'{"error"'),
          (status, head, payload))

    # ---- metrics label the new routes by pattern ----
    text = d.request("GET", "/metrics")[2].decode()
    check("metrics count /v2/models/{name}/versions/{version}/infer by its pattern",
          re.search(r'glia_http_requests_total\{[^}]*route="/v2/models/\{name\}/versions/\{version\}/infer"', text),
          "\n".join(l for l in text.splitlines() if "/v2" in l)[:2000])


if __name__ == "__main__":
    main()
    print("1..%d" % len(tg.results))
    sys.exit(0 if all(tg.results) else 1)
