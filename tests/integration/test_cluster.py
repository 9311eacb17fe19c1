#!/usr/bin/python3
# test_cluster.py - three gliad behind nginx on loopback, sharing one model repository (TAP).
#
# Usage: test_cluster.py GLIAD GLIA
#   nginx (Debian's, started as a foreground process with its own prefix, configuration, pid
#   and error log in a scratch directory) runs etc/nginx/glia.conf itself, its ports rewritten
#   to three gliad on free loopback ports. The replicas share one model repository (a tiny
#   linear image model, version 1) with shared labels, each with its own state_dir; only the
#   first trains. Client threads send a steady load of predictions through nginx while:
#   one replica is killed with SIGKILL and restarted, another is drained with SIGTERM and
#   restarted, a training job sent through nginx publishes version 2 into the repository
#   and promotes it, and a rollback to version 1 is sent through nginx. Checked: no client
#   request fails, every replica (asked directly, not through nginx) serves the new version
#   and then the rolled-back one after its own poll, a replica that does not train answers
#   409 naming training.enabled, and nginx's log shows the retries that hid the failures.
#   The p99 latency during the events, the failed-request count and how long each replica
#   took to follow are printed as TAP comments (measured, never asserted: no wall-clock
#   assertion). Skipped, saying so, when nginx is not installed. GLIA_TEST_KEEP=1 keeps the
#   scratch directory (nginx's access and error logs, each replica's log and state).
import http.client
import json
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import test_gliad as tg  # noqa: E402
from test_repository import poll  # noqa: E402 (polls a condition; its timeout bounds a hang only)

check = tg.check
TOKEN = "s3cret-admin-token"
ADMIN = {"Authorization": "Bearer " + TOKEN}
POLL_MS = 500
MODEL = "lin"
CLIENTS = 4
# one Fashion-MNIST-sized input; the values do not matter, the answering version does
BODY = json.dumps({"inputs": [{"tensor": {"shape": [1, 28, 28],
                                          "data": [((i * 37) % 256) / 255.0 for i in range(784)]}}]}).encode()


def find_nginx():
    for path in (shutil.which("nginx"), "/usr/sbin/nginx"):
        if path and os.access(path, os.X_OK):
            return path
    return None


def free_ports(n):
    """n distinct free loopback ports: held open together so that they differ, then released
    for the servers (which bind them again at once)."""
    socks = []
    for _ in range(n):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        socks.append(s)
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def write_bundle(path):
    """A linear image model (flatten, 784 -> 10) with a recipe, so that a training job on
    it takes a second: the weights from a formula."""
    weight = [((j * 7 + i * 3) % 11 - 5) * 0.001 for j in range(10) for i in range(784)]
    bias = [j * 0.01 for j in range(10)]
    tg.write_linear_bundle(path, MODEL, [1, 28, 28], 10, struct.pack("<%df" % (7850), *(weight + bias)))
    with open(os.path.join(path, "recipe.yaml"), "w") as f:
        f.write("model: model.yaml\ndataset: {name: fashion-mnist, validation: 100}\nseed: 1\nepochs: 1\n"
                "batch: {policy: fixed, size: 32}\noptimizer: {type: sgd, lr: 0.01}\n")


def request(port, method, path, body=None, headers=None, timeout=60):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    h = dict(headers or {})
    if isinstance(body, (dict, list)):
        body = json.dumps(body).encode()
        h.setdefault("Content-Type", "application/json")
    try:
        c.request(method, path, body=body, headers=h)
        r = c.getresponse()
        data = r.read()
    finally:
        c.close()
    try:
        data = json.loads(data)
    except ValueError:
        pass
    return r.status, {k.lower(): v for k, v in r.getheaders()}, data


