#!/usr/bin/python3
# test_http_hardening.py - gliad's connection limits and HTTP details, end to end: slow and
# idle connections from other client addresses (127.0.0.2 and up) are closed at their
# deadlines or to keep the reserve while the normal client (127.0.0.1) is served throughout;
# one address gets no more than its share; control characters in the request target are
# refused and never reach the log; the bearer scheme is case-insensitive; absolute-form
# targets are routed; invented methods are one "other" in the metrics (TAP output).
#
# Usage: test_http_hardening.py GLIAD GLIA
#   The deadlines are configured short (1 s) so that the test stays quick; every wait for
#   the daemon is a bound on a hang (tens of seconds), never a measure of its speed.
import os
import re
import select
import shutil
import socket
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import test_gliad  # noqa: E402  (the Daemon and check helpers)
from test_gliad import Daemon, check, is_problem  # noqa: E402

HANG = 30  # seconds: what "never" means for a closure that should come within about one


def connect(port, source, timeout=10):
    return socket.create_connection(("127.0.0.1", port), timeout=timeout, source_address=(source, 0))


def closed_by_server(sock):
    """True if the server has closed sock (end of stream or reset); does not wait."""
    try:
        r, _, _ = select.select([sock], [], [], 0)
        if not r:
            return False
        sock.setblocking(False)
        return sock.recv(4096) == b""
    except (ConnectionResetError, BrokenPipeError):
        return True
    except BlockingIOError:
        return False
    finally:
        sock.setblocking(True)


def raw(port, data, source="127.0.0.1"):
    """Sends data as it is and reads the whole answer (the request asks to close)."""
    s = connect(port, source)
    s.sendall(data)
    out = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        out += chunk
    s.close()
    head, _, body = out.partition(b"\r\n\r\n")
    m = re.match(rb"HTTP/1\.[01] (\d+)", head)
    return (int(m.group(1)) if m else 0), head.decode("latin-1"), body


class Trickler(threading.Thread):
    """Opens a connection from `source` and sends `data` a byte every `every` seconds, until
    the server closes it or `HANG` seconds pass. closed: the server closed it first."""

    def __init__(self, port, source, data, every=0.2):
        super().__init__(daemon=True)
        self.sock = connect(port, source)
        self.data, self.every, self.closed, self.sent = data, every, False, 0

    def run(self):
        end = time.monotonic() + HANG
        while time.monotonic() < end:
            if closed_by_server(self.sock):
                self.closed = True
                break
            if self.sent < len(self.data):
                try:
                    self.sock.send(self.data[self.sent:self.sent + 1])
                    self.sent += 1
                except OSError:
                    self.closed = True
                    break
            time.sleep(self.every)
        self.sock.close()


def metric(d, name, labels):
    text = d.request("GET", "/metrics")[2].decode()
    m = re.search(r"^%s\{%s\} (\S+)$" % (re.escape(name), re.escape(labels)), text, re.M)
    return float(m.group(1)) if m else 0.0


def start(gliad, tmp, limits, what):
    """gliad with these limits.* keys; None (the check failed) if it does not start."""
    d = Daemon(gliad, tmp, limits=limits)
    check("gliad starts with %s" % what, d.port is not None, d.text())
    return d if d.port is not None else None


def deadlines(gliad, tmp):
    d = start(gliad, tmp, "connections: 200, connections_per_client: 0, connections_reserve: 10, "
              "idle_timeout_ms: 60000, header_timeout_ms: 1000, body_timeout_ms: 1000, body_min_rate: 1KiB",
              "1 s header and body deadlines")
    if not d:
        return
    head = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Padding: " + b"a" * 400 + b"\r\n\r\n"
    body = b"POST /v1/predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 500\r\n\r\n"
    tricklers = [Trickler(d.port, "127.0.0.%d" % (2 + i % 3), head) for i in range(24)]
    body_tricklers = []
    for i in range(4):
        t = Trickler(d.port, "127.0.0.5", body + b"{" * 500, every=0.5)
        t.sock.sendall(body)  # the headers at once: only the body trickles
        t.sent = len(body)
        body_tricklers.append(t)
    for t in tricklers + body_tricklers:
        t.start()
    served = failed = 0
    while any(t.is_alive() for t in tricklers + body_tricklers):
        try:
            served += d.request("GET", "/healthz", timeout=10)[0] == 200
        except OSError:
            failed += 1
        time.sleep(0.05)
    check("24 connections trickling their headers are closed by the server",
          all(t.closed for t in tricklers), [(t.closed, t.sent) for t in tricklers])
    check("... before sending all of them (the deadline is not pushed back by bytes)",
          all(t.sent < len(head) for t in tricklers), [t.sent for t in tricklers])
    check("4 connections trickling a body are closed before it is complete",
          all(t.closed and t.sent < len(body) + 500 for t in body_tricklers),
          [(t.closed, t.sent) for t in body_tricklers])
    check("the normal client was served throughout (%d requests, %d failed)" % (served, failed),
          served > 0 and failed == 0)
    header, body_closed = (metric(d, "glia_http_connections_closed_total", 'reason="%s"' % r)
                           for r in ("header", "body"))
    check("closures are counted by reason (header %d, body %d)" % (header, body_closed),
          header >= 24 and body_closed >= 4)
    # an honest request that arrives at once is not touched by the deadlines
    status = d.request("GET", "/healthz")[0]
    check("a complete request is still answered", status == 200, status)
    http_details(d)
    d.stop()
    log = d.text()
    at_start = log[:log.find("listening on")]
    check("no forged log line, and no MHD warning at start",
          not re.search(r"^FORGED", log, re.M) and "WARN" not in at_start,
          [line for line in log.splitlines() if "FORGED" in line or "WARN" in line])


