#!/usr/bin/env bash
# Deploys COMMIT to a Render service through Render's API and waits until it is live.
# Usage: RENDER_API_KEY=… scripts/render-deploy.sh SERVICE_ID COMMIT [TIMEOUT_SECS]
# Exit 0 when the deploy is live; 1 when it failed, was cancelled or timed out, or Render's API
# kept failing.
#
# Every call to Render's API is retried with exponential backoff (1 s doubling to 60 s, or the
# Retry-After Render sends, for up to RENDER_RETRY_SECS, default 300) on a network error, a 429
# or a 5xx; any other 4xx stops at once with Render's message. The key never appears on a command
# line (curl reads the header from a file only this user can read) or in the output.
set -euo pipefail
service=${1:?service id (srv-…)}
commit=${2:?commit sha}
timeout=${3:-1800}
: "${RENDER_API_KEY:?RENDER_API_KEY is not set}"
api=${RENDER_API_URL:-https://api.render.com/v1}
retry_secs=${RENDER_RETRY_SECS:-300}
case "$service" in srv-*) ;; *) echo "service id $service does not start with srv-" >&2; exit 1 ;; esac
case "$commit" in *[!0-9a-f]*|'') echo "commit $commit is not a hex sha" >&2; exit 1 ;; esac

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(umask 077 && printf 'Authorization: Bearer %s\n' "$RENDER_API_KEY" > "$work/auth")

# render METHOD PATH [JSON]: the response body on stdout, after retries.
render() {
  local method=$1 path=$2 data=${3:-} delay=1 give_up=$(( $(date +%s) + retry_secs )) code wait
  while :; do
    local args=(-sS -X "$method" -H @"$work/auth" -H 'Accept: application/json' -o "$work/body"
      -D "$work/headers" -w '%{http_code}' --connect-timeout 10 --max-time 60)
    [ -n "$data" ] && args+=(-H 'Content-Type: application/json' --data "$data")
    code=$(curl "${args[@]}" "$api$path" 2>"$work/curl.err") || code="network ($(tr -d '\n' < "$work/curl.err"))"
    case "$code" in
      2??) cat "$work/body"; return 0 ;;
      429|5??|network*) ;;
      *) echo "$method $path: HTTP $code: $(head -c 500 "$work/body")" >&2; return 1 ;;
    esac
    # Render's Retry-After when it is longer than our own backoff (a 0 would hammer the API).
    wait=$(tr -d '\r' < "$work/headers" 2>/dev/null | sed -n 's/^[Rr]etry-[Aa]fter: *\([0-9][0-9]*\)$/\1/p' | head -n1)
    wait=$(( ${wait:-0} > delay ? ${wait:-0} : delay ))
    if [ $(( $(date +%s) + wait )) -gt "$give_up" ]; then
      echo "$method $path: $code; the next try (in ${wait}s) would pass RENDER_RETRY_SECS (${retry_secs}s), giving up" >&2
      return 1
    fi
    echo "$method $path: $code; retrying in ${wait}s" >&2
    sleep "$wait"
    delay=$(( delay * 2 > 60 ? 60 : delay * 2 ))
  done
}

# field NAME: a string field of the JSON body on stdin; empty (and a line on stderr) when the
# body is not JSON or lacks it, never a traceback.
field() {
  python3 -c '
import json, sys
try:
    value = json.load(sys.stdin)[sys.argv[1]]
except (ValueError, KeyError, TypeError) as e:
    print(f"Render answered without a usable {sys.argv[1]!r} ({type(e).__name__})", file=sys.stderr)
    sys.exit(1)
print(value)' "$1"
}

# A POST retried after a network error may have reached Render: at worst the same commit is
# queued twice, and Render deploys it once more.
body=$(render POST "/services/$service/deploys" "{\"commitId\": \"$commit\", \"clearCache\": \"do_not_clear\"}")
deploy=$(field id <<<"$body") || { echo "$service: the deploy may be queued; check Render's dashboard" >&2; exit 1; }
echo "$service: deploy $deploy of $commit queued"

deadline=$(( $(date +%s) + timeout ))
while :; do
  body=$(render GET "/services/$service/deploys/$deploy")
  # One unreadable answer while polling is retried like a 5xx: the deploy goes on either way.
  status=$(field status <<<"$body") || status=unknown
  case "$status" in
    live) echo "$service: $deploy is live"; exit 0 ;;
    build_failed|update_failed|canceled|pre_deploy_failed|deactivated)
      echo "$service: $deploy ended as $status" >&2; exit 1 ;;
  esac
  if [ "$(date +%s)" -ge "$deadline" ]; then echo "$service: $deploy still $status after ${timeout}s" >&2; exit 1; fi
  echo "$service: $deploy is $status"
  sleep 10
done
