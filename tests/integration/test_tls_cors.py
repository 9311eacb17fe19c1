#!/usr/bin/python3
# test_tls_cors.py - HTTPS and CORS end to end against the real gliad (TAP output).
#
# Usage: test_tls_cors.py GLIAD GLIA
#   Self-signed certificates are made at test time with openssl (in a temporary directory).
#   TLS: curl --cacert and Python's ssl reach /healthz, a predict (a suspended and resumed
#   request), an upload and two requests on one kept-alive connection; TLS 1.3 and 1.2 are
#   negotiated and 1.1 is refused (skipped, saying so, if the local OpenSSL cannot offer it);
#   plain HTTP on the TLS port fails cleanly and gliad goes on serving; a connection that
#   sends nothing, before or after its handshake, is closed by the header deadline; a
#   missing, non-PEM or world-readable file and a key that is not the certificate's stop the
#   start with a message naming the file (gliad --check as well); a SIGHUP serves a new
#   certificate to new connections, the same one again retires nothing, and a bad new pair
#   leaves the old one serving.
#   CORS: preflights from allowed and other origins, the headers on answers and on errors
#   (404, 405, 413, OIP's {"error"}), OPTIONS without CORS answered 204 with Allow, and a
#   SIGHUP changing the allowed origins.
#   Cost: about 10 s under ASan on a 2-core machine (one daemon, a few failed starts).
import hashlib
import http.client
import json
import os
import re
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import warnings

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import test_gliad as tg  # noqa: E402  (the TAP helpers, the shipped bundle and test images)

check = tg.check
ORIGIN = "https://console.example.com"
ADMIN_TOKEN = "tls-admin-token"


def make_pair(tmp, name, days=2):
    """A self-signed ECDSA certificate for localhost and 127.0.0.1 with its key (mode 600);
    returns (cert path, key path, SHA-256 fingerprint of the DER certificate)."""
    cert, key = os.path.join(tmp, name + ".crt"), os.path.join(tmp, name + ".key")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                    "-nodes", "-keyout", key, "-out", cert, "-days", str(days), "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
                   check=True, capture_output=True)
    os.chmod(key, 0o600)
    der = subprocess.run(["openssl", "x509", "-in", cert, "-outform", "DER"], check=True,
                         capture_output=True).stdout
    return cert, key, hashlib.sha256(der).hexdigest()


def write_config(tmp, tls=None, origins=None, extra=""):
    path = os.path.join(tmp, "gliad.yaml")
    listen = "listen: {address: 127.0.0.1, port: 0%s}\n" % (
        ", tls: {cert_file: %s, key_file: %s}" % tls if tls else "")
    cors = "cors: {allowed_origins: %s, max_age_s: 120}\n" % json.dumps(origins) if origins is not None else ""
    with open(path, "w") as f:
        f.write(listen + cors + extra +
                "workers: 1\nblas_threads: 1\nlimits: {body: 64KiB, header_timeout_ms: 700}\n"
                "models:\n  - {name: fashion-cnn, path: %s}\nstate_dir: %s\n"
                "auth: {admin_token_file: admin.token}\nlog: {level: info}\n" % (tg.BUNDLE, tmp))
    return path


class Gliad:
    """gliad on a free loopback port, its log in a file (the port is read from it)."""

    def __init__(self, gliad, tmp, config):
        self.log_path = os.path.join(tmp, "gliad.log")
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen([gliad, "--config", config], stdout=self.log, stderr=subprocess.STDOUT)
        self.port = None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and self.port is None and self.proc.poll() is None:
            m = re.search(r"listening on \S+ port (\d+)", self.text())
            if m:
                self.port = int(m.group(1))
            else:
                time.sleep(0.02)

    def text(self):
        with open(self.log_path) as f:
            return f.read()

    def reload(self):
        """SIGHUP, then waits for the reload's last log line, done or refused (bounded)."""
        def ends():
            text = self.text()
            return text.count("reload done") + text.count("reload refused")
        before = ends()
        self.proc.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and ends() == before:
            time.sleep(0.05)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(120)  # bounds a hang, not the drain
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = self.proc.wait()
        self.log.close()
        return rc


def context(cafile, version=None):
    ctx = ssl.create_default_context(cafile=cafile)
    if version:
        ctx.minimum_version = ctx.maximum_version = version
    return ctx