class Replica:
    """One gliad with a fixed port (nginx names it), its own state_dir, the shared repository."""

    def __init__(self, gliad, tmp, index, port, repo, trains):
        self.gliad, self.port, self.index = gliad, port, index
        self.dir = os.path.join(tmp, "replica%d" % index)
        os.makedirs(os.path.join(self.dir, "state"))
        token = os.path.join(self.dir, "admin.token")
        with open(token, "w") as f:
            f.write(TOKEN + "\n")
        os.chmod(token, 0o600)
        self.config = os.path.join(self.dir, "gliad.yaml")
        with open(self.config, "w") as f:
            # two workers: a model may hold one of them (limits.model_workers), so the long
            # fashion-cnn request of the drain never holds up the load's predictions
            f.write("listen: {address: 127.0.0.1, port: %d}\nworkers: 2\nblas_threads: 1\n"
                    "queue: {length: 256, timeout_ms: 20000}\ndrain_timeout_ms: 10000\n"
                    "limits: {connections_per_client: 0}\n"
                    "training: {enabled: %s}\nmodels:\n  - {name: fashion-cnn, path: %s}\n"
                    "state_dir: state\nmodel_repository: %s\n"
                    "repository: {poll_interval_ms: %d, version_policy: {latest: 2}, shared_labels: true}\n"
                    "auth: {admin_token_file: admin.token}\nlog: {level: info}\n"
                    % (port, "true" if trains else "false", tg.BUNDLE, repo, POLL_MS))
        self.log_path = os.path.join(self.dir, "gliad.log")
        self.proc = None
        self.starts = 0

    def start(self):
        """Starts gliad and waits (bounded) until it listens; True when it does."""
        self.starts += 1
        log = open(self.log_path, "a")
        log.write("==== start %d\n" % self.starts)
        log.flush()
        self.proc = subprocess.Popen([self.gliad, "--config", self.config], stdout=log, stderr=subprocess.STDOUT)
        log.close()
        return poll(lambda: self.text().count("listening on") >= self.starts or self.proc.poll() is not None,
                    120) and self.proc.poll() is None

    def text(self):
        with open(self.log_path) as f:
            return f.read()

    def ready(self):
        try:
            return request(self.port, "GET", "/readyz", timeout=5)[0] == 200
        except OSError:
            return False

    def version(self):
        """The version this replica answers an unversioned prediction with (asked directly)."""
        try:
            s, h, b = request(self.port, "POST", "/v1/models/%s/predict" % MODEL, BODY,
                              {"Content-Type": "application/json"}, timeout=10)
        except OSError:
            return None
        return h.get("x-model-version") if s == 200 else None

    def stop(self, sig=signal.SIGTERM, timeout=120):  # bounds a hang, not the drain
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()


class Nginx:
    """nginx in the foreground with everything it writes under prefix, running the shipped
    etc/nginx/glia.conf with the ports rewritten (8080: nginx, 8081..8083: the replicas)."""

    def __init__(self, binary, tmp, port, replica_ports):
        self.prefix = os.path.join(tmp, "nginx")
        os.makedirs(self.prefix)
        with open(os.path.join(tg.ROOT, "etc", "nginx", "glia.conf")) as f:
            site = f.read()
        ports = {"8080": port, "8081": replica_ports[0], "8082": replica_ports[1], "8083": replica_ports[2]}
        site, n = re.subn(r"127\.0\.0\.1:(808[0-3])\b", lambda m: "127.0.0.1:%d" % ports[m.group(1)], site)
        self.rewritten = n
        self.access_log = os.path.join(self.prefix, "access.log")
        site = site.replace("/var/log/nginx/glia.access.log", self.access_log)
        with open(os.path.join(self.prefix, "glia.conf"), "w") as f:
            f.write(site)
        # temp paths inside the prefix: the compiled-in ones are under /var/lib/nginx
        temps = "".join("    %s_temp_path %s;\n" % (k, os.path.join(self.prefix, k))
                        for k in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
        self.error_log = os.path.join(self.prefix, "error.log")
        self.conf = os.path.join(self.prefix, "nginx.conf")
        with open(self.conf, "w") as f:
            # as root nginx would run its worker as nobody, which cannot enter the scratch
            # directory; any other user runs it as itself (and nginx ignores `user`)
            f.write("%sdaemon off;\nworker_processes 1;\npid %s;\nerror_log %s info;\n"
                    "events { worker_connections 512; }\nhttp {\n%s    include %s;\n}\n"
                    % ("user root;\n" if os.geteuid() == 0 else "", os.path.join(self.prefix, "nginx.pid"),
                       self.error_log, temps, os.path.join(self.prefix, "glia.conf")))
        self.port = port
        self.binary = binary
        self.proc = self.out = None

    def test_config(self):
        return subprocess.run([self.binary, "-t", "-p", self.prefix + "/", "-c", self.conf, "-e", self.error_log],
                              capture_output=True, text=True, timeout=60)

    def start(self):
        self.out = open(os.path.join(self.prefix, "stdout.log"), "w")
        self.proc = subprocess.Popen([self.binary, "-p", self.prefix + "/", "-c", self.conf, "-e", self.error_log],
                                     stdout=self.out, stderr=subprocess.STDOUT)

        def listening():
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return True
            except OSError:
                return self.proc.poll() is not None
        return poll(listening, 30) and self.proc.poll() is None

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGQUIT)  # graceful: workers finish their requests
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.out:
            self.out.close()

    def errors(self):
        try:
            with open(self.error_log) as f:
                return f.read()
        except OSError:
            return ""


