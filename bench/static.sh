#!/usr/bin/env bash
# Benchmark: the largest hashed asset of frontend/dist, served by the API from memory against two
# references in the same run, with `Accept-Encoding: gzip, br`: nginx (Debian nginx-light: one
# worker, sendfile, gzip_static, access log off) and static-web-server (its precompressed-file
# mode, `--compression-static`, dynamic compression off), each sending the same headers the
# policy's _headers gives the file.
#
# All three are pinned to CPU 0 (the API and static-web-server with one worker thread, nginx with
# one worker), wrk to CPU 1; rounds rotate so drift hits all alike. Prints figures and the median
# ratios, never pass/fail (shared, noisy machine). The API and static-web-server serve the .br
# variant where nginx, which has no brotli module in Debian, serves the .gz one: each serves its
# best precompressed file.
#
# static-web-server is installed on first use with `cargo install --locked` into .tools/sws
# (git-ignored; set SWS to use another binary).
#
# Usage: bench/static.sh [ROUNDS] [SECONDS]   needs wrk and nginx-light (apt-get install wrk nginx-light)
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=bench/lib.sh
. bench/lib.sh
ROUNDS=${1:-5}
SECS=${2:-8}
CONNS=${CONNS:-64}
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}

for tool in wrk nginx; do command -v $tool >/dev/null || { echo "$tool is not installed" >&2; exit 1; }; done
[ -f frontend/dist/index.html ] || { echo "build the frontend first: npm --prefix frontend run build" >&2; exit 1; }
cargo build --release -q -p api
SWS_VERSION=2.44.1
SWS=${SWS:-$PWD/.tools/sws/bin/static-web-server}
if [ ! -x "$SWS" ]; then
  echo "installing static-web-server $SWS_VERSION into .tools/sws (once)" >&2
  cargo install --locked --quiet static-web-server --version "$SWS_VERSION" --root "$PWD/.tools/sws"
  SWS=$PWD/.tools/sws/bin/static-web-server
fi

dist=$(cd frontend/dist && pwd)
asset=$(cd "$dist" && find assets -type f ! -name '*.br' ! -name '*.gz' -printf '%s %p\n' | sort -n | tail -1 | cut -d' ' -f2)
echo "asset: /$asset ($(stat -c %s "$dist/$asset") bytes; br $(stat -c %s "$dist/$asset.br" 2>/dev/null || echo -), gz $(stat -c %s "$dist/$asset.gz" 2>/dev/null || echo -))"

work=$(mktemp -d)
pids=()
cleanup() { kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

API_PORT=18181 NGINX_PORT=18182 SWS_PORT=18183

# nginx gets the headers of both _headers rules that match the asset, as add_header lines.
add_headers=$(awk '/^\// {rule=$1; next} /^  / && (rule == "/*" || rule == "/assets/*") {sub(/^  /, ""); i=index($0, ": "); printf "      add_header %s \"%s\" always;\n", substr($0, 1, i-1), substr($0, i+2)}' "$dist/_headers")
cat > "$work/nginx.conf" <<CONF
worker_processes 1;
daemon off;
pid $work/nginx.pid;
error_log $work/nginx-error.log;
events { worker_connections 1024; }
http {
  include /etc/nginx/mime.types;
  access_log off;
  sendfile on;
  tcp_nopush on;
  keepalive_requests 1000000;
  server_tokens off;
  client_body_temp_path $work/body;
  server {
    listen 127.0.0.1:$NGINX_PORT;
    root $dist;
    location /assets/ {
      gzip_static on;
      etag on;
$add_headers
    }
  }
}
CONF
taskset -c "$SERVER_CPU" nginx -c "$work/nginx.conf" -e "$work/nginx-error.log" &
pids+=($!)

# static-web-server gets the same headers through its configuration file's [[advanced.headers]].
sws_headers=$(awk '/^\// {rule=$1; next} /^  / && (rule == "/*" || rule == "/assets/*") {sub(/^  /, ""); i=index($0, ": "); v=substr($0, i+2); gsub(/"/, "\\\"", v); printf "%s = \"%s\"\n", substr($0, 1, i-1), v}' "$dist/_headers")
cat > "$work/sws.toml" <<CONF
[general]
host = "127.0.0.1"
port = $SWS_PORT
root = "$dist"
log-level = "error"
threads-multiplier = 1
compression = false
compression-static = true
cache-control-headers = false
security-headers = false
directory-listing = false
health = false

[advanced]

[[advanced.headers]]
source = "/assets/**"
[advanced.headers.headers]
$sws_headers
CONF
taskset -c "$SERVER_CPU" "$SWS" --config-file "$work/sws.toml" >"$work/sws.log" 2>&1 &
pids+=($!)
mapfile -t api_env < <(api_production_env "$work")
(cd "$work" && exec env "${api_env[@]}" PORT=$API_PORT FRONTEND_DIR="$dist" \
  taskset -c "$SERVER_CPU" "$target_dir/release/api" >"$work/api.log" 2>&1) &
pids+=($!)

for port in $API_PORT $NGINX_PORT $SWS_PORT; do
  up=
  for _ in $(seq 1 50); do curl -sf -o /dev/null "http://127.0.0.1:$port/$asset" && up=1 && break; sleep 0.1; done
  [ -n "$up" ] || { echo "server on port $port did not start" >&2; cat "$work"/*.log >&2; exit 1; }
done

HDR=(-H "Accept-Encoding: gzip, br" -H "X-Forwarded-Proto: https")
for port in $API_PORT $NGINX_PORT $SWS_PORT; do
  printf "port %s: %s\n" "$port" "$(curl -s -o /dev/null -w '%{http_code} %{size_download} bytes, %{size_header} header bytes' "${HDR[@]}" "http://127.0.0.1:$port/$asset") $(curl -s -D- -o /dev/null "${HDR[@]}" "http://127.0.0.1:$port/$asset" | tr -d '\r' | awk -F': ' 'tolower($1)=="content-encoding"{print "encoding " $2}')"
done

rps() {
  taskset -c "$CLIENT_CPU" wrk -t1 -c"$CONNS" -d"${SECS}s" "${HDR[@]}" "http://127.0.0.1:$1/$asset" |
    awk '/^Requests\/sec:/ {print $2}'
}
rps $API_PORT >/dev/null; rps $NGINX_PORT >/dev/null; rps $SWS_PORT >/dev/null

median() { sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
printf "%-6s %10s %10s %10s %10s %10s\n" round nginx sws api api/nginx api/sws
nratios=() sratios=()
for r in $(seq 1 "$ROUNDS"); do
  nginx_rps=$(rps $NGINX_PORT); sws_rps=$(rps $SWS_PORT); api_rps=$(rps $API_PORT)
  nratio=$(awk -v a="$api_rps" -v n="$nginx_rps" 'BEGIN {printf "%.3f", a / n}')
  sratio=$(awk -v a="$api_rps" -v n="$sws_rps" 'BEGIN {printf "%.3f", a / n}')
  nratios+=("$nratio"); sratios+=("$sratio")
  printf "%-6s %10.0f %10.0f %10.0f %10s %10s\n" "$r" "$nginx_rps" "$sws_rps" "$api_rps" "$nratio" "$sratio"
done
echo "static ratio (API / nginx), median of $ROUNDS rounds: $(printf "%s\n" "${nratios[@]}" | median)   (target >= 1.3)"
echo "static ratio (API / static-web-server), median of $ROUNDS rounds: $(printf "%s\n" "${sratios[@]}" | median)   (target >= 1.0)"