def http_details(d):
    port = d.port
    status, _, body = raw(port, b"GET /healthz%0aFORGED-LINE HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    check("%0a in the path: 400", status == 400 and b"control character" in body, (status, body))
    status, _, body = raw(port, b"GET /v1/models/fashion-cnn%00.yaml HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    check("%00 in the path: 400, not the model cut short", status == 400, (status, body))
    status, _, body = raw(port, b"GET /v2/models/fashion-cnn%1b[31m HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    check("an encoded escape on /v2: 400 in OIP's form", status == 400 and body.startswith(b'{"error"'), body)
    status, _, _ = raw(port, b"GET /v1/models/fashion-cnn%41 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    check("an encoded printable character is not refused (404 for an unknown name)", status == 404, status)
    status, _, _ = raw(port, b"GET /v1/no%c3%a9\\x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    logged = [line for line in d.text().splitlines() if "/v1/no" in line]
    check("bytes outside printable ASCII are escaped in the access log",
          status == 404 and logged and "/v1/no\\xc3\\xa9\\x5cx 404" in logged[-1], logged)

    status, _, body = raw(port, b"GET http://gliad.example:8080/healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    check("an absolute-form target is routed by its path", status == 200 and b"ok" in body, (status, body))
    status, _, _ = raw(port, b"GET HTTP://gliad.example/v1/models/fashion-cnn HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    check("... with the scheme in any case", status == 200, status)

    for header, want in (("bearer s3cret-admin-token", 200), ("BEARER   s3cret-admin-token", 200),
                         ("Bearer s3cret-admin-token", 200), ("Bearers3cret-admin-token", 401),
                         ("bearer wrong", 403)):
        status = d.request("GET", "/v1/jobs", headers={"Authorization": header})[0]
        check("Authorization: %s -> %d" % (header, want), status == want, status)

    answers = [raw(port, b"FOO%d /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n" % i)[:2] for i in range(40)]
    check("an invented method on a route's path: 405 with Allow",
          all(s == 405 and "Allow: GET" in h for s, h in answers), answers[:2])
    answers = [raw(port, b"BAR%d /nothing HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n" % i)[0] for i in range(40)]
    check("an invented method elsewhere: 501", all(s == 501 for s in answers), answers[:4])
    r = d.json("DELETE", "/nothing")
    check("a known method on an unknown path is still 404", is_problem(*r, 404), r)
    text = d.request("GET", "/metrics")[2].decode()
    methods = set(re.findall(r'^glia_http_requests_total\{[^}]*method="([^"]*)"', text, re.M))
    check("invented methods count as one \"other\" method", "other" in methods and
          not any(m.startswith(("FOO", "BAR")) for m in methods), sorted(methods))


def reserve(gliad, tmp):
    d = start(gliad, tmp, "connections: 20, connections_per_client: 8, connections_reserve: 4, "
              "idle_timeout_ms: 60000, header_timeout_ms: 60000, body_timeout_ms: 60000",
              "a table of 20 connections, 8 per client, 60 s deadlines")
    if not d:
        return
    # one address: 8 connections, the 9th and 10th refused at once
    mine = [connect(d.port, "127.0.0.2") for _ in range(10)]
    end = time.monotonic() + HANG
    while time.monotonic() < end and sum(closed_by_server(s) for s in mine) < 2:
        time.sleep(0.05)
    shut = [closed_by_server(s) for s in mine]
    check("one client address holds at most connections_per_client (%d of 10 refused)" % sum(shut),
          sum(shut) == 2, shut)
    # others fill the table with connections that send nothing: without the reserve every slot
    # would stay taken until the 60 s deadline
    others = [connect(d.port, "127.0.0.%d" % (3 + i % 3)) for i in range(20)]
    statuses = []
    for _ in range(10):
        try:
            statuses.append(d.request("GET", "/healthz", timeout=HANG)[0])
        except OSError as e:
            statuses.append(str(e))
    check("a new client is served while others hold the table", statuses == [200] * 10, statuses)
    evicted = metric(d, "glia_http_connections_closed_total", 'reason="reserve"')
    check("the oldest idle connections made room (%d closed)" % evicted, evicted >= 10)
    for s in mine + others:
        s.close()
    d.stop()


def main():
    gliad = sys.argv[1]
    print("1..28")
    tmp = tempfile.mkdtemp(prefix="glia-test-http-")
    try:
        os.makedirs(os.path.join(tmp, "a"))
        os.makedirs(os.path.join(tmp, "b"))
        deadlines(gliad, os.path.join(tmp, "a"))
        reserve(gliad, os.path.join(tmp, "b"))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0 if all(test_gliad.results) and len(test_gliad.results) == 28 else 1


if __name__ == "__main__":
    sys.exit(main())