def https(d, ctx, method, path, body=None, headers=None):
    c = http.client.HTTPSConnection("localhost", d.port, context=ctx, timeout=30)
    c.request(method, path, body=body, headers=headers or {})
    r = c.getresponse()
    data = r.read()
    c.close()
    return r.status, {k.lower(): v for k, v in r.getheaders()}, data


def handshake(d, ctx):
    """(negotiated version, SHA-256 of the server's certificate) of a new connection, or the error."""
    try:
        with socket.create_connection(("127.0.0.1", d.port), timeout=10) as raw:
            with ctx.wrap_socket(raw, server_hostname="localhost") as s:
                return s.version(), hashlib.sha256(s.getpeercert(binary_form=True)).hexdigest()
    except (ssl.SSLError, OSError) as e:
        return None, repr(e)


def closed_within(sock, seconds):
    """1 if the peer closes sock (EOF or reset) within seconds; bounds the wait."""
    sock.settimeout(seconds)
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True
    except (socket.timeout, ssl.SSLError):
        return False


def tls_checks(gliad, d, tmp, ca):
    ctx = context(ca)
    out = subprocess.run(["curl", "-sS", "--max-time", "30", "--cacert", ca,
                          "https://localhost:%d/healthz" % d.port], capture_output=True, text=True)
    check("curl --cacert reaches /healthz over TLS", out.returncode == 0 and json.loads(out.stdout or "{}") ==
          {"status": "ok"}, out.stdout + out.stderr)
    out = subprocess.run(["curl", "-sS", "--max-time", "30", "https://localhost:%d/healthz" % d.port],
                         capture_output=True, text=True)
    check("curl without the CA refuses the self-signed certificate", out.returncode == 60, out.stderr)

    img = tg.fashion_test_images(1)[0]
    s, h, b = https(d, ctx, "POST", "/v1/models/fashion-cnn/predict", tg.png_bytes(img),
                    {"Content-Type": "image/png"})
    pred = json.loads(b) if s == 200 else b
    check("a predict over TLS (suspended, run by a worker, resumed) answers 200 with a label",
          s == 200 and isinstance(pred, dict) and pred.get("outputs", [{}])[0].get("label"), (s, b[:300]))

    # concurrent clients: handshakes on MHD's threads while workers resume other connections
    statuses = []

    def client():
        for _ in range(3):
            statuses.append(https(d, ctx, "POST", "/v1/models/fashion-cnn/predict", tg.png_bytes(img),
                                  {"Content-Type": "image/png"})[0])
    threads = [threading.Thread(target=client) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)  # bounds a hang
    check("24 predicts from 8 concurrent TLS clients all answer 200", statuses == [200] * 24, statuses)

    c = http.client.HTTPSConnection("localhost", d.port, context=ctx, timeout=30)
    answers, socks = [], []
    for _ in range(3):
        c.request("GET", "/v1/models")
        r = c.getresponse()
        answers.append((r.status, len(r.read())))
        socks.append(c.sock.getsockname() if c.sock else None)
    c.close()
    check("three requests on one kept-alive TLS connection", [a[0] for a in answers] == [200] * 3 and
          socks[0] is not None and socks.count(socks[0]) == 3, (answers, socks))

    lines = "".join(json.dumps({"text": "item %d was %s" % (i, ["bad", "good"][i % 2]),
                                "label": ["negative", "positive"][i % 2]}) + "\n" for i in range(40))
    s, h, b = https(d, ctx, "POST", "/v1/datasets", lines.encode(),
                    {"Content-Type": "application/x-ndjson", "Authorization": "Bearer " + ADMIN_TOKEN})
    up = json.loads(b) if s == 201 else b
    check("an upload streamed to disk over TLS is stored (201, 40 records)",
          s == 201 and up.get("records") == 40, (s, b[:300]))
    s, h, b = https(d, ctx, "POST", "/v1/models/fashion-cnn/predict", b"x" * (65 << 10),
                    {"Content-Type": "image/png"})
    check("a body over limits.body over TLS -> 413", s == 413, (s, b[:200]))

    v13, fp = handshake(d, context(ca, ssl.TLSVersion.TLSv1_3))
    v12, _ = handshake(d, context(ca, ssl.TLSVersion.TLSv1_2))
    check("TLS 1.3 and TLS 1.2 are negotiated", v13 == "TLSv1.3" and v12 == "TLSv1.2", (v13, v12))
    with warnings.catch_warnings():  # Python deprecates TLS 1.1, which is the point here
        warnings.simplefilter("ignore", DeprecationWarning)
        old = context(ca, ssl.TLSVersion.TLSv1_1)
    old.set_ciphers("DEFAULT:@SECLEVEL=0")  # OpenSSL 3 offers TLS 1.1 only at security level 0
    v11, why = handshake(d, old)
    if "NO_PROTOCOLS_AVAILABLE" in why or "no protocols available" in why:
        print("ok %d - TLS 1.1 is refused # SKIP the local OpenSSL cannot offer TLS 1.1 (%s)"
              % (len(tg.results) + 1, why))
        tg.results.append(True)
    else:
        check("TLS 1.1 is refused at the handshake", v11 is None, (v11, why))

    try:
        c = http.client.HTTPConnection("127.0.0.1", d.port, timeout=20)
        c.request("GET", "/healthz")
        plain = c.getresponse().status
    except (http.client.HTTPException, OSError) as e:
        plain = repr(e)
    s, _, _ = https(d, ctx, "GET", "/healthz")
    check("plain HTTP on the TLS port fails without an answer, and gliad goes on serving TLS",
          not isinstance(plain, int) and "timed out" not in plain and s == 200 and d.proc.poll() is None,
          (plain, s))

    # the connection table's header deadline (700 ms here) holds before and after a handshake
    raw = socket.create_connection(("127.0.0.1", d.port), timeout=10)
    silent_tcp = closed_within(raw, 20)
    raw.close()
    raw = socket.create_connection(("127.0.0.1", d.port), timeout=10)
    tls = ctx.wrap_socket(raw, server_hostname="localhost")
    silent_tls = closed_within(tls, 20)
    tls.close()
    check("a connection that sends nothing, before or after its TLS handshake, is closed by the header "
          "deadline", silent_tcp and silent_tls, (silent_tcp, silent_tls))
    return fp


