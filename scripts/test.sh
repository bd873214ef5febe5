#!/usr/bin/env bash
# The project's one test command (README.md). Runs formatting and lint checks, then every test.
# PostgreSQL tests run when TEST_DATABASE_URL names a database they may create databases next to;
# without it they report that they were skipped.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings
cargo test --workspace --locked
