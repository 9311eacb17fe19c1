#!/usr/bin/env python3
"""tests/fuzz/seeds.py - writes the seed corpora of tests/fuzz (corpus/NAME/*) and their
dictionaries (dict/NAME.dict): small valid inputs of every format, taken from the tests' own
inputs and the shipped models, so that each harness starts from the parser's accepted paths
instead of rediscovering them. Run from anywhere; it rewrites corpus/ and dict/ whole.
Standard library only (zlib, struct, json, base64)."""
import base64, gzip, json, os, shutil, struct, zlib

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
MODELS = os.path.join(ROOT, "models")


def read(*parts):
    with open(os.path.join(*parts), "rb") as f:
        return f.read()


def png(w, h, color_type=0, depth=8, rows=None):
    """A minimal PNG (filter 0 rows); rows are bytes per row, default a gradient."""
    channels = {0: 1, 2: 3, 4: 2, 6: 4}[color_type]
    stride = (w * channels * depth + 7) // 8
    rows = rows or [bytes((x * 37 + y * 11) % 256 for x in range(stride)) for y in range(h)]
    raw = b"".join(b"\0" + r for r in rows)
    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d))
    ihdr = struct.pack(">IIBBBBB", w, h, depth, color_type, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


def pgm_p5(w, h, maxval=255):
    body = bytes((x * 7 + y * 3) % (maxval + 1) for y in range(h) for x in range(w)) if maxval < 256 else \
        b"".join(struct.pack(">H", (x * 700 + y) % (maxval + 1)) for y in range(h) for x in range(w))
    return b"P5\n# a comment\n%d %d\n%d\n" % (w, h, maxval) + body


def pgm_p2(w, h):
    return ("P2\n%d %d\n15\n" % (w, h) + "\n".join(" ".join(str((x + y) % 16) for x in range(w)) for y in range(h))
            + "\n").encode()


def safetensors(tensors, meta=None):
    """tensors: [(name, dtype, shape, raw bytes)]."""
    header, off, data = {}, 0, b""
    for name, dt, shape, raw in tensors:
        header[name] = {"dtype": dt, "shape": shape, "data_offsets": [off, off + len(raw)]}
        off += len(raw)
        data += raw
    if meta:
        header["__metadata__"] = meta
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % 8)
    return struct.pack("<Q", len(h)) + h + data


def idx(dims, payload):
    return struct.pack(">BBBB", 0, 0, 8, len(dims)) + b"".join(struct.pack(">I", d) for d in dims) + payload


def mo(messages, big=False):
    """GNU .mo of [(msgid, msgstr)] bytes, sorted by msgid, no hash table."""
    messages = sorted(messages)
    n, e = len(messages), ">" if big else "<"
    ids_off, strs_off = 28, 28 + 8 * n
    data_off = strs_off + 8 * n
    blob, ids, strs = b"", [], []
    for k, _ in messages:
        ids.append((len(k), data_off + len(blob)))
        blob += k + b"\0"
    for _, v in messages:
        strs.append((len(v), data_off + len(blob)))
        blob += v + b"\0"
    out = struct.pack(e + "IIIIIII", 0x950412DE, 0, n, ids_off, strs_off, 0, data_off)
    out += b"".join(struct.pack(e + "II", *p) for p in ids) + b"".join(struct.pack(e + "II", *p) for p in strs)
    return out + blob


def http(method, path, body=b"", headers=()):
    head = "%s %s HTTP/1.1\r\nHost: fuzz\r\n" % (method, path)
    head += "".join("%s: %s\r\n" % h for h in headers)
    return head.encode() + b"\r\n" + body


ADMIN = ("Authorization", "Bearer fuzz-admin-token")
JSON = ("Content-Type", "application/json")
MARK = "\u2581"
TINY_BPE = "\n".join(["glia-bpe 1", "byte-fallback no", "vocab 9", "merges 2", "<pad>", "<unk>", "<s>", "</s>",
                      "a", "b", MARK, MARK + "a", MARK + "ab", MARK + " a", MARK + "a b"]).encode() + b"\n"


