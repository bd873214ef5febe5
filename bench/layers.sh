#!/usr/bin/env bash
# Benchmark: what a layer costs per request, counted in instructions under callgrind (repeatable
# on a shared, busy machine, unlike wall time): the bare route, then each candidate layer around
# it (ours and tower-http's panic layer, tower-http's CSRF layer on a GET), then the bare route
# sending the production headers (hdrs) and the whole production stack, in-process (no sockets).
# Prints instructions per request and the difference to the bare route. Never pass/fail.
#
# Usage: bench/layers.sh [REQUESTS]     needs valgrind (apt-get install valgrind)
set -euo pipefail
cd "$(dirname "$0")/.."
REQUESTS=${1:-20000}
command -v valgrind >/dev/null || { echo "valgrind is not installed" >&2; exit 1; }
cargo build --release -q -p api --example layer_cost
# shellcheck source=bench/lib.sh
. bench/lib.sh
bin="$target_dir/release/examples/layer_cost"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# Instructions for N requests minus those for N/2 leaves the per-request cost without start-up.
count() {
  valgrind --tool=callgrind --callgrind-out-file="$work/out" "$bin" --only "$1" "$2" >/dev/null 2>"$work/log"
  grep -m1 '^summary:' "$work/out" | awk '{print $2}'
}
printf '%-24s %14s %14s\n' variant instr/request "vs bare"
bare=""
for variant in bare api-catch-panic tower-http-catch-panic tower-http-csrf hdrs stack; do
  full=$(count "$variant" "$REQUESTS")
  half=$(count "$variant" $((REQUESTS / 2)))
  per=$(( (full - half) / (REQUESTS - REQUESTS / 2) ))
  [ -n "$bare" ] || bare=$per
  printf '%-24s %14d %+14d\n' "$variant" "$per" $((per - bare))
done