class Load:
    """CLIENTS threads, each sending predictions through nginx on one kept-alive connection
    (a new one after an error), with a short pause between requests so that three ASan
    builds on two cores keep up. Every outcome is recorded: (start, seconds, status, version)."""

    def __init__(self, port):
        self.port = port
        self.records, self.lock = [], threading.Lock()
        self.stopping, self.go = threading.Event(), threading.Event()
        self.go.set()
        self.inflight = 0
        self.threads = [threading.Thread(target=self.client, daemon=True) for _ in range(CLIENTS)]

    def client(self):
        conn = None
        for _ in range(100000):  # a bound on the loop; stop() ends it long before
            self.go.wait(60)
            if self.stopping.is_set():
                break
            with self.lock:
                self.inflight += 1
            t0 = time.monotonic()
            try:
                if conn is None:
                    conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
                conn.request("POST", "/v1/models/%s/predict" % MODEL, body=BODY,
                             headers={"Content-Type": "application/json"})
                r = conn.getresponse()
                r.read()
                record = (t0, time.monotonic() - t0, r.status, r.getheader("X-Model-Version"))
                if r.getheader("Connection", "").lower() == "close":
                    conn.close()
                    conn = None
            except (OSError, http.client.HTTPException) as e:
                record = (t0, time.monotonic() - t0, "%s: %s" % (type(e).__name__, e), None)
                if conn:
                    conn.close()
                conn = None
            with self.lock:
                self.records.append(record)
                self.inflight -= 1
            time.sleep(0.02)
        if conn:
            conn.close()

    def start(self):
        for t in self.threads:
            t.start()

    def pause(self):
        """Holds the clients and waits until none has a request out."""
        self.go.clear()

        def idle():
            with self.lock:
                return self.inflight == 0
        return poll(idle, 60)

    def resume(self):
        self.go.set()

    def stop(self):
        self.stopping.set()
        self.go.set()
        for t in self.threads:
            t.join(120)

    def count(self):
        with self.lock:
            return len(self.records)

    def between(self, t0, t1):
        with self.lock:
            return [r for r in self.records if t0 <= r[0] < t1]


def percentile(values, p):
    values = sorted(values)
    if not values:
        return float("nan")
    return values[min(len(values) - 1, int(round(p / 100.0 * (len(values) - 1))))]


def follow(replicas, version, since):
    """Waits until every replica, asked directly, answers with version; each one's delay
    from `since` (seconds), or None for one that never did within the hang bound."""
    delays = [None] * len(replicas)

    def all_there():
        for i, r in enumerate(replicas):
            if delays[i] is None and r.version() == version:
                delays[i] = time.monotonic() - since
        return all(d is not None for d in delays)
    poll(all_there, 60)
    return delays