def reload_checks(d, tmp, ca_first, live_cert, live_key):
    """Replaces the served files with a second pair, then with a bad one."""
    cert2, key2, fp2 = make_pair(tmp, "second")
    _, fp1 = handshake(d, context(ca_first))
    for src, dst in ((cert2, live_cert), (key2, live_key)):
        with open(src, "rb") as f, open(dst + ".new", "wb") as g:
            g.write(f.read())
        os.chmod(dst + ".new", 0o600)
        os.replace(dst + ".new", dst)
    d.reload()
    v, fp = handshake(d, context(cert2))
    check("after SIGHUP new connections get the new certificate", v and fp == fp2 and fp2 != fp1,
          (v, fp, fp2, fp1))
    d.reload()
    v, fp = handshake(d, context(cert2))
    check("a SIGHUP with the same files keeps the pair (logged as unchanged, nothing retired)",
          fp == fp2 and "TLS: server.crt is unchanged" in d.text().replace(tmp + "/", ""), (fp, d.text()[-400:]))
    _, _, _ = make_pair(tmp, "third")
    with open(os.path.join(tmp, "third.key"), "rb") as f, open(live_key, "wb") as g:
        g.write(f.read())  # the key of another certificate
    d.reload()
    v, fp = handshake(d, context(cert2))
    log = d.text()
    check("a bad new pair on SIGHUP is refused and logged; the served certificate stays",
          v and fp == fp2 and "TLS: the new certificate is refused" in log and
          "is not the one of the certificate" in log, (v, fp, log[-600:]))
    s, _, _ = https(d, context(cert2), "GET", "/healthz")
    check("gliad serves on after the refused reload", s == 200, s)
    return context(cert2)


