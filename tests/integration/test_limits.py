#!/usr/bin/python3
# test_limits.py - the work one request may ask for, and fairness across models (TAP output),
# against the real gliad serving the shipped fashion-cnn, sentiment-lstm and translate-en-es.
#
# Usage: test_limits.py GLIAD GLIA
#   Checked: each ceiling (limits.max_pixels, max_request_pixels, max_request_tokens,
#   max_translation_tokens) is answered 413 naming its key and both numbers, on /v1
#   (problem+json) and /v2 ({"error"}), and a request at the ceiling is served; a PNG whose
#   header declares 16384 x 4096 pixels (66 KB on the wire) is refused without being decoded
#   (the daemon's peak RSS does not move) and a corrupt one is 422 from the worker that decodes
#   it; with 2 workers and two translation requests of the
#   largest allowed cost in flight, a sentiment request is answered while both still run; a
#   translation decoded in turns is the same as decoded in one run; a SIGHUP applies new limits.
#   Cost: about 20 s under ASan on a 2-core machine (two daemons, a few seconds of decoding).
import base64
import os
import re
import signal
import struct
import sys
import tempfile
import threading
import time
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import test_gliad as tg  # noqa: E402  (the Daemon harness and the TAP helpers)

check = tg.check
MODELS = [(n, os.path.join(tg.ROOT, "models", n)) for n in ("sentiment-lstm", "translate-en-es")]
SENTENCES = [
    "Print the version number and exit.",
    "Cannot open the configuration file because the directory does not exist.",
    "Try '%s --help' for more information.",
    "Remove every temporary file that the previous run created.",
    "The connection was closed by the remote host before the transfer finished.",
    "Write error",
    "Display this help and exit.",
    "Unknown option; the command line was not understood.",
]
# the fairness scenario's long requests, each exactly at limits.max_translation_tokens
LONG = {"inputs": SENTENCES * 2, "beam_size": 8, "max_tokens": 40}
LONG_COST = 16 * 8 * 40


def png(w, h, pixel=0):
    """An 8-bit gray PNG of w x h pixels of one value, compressed row by row: a 16384 x 4096
    one is 66 KB on the wire and 64 Mpixels decoded."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    z, row, idat = zlib.compressobj(9), b"\0" + bytes([pixel]) * w, b""
    for _ in range(h):
        idat += z.compress(row)
    idat += z.flush()
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0)) +
            chunk(b"IDAT", idat) + chunk(b"IEND", b""))


def peak_rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        return int(re.search(r"VmHWM:\s+(\d+) kB", f.read()).group(1))


def names(status, h, body, v2, key, *numbers):
    """413 with the key and the numbers in its message, in the route's error form."""
    if v2:
        text = body.get("error", "") if isinstance(body, dict) else ""
        ok = status == 413 and h.get("content-type", "").startswith("application/json")
    else:
        text = body.get("detail", "") if isinstance(body, dict) else ""
        ok = tg.is_problem(status, h, body, 413)
    return ok and ("limits." + key) in text and all(str(n) in text for n in numbers)


def tensor(n):
    return [{"tensor": {"shape": [1, 28, 28], "data": [0.5] * 784}}] * n


def v2_images(n):
    return {"inputs": [{"name": "input", "shape": [n, 1, 28, 28], "datatype": "FP32", "data": [0.5] * (784 * n)}]}


