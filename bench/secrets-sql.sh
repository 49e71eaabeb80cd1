#!/usr/bin/env bash
# The database's share of an audited secret read (GitHub issue 4), without the HTTP server: the
# statements `GET .../secrets/{name}` sends, replayed with pgbench against the real schema, next to
# two shapes that send fewer round trips for the same work (same rows read, same audit row
# inserted, same commit durability; synchronous_commit untouched):
#
#   six-trips       BEGIN; SELECT place; SELECT secret; SELECT version; INSERT audit; COMMIT
#                   (6 round trips, what server/src/store/secrets.rs::read did until 2026-11-22)
#   joined          BEGIN; one SELECT joining the three; INSERT audit; COMMIT   (4 round trips)
#   two-trips       one SELECT joining the three; INSERT audit, each autocommitted
#                   (2 round trips, what server/src/store/secrets.rs::read does now)
#   one-statement   WITH ... SELECT ..., INSERT audit in one statement        (1 round trip)
#
#   bench/secrets-sql.sh                       # 3 runs of 15 s each, 10 clients (the default pool)
#   CLIENTS=32 RUNS=5 bench/secrets-sql.sh
#
# Each shape is run over TLS (sslmode=prefer, what the server gets from a plain postgres:// URL
# when the database offers TLS) and without (sslmode=disable). Prints the median transactions/s
# and, for that run, the CPU time per transaction of the PostgreSQL processes and of pgbench
# (from /proc). The release server is used only to create the schema and one secret.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
RUNS=${RUNS:-3}
DURATION=${DURATION:-15}
CLIENTS=${CLIENTS:-10}
PG_URL=${PG_URL:-postgres://postgres@127.0.0.1:5432}
BIN=${SWITCHBOARD_BIN:-$ROOT/target/release/switchboard}
[[ -x "$BIN" ]] || { echo "no release binary at $BIN" >&2; exit 1; }
command -v pgbench >/dev/null || { echo "pgbench missing (postgresql-client)" >&2; exit 1; }

WORK=$(mktemp -d)
DB=bench_secretsql_$$
SERVER_PID=
cleanup() {
    if [[ -n "$SERVER_PID" ]]; then kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; fi
    psql "$PG_URL/postgres" -qAtc "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1 || true
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
psql "$PG_URL/postgres" -qAtc "CREATE DATABASE $DB" >/dev/null
export DATABASE_URL="$PG_URL/$DB" SWITCHBOARD_DATA_DIR="$WORK/data" SWITCHBOARD_LISTEN="127.0.0.1:$PORT"
export SWITCHBOARD_MASTER_KEY="k1:$(head -c 32 /dev/urandom | base64)" SWITCHBOARD_LOG=warn
unset REDIS_URL
"$BIN" serve >"$WORK/server.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 300); do curl -fs "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1 && break; sleep 0.1; done
ADMIN=$("$BIN" bootstrap-token)
api() { curl -fsS -X "$1" "http://127.0.0.1:$PORT$2" -H "Authorization: Bearer $ADMIN" -H 'Content-Type: application/json' ${3:+-d "$3"} >/dev/null; }
api POST /v1/projects '{"name":"vault"}'
api POST /v1/projects/vault/environments '{"name":"production"}'
api PUT /v1/projects/vault/environments/production/secrets/SECRET_042 '{"value":"value-042-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"}'
kill "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null || true; SERVER_PID=

AUDIT_COLUMNS="at, actor_token_id, actor_name, source_ip, request_id, action, project, environment, target, before_state, after_state"
AUDIT_VALUES="(extract(epoch from clock_timestamp()) * 1000000)::bigint, 'tok-0123456789', 'bench-ci', '127.0.0.1', 'req-0123456789abcdef', 'secret.read', 'vault', 'production', 'project/vault/environment/production/secrets', NULL, '{\"secrets\":[\"SECRET_042\"]}'"
cat >"$WORK/six-trips.sql" <<SQL
BEGIN;
SELECT p.id AS project_id, e.id AS environment_id FROM environments e JOIN projects p ON p.id = e.project_id WHERE p.name = 'vault' AND e.name = 'production' \gset
SELECT name, version, created_at, updated_at, updated_by FROM secrets WHERE environment_id = :environment_id AND name = 'SECRET_042' \gset
SELECT master_key_id, wrapped_key, ciphertext FROM secret_versions WHERE environment_id = :environment_id AND name = 'SECRET_042' AND version = :version;
INSERT INTO audit_events ($AUDIT_COLUMNS) VALUES ($AUDIT_VALUES);
COMMIT;
SQL
cat >"$WORK/joined.sql" <<SQL
BEGIN;
SELECT p.id, e.id, s.version, s.created_at, s.updated_at, s.updated_by, v.master_key_id, v.wrapped_key, v.ciphertext FROM projects p JOIN environments e ON e.project_id = p.id JOIN secrets s ON s.environment_id = e.id AND s.name = 'SECRET_042' JOIN secret_versions v ON v.environment_id = s.environment_id AND v.name = s.name AND v.version = s.version WHERE p.name = 'vault' AND e.name = 'production';
INSERT INTO audit_events ($AUDIT_COLUMNS) VALUES ($AUDIT_VALUES);
COMMIT;
SQL
cat >"$WORK/two-trips.sql" <<SQL
SELECT p.id AS project_id, e.id AS environment_id, s.name, s.version, s.created_at, s.updated_at, s.updated_by, v.master_key_id, v.wrapped_key, v.ciphertext FROM projects p JOIN environments e ON e.project_id = p.id LEFT JOIN secrets s ON s.environment_id = e.id AND s.name = 'SECRET_042' LEFT JOIN secret_versions v ON v.environment_id = s.environment_id AND v.name = s.name AND v.version = s.version WHERE p.name = 'vault' AND e.name = 'production';
INSERT INTO audit_events ($AUDIT_COLUMNS) VALUES ($AUDIT_VALUES);
SQL
cat >"$WORK/one-statement.sql" <<SQL
WITH r AS (SELECT p.id AS project_id, e.id AS environment_id, s.version, s.created_at, s.updated_at, s.updated_by, v.master_key_id, v.wrapped_key, v.ciphertext FROM projects p JOIN environments e ON e.project_id = p.id JOIN secrets s ON s.environment_id = e.id AND s.name = 'SECRET_042' JOIN secret_versions v ON v.environment_id = s.environment_id AND v.name = s.name AND v.version = s.version WHERE p.name = 'vault' AND e.name = 'production'), a AS (INSERT INTO audit_events ($AUDIT_COLUMNS) SELECT $AUDIT_VALUES FROM r RETURNING id) SELECT r.*, a.id FROM r, a;
SQL

HZ=$(getconf CLK_TCK)
cpu_ticks() { local t=0 p; for p in "$@"; do [[ -r /proc/$p/stat ]] && t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null || echo 0))); done; echo "$t"; }
# PostgreSQL's CPU: its live processes plus the backends that already exited (the postmaster's
# reaped children: cutime + cstime), so connections opened and closed by pgbench count too.
pg_ticks() {
    local postmaster
    postmaster=$(pgrep -o -u postgres -x postgres)
    echo $(( $(cpu_ticks $(pgrep -u postgres)) + $(awk '{print $16 + $17}' "/proc/$postmaster/stat") ))
}
audit_rows() { psql "$PG_URL/$DB" -qAtc "SELECT count(*) FROM audit_events WHERE action = 'secret.read'"; }

