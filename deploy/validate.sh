#!/usr/bin/env bash
# Validates the deployment files offline against their schemas (CI's "deploy manifests" stage):
# - deploy/compose.yaml against the compose-spec JSON schema (check-jsonschema's vendored copy).
#   `docker compose config` would be better still, but the compose v2 plugin is not installable
#   here (Debian's docker-compose is the retired v1, and no Go toolchain to build v2).
# - every complete Kubernetes resource under deploy/kubernetes/ against the Kubernetes JSON
#   schemas (kubernetes-validate, strict: unknown fields are errors), at the oldest supported
#   version (1.30: the preStop sleep action) and the newest the validator knows. Kustomizations
#   and strategic-merge patches (*-patch.yaml) are partial documents: the Rust test
#   server/tests/api/deploy_manifests.rs checks what they refer to.
# Installs the pinned validators (validate-requirements.txt) into deploy/.venv on first use.
set -euo pipefail
cd "$(dirname "$0")"

if [ ! -x .venv/bin/kubernetes-validate ] || [ ! -x .venv/bin/check-jsonschema ]; then
  python3 -m venv .venv
  .venv/bin/python -m pip install --quiet --disable-pip-version-check --requirement validate-requirements.txt
fi

echo "compose.yaml: compose-spec schema"
# The file reads ${POSTGRES_PASSWORD:?…}; schema validation does not interpolate.
.venv/bin/check-jsonschema --builtin-schema vendor.compose-spec compose.yaml

mapfile -t resources < <(find kubernetes -name '*.yaml' ! -name 'kustomization.yaml' ! -name '*-patch.yaml' | sort)
for version in 1.30.0 1.37.0; do
  echo "Kubernetes $version: ${resources[*]}"
  .venv/bin/kubernetes-validate --strict --quiet --kubernetes-version "$version" "${resources[@]}"
done
echo "deploy manifests: valid"
