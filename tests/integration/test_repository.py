#!/usr/bin/python3
# test_repository.py - the model repository and version labels, end to end (TAP).
#
# Usage: test_repository.py GLIAD GLIA
#   A repository built at test time from the shipped fashion-cnn bundle (DIR/cnn/1, 2, and
#   DIR/cnn-b with its own policy): the policies load what they name; a version dropped in
#   appears within the poll interval (polled for, never slept for); a cut one is reported
#   (index, /v1/models last_error, a metric) while the others serve; an unload lets a request
#   in flight on the version finish with 200; the labels route and a 10 % canary over 2,000
#   requests (the answering version read from each answer); the version label in /metrics;
#   a restart keeps the labels; SIGHUP rescans; a short training job publishes its version
#   into the repository and promotion makes it stable.
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import test_gliad as tg  # noqa: E402

check = tg.check
ADMIN = {"Authorization": "Bearer s3cret-admin-token"}
ZEROS = {"inputs": [{"tensor": {"shape": [1, 28, 28], "data": [0.0] * 784}}]}


def add_version(repo, model, version, cut=False):
    """Copies the shipped bundle to repo/model/version whole: built in a hidden directory (a
    scan ignores those) and renamed into place, as an operator or a deploy script would."""
    work = os.path.join(repo, model, ".incoming-%d" % version)
    os.makedirs(work)
    for f in ("model.yaml", "model.safetensors", "labels.txt", "recipe.yaml"):
        shutil.copy(os.path.join(tg.BUNDLE, f), work)
    if cut:  # weights cut short, as a copy that died half-way leaves them
        with open(os.path.join(work, "model.safetensors"), "r+b") as f:
            f.truncate(100000)
    os.rename(work, os.path.join(repo, model, str(version)))


def index(d, body=None):
    s, h, b = d.json("POST", "/v2/repository/index", body, ADMIN)
    return b if s == 200 and isinstance(b, list) else []


def rows(d, model):
    return {r.get("version"): r for r in index(d) if r["name"] == model}


