#!/usr/bin/python3
# test_train_jobs.py - training as a service, end to end through the real gliad (TAP).
#
# Usage: test_train_jobs.py GLIAD GLIA
#   Short fashion-cnn jobs (a few hundred Fashion-MNIST images, 1-3 epochs) go from submit
#   to a served version; validation and auth errors; cancel and max_runtime_seconds stop a
#   running job; kill -9 in the middle of a job, restart, the job is interrupted and its
#   resume gives the weights of an uninterrupted run with the same seed (same sha256);
#   promotion and rollback while a load generator runs lose no request and answer only the
#   old or the new version; records, versions and the serving choice survive restarts.
import gzip
import hashlib
import json
import os
import shutil
import signal
import struct
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import test_gliad as tg  # noqa: E402

check = tg.check
ADMIN = {"Authorization": "Bearer s3cret-admin-token"}
SMALL = {"limit": 600, "validation": 100}  # 500 training images, 100 to select on


def wait_for(d, job_id, done, timeout=900):
    """Polls GET /v1/jobs/{id} until done(record) or the timeout; returns the last record. The
    timeout only bounds a hang: it is far above what a job takes on a slow, busy machine under
    ASan, so that no check depends on the machine's speed."""
    deadline = time.monotonic() + timeout
    rec = {}
    while time.monotonic() < deadline:
        s, _, rec = d.json("GET", "/v1/jobs/" + job_id, headers=ADMIN)
        if s == 200 and done(rec):
            return rec
        time.sleep(0.1)
    return rec


def finished(rec):
    return rec.get("status") in ("succeeded", "failed", "cancelled", "interrupted")


def submit(d, body):
    return d.json("POST", "/v1/train", body, ADMIN)


def sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def main():
    gliad = sys.argv[1]
    tmp = tempfile.mkdtemp(prefix="glia-test-jobs-")
    state = tmp  # the harness uses its directory as state_dir
    text_bundle = os.path.join(tg.ROOT, "models", "sentiment-lstm")
    d = tg.Daemon(gliad, tmp, extra_models=[("sentiment-lstm", text_bundle)])
    try:
        check("gliad starts", d.port is not None, d.text()[-400:])

        # ---- validation and auth ----
        s, h, b = d.json("POST", "/v1/train", {"model": "fashion-cnn"})
        check("POST /v1/train without a token -> 401", tg.is_problem(s, h, b, 401), str(b))
        s, h, b = d.json("POST", "/v1/train", {"model": "fashion-cnn"}, {"Authorization": "Bearer nope"})
        check("with a wrong token -> 403", tg.is_problem(s, h, b, 403), str(b))
        s, h, b = d.json("GET", "/v1/jobs")
        check("GET /v1/jobs is an admin route too -> 401", tg.is_problem(s, h, b, 401), str(b))
        s, h, b = submit(d, {"model": "nope", "promote": "sometimes", "colour": "red",
                             "recipe": {"max_runtime_seconds": -1}})
        detail = b.get("detail", "") if isinstance(b, dict) else ""
        check("every bad field is named in one 422",
              tg.is_problem(s, h, b, 422) and all(w in detail for w in ("colour", "model", "promote", "max_runtime")),
              detail)
        s, h, b = submit(d, {"model": "fashion-cnn", "recipe": {"epochs": 0}})
        check("a bad override names its key", tg.is_problem(s, h, b, 422) and "epochs" in b["detail"], str(b))
        s, h, b = submit(d, {"model": "fashion-cnn", "recipe": {"epochs": "3", "optimizer": {"amsgrad": "true"},
                                                                "ema": "0.99"},
                             "dry_run": True})
        check("numbers and booleans given as strings -> 400 naming each field and its type",
              tg.is_problem(s, h, b, 400) and "recipe.epochs: expected an integer" in b["detail"] and
              "recipe.optimizer.amsgrad: expected true or false" in b["detail"] and
              "recipe.ema: expected a number" in b["detail"], str(b))
        s, h, b = submit(d, {"model": "fashion-cnn", "recipe": {"ema": 1}, "dry_run": True})
        check("an average that never moves (ema 1) -> 422 naming ema", tg.is_problem(s, h, b, 422) and
              "ema" in b["detail"], str(b))
        s, h, b = submit(d, {"model": "fashion-cnn", "recipe": {"optimizer": {"type": "adamx"}}})
        check("an unknown optimizer is named", tg.is_problem(s, h, b, 422) and "optimizer.type" in b["detail"], str(b))
        s, h, b = submit(d, {"model": "fashion-cnn", "dataset": "uci-sentiment"})
        check("a data set the model cannot train on is refused", tg.is_problem(s, h, b, 422) and "fashion-mnist" in
              b["detail"], str(b))
        s, h, b = d.json("POST", "/v1/train", b"{not json", dict(ADMIN, **{"Content-Type": "application/json"}))
        check("malformed JSON -> 400", tg.is_problem(s, h, b, 400), str(b))
        s, h, b = submit(d, {"model": "fashion-cnn", "dataset": SMALL, "recipe": {"epochs": 2, "lr": 0.002,
                                                                                 "ema": 0.99},
                             "dry_run": True})
        check("dry_run validates and answers the effective recipe without queueing",
              s == 200 and b.get("valid") is True and b["recipe"]["epochs"] == 2 and abs(b["recipe"]["lr"] - 0.002) < 1e-6
              and abs(b["recipe"]["ema"] - 0.99) < 1e-6
              and d.json("GET", "/v1/jobs", headers=ADMIN)[2]["jobs"] == [], str(b))

        # ---- a short job from submit to a served version ----
        body = {"model": "fashion-cnn", "dataset": SMALL, "recipe": {"epochs": 2, "seed": 7}, "promote": "always"}
        s, h, job = submit(d, body)
        check("POST /v1/train -> 202 with Location and the queued job",
              s == 202 and h.get("location") == "/v1/jobs/" + job.get("id", "?") and job.get("status") == "queued",
              "%s %s" % (s, job))
        rec = wait_for(d, job["id"], finished)
        res = rec.get("result", {})
        check("the job succeeds with a new version, evaluated on the test split",
              rec.get("status") == "succeeded" and res.get("version") == 2 and res.get("test_examples") == 10000 and
              res.get("promoted") is True and len(rec.get("evaluations", [])) == 2 and rec.get("progress") == 1.0,
              str(rec)[:600])
        s, _, m = d.json("GET", "/v1/models/fashion-cnn")
        versions = {v["version"]: v for v in m.get("versions", [])}
        check("the new version serves (without a restart) and GET /v1/models lists both versions",
              m.get("version") == 2 and versions.get(2, {}).get("serving") is True and versions.get(1, {}).get("serving")
              is False and abs(versions[2]["evaluation"]["accuracy"] - res["test_accuracy"]) < 1e-4, str(m)[:500])
        s, _, p = d.json("POST", "/v1/predict", {"model": "fashion-cnn", "inputs": [{"tensor": {"shape": [1, 28, 28],
                                                                                               "data": [0.0] * 784}}]})
        check("predictions come from version 2", s == 200 and p.get("version") == 2, str(p))
        uninterrupted_sha = sha256(os.path.join(state, "models", "fashion-cnn", "2", "model.safetensors"))
        check("the shipped bundle is untouched; the version lives under state_dir",
              os.path.exists(os.path.join(state, "models", "fashion-cnn", "2", "model.yaml")) and
              not os.path.exists(os.path.join(state, "jobs", job["id"], "out")))

        # ---- promotion and rollback under load: no request lost, only versions 1 and 2 ----
        stop = threading.Event()
        seen, bad = set(), []

        def load():
            req = {"model": "fashion-cnn", "inputs": [{"tensor": {"shape": [1, 28, 28], "data": [0.5] * 784}}]}
            while not stop.is_set():
                s, _, b = d.json("POST", "/v1/predict", req)
                if s == 200:
                    seen.add(b["version"])
                else:
                    bad.append((s, b))

        threads = [threading.Thread(target=load) for _ in range(3)]
        for t in threads:
            t.start()
        swaps = []
        for v in (1, 2, 1, 2, 1):
            time.sleep(0.15)
            swaps.append(d.json("POST", "/v1/models/fashion-cnn/versions/%d/promote" % v, headers=ADMIN)[0])
        time.sleep(0.15)
        stop.set()
        for t in threads:
            t.join()
        check("promote/roll back 5 times under load: every request answered, only versions 1 and 2",
              swaps == [200] * 5 and not bad and seen == {1, 2}, "swaps %s, errors %s, seen %s" % (swaps, bad[:3], seen))
        s, h, b = d.json("POST", "/v1/models/fashion-cnn/versions/9/promote", headers=ADMIN)
        check("promoting a version that does not exist -> 404", tg.is_problem(s, h, b, 404), str(b))

        # ---- if_better keeps the better serving version ----
        s, _, job2 = submit(d, {"model": "fashion-cnn", "dataset": {"limit": 200, "validation": 50},
                                "recipe": {"epochs": 1, "lr": 1e-6}, "promote": "if_better"})
        rec2 = wait_for(d, job2["id"], finished)
        r2 = rec2.get("result", {})
        check("promote: if_better does not promote a worse version",
              rec2.get("status") == "succeeded" and r2.get("promoted") is False and
              r2.get("serving_test_accuracy", 0) > r2.get("test_accuracy", 1) and
              d.json("GET", "/v1/models/fashion-cnn")[2].get("version") == 1, str(rec2)[:500])

        # ---- cancel and max_runtime_seconds stop a running job ----
        s, _, long_job = submit(d, {"model": "fashion-cnn", "dataset": {"limit": 3000, "validation": 100},
                                    "recipe": {"epochs": 50}})
        wait_for(d, long_job["id"], lambda r: r.get("status") == "running")
        time.sleep(0.5)
        t0 = time.monotonic()
        s, _, b = d.json("POST", "/v1/jobs/%s/cancel" % long_job["id"], headers=ADMIN)
        rec = wait_for(d, long_job["id"], finished)
        # cancelled, not finished: it stopped long before its 50 epochs (no wall-clock bound,
        # which a slow machine would miss; the time is printed for the reader)
        check("cancel stops a running job (%.2f s)" % (time.monotonic() - t0),
              s == 202 and rec.get("status") == "cancelled" and rec.get("epoch", 0) < 50, str(rec)[:300])
        s, h, b = d.json("POST", "/v1/jobs/%s/cancel" % long_job["id"], headers=ADMIN)
        check("cancelling a finished job -> 409", tg.is_problem(s, h, b, 409), str(b))
        s, _, timed = submit(d, {"model": "fashion-cnn", "dataset": {"limit": 3000, "validation": 100},
                                 "recipe": {"epochs": 50, "max_runtime_seconds": 1.5}})
        rec = wait_for(d, timed["id"], finished)
        check("max_runtime_seconds stops the job and says so, reason first",
              rec.get("status") == "failed" and rec.get("error", "").startswith("stopped after ") and
              ": the job ran over max_runtime_seconds (1.5)" in rec.get("error", ""), str(rec)[:300])
        s, _, lst = d.json("GET", "/v1/jobs?status=cancelled", headers=ADMIN)
        check("GET /v1/jobs filters by status", s == 200 and [j["id"] for j in lst["jobs"]] == [long_job["id"]],
              str(lst)[:300])

        # ---- kill -9 in the middle of a job; restart; resume = uninterrupted ----
        s, _, killed = submit(d, {"model": "fashion-cnn", "dataset": SMALL, "recipe": {"epochs": 3, "seed": 7}})
        # same recipe as the first job but 3 epochs: compare with an uninterrupted 3-epoch run below
        wait_for(d, killed["id"], lambda r: r.get("epoch", 0) >= 1)
        d.proc.kill()
        d.proc.wait()
        d.log.close()
        d = tg.Daemon(gliad, tmp, extra_models=[("sentiment-lstm", text_bundle)])
        check("gliad restarts after kill -9", d.port is not None, d.text()[-400:])
        s, _, rec = d.json("GET", "/v1/jobs/" + killed["id"], headers=ADMIN)
        check("the job that was running is interrupted, every job is listed",
              rec.get("status") == "interrupted" and len(d.json("GET", "/v1/jobs", headers=ADMIN)[2]["jobs"]) == 5,
              str(rec)[:300])
        leftovers = [f for f in os.listdir(os.path.join(state, "jobs")) if ".tmp" in f]
        check("no half-written file is left", not leftovers, str(leftovers))
        s, _, m = d.json("GET", "/v1/models/fashion-cnn")
        check("the serving version survives the restart", m.get("version") == 1, str(m)[:200])
        s, _, b = d.json("POST", "/v1/jobs/%s/resume" % killed["id"], headers=ADMIN)
        rec = wait_for(d, killed["id"], finished)
        resumed_version = rec.get("result", {}).get("version")
        s, _, ref = submit(d, {"model": "fashion-cnn", "dataset": SMALL, "recipe": {"epochs": 3, "seed": 7}})
        ref_rec = wait_for(d, ref["id"], finished)
        ref_version = ref_rec.get("result", {}).get("version")
        a = sha256(os.path.join(state, "models", "fashion-cnn", str(resumed_version), "model.safetensors")) \
            if resumed_version else "?"
        b2 = sha256(os.path.join(state, "models", "fashion-cnn", str(ref_version), "model.safetensors")) \
            if ref_version else "!"
        check("the resumed job gives the uninterrupted run's weights (same sha256)",
              rec.get("status") == "succeeded" and ref_rec.get("status") == "succeeded" and a == b2 and
              a != uninterrupted_sha, "%s vs %s; %s" % (a, b2, str(rec)[:300]))
        s, h, b = d.json("POST", "/v1/jobs/%s/resume" % killed["id"], headers=ADMIN)
        check("resuming a finished job -> 409", tg.is_problem(s, h, b, 409), str(b))

        # ---- uploaded data sets ----
        lines = []
        for i in range(400):  # a toy sentiment corpus: the label follows the word
            word = ["awful", "great", "terrible", "wonderful"][i % 4]
            lines.append(json.dumps({"text": "item %d was %s" % (i, word), "label": ["negative", "positive"][i % 2]}))
        good = ("\n".join(lines) + "\n").encode()
        bad_body = ("\n".join(lines[:30] + ['{"text": "no label here"}'] + lines[30:40]) + "\n").encode()
        nd = dict(ADMIN, **{"Content-Type": "application/x-ndjson"})
        s, h, b = d.json("POST", "/v1/datasets", bad_body, nd)
        check("a corrupt upload is rejected with its line number", tg.is_problem(s, h, b, 422) and
              b["detail"].startswith("line 31:"), str(b))
        s, h, b = d.json("POST", "/v1/datasets", good, {"Content-Type": "application/x-ndjson"})
        check("uploads need the admin token", tg.is_problem(s, h, b, 401), str(b))
        s, h, b = d.json("POST", "/v1/datasets", good, dict(ADMIN, **{"Content-Type": "text/csv"}))
        check("an upload without a known format -> 415", tg.is_problem(s, h, b, 415), str(b))
        s, h, up = d.json("POST", "/v1/datasets", good, nd)
        check("an upload is checked and stored: 201 with records and labels",
              s == 201 and up.get("records") == 400 and up.get("labels") == {"negative": 200, "positive": 200},
              str(up))
        s, _, lst = d.json("GET", "/v1/datasets", headers=ADMIN)
        check("GET /v1/datasets lists it", s == 200 and [x["id"] for x in lst["datasets"]] == [up.get("id")], str(lst))
        s, h, b = submit(d, {"model": "fashion-cnn", "dataset": up.get("id")})
        check("an image model refuses a text data set", tg.is_problem(s, h, b, 422) and "text models" in b["detail"],
              str(b))
        s, _, tj = submit(d, {"model": "sentiment-lstm", "dataset": up.get("id"), "recipe": {"epochs": 2}})
        rec = wait_for(d, tj.get("id", "?"), finished)
        res = rec.get("result", {})
        check("a text job trains on the uploaded data set and learns its rule",
              rec.get("status") == "succeeded" and rec["dataset"].get("name") == up.get("id") and
              res.get("test_accuracy", 0) >= 0.9 and res.get("promoted") is False, str(rec)[:500])

        # an IDX pair (images + labels) trains an image model
        with gzip.open(os.path.join(tg.FASHION, "train-images-idx3-ubyte.gz")) as f:
            pix = f.read()[16:16 + 400 * 784]
        with gzip.open(os.path.join(tg.FASHION, "train-labels-idx1-ubyte.gz")) as f:
            lab = f.read()[8:8 + 400]
        idx_images = gzip.compress(struct.pack(">IIII", 0x803, 400, 28, 28) + pix)
        idx_labels = struct.pack(">II", 0x801, 400) + lab
        s, h, b = d.json("POST", "/v1/datasets?format=idx-images", idx_images[:500], ADMIN)
        check("a truncated IDX upload is refused", tg.is_problem(s, h, b, 422) and "IDX" in b["detail"], str(b))
        s, _, ui = d.json("POST", "/v1/datasets?format=idx-images", idx_images, ADMIN)
        s2, _, ul = d.json("POST", "/v1/datasets?format=idx-labels", idx_labels, ADMIN)
        s, _, ij = submit(d, {"model": "fashion-cnn", "dataset": {"images": ui.get("id"), "labels": ul.get("id")},
                              "recipe": {"epochs": 1}})
        rec = wait_for(d, ij.get("id", "?"), finished)
        check("an image job trains on an uploaded IDX pair, split by pixel hash",
              rec.get("status") == "succeeded" and 0 < rec.get("result", {}).get("test_examples", 0) < 80 and
              rec.get("train_examples", 0) > 250, str(rec)[:400])

        # ---- metrics ----
        text = d.request("GET", "/metrics")[2].decode()
        check("/metrics has the training families, no job id label",
              'glia_train_jobs{status="succeeded"}' in text and 'glia_train_jobs_total{outcome="succeeded"}' in text and
              'glia_train_samples_total{model="fashion-cnn"}' in text and "glia_train_job_duration_seconds_bucket" in
              text and 'glia_train_epoch{model="fashion-cnn"}' in text and killed["id"] not in text)
        rc = d.stop()
        check("SIGTERM stops gliad cleanly", rc == 0, d.text()[-500:])
        check("no sanitizer report", "Sanitizer" not in d.text() and "runtime error" not in d.text(), d.text()[-800:])
    finally:
        if d.proc.poll() is None:
            d.stop(timeout=5)
        shutil.rmtree(tmp, ignore_errors=True)
    print("1..%d" % len(tg.results))
    return 0 if all(tg.results) else 1


if __name__ == "__main__":
    sys.exit(main())
