#!/usr/bin/env bash
# Installs the dotenv readers that server/tests/api/export_readers.rs reads exports back with,
# at the versions pinned here: python-dotenv (requirements.txt) into ./.venv and the `dotenv`
# npm package (package-lock.json) into ./node_modules. Needs python3 (with venv) and npm.
# Run it before the tests with SWITCHBOARD_TEST_REQUIRE containing `readers`, as CI does.
set -euo pipefail
cd "$(dirname "$0")"

if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check --requirement requirements.txt
npm ci --silent --no-audit --no-fund
