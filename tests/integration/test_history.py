#!/usr/bin/python3
# test_history.py - a training run's per-step history, end to end (TAP).
#
# Usage: test_history.py GLIAD GLIA
#   glia train on a tiny translation recipe (seconds): history.jsonl beside the bundle with one
#   line per optimizer step and one per evaluation; plain epoch lines when stdout is a pipe,
#   a progress bar redrawn with \r on a terminal (a pty); glia plot draws SVG (parsed as XML)
#   and PNG (decoded here: size and ink in the plot area) and refuses bad input clearly.
#   gliad: a tiny job's GET /v1/jobs/{id}/history, since and limit paging, 400/401/403/404,
#   and the same answer after a gliad restart.
import json
import os
import pty
import re
import select
import shutil
import struct
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import test_gliad as tg  # noqa: E402  (the Daemon harness and the TAP helpers)

check = tg.check
TINY = os.path.join(tg.ROOT, "tests", "data", "translate-tiny")
DATA = os.environ.get("GLIA_GETTEXT_EN_ES", os.path.join(tg.ROOT, ".cache", "data", "gettext-en-es"))
ADMIN = {"Authorization": "Bearer s3cret-admin-token"}
EPOCHS = 3


def write_recipe(tmp):
    """translate-tiny's recipe cut to 400 pairs, 3 epochs and 5 test sentences: about a second."""
    shutil.copy(os.path.join(TINY, "model.yaml"), tmp)
    with open(os.path.join(TINY, "recipe.yaml")) as f:
        text = f.read()
    text = re.sub(r"limit: 3000", "limit: 400", text)
    text = re.sub(r"epochs: \d+", "epochs: %d" % EPOCHS, text)
    text = re.sub(r"evaluation: \{beam_size: 2, limit: \d+\}", "evaluation: {beam_size: 1, limit: 5}", text)
    path = os.path.join(tmp, "recipe.yaml")
    with open(path, "w") as f:
        f.write(text)
    return path


def read_history(path):
    steps, evals = [], []
    with open(path) as f:
        for line in f:
            rec = json.loads(line)
            (evals.append(rec["eval"]) if "eval" in rec else steps.append(rec))
    return steps, evals


def manifest_steps(bundle):
    with open(os.path.join(bundle, "model.yaml")) as f:
        m = re.search(r"^\s+steps: (\d+)$", f.read(), re.M)
    return int(m.group(1)) if m else -1


def run_on_pty(args, env):
    """Runs args with stdout and stderr on a pseudo-terminal; returns (exit status, output)."""
    master, slave = pty.openpty()
    p = subprocess.Popen(args, stdout=slave, stderr=slave, env=env, close_fds=True)
    os.close(slave)
    out = b""
    while True:
        ready, _, _ = select.select([master], [], [], 1.0)
        if ready:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: the child closed the terminal
                chunk = b""
            if not chunk:
                break
            out += chunk
        elif p.poll() is not None:
            break
    os.close(master)
    return p.wait(), out.decode(errors="replace")


