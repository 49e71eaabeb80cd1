#!/usr/bin/env python3
"""Memory of idle SDK streams (GitHub issue 5): the server's RSS before and after opening STREAMS
`GET /v1/sdk/stream` connections that then sit idle.

Each run starts a fresh release server (SQLite in a temp dir, no Redis, default workers),
creates a project, an environment, a flag and an SDK token, warms up (a snapshot read, 10 streams
opened and closed), reads VmRSS from /proc/<pid>/status, opens the streams with non-blocking
sockets (sends the request, reads the headers and the first `event: change`, then just holds the
socket), waits for RSS to settle, checks `switchboard_sdk_streams_open` on /metrics, reads VmRSS
again, closes everything, waits until the gauge is back to 0 (the server notices a departed client
within two heartbeats, when a write fails) and reads it a third time.

    bench/stream-memory.py                       # 3 runs of 1000 streams
    bench/stream-memory.py --streams 2000 --runs 5

Environment: SWITCHBOARD_BIN (default target/release/switchboard). Standard library only; the
server and the temp dir are removed on exit.
"""

import argparse
import atexit
import http.client
import json
import os
import selectors
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.environ.get("SWITCHBOARD_BIN", os.path.join(ROOT, "target", "release", "switchboard"))

_procs, _tempdirs, _socks = [], [], []


def cleanup():
    for s in _socks:
        s.close()
    _socks.clear()
    for proc in _procs:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    _procs.clear()
    for path in _tempdirs:
        shutil.rmtree(path, ignore_errors=True)
    _tempdirs.clear()


