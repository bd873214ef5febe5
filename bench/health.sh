#!/usr/bin/env bash
# Benchmark: /health through the full production layer stack vs a bare axum route, same run.
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

BARE_PORT=18081 FULL_PORT=18082
PORT=$BARE_PORT TOKIO_WORKER_THREADS=1 taskset -c "$SERVER_CPU" target/release/examples/bare_health &
pids+=($!)
# The production stack: staging/production settings, JSON logs (discarded), request ids, trace
# spans, timeouts, body limits, JSON errors, and the edge policy's layers where built.
(cd "$work" && APP_ENV=production PORT=$FULL_PORT HOST=127.0.0.1 LOG_FORMAT=json \
  SESSION_SECRET="bench-$(head -c 32 /dev/urandom | base64)" DATABASE_URL="sqlite://$work/bench.db" \
  TOKIO_WORKER_THREADS=1 exec taskset -c "$SERVER_CPU" "$OLDPWD/target/release/api" >"$work/api.log" 2>&1) &
pids+=($!)

for port in $BARE_PORT $FULL_PORT; do
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

# Warm both (JIT-free, but page cache, allocator and connection setup).
rps $BARE_PORT >/dev/null; rps $FULL_PORT >/dev/null

printf "%-6s %12s %12s %8s\n" round bare_rps full_rps ratio
ratios=()
for r in $(seq 1 "$ROUNDS"); do
  bare=$(rps $BARE_PORT); full=$(rps $FULL_PORT)
  ratio=$(awk -v f="$full" -v b="$bare" 'BEGIN {printf "%.3f", f / b}')
  ratios+=("$ratio")
  printf "%-6s %12.0f %12.0f %8s\n" "$r" "$bare" "$full" "$ratio"
done
median=$(printf "%s\n" "${ratios[@]}" | sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}')
echo "health ratio (full stack / bare axum), median of $ROUNDS rounds: $median   (target >= 0.85)"
