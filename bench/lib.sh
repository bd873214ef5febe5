#!/usr/bin/env bash
# What the bench scripts share; each sources it from the repository's root
# (`. bench/lib.sh` after `cd "$(dirname "$0")/.."`).

# Cargo's target directory: CARGO_TARGET_DIR when set, else the workspace's target/.
# shellcheck disable=SC2034 # read by the scripts that source this file
target_dir=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')

# The variables that make the api binary a production instance for a benchmark, one per line,
# for `mapfile` and then `env`: APP_ENV=production, JSON logs, a one-thread runtime (the
# benchmarks pin it to one CPU), a fresh session secret, a SQLite file in the folder $1.
api_production_env() {
  printf '%s\n' APP_ENV=production HOST=127.0.0.1 LOG_FORMAT=json TOKIO_WORKER_THREADS=1 \
    "SESSION_SECRET=bench-$(head -c 32 /dev/urandom | base64)" "DATABASE_URL=sqlite://$1/bench.db"
}