atexit.register(cleanup)
for _sig in (signal.SIGTERM, signal.SIGHUP):
    signal.signal(_sig, lambda signum, _f: sys.exit(128 + signum))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def request(port, method, path, token, body=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    headers = {"Authorization": "Bearer " + token}
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    conn.request(method, path, body=data, headers=headers)
    resp = conn.getresponse()
    payload = resp.read()
    conn.close()
    if resp.status >= 300:
        raise SystemExit(f"{method} {path}: {resp.status} {payload[:300]!r}")
    return payload


def open_streams(port, token, count, timeout=60):
    """Opens `count` streams; returns once each has delivered its first event."""
    req = (f"GET /v1/sdk/stream HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
           f"Authorization: Bearer {token}\r\nAccept: text/event-stream\r\n\r\n").encode()
    sel = selectors.DefaultSelector()
    socks = []
    for _ in range(count):
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
        s.sendall(req)
        s.setblocking(False)
        sel.register(s, selectors.EVENT_READ, bytearray())
        socks.append(s)
    _socks.extend(socks)
    pending = len(socks)
    deadline = time.monotonic() + timeout
    while pending and time.monotonic() < deadline:
        for key, _ in sel.select(timeout=1):
            chunk = key.fileobj.recv(65536)
            if not chunk:
                raise SystemExit("a stream closed early")
            buf = key.data
            buf += chunk
            at = buf.find(b"event: change")
            if at >= 0 and buf.find(b"\n\n", at) >= 0:
                if not buf.startswith(b"HTTP/1.1 200"):
                    raise SystemExit(f"stream refused: {bytes(buf[:200])!r}")
                sel.unregister(key.fileobj)
                pending -= 1
    sel.close()
    if pending:
        raise SystemExit(f"{pending} streams sent no first event within {timeout}s")
    return socks


def metric(port, name):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("GET", "/metrics")
    text = conn.getresponse().read().decode()
    conn.close()
    for line in text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return line
    return None


def wait_gauge(port, value, seconds):
    """Polls /metrics until the open-streams gauge reads `value`; the time it did, or None."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if metric(port, "switchboard_sdk_streams_open") == f"switchboard_sdk_streams_open {value}":
            return time.monotonic()
        time.sleep(0.25)
    return None


def settle(pid, seconds=3.0):
    time.sleep(seconds)
    return rss_kib(pid)


def one_run(args, run):
    work = tempfile.mkdtemp(prefix="sb-streams-")
    _tempdirs.append(work)
    port = free_port()
    env = dict(os.environ, SWITCHBOARD_LISTEN=f"127.0.0.1:{port}",
               SWITCHBOARD_DATA_DIR=os.path.join(work, "data"),
               SWITCHBOARD_LOG=os.environ.get("SWITCHBOARD_LOG", "warn"))
    for var in ("DATABASE_URL", "REDIS_URL", "SWITCHBOARD_MASTER_KEY"):
        env.pop(var, None)
    if args.workers is not None:
        env["SWITCHBOARD_WORKERS"] = str(args.workers)
    log = open(os.path.join(work, "server.log"), "wb")
    proc = subprocess.Popen([BIN, "serve"], env=env, stdout=log, stderr=subprocess.STDOUT)
    _procs.append(proc)
    deadline = time.monotonic() + 60
    while True:
        try:
            request(port, "GET", "/healthz", "")
            break
        except (OSError, SystemExit):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("server did not start:\n" + open(log.name).read()[-2000:])
            time.sleep(0.05)
    admin = subprocess.run([BIN, "bootstrap-token"], env=env, check=True,
                           capture_output=True, text=True).stdout.strip()
    request(port, "POST", "/v1/projects", admin, {"name": "mem"})
    request(port, "POST", "/v1/projects/mem/environments", admin, {"name": "production"})
    request(port, "POST", "/v1/projects/mem/flags", admin, {"key": "switch", "type": "boolean"})
    sdk = json.loads(request(port, "POST", "/v1/tokens", admin,
                             {"name": "mem-sdk", "scopes": ["flags:read"],
                              "projects": ["mem"], "environments": ["production"]}))["token"]
    request(port, "GET", "/v1/sdk/snapshot", sdk)
    for s in open_streams(port, sdk, 10):
        s.close()
        _socks.remove(s)
    # A stream whose client went away is only noticed when a write fails: the second heartbeat.
    if wait_gauge(port, 0, args.close_wait) is None:
        raise SystemExit("the warm-up streams are still counted as open")

    before = settle(proc.pid)
    started = time.monotonic()
    socks = open_streams(port, sdk, args.streams)
    opened_in = time.monotonic() - started
    after = settle(proc.pid)
    gauge = metric(port, "switchboard_sdk_streams_open")
    for s in socks:
        s.close()
    _socks.clear()
    closed_at = time.monotonic()
    gauge_closed = metric(port, "switchboard_sdk_streams_open")
    released = wait_gauge(port, 0, args.close_wait)
    released_after = None if released is None else round(released - closed_at, 1)
    closed = settle(proc.pid, 1.0)
    cleanup()

    per_stream = (after - before) / args.streams
    result = {"run": run, "streams": args.streams, "rss_before_kib": before,
              "rss_after_kib": after, "rss_closed_kib": closed,
              "kib_per_stream": round(per_stream, 2), "open_seconds": round(opened_in, 2),
              "metric_open": gauge, "metric_just_after_close": gauge_closed,
              "gauge_zero_after_s": released_after}
    print(json.dumps(result), flush=True)
    expected = f"switchboard_sdk_streams_open {args.streams}"
    if gauge != expected:
        raise SystemExit(f"/metrics says {gauge!r}, expected {expected!r}")
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--streams", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--close-wait", type=float, default=45.0,
                        help="seconds to wait for closed streams to leave the gauge "
                             "(the server notices within two heartbeats, 2 x 15 s by default)")
    parser.add_argument("--workers", type=int, default=None,
                        help="SWITCHBOARD_WORKERS (default: the server's, one per core)")
    args = parser.parse_args()
    if not (1 <= args.runs <= 20 and 1 <= args.streams <= 10000):
        raise SystemExit("--runs 1..20, --streams 1..10000")
    results = [one_run(args, run) for run in range(1, args.runs + 1)]
    print(f"{args.streams} idle streams, {len(results)} runs (fresh server each)")
    print(f"{'run':>4} {'before KiB':>11} {'after KiB':>10} {'closed KiB':>11} {'KiB/stream':>11}"
          f" {'gauge->0 s':>11}")
    for r in results:
        print(f"{r['run']:>4} {r['rss_before_kib']:>11} {r['rss_after_kib']:>10} "
              f"{r['rss_closed_kib']:>11} {r['kib_per_stream']:>11.2f} {r['gauge_zero_after_s']!s:>11}")
    print(f"median KiB/stream: {statistics.median(r['kib_per_stream'] for r in results):.2f}; "
          f"metrics while open: {results[-1]['metric_open']}")


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit(130)
