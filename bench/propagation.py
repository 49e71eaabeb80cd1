#!/usr/bin/env python3
"""Propagation latency between two instances (GitHub issue 5): how long after instance A answers
a flag change does an SDK stream on instance B announce the new revision?

Starts a private redis-server, creates a PostgreSQL database, and starts two release servers on
it (different ports; same DATABASE_URL, REDIS_URL and SWITCHBOARD_MASTER_KEY). Through A it
creates a project, an environment, a boolean flag and an SDK token; it opens
`GET /v1/sdk/stream` on B and then makes CHANGES changes on A, one at a time, alternating
`POST .../flags/{key}/enable` and `.../disable`. For each change the clock starts when A's
response has been read, and stops when B's stream delivers `event: change` with a revision at
least the one A now serves (read from A's snapshot ETag after the write; the stream reader
timestamps every event on its own thread, so that extra request costs the measurement nothing).
Before each change it waits a random 0..GAP ms so that changes do not phase-lock to the poller.

    bench/propagation.py                          # Redis bus: SYNC_INTERVAL_MS=60000, 3 runs x 300
    bench/propagation.py --mode poll --runs 1     # no Redis, default 1000 ms polling
    bench/propagation.py --changes 200 --runs 5 --gap-ms 20

Environment: SWITCHBOARD_BIN (default target/release/switchboard), PG_URL (server URL without
database, default postgres://postgres@127.0.0.1:5432). Python 3 standard library only. Servers,
redis-server, the database and the temp directory are removed on exit (also on Ctrl-C/SIGTERM).
"""

import argparse
import atexit
import base64
import http.client
import json
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.environ.get("SWITCHBOARD_BIN", os.path.join(ROOT, "target", "release", "switchboard"))
PG_URL = os.environ.get("PG_URL", "postgres://postgres@127.0.0.1:5432")

_procs = []          # servers to stop after each run and on exit
_redis = []          # the private redis-server, stopped on exit
_databases = []      # databases to drop on exit
_tempdirs = []


def stop(procs):
    for proc in reversed(procs):
        if proc.poll() is None:
            proc.terminate()
    for proc in reversed(procs):
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    procs.clear()


def cleanup(everything=True):
    stop(_procs)
    for db in _databases:
        psql(f"DROP DATABASE IF EXISTS {db} WITH (FORCE)", check=False)
    _databases.clear()
    if not everything:
        return
    stop(_redis)
    for path in _tempdirs:
        shutil.rmtree(path, ignore_errors=True)
    _tempdirs.clear()


def _on_signal(signum, _frame):
    sys.exit(128 + signum)   # runs atexit


atexit.register(cleanup)
signal.signal(signal.SIGTERM, _on_signal)
signal.signal(signal.SIGHUP, _on_signal)


def psql(sql, check=True):
    subprocess.run(["psql", f"{PG_URL}/postgres", "-qAtc", sql], check=check,
                   stdout=subprocess.DEVNULL, stderr=None if check else subprocess.DEVNULL)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(predicate, seconds, what):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise SystemExit(f"timed out waiting for {what}")


def start_redis(work):
    port = free_port()
    log = open(os.path.join(work, "redis.log"), "wb")
    proc = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1",
                             "--save", "", "--appendonly", "no", "--dir", work],
                            stdout=log, stderr=subprocess.STDOUT)
    _redis.append(proc)

    def up():
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2) as s:
                s.sendall(b"PING\r\n")
                return s.recv(16).startswith(b"+PONG")
        except OSError:
            return False
    wait_until(up, 10, "redis-server")
    return f"redis://127.0.0.1:{port}/0"


def healthy(port):
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=0.5)
        conn.request("GET", "/healthz")
        ok = conn.getresponse().status == 200
        conn.close()
        return ok
    except OSError:
        return False


def start_server(env, name, work):
    port = free_port()
    env = dict(env, SWITCHBOARD_LISTEN=f"127.0.0.1:{port}",
               SWITCHBOARD_DATA_DIR=os.path.join(work, name))
    log = open(os.path.join(work, f"{name}.log"), "wb")
    proc = subprocess.Popen([BIN, "serve"], env=env, stdout=log, stderr=subprocess.STDOUT)
    _procs.append(proc)
    wait_until(lambda: healthy(port) or proc.poll() is not None, 60, f"server {name}")
    if proc.poll() is not None:
        raise SystemExit(f"server {name} exited; see {work}/{name}.log:\n"
                         + open(os.path.join(work, f"{name}.log")).read()[-2000:])
    return proc, port, env


