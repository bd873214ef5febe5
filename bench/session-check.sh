#!/usr/bin/env bash
# Benchmark: what the per-request session check costs (`revocation::is_current`: the user's
# session epoch and whether the session id is revoked, one statement, every authenticated request).
#
# 1. In-process (crates/api/examples/session_check.rs): the statement itself against `SELECT 1`
#    on the same pool and against the token's HMAC check, sequential latency and 16-way throughput,
#    with 10,000 revoked sessions in the table.
# 2. Over HTTP: `GET /api/session` on the production stack with a live session cookie (HMAC, then
#    the statement) against the same request with a cookie whose signature does not match (HMAC,
#    no statement; answered `{"session": null}`): the same route and layers, so the difference is
#    the check. One connection (CONNS=1), so each request is timed alone rather than queued behind
#    others: the p50 difference is what the check adds to a request. The API runs with a one-thread
#    runtime pinned to CPU 0, wrk on CPU 1; rounds alternate, medians over the rounds.
#
# Prints figures, never pass/fail (shared, noisy machine).
#
# Usage: bench/session-check.sh [ROUNDS] [SECONDS]           needs wrk (apt-get install wrk)
#   DATABASE_URL=postgres://USER@HOST:PORT/EMPTY_DB bench/session-check.sh    on PostgreSQL
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=bench/lib.sh
. bench/lib.sh
ROUNDS=${1:-5}
SECS=${2:-5}
CONNS=${CONNS:-1}
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
PORT=${PORT:-18381}

command -v wrk >/dev/null || { echo "wrk is not installed (apt-get install wrk)" >&2; exit 1; }
# Two builds: the example links the dev-dependencies, whose features must not reach the server.
cargo build --release -q -p api --bin api
cargo build --release -q -p api --example session_check
bin="$target_dir/release/api"

work=$(mktemp -d)
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
export DATABASE_URL=${DATABASE_URL:-sqlite://$work/session-check.db}

echo "== in-process: revocation::is_current"
"$target_dir/release/examples/session_check" "$DATABASE_URL" 20000

echo
echo "== over HTTP: GET /api/session, live session vs a cookie that fails its signature"
SESSION_SECRET="bench-$(head -c 32 /dev/urandom | base64)"
export APP_ENV=production HOST=127.0.0.1 PORT LOG_FORMAT=json SHUTDOWN_DRAIN_SECS=0 SESSION_SECRET
printf '%s' "session check password" | (cd "$work" && "$bin" user add --email check@example.com) >/dev/null
(cd "$work" && TOKIO_WORKER_THREADS=1 exec taskset -c "$SERVER_CPU" "$bin" >"$work/api.log" 2>&1) &
pid=$!
up=
for _ in $(seq 1 50); do curl -sf "http://127.0.0.1:$PORT/health" >/dev/null && up=1 && break; sleep 0.1; done
if [ -z "$up" ] || ! kill -0 "$pid" 2>/dev/null; then echo "the api did not start (is port $PORT taken?)" >&2; cat "$work/api.log" >&2; exit 1; fi

HDR=(-H "X-Forwarded-Proto: https" -H "X-Forwarded-For: 203.0.113.7, 104.16.0.1")
live=$(curl -s -D- -o /dev/null "${HDR[@]}" -H 'Content-Type: application/json' \
  --data '{"email":"check@example.com","password":"session check password"}' \
  "http://127.0.0.1:$PORT/api/auth/login" | tr -d '\r' | awk -F': ' 'tolower($1)=="set-cookie" {split($2, c, ";"); print c[1]}')
[ -n "$live" ] || { echo "login failed" >&2; exit 1; }
# The same cookie with one character of its claims changed: the signature no longer matches.
forged=$(printf '%s' "$live" | awk -F. '{c = substr($2, 5, 1); r = (c == "A") ? "B" : "A"; $2 = substr($2, 1, 4) r substr($2, 6); print $1 "." $2 "." $3}' OFS=.)
for cookie in "$live" "$forged"; do
  printf "%-6s %s\n" "$([ "$cookie" = "$live" ] && echo live || echo forged)" \
    "$(curl -s "${HDR[@]}" -H "Cookie: $cookie" "http://127.0.0.1:$PORT/api/session" | head -c 80)"
done

run() { # cookie -> "requests/s p50_us p99_us"
  taskset -c "$CLIENT_CPU" wrk -t1 -c"$CONNS" -d"${SECS}s" --latency "${HDR[@]}" -H "Cookie: $1" \
    "http://127.0.0.1:$PORT/api/session" |
    awk 'function us(v) { if (v ~ /us$/) return v + 0; if (v ~ /ms$/) return v * 1000; return v * 1e6 }
         /^Requests\/sec:/ {rps = $2} $1 == "50%" {p50 = us($2)} $1 == "99%" {p99 = us($2)}
         END {printf "%.0f %.0f %.0f\n", rps, p50, p99}'
}
run "$live" >/dev/null; run "$forged" >/dev/null
median() { sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
printf "%-6s %12s %9s %9s %12s %9s %9s %10s\n" round "checked r/s" "p50 µs" "p99 µs" "forged r/s" "p50 µs" "p99 µs" "Δp50 µs"
live_p50=() forged_p50=() diffs=()
for r in $(seq 1 "$ROUNDS"); do
  read -r lr lp50 lp99 < <(run "$live")
  read -r fr fp50 fp99 < <(run "$forged")
  live_p50+=("$lp50"); forged_p50+=("$fp50"); diffs+=($((lp50 - fp50)))
  printf "%-6s %12s %9s %9s %12s %9s %9s %10s\n" "$r" "$lr" "$lp50" "$lp99" "$fr" "$fp50" "$fp99" "$((lp50 - fp50))"
done
echo "p50 over $ROUNDS rounds (median): checked $(printf "%s\n" "${live_p50[@]}" | median) µs, unchecked $(printf "%s\n" "${forged_p50[@]}" | median) µs; the check adds $(printf "%s\n" "${diffs[@]}" | median) µs"
