#!/usr/bin/python3
# train_serve.py - predict latency while a training job runs in the same gliad (issue 5's
# benchmark). In ONE run of gliad per configuration: POST /v1/predict (one Fashion-MNIST test
# image, a base64 PNG in JSON, per request, as serve.py) with wrk, alternating rounds with no
# job ("idle") and with a fashion-cnn training job running (POST /v1/train, cancelled after the
# round), starting and ending with an idle round to bracket drift; medians over --rounds.
# The job's samples/s (its per-epoch figure, from GET /v1/jobs/{id}, counting only epochs that
# ran wholly under the wrk load) is set against `glia train` alone with the same recipe
# (models/fashion-cnn/recipe.yaml with the job's limit/validation/epochs) and --threads.
# Target (issue 5): predict p99 with a job running <= 1.5x the idle p99.
#
#   /usr/bin/python3 bench/train_serve.py [--build build] [--seconds 10] [--rounds 3]
#                                         [--nice 10,0] [--workers 1] [--train-threads 1]
# Needs wrk (Debian package wrk) and a release build (scripts/build).
import argparse
import http.client
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from serve import BUNDLE, ROOT, free_port, image_png_base64, wrk  # noqa: E402  (same load, same parsing)

TOKEN = "bench-train-serve-token"


def start(build, tmp, port, workers, train_threads, nice):
    state = tempfile.mkdtemp(prefix="state-", dir=tmp)
    token = os.path.join(tmp, "admin.token")
    fd = os.open(token, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.write(fd, TOKEN.encode() + b"\n")
    os.close(fd)
    os.chmod(token, 0o600)
    cfg = os.path.join(tmp, "gliad.yaml")
    with open(cfg, "w") as f:
        f.write("listen: {address: 127.0.0.1, port: %d}\nworkers: %d\nqueue: {length: 1024}\n"
                "batching: {max_size: 32, max_wait_us: 500}\nmodels:\n  - {name: fashion-cnn, path: %s}\n"
                "state_dir: %s\nauth: {admin_token_file: %s}\n"
                "training: {threads: %d, nice: %d, max_queued: 16}\nlog: {level: warn}\n"
                % (port, workers, BUNDLE, state, token, train_threads, nice))
    p = subprocess.Popen([os.path.join(build, "daemon", "gliad"), "--config", cfg], stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while True:
        try:
            if api(port, "GET", "/readyz")[0] == 200:
                return p
        except OSError:
            pass
        if p.poll() is not None or time.monotonic() > deadline:
            sys.exit("gliad did not start (config %s)" % cfg)
        time.sleep(0.01)


def api(port, method, path, body=None):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    headers = {"Authorization": "Bearer " + TOKEN}
    if body is not None:
        headers["Content-Type"] = "application/json"
    c.request(method, path, body=json.dumps(body) if body is not None else None, headers=headers)
    r = c.getresponse()
    data = r.read()
    c.close()
    try:
        return r.status, json.loads(data) if data else None
    except ValueError:
        return r.status, None


def job_state(port, jid):
    st, rec = api(port, "GET", "/v1/jobs/" + jid)
    if st != 200:
        sys.exit("GET /v1/jobs/%s: %d %s" % (jid, st, rec))
    return rec


def job_round(port, script, a):
    """Submits a job, waits until it has trained one epoch (so that it is in steady state),
    runs wrk, cancels it. Returns the wrk result, the samples/s of the epochs that ran wholly
    under load and that of the epoch(s) before the load."""
    st, rec = api(port, "POST", "/v1/train",
                  {"model": "fashion-cnn", "dataset": {"limit": a.limit, "validation": a.validation},
                   "recipe": {"epochs": a.epochs}, "promote": "never"})
    if st != 202:
        sys.exit("POST /v1/train: %d %s" % (st, rec))
    jid = rec["id"]
    deadline = time.monotonic() + 300
    while True:
        rec = job_state(port, jid)
        if rec["status"] not in ("queued", "running"):
            sys.exit("job %s: %s %s" % (jid, rec["status"], rec.get("error", "")))
        if rec["status"] == "running" and rec.get("epoch", 0) >= 1:
            break
        if time.monotonic() > deadline:
            sys.exit("job %s did not finish an epoch in 300 s" % jid)
        time.sleep(0.1)
    before = rec["samples_per_second"]
    # poll the job while wrk runs: (time an epoch was first seen done, epoch, its samples/s)
    seen, stop = [(time.monotonic(), rec["epoch"], before)], threading.Event()

    def poll():
        while not stop.wait(0.25):
            r = job_state(port, jid)
            if r.get("epoch", 0) != seen[-1][1]:
                seen.append((time.monotonic(), r["epoch"], r["samples_per_second"]))
    t = threading.Thread(target=poll)
    t0 = time.monotonic()
    t.start()
    res = wrk(port, a.conns, a.seconds, script)
    t1 = time.monotonic()
    stop.set()
    t.join()
    # an epoch ran wholly under load if the previous one was done after wrk started (0.25 s slack for the poll)
    under = [s for (tp, _, _), (te, _, s) in zip(seen, seen[1:]) if tp >= t0 - 0.25 and te <= t1]
    partial = False
    if not under:  # epochs longer than the window: fall back to the one that overlapped most
        partial = True
        rec = job_state(port, jid)
        if len(seen) > 1:
            under = [seen[1][2]]
        else:  # none finished during wrk: wait for the one in flight (it ran mostly under load)
            e = rec["epoch"]
            while rec["epoch"] == e and rec["status"] == "running":
                time.sleep(0.1)
                rec = job_state(port, jid)
            under = [rec["samples_per_second"]]
    st, _ = api(port, "POST", "/v1/jobs/%s/cancel" % jid)
    if st not in (200, 202):
        sys.exit("cancel job %s: %d" % (jid, st))
    while job_state(port, jid)["status"] == "running":
        time.sleep(0.05)
    return res, statistics.median(under), before, partial


def run_config(a, build, tmp, script, workers, train_threads, nice):
    port = free_port()
    p = start(build, tmp, port, workers, train_threads, nice)
    tag = "workers %d, training threads %d, nice %d" % (workers, train_threads, nice)
    idle, job, sps, sps_before, partial = [], [], [], [], False
    try:
        wrk(port, a.conns, 2, script)  # warm-up, not counted
        for r in range(a.rounds):
            idle.append(wrk(port, a.conns, a.seconds, script))
            print("  %s round %d idle: %.0f req/s, p50 %.2f ms, p99 %.2f ms, %d non-2xx" %
                  ((tag, r + 1) + idle[-1]), file=sys.stderr)
            res, s, b, part = job_round(port, script, a)
            job.append(res)
            sps.append(s)
            sps_before.append(b)
            partial |= part
            print("  %s round %d job:  %.0f req/s, p50 %.2f ms, p99 %.2f ms, %d non-2xx; training %.0f img/s "
                  "under load (%.0f before)%s" % ((tag, r + 1) + res + (s, b, " [partial epoch]" if part else "")),
                  file=sys.stderr)
        idle.append(wrk(port, a.conns, a.seconds, script))
        print("  %s closing idle: %.0f req/s, p50 %.2f ms, p99 %.2f ms, %d non-2xx" % ((tag,) + idle[-1]),
              file=sys.stderr)
    finally:
        p.terminate()
        p.wait()

    def med(rows, i):
        return statistics.median(r[i] for r in rows)
    return {"workers": workers, "threads": train_threads, "nice": nice,
            "idle": [med(idle, i) for i in range(4)], "job": [med(job, i) for i in range(4)],
            "idle_p99_all": [r[2] for r in idle], "job_p99_all": [r[2] for r in job],
            "sps": statistics.median(sps), "sps_before": statistics.median(sps_before), "partial": partial,
            "bad": sum(r[3] for r in idle + job)}


def glia_alone(a, build, tmp, threads):
    """glia train with the job's recipe: the bundle's recipe.yaml with the job's overrides.
    Stopped after --alone-epochs epochs (speed does not depend on the epoch count); returns the
    median images/s of those epochs."""
    with open(os.path.join(BUNDLE, "recipe.yaml")) as f:
        text = f.read()
    text = re.sub(r"(?m)^model: model\.yaml", "model: %s" % os.path.join(BUNDLE, "model.yaml"), text)
    text = re.sub(r"(?m)^(\s+validation:).*$", r"\g<1> %d\n  limit: %d" % (a.validation, a.limit), text)
    text = re.sub(r"(?m)^epochs:.*$", "epochs: %d" % a.epochs, text)
    recipe = os.path.join(tmp, "recipe.yaml")
    with open(recipe, "w") as f:
        f.write(text)
    p = subprocess.Popen([os.path.join(build, "cli", "glia"), "train", recipe, "--out", os.path.join(tmp, "alone"),
                          "--threads", str(threads)], stdout=subprocess.PIPE, text=True)
    rates = []
    for line in p.stdout:
        m = re.search(r"images/s=([\d.]+)", line)
        if m:
            rates.append(float(m.group(1)))
            if len(rates) >= a.alone_epochs:
                break
    p.terminate()
    p.wait()
    if not rates:
        sys.exit("glia train printed no progress line")
    return statistics.median(rates), len(rates)


def loadavg():
    with open("/proc/loadavg") as f:
        return f.read().split()[0]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--seconds", type=int, default=10, help="wrk duration of each round")
    ap.add_argument("--rounds", type=int, default=3, help="job rounds per config (rounds+1 idle rounds)")
    ap.add_argument("--conns", type=int, default=8)
    # each a comma-separated list: every combination is one gliad (one table row)
    ap.add_argument("--workers", default="1", help="inference workers")
    ap.add_argument("--train-threads", default="1", help="training threads of the job (and of glia train alone)")
    ap.add_argument("--nice", default="10,0", help="training nice values")
    ap.add_argument("--limit", type=int, default=1500, help="training images (with validation)")
    ap.add_argument("--validation", type=int, default=500)
    ap.add_argument("--epochs", type=int, default=1000, help="the job is cancelled long before")
    ap.add_argument("--alone-epochs", type=int, default=3)
    a = ap.parse_args()
    build = os.path.abspath(a.build)
    tmp = tempfile.mkdtemp(prefix="glia-bench-train-serve-")
    script = os.path.join(tmp, "post.lua")
    body = json.dumps({"model": "fashion-cnn", "inputs": [{"image": image_png_base64()}], "top_k": 1})
    with open(script, "w") as f:
        f.write('wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\nwrk.body = %s\n'
                % json.dumps(body))
    load0 = loadavg()
    ints = lambda v: [int(x) for x in v.split(",")]  # noqa: E731
    results = [run_config(a, build, tmp, script, w, t, n)
               for w in ints(a.workers) for t in ints(a.train_threads) for n in ints(a.nice)]
    alone = {t: glia_alone(a, build, tmp, t) for t in ints(a.train_threads)}
    load1 = loadavg()

    print("gliad, POST /v1/predict with one 28x28 image (base64 PNG in JSON), wrk -c %d, %d s per round, "
          "batching max 32 / 500 us; training job: fashion-cnn, limit %d, validation %d (%d train images/epoch); "
          "%d cores" % (a.conns, a.seconds, a.limit, a.validation, a.limit - a.validation, os.cpu_count()))
    print("medians of %d idle rounds and %d job rounds, alternating (idle first and last), one gliad per row"
          % (a.rounds + 1, a.rounds))
    print()
    print("| workers | train threads | nice | idle p50 (ms) | idle p99 (ms) | idle req/s | job p50 (ms) | job p99 (ms) "
          "| job req/s | p99 job/idle (target <= 1.5x) | train img/s in gliad (under load) | in gliad, before load | "
          "glia train alone | gliad/alone |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in results:
        i, j, al = r["idle"], r["job"], alone[r["threads"]][0]
        ratio = j[2] / i[2]
        print("| %d | %d | %d | %.2f | %.2f | %.0f | %.2f | %.2f | %.0f | %.2fx %s | %.0f%s | %.0f | %.0f | %.2f |" %
              (r["workers"], r["threads"], r["nice"], i[1], i[2], i[0], j[1], j[2], j[0], ratio,
               "met" if ratio <= 1.5 else "MISSED", r["sps"], " (partial)" if r["partial"] else "",
               r["sps_before"], al, r["sps"] / al))
    print()
    for r in results:
        print("workers %d, training threads %d, nice %d: idle p99 per round %s ms; job p99 per round %s ms; "
              "non-2xx %d" % (r["workers"], r["threads"], r["nice"], ", ".join("%.2f" % x for x in r["idle_p99_all"]),
                              ", ".join("%.2f" % x for x in r["job_p99_all"]), r["bad"]))
    for t, (rate, n) in alone.items():
        print("glia train alone: %s train RECIPE --threads %d: %.0f images/s, median of %d epochs"
              % (os.path.join(build, "cli", "glia"), t, rate, n))
    print("load average (1 min) before %s, after %s: other processes on the machine add noise to both columns"
          % (load0, load1))


if __name__ == "__main__":
    main()
