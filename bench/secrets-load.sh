#!/usr/bin/env bash
# Audited secret reads under load (GitHub issue 4): single-secret reads
# (GET .../secrets/{name}: one joined SELECT, decryption, then the audit INSERT) and
# 100-secret dotenv exports (GET .../secrets/export?format=dotenv), on PostgreSQL with the
# server's default durability (synchronous_commit untouched: every read is durably audited).
#
#   bench/secrets-load.sh                                   # 3 runs of 20 s, 32 connections
#   SWITCHBOARD_DB_MAX_CONNECTIONS=32 SWITCHBOARD_WORKERS=2 bench/secrets-load.sh
#   SCENARIOS="read" RUNS=5 CONNECTIONS=64 bench/secrets-load.sh
#   DB_PARAMS='?sslmode=disable' bench/secrets-load.sh     # appended to DATABASE_URL
#
# Server, wrk and PostgreSQL share the machine's cores (not pinned: the database needs CPU too).
# For each scenario: median req/s of the runs with that run's p50/p99, then for the median run
# the PostgreSQL transactions per request, the CPU time per request of the server process and
# of the PostgreSQL processes (from /proc), WAL fsyncs per request (pg_stat_wal: < 1 means
# group commit), how busy the machine's cores were (all processes, /proc/stat), and the audit
# rows written (to compare with the requests wrk counted). Any SWITCHBOARD_* setting in the environment is passed to the server.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
RUNS=${RUNS:-3}
DURATION=${DURATION:-20s}
CONNECTIONS=${CONNECTIONS:-32}
THREADS=${THREADS:-1}
SECRETS=${SECRETS:-100}
SCENARIOS=${SCENARIOS:-"read export list"}
PG_URL=${PG_URL:-postgres://postgres@127.0.0.1:5432}
BIN=${SWITCHBOARD_BIN:-$ROOT/target/release/switchboard}
[[ -x "$BIN" ]] || { echo "no release binary at $BIN (cargo build --release -p switchboard-server)" >&2; exit 1; }
command -v wrk >/dev/null || { echo "wrk missing: apt-get install -y wrk" >&2; exit 1; }

WORK=$(mktemp -d)
DB=bench_secrets_$$
SERVER_PID=
cleanup() {
    if [[ -n "$SERVER_PID" ]]; then kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; fi
    psql "$PG_URL/postgres" -qAtc "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1 || true
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
BASE="http://127.0.0.1:${PORT}"
psql "$PG_URL/postgres" -qAtc "CREATE DATABASE $DB" >/dev/null
export DATABASE_URL="$PG_URL/$DB${DB_PARAMS:-}" SWITCHBOARD_DATA_DIR="$WORK/data" SWITCHBOARD_LISTEN="127.0.0.1:$PORT"
export SWITCHBOARD_MASTER_KEY="k1:$(head -c 32 /dev/urandom | base64)" SWITCHBOARD_LOG=${SWITCHBOARD_LOG:-warn}
unset REDIS_URL

"$BIN" serve >"$WORK/server.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 300); do
    curl -fs "$BASE/healthz" >/dev/null 2>&1 && break
    kill -0 "$SERVER_PID" 2>/dev/null || { tail -20 "$WORK/server.log" >&2; exit 1; }
    sleep 0.1
done
ADMIN=$("$BIN" bootstrap-token)

python3 - "$BASE" "$ADMIN" "$SECRETS" "$WORK" <<'PY'
import json, sys, urllib.request

base, admin, count, work = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]

def call(method, path, body=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(base + path, data=data, method=method)
    req.add_header("Authorization", "Bearer " + admin)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(req) as response:
        return json.loads(response.read() or b"null")

call("POST", "/v1/projects", {"name": "vault"})
call("POST", "/v1/projects/vault/environments", {"name": "production"})
for i in range(count):
    call("PUT", f"/v1/projects/vault/environments/production/secrets/SECRET_{i:03d}",
         {"value": f"value-{i:03d}-" + "x" * 40})
token = call("POST", "/v1/tokens", {"name": "bench-ci", "scopes": ["secrets:read"],
                                    "projects": ["vault"], "environments": ["production"]})["token"]
open(f"{work}/token", "w").write(token)
PY
TOKEN=$(cat "$WORK/token")
AUTH="Authorization: Bearer $TOKEN"
P="$BASE/v1/projects/vault/environments/production/secrets"
declare -A URLS=([read]="$P/SECRET_042" [export]="$P/export?format=dotenv" [list]="$P")
declare -A LABELS=([read]="GET secrets/{name} (audited)" [export]="GET export dotenv, $SECRETS (audited)"
                   [list]="GET secrets (list, no audit)")
curl -fsS -o /dev/null -H "$AUTH" "$P/SECRET_042"
EXPORT_LINES=$(curl -fsS -H "$AUTH" "$P/export?format=dotenv" | wc -l)
[[ "$EXPORT_LINES" == "$SECRETS" ]] || { echo "export has $EXPORT_LINES lines, expected $SECRETS" >&2; exit 1; }

pg_xacts() { psql "$PG_URL/postgres" -qAtc "SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = '$DB'"; }
audit_rows() { psql "$PG_URL/$DB" -qAtc "SELECT count(*) FROM audit_events WHERE action LIKE 'secret.%'"; }
# utime+stime in clock ticks of the given pids (missing ones count 0).
cpu_ticks() { local t=0 p; for p in "$@"; do [[ -r /proc/$p/stat ]] && t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null || echo 0))); done; echo "$t"; }
# PostgreSQL's CPU: its live processes plus backends that already exited (the postmaster's
# reaped children), so a pool connection closed during the run still counts.
pg_ticks() {
    local postmaster
    postmaster=$(pgrep -o -u postgres -x postgres)
    echo $(( $(cpu_ticks $(pgrep -u postgres)) + $(awk '{print $16 + $17}' "/proc/$postmaster/stat") ))
}
HZ=$(getconf CLK_TCK)
wal_syncs() { psql "$PG_URL/postgres" -qAtc "SELECT wal_sync FROM pg_stat_wal"; }
# "busy total" jiffies of the whole machine (every core, every process: others' too).
machine_ticks() { awk '/^cpu /{busy=$2+$3+$4+$7+$8; print busy, busy+$5+$6}' /proc/stat; }

