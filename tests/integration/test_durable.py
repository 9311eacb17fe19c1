#!/usr/bin/python3
# test_durable.py - what gliad acknowledges survives, and signals that cannot pile up,
# through the real daemon (TAP).
#
# Usage: test_durable.py GLIAD GLIA
#   - a job answered 202 and an upload answered 201 are there after kill -9 and a restart;
#   - the start removes the temporaries a kill leaves (and logs each) and nothing else;
#   - with state_dir on a full file system (a 1 MiB tmpfs, mounted when running as root;
#     skipped otherwise) POST /v1/train and POST /v1/datasets answer 507 with the reason
#     and leave nothing, and succeed once there is room again;
#   - 50 SIGHUPs make fewer than 50 reloads, at most one pending at a time, the last one
#     sees the configuration as it was at the last signal; a SIGTERM in a storm drains and
#     exits without the reloads asked for; a reload that cannot end does not hold up the
#     stop past the drain timeout.
# No check depends on the machine's speed: waits only bound a hang.
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import test_gliad as tg  # noqa: E402

check = tg.check
ADMIN = {"Authorization": "Bearer s3cret-admin-token"}
ND = dict(ADMIN, **{"Content-Type": "application/x-ndjson"})
JOB = {"model": "fashion-cnn", "dataset": {"limit": 600, "validation": 100}, "recipe": {"epochs": 1}}
UPLOAD = b"".join(json.dumps({"text": "item %d was %s" % (i, ["awful", "great"][i % 2]),
                              "label": ["negative", "positive"][i % 2]}).encode() + b"\n" for i in range(40))