def png_pixels(path):
    """Decodes an 8-bit RGB non-interlaced PNG (what glia plot writes) into (w, h, rows of bytes)."""
    with open(path, "rb") as f:
        data = f.read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, w, h = 8, b"", 0, 0
    while pos < len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]
        if kind == b"IHDR":
            w, h, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", body)
            assert depth == 8 and colour == 2 and interlace == 0, "not 8-bit RGB"
        elif kind == b"IDAT":
            idat += body
        pos += 12 + n
    raw, stride, rows, prev = zlib.decompress(idat), w * 3, [], bytearray(w * 3)
    for y in range(h):
        ftype, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - 3] if i >= 3 else 0
            b, c = prev[i], prev[i - 3] if i >= 3 else 0
            if ftype == 1:
                line[i] = (line[i] + a) & 255
            elif ftype == 2:
                line[i] = (line[i] + b) & 255
            elif ftype == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif ftype == 4:
                pa, pb, pc = abs(b - c), abs(a - c), abs(a + b - 2 * c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(line)
        prev = line
    return w, h, rows


def cli_part(glia, tmp, env):
    recipe = write_recipe(tmp)
    bundle = os.path.join(tmp, "bundle")
    r = subprocess.run([glia, "train", recipe, "--out", bundle, "--threads", "1"], capture_output=True, text=True,
                       env=env)
    check("glia train of the tiny recipe succeeds", r.returncode == 0, r.stdout[-400:] + r.stderr[-400:])
    check("stdout a pipe: one plain line per epoch, no carriage return, no bar",
          "\r" not in r.stdout and len(re.findall(r"^epoch \d/%d " % EPOCHS, r.stdout, re.M)) == EPOCHS and
          "ETA" not in r.stdout, r.stdout[-600:])
    hist = os.path.join(bundle, "history.jsonl")
    steps, evals = read_history(hist) if os.path.exists(hist) else ([], [])
    total = manifest_steps(bundle)
    check("history.jsonl beside the bundle: one line per optimizer step (the manifest's steps), in order",
          total > EPOCHS and [s["step"] for s in steps] == list(range(1, total + 1)), (total, len(steps)))
    keys = ("step", "epoch", "loss", "lr", "examples_per_s", "time_s")
    check("each step line has step, epoch, loss, lr, examples_per_s, time_s as numbers (loss and lr > 0)",
          steps and all(all(isinstance(s.get(k), (int, float)) for k in keys) and s["loss"] > 0 and s["lr"] > 0
                        for s in steps) and steps[-1]["epoch"] == EPOCHS, steps[:2])
    ends = [max(s["step"] for s in steps if s["epoch"] == e) for e in range(1, EPOCHS + 1)] if steps else []
    check("one eval line per epoch, at the epoch's last step, with train and validation figures",
          [e["step"] for e in evals] == ends and all("val_loss" in e and "train_loss" in e for e in evals),
          (evals, ends))

    # the same run on a terminal: a bar redrawn in place
    code, out = run_on_pty([glia, "train", recipe, "--out", os.path.join(tmp, "tty"), "--threads", "1"], env)
    bars = re.findall(r"\repoch \d/%d \[[#.]{24}\] +\d+%%  step \d+/\d+  loss [0-9.]+  \d+ tokens/s  ETA [0-9:?]+"
                      % EPOCHS, out)
    check("stdout a terminal: a progress bar (epoch, bar, %, step/total, loss, rate, ETA) redrawn with \\r",
          code == 0 and len(bars) >= 1, repr(out[-600:]))
    check("... and the epoch lines still printed, the bar cleared before each",
          len(re.findall(r"\r\x1b\[Kepoch \d/%d  loss=" % EPOCHS, out)) == EPOCHS, repr(out[-600:]))

    # glia plot
    svg, png = os.path.join(tmp, "curves.svg"), os.path.join(tmp, "curves.png")
    r1 = subprocess.run([glia, "plot", hist, "--out", svg], capture_output=True, text=True)
    r2 = subprocess.run([glia, "plot", hist, "--out", png], capture_output=True, text=True)
    check("glia plot writes SVG and PNG", r1.returncode == 0 and r2.returncode == 0, r1.stderr + r2.stderr)
    try:
        root = ET.parse(svg).getroot()
    except (ET.ParseError, OSError) as e:
        root = None
        print("# %s" % e)
    ns = "{http://www.w3.org/2000/svg}"
    texts = [t.text for t in root.iter(ns + "text")] if root is not None else []
    lines = root.findall(".//" + ns + "polyline") if root is not None else []
    check("the SVG parses as XML: an svg root with its size, titles and the step axis",
          root is not None and root.tag == ns + "svg" and root.get("width") == "800" and
          all(t in texts for t in ("loss", "learning rate", "accuracy", "step")), texts[:12])
    npoints = [len(p.get("points").split()) for p in lines]
    check("the loss and the learning rate are polylines with a point per step",
          npoints.count(len(steps)) >= 2 and len(lines) >= 4, npoints)
    numbers = [t for t in texts if re.fullmatch(r"-?[0-9.e+-]+", t or "")]
    check("the axes have numeric tick labels", len(numbers) >= 10, texts)
    w, h, rows = png_pixels(png) if r2.returncode == 0 else (0, 0, [])
    check("the PNG is 800 x 720 (three panels)", (w, h) == (800, 720), (w, h))
    # columns of the loss panel's plot area (inside the frame) holding coloured (not grey) ink
    coloured = sum(any(abs(rows[y][3 * x] - rows[y][3 * x + 2]) > 60 for y in range(40, 195))
                   for x in range(90, 770)) if rows else 0
    check("the PNG's loss panel has its coloured curve across the plot area", coloured > 600, coloured)

    bad = os.path.join(tmp, "bad.jsonl")
    with open(bad, "w") as f:
        f.write('{"step": 1, "loss": 2}\n{"loss": 1}\n')
    r = subprocess.run([glia, "plot", bad, "--out", svg], capture_output=True, text=True)
    check("a malformed history: exit 1 naming file and line", r.returncode == 1 and "bad.jsonl:2:" in r.stderr,
          r.stderr)
    r = subprocess.run([glia, "plot", os.path.join(tmp, "none.jsonl"), "--out", svg], capture_output=True, text=True)
    check("a missing history: exit 1 naming it", r.returncode == 1 and "none.jsonl" in r.stderr, r.stderr)
    r = subprocess.run([glia, "plot", hist, "--out", os.path.join(tmp, "c.gif")], capture_output=True, text=True)
    check("--out that is neither .svg nor .png: usage error (exit 2)", r.returncode == 2 and ".svg" in r.stderr,
          r.stderr)
    return bundle


def get_history(d, job_id, query="", headers=ADMIN):
    return d.json("GET", "/v1/jobs/%s/history%s" % (job_id, query), headers=headers)


def daemon_part(gliad, tmp, bundle, env):
    d = tg.Daemon(gliad, tmp, extra_models=[("translate-tiny", bundle)], env=env)
    d2 = None
    try:
        check("gliad starts with the tiny translation model", d.port is not None, d.text()[-400:])
        s, _, job = d.json("POST", "/v1/train", {"model": "translate-tiny", "recipe": {"epochs": 2}}, ADMIN)
        check("a tiny job is queued", s == 202, job)
        job_id = job.get("id", "x")
        rec = {}
        for _ in range(6000):  # bounds a hang only
            s, _, rec = d.json("GET", "/v1/jobs/" + job_id, headers=ADMIN)
            if rec.get("status") in ("succeeded", "failed", "cancelled", "interrupted"):
                break
            time.sleep(0.1)
        check("the job succeeds", rec.get("status") == "succeeded", str(rec)[:500])
        s, h, hist = get_history(d, job_id)
        steps = [x["step"] for x in hist.get("steps", [])] if isinstance(hist, dict) else []
        check("GET /v1/jobs/{id}/history: id, status and every step from 1 to the job's last",
              s == 200 and hist.get("id") == job_id and hist.get("status") == "succeeded" and
              steps == list(range(1, rec.get("step", -1) + 1)) and hist.get("next") is None, str(hist)[:400])
        check("... and an evaluation per epoch, as the record's evaluations",
              [e["epoch"] for e in hist.get("evals", [])] == [1, 2] and
              abs(hist["evals"][-1]["val_accuracy"] - rec["evaluations"][-1]["val_accuracy"]) < 1e-5, hist.get("evals"))
        k = len(steps) // 2
        s, _, part = get_history(d, job_id, "?since=%d" % k)
        check("since=STEP: only the steps after it", s == 200 and [x["step"] for x in part["steps"]] == steps[k:] and
              all(e["step"] > k for e in part["evals"]), str(part)[:300])
        s, _, p1 = get_history(d, job_id, "?limit=3")
        s2, _, p2 = get_history(d, job_id, "?since=%s&limit=3" % p1.get("next"))
        check("limit=N pages: N steps and next, where the next page starts",
              s == 200 and [x["step"] for x in p1["steps"]] == [1, 2, 3] and p1["next"] == 3 and s2 == 200 and
              [x["step"] for x in p2["steps"]] == [4, 5, 6], (p1, p2))
        for q in ("?since=abc", "?since=-1", "?limit=0", "?limit=10001"):
            s, h, b = get_history(d, job_id, q)
            check("%s -> 400 problem naming the parameter" % q,
                  tg.is_problem(s, h, b, 400) and q[1:q.index("=")] in b["detail"], (s, b))
        s, h, b = get_history(d, "j-nope")
        check("an unknown job -> 404", tg.is_problem(s, h, b, 404), b)
        s, h, b = get_history(d, job_id, headers={})
        check("no token -> 401", tg.is_problem(s, h, b, 401), b)
        s, h, b = get_history(d, job_id, headers={"Authorization": "Bearer nope"})
        check("a wrong token -> 403", tg.is_problem(s, h, b, 403), b)
        check("gliad stops cleanly", d.stop() == 0 and "Sanitizer" not in d.text(), d.text()[-600:])
        d2 = tg.Daemon(gliad, tmp, extra_models=[("translate-tiny", bundle)], env=env)
        s, _, again = get_history(d2, job_id)
        check("the history survives a gliad restart (the same answer)", s == 200 and again == hist,
              str(again)[:300])
        check("no sanitizer report", d2.stop() == 0 and "Sanitizer" not in d2.text() and
              "runtime error" not in d2.text(), d2.text()[-600:])
    finally:
        for x in (d, d2):
            if x and x.proc.poll() is None:
                x.stop(timeout=10)


def main():
    if len(sys.argv) != 3:
        print("usage: test_history.py GLIAD GLIA", file=sys.stderr)
        return 2
    gliad, glia = sys.argv[1], sys.argv[2]
    if not os.path.isdir(DATA):
        print("1..0 # SKIP no gettext-en-es data (scripts/setup --test fetches it)")
        return 77
    env = dict(os.environ, GLIA_GETTEXT_EN_ES=DATA)
    tmp = tempfile.mkdtemp(prefix="glia-history-")
    try:
        bundle = cli_part(glia, tmp, env)
        daemon_part(gliad, tmp, bundle, env)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print("1..%d" % len(tg.results))
    return 0 if all(tg.results) else 1


if __name__ == "__main__":
    sys.exit(main())
