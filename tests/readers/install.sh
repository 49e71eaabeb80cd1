#!/usr/bin/env bash
# Installs the dotenv readers that server/tests/api/export_readers.rs reads exports back with,
# at the versions pinned here: python-dotenv (requirements.txt) into ./.venv, the `dotenv`
# npm package (package-lock.json) into ./node_modules, and godotenv (Go) as ./read_go/read_go,
# built offline against the Debian package golang-github-joho-godotenv-dev (GOPATH mode: no
# module download). Needs python3 (with venv), npm, and go with that package.
# Run it before the tests with SWITCHBOARD_TEST_REQUIRE containing `readers`, as CI does.
set -euo pipefail
cd "$(dirname "$0")"

if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check --requirement requirements.txt
npm ci --silent --no-audit --no-fund
# godotenv: the Debian package puts its source in GOPATH form under /usr/share/gocode.
GO111MODULE=off GOPATH=/usr/share/gocode GOPROXY=off GOFLAGS= GOCACHE="${GOCACHE:-$PWD/read_go/.cache}" \
  go build -o read_go/read_go ./read_go