def ceilings(d):
    # max_pixels 65536: an image's header is read before its pixels
    s, h, b = d.json("POST", "/v1/models/fashion-cnn/predict", png(256, 256), {"Content-Type": "image/png"})
    check("a 256 x 256 PNG (at limits.max_pixels 65536) is served", s == 200, str(b)[:200])
    s, h, b = d.json("POST", "/v1/models/fashion-cnn/predict", png(257, 256), {"Content-Type": "image/png"})
    check("a 257 x 256 PNG -> 413 naming limits.max_pixels and both numbers",
          names(s, h, b, False, "max_pixels", 65792, 65536), str(b)[:300])
    before = peak_rss_kb(d.proc.pid)
    bomb = png(16384, 4096)
    s, h, b = d.json("POST", "/v1/models/fashion-cnn/predict", bomb, {"Content-Type": "image/png"})
    s2, h2, b2 = d.json("POST", "/v1/predict", {"model": "fashion-cnn", "inputs": [
        {"image": base64.b64encode(bomb).decode()}]})
    grown = peak_rss_kb(d.proc.pid) - before
    check("a %d-byte PNG of 16384 x 4096 (raw and base64) -> 413 naming limits.max_pixels" % len(bomb),
          names(s, h, b, False, "max_pixels", 67108864, 65536) and
          names(s2, h2, b2, False, "max_pixels", 67108864, 65536), str(b)[:300] + str(b2)[:300])
    # decoded, it would take 64 MB of rows and 256 MB of floats
    check("... without being decoded: peak RSS grew %d KB (< 32 MB)" % grown, grown < 32 * 1024)

    # the header is read here, the pixels on a worker: a corrupt image is still a clear 422
    broken = png(28, 28)
    broken = broken[:41] + bytes(b ^ 0xFF for b in broken[41:49]) + broken[49:]
    s, h, b = d.json("POST", "/v1/models/fashion-cnn/predict", broken, {"Content-Type": "image/png"})
    check("a PNG with a sound header and corrupt pixel data -> 422 from the worker that decodes it",
          tg.is_problem(s, h, b, 422) and "not a decodable PNG" in b["detail"], str(b)[:300])
    s, h, b = d.json("POST", "/v1/predict", {"model": "fashion-cnn", "inputs": [
        {"image": base64.b64encode(png(28, 28)).decode()}, {"image": base64.b64encode(broken).decode()}]})
    check("... and in a JSON request it names the input", tg.is_problem(s, h, b, 422) and
          "inputs[1] is not a decodable PNG" in b["detail"], str(b)[:300])

    # max_request_pixels 100000: images x pixels (tensors count 784 each)
    s, h, b = d.json("POST", "/v1/predict", {"model": "fashion-cnn", "inputs": [
        {"image": base64.b64encode(png(200, 200)).decode()}] * 2})
    check("two 200 x 200 images (80000 pixels) are served", s == 200, str(b)[:200])
    s, h, b = d.json("POST", "/v1/predict", {"model": "fashion-cnn", "inputs": [
        {"image": base64.b64encode(png(200, 200)).decode()}] * 3})
    check("three -> 413 naming limits.max_request_pixels, 120000 and 100000",
          names(s, h, b, False, "max_request_pixels", 120000, 100000), str(b)[:300])
    s, h, b = d.json("POST", "/v1/predict", {"model": "fashion-cnn", "inputs": tensor(127)})
    check("127 tensors (99568 values) are served on /v1", s == 200, str(b)[:200])
    s, h, b = d.json("POST", "/v1/predict", {"model": "fashion-cnn", "inputs": tensor(128)})
    check("128 tensors -> 413 naming limits.max_request_pixels, 100352 and 100000",
          names(s, h, b, False, "max_request_pixels", 100352, 100000), str(b)[:300])
    s, h, b = d.json("POST", "/v2/models/fashion-cnn/infer", v2_images(127))
    check("OIP v2: [127, 1, 28, 28] is served", s == 200, str(b)[:200])
    s, h, b = d.json("POST", "/v2/models/fashion-cnn/infer", v2_images(128))
    check("OIP v2: [128, 1, 28, 28] -> 413 {\"error\"} naming limits.max_request_pixels",
          names(s, h, b, True, "max_request_pixels", 100352, 100000), str(b)[:300])

    # max_request_tokens 40: a text classifier's tokens, all texts
    s, h, b = d.json("POST", "/v1/predict", {"model": "sentiment-lstm", "inputs": ["good film"] * 20})
    check("20 texts of 2 words (40 tokens) are served", s == 200, str(b)[:200])
    s, h, b = d.json("POST", "/v1/predict", {"model": "sentiment-lstm", "inputs": ["good film"] * 21})
    check("21 -> 413 naming limits.max_request_tokens, 42 and 40",
          names(s, h, b, False, "max_request_tokens", 42, 40), str(b)[:300])
    s, h, b = d.json("POST", "/v2/models/sentiment-lstm/infer", {"inputs": [
        {"name": "text", "shape": [21], "datatype": "BYTES", "data": ["good film"] * 21}]})
    check("OIP v2: the same -> 413 {\"error\"} naming limits.max_request_tokens",
          names(s, h, b, True, "max_request_tokens", 42, 40), str(b)[:300])

    # max_translation_tokens: sentences x beam_size x max_tokens
    s, h, b = d.json("POST", "/v1/predict", dict(LONG, model="translate-en-es", max_tokens=41))
    check("a translation over the limit -> 413 naming limits.max_translation_tokens and both numbers",
          names(s, h, b, False, "max_translation_tokens", 16 * 8 * 41, LONG_COST), str(b)[:300])
    s, h, b = d.json("POST", "/v2/models/translate-en-es/infer", {"inputs": [
        {"name": "text", "shape": [41], "datatype": "BYTES", "data": ["Write error"] * 41}]})
    check("OIP v2: 41 sentences at the manifest's beam 4 x 159 -> 413 {\"error\"} naming the key",
          names(s, h, b, True, "max_translation_tokens", 41 * 4 * 159, LONG_COST), str(b)[:300])