# One pgbench run; prints "tps pg_cpu_ms/txn pgbench_cpu_ms/txn".
one_run() { # $1 script, $2 sslmode
    local g0 g1 txns a0 a1 client
    a0=$(audit_rows); g0=$(pg_ticks)
    # `times` reports the subshell's children (pgbench): user and system seconds.
    client=$( (PGSSLMODE=$2 pgbench -n -M prepared -c "$CLIENTS" -j 1 -T "$DURATION" -f "$1" "$PG_URL/$DB" \
               >"$WORK/out" 2>&1 || { cat "$WORK/out" >&2; exit 1; }; times) | tail -1 \
             | awk '{split($1,u,"m"); split($2,s,"m"); print u[1]*60 + u[2] + s[1]*60 + s[2]}')
    g1=$(pg_ticks); a1=$(audit_rows)
    txns=$(awk '/number of transactions actually processed/{split($0,a,": "); split(a[2],b,"/"); print b[1]}' "$WORK/out")
    [[ $((a1 - a0)) -ge $txns ]] || { echo "audit rows $((a1 - a0)) < transactions $txns" >&2; exit 1; }
    awk -v g=$((g1 - g0)) -v c="$client" -v n="$txns" -v hz="$HZ" '/^tps = /{tps=$3} END{printf "%.0f %.3f %.3f\n", tps, g*1000/hz/n, c*1000/n}' "$WORK/out"
}

echo "pgbench -M prepared, $CLIENTS clients, 1 thread; $RUNS runs of ${DURATION}s (median by tps); PostgreSQL on the same 2 shared cores"
printf '%-16s %-8s %8s %14s %18s\n' shape tls "txn/s" "pg CPU ms/txn" "pgbench CPU ms/txn"
for shape in six-trips joined two-trips one-statement; do
    for ssl in prefer disable; do
        results=()
        for _ in $(seq "$RUNS"); do results+=("$(one_run "$WORK/$shape.sql" "$ssl")"); echo "  run: ${results[-1]}" >&2; done
        read -r tps pg client <<<"$(printf '%s\n' "${results[@]}" | sort -n | awk -v n="$RUNS" '{a[NR]=$0} END{print a[int((n+1)/2)]}')"
        printf '%-16s %-8s %8s %14s %18s\n' "$shape" "$([[ $ssl == prefer ]] && echo yes || echo no)" "$tps" "$pg" "$client"
    done
done
