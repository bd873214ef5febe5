#!/usr/bin/env bash
# Benchmark: bursts of concurrent logins against one production-configured instance — memory,
# answers and latency; the bound on password hashing (PASSWORD_HASH_CONCURRENCY) at work.
#
# A release build of `api` runs as production (APP_ENV=production, SESSION_SECRET set, JSON logs,
# a SQLite file), with a few known accounts made by `api user add`. For each N (16, 64, 256 by
# default) bench/login_storm.py opens N connections, then sends N logins at once, each with the
# headers Render's edge adds (X-Forwarded-Proto: https, X-Forwarded-For with a client address of
# its own) and a wrong password: mostly unknown emails, a quarter on the known accounts. It samples
# the server's VmRSS/VmHWM from /proc/PID/status during the burst (peak) and 1 s after (final).
#
# Before the first burst, a warm-up of 2 × the slot count logins lets each hashing slot allocate
# its 19 MiB working memory, which it keeps and reuses by design; "idle" is the RSS after that,
# and every burst's final RSS is compared with it. The cold RSS (before any login) is printed too.
#
# Targets, checked at every N; the script exits 1 if one is missed:
#   - peak RSS <= 128 MiB (PEAK_LIMIT_MIB);
#   - final RSS within 16 MiB of idle (SETTLE_LIMIT_MIB);
#   - every login answered: 401, 429 or 503 `busy`, each 429/503 with Retry-After; nothing else.
#
# Usage: bench/login-storm.sh [N...]        needs python3 (standard library only)
#   PASSWORD_HASH_CONCURRENCY=64 bench/login-storm.sh     the near-unbounded hasher, for contrast
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=bench/lib.sh
. bench/lib.sh
if [ $# -gt 0 ]; then SIZES=("$@"); else SIZES=(16 64 256); fi
PEAK_LIMIT_MIB=${PEAK_LIMIT_MIB:-128}
SETTLE_LIMIT_MIB=${SETTLE_LIMIT_MIB:-16}
PORT=${PORT:-18281}
SLOTS=${PASSWORD_HASH_CONCURRENCY:-$(nproc)}
KNOWN=(storm-a@example.com storm-b@example.com storm-c@example.com storm-d@example.com)

command -v python3 >/dev/null || { echo "python3 is not installed" >&2; exit 1; }
cargo build --release -q -p api
bin="$target_dir/release/api"

work=$(mktemp -d)
pid=
# shellcheck disable=SC2317 # called by the trap
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

SESSION_SECRET="bench-$(head -c 32 /dev/urandom | base64)"
export APP_ENV=production HOST=127.0.0.1 PORT LOG_FORMAT=json SHUTDOWN_DRAIN_SECS=0 \
  SESSION_SECRET DATABASE_URL="sqlite://$work/storm.db" \
  PASSWORD_HASH_CONCURRENCY="$SLOTS"
for email in "${KNOWN[@]}"; do
  printf '%s' "the right password for $email" | (cd "$work" && "$bin" user add --email "$email") >/dev/null
done
(cd "$work" && exec "$bin" >"$work/api.log" 2>&1) &
pid=$!
up=
for _ in $(seq 1 50); do curl -sf "http://127.0.0.1:$PORT/health" >/dev/null && up=1 && break; sleep 0.1; done
if [ -z "$up" ] || ! kill -0 "$pid" 2>/dev/null; then echo "the api did not start (is port $PORT taken?)" >&2; cat "$work/api.log" >&2; exit 1; fi
sleep 1 # the dummy hash for unknown emails is computed once at start-up

rss() { awk '/^VmRSS:/ {print $2}' "/proc/$pid/status"; }
mib() { awk -v k="$1" 'BEGIN {printf "%.1f", k / 1024}'; }
field() { python3 -c 'import json, sys; d = json.loads(sys.argv[1]); print(eval(sys.argv[2], {}, d))' "$1" "$2"; }
storm() { python3 bench/login_storm.py 127.0.0.1 "$PORT" "$pid" "$1" "$2" "${KNOWN[@]}"; }

cold=$(rss)
warm=$(storm $((SLOTS * 2)) 0)
idle=$(rss)
echo "PASSWORD_HASH_CONCURRENCY=$SLOTS; RSS cold $(mib "$cold") MiB, idle after a warm-up of $((SLOTS * 2)) logins $(mib "$idle") MiB (warm-up peak $(mib "$(field "$warm" peak_kib)") MiB)"
printf "%6s %6s %6s %9s %6s %8s %8s %10s %10s  %s\n" N 401 429 "503 busy" other "p50 ms" "p99 ms" "peak MiB" "final MiB" verdict
failed=0
round=0
for n in "${SIZES[@]}"; do
  round=$((round + 1))
  out=$(storm "$n" "$round")
  peak=$(field "$out" peak_kib)
  after=$(field "$out" rss_after_kib)
  n401=$(field "$out" 'answers.get("401 invalid_credentials", 0)')
  n429=$(field "$out" 'answers.get("429 rate_limited", 0)')
  n503=$(field "$out" 'answers.get("503 busy", 0)')
  other=$(field "$out" 'sum(v for k, v in answers.items() if k not in ("401 invalid_credentials", "429 rate_limited", "503 busy"))')
  problems=()
  [ "$peak" -le $((PEAK_LIMIT_MIB * 1024)) ] || problems+=("peak above $PEAK_LIMIT_MIB MiB")
  [ $((after - idle)) -le $((SETTLE_LIMIT_MIB * 1024)) ] || problems+=("final more than $SETTLE_LIMIT_MIB MiB above idle")
  [ "$other" -eq 0 ] || problems+=("other answers: $(field "$out" 'answers')")
  [ "$(field "$out" missing_retry_after)" -eq 0 ] || problems+=("429/503 without Retry-After")
  [ $((n401 + n429 + n503 + other)) -eq "$n" ] || problems+=("answers do not add up to $n")
  verdict=ok
  if [ ${#problems[@]} -gt 0 ]; then verdict="MISSED: $(IFS=';'; echo "${problems[*]}")"; failed=1; fi
  printf "%6s %6s %6s %9s %6s %8s %8s %10s %10s  %s\n" "$n" "$n401" "$n429" "$n503" "$other" \
    "$(field "$out" p50_ms)" "$(field "$out" p99_ms)" "$(mib "$peak")" "$(mib "$after")" "$verdict"
done
kill -0 "$pid" 2>/dev/null || { echo "the api exited during the benchmark" >&2; failed=1; }
if grep -q '"level":"ERROR"' "$work/api.log"; then
  echo "the api logged errors:" >&2; grep '"level":"ERROR"' "$work/api.log" | head -5 >&2; failed=1
fi
echo "targets: peak <= $PEAK_LIMIT_MIB MiB, final within $SETTLE_LIMIT_MIB MiB of idle, only 401/429/503 busy with Retry-After: $([ $failed -eq 0 ] && echo met || echo MISSED)"
exit $failed
