#!/usr/bin/env bash
# The SDK snapshot endpoint with Redis configured (GitHub issue 5): does the shared cache / change
# bus cost the hot path anything? One release server on PostgreSQL with REDIS_URL set (a private
# redis-server), 1 worker pinned to CPU 0, wrk pinned to CPU 1, an environment of 350 flags.
# The same server without REDIS_URL is measured too, on the same database, for comparison.
#
#   bench/snapshot-redis.sh                        # 3 runs of 10 s per scenario and mode
#   RUNS=5 DURATION=20s MODES=redis bench/snapshot-redis.sh
#
# Scenarios: GET /v1/sdk/snapshot 200 (identity) and 304 (If-None-Match). Prints the median
# requests/s of the runs with that run's p50/p99 (wrk --latency), the body size, and how many
# commands Redis processed meanwhile (the hot path should send none).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
RUNS=${RUNS:-3}
DURATION=${DURATION:-10s}
CONNECTIONS=${CONNECTIONS:-64}
FLAGS=${FLAGS:-350}
MODES=${MODES:-"redis none"}
SERVER_CPU=${SERVER_CPU:-0}
LOAD_CPU=${LOAD_CPU:-1}
PG_URL=${PG_URL:-postgres://postgres@127.0.0.1:5432}
BIN=${SWITCHBOARD_BIN:-$ROOT/target/release/switchboard}
[[ -x "$BIN" ]] || { echo "no release binary at $BIN (cargo build --release -p switchboard-server)" >&2; exit 1; }
command -v wrk >/dev/null || { echo "wrk missing: apt-get install -y wrk" >&2; exit 1; }

WORK=$(mktemp -d)
DB=bench_snapredis_$$
SERVER_PID= REDIS_PID=
stop_server() {
    if [[ -n "$SERVER_PID" ]]; then kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; fi
    SERVER_PID=
}
cleanup() {
    stop_server
    if [[ -n "$REDIS_PID" ]]; then kill "$REDIS_PID" 2>/dev/null || true; wait "$REDIS_PID" 2>/dev/null || true; fi
    psql "$PG_URL/postgres" -qAtc "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1 || true
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

REDIS_PORT=$(free_port)
redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no --dir "$WORK" >"$WORK/redis.log" 2>&1 &
REDIS_PID=$!
for _ in $(seq 100); do redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && break; sleep 0.1; done
psql "$PG_URL/postgres" -qAtc "CREATE DATABASE $DB" >/dev/null

PORT=$(free_port)
BASE="http://127.0.0.1:${PORT}"
export DATABASE_URL="$PG_URL/$DB" SWITCHBOARD_DATA_DIR="$WORK/data" SWITCHBOARD_LISTEN="127.0.0.1:$PORT"
export SWITCHBOARD_MASTER_KEY="k1:$(head -c 32 /dev/urandom | base64)" SWITCHBOARD_LOG=${SWITCHBOARD_LOG:-warn}

start_server() { # $1: redis|none
    local redis_env=()
    [[ "$1" == redis ]] && redis_env=(REDIS_URL="redis://127.0.0.1:$REDIS_PORT/0")
    env "${redis_env[@]}" SWITCHBOARD_WORKERS=1 taskset -c "$SERVER_CPU" "$BIN" serve >>"$WORK/server.log" 2>&1 &
    SERVER_PID=$!
    for _ in $(seq 300); do
        curl -fs "$BASE/healthz" >/dev/null 2>&1 && return 0
        kill -0 "$SERVER_PID" 2>/dev/null || break
        sleep 0.1
    done
    echo "server did not start:" >&2; tail -20 "$WORK/server.log" >&2; exit 1
}

read -r FIRST_MODE _ <<<"$MODES"
start_server "$FIRST_MODE"
ADMIN=$("$BIN" bootstrap-token)

# A project, an environment, segments, $FLAGS flags of every type with rules and splits (the
# generator bench/snapshot-load.sh uses too), and an SDK token.
python3 "$ROOT/bench/lib/arrange.py" "$BASE" "$ADMIN" "$FLAGS" "$WORK"

TOKEN=$(cat "$WORK/token")
AUTH="Authorization: Bearer $TOKEN"
URL="$BASE/v1/sdk/snapshot"

# Median (by req/s) of $RUNS wrk runs; prints "req/s p50 p99".
measure() {
    local results=() out
    for _ in $(seq "$RUNS"); do
        out=$(taskset -c "$LOAD_CPU" wrk -t1 -c"$CONNECTIONS" -d"$DURATION" --latency "$@")
        if grep -q 'Non-2xx or 3xx\|Socket errors' <<<"$out"; then echo "$out" >&2; echo "errors during the run" >&2; exit 1; fi
        results+=("$(awk '/Requests\/sec/{rps=$2} /^ +50%/{p50=$2} /^ +99%/{p99=$2} END{print rps, p50, p99}' <<<"$out")")
        echo "  run: ${results[-1]}" >&2
    done
    printf '%s\n' "${results[@]}" | sort -n | awk -v n="$RUNS" '{a[NR]=$0} END{print a[int((n+1)/2)]}'
}

echo "server: 1 worker on CPU $SERVER_CPU (PostgreSQL); wrk: 1 thread, $CONNECTIONS connections on CPU $LOAD_CPU;" \
     "$RUNS runs of $DURATION (median by req/s); $FLAGS flags"
printf '%-12s %-30s %10s %9s %9s %8s\n' redis scenario "req/s" p50 p99 body
first=1
for mode in $MODES; do
    if [[ $first == 0 ]]; then start_server "$mode"; fi
    first=0
    ETAG=$(curl -fsS -D - -o /dev/null -H "$AUTH" "$URL" | tr -d '\r' | awk -F': ' 'tolower($1)=="etag"{print $2}')
    BYTES=$(curl -fsS -o /dev/null -w '%{size_download}' -H "$AUTH" "$URL")
    STATUS_304=$(curl -s -o /dev/null -w '%{http_code}' -H "$AUTH" -H "If-None-Match: $ETAG" "$URL")
    [[ "$STATUS_304" == 304 ]] || { echo "expected 304 for If-None-Match, got $STATUS_304" >&2; exit 1; }
    label=$([[ $mode == redis ]] && echo "REDIS_URL" || echo "none")
    redis_commands() { redis-cli -p "$REDIS_PORT" info stats | tr -d '\r' | awk -F: '$1=="total_commands_processed"{print $2}'; }
    before_cmds=$(redis_commands)
    printf '%-12s %-30s %10s %9s %9s %8s\n' "$label" "GET snapshot (200, identity)" $(measure -H "$AUTH" "$URL") "$BYTES"
    printf '%-12s %-30s %10s %9s %9s %8s\n' "$label" "GET snapshot (304)" $(measure -H "$AUTH" -H "If-None-Match: $ETAG" "$URL") 0
    # The hot path answers from memory: Redis should see nothing but the bus's own traffic.
    echo "  redis commands processed during the $mode runs: $(( $(redis_commands) - before_cmds - 1 ))"
    stop_server
done
