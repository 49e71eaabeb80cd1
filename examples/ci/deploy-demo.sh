#!/usr/bin/env bash
# Plays a whole deploy job against a local server, as the CI examples next to this file do
# against a real one:
#
#   start a stand-in OIDC issuer and a server that trusts it → create project, environment,
#   secrets, config and a flag → issue a short-lived CI token → `switchboard run --
#   ./examples/ci/deploy.sh` → the same keylessly: the trust policy of github-policy.json, the
#   job's OIDC token exchanged by the CLI itself → flip the flag → stop.
#
# Every step checks its outcome; any failure exits non-zero, and the server and the temporary
# data directory are cleaned up whatever happens. CI runs it after the tests (.ci/run).
#
#   SWITCHBOARD_BIN  the binary to use (default: target/debug/switchboard, built if missing)
set -euo pipefail
cd "$(dirname "$0")/../.."

bin=${SWITCHBOARD_BIN:-${CARGO_TARGET_DIR:-target}/debug/switchboard}
# Nothing from the caller's shell may point the demo at another server, token or database.
while IFS= read -r name; do unset "$name"; done < <(compgen -e | grep -E '^(SWITCHBOARD_|DATABASE_URL$|REDIS_URL$)' || true)

step() { printf '\n== %s\n' "$*"; }
fail() { printf '\ndeploy-demo: FAILED: %s\n' "$*" >&2; exit 1; }

