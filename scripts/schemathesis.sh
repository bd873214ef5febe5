#!/usr/bin/env bash
# Property-based run of the API against its own OpenAPI document (GET /api/openapi.json):
# schemathesis generates valid and invalid requests for every operation and fails on any 5xx,
# any status, content type, header or body the document does not allow, and any invalid input
# that is accepted. Two passes: anonymous, then with a real session cookie.
#
# Login is rate limited (20 attempts a minute per address), so most generated logins get the
# documented 429; body validation (400/415/422) runs before the limit and is fully exercised.
#
# The API runs as in production (APP_ENV=production: strict headers, __Host- cookie) on a fresh
# SQLite file. Usage: scripts/schemathesis.sh [MAX_EXAMPLES]   (default 100 per operation)
# Needs schemathesis (scripts/setup.sh installs it; or set SCHEMATHESIS to its `st` path) and the
# debug api binary (API_BIN, default $CARGO_TARGET_DIR/debug/api; scripts/test.sh builds it).
set -euo pipefail
cd "$(dirname "$0")/.."
MAX_EXAMPLES=${1:-100}
ST=${SCHEMATHESIS:-st}
SEED=${SEED:-$RANDOM}
API=${API_BIN:-${CARGO_TARGET_DIR:-target}/debug/api}
API=$(realpath "$API")

work=$(mktemp -d)
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

export APP_ENV=production HOST=127.0.0.1 PORT=0 LOG_FORMAT=json RUST_LOG=warn,api=info
SESSION_SECRET="st-$(head -c 48 /dev/urandom | base64)"
export DATABASE_URL="sqlite://$work/st.db" SESSION_SECRET
"$API" serve >"$work/api.log" 2>&1 &
pid=$!
address=
for _ in $(seq 1 100); do
  address=$(sed -n 's/.*"message":"listening".*"address":"\([^"]*\)".*/\1/p; s/.*"address":"\([^"]*\)".*"message":"listening".*/\1/p' "$work/api.log" | head -n1)
  [ -n "$address" ] && curl -sf "http://$address/api/health" >/dev/null && break
  sleep 0.1
done
[ -n "$address" ] || { echo "the API did not start:" >&2; cat "$work/api.log" >&2; exit 1; }
base="http://$address"

# A real account, and its session cookie for the authenticated pass.
email=st@example.com password="st-$(head -c 12 /dev/urandom | base64)"
printf '%s\n' "$password" | "$API" user add --email "$email" >/dev/null
cookie=$(curl -sf -D - -o /dev/null -H 'content-type: application/json' \
  -d "{\"email\":\"$email\",\"password\":\"$password\"}" "$base/api/auth/login" |
  tr -d '\r' | sed -n 's/^[Ss]et-[Cc]ookie: \([^;]*\).*/\1/p')
[ -n "$cookie" ] || { echo "login for the authenticated pass failed" >&2; exit 1; }

# schemathesis keeps a cache in ./.schemathesis: run it from the scratch folder, not the checkout.
run() {
  (cd "$work" && "$ST" run "$base/api/openapi.json" --checks all --max-examples "$MAX_EXAMPLES" --seed "$SEED" \
    --phases examples,coverage,fuzzing --no-color "$@")
}
echo "== anonymous pass (seed $SEED)"
run
echo "== authenticated pass (seed $SEED)"
run -H "Cookie: $cookie"

# Nothing the runs sent may have made the server log an error or panic.
if grep -E '"level":"(ERROR)"|panicked' "$work/api.log"; then
  echo "the API logged errors during the run (above)" >&2
  exit 1
fi
echo "schemathesis: no server errors, no schema violations (seed $SEED, $MAX_EXAMPLES examples per operation)"
