#!/usr/bin/env bash
# Builds the fully static `switchboard` binary that the container image ships (`FROM scratch`:
# no libc, no dynamic loader, no OpenSSL) and prints its path.
#
# Why glibc-static and not musl: the musl target (x86_64-unknown-linux-musl) needs its
# rust-std component, which the build machines here cannot download; the glibc target links
# statically with `+crt-static` just as well. glibc 2.34 and later build the `files` and `dns`
# name-service modules into the static libc, so /etc/hosts and DNS (compose and Kubernetes
# service names) resolve from an empty root (scripts/verify-static-root.sh shows both).
# `--target` keeps the flag off build scripts and proc macros, which must stay dynamic.
#
# Usage: scripts/build-static.sh [extra cargo arguments]
set -euo pipefail
cd "$(dirname "$0")/.."

target=x86_64-unknown-linux-gnu
RUSTFLAGS="-C target-feature=+crt-static ${RUSTFLAGS:-}" \
  cargo build --release --locked --target "$target" -p switchboard-server --bin switchboard "$@" >&2
binary="target/$target/release/switchboard"

# Refuse to hand over anything that would need a loader or a shared library at run time.
if readelf -l "$binary" | grep -q 'INTERP'; then
  echo "build-static: $binary asks for a dynamic loader" >&2
  exit 1
fi
if readelf -d "$binary" 2>/dev/null | grep -q 'NEEDED'; then
  echo "build-static: $binary needs shared libraries:" >&2
  readelf -d "$binary" | grep NEEDED >&2
  exit 1
fi
echo "$binary"