work=$(mktemp -d)
server_pid=""
issuer_pid=""
cleanup() {
  local status=$?
  if [ -n "$issuer_pid" ]; then kill "$issuer_pid" 2>/dev/null || true; fi
  if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
    kill -TERM "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  if [ "$status" -ne 0 ] && [ -s "$work/server.log" ]; then
    echo "--- the server's log (last 40 lines)" >&2
    tail -n 40 "$work/server.log" >&2
  fi
  rm -rf "$work"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if [ ! -x "$bin" ]; then
  step "building $bin"
  cargo build -q -p switchboard-server --bin switchboard
fi
[ -x "$bin" ] || fail "no binary at $bin (set SWITCHBOARD_BIN)"

step "starting a stand-in for GitHub's OIDC issuer (HTTPS with a CA of its own; python3, openssl)"
python3 examples/ci/test-issuer.py "$work" 2>"$work/issuer.log" &
issuer_pid=$!
deadline=$((SECONDS + 60))
until [ -s "$work/issuer.env" ]; do
  kill -0 "$issuer_pid" 2>/dev/null || { cat "$work/issuer.log" >&2; fail "the issuer exited"; }
  [ "$SECONDS" -lt "$deadline" ] || fail "the issuer did not start within 60 s"
  sleep 0.1
done
# ISSUER_URL, ISSUER_CA and what a GitHub job finds in its environment:
# ACTIONS_ID_TOKEN_REQUEST_URL and ACTIONS_ID_TOKEN_REQUEST_TOKEN (not exported here).
. "$work/issuer.env"
echo "issuer at $ISSUER_URL"

step "starting a server on a free port (data in a temporary directory), trusting the issuer's CA"
SWITCHBOARD_DATA_DIR="$work/data" SWITCHBOARD_LOG_FORMAT=json SWITCHBOARD_OIDC_CA_FILE="$ISSUER_CA" \
  "$bin" serve --listen 127.0.0.1:0 2>"$work/server.log" &
server_pid=$!
port=""
deadline=$((SECONDS + 60))
while [ -z "$port" ]; do
  kill -0 "$server_pid" 2>/dev/null || fail "the server exited during start-up"
  [ "$SECONDS" -lt "$deadline" ] || fail "the server did not start within 60 s"
  sleep 0.1
  # The port it bound is in its start-up log line.
  port=$(grep '"switchboard is listening"' "$work/server.log" | grep -o '"port":[0-9]*' | head -n 1 | cut -d: -f2 || true)
done
export SWITCHBOARD_URL="http://127.0.0.1:$port"
echo "listening on $SWITCHBOARD_URL"

ADMIN_TOKEN=$(SWITCHBOARD_DATA_DIR="$work/data" "$bin" bootstrap-token --name deploy-demo-admin)
admin() { SWITCHBOARD_TOKEN="$ADMIN_TOKEN" "$bin" "$@"; }

step "an operator sets up project store, environment production, secrets, config and a flag"
admin projects create store --description "Web shop"
admin envs create production --project store
export SWITCHBOARD_PROJECT=store SWITCHBOARD_ENVIRONMENT=production
# Values on stdin, never as arguments (they would land in shell history).
printf '%s' 's3cr3t-production' | admin secrets set DB_PASSWORD
printf '%s' 'sk_live_123' | admin secrets set STRIPE_KEY
printf '%s' 'pa$$ word' | admin secrets set SMTP_PASSWORD
admin config set REPLICAS 3
admin config set THEME dark
admin flags create new-checkout --description "The new checkout flow"

step "issuing the deploy job's token: read production's secrets and config, for 15 minutes"
CI_TOKEN=$(admin tokens issue --name deploy-job --scope secrets:read,config:read \
  --project store --env production --ttl 15m)

step "the deploy job: switchboard run -- ./examples/ci/deploy.sh"
SWITCHBOARD_TOKEN="$CI_TOKEN" "$bin" run -- ./examples/ci/deploy.sh \
  || fail "the deploy step failed"

# A value with `$` and a space arrives exactly as stored.
SWITCHBOARD_TOKEN="$CI_TOKEN" "$bin" run -- sh -c '[ "$SMTP_PASSWORD" = "pa\$\$ word" ]' \
  || fail "SMTP_PASSWORD did not arrive verbatim"
# A variable the job already sets is not silently replaced (exit 2 = usage).
status=0
THEME=light SWITCHBOARD_TOKEN="$CI_TOKEN" "$bin" run -- true 2>/dev/null || status=$?
[ "$status" -eq 2 ] || fail "run replaced THEME set by the job (exit $status, expected 2)"
# The exit code of the deploy step is the job's.
status=0
SWITCHBOARD_TOKEN="$CI_TOKEN" "$bin" run -- sh -c 'exit 3' || status=$?
[ "$status" -eq 3 ] || fail "run did not pass on the deploy step's exit code (got $status)"
# A tool that wants a file: private while it runs, gone afterwards.
SWITCHBOARD_TOKEN="$CI_TOKEN" "$bin" run --mount "$work/deploy.env" -- \
  sh -c 'grep -qx "THEME='\''dark'\''" "$SWITCHBOARD_SECRETS_FILE" && [ "$(stat -c %a "$SWITCHBOARD_SECRETS_FILE")" = 600 ]' \
  || fail "the --mount file was wrong"
[ ! -e "$work/deploy.env" ] || fail "the --mount file outlived the command"

step "keyless: the trust policy of examples/ci/github-policy.json, for this issuer"
sed "s|https://token.actions.githubusercontent.com|$ISSUER_URL|" examples/ci/github-policy.json \
  | admin oidc-policies create - || fail "the example policy was refused"

step "the keyless deploy job: no stored token, the CLI exchanges the job's OIDC token itself"
ACTIONS_ID_TOKEN_REQUEST_URL="$ACTIONS_ID_TOKEN_REQUEST_URL" \
  ACTIONS_ID_TOKEN_REQUEST_TOKEN="$ACTIONS_ID_TOKEN_REQUEST_TOKEN" \
  SWITCHBOARD_OIDC_POLICY=store/github-deploy SWITCHBOARD_OIDC_AUDIENCE=https://switchboard.example.com \
  "$bin" run -- ./examples/ci/deploy.sh || fail "the keyless deploy step failed"
admin audit --project store --action token.exchange --output json | grep -q '"outcome": "issued"' \
  || fail "the exchange is not in the audit trail"
# A job of another repository gets nothing: its token is refused (exit 4).
status=0
ACTIONS_ID_TOKEN_REQUEST_URL="$ACTIONS_ID_TOKEN_REQUEST_URL" \
  ACTIONS_ID_TOKEN_REQUEST_TOKEN="$ACTIONS_ID_TOKEN_REQUEST_TOKEN" \
  SWITCHBOARD_OIDC_POLICY=store/github-deploy SWITCHBOARD_OIDC_AUDIENCE=https://elsewhere.example.com \
  "$bin" run -- true 2>/dev/null || status=$?
[ "$status" -eq 4 ] || fail "a token for another audience was accepted (exit $status, expected 4)"

step "the deploy token may not flip flags (exit 3 = auth)"
status=0
SWITCHBOARD_TOKEN="$CI_TOKEN" "$bin" flags enable new-checkout 2>/dev/null || status=$?
[ "$status" -eq 3 ] || fail "the deploy token changed a flag (exit $status, expected 3)"

step "after the deploy: new-checkout on for 25 % of users"
admin flags enable new-checkout
admin flags rollout new-checkout 25
admin flags get new-checkout --output json | grep -q '"weight": 2500' \
  || fail "the rollout did not take"
admin flags list

step "the audit trail names the deploy job's export (never the values)"
admin audit --project store --action secret.export
admin audit --project store --action secret.export --output json | grep -q '"deploy-job"' \
  || fail "the export is not in the audit trail"

step "stopping the server"
kill -TERM "$server_pid"
wait "$server_pid" || fail "the server did not stop cleanly"
server_pid=""

printf '\ndeploy-demo: OK\n'
