#!/usr/bin/env bash
# The README's run command: builds the frontend (installing its npm packages on first use), then
# serves it and the API on http://127.0.0.1:8080 with an SQLite database under ./data/.
# In development a demo login is printed at start-up. Extra arguments go to `api`.
set -euo pipefail
cd "$(dirname "$0")/.."
# Node.js 22 and the npm packages, installed on first use (scripts/setup.sh --run).
scripts/setup.sh --run
# shellcheck source=/dev/null # written by setup.sh
. .tools/env.run
npm --prefix frontend run build
exec cargo run --quiet -p api -- "$@"
