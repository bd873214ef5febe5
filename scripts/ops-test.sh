#!/usr/bin/env bash
# The checks of ops/ (SLOs as Prometheus rules, alerts, the Grafana dashboard; docs/OPERATIONS.md),
# one step of scripts/test.sh:
#   1. ops/prometheus/release-flow.rules.yml is what ops/slo.py makes of ops/slo.toml, which covers
#      every route of the API with latency thresholds that are histogram buckets;
#   2. promtool check rules, and promtool test rules (ops/prometheus/release-flow.rules.test.yml:
#      each alert fires and stays quiet, burn-rate windows included);
#   3. the example Prometheus and Alertmanager configs are valid, and pages and tickets reach
#      their receivers;
#   4. the dashboard names only metrics the service registers or the rules record;
#   5. end to end (ops/tests/e2e.py, about 30 s): a real Prometheus scrapes two `api` instances
#      with the bearer token, load with real 5xx runs, and the recording rules, alerts and every
#      dashboard query answer through Prometheus' HTTP API.
# Needs python3 (3.11+) and Debian's prometheus and prometheus-alertmanager packages (promtool,
# amtool), installed here when missing and running as root. Builds the debug `api` (or uses
# API_BIN).
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n== %s\n' "$*"; }

need=()
command -v prometheus >/dev/null && command -v promtool >/dev/null || need+=(prometheus)
command -v amtool >/dev/null || need+=(prometheus-alertmanager)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "ops checks need Debian's ${need[*]}: apt-get install --no-install-recommends ${need[*]}" >&2
    exit 1
  fi
  echo "installing ${need[*]}"
  apt-get update -qq
  # --no-install-recommends: no node exporter; policy-rc.d keeps the services from starting.
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

step "ops: the rules file matches ops/slo.toml, the API's routes and its histogram buckets"
python3 ops/slo.py

step "ops: promtool check rules and promtool test rules (each alert fires and stays quiet)"
promtool check rules ops/prometheus/release-flow.rules.yml
(cd ops/prometheus && promtool test rules release-flow.rules.test.yml)

step "ops: the example Prometheus and Alertmanager configs; pages and tickets reach their receivers"
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
mkdir "$scratch/secrets"
touch "$scratch/secrets/metrics-token-production" "$scratch/secrets/metrics-token-staging"
cp ops/prometheus/release-flow.rules.yml "$scratch/"
sed "s|/etc/secrets/|$scratch/secrets/|" ops/prometheus/prometheus.example.yml >"$scratch/prometheus.yml"
promtool check config "$scratch/prometheus.yml"
amtool check-config ops/alertmanager/alertmanager.example.yml
for route in "pager severity=page alertname=ReleaseFlowErrorBudgetBurnFast" \
  "tickets severity=ticket alertname=ReleaseFlowErrorBudgetBurnSlow"; do
  read -ra fields <<<"$route"
  set -- "${fields[@]}"
  amtool config routes test --config.file=ops/alertmanager/alertmanager.example.yml \
    --verify.receivers="$1" "${@:2}" 2>/dev/null
done

step "ops: the dashboard's queries name only registered or recorded metrics"
python3 ops/tests/dashboard.py

step "ops: end to end, Prometheus scraping two api instances under load with real 5xx"
if [ -z "${API_BIN:-}" ]; then
  cargo build --locked -p api # nothing to do when scripts/test.sh has built it
fi
python3 ops/tests/e2e.py --api-bin "${API_BIN:-${CARGO_TARGET_DIR:-target}/debug/api}"
