#!/usr/bin/python3
# bench/readme_examples.py - the example answers README quotes, made by the shipped models
# through a real gliad (issue 18: generated, not typed). Starts gliad on a free loopback port
# with models/fashion-cnn, sentiment-lstm and translate-en-es, sends README's requests and
# prints each request and the answer's body exactly as gliad wrote it.
#
#   bench/readme_examples.py [BUILD_DIR]      (default: build; it must hold daemon/gliad)
import json
import os
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
import test_gliad as tg  # noqa: E402  (the Daemon harness)

MODELS = os.path.join(ROOT, "models")
SAMPLES = os.path.join(MODELS, "fashion-cnn", "samples")


def show(d, method, path, body=None, headers=None):
    print("$ %s %s %s" % (method, path, "" if body is None else
                          (json.dumps(body, ensure_ascii=False) if isinstance(body, dict) else "<%d bytes>" % len(body))))
    s, h, raw = d.request(method, path, body, headers)
    print("  %d %s\n" % (s, raw.decode("utf-8", "replace")))


def main():
    build = sys.argv[1] if len(sys.argv) > 1 else "build"
    gliad = os.path.join(build if os.path.isabs(build) else os.path.join(ROOT, build), "daemon", "gliad")
    tmp = tempfile.mkdtemp(prefix="glia-readme-")
    d = tg.Daemon(gliad, tmp, extra_models=[("sentiment-lstm", os.path.join(MODELS, "sentiment-lstm")),
                                            ("translate-en-es", os.path.join(MODELS, "translate-en-es"))])
    if d.port is None:
        print(d.text()[-2000:], file=sys.stderr)
        return 1
    try:
        with open(os.path.join(SAMPLES, "bag.png"), "rb") as f:
            show(d, "POST", "/v1/models/fashion-cnn/predict", f.read(), {"Content-Type": "image/png"})
        show(d, "POST", "/v1/predict", {"model": "sentiment-lstm",
                                        "inputs": ["I loved it", "The food was cold and the waiter rude."]})
        show(d, "POST", "/v1/predict", {"model": "translate-en-es",
                                        "inputs": ["Cannot open file", "Print the version number and exit."],
                                        "beam_size": 4, "max_tokens": 128})
        show(d, "POST", "/v1/predict", {"model": "translate-en-es",
                                        "inputs": ["(unknown error)", "Try '%s --help' for more information.",
                                                   "Do you want to continue? [Y/n]",
                                                   "The quick brown fox jumps over the lazy dog."]})
        show(d, "POST", "/v2/models/translate-en-es/infer",
             {"parameters": {"beam_size": 2, "max_tokens": 64}, "inputs": [
                 {"name": "text", "shape": [2], "datatype": "BYTES",
                  "data": ["Cannot open file", "File not found"]}], "outputs": [{"name": "translation"}]})
        show(d, "POST", "/v1/models/translate-en-es/explain", {"inputs": ["Cannot open file"]})
        show(d, "GET", "/v1/models/translate-en-es")
    finally:
        d.stop(timeout=10)
    return 0


if __name__ == "__main__":
    sys.exit(main())
