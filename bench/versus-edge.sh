#!/usr/bin/env bash
# Switchboard, Unleash Edge and the ceiling of the stack (bare actix-web answering Switchboard's
# own pre-built bodies) measured alternately in one run, same pinning, same load (issue 21).
#
#   bench/versus-edge.sh                          # builds release binaries, 3 rounds of 8 s
#   ROUNDS=5 DURATION=10s bench/versus-edge.sh
#   BIN=/path/to/switchboard CEILING=/path/to/ceiling bench/versus-edge.sh
#
# Every server is pinned to SERVER_CPU (default 1) with one worker, wrk to LOAD_CPU (default 0),
# 1 thread, 64 connections. Each round runs every scenario against each server in turn, so a
# machine shared with other work drifts alike for all; the claims are the same-run ratios
# (median over rounds of each round's ratio), the absolute figures are context.
# Unleash Edge 20.1.0 comes from ../shared/peers/edge.sh (EDGE_SH=…); without it the Edge
# columns stay empty. Scenarios: full snapshot, 304 revalidation, gzip snapshot, all flags
# evaluated for one context (Edge: /api/frontend).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-8s}
CONNECTIONS=${CONNECTIONS:-64}
FLAGS=${FLAGS:-200}
SERVER_CPU=${SERVER_CPU:-1}
LOAD_CPU=${LOAD_CPU:-0}
PORT=${PORT:-18080}
CEILING_PORT=${CEILING_PORT:-18081}
EDGE_SH=${EDGE_SH:-$ROOT/../shared/peers/edge.sh}
EDGE="http://127.0.0.1:3063"
BASE="http://127.0.0.1:${PORT}"

command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk; }

if [[ -z "${BIN:-}" || -z "${CEILING:-}" ]]; then
    cargo build --release -p switchboard-server -p switchboard-bench-ceiling \
        --manifest-path "$ROOT/Cargo.toml"
fi
BIN=${BIN:-$ROOT/target/release/switchboard}
CEILING=${CEILING:-$ROOT/target/release/ceiling}

WORK=$(mktemp -d)
PIDS=()
EDGE_STARTED=
cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
    [[ -n "$EDGE_STARTED" ]] && "$EDGE_SH" stop || true
    rm -rf "$WORK"
}
trap cleanup EXIT

SWITCHBOARD_DATA_DIR="$WORK/data" SWITCHBOARD_LISTEN="127.0.0.1:${PORT}" SWITCHBOARD_WORKERS=1 \
    SWITCHBOARD_LOG="${SWITCHBOARD_LOG:-info}" \
    taskset -c "$SERVER_CPU" "$BIN" serve >"$WORK/server.log" 2>&1 &
SWITCHBOARD_PID=$!
PIDS+=("$SWITCHBOARD_PID")
for _ in $(seq 100); do curl -fs "$BASE/healthz" >/dev/null 2>&1 && break; sleep 0.1; done
python3 "$ROOT/bench/lib/arrange.py" "$BASE" "$(cat "$WORK/data/initial-admin-token")" "$FLAGS" "$WORK"

# The bodies Switchboard serves, handed to the ceiling as they are.
AUTH="Authorization: Bearer $(cat "$WORK/token")"
URL="$BASE/v1/sdk/snapshot"
ETAG=$(curl -fsS -D - -o "$WORK/snapshot.json" -H "$AUTH" "$URL" | tr -d '\r' |
    awk -F': ' 'tolower($1)=="etag"{print $2}')
curl -fsS -o "$WORK/snapshot.json.gz" -H "$AUTH" -H 'Accept-Encoding: gzip' "$URL"
curl -fsS -o "$WORK/evaluate.out" -X POST -H "$AUTH" -H 'Content-Type: application/json' \
    --data @"$WORK/evaluate.json" "$BASE/v1/evaluate"
taskset -c "$SERVER_CPU" "$CEILING" "127.0.0.1:$CEILING_PORT" "$WORK/snapshot.json" \
    "$WORK/snapshot.json.gz" "$WORK/evaluate.out" "$ETAG" >"$WORK/ceiling.log" 2>&1 &
CEILING_PID=$!
PIDS+=("$CEILING_PID")
for _ in $(seq 100); do
    [[ $(curl -s -o /dev/null -w '%{http_code}' -H "If-None-Match: $ETAG" \
        "http://127.0.0.1:$CEILING_PORT/v1/sdk/snapshot") == 304 ]] && break
    sleep 0.1
done

EDGE_PID=
if [[ -x "$EDGE_SH" ]] && "$EDGE_SH" start "$SERVER_CPU" >"$WORK/edge-start.log" 2>&1; then
    EDGE_STARTED=1
    EDGE_PID=$(cat "${EDGE_STATE:-$HOME/.cache/peers}/edge.pid")
    curl -fs "$EDGE/internal-backstage/health" >/dev/null || EDGE_PID=