def cors_checks(d, tmp, ctx):
    def req(method, path, headers=None, body=None):
        return https(d, ctx, method, path, body, headers)

    pre = {"Origin": ORIGIN, "Access-Control-Request-Method": "POST",
           "Access-Control-Request-Headers": "content-type, authorization"}
    s, h, b = req("OPTIONS", "/v1/models/fashion-cnn/predict", pre)
    check("a preflight from an allowed origin -> 204 with Access-Control-Allow-*",
          s == 204 and h.get("access-control-allow-origin") == ORIGIN and
          "POST" in h.get("access-control-allow-methods", "") and
          "Authorization" in h.get("access-control-allow-headers", "") and
          "Content-Type" in h.get("access-control-allow-headers", "") and
          h.get("access-control-max-age") == "120" and "Origin" in h.get("vary", "") and
          "access-control-allow-credentials" not in h and b == b"", (s, h))
    s, h, b = req("OPTIONS", "/v1/models/fashion-cnn/predict", dict(pre, Origin="https://evil.example"))
    check("a preflight from another origin -> 204 with Allow and no Access-Control-* header",
          s == 204 and h.get("allow") == "POST, OPTIONS" and
          not [k for k in h if k.startswith("access-control-")], (s, h))
    s, h, b = req("OPTIONS", "/v1/models")
    check("OPTIONS without Origin on a known path -> 204 with Allow (RFC 9110 9.3.7)",
          s == 204 and h.get("allow") == "GET, HEAD, OPTIONS", (s, h))
    s, h, b = req("OPTIONS", "/v1/nowhere", pre)
    check("OPTIONS on an unknown path -> 404", s == 404, (s, h))

    hdr = {"Origin": ORIGIN}
    answers = {
        "GET /v1/models 200": req("GET", "/v1/models", hdr),
        "GET /v1/nowhere 404": req("GET", "/v1/nowhere", hdr),
        "DELETE /v1/models 405": req("DELETE", "/v1/models", hdr),
        "POST predict 413": req("POST", "/v1/models/fashion-cnn/predict", dict(hdr, **{"Content-Type": "image/png"}),
                                b"x" * (65 << 10)),
        "GET /v2/models/nope 404 (OIP)": req("GET", "/v2/models/nope", hdr),
        "POST /v1/train 401": req("POST", "/v1/train", hdr, b"{}"),
    }
    bad = {k: (s, h) for k, (s, h, b) in answers.items()
           if str(s) not in k or h.get("access-control-allow-origin") != ORIGIN or "Origin" not in h.get("vary", "")
           or "X-Request-Id" not in h.get("access-control-expose-headers", "")}
    check("answers and errors to an allowed origin carry Allow-Origin, Vary and Expose-Headers",
          not bad, bad)
    oip = answers["GET /v2/models/nope 404 (OIP)"]
    check("an OIP error keeps its {\"error\"} form with CORS headers", "error" in json.loads(oip[2] or b"{}"),
          oip[2][:200])
    s, h, b = req("GET", "/v1/models", {"Origin": "https://evil.example"})
    check("an answer to another origin carries no Access-Control-Allow-Origin (Vary: Origin still)",
          s == 200 and "access-control-allow-origin" not in h and "Origin" in h.get("vary", ""), h)


def cors_reload_checks(d, tmp, ctx, tls):
    write_config(tmp, tls=tls, origins=["https://other.example:8443"])
    d.reload()
    a = https(d, ctx, "GET", "/healthz", headers={"Origin": ORIGIN})[1]
    b = https(d, ctx, "GET", "/healthz", headers={"Origin": "https://other.example:8443"})[1]
    check("SIGHUP replaces the allowed origins", "access-control-allow-origin" not in a and
          b.get("access-control-allow-origin") == "https://other.example:8443", (a, b))
    write_config(tmp, tls=tls, origins=["*"])
    d.reload()
    a = https(d, ctx, "GET", "/healthz", headers={"Origin": ORIGIN})[1]
    check('"*" allows every origin with Access-Control-Allow-Origin: *',
          a.get("access-control-allow-origin") == "*", a)
    write_config(tmp, tls=tls, origins=["https://Console.example.com/"])
    d.reload()
    a = https(d, ctx, "GET", "/healthz", headers={"Origin": ORIGIN})[1]
    check("a malformed origin in the config is refused at reload and the old list stays",
          a.get("access-control-allow-origin") == "*" and "cors.allowed_origins[0]" in d.text(), a)
    write_config(tmp, tls=tls, origins=None)
    d.reload()
    s, h, _ = https(d, ctx, "OPTIONS", "/v1/models/fashion-cnn/predict",
                    headers={"Origin": ORIGIN, "Access-Control-Request-Method": "POST"})
    check("without cors: no CORS header, OPTIONS still 204 with Allow", s == 204 and h.get("allow") and
          not [k for k in h if k.startswith("access-control-") or k == "vary"], h)