def poll(what, timeout=120):
    """Polls what() until it is true; the timeout bounds a hang only."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if what():
            return True
        time.sleep(0.05)
    return False


def predict(d, model="cnn", body=ZEROS):
    s, h, b = d.json("POST", "/v1/models/%s/predict" % model, body)
    return s, h.get("x-model-version"), (b.get("version") if isinstance(b, dict) else None)


def versions_answering(d, n, threads=4):
    """n unversioned predictions from a few clients; the versions that answered, by the
    X-Model-Version header (checked against the body's version)."""
    counts, lock = {}, threading.Lock()

    def client(k):
        for _ in range(k):
            s, header, version = predict(d)
            key = header if s == 200 and header == str(version) else "bad:%s" % s
            with lock:
                counts[key] = counts.get(key, 0) + 1
    ts = [threading.Thread(target=client, args=(n // threads,)) for _ in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return counts


def metric(d, prefix):
    text = d.request("GET", "/metrics")[2].decode()
    return sum(float(line.split()[-1]) for line in text.splitlines() if line.startswith(prefix))


def config(poll_ms):
    return ("model_repository: repo\nrepository:\n  poll_interval_ms: %d\n  version_policy: {latest: 2}\n"
            "  models:\n    - {name: cnn-b, version_policy: {specific: [1]}, labels: {stable: 1}}\n" % poll_ms)


def main():
    gliad, glia = sys.argv[1], sys.argv[2]
    tmp = tempfile.mkdtemp(prefix="glia-test-repo-")
    repo = os.path.join(tmp, "repo")
    for model, versions in (("cnn", (1, 2)), ("cnn-b", (1, 2))):
        os.makedirs(os.path.join(repo, model))
        for v in versions:
            add_version(repo, model, v)
    os.makedirs(os.path.join(repo, "cnn", "not-a-version"))
    d = tg.Daemon(gliad, tmp, workers=1, body="16MiB", extra=config(200))
    try:
        check("gliad starts with a model repository", d.port is not None, d.text()[-800:])
        check("a directory that is not a version number is ignored and said so",
              "ignoring cnn/not-a-version" in d.text(), d.text()[-800:])

        # ---- policies and the index ----
        s, h, b = d.json("POST", "/v2/repository/index")
        check("the index is an admin route, errors as {\"error\"}", s == 401 and "error" in b, (s, b))
        cnn, cnn_b = rows(d, "cnn"), rows(d, "cnn-b")
        check("latest: 2 loads both versions", set(cnn) == {"1", "2"} and
              all(r["state"] == "READY" for r in cnn.values()), cnn)
        check("specific: [1] loads only version 1", set(cnn_b) == {"1"}, cnn_b)
        check("the config's model is in the index too", "1" in rows(d, "fashion-cnn"), index(d))
        s, header, version = predict(d)
        check("without labels the highest version answers, and says so (body and X-Model-Version)",
              s == 200 and header == "2" and version == 2, (s, header, version))
        s, h, b = d.json("POST", "/v2/models/cnn/infer", {"inputs": [{"name": "input", "shape": [1, 1, 28, 28],
                                                                      "datatype": "FP32", "data": [0.0] * 784}]})
        check("an OIP answer carries X-Model-Version", s == 200 and h.get("x-model-version") == "2", (s, h, b))
        s, h, b = d.json("GET", "/v1/models/cnn-b/labels")
        check("GET labels: the config's stable label, the default version and what is loaded",
              s == 200 and b["stable"] == 1 and b["canary"] is None and b["loaded_versions"] == [1] and
              b["default_version"] == 1, b)
        s, h, b = d.json("POST", "/v2/repository/index", {"ready": "yes"}, ADMIN)
        check("an index body that is not {\"ready\": bool} -> 400 {\"error\"}", s == 400 and "error" in b, (s, b))

        # ---- a version dropped in appears; the policy unloads the oldest ----
        add_version(repo, "cnn", 3)
        appeared = poll(lambda: set(rows(d, "cnn")) == {"2", "3"})
        check("a version dropped in loads within the poll interval, and latest: 2 unloads version 1", appeared,
              index(d))
        check("... and serves", predict(d)[1] == "3")

        # ---- a broken version ----
        failures = metric(d, 'glia_model_load_failures_total{model="cnn"}')
        add_version(repo, "cnn", 4, cut=True)
        poll(lambda: rows(d, "cnn").get("4", {}).get("state") == "UNAVAILABLE")
        r4 = rows(d, "cnn")
        check("a cut version is UNAVAILABLE with the reason", r4.get("4", {}).get("state") == "UNAVAILABLE" and
              "truncated" in r4["4"].get("reason", ""), r4)
        check("... versions 2 and 3 keep serving", r4.get("2", {}).get("state") == "READY" and
              r4.get("3", {}).get("state") == "READY" and predict(d)[:2] == (200, "3"), r4)
        s, h, b = d.json("GET", "/v1/models/cnn")
        check("... /v1/models says why (last_error)", "version 4" in b.get("last_error", ""), b)
        check("... and glia_model_load_failures_total counts it",
              metric(d, 'glia_model_load_failures_total{model="cnn"}') == failures + 1, d.text()[-600:])
        shutil.rmtree(os.path.join(repo, "cnn", "4"))
        check("removed, it leaves the index", poll(lambda: "4" not in rows(d, "cnn")), index(d))

        # ---- labels and the canary ----
        s, h, b = d.json("PUT", "/v1/models/cnn/labels", {"stable": 2, "canary": 3, "canary_percent": 10})
        check("PUT labels without the admin token -> 401", tg.is_problem(s, h, b, 401), b)
        s, h, b = d.json("PUT", "/v1/models/cnn/labels", {"stable": 2, "canary": 9}, ADMIN)
        check("a label on a version not loaded -> 409 naming the loaded ones",
              tg.is_problem(s, h, b, 409) and "loaded: 2, 3" in b["detail"], b)
        s, h, b = d.json("PUT", "/v1/models/cnn/labels", {"stable": 2, "canary_percent": 101, "colour": 1}, ADMIN)
        check("a bad body -> 400", tg.is_problem(s, h, b, 400), b)
        s, h, b = d.json("PUT", "/v1/models/cnn/labels", [2, 3], ADMIN)
        check("a body that is not an object -> 400", tg.is_problem(s, h, b, 400), b)
        s, h, b = d.json("PUT", "/v1/models/fashion-cnn/labels", {"canary": 1, "canary_percent": 5}, ADMIN)
        check("a canary on a config model -> 409", tg.is_problem(s, h, b, 409), b)
        s, h, b = d.json("PUT", "/v1/models/cnn/labels", {"stable": 2, "canary": 3, "canary_percent": 10}, ADMIN)
        check("PUT labels sets stable, canary and its share", s == 200 and b["stable"] == 2 and b["canary"] == 3 and
              b["canary_percent"] == 10 and b["default_version"] == 2, b)
        before = metric(d, 'glia_inference_requests_total{model="cnn",version="3",outcome="ok"}')
        counts = versions_answering(d, 2000)
        check("the canary answers 10 %% of 2,000 requests (+-5 %%): %s" % counts,
              abs(counts.get("3", 0) - 200) <= 100 and counts.get("2", 0) + counts.get("3", 0) == 2000, counts)
        after = metric(d, 'glia_inference_requests_total{model="cnn",version="3",outcome="ok"}')
        check("glia_inference_requests_total{version=\"3\"} counts the canary's answers",
              after - before == counts.get("3", 0), (before, after))
        check("the compute histogram has a version label too",
              metric(d, 'glia_inference_compute_duration_seconds_count{model="cnn",version="2"}') > 0)
        check("glia_model_info has a series for the stable and for the canary, glia_model_loaded one",
              metric(d, 'glia_model_info{model="cnn",version="2"') == 1 and
              metric(d, 'glia_model_info{model="cnn",version="3"') == 1 and
              metric(d, 'glia_model_loaded{model="cnn"}') == 1)

        # ---- unload drains, load brings it back ----
        big = {"inputs": [{"tensor": {"shape": [1, 28, 28], "data": [0.5] * 784}}] * 1000}
        answers = []
        t = threading.Thread(target=lambda: answers.append(predict(d, body=big)))
        t.start()
        busy = tg.worker_taken(d, [t])
        s, h, b = d.json("POST", "/v2/repository/models/cnn/unload", None, ADMIN)
        t.join()
        check("unload -> 200", s == 200, (s, b))
        check("a request in flight on the unloaded model still answers 200 on its version",
              busy and answers and answers[0][0] == 200 and answers[0][1] in ("2", "3"), (busy, answers))
        s, h, b = d.json("POST", "/v1/models/cnn/predict", ZEROS)
        check("after unload the model answers 404", tg.is_problem(s, h, b, 404), b)
        check("the index says unloaded", any(r["name"] == "cnn" and r["reason"] == "unloaded" for r in index(d)),
              index(d))
        s, h, b = d.json("POST", "/v2/repository/models/nope/load", None, ADMIN)
        check("load of an unknown model -> 404 {\"error\"}", s == 404 and "error" in b, (s, b))
        s, h, b = d.json("POST", "/v2/repository/models/cnn/load", None, ADMIN)
        check("load -> 200 and it serves again, labels kept", s == 200 and predict(d)[:2] == (200, "2") and
              d.json("GET", "/v1/models/cnn/labels")[2]["canary"] == 3, (s, b))
        d.stop()

        # ---- a restart keeps the labels; SIGHUP rescans without polling ----
        d = tg.Daemon(gliad, tmp, workers=1, extra=config(0))
        s, h, b = d.json("GET", "/v1/models/cnn/labels")
        check("a restart keeps the labels", s == 200 and b["stable"] == 2 and b["canary"] == 3 and
              b["canary_percent"] == 10, b)
        os.makedirs(os.path.join(repo, "cnn-c"))
        add_version(repo, "cnn-c", 1)
        check("with polling off, a new model is not picked up by itself", not rows(d, "cnn-c"), index(d))
        tg.sighup_and_wait(d)
        check("... SIGHUP rescans the repository and loads it", set(rows(d, "cnn-c")) == {"1"}, index(d))
        with open(d.config) as f:
            text = f.read()
        with open(d.config, "w") as f:  # the same config, but cnn-b's policy names 1 and 2
            f.write(text.replace("specific: [1]", "specific: [1, 2]"))
        tg.sighup_and_wait(d)
        check("a policy changed by SIGHUP applies at once", set(rows(d, "cnn-b")) == {"1", "2"}, index(d))

        # ---- a trained version lands in the repository ----
        s, h, b = d.json("POST", "/v1/train", {"model": "cnn", "dataset": {"limit": 300, "validation": 100},
                                                "recipe": {"epochs": 1, "seed": 3}, "promote": "always"}, ADMIN)
        job = b.get("id") if isinstance(b, dict) else None
        check("a training job on a repository model is accepted", s == 202 and job, (s, b))
        rec = {}

        def done():
            rec.update(d.json("GET", "/v1/jobs/%s" % job, None, ADMIN)[2])
            return rec.get("status") in ("succeeded", "failed", "cancelled", "interrupted")
        poll(done, timeout=900)
        version = rec.get("result", {}).get("version")
        check("the job succeeds with version 4 (above every directory)", rec.get("status") == "succeeded" and
              version == 4, rec)
        check("its bundle is published into the repository", os.path.isfile(os.path.join(repo, "cnn", "4", "model.yaml")))
        s, h, b = d.json("GET", "/v1/models/cnn/labels")
        check("promote: always made it stable, and it serves (the canary stays)",
              b.get("stable") == 4 and b.get("canary") == 3 and predict(d)[:2] in ((200, "4"), (200, "3")), b)
        shutil.rmtree(os.path.join(repo, "cnn", "3"))  # the canary leaves the disk
        tg.sighup_and_wait(d)
        s, h, b = d.json("POST", "/v1/models/cnn/versions/2/promote", None, ADMIN)
        s2, h2, labels = d.json("GET", "/v1/models/cnn/labels")
        check("promoting a version when the canary has gone succeeds and drops the canary",
              s == 200 and labels.get("stable") == 2 and labels.get("canary") is None and
              labels.get("loaded_versions") == [2, 4], (s, b, labels))
        rc = d.stop()
        check("gliad stops cleanly", rc == 0, d.text()[-500:])
        check("no sanitizer report", "Sanitizer" not in d.text() and "runtime error" not in d.text(), d.text()[-800:])

        # ---- a name in both places is a config error ----
        os.makedirs(os.path.join(repo, "fashion-cnn", "1"))
        p = subprocess.run([gliad, "--config", d.config, "--check"], capture_output=True, text=True, timeout=120)
        check("a name both in models: and in the repository is a config error naming both",
              p.returncode != 0 and "fashion-cnn" in p.stderr and "not both" in p.stderr, p.stderr)
    finally:
        if d.proc.poll() is None:
            d.stop(timeout=5)
        shutil.rmtree(tmp, ignore_errors=True)
    print("1..%d" % len(tg.results))
    return 0 if all(tg.results) else 1


if __name__ == "__main__":
    sys.exit(main())