# One wrk run; prints "req/s p50 p99 requests xacts/req server_cpu_ms/req pg_cpu_ms/req
# wal_fsyncs/req machine_busy% audit_rows".
one_run() {
    local url=$1 out x0 x1 s0 s1 g0 g1 a0 a1 f0 f1 m0 m1 reqs
    x0=$(pg_xacts); s0=$(cpu_ticks "$SERVER_PID"); g0=$(pg_ticks); a0=$(audit_rows); f0=$(wal_syncs)
    m0=$(machine_ticks)
    out=$(wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency -H "$AUTH" "$url")
    m1=$(machine_ticks); s1=$(cpu_ticks "$SERVER_PID"); g1=$(pg_ticks)
    sleep 1   # statistics are flushed to pg_stat_database at most once a second
    x1=$(pg_xacts); a1=$(audit_rows); f1=$(wal_syncs)
    if grep -q 'Non-2xx or 3xx\|Socket errors' <<<"$out"; then echo "$out" >&2; echo "errors during the run" >&2; exit 1; fi
    reqs=$(awk '/requests in/{print $1}' <<<"$out")
    read -r mb0 mt0 <<<"$m0"; read -r mb1 mt1 <<<"$m1"
    awk -v reqs="$reqs" -v dx=$((x1 - x0)) -v ds=$((s1 - s0)) -v dg=$((g1 - g0)) -v da=$((a1 - a0)) \
        -v df=$((f1 - f0)) -v busy=$(( (mb1 - mb0) * 100 / (mt1 - mt0) )) -v hz="$HZ" '
        /Requests\/sec/{rps=$2} /^ +50%/{p50=$2} /^ +99%/{p99=$2}
        END{printf "%s %s %s %d %.2f %.3f %.3f %.2f %d%% %s\n", rps, p50, p99, reqs, dx/reqs,
            ds*1000/hz/reqs, dg*1000/hz/reqs, df/reqs, busy, da}' <<<"$out"
}

echo "server: workers=${SWITCHBOARD_WORKERS:-default (1/core)}, db_max_connections=${SWITCHBOARD_DB_MAX_CONNECTIONS:-10 (default)}," \
     "database connections over TLS: $(psql "$PG_URL/postgres" -qAtc "SELECT count(*) FILTER (WHERE s.ssl) || '/' || count(*) FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) WHERE a.datname = '$DB'");" \
     "wrk: $THREADS thread(s), $CONNECTIONS connections; $RUNS runs of $DURATION (median by req/s); $(nproc) cores shared, PostgreSQL on the same host"
printf '%-34s %9s %9s %9s %9s %8s %11s %8s %8s %5s %10s\n' scenario "req/s" p50 p99 requests "xact/req" \
    "server ms/r" "pg ms/r" "fsync/r" "busy" "audit rows"
for scenario in $SCENARIOS; do
    results=()
    for _ in $(seq "$RUNS"); do
        results+=("$(one_run "${URLS[$scenario]}")")
        echo "  run: ${results[-1]}" >&2
    done
    median=$(printf '%s\n' "${results[@]}" | sort -n | awk -v n="$RUNS" '{a[NR]=$0} END{print a[int((n+1)/2)]}')
    read -r rps p50 p99 reqs xpr spr gpr fpr busy rows <<<"$median"
    printf '%-34s %9s %9s %9s %9s %8s %11s %8s %8s %5s %10s\n' "${LABELS[$scenario]}" "$rps" "$p50" "$p99" "$reqs" \
        "$xpr" "$spr" "$gpr" "$fpr" "$busy" "$rows"
done
