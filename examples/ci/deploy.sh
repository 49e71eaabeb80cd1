#!/bin/sh
# The deploy step of the CI examples, run as `switchboard run -- ./examples/ci/deploy.sh`.
#
# It receives production's secrets and config as environment variables, checks that everything
# it needs arrived (without ever printing a value) and fails otherwise. A real one would render
# manifests and call kubectl, helm or terraform with them.
set -eu

missing=""
for name in DB_PASSWORD STRIPE_KEY SMTP_PASSWORD REPLICAS THEME; do
  eval "value=\${$name:-}"
  [ -n "$value" ] || missing="$missing $name"
done
if [ -n "$missing" ]; then
  echo "deploy: missing variables:$missing (run me as: switchboard run -- $0)" >&2
  exit 1
fi
case "$REPLICAS" in
  *[!0-9]*) echo "deploy: REPLICAS must be a whole number, got '$REPLICAS'" >&2; exit 1 ;;
esac

echo "deploy: rolling out store: $REPLICAS replicas, theme $THEME"
echo "deploy: DB_PASSWORD, STRIPE_KEY, SMTP_PASSWORD received (${#DB_PASSWORD}, ${#STRIPE_KEY}, ${#SMTP_PASSWORD} characters)"
echo "deploy: done"