def bad_start_checks(gliad, tmp, cert, key):
    """Each bad pair stops the start with a message naming the file and what is wrong."""
    bad = os.path.join(tmp, "bad")
    os.makedirs(bad, exist_ok=True)
    with open(os.path.join(bad, "admin.token"), "w") as f:
        f.write(ADMIN_TOKEN)
    os.chmod(os.path.join(bad, "admin.token"), 0o600)
    notpem = os.path.join(bad, "notpem.crt")
    with open(notpem, "w") as f:
        f.write("this is not a certificate\n")
    os.chmod(notpem, 0o600)  # also given as a key, which must not be readable by others
    garbage = os.path.join(bad, "garbage.crt")
    with open(garbage, "w") as f:
        f.write("-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydA==\n-----END CERTIFICATE-----\n")
    open_key = os.path.join(bad, "open.key")
    with open(key) as f, open(open_key, "w") as g:
        g.write(f.read())
    os.chmod(open_key, 0o644)
    other_cert, other_key, _ = make_pair(bad, "other")
    cases = [
        ("a missing certificate file", (os.path.join(bad, "missing.crt"), key), "missing.crt: cannot read the TLS "
         "certificate file: No such file"),
        ("a certificate file that is not PEM", (notpem, key), "notpem.crt: the TLS certificate file is not PEM"),
        ("a PEM block that is no certificate", (garbage, key), "garbage.crt: not a PEM certificate chain"),
        ("a key file readable by others", (cert, open_key), "open.key: the TLS key file is readable by others"),
        ("a key that is not PEM", (cert, notpem), "notpem.crt: the TLS key file is not PEM"),
        ("a key that is not the certificate's", (cert, other_key), "other.key: the key is not the one of the "
         "certificate in"),
    ]
    for what, pair, want in cases:
        config = write_config(bad, tls=pair)
        try:
            p = subprocess.run([gliad, "--config", config], capture_output=True, text=True, timeout=60)
            rc, err = p.returncode, p.stderr
        except subprocess.TimeoutExpired:
            rc, err = "hang", ""
        check("%s: gliad exits 1 naming the file and the fault" % what, rc == 1 and want in err and
              "gliad: " in err, (rc, err[-400:]))
    p = subprocess.run([gliad, "--config", write_config(bad, tls=(cert, other_key)), "--check"],
                       capture_output=True, text=True, timeout=60)
    ok = subprocess.run([gliad, "--config", write_config(bad, tls=(other_cert, other_key)), "--check"],
                        capture_output=True, text=True, timeout=60)
    check("gliad --check validates the TLS files", p.returncode == 1 and "is not the one" in p.stderr and
          ok.returncode == 0 and "TLS certificate and key ok" in ok.stdout, (p.stderr[-300:], ok.stdout))


def main():
    if len(sys.argv) != 3:
        print("usage: test_tls_cors.py GLIAD GLIA", file=sys.stderr)
        return 2
    gliad = sys.argv[1]
    with tempfile.TemporaryDirectory(prefix="glia-tls-") as tmp:
        with open(os.path.join(tmp, "admin.token"), "w") as f:
            f.write(ADMIN_TOKEN)
        os.chmod(os.path.join(tmp, "admin.token"), 0o600)
        ca, key, _ = make_pair(tmp, "first")
        # the files gliad serves, replaced in place later (a renewal keeps the paths)
        live_cert, live_key = os.path.join(tmp, "server.crt"), os.path.join(tmp, "server.key")
        for src, dst in ((ca, live_cert), (key, live_key)):
            with open(src, "rb") as f, open(dst, "wb") as g:
                g.write(f.read())
        os.chmod(live_key, 0o600)
        tls = ("server.crt", "server.key")  # relative to the config file, like other paths
        d = Gliad(gliad, tmp, write_config(tmp, tls=tls, origins=[ORIGIN, "http://localhost:3000"]))
        check("gliad starts with listen.tls and logs the certificate's fingerprint", d.port and
              "TLS: serving" in d.text(), d.text()[-1500:])
        if d.port:
            try:
                tls_checks(gliad, d, tmp, ca)
                cors_checks(d, tmp, context(ca))
                ctx = reload_checks(d, tmp, ca, live_cert, live_key)
                cors_reload_checks(d, tmp, ctx, tls)
            finally:
                rc = d.stop()
            check("gliad drains and exits 0 after all that", rc == 0, d.text()[-1000:])
        bad_start_checks(gliad, tmp, ca, key)
    print("1..%d" % len(tg.results))
    return 0 if all(tg.results) else 1


if __name__ == "__main__":
    sys.exit(main())
