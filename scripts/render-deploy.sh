#!/usr/bin/env bash
# Deploys COMMIT to a Render service through Render's API and waits until it is live.
# Usage: RENDER_API_KEY=… scripts/render-deploy.sh SERVICE_ID COMMIT [TIMEOUT_SECS]
# Exit 0 when the deploy is live; 1 when it failed, was cancelled or timed out.
set -euo pipefail
service=${1:?service id (srv-…)}
commit=${2:?commit sha}
timeout=${3:-1800}
: "${RENDER_API_KEY:?RENDER_API_KEY is not set}"
api=https://api.render.com/v1

deploy=$(curl -fsS -X POST "$api/services/$service/deploys" \
  -H "Authorization: Bearer $RENDER_API_KEY" -H "Content-Type: application/json" \
  -d "{\"commitId\": \"$commit\", \"clearCache\": \"do_not_clear\"}" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
echo "$service: deploy $deploy of $commit queued"

deadline=$(( $(date +%s) + timeout ))
while :; do
  status=$(curl -fsS "$api/services/$service/deploys/$deploy" -H "Authorization: Bearer $RENDER_API_KEY" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["status"])')
  case "$status" in
    live) echo "$service: $deploy is live"; exit 0 ;;
    build_failed|update_failed|canceled|pre_deploy_failed|deactivated)
      echo "$service: $deploy ended as $status" >&2; exit 1 ;;
  esac
  if [ "$(date +%s)" -ge "$deadline" ]; then echo "$service: $deploy still $status after ${timeout}s" >&2; exit 1; fi
  echo "$service: $deploy is $status"
  sleep 10
done