def wait_until(cond, timeout=120):
    """Polls cond() until it is true; the timeout bounds a hang, not the daemon's speed."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.05)
    return False


def files_under(root):
    return sorted(os.path.relpath(os.path.join(dp, f), root) for dp, dn, fs in os.walk(root) for f in fs + dn)


def kill9_and_leftovers(gliad, tmp):
    state = os.path.join(tmp, "state-kill")
    d = tg.Daemon(gliad, tmp, state_dir=state)
    check("gliad starts", d.port is not None, d.text()[-400:])
    s, _, up = d.json("POST", "/v1/datasets", UPLOAD, ND)
    s2, h, job = d.json("POST", "/v1/train", JOB, ADMIN)
    d.proc.kill()  # right after the answers: nothing gets a chance to finish later
    d.proc.wait()
    d.log.close()
    check("an upload is answered 201 and a job 202", s == 201 and s2 == 202, (s, up, s2, job))

    # what a kill in the middle of writes leaves: one of each kind of glia temporary, and
    # files that only look alike
    temps = ["jobs/%s.json.tmp.Ab3xY9" % job.get("id", "x"), "jobs/%s/checkpoint.safetensors.tmp.QwErT1" % job.get("id", "x"),
             "jobs/%s/out/model.safetensors.tmp.zz09zz" % job.get("id", "x"), "models/fashion-cnn/serving.tmp.K2p0Lm",
             "datasets/.upload-Zx81Qa", "datasets/.new-d1700000000-0009/data.jsonl"]
    kept = ["jobs/notes.tmp.abc", "jobs/operator-notes.txt", "datasets/README"]
    for rel in temps + kept:
        os.makedirs(os.path.dirname(os.path.join(state, rel)), exist_ok=True)
        with open(os.path.join(state, rel), "w") as f:
            f.write("partial")

    d = tg.Daemon(gliad, tmp, state_dir=state)
    check("gliad restarts after kill -9", d.port is not None, d.text()[-400:])
    s, _, rec = d.json("GET", "/v1/jobs/%s" % job.get("id", "x"), headers=ADMIN)
    check("the job answered 202 is there after kill -9 and a restart",
          s == 200 and rec.get("status") in ("queued", "running", "interrupted"), (s, rec))
    d.json("POST", "/v1/jobs/%s/cancel" % job.get("id", "x"), headers=ADMIN)  # no need to train it
    s, _, lst = d.json("GET", "/v1/datasets", headers=ADMIN)
    check("the upload answered 201 is there after kill -9 and a restart",
          s == 200 and [(x["id"], x["records"]) for x in lst.get("datasets", [])] == [(up.get("id"), 40)], lst)
    left = [rel for rel in temps if os.path.exists(os.path.join(state, rel))]
    log = d.text()
    logged = [rel for rel in temps[:-1] if os.path.join(state, rel) not in log]  # the last: its directory
    check("the start removes every unfinished temporary and logs it", not left and not logged and
          not os.path.exists(os.path.join(state, "datasets/.new-d1700000000-0009")), (left, logged, log[-1500:]))
    check("... and nothing else", all(os.path.exists(os.path.join(state, rel)) for rel in kept), files_under(state))
    rc = d.stop()
    check("no sanitizer report", rc == 0 and "Sanitizer" not in d.text() and "runtime error" not in d.text(),
          d.text()[-800:])


def full_disk(gliad, tmp):
    name = "a full state_dir: 507 with the reason, nothing left, and room again works"
    if os.geteuid() != 0 or not shutil.which("mount"):
        check("%s # SKIP needs root to mount a small tmpfs" % name, True)
        return
    state = os.path.join(tmp, "state-full")
    os.makedirs(state)
    p = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m,mode=0700", "tmpfs", state], capture_output=True, text=True)
    if p.returncode != 0:
        check("%s # SKIP cannot mount a tmpfs: %s" % (name, p.stderr.strip()[:100]), True)
        return
    d = None
    try:
        d = tg.Daemon(gliad, tmp, state_dir=state)
        filler = os.path.join(state, "filler")
        try:
            with open(filler, "wb") as f:
                while True:
                    f.write(b"\0" * 65536)
                    f.flush()
        except OSError:
            pass
        s, h, b = d.json("POST", "/v1/train", JOB, ADMIN)
        check("POST /v1/train on a full disk: 507 problem+json naming the reason",
              tg.is_problem(s, h, b, 507) and "No space left on device" in b["detail"], (s, b))
        s, h, b = d.json("POST", "/v1/datasets", UPLOAD, ND)
        check("POST /v1/datasets on a full disk: 507 problem+json naming the reason",
              tg.is_problem(s, h, b, 507) and "No space left on device" in b["detail"], (s, b))
        jobs = d.json("GET", "/v1/jobs", headers=ADMIN)[2]
        sets = d.json("GET", "/v1/datasets", headers=ADMIN)[2]
        left = [f for f in files_under(state) if f not in ("filler", "jobs", "datasets", "models")]
        check("the refused job and upload left nothing (no record, no temporary, not listed)",
              jobs == {"jobs": []} and sets == {"datasets": []} and not left, (jobs, sets, left))
        os.unlink(filler)
        s, _, job = d.json("POST", "/v1/train", JOB, ADMIN)
        s2, _, up = d.json("POST", "/v1/datasets", UPLOAD, ND)
        check("with room again: 202 and 201", s == 202 and s2 == 201, (s, job, s2, up))
        d.json("POST", "/v1/jobs/%s/cancel" % job.get("id", "x"), headers=ADMIN)
        rc = d.stop()
        check("gliad stops cleanly after the full disk", rc == 0 and "Sanitizer" not in d.text(), d.text()[-800:])
    finally:
        if d and d.proc.poll() is None:
            d.stop(timeout=10)
        subprocess.run(["umount", state], capture_output=True)


def write_big_bundle(path, side=100, classes=500):
    """A linear model with 20 MB of (zero) weights: a reload hashes them to see whether they
    changed, which makes it slow enough for signals sent 2 ms apart to arrive during one,
    as they do against the shipped models (about 300 ms per reload)."""
    tg.write_linear_bundle(path, "big", [1, side, side], classes, bytes(4 * classes * (side * side + 1)))


def storm(d, n=50):
    """n SIGHUPs 2 ms apart: each is delivered on its own (signals sent at once would merge
    in the kernel while pending, and prove nothing about gliad)."""
    for _ in range(n):
        os.kill(d.proc.pid, signal.SIGHUP)
        time.sleep(0.002)


def reloads(d):
    return d.text().count("reloading " + d.config)


def reloads(d, since=0):
    return d.text()[since:].count("reloading " + d.config)


def sighup_storm(gliad, tmp):
    big = os.path.join(tmp, "big")
    write_big_bundle(big)
    d = tg.Daemon(gliad, tmp, state_dir=os.path.join(tmp, "state-hup"), extra_models=[("big", big)])
    check("gliad starts", d.port is not None, d.text()[-400:])
    # 49 SIGHUPs, then a new model in the configuration and the 50th: a reload must follow
    # the last signal, or the new model would not be served. However long a reload takes,
    # at most one is pending at any time, so at most two can begin after the last signal
    # (the one pending, and one that was decided just before but logged just after it).
    storm(d, 49)
    with open(d.config) as f:
        text = f.read().replace("models:\n", "models:\n  - {name: fashion-b, path: %s}\n" % tg.BUNDLE, 1)
    with open(d.config + ".new", "w") as f:
        f.write(text)
    os.replace(d.config + ".new", d.config)
    os.kill(d.proc.pid, signal.SIGHUP)
    mark = len(d.text())
    served = wait_until(lambda: d.json("GET", "/v1/models/fashion-b")[0] == 200)
    wait_until(lambda: d.text().count("reload done") == reloads(d))
    n, late = reloads(d), reloads(d, mark)
    check("50 SIGHUPs coalesce: %d reload(s), %d begun after the last signal, which the last one saw" % (n, late),
          served and 1 <= n < 50 and 1 <= late <= 2, d.text()[-1500:])

    # a storm, and a SIGTERM once its first reload has begun: the drain starts at once,
    # without the reloads asked for (at most one begins after the SIGTERM is sent: one
    # decided just before it), and none once the drain has begun
    before = len(d.text())
    storm(d)
    started = wait_until(lambda: reloads(d, before) > 0)
    mark = len(d.text())
    t0 = time.monotonic()
    rc = d.stop()  # SIGTERM; bounds a hang only
    log = d.text()
    after_drain = log[log.find("draining"):] if "draining" in log else ""
    check("SIGTERM after 50 SIGHUPs: exit 0 in %.1f s, %d reload(s) in all, %d begun after the SIGTERM, "
          "none once draining" % (time.monotonic() - t0, reloads(d, before), reloads(d, mark)),
          rc == 0 and started and after_drain and ("reloading " + d.config) not in after_drain and
          reloads(d, mark) <= 1 and reloads(d, before) < 50, log[-1500:])


def reload_stuck(gliad, tmp):
    # A reload that cannot finish (its configuration file is a FIFO nobody writes: reading
    # it blocks) does not hold up the stop: after the drain timeout (5 s in these tests)
    # gliad exits without it, saying so.
    d = tg.Daemon(gliad, tmp, state_dir=os.path.join(tmp, "state-stuck"))
    os.unlink(d.config)
    os.mkfifo(d.config)
    os.kill(d.proc.pid, signal.SIGHUP)
    started = wait_until(lambda: reloads(d) > 0)
    t0 = time.monotonic()
    rc = d.stop()  # bounds a hang only
    check("SIGTERM during a reload that cannot end: exit 0 after the drain (%.1f s), saying why" %
          (time.monotonic() - t0), started and rc == 0 and "exiting without waiting for it" in d.text(),
          d.text()[-1000:])


def main():
    gliad = sys.argv[1]
    tmp = tempfile.mkdtemp(prefix="glia-test-durable-")
    try:
        kill9_and_leftovers(gliad, tmp)
        full_disk(gliad, tmp)
        sighup_storm(gliad, tmp)
        reload_stuck(gliad, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print("1..%d" % len(tg.results))
    return 0 if all(tg.results) else 1


if __name__ == "__main__":
    sys.exit(main())
