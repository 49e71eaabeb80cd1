#!/usr/bin/env bash
# Installs the OpenFeature SDKs server/tests/api/openfeature_sdks.rs drives, at the versions
# pinned here: the Node server SDK + OFREP provider (node/package-lock.json), the web SDK + OFREP
# web provider + playwright-core (web/package-lock.json), and the Python SDK + OFREP provider
# (python/requirements.txt, into python/.venv). Needs npm and python3 (with venv); the browser
# test also needs Chromium (tests/chromium/install.sh). Run it before the tests with
# SWITCHBOARD_TEST_REQUIRE containing `sdks`, as CI does.
set -euo pipefail
cd "$(dirname "$0")"

(cd node && npm ci --silent --no-audit --no-fund)
(cd web && npm ci --silent --no-audit --no-fund)
if [ ! -x python/.venv/bin/python ]; then
  python3 -m venv python/.venv
fi
python/.venv/bin/python -m pip install --quiet --disable-pip-version-check --requirement python/requirements.txt
