#!/usr/bin/env bash
# Installs the Standard Webhooks reference library (PyPI `standardwebhooks`, pinned in
# requirements.txt) into ./.venv; server/tests/api/webhooks.rs verifies every delivery's
# signature with it (verify.py). Needs python3 with venv. Run it before the tests with
# SWITCHBOARD_TEST_REQUIRE containing `readers`, as CI does.
set -euo pipefail
cd "$(dirname "$0")"

if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check --requirement requirements.txt