fi
[[ -n "$EDGE_PID" ]] || echo "Unleash Edge not available ($EDGE_SH install): its columns stay empty" >&2
EDGE_CLIENT='Authorization: *:development.edgebench-client-secret'
EDGE_FRONTEND='Authorization: *:development.edgebench-frontend-secret'
EDGE_ETAG=
if [[ -n "$EDGE_PID" ]]; then
    EDGE_ETAG=$(curl -fsS -D - -o "$WORK/edge.json" -H "$EDGE_CLIENT" "$EDGE/api/client/features" |
        tr -d '\r' | awk -F': ' 'tolower($1)=="etag"{print $2}')
fi

# Sizes, and that each 304 is a 304.
size() { curl -fsS -o /dev/null -w '%{size_download}' "$@"; }
status() { curl -s -o /dev/null -w '%{http_code}' "$@"; }
[[ $(status -H "$AUTH" -H "If-None-Match: $ETAG" "$URL") == 304 ]] || { echo "no 304 from Switchboard" >&2; exit 1; }
echo "Switchboard: snapshot $(size -H "$AUTH" "$URL") B, gzip $(size -H "$AUTH" -H 'Accept-Encoding: gzip' "$URL") B," \
    "evaluate $(stat -c %s "$WORK/evaluate.out") B ($FLAGS flags)"
if [[ -n "$EDGE_PID" ]]; then
    [[ $(status -H "$EDGE_CLIENT" -H "If-None-Match: $EDGE_ETAG" "$EDGE/api/client/features") == 304 ]] ||
        { echo "no 304 from Edge" >&2; exit 1; }
    echo "Edge: features $(size -H "$EDGE_CLIENT" "$EDGE/api/client/features") B," \
        "gzip $(size -H "$EDGE_CLIENT" -H 'Accept-Encoding: gzip' "$EDGE/api/client/features") B," \
        "frontend $(size -H "$EDGE_FRONTEND" "$EDGE/api/frontend?userId=u123") B"
fi
echo "RSS after arranging (kB): Switchboard $(awk '/VmRSS/{print $2}' /proc/$SWITCHBOARD_PID/status)," \
    "ceiling $(awk '/VmRSS/{print $2}' /proc/$CEILING_PID/status)" \
    "${EDGE_PID:+, Edge $(awk '/VmRSS/{print $2}' /proc/$EDGE_PID/status)}"

CEILING_URL="http://127.0.0.1:$CEILING_PORT"
export WORK ROUNDS DURATION CONNECTIONS LOAD_CPU SWITCHBOARD_PID CEILING_PID EDGE_PID ETAG EDGE_ETAG \
    AUTH EDGE_CLIENT EDGE_FRONTEND URL CEILING_URL EDGE BASE
python3 - <<'PY'
import json, os
e = os.environ
gz = ["-H", "Accept-Encoding: gzip"]
sb = ["-H", e["AUTH"]]
edge = ["-H", e["EDGE_CLIENT"]]
features = e["EDGE"] + "/api/client/features"
ceiling = e["CEILING_URL"] + "/v1/sdk/snapshot"
scenarios = [
    ("full snapshot", sb + [e["URL"]], edge + [features], [ceiling]),
    ("304 revalidation", sb + ["-H", "If-None-Match: " + e["ETAG"], e["URL"]],
     edge + ["-H", "If-None-Match: " + e["EDGE_ETAG"], features],
     ["-H", "If-None-Match: " + e["ETAG"], ceiling]),
    ("gzip snapshot", sb + gz + [e["URL"]], edge + gz + [features], gz + [ceiling]),
    ("evaluate all flags", ["-s", e["WORK"] + "/evaluate.lua", e["BASE"] + "/v1/evaluate"],
     ["-H", e["EDGE_FRONTEND"], e["EDGE"] + "/api/frontend?userId=u123"],
     ["-s", e["WORK"] + "/evaluate.lua", e["CEILING_URL"] + "/v1/evaluate"]),
]
servers = [{"name": "Switchboard", "pid": int(e["SWITCHBOARD_PID"])}]
if e["EDGE_PID"]:
    servers.append({"name": "Edge", "pid": int(e["EDGE_PID"])})
servers.append({"name": "ceiling", "pid": int(e["CEILING_PID"])})
plan = {"rounds": int(e["ROUNDS"]), "duration": e["DURATION"], "connections": int(e["CONNECTIONS"]),
        "load_cpu": int(e["LOAD_CPU"]), "servers": servers,
        "scenarios": [{"name": name, "runs": {"Switchboard": s, "Edge": d, "ceiling": c}}
                      for name, s, d, c in scenarios]}
if not e["EDGE_PID"]:
    for sc in plan["scenarios"]:
        del sc["runs"]["Edge"]
json.dump(plan, open(e["WORK"] + "/plan.json", "w"))
PY
python3 "$ROOT/bench/lib/rounds.py" "$WORK/plan.json"
echo "RSS after the load (kB): Switchboard $(awk '/VmRSS/{print $2}' /proc/$SWITCHBOARD_PID/status)," \
    "ceiling $(awk '/VmRSS/{print $2}' /proc/$CEILING_PID/status)" \
    "${EDGE_PID:+, Edge $(awk '/VmRSS/{print $2}' /proc/$EDGE_PID/status)}"