def fairness(d):
    """Two translation requests at the cost limit hold the translation model's worker (its
    cap: 1 of 2) in turns; a sentiment request sent while both run is answered before either."""
    answers = {}

    def long_request(i):
        answers[i] = d.json("POST", "/v1/predict", dict(LONG, model="translate-en-es"))

    threads = [threading.Thread(target=long_request, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    running = tg.worker_taken(d, threads)
    s, h, b = d.json("POST", "/v1/predict", {"model": "sentiment-lstm", "inputs": ["I loved it"]})
    still = [t.is_alive() for t in threads]
    for t in threads:
        t.join()
    check("with both workers' worth of long translations in flight, sentiment is answered first",
          running and s == 200 and still == [True, True], "running %s, %d, alive %s" % (
              running, s, still))
    ok = all(answers[i][0] == 200 and len(answers[i][2]["outputs"]) == 16 for i in range(2))
    check("... and both long translations are answered in full", ok, str(answers)[:300])
    return answers[0][2]["outputs"] if ok else None


def batches(d, at_least=0):
    """translate-en-es's batch count. A request is answered the moment its last sentence is
    decided and its batch is counted just after: polls (up to 3000 times, a bound on a hang)
    until the count reaches at_least."""
    for _ in range(3000):
        text = d.request("GET", "/metrics")[2].decode()
        m = re.search(r'^glia_inference_batch_size_count\{model="translate-en-es",version="1"\} (\d+)', text, re.M)
        n = int(m.group(1)) if m else 0
        if n >= at_least:
            return n
        time.sleep(0.01)
    return n


def main():
    if len(sys.argv) != 3:
        print("usage: test_limits.py GLIAD GLIA", file=sys.stderr)
        return 2
    gliad = sys.argv[1]
    if not all(os.path.exists(os.path.join(p, "model.safetensors")) for _, p in MODELS):
        print("1..0 # SKIP the shipped sentiment-lstm and translate-en-es weights are not there")
        return 77
    tmp = tempfile.mkdtemp(prefix="glia-limits-")
    limits = {"max_pixels": 65536, "max_request_pixels": 100000, "max_request_tokens": 40,
              "max_translation_tokens": LONG_COST, "translation_turn_tokens": 4 * 8 * 40}
    # the deadline is a bound on a hang: the second long request waits for the first's turn
    for sub in ("turns", "whole"):
        os.mkdir(os.path.join(tmp, sub))
    d = tg.Daemon(gliad, os.path.join(tmp, "turns"), workers=2, timeout_ms=600000, extra_models=MODELS, limits=limits)
    whole = None
    try:
        check("gliad starts with the three models and the limits", d.port is not None, d.text()[-500:])
        if d.port is None:
            return 1
        ceilings(d)
        before = batches(d)
        split = fairness(d)
        # 4 turns each; a turn of one may share a batch with the other's (same settings)
        n = batches(d, before + 4) - before
        check("the long requests were decoded in turns: 4 batches or more", n >= 4, "%d batches" % n)
        # a reload (SIGHUP) applies new limits at once
        with open(d.config) as f:
            text = f.read()
        with open(d.config, "w") as f:
            f.write(text.replace("max_request_tokens: 40", "max_request_tokens: 20").replace("body: 1MiB", "body: 2KiB"))
        d.proc.send_signal(signal.SIGHUP)
        for _ in range(3000):  # a bound on a hang
            if "reload done" in d.text():
                break
            time.sleep(0.01)
        s, h, b = d.json("POST", "/v1/predict", {"model": "sentiment-lstm", "inputs": ["good film"] * 20})
        check("after a SIGHUP with max_request_tokens 20, 40 tokens -> 413 naming 40 and 20",
              names(s, h, b, False, "max_request_tokens", 40, 20), str(b)[:300])
        s, h, b = d.json("POST", "/v1/predict", {"model": "sentiment-lstm", "inputs": ["good film " * 250]})
        check("... and limits.body 2KiB: a 3 KB body -> 413 naming 2048", s == 413 and "2048" in str(b), str(b)[:300])
        metrics = d.request("GET", "/metrics")[2].decode()
        limited = {m: sum(float(line.split()[-1]) for line in metrics.splitlines()
                          if line.startswith('glia_inference_requests_total{model="%s",version="1",outcome="limited"}' % m))
                   for m in ("fashion-cnn", "sentiment-lstm", "translate-en-es")}
        check("refusals by a limit are counted: glia_inference_requests_total{outcome=\"limited\"} per model",
              all(v > 0 for v in limited.values()), str(limited))
        rc = d.stop()
        check("SIGTERM drains and exits 0; no sanitizer report", rc == 0 and "Sanitizer" not in d.text() and
              "runtime error" not in d.text(), d.text()[-800:])
        # the same request on a daemon that decodes it in one run
        whole = tg.Daemon(gliad, os.path.join(tmp, "whole"), workers=1, timeout_ms=600000, extra_models=MODELS,
                          limits=dict(limits, translation_turn_tokens=0))
        s, h, b = whole.json("POST", "/v1/predict", dict(LONG, model="translate-en-es"))
        check("translations decoded in turns are those of one run", split is not None and s == 200 and
              b["outputs"] == split, str(b)[:300] + " vs " + str(split)[:300])
        n = batches(whole, 1)
        check("... which was one batch", n == 1, "%d batches" % n)
        whole.stop()
    finally:
        for daemon in (d, whole):
            if daemon and daemon.proc.poll() is None:
                daemon.stop(timeout=5)
    print("1..%d" % len(tg.results))
    return 0 if all(tg.results) else 1


if __name__ == "__main__":
    sys.exit(main())