def main():
    gliad, glia = sys.argv[1], sys.argv[2]
    binary = find_nginx()
    if not binary:
        print("1..0 # SKIP nginx is not installed (scripts/setup --test installs Debian's nginx)")
        return 0
    tmp = tempfile.mkdtemp(prefix="glia-test-cluster-")
    os.chmod(tmp, 0o755)
    repo = os.path.join(tmp, "repo")
    write_bundle(os.path.join(repo, MODEL, "1"))
    nginx_port, *ports = free_ports(4)
    replicas = [Replica(gliad, tmp, i, ports[i], repo, trains=(i == 0)) for i in range(3)]
    ng = Nginx(binary, tmp, nginx_port, ports)
    load = None
    try:
        started = [r.start() for r in replicas]
        check("three gliad start on their own ports, sharing one repository",
              all(started), "\n".join(r.text()[-400:] for r in replicas))
        check("etc/nginx/glia.conf names nginx's port and three replicas (one of them twice)", ng.rewritten == 5,
              ng.rewritten)
        t = ng.test_config()
        check("nginx -t accepts etc/nginx/glia.conf", t.returncode == 0, t.stderr)
        check("nginx starts in the foreground with its own prefix", ng.start(), ng.errors()[-800:])

        # ---- before the load: the routing and the replica that does not train ----
        s, h, b = request(nginx_port, "POST", "/v1/models/%s/predict" % MODEL, BODY,
                          {"Content-Type": "application/json"})
        check("a prediction through nginx answers version 1", s == 200 and h.get("x-model-version") == "1", (s, b))
        s, h, b = request(ports[1], "POST", "/v1/train", {"model": MODEL}, ADMIN)
        check("a replica with training.enabled: false answers POST /v1/train 409, naming the setting",
              tg.is_problem(s, h, b, 409) and "training.enabled" in b.get("detail", ""), (s, h, b))
        s, h, b = request(ports[2], "POST", "/v1/datasets?format=jsonl", b'{"text": "a", "label": 0}\n',
                          dict(ADMIN, **{"Content-Type": "application/x-ndjson"}))
        check("... and a data set upload 409 too (no job of the cluster would read it)",
              tg.is_problem(s, h, b, 409) and "training.enabled" in b.get("detail", ""), (s, h, b))
        s, h, b = request(ports[1], "POST", "/v1/jobs/nope/resume", None, ADMIN)
        check("... and a resume 409", tg.is_problem(s, h, b, 409), (s, h, b))
        s, h, b = request(nginx_port, "GET", "/v1/jobs", None, ADMIN)
        check("GET /v1/jobs through nginx reaches the training replica", s == 200 and b == {"jobs": []}, (s, b))

        # ---- steady load, then the events ----
        load = Load(nginx_port)
        load.start()
        poll(lambda: load.count() >= 40, 60)
        t_events = time.monotonic()

        # a replica dies: SIGKILL, a moment of load, then it comes back on the same port
        victim = replicas[2]
        victim.stop(signal.SIGKILL)
        before = load.count()
        poll(lambda: load.count() >= before + 150, 60)
        check("the killed replica restarts on its port", victim.start() and poll(victim.ready, 60),
              victim.text()[-600:])
        before = load.count()
        poll(lambda: load.count() >= before + 20, 60)

        # a replica drains: SIGTERM while it runs a long request (a batch of fashion-cnn
        # images sent to it directly), so that the drain lasts while the load goes on. The
        # load pauses a moment first, so that a busy worker can only be that request.
        drained = replicas[1]
        kept = http.client.HTTPConnection("127.0.0.1", drained.port, timeout=60)
        kept.request("GET", "/healthz")
        kept.getresponse().read()  # a connection kept alive, as nginx keeps its own
        long_answer = []
        big = {"inputs": [{"tensor": {"shape": [1, 28, 28], "data": [0.5] * 784}}] * 400}
        long_request = threading.Thread(target=lambda: long_answer.append(
            request(drained.port, "POST", "/v1/models/fashion-cnn/predict", big)))
        paused = load.pause()
        long_request.start()
        busy = poll(lambda: "glia_inference_workers_busy 1" in
                    request(drained.port, "GET", "/metrics")[2].decode(), 60) if paused else False
        t_drain = time.monotonic()
        drained.proc.send_signal(signal.SIGTERM)
        load.resume()

        def refused():
            try:
                socket.create_connection(("127.0.0.1", drained.port), timeout=5).close()
                return False
            except ConnectionRefusedError:
                return True
            except ConnectionResetError:  # the listener closing as we connected: not yet refused
                return False
        closed = poll(refused, 60)
        still_running = long_request.is_alive()
        try:
            kept.request("POST", "/v1/models/%s/predict" % MODEL, body=BODY,
                         headers={"Content-Type": "application/json"})
            r = kept.getresponse()
            on_kept = (r.status, r.getheader("Content-Type"), r.read().decode())
        except (OSError, http.client.HTTPException) as e:
            on_kept = (repr(e), None, "")
        kept.close()
        check("SIGTERM under load, while a request runs: the replica stops accepting connections at once",
              busy and closed and still_running, (busy, closed, still_running))
        check("... and answers a request on a connection kept alive 503 problem+json (both are retried by nginx)",
              on_kept[0] == 503 and on_kept[1] == "application/problem+json" and "shutting down" in on_kept[2],
              on_kept)
        long_request.join(120)
        rc = drained.stop(signal.SIGTERM)
        t_drained = time.monotonic()
        check("... the running request finishes 200, and the replica exits 0",
              long_answer and long_answer[0][0] == 200 and rc == 0,
              (long_answer[0][0] if long_answer else None, rc, drained.text()[-600:]))
        print("# the drain lasted %.2f s under load" % (t_drained - t_drain))
        check("... and restarts", drained.start() and poll(drained.ready, 60), drained.text()[-600:])
        before = load.count()
        poll(lambda: load.count() >= before + 20, 60)

        # a new version: a training job sent through nginx (to the training replica) publishes
        # version 2 into the shared repository and promotes it
        s, h, b = request(nginx_port, "POST", "/v1/train",
                          {"model": MODEL, "dataset": {"limit": 600, "validation": 100},
                           "recipe": {"epochs": 1, "seed": 3}, "promote": "always"}, ADMIN)
        job = b.get("id") if isinstance(b, dict) else None
        check("POST /v1/train through nginx is accepted (by the training replica)", s == 202 and job, (s, b))
        rec = {}

        def finished():
            rec.update(request(nginx_port, "GET", "/v1/jobs/%s" % job, None, ADMIN)[2])
            return rec.get("status") in ("succeeded", "failed", "cancelled", "interrupted")
        poll(finished, 300)
        t_published = time.monotonic()
        version = rec.get("result", {}).get("version")
        check("the job succeeds and publishes version 2 into the shared repository",
              rec.get("status") == "succeeded" and version == 2 and
              os.path.isfile(os.path.join(repo, MODEL, "2", "model.yaml")), rec)
        with open(os.path.join(repo, MODEL, "labels")) as f:
            labels = json.load(f)
        check("its promotion is written to the repository's labels file", labels.get("stable") == 2, labels)
        delays_new = follow(replicas, "2", t_published)
        check("every replica, asked directly, serves version 2 after its own poll",
              all(d is not None for d in delays_new), delays_new)
        print("# version 2 served by each replica %s s after the job finished (poll interval %.1f s)"
              % ([round(d, 2) if d is not None else None for d in delays_new], POLL_MS / 1e3))

        # a rollback through nginx (to the training replica), followed by every replica
        t_rollback = time.monotonic()
        s, h, b = request(nginx_port, "POST", "/v1/models/%s/versions/1/promote" % MODEL, None, ADMIN)
        check("a rollback to version 1 through nginx -> 200", s == 200, (s, b))
        delays_back = follow(replicas, "1", t_rollback)
        check("every replica, asked directly, serves version 1 again", all(d is not None for d in delays_back),
              delays_back)
        print("# version 1 served again by each replica %s s after the rollback (poll interval %.1f s)"
              % ([round(d, 2) if d is not None else None for d in delays_back], POLL_MS / 1e3))
        within = all(d is not None and d <= POLL_MS / 1e3 + 0.5 for d in delays_new + delays_back)
        print("# every replica followed within the poll interval (+0.5 s to answer): %s" % ("yes" if within else "no"))
        t_end = time.monotonic()
        before = load.count()
        poll(lambda: load.count() >= before + 20, 60)
        load.stop()

        # ---- what the clients saw ----
        records = load.between(0, float("inf"))
        failed = [r for r in records if r[2] != 200]
        during = [r[1] for r in load.between(t_events, t_end) if r[2] == 200]
        steady = [r[1] for r in load.between(0, t_events) if r[2] == 200]
        print("# %d requests through nginx, %d failed; p50/p99 steady %.1f/%.1f ms, during the events %.1f/%.1f ms "
              "(%d requests), max %.1f ms"
              % (len(records), len(failed), 1e3 * percentile(steady, 50), 1e3 * percentile(steady, 99),
                 1e3 * percentile(during, 50), 1e3 * percentile(during, 99), len(during),
                 1e3 * max(during or [0])))
        check("zero failed client requests under kill -9, drain, restarts, publish and rollback",
              records and not failed, failed[:10])
        check("every answer named version 1 or 2", all(r[3] in ("1", "2") for r in records if r[2] == 200))
        check("the load went on through the events (requests answered during them)", len(during) >= 100, len(during))
        with open(ng.access_log) as f:
            lines = [line for line in f if "/predict" in line]
        # "upstream=A, B ustatus=502, 200": tried on A, which failed, then answered by B
        tried = [re.search(r"upstream=(.*?) ustatus=(.*?) urt=", line).groups() for line in lines]
        retried = [(addrs.split(", ")[0], statuses) for addrs, statuses in tried if "," in statuses]
        kinds = {}
        for _, statuses in retried:
            kinds[statuses] = kinds.get(statuses, 0) + 1
        print("# nginx retried %d of %d predictions on another replica: %s" % (len(retried), len(lines), kinds))
        first = {addr for addr, _ in retried}
        check("nginx retried on another replica what the killed replica and the draining one failed",
              "127.0.0.1:%d" % victim.port in first and "127.0.0.1:%d" % drained.port in first, (retried, lines[-5:]))
        for i, r in enumerate(replicas):
            state = os.path.join(r.dir, "state")
            trained = os.path.join(state, "models", MODEL)
            published = os.path.isdir(trained) and os.listdir(trained)
            jobs = os.listdir(os.path.join(state, "jobs")) if os.path.isdir(os.path.join(state, "jobs")) else []
            if i > 0:
                check("replica %d (training off) ran no job and published nothing" % i,
                      not published and not [j for j in jobs if j.endswith(".json")], (published, jobs))
        check("the repository holds versions 1 and 2 and the labels only",
              sorted(os.listdir(os.path.join(repo, MODEL))) == ["1", "2", "labels"],
              os.listdir(os.path.join(repo, MODEL)))

        # ---- the shared labels file: unreadable, then removed ----
        labels_file = os.path.join(repo, MODEL, "labels")
        tg.replace_file(labels_file, b"{stable: 2")
        noticed = poll(lambda: all("ignoring %s/labels" % MODEL in r.text() for r in replicas), 60)
        check("a labels file that is not JSON is reported by every replica at its poll, once",
              noticed and all(r.text().count("ignoring %s/labels" % MODEL) == 1 for r in replicas),
              [r.text()[-300:] for r in replicas])
        check("... and changes nothing: every replica still serves version 1",
              [r.version() for r in replicas] == ["1", "1", "1"])
        os.remove(labels_file)
        check("removed, the config's labels (none: the highest version) apply on every replica",
              follow(replicas, "2", time.monotonic()).count(None) == 0)
        rcs = [r.stop() for r in replicas]
        check("every replica stops cleanly", rcs == [0, 0, 0], rcs)
        texts = "".join(r.text() for r in replicas)
        check("no sanitizer report", "Sanitizer" not in texts and "runtime error" not in texts,
              [line for line in texts.splitlines() if "Sanitizer" in line or "runtime error" in line][:5])
    finally:
        if load:
            load.stop()
        for r in replicas:
            if r.proc and r.proc.poll() is None:
                r.stop(timeout=10)
        ng.stop()
        if os.environ.get("GLIA_TEST_KEEP"):  # the logs of nginx and of each replica, to read
            print("# kept %s" % tmp)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    print("1..%d" % len(tg.results))
    return 0 if all(tg.results) else 1


if __name__ == "__main__":
    sys.exit(main())