def main():
    vocab_head = b"".join(read(MODELS, "sentiment-lstm", "vocab.txt").splitlines(True)[:60])
    samples = os.path.join(MODELS, "fashion-cnn", "samples")
    bag, dress = read(samples, "bag.png"), read(samples, "dress.pgm")
    tensor = {"tensor": {"shape": [1, 28, 28], "data": [0.5] * 784}}
    image_inputs = {"inputs": [{"image": base64.b64encode(bag).decode()},
                               {"image": base64.b64encode(dress).decode()}, tensor]}
    text_inputs = {"inputs": ["I loved it", {"text": "The food was cold and the waiter rude."}]}
    tr_inputs = {"inputs": ["Cannot open file", {"text": "Print the version number and exit."}],
                 "beam_size": 2, "max_tokens": 16}
    f32 = lambda *v: struct.pack("<%df" % len(v), *v)
    v2_image = {"inputs": [{"name": "input", "shape": [1, 1, 28, 28], "datatype": "FP32", "data": [0.1] * 784}]}
    v2_text = {"inputs": [{"name": "text", "shape": [2], "datatype": "BYTES", "data": ["good", "bad"]}]}
    j = lambda o: json.dumps(o).encode()
    # OIP v2's binary form: a JSON header, then the tensors' bytes (BYTES: 4-byte length, then the text)
    v2_image_bin = {"inputs": [{"name": "input", "shape": [1, 1, 28, 28], "datatype": "UINT8",
                                "parameters": {"binary_data_size": 784}}], "parameters": {"binary_data_output": True}}
    v2_text_bin = {"inputs": [{"name": "text", "shape": [2], "datatype": "BYTES", "parameters": {"binary_data_size": 15}}],
                   "outputs": [{"name": "probabilities", "parameters": {"classification": 1, "binary_data": True}}]}
    v2_ids_bin = {"inputs": [{"name": "input_ids", "shape": [1, 3], "datatype": "INT64",
                              "parameters": {"binary_data_size": 24}}]}
    words = b"".join(struct.pack("<I", len(w)) + w for w in (b"good", b"bad"))
    binary = lambda o, payload: struct.pack("<H", len(j(o))) + j(o) + payload
    tsv = "Cannot open file\tNo se puede abrir el archivo\nPrint the version\tMuestra la versión\n".encode()
    jsonl = b'{"text": "I loved it", "label": "positive"}\n{"text": "cold food", "label": 0}\n'

    corpora = {
        "safetensors": {
            "f32": safetensors([("fc.weight", "F32", [2, 3], f32(*range(6))), ("fc.bias", "F32", [2], f32(1, 2))],
                               {"format": "pt"}),
            "mixed": safetensors([("a", "F64", [2], struct.pack("<2d", 1, 2)), ("b", "F16", [2], b"\x00\x3c\x00\x40"),
                                  ("c", "BF16", [1], b"\x80\x3f"), ("d", "I64", [1], struct.pack("<q", 7)),
                                  ("e", "U8", [0], b""), ("s", "F32", [], f32(3))]),
            "empty": safetensors([]),
        },
        "image": {"bag.png": bag, "dress.pgm": dress, "rgb.png": png(5, 4, 2), "rgba.png": png(3, 3, 6),
                  "gray16.png": png(4, 2, 0, 16), "gray1.png": png(9, 2, 0, 1), "la.png": png(2, 2, 4),
                  "p5-16.pgm": pgm_p5(3, 2, 1000), "p2.pgm": pgm_p2(4, 3)},
        "idx": {"images": idx([2, 3, 3], bytes(range(18))), "labels": idx([4], bytes([0, 1, 2, 9])),
                "images.gz": gzip.compress(idx([1, 2, 2], b"\1\2\3\4"), mtime=0)},
        "mo": {"le.mo": mo([(b"", b"Content-Type: text/plain; charset=UTF-8\n"), (b"Open", b"Abrir"),
                            (b"file\0files", b"archivo\0archivos"), (b"menu\x04Quit", b"Salir")]),
               "be.mo": mo([(b"Save", b"Guardar")], big=True)},
        "manifest": {name: read(MODELS, name, "model.yaml") for name in ("fashion-cnn", "sentiment-lstm", "translate-en-es")},
        "recipe": {**{name: b"\0" + read(MODELS, name, "recipe.yaml")
                      for name in ("fashion-cnn", "sentiment-lstm", "translate-en-es", "word2vec-en")},
                   "override": b"\1" + j({"epochs": 2, "seed": 7, "optimizer": {"type": "adamw", "lr": 0.01},
                                          "schedule": {"type": "cosine"}, "dataset": {"limit": 100, "validation": 10}}),
                   "override-lr": b"\1lr: 0.002\nbatch: {size: 16}\nclip_grad_norm: 1.0\n"},
        "config": {"gliad.yaml": read(ROOT, "etc", "gliad.yaml")},
        "vocab": {"vocab.txt": b"\0" + vocab_head, "tiny.bpe": b"\1" + TINY_BPE},
        "tokenizer": {"split": b"\0It's 10:30, and I didn't go... \xe2\x80\x9cNo!\xe2\x80\x9d \xf0\x9f\x91\x8d\xf0\x9f\x8f\xbd",
                      "words": b"\1The food was cold and the waiter rude.",
                      "subwords": "\2¿Dónde está el archivo «%s»? Cannot open file".encode(),
                      "ids": b"\3" + struct.pack("<8H", 2, 5, 300, 301, 4, 70, 3, 0)},
        "codec_image": {"json": b"\0" + j(image_inputs), "png": b"\1\0" + bag, "pgm": b"\1\1" + dress,
                        "logits": b"\2\3" + f32(*[0.1 * i for i in range(10)])},
        "codec_text": {"json": b"\0" + j(text_inputs), "raw": b"\1\2Great phone, works perfectly",
                       "logits": b"\2\1" + f32(0.3, -0.2)},
        "codec_translate": {"json": b"\0" + j(tr_inputs), "raw": b"\1\3Cannot open file",
                            "ids": b"\2" + struct.pack("<6H", 300, 301, 302, 4000, 5, 6)},
        "trainreq": {"dry": j({"model": "fashion-cnn", "dataset": {"limit": 100, "validation": 10},
                               "recipe": {"epochs": 2, "lr": 0.002}, "dry_run": True}),
                     "text": j({"model": "sentiment-lstm", "recipe": {"epochs": 1, "max_runtime_seconds": 60},
                                "promote": "if_better"}),
                     "images": j({"model": "fashion-cnn", "dataset": {"images": "d1-0000", "labels": "d1-0001"}}),
                     "translate": j({"model": "translate-en-es", "dataset": "gettext-en-es", "promote": "always"})},
        "datasets": {"jsonl": b"\0" + jsonl, "tsv": b"\1" + tsv, "idx-images": b"\2" + idx([2, 2, 2], bytes(8)),
                     "idx-labels": b"\3" + idx([2], b"\1\2"),
                     "meta": b"\4" + j({"id": "d1-0000", "format": "jsonl", "records": 2, "bytes": 80,
                                        "created_at": "2026-01-01T00:00:00Z", "labels": {"positive": 1, "0": 1}})},
        "records": {"jsonl": b"\0" + jsonl + b'\n{"text": "  Great   phone  ", "label": "positive"}\n', "tsv": b"\1" + tsv},
        "http": {
            "healthz": http("GET", "/healthz"), "readyz": http("GET", "/readyz"), "metrics": http("GET", "/metrics"),
            "models": http("GET", "/v1/models"), "model": http("HEAD", "/v1/models/fashion-cnn"),
            "predict": http("POST", "/v1/predict", j({"model": "sentiment-lstm", "inputs": ["fine"], "top_k": 1}),
                            [JSON, ("X-Request-Id", "abc-123"), ("X-Request-Timeout-Ms", "1500")]),
            "predict-png": http("POST", "/v1/models/fashion-cnn/predict", bag, [("Content-Type", "image/png")]),
            "reload": http("POST", "/v1/models/sentiment-lstm/reload", b"", [ADMIN]),
            "promote": http("POST", "/v1/models/fashion-cnn/versions/2/promote", b"", [ADMIN]),
            "train": http("POST", "/v1/train", j({"model": "fashion-cnn", "dry_run": True}), [ADMIN, JSON]),
            "jobs": http("GET", "/v1/jobs/j1?status=running", b"", [ADMIN]),
            "cancel": http("DELETE", "/v1/jobs/j1", b"", [("Authorization", "Bearer wrong")]),
            "datasets": http("POST", "/v1/datasets?format=jsonl", jsonl, [ADMIN]),
            "v2": http("GET", "/v2"), "v2-ready": http("GET", "/v2/models/fashion-cnn/ready"),
            "v2-infer": http("POST", "/v2/models/sentiment-lstm/infer", j(v2_text), [JSON]),
            "v2-binary": http("POST", "/v2/models/sentiment-lstm/versions/1/infer", j(v2_text_bin) + words,
                              [("Inference-Header-Content-Length", str(len(j(v2_text_bin))))]),
            "405": http("PUT", "/v1/models"), "404": http("GET", "/v1/nope%00.yaml"),
        },
        "predict": {"v1": b"\0" + j({"model": "fashion-cnn", **image_inputs, "top_k": 3}),
                    "v1-model": b"\1" + j({"inputs": [tensor]}), "v1-text": b"\2" + j(text_inputs),
                    "png": b"\3" + bag, "pgm": b"\4" + dress, "text": b"\5I loved it",
                    "v2-image": b"\6" + j(v2_image), "v2-text": b"\7" + j(v2_text),
                    "v2-image-binary": b"\x08" + binary(v2_image_bin, bytes(range(256)) * 3 + bytes(16)),
                    "v2-text-binary": b"\x09" + binary(v2_text_bin, words),
                    "v2-ids-binary": b"\x09" + binary(v2_ids_bin, struct.pack("<3q", 7, 30, 32))},
    }
    json_keys = ["model", "inputs", "top_k", "beam_size", "max_tokens", "image", "tensor", "text", "shape", "data",
                 "name", "datatype", "FP32", "BYTES", "UINT8", "INT64", "parameters", "outputs",
                 "binary_data_size", "binary_data", "binary_data_output", "classification", "recipe", "dataset", "promote", "dry_run", "limit", "validation",
                 "images", "labels", "epochs", "seed", "lr", "optimizer", "schedule", "batch", "loss", "augment",
                 "select", "clip_grad_norm", "max_runtime_seconds", "type", "never", "always", "if_better", "label"]
    yaml_keys = ["name", "task", "version", "weights", "labels", "input", "architecture", "evaluation", "training",
                 "vocabulary", "tokenizer", "decoding", "address", "port", "workers", "blas_threads", "queue",
                 "length", "timeout_ms", "batching", "max_size", "max_wait_us", "limits", "body", "drain_timeout_ms",
                 "models", "path", "state_dir", "auth", "admin_token_file", "inference_token_file", "log", "level",
                 "listen", "training", "threads", "nice", "max_queued", "max_dataset",
                 "dataset", "seed", "epochs", "optimizer", "schedule", "loss", "lr", "momentum", "weight_decay",
                 "batch", "size", "augment", "select", "clip_grad_norm", "type", "image-classification",
                 "text-classification", "translation", "conv2d", "linear", "relu", "maxpool2d", "flatten", "dropout",
                 "lstm", "embedding", "max_tokens", "beam_size", "preprocess", "mean", "std", "invert", "true", "false"]
    http_words = ["GET ", "POST ", "HEAD ", "DELETE ", " HTTP/1.1\r\n", "\r\n", "Authorization: Bearer ",
                  "fuzz-admin-token", "Content-Type: ", "application/json", "image/png", "text/plain",
                  "X-Request-Id: ", "X-Request-Timeout-Ms: ", "/v1/predict", "/v1/models/", "fashion-cnn",
                  "sentiment-lstm", "/predict", "/reload", "/versions/", "/promote", "/v1/train", "/v1/jobs/",
                  "/cancel", "/resume", "/v1/datasets", "?format=", "/v2/models/", "/infer", "/ready", "/healthz",
                  "/readyz", "/metrics", "%00", "%0a", "Inference-Header-Content-Length: "]
    # libFuzzer's dictionary escapes: \\, \" and \xNN only
    q = lambda w: '"' + "".join(chr(b) if 32 <= b < 127 and chr(b) not in '"\\' else "\\x%02x" % b
                                for b in w.encode()) + '"'
    dicts = {"json": [q('"%s"' % k) for k in json_keys] + [q(w) for w in ('": "', "{", "}", "[", "]", "null", "1e39")],
             "yaml": [q(k + ":") for k in yaml_keys] + ['"- "', '"{"', '"}"', '"&a"', '"*a"', '"!!"'],
             "http": [q(w) for w in http_words] + [q('"%s"' % k) for k in json_keys[:12]]}
    uses = {"codec_image": "json", "codec_text": "json", "codec_translate": "json", "trainreq": "json",
            "predict": "json", "datasets": "json", "records": "json", "manifest": "yaml", "recipe": "yaml", "config": "yaml",
            "http": "http"}
    shutil.rmtree(os.path.join(HERE, "corpus"), ignore_errors=True)
    shutil.rmtree(os.path.join(HERE, "dict"), ignore_errors=True)
    for name, files in corpora.items():
        os.makedirs(os.path.join(HERE, "corpus", name))
        for fname, data in files.items():
            with open(os.path.join(HERE, "corpus", name, fname), "wb") as f:
                f.write(data)
    os.makedirs(os.path.join(HERE, "dict"))
    for name, d in uses.items():
        with open(os.path.join(HERE, "dict", name + ".dict"), "w") as f:
            f.write("# generated by tests/fuzz/seeds.py\n" + "\n".join(dicts[d]) + "\n")


if __name__ == "__main__":
    main()
