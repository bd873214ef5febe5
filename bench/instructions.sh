#!/usr/bin/env bash
# Benchmark: instructions per request through the real server, over a socket, counted by
# valgrind's callgrind — hyper, the layer stack, the handler, the allocator and the syscall
# wrappers; the kernel's work is not counted. Unlike the wall-clock ratios of health.sh and
# static.sh, the counts repeat to within a few instructions on a busy machine, so they show what
# a change did to the service's own cost.
#
# For each server: start it under callgrind, send N requests on one keep-alive connection
# (bench/keepalive_client.py), stop it; again with 2N; (2N - N) / N is the cost of one request
# without start-up and shutdown. Servers, as health.sh runs them:
#   hdrs    the bare axum route sending the production policy's header bytes (the reference)
#   full    the api binary, APP_ENV=production, every layer, on /health
#   static  the api binary serving the largest hashed asset of frontend/dist (br), if built
# Prints the counts and hdrs/full (the instruction-count analogue of health.sh's full/hdrs).
#
# Usage: bench/instructions.sh [N]      needs valgrind (apt-get install valgrind) and python3
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-4000}
command -v valgrind >/dev/null || { echo "valgrind is not installed (apt-get install valgrind)" >&2; exit 1; }
# shellcheck source=bench/lib.sh
. bench/lib.sh
cargo build --release -q -p api --bin api --example bare_health
work=$(mktemp -d)
server=
cleanup() { [ -z "$server" ] || kill "$server" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
PORT=18191

# total instructions for REQUESTS requests: run NAME REQUESTS PATH [header...]
run() {
  local name=$1 requests=$2 path=$3; shift 3
  local out="$work/$name.$requests.out" vg=(valgrind --tool=callgrind --callgrind-out-file="$work/$name.$requests.out")
  rm -rf "$work/db" && mkdir "$work/db"
  case $name in
    hdrs) env PORT=$PORT BARE_HEADERS=production TOKIO_WORKER_THREADS=1 \
            "${vg[@]}" "$target_dir/release/examples/bare_health" >"$work/log" 2>&1 & ;;
    *) mapfile -t api_env < <(api_production_env "$work/db")
       env "${api_env[@]}" PORT=$PORT SHUTDOWN_DRAIN_SECS=0 FRONTEND_DIR="$PWD/frontend/dist" \
         "${vg[@]}" "$target_dir/release/api" >"$work/log" 2>&1 & ;;
  esac
  server=$!
  local up=
  for _ in $(seq 1 200); do curl -sf -o /dev/null "http://127.0.0.1:$PORT/health" && up=1 && break; sleep 0.2; done
  [ -n "$up" ] || { echo "$name did not start" >&2; cat "$work/log" >&2; exit 1; }
  python3 bench/keepalive_client.py $PORT "$requests" "$path" "$@"
  kill -TERM "$server"; wait "$server" 2>/dev/null || true; server=
  awk '/^summary:/ {print $2; exit}' "$out"
}
per_request() { # NAME PATH [header...]
  local name=$1 a b; shift
  a=$(run "$name" "$N" "$@"); b=$(run "$name" $((2 * N)) "$@")
  echo $(( (b - a) / N ))
}

hdrs=$(per_request hdrs /health "X-Forwarded-Proto: https" "X-Forwarded-For: 203.0.113.7")
full=$(per_request full /health "X-Forwarded-Proto: https" "X-Forwarded-For: 203.0.113.7")
printf '%-8s %12s\n' server instr/request
printf '%-8s %12d\n' hdrs "$hdrs" full "$full"
asset=$( (cd frontend/dist 2>/dev/null && find assets -type f ! -name '*.br' ! -name '*.gz' -printf '%s %p\n' | sort -n | tail -1 | cut -d' ' -f2) || true)
if [ -n "$asset" ]; then
  static=$(per_request static "/$asset" "X-Forwarded-Proto: https" "Accept-Encoding: gzip, br")
  printf '%-8s %12d   (/%s, br)\n' static "$static" "$asset"
else
  echo "static: skipped (build the frontend first: npm --prefix frontend run build)"
fi
echo "hdrs/full (instructions): $(awk -v h="$hdrs" -v f="$full" 'BEGIN {printf "%.3f", h / f}')"
