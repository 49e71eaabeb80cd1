#!/usr/bin/env bash
# Headless Chromium for the browser tests (the console's and the OpenFeature web SDK's), from Debian's
# packages: the one browser this machine kind can install without reaching a download site.
# Idempotent; prints the path of the browser it leaves in place.
set -euo pipefail
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }
if ! command -v chromium >/dev/null 2>&1; then
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq chromium chromium-driver >/dev/null
fi
command -v chromium
