#!/usr/bin/env bash
# The project's one test command (README.md). It first runs scripts/setup.sh (Node.js, the npm
# packages, hadolint and schemathesis, without root; missing system packages are reported with
# the apt-get line), then: shellcheck over every script and the workflow files checked, formatting
# and lints, the Rust tests (SQLite, and PostgreSQL: see below), the frontend build with the edge
# files, the frontend's generated API types against the OpenAPI document, the policy drift check
# for every environment, Netlify's parsers over the emitted files and its redirect engine against
# the API's redirects, a schemathesis run, the frontend's unit tests against the real API, a short
# rolling-deploy rehearsal behind nginx, the end-to-end tests in Chromium (the API-served page,
# and the static hosts over TLS: Render's static site as nginx generated from the Blueprint,
# Cloudflare Pages in wrangler; they need port 443 on loopback), the ops checks, and the
# container: the Dockerfile built and its image smoke-tested (scripts/container-test.sh).
#
# PostgreSQL: TEST_DATABASE_URL names a database on a server where the tests may create databases;
# without it, a server answering at 127.0.0.1:5432 as postgres is used. Either way the run creates
# its own database (rf_run_…) and per-test databases with a prefix of its own, and drops them all
# at exit, so concurrent runs do not touch each other's. With no server the PostgreSQL tests are
# SKIPPED, said at the start and the end; under CI (CI set) that is a failure.
# Honours CARGO_TARGET_DIR. Leaves no tracked file changed.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n== %s\n' "$*"; }
banner() { printf '\n!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n!! %s\n!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n' "$*"; }

# What git sees before the run, to show at the end that the run changed no tracked file.
before=$(git status --porcelain --untracked-files=no)

step "set-up (scripts/setup.sh)"
scripts/setup.sh
# shellcheck source=/dev/null # written by setup.sh
. .tools/env