class Api:
    """Keep-alive JSON client for one instance."""

    def __init__(self, port, token):
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        self.token = token

    def call(self, method, path, body=None, token=None):
        headers = {"Authorization": "Bearer " + (token or self.token)}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        self.conn.request(method, path, body=data, headers=headers)
        resp = self.conn.getresponse()
        payload = resp.read()
        if resp.status >= 300 and resp.status != 304:
            raise SystemExit(f"{method} {path}: {resp.status} {payload[:300]!r}")
        return resp, (json.loads(payload) if payload else None)


class Stream(threading.Thread):
    """Reads an SSE stream with http.client and timestamps every `event: change`."""

    def __init__(self, port, token):
        super().__init__(daemon=True)
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        self.conn.request("GET", "/v1/sdk/stream",
                          headers={"Authorization": "Bearer " + token, "Accept": "text/event-stream"})
        self.resp = self.conn.getresponse()
        if self.resp.status != 200:
            raise SystemExit(f"stream: {self.resp.status} {self.resp.read()[:300]!r}")
        self.cond = threading.Condition()
        self.seen = []          # (revision, perf_counter) in arrival order
        self.error = None

    def run(self):
        event = None
        try:
            while True:
                line = self.resp.readline()
                if not line:
                    raise EOFError("stream closed")
                now = time.perf_counter()
                line = line.rstrip(b"\r\n")
                if line.startswith(b"event:"):
                    event = line[6:].strip()
                elif line.startswith(b"data:") and event == b"change":
                    revision = json.loads(line[5:])["revision"]
                    with self.cond:
                        self.seen.append((revision, now))
                        self.cond.notify_all()
                elif not line:
                    event = None
        except Exception as error:  # noqa: BLE001 - reported by the waiter
            with self.cond:
                self.error = error
                self.cond.notify_all()

    def wait_for(self, revision, timeout):
        """perf_counter time of the first event with a revision >= `revision`, or None."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                for rev, at in self.seen:
                    if rev >= revision:
                        return at
                if self.error is not None:
                    raise SystemExit(f"stream failed: {self.error}")
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self.cond.wait(left)

    def close(self):
        try:
            self.conn.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.conn.close()


def etag_revision(resp):
    return int(resp.getheader("ETag").strip('"').split("-")[0])


def percentile(sorted_values, p):
    """Nearest-rank percentile."""
    rank = max(1, -(-len(sorted_values) * p // 100))
    return sorted_values[int(rank) - 1]


def one_run(args, run, work):
    db = f"bench_prop_{os.getpid()}_{run}"
    psql(f"DROP DATABASE IF EXISTS {db} WITH (FORCE)", check=False)
    psql(f"CREATE DATABASE {db}")
    _databases.append(db)
    env = dict(os.environ,
               DATABASE_URL=f"{PG_URL}/{db}",
               SWITCHBOARD_MASTER_KEY="k1:" + base64.b64encode(os.urandom(32)).decode(),
               SWITCHBOARD_SYNC_INTERVAL_MS=str(args.sync_interval_ms),
               SWITCHBOARD_LOG=os.environ.get("SWITCHBOARD_LOG", "warn"))
    env.pop("REDIS_URL", None)
    if args.mode == "redis":
        env["REDIS_URL"] = args.redis_url
    run_dir = os.path.join(work, f"run{run}")
    os.makedirs(run_dir)
    # A first: it applies the migrations; B then finds them applied.
    _, port_a, env_a = start_server(env, "a", run_dir)
    _, port_b, _ = start_server(env, "b", run_dir)
    admin = subprocess.run([BIN, "bootstrap-token"], env=env_a, check=True,
                           capture_output=True, text=True).stdout.strip()

    a = Api(port_a, admin)
    a.call("POST", "/v1/projects", {"name": "prop"})
    a.call("POST", "/v1/projects/prop/environments", {"name": "production"})
    a.call("POST", "/v1/projects/prop/flags", {"key": "switch", "type": "boolean"})
    _, issued = a.call("POST", "/v1/tokens", {"name": "prop-sdk", "scopes": ["flags:read"],
                                              "projects": ["prop"], "environments": ["production"]})
    sdk = issued["token"]
    # Load the environment into A's cache (A reloads cached environments after its writes).
    resp, _ = a.call("GET", "/v1/sdk/snapshot", token=sdk)
    start_revision = etag_revision(resp)

    stream = Stream(port_b, sdk)
    stream.start()
    if stream.wait_for(start_revision, 10) is None:
        raise SystemExit("B's stream sent no initial event")

    flag = "/v1/projects/prop/environments/production/flags/switch"
    rng = random.Random(run)
    latencies, early, missed = [], 0, 0
    expected = start_revision
    wall = time.monotonic()
    for i in range(args.changes):
        if time.monotonic() - wall > args.max_seconds:
            print(f"run {run}: stopping after {i} changes (--max-seconds)", file=sys.stderr)
            break
        time.sleep(rng.uniform(0, args.gap_ms) / 1000)
        a.call("POST", f"{flag}/{'enable' if i % 2 == 0 else 'disable'}")
        written = time.perf_counter()
        resp, _ = a.call("GET", "/v1/sdk/snapshot", token=sdk)
        revision = etag_revision(resp)
        if revision <= expected:
            raise SystemExit(f"change {i}: A still serves revision {revision}")
        expected = revision
        arrived = stream.wait_for(revision, args.timeout)
        if arrived is None:
            missed += 1
            continue
        if arrived < written:
            early += 1
        latencies.append(max(0.0, arrived - written) * 1000)
    stream.close()
    cleanup(everything=False)   # this run's servers and database

    values = sorted(latencies)
    result = {
        "run": run, "mode": args.mode, "sync_interval_ms": args.sync_interval_ms,
        "changes": len(values) + missed, "missed": missed, "before_response": early,
        "p50_ms": round(percentile(values, 50), 2), "p90_ms": round(percentile(values, 90), 2),
        "p99_ms": round(percentile(values, 99), 2), "max_ms": round(values[-1], 2),
        "mean_ms": round(statistics.fmean(values), 2),
    }
    print(json.dumps(result), flush=True)
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mode", choices=["redis", "poll"], default="redis",
                        help="redis: Redis bus, polling every 60 s; poll: no Redis, polling only")
    parser.add_argument("--changes", type=int, default=300)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--gap-ms", type=float, default=None,
                        help="random pause before each change (default 50; poll mode: the interval)")
    parser.add_argument("--sync-interval-ms", type=int, default=None,
                        help="default 60000 in redis mode, 1000 (the server default) in poll mode")
    parser.add_argument("--timeout", type=float, default=10.0, help="per change, seconds")
    parser.add_argument("--max-seconds", type=float, default=900.0, help="per run")
    args = parser.parse_args()
    if args.sync_interval_ms is None:
        args.sync_interval_ms = 60000 if args.mode == "redis" else 1000
    if args.gap_ms is None:
        args.gap_ms = 50.0 if args.mode == "redis" else float(args.sync_interval_ms)
    if not (1 <= args.runs <= 20 and 1 <= args.changes <= 10000):
        raise SystemExit("--runs 1..20, --changes 1..10000")

    work = tempfile.mkdtemp(prefix="sb-propagation-")
    _tempdirs.append(work)
    if args.mode == "redis":
        args.redis_url = start_redis(work)
    results = []
    for run in range(1, args.runs + 1):
        results.append(one_run(args, run, work))
    keys = ["p50_ms", "p90_ms", "p99_ms", "max_ms"]
    medians = {k: statistics.median(r[k] for r in results) for k in keys}
    print(f"mode={args.mode} sync_interval_ms={args.sync_interval_ms} runs={len(results)} "
          f"changes/run={args.changes} gap=0..{args.gap_ms:g} ms")
    print(f"{'run':>4} {'p50':>9} {'p90':>9} {'p99':>9} {'max':>9} {'missed':>7} {'early':>6}")
    for r in results:
        print(f"{r['run']:>4} " + " ".join(f"{r[k]:>9.2f}" for k in keys)
              + f" {r['missed']:>7} {r['before_response']:>6}")
    print("median " + " ".join(f"{medians[k]:>9.2f}" for k in keys) + "   (ms)")


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit(130)
