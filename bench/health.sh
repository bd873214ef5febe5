#!/usr/bin/env bash
# Benchmark: /health through the full production layer stack vs a bare axum route, same run,
# and vs the same bare route sending the production header bytes (hdrs): the target is set against
# hdrs, which separates what the layers cost from what the policy's header bytes cost on the wire.
#
# Both servers run in release mode pinned to CPU 0 with a single-threaded tokio runtime
# (TOKIO_WORKER_THREADS=1), and wrk runs pinned to CPU 1, so the two never compete for a core.
# Rounds alternate bare/full so drift on a shared machine hits both alike; the ratio is the
# median of per-round ratios of requests per second. Prints figures, never pass/fail: this
# machine is shared and noisy, so it is not a test.
#
# Usage: bench/health.sh [ROUNDS] [SECONDS]      needs wrk (Debian: apt-get install wrk)
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=bench/lib.sh
. bench/lib.sh
ROUNDS=${1:-5}
SECS=${2:-8}
CONNS=${CONNS:-64}
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}

command -v wrk >/dev/null || { echo "wrk is not installed (apt-get install wrk)" >&2; exit 1; }
cargo build --release -q -p api --bin api --example bare_health

work=$(mktemp -d)
pids=()
cleanup() { kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

BARE_PORT=18081 FULL_PORT=18082 HDRS_PORT=18083
PORT=$BARE_PORT TOKIO_WORKER_THREADS=1 taskset -c "$SERVER_CPU" "$target_dir/release/examples/bare_health" &
pids+=($!)
# Second reference: the bare route sending the same policy headers (same bytes on the wire).
PORT=$HDRS_PORT BARE_HEADERS=production TOKIO_WORKER_THREADS=1 taskset -c "$SERVER_CPU" "$target_dir/release/examples/bare_health" &
pids+=($!)
# The production stack: staging/production settings, JSON logs (discarded), request ids, trace
# spans, timeouts, body limits, JSON errors, and the edge policy's layers where built.
mapfile -t api_env < <(api_production_env "$work")
(cd "$work" && exec env "${api_env[@]}" PORT=$FULL_PORT \
  taskset -c "$SERVER_CPU" "$target_dir/release/api" >"$work/api.log" 2>&1) &
pids+=($!)

for port in $BARE_PORT $HDRS_PORT $FULL_PORT; do
  up=
  for _ in $(seq 1 50); do curl -sf "http://127.0.0.1:$port/health" >/dev/null && up=1 && break; sleep 0.1; done
  [ -n "$up" ] || { echo "server on port $port did not start" >&2; cat "$work/api.log" >&2; exit 1; }
done
for pid in "${pids[@]}"; do
  kill -0 "$pid" 2>/dev/null || { echo "a server exited (is port $BARE_PORT or $FULL_PORT taken?)" >&2; exit 1; }
done

# Request headers a request from Render's edge carries.
HDR=(-H "X-Forwarded-Proto: https" -H "X-Forwarded-For: 203.0.113.7")

rps() { # port -> requests/second
  taskset -c "$CLIENT_CPU" wrk -t1 -c"$CONNS" -d"${SECS}s" "${HDR[@]}" "http://127.0.0.1:$1/health" |
    awk '/^Requests\/sec:/ {print $2}'
}

# Warm all three (page cache, allocator, connection setup).
rps $BARE_PORT >/dev/null; rps $HDRS_PORT >/dev/null; rps $FULL_PORT >/dev/null

median() { sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
printf "%-6s %10s %10s %10s %8s %8s\n" round bare hdrs full full/bare full/hdrs
ratios=() hratios=()
for r in $(seq 1 "$ROUNDS"); do
  bare=$(rps $BARE_PORT); hdrs=$(rps $HDRS_PORT); full=$(rps $FULL_PORT)
  ratio=$(awk -v f="$full" -v b="$bare" 'BEGIN {printf "%.3f", f / b}')
  hratio=$(awk -v f="$full" -v b="$hdrs" 'BEGIN {printf "%.3f", f / b}')
  ratios+=("$ratio"); hratios+=("$hratio")
  printf "%-6s %10.0f %10.0f %10.0f %8s %8s\n" "$r" "$bare" "$hdrs" "$full" "$ratio" "$hratio"
done
echo "health ratio (full stack / bare axum), median of $ROUNDS rounds: $(printf "%s\n" "${ratios[@]}" | median)"
echo "health ratio (full stack / bare axum sending the same headers), median of $ROUNDS rounds: $(printf "%s\n" "${hratios[@]}" | median)   (target >= 0.90)"
