#!/usr/bin/env bash
# Soak: a sustained mixed load (liveness, readiness, session, /api/me, failing logins, the
# document and the largest hashed asset) against the release build running as in production,
# with the process's memory (RSS) and open file descriptors sampled throughout.
#
# Reference: the same process, idle after a warm-up at the same load (the pool and the blocking
# threads exist by then). Reported: RSS and fds cold, at that baseline, at the peak and end of
# the load, and again once the load stops and connections close. The bounds (stated in
# docs/RELIABILITY.md): RSS at the end within 16 MiB of the baseline, fds back to the baseline
# once the load stops, zero 5xx and zero socket errors. Exits 1 if one is not met. Not part of
# the test command: it runs for minutes and measures a shared machine.
#
# Usage: bench/soak.sh [SECONDS] [CONNECTIONS]   (default 300 s, 64 connections)
# Needs wrk (apt-get install wrk) and a built frontend (npm --prefix frontend run build).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=bench/lib.sh
. bench/lib.sh
SECS=${1:-300}
CONNS=${2:-64}
WARM=${WARM:-15}
RSS_BOUND_KB=$((16 * 1024))

command -v wrk >/dev/null || { echo "wrk is not installed (apt-get install wrk)" >&2; exit 1; }
[ -f frontend/dist/index.html ] || { echo "build the frontend first: npm --prefix frontend run build" >&2; exit 1; }
cargo build --release -q -p api
dist=$(cd frontend/dist && pwd)
asset=/$(cd "$dist" && find assets -type f ! -name '*.br' ! -name '*.gz' -printf '%s %p\n' | sort -n | tail -1 | cut -d' ' -f2)

work=$(mktemp -d)
pid=
sampler=
cleanup() { kill ${sampler:+"$sampler"} "$pid" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

export APP_ENV=production HOST=127.0.0.1 PORT=18281 LOG_FORMAT=json FRONTEND_DIR="$dist"
SESSION_SECRET="soak-$(head -c 48 /dev/urandom | base64)"
export SESSION_SECRET DATABASE_URL="sqlite://$work/soak.db"
"$target_dir/release/api" migrate >/dev/null
printf 'soak-password-1234\n' | "$target_dir/release/api" user add --email soak@example.com >/dev/null
"$target_dir/release/api" serve >"$work/api.log" 2>&1 &
pid=$!
base=http://127.0.0.1:$PORT
for _ in $(seq 1 100); do curl -sf "$base/api/health" >/dev/null && break; sleep 0.1; done
SOAK_COOKIE=$(curl -sf -D - -o /dev/null -H 'content-type: application/json' -H 'x-forwarded-proto: https' \
  -d '{"email":"soak@example.com","password":"soak-password-1234"}' "$base/api/auth/login" |
  tr -d '\r' | sed -n 's/^[Ss]et-[Cc]ookie: \([^;]*\).*/\1/p')
[ -n "$SOAK_COOKIE" ] || { echo "login failed" >&2; exit 1; }
export SOAK_COOKIE SOAK_ASSET=$asset

fd_kinds() { # what each open descriptor is, counted: "N socket", "N /path/to/soak.db-wal", ...
  for fd in "/proc/$pid"/fd/*; do readlink "$fd"; done | sed 's/:\[[0-9]*\]$//' | sort | uniq -c
}
sample() { # rss_kb fds threads
  printf '%s %s %s\n' "$(awk '/^VmRSS/ {print $2}' /proc/$pid/status)" \
    "$(find "/proc/$pid/fd" -mindepth 1 -maxdepth 1 | wc -l)" "$(awk '/^Threads/ {print $2}' /proc/$pid/status)"
}
cold=$(sample)

echo "warm-up: ${WARM}s at $CONNS connections"
wrk -t2 -c"$CONNS" -d"${WARM}s" -s bench/soak.lua "$base" >/dev/null
# The idle baseline: after the warm-up the pool holds its connections (SQLite: the file, its
# journal and shared memory per connection) and the blocking threads exist.
sleep 3
idle_before=$(sample)
start=$idle_before
fd_kinds >"$work/fds.before"

( t=0; while sleep 5; do t=$((t + 5)); echo "$t $(sample)"; done ) >"$work/samples" &
sampler=$!
echo "load: ${SECS}s at $CONNS connections, mixed requests"
wrk -t2 -c"$CONNS" -d"${SECS}s" -s bench/soak.lua "$base" | tee "$work/wrk.txt"
end=$(sample)
kill $sampler; wait $sampler 2>/dev/null || true; sampler=
sleep 3
idle_after=$(sample)
fd_kinds >"$work/fds.after"

read -r rss0 fd0 th0 <<<"$start"
read -r rss1 fd1 th1 <<<"$end"
read -r crss cfd _ <<<"$cold"
read -r _ ifd0 _ <<<"$idle_before"
read -r irss1 ifd1 _ <<<"$idle_after"
peak=$(awk 'BEGIN {m = 0} $2 > m {m = $2} END {print m}' "$work/samples")
growth=$((rss1 - rss0))
printf '\n%-22s %10s %6s %8s\n' "" "RSS KiB" fds threads
printf '%-22s %10s %6s %8s\n' "cold start" "$crss" "$cfd" -
printf '%-22s %10s %6s %8s\n' "idle after warm-up" "$rss0" "$fd0" "$th0"
printf '%-22s %10s %6s %8s\n' "load peak" "$peak" - -
printf '%-22s %10s %6s %8s\n' "load end" "$rss1" "$fd1" "$th1"
printf '%-22s %10s %6s %8s\n' "idle, after load" "$irss1" "$ifd1" -
echo "RSS growth over the load: ${growth} KiB (bound ${RSS_BOUND_KB} KiB); end/start ratio $(awk -v a="$rss1" -v b="$rss0" 'BEGIN {printf "%.3f", a / b}')"

ok=1
[ "$growth" -le "$RSS_BOUND_KB" ] || { echo "RSS grew beyond the bound"; ok=0; }
if [ "$ifd1" -gt "$ifd0" ]; then
  echo "file descriptors after the load, against the baseline:"
  diff "$work/fds.before" "$work/fds.after" | sed -n 's/^[<>]/ &/p'
  # Sockets are connections; a database file is a pool connection the pool may keep.
  grep -q ' socket$' <(diff "$work/fds.before" "$work/fds.after" | grep '^>') &&
    { echo "sockets did not return to the baseline"; ok=0; }
  [ "$ifd1" -le $((ifd0 + 3 * ${DATABASE_MAX_CONNECTIONS:-10})) ] || { echo "more descriptors than the pool can explain"; ok=0; }
fi
grep -q ' 5xx=0 socket_errors=0' "$work/wrk.txt" || { echo "5xx answers or socket errors under load"; ok=0; }
if grep -q '"level":"ERROR"\|panicked' "$work/api.log"; then echo "the API logged errors"; ok=0; fi
if [ "$ok" = 1 ]; then echo "soak: within bounds"; else echo "soak: bound exceeded"; exit 1; fi