target_dir=$(cargo metadata --format-version 1 --no-deps --locked |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
export API_BIN="$target_dir/debug/api"

# --- PostgreSQL: a database for this run, dropped at exit with the per-test ones it made ---
run_id="$(date +%s)_$$"
export TEST_DATABASE_PREFIX="rf_test_${run_id}_"
run_db="rf_run_${run_id}"
server_url=${TEST_DATABASE_URL:-}
if [ -z "$server_url" ] && pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null &&
  psql -w -h 127.0.0.1 -p 5432 -U postgres -d postgres -Atqc 'SELECT 1' >/dev/null 2>&1; then
  server_url=postgres://postgres@127.0.0.1:5432/postgres
fi
pg_skipped=
if [ -n "$server_url" ]; then
  cleanup_pg() {
    # `_` is a LIKE wildcard: escaped, the pattern matches this run's prefix only.
    local like=${TEST_DATABASE_PREFIX//_/\\_}
    psql -w "$server_url" -Atqc "SELECT datname FROM pg_database WHERE datname LIKE '${like}%' OR datname = '$run_db'" 2>/dev/null |
      while read -r db; do psql -w "$server_url" -qc "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)" >/dev/null || true; done
  }
  trap cleanup_pg EXIT
  psql -w "$server_url" -qc "CREATE DATABASE \"$run_db\""
  export TEST_DATABASE_URL="${server_url%/*}/$run_db"
  step "PostgreSQL: database $run_db on ${server_url#*@} for this run (dropped at exit)"
elif [ -n "${CI:-}" ]; then
  echo "CI is set, but there is no PostgreSQL: set TEST_DATABASE_URL or run a server at 127.0.0.1:5432" >&2
  exit 1
else
  pg_skipped=1
  banner "no PostgreSQL (TEST_DATABASE_URL unset, nothing at 127.0.0.1:5432): the PostgreSQL tests and the rehearsal will be SKIPPED"
fi

step "shellcheck over every script"
shellcheck scripts/*.sh .ci/run bench/*.sh

step "GitHub workflow files (action-validator)"
npm --prefix frontend run -s test:workflows

step "rustfmt and clippy"
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings

step "Rust tests (with the differential test: one build served by the api binary and by nginx)"
cargo test --workspace --locked

step "hadolint (error level) on the Dockerfile"
"$HADOLINT" --failure-threshold error Dockerfile

step "frontend build (vite, compression, edge-policy emit)"
cargo build --locked -p api -p edge-policy -p release-check
npm --prefix frontend run build

step "frontend API types: src/api-schema.ts matches the API's OpenAPI document"
npm --prefix frontend run -s check:api-types

step "edge policy: emitted files, the Pages Function and both Blueprints agree, for every environment; netlify.toml for production"
# The build itself, as npm run build left it (APP_ENV unset: development), with no routing file
# of its own beside the generated ones; then each environment's files emitted afresh.
"$target_dir/debug/edge-policy" check --env "${APP_ENV:-development}" --dist frontend/dist \
  --functions frontend/functions --render render.yaml --render render.production.yaml
for env in development staging production; do
  dist=$(mktemp -d)
  cp -r frontend/dist/. "$dist"
  "$target_dir/debug/edge-policy" emit --env "$env" --dist "$dist" --functions "$dist.functions" >/dev/null
  netlify=()
  if [ "$env" = production ]; then netlify=(--netlify frontend/netlify.toml); fi
  "$target_dir/debug/edge-policy" check --env "$env" --dist "$dist" --functions "$dist.functions" \
    --render render.yaml --render render.production.yaml "${netlify[@]}"
  rm -rf "$dist" "$dist.functions"
done

step "Netlify's parsers over frontend/dist/_headers and _redirects"
npm --prefix frontend run -s test:edge-files

step "Netlify's redirect engine over frontend/dist/_redirects, against the API's redirects"
npm --prefix frontend run -s test:redirects

step "Netlify's parser and redirect engine over _redirects and netlify.toml: /api proxied, missing assets 404, the SPA"
npm --prefix frontend run -s test:netlify

step "schemathesis against /api/openapi.json: no 5xx, nothing outside the document"
scripts/schemathesis.sh 100

step "frontend unit tests (against the real API)"
npm --prefix frontend test

if [ -z "$pg_skipped" ]; then
  step "rolling-deploy rehearsal (short): two instances behind nginx, replaced under load, in each scenario (plain, keepalive, failing-migration)"
  "$target_dir/debug/release-check" rehearse --database-url "$TEST_DATABASE_URL" --api-bin "$API_BIN" \
    --rps 200 --warm 2 --settle 2 --refuse-wait 3 --out "$target_dir/rehearsal"
fi

step "end to end in headless Chromium (the API-served page; and the static hosts over TLS: Render's static site as nginx from the Blueprint, Cloudflare Pages in wrangler)"
npm --prefix frontend run -s test:e2e

# --- ops: SLO rules, alerts, the dashboard, Prometheus end to end (installs Debian's prometheus
# and prometheus-alertmanager when missing; see the script)
step "ops checks (scripts/ops-test.sh)"
scripts/ops-test.sh
# --- end ops

step "the container: the Dockerfile built and its image smoke-tested (scripts/container-test.sh)"
scripts/container-test.sh

after=$(git status --porcelain --untracked-files=no)
if [ "$after" != "$before" ]; then
  diff <(printf '%s\n' "$before") <(printf '%s\n' "$after") >&2 || true
  echo "the run changed tracked files (above): a test writes where it should not" >&2
  exit 1
fi
if [ -n "$pg_skipped" ]; then
  n=$(cargo test -p api --test api --locked -- --list 2>/dev/null | grep -c '::postgres: test$' || true)
  banner "passed, but $n PostgreSQL tests and the rehearsal were SKIPPED: no PostgreSQL (set TEST_DATABASE_URL, or run a server at 127.0.0.1:5432)"
else
  step "all passed"
fi
