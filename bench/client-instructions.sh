#!/usr/bin/env bash
# Instructions per client call, counted by callgrind (repeatable on a loaded machine, unlike
# nanoseconds): each case runs at two iteration counts; the difference divided by the extra
# iterations is the cost of one call, start-up excluded.
#   bench/client-instructions.sh [case ...]    (default: every case)
set -euo pipefail
cd "$(dirname "$0")/.."
command -v valgrind >/dev/null || { echo "needs valgrind (apt-get install valgrind)" >&2; exit 1; }
binary=$(cargo bench -p switchboard-client --bench instructions --no-run --message-format=json 2>/dev/null |
  python3 -c 'import json,sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["target"]["name"] == "instructions":
        print(m["executable"])')
cases=("$@")
[ ${#cases[@]} -gt 0 ] || cases=(core client with-view static unknown killed-other)
small=100000
large=300000
count() { # case iterations -> total instructions
  local out; out=$(mktemp)
  valgrind --tool=callgrind --callgrind-out-file="$out" "$binary" "$1" "$2" >/dev/null 2>&1
  awk '/^summary:/ { print $2 }' "$out"
  rm -f "$out"
}
printf '%-14s %s\n' case instructions/call
for case in "${cases[@]}"; do
  a=$(count "$case" $small); b=$(count "$case" $large)
  printf '%-14s %s\n' "$case" $(( (b - a) / (large - small) ))
done
