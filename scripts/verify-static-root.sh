#!/usr/bin/env bash
# Shows that the static binary needs nothing from the filesystem, as in a `FROM scratch` image:
# it runs chrooted in a directory holding only /switchboard, an empty /data, and what a
# container runtime provides (/etc/hosts, /etc/resolv.conf, /dev/null, /dev/random, /dev/urandom), reaches PostgreSQL by a name from
# /etc/hosts (`postgres`, as compose resolves services) and Redis by a name only DNS knows
# (`redis.switchboard.svc.cluster.local`, as in Kubernetes), answers its probes, and serves the
# walkthrough's steps (token, project, environments, config, secret, flag, SDK snapshot) to curl
# on the host. Then SIGTERM: it drains and exits 0.
#
# Usage: scripts/verify-static-root.sh [BINARY]   (default: scripts/build-static.sh builds it)
# Needs: root (chroot, and a DNS stub on 127.0.0.53:53), PostgreSQL on 127.0.0.1:5432 with the
# `test` database and trust auth, and Redis on 127.0.0.1:6379 (as .ci/run provides), python3,
# curl.
set -euo pipefail
cd "$(dirname "$0")/.."

binary=${1:-$(scripts/build-static.sh)}
root=$(mktemp -d)
schema="verify_static_$$"
server_pid="" dns_pid=""
cleanup() {
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null || true
  [ -n "$dns_pid" ] && kill "$dns_pid" 2>/dev/null || true
  psql -q -h 127.0.0.1 -U postgres -d test -c "DROP SCHEMA IF EXISTS $schema CASCADE" >/dev/null 2>&1 || true
  rm -rf "$root"
}
trap cleanup EXIT
say() { printf '== %s\n' "$*"; }

install -m 0755 "$binary" "$root/switchboard"
install -d -m 0700 "$root/data" "$root/etc"
# The device nodes every container runtime provides (the random number generator reads
# /dev/random and /dev/urandom when a static binary cannot reach the getrandom wrapper).
install -d -m 0755 "$root/dev"
mknod -m 0666 "$root/dev/null" c 1 3
mknod -m 0666 "$root/dev/random" c 1 8
mknod -m 0666 "$root/dev/urandom" c 1 9
# The CA roots the image carries (Dockerfile).
install -d -m 0755 "$root/etc/ssl/certs"
cp /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/"
printf '127.0.0.1 localhost postgres\n' > "$root/etc/hosts"
printf 'nameserver 127.0.0.53\n' > "$root/etc/resolv.conf"
say "the root holds only: $(cd "$root" && find . -mindepth 1 | sort | tr '\n' ' ')"
file "$root/switchboard"

python3 scripts/tiny-dns.py 127.0.0.53 53 127.0.0.1 > "$root/dns.log" 2>&1 &
dns_pid=$!
for _ in $(seq 1 50); do grep -q ready "$root/dns.log" && break; sleep 0.1; done
psql -q -h 127.0.0.1 -U postgres -d test -c "CREATE SCHEMA $schema"

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
chroot=$(command -v chroot)
# Only these variables reach the binary (env -i): nothing from the host leaks in.
vars=(
  SWITCHBOARD_LISTEN="0.0.0.0:$port"
  SWITCHBOARD_DATA_DIR=/data
  DATABASE_URL="postgres://postgres@postgres:5432/test?sslmode=disable&options=-c%20search_path%3D$schema"
  REDIS_URL="redis://redis.switchboard.svc.cluster.local:6379"
  SWITCHBOARD_REDIS_PREFIX="$schema"
  SWITCHBOARD_SHUTDOWN_TIMEOUT_SECS=10
)
in_root() { env -i "${vars[@]}" "$chroot" "$root" "$@"; }

say "serve (chrooted)"
# A simple command, so that $! is the server itself (env and chroot exec it).
env -i "${vars[@]}" "$chroot" "$root" /switchboard serve > "$root/serve.log" 2>&1 &
server_pid=$!
ready=""
for _ in $(seq 1 100); do
  if in_root /switchboard healthcheck --ready 2>/dev/null; then ready=1; break; fi
  sleep 0.2
done
[ -n "$ready" ] || { cat "$root/serve.log"; echo "never ready"; exit 1; }
say "healthcheck --ready (chrooted): exit 0; /readyz says $(curl -fsS "http://127.0.0.1:$port/readyz")"

TOKEN=$(in_root /switchboard bootstrap-token)
API="http://127.0.0.1:$port"
P="$API/v1/projects/shop"
call() { curl -fsS -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' "$@"; echo; }
say "walkthrough"
call -X POST "$API/v1/projects" -d '{"name":"shop"}'
call -X POST "$P/environments" -d '{"name":"staging"}'
call -X POST "$P/environments" -d '{"name":"production","parent":"staging"}'
call -X PUT "$P/environments/staging/config/THEME" -d '{"value":"dark"}'
call -X PUT "$P/environments/production/secrets/DB_PASSWORD" -d '{"value":"pa$$ word"}'
call "$P/environments/production/secrets/DB_PASSWORD"
call -X POST "$P/flags" -d '{"key":"new-checkout","type":"boolean"}'
call -X POST "$P/environments/production/flags/new-checkout/enable"
SDK_TOKEN=$(call -X POST "$API/v1/tokens" \
  -d '{"name":"sdk","scopes":["flags:read","config:read"],"projects":["shop"],"environments":["staging","production"],"ttl_seconds":3600}' \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
snapshot=$(curl -fsS -H "Authorization: Bearer $SDK_TOKEN" "$API/v1/sdk/snapshot?project=shop&environment=production") || { curl -sS -H "Authorization: Bearer $SDK_TOKEN" "$API/v1/sdk/snapshot?project=shop&environment=production"; exit 1; }
echo "$snapshot" | python3 -c '
import json, sys
s = json.load(sys.stdin)
assert "new-checkout" in json.dumps(s) and "dark" in json.dumps(s), s
print("SDK snapshot: revision", s.get("revision"), "with the flag and the inherited THEME")'

say "SIGTERM"
started=$SECONDS
kill -TERM "$server_pid"
status=0
wait "$server_pid" || status=$?
server_pid=""
say "exit status $status after $((SECONDS - started)) s"
[ "$status" -eq 0 ] || { cat "$root/serve.log"; exit 1; }
say "the static binary served the walkthrough from an empty root"
