#!/usr/bin/env bash
# The container, as Render builds and runs it: builds the unmodified Dockerfile with podman (or
# docker, when it works) and smoke-tests the image: /health, /api/health, POST /api/warmup and the
# frontend answer; the process runs as uid 10001; SIGTERM ends it with exit 0 within the drain;
# prints the time from start to the first 200, the build time and the image size.
#
# Where no container registry answers, it first builds local stand-ins of the Dockerfile's base
# images under the same names (debootstrap for debian:bookworm-slim; the host's Node.js 22 and
# Rust toolchain on top of it for node:22-bookworm-slim and rust:X-slim-bookworm, the Rust one
# without rustfmt and clippy, as the official slim image) and says so. Where containers cannot
# run at all it says why and skips, except under CI, where that is a failure.
# Environment: CONTAINER_ENGINE (podman|docker), CONTAINER_TEST_PORT (default 18777).
# The build takes minutes on two cores (docs/PERFORMANCE.md); it runs under `nice`.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf 'container: %s\n' "$*"; }
skip() {
  say "SKIPPED: $*"
  if [ -n "${CI:-}" ]; then say "CI is set: the container test must run here"; exit 1; fi
  exit 0
}

# --- the engine ---
engine=${CONTAINER_ENGINE:-}
if [ -z "$engine" ]; then
  if command -v podman >/dev/null; then engine=podman
  elif command -v docker >/dev/null && docker info >/dev/null 2>&1; then engine=docker
  else skip "neither podman nor a working docker (sudo apt-get install -y podman)"; fi
fi
work=$(mktemp -d)
name="rf-smoke-$$"
cleanup() {
  "$engine" rm -f "$name" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

if [ "$engine" = podman ] && [ "$(id -u)" = 0 ]; then
  # Root with hybrid cgroups (v1 plus a v2 "unified" mount) and capped rlimits, as on the CI
  # machines: crun refuses hybrid mode and the default ulimits exceed the hard limits
  # (../docs/PERFORMANCE.md, "The container"). These settings work there and on ordinary hosts.
  nproc=$(ulimit -Hu); [ "$nproc" = unlimited ] || [ "$nproc" -gt 32768 ] && nproc=32768
  cat > "$work/containers.conf" <<EOF
[containers]
netns = "host"
cgroupns = "host"
default_ulimits = ["nofile=$(ulimit -Hn):$(ulimit -Hn)", "nproc=$nproc:$nproc"]
[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
runtime = "runc"
EOF
  cat > "$work/storage.conf" <<EOF
[storage]
driver = "overlay"
runroot = "/run/containers/storage"
graphroot = "/var/lib/containers/storage"
[storage.options.overlay]
mountopt = "nodev"
EOF
  export CONTAINERS_CONF="$work/containers.conf" CONTAINERS_STORAGE_CONF="$work/storage.conf"
fi
"$engine" info >/dev/null 2>&1 || skip "\`$engine info\` fails: $("$engine" info 2>&1 | tail -n1)"

# --- base images: from the registry, or stand-ins under the same names ---
rust_version=$(sed -n 's/^ARG RUST_VERSION=//p' Dockerfile)
node_version=$(sed -n 's/^ARG NODE_VERSION=//p' Dockerfile)
debian=docker.io/library/debian:bookworm-slim
node_image=docker.io/library/node:${node_version}-bookworm-slim
rust_image=docker.io/library/rust:${rust_version}-slim-bookworm
pull=always
if ! timeout 20 curl -s -o /dev/null https://registry-1.docker.io/v2/; then
  pull=never
  say "no container registry answers: using local stand-ins of $debian, $node_image, $rust_image"
  standin() { "$engine" image exists "$1" 2>/dev/null && [ "$("$engine" image inspect -f '{{index .Labels "release-flow.standin"}}' "$1" 2>/dev/null)" = 1 ]; }

  if ! standin "$debian"; then
    command -v debootstrap >/dev/null || skip "no registry and no debootstrap to build stand-ins (sudo apt-get install -y debootstrap)"
    say "building the $debian stand-in with debootstrap (about a minute)"
    root=$work/rootfs
    debootstrap --variant=minbase bookworm "$root" http://deb.debian.org/debian >"$work/debootstrap.log" 2>&1 ||
      { tail -n 20 "$work/debootstrap.log"; exit 1; }
    # What the official slim image sets up: deb822 sources, no caches, no docs, manuals or locales.
    rm -f "$root/etc/apt/sources.list"
    cat > "$root/etc/apt/sources.list.d/debian.sources" <<'EOF'
Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://deb.debian.org/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
    printf '%s\n' 'DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };' \
      'APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };' \
      'Dir::Cache::pkgcache ""; Dir::Cache::srcpkgcache "";' > "$root/etc/apt/apt.conf.d/docker-clean"
    printf 'Acquire::GzipIndexes "true";\n' > "$root/etc/apt/apt.conf.d/docker-gzip-indexes"
    printf 'Acquire::Languages "none";\n' > "$root/etc/apt/apt.conf.d/docker-no-languages"
    printf 'Apt::AutoRemove::SuggestsImportant "false";\n' > "$root/etc/apt/apt.conf.d/docker-autoremove-suggests"
    printf 'force-unsafe-io\n' > "$root/etc/dpkg/dpkg.cfg.d/docker-apt-speedup"
    printf '%s\n' 'path-exclude /usr/share/doc/*' 'path-include /usr/share/doc/*/copyright' \
      'path-exclude /usr/share/man/*' 'path-exclude /usr/share/locale/*' > "$root/etc/dpkg/dpkg.cfg.d/docker"
    rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin "$root"/var/cache/apt/archives/*.deb \
      "$root"/usr/share/doc/* "$root"/usr/share/man/* "$root"/usr/share/locale/*
    # The host's CA bundle: the only way out of a network that intercepts TLS.
    mkdir -p "$root/etc/ssl/certs" && cp /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/"
    tar -C "$root" --numeric-owner -cf "$work/rootfs.tar" .
    "$engine" import --quiet --change 'CMD ["bash"]' --change 'LABEL release-flow.standin=1' "$work/rootfs.tar" "$debian" >/dev/null
    rm -rf "$root" "$work/rootfs.tar"
  fi

  if ! standin "$node_image"; then
    node=$(command -v node)
    node_ok=$(node -p 'const [M, m] = process.versions.node.split(".").map(Number); M > 22 || (M === 22 && m >= 12)')
    [ "$node_ok" = true ] || skip "the node on PATH ($(node --version)) is older than 22.12: run scripts/setup.sh and source .tools/env"
    npm_dir=$(dirname "$(dirname "$(realpath "$(command -v npm)")")")
    say "building the $node_image stand-in from $node ($(node --version)) and $npm_dir"
    ctx=$work/node && mkdir -p "$ctx/lib"
    cp "$node" "$ctx/node" && cp -r "$npm_dir" "$ctx/lib/npm"
    cat > "$ctx/Containerfile" <<EOF
FROM $debian
COPY node /usr/local/bin/node
COPY lib/npm /usr/local/lib/node_modules/npm
RUN ln -s ../lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm \\
 && ln -s ../lib/node_modules/npm/bin/npx-cli.js /usr/local/bin/npx \\
 && groupadd --gid 1000 node && useradd --uid 1000 --gid node --shell /bin/bash --create-home node
ENV NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt
LABEL release-flow.standin=1
CMD ["node"]
EOF
    nice -n 10 "$engine" build -q --pull=never --network host -t "$node_image" "$ctx" >"$work/standin.log" 2>&1 ||
      { tail -n 20 "$work/standin.log"; exit 1; }
  fi

  if ! standin "$rust_image"; then
    sysroot=$(rustc +"$rust_version" --print sysroot 2>/dev/null) ||
      skip "no Rust $rust_version toolchain on the host for the $rust_image stand-in"
    say "building the $rust_image stand-in from $sysroot (minimal profile: no rustfmt, clippy or docs)"
    ctx=$work/rust && tc=$ctx/rustup/toolchains/$rust_version-x86_64-unknown-linux-gnu
    mkdir -p "$tc" "$ctx/cargo/bin"
    tar -C "$sysroot/" --exclude=./share/doc -cf - . | tar -C "$tc" -xf -
    # Uninstall the components the official slim image lacks, as rustup would: remove the files
    # their manifests list, then the manifests and their lines in `components`.
    for component in rust-docs rustfmt-preview clippy-preview; do
      manifest=$tc/lib/rustlib/manifest-$component-x86_64-unknown-linux-gnu
      [ -f "$manifest" ] || continue
      sed -n 's/^\(file\|dir\)://p' "$manifest" | (cd "$tc" && xargs -r rm -rf --)
      rm -f "$manifest"
      sed -i "/^$component-x86_64-unknown-linux-gnu\$/d" "$tc/lib/rustlib/components"
    done
    cp "$(command -v rustup)" "$ctx/cargo/bin/rustup"
    for proxy in cargo rustc rustdoc rust-gdb rust-gdbgui rust-lldb rustfmt cargo-fmt cargo-clippy clippy-driver cargo-miri rls rust-analyzer; do
      ln -s rustup "$ctx/cargo/bin/$proxy"
    done
    printf 'version = "12"\ndefault_toolchain = "%s-x86_64-unknown-linux-gnu"\nprofile = "minimal"\nauto_self_update = "disable"\n' \
      "$rust_version" > "$ctx/rustup/settings.toml"
    cat > "$ctx/Containerfile" <<EOF
FROM $debian
ENV RUSTUP_HOME=/usr/local/rustup CARGO_HOME=/usr/local/cargo \\
    PATH=/usr/local/cargo/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin RUST_VERSION=$rust_version
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates gcc libc6-dev \\
 && rm -rf /var/lib/apt/lists/* && cp /etc/ssl/certs/ca-certificates.crt /tmp/host-ca.crt
COPY rustup /usr/local/rustup
COPY cargo /usr/local/cargo
RUN chmod -R a+w /usr/local/rustup /usr/local/cargo && rustc --version && cargo --version
LABEL release-flow.standin=1
EOF
    # The host's bundle again, over the one ca-certificates just generated.
    cp /etc/ssl/certs/ca-certificates.crt "$ctx/ca.crt"
    printf 'COPY ca.crt /etc/ssl/certs/ca-certificates.crt\n' >> "$ctx/Containerfile"
    nice -n 10 "$engine" build -q --pull=never --network host -t "$rust_image" "$ctx" >"$work/standin.log" 2>&1 ||
      { tail -n 20 "$work/standin.log"; exit 1; }
    rm -rf "$ctx"
  fi
fi

# --- the build, of the Dockerfile as it is ---
image=localhost/release-flow:test
say "building the Dockerfile (pull=$pull; several minutes on two cores; log in $work/build.log)"
started=$(date +%s)
if ! nice -n 10 "$engine" build --pull="$pull" --network host \
  --build-arg GIT_COMMIT="$(git rev-parse HEAD 2>/dev/null || true)" -t "$image" . >"$work/build.log" 2>&1; then
  tail -n 40 "$work/build.log"
  say "the build failed"
  exit 1
fi
build_secs=$(( $(date +%s) - started ))
size=$("$engine" image inspect -f '{{.Size}}' "$image")
say "built in ${build_secs}s; image size $(( size / 1000000 )) MB ($size bytes)"
if grep -q 'syncing channel updates\|downloading component' "$work/build.log"; then
  grep 'syncing channel updates\|downloading component' "$work/build.log"
  say "rustup downloaded inside the build (above): the image build must not need rustup's servers"
  exit 1
fi

# The dependencies were cooked in their own layer: the final build compiles the two packages only.
recompiled=$(awk '/STEP [0-9]+\/[0-9]+: RUN cargo build --release/ { on = 1; next } /STEP [0-9]+\/[0-9]+: / { on = 0 } on && /Compiling/ { print $2 }' "$work/build.log" |
  grep -vx -e api -e edge-policy | tr '\n' ' ' || true)
if [ -n "$recompiled" ]; then
  say "the final cargo build recompiled dependencies the cook step should have built: $recompiled"
  exit 1
fi

# --- the smoke test ---
port=${CONTAINER_TEST_PORT:-18777}
base=http://127.0.0.1:$port
secret=$(head -c 48 /dev/urandom | base64 -w0)
t0=$(date +%s.%N)
"$engine" run -d --name "$name" --network host -e PORT="$port" -e SESSION_SECRET="$secret" "$image" >/dev/null
first=
for _ in $(seq 1 300); do
  if curl -fsS -o /dev/null "$base/health" 2>/dev/null; then first=$(date +%s.%N); break; fi
  sleep 0.02
done
[ -n "$first" ] || { "$engine" logs "$name" | tail -n 20; say "/health never answered 200"; exit 1; }
say "start to first 200 on /health: $(awk -v a="$t0" -v b="$first" 'BEGIN { printf "%.2f", b - a }') s (includes the engine starting the container)"

https=(-H 'X-Forwarded-Proto: https')
check() { # name, expected substring, curl arguments…
  local what=$1 want=$2; shift 2
  local body
  body=$(curl -fsS "${https[@]}" "$@") || { say "$what failed"; "$engine" logs "$name" | tail -n 20; exit 1; }
  case "$body" in *"$want"*) say "$what: ok" ;; *) say "$what: expected \"$want\", got: ${body:0:300}"; exit 1 ;; esac
}
check "GET /health" ok "$base/health"
check "GET /api/health" '"status":"pass"' "$base/api/health"
check "POST /api/warmup" '"status":"warm"' -X POST "$base/api/warmup"
check "GET / (the frontend)" '<!doctype html>' "$base/"

pid=$("$engine" inspect -f '{{.State.Pid}}' "$name")
uid=$(awk '/^Uid:/ { print $2 }' "/proc/$pid/status")
[ "$uid" = 10001 ] || { say "the process runs as uid $uid, not 10001"; exit 1; }
say "runs as uid $uid"

drain=$("$engine" image inspect -f '{{range .Config.Env}}{{println .}}{{end}}' "$image" | sed -n 's/^SHUTDOWN_DRAIN_SECS=//p')
t0=$(date +%s.%N)
"$engine" stop -t 30 "$name" >/dev/null
stop_secs=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
code=$("$engine" inspect -f '{{.State.ExitCode}}' "$name")
[ "$code" = 0 ] || { "$engine" logs "$name" | tail -n 20; say "SIGTERM: exit $code, expected 0"; exit 1; }
# Production drains 3 s (SHUTDOWN_DRAIN_SECS) and exits within SHUTDOWN_TIMEOUT_SECS (25).
awk -v s="$stop_secs" 'BEGIN { exit !(s < 25) }' || { say "SIGTERM: stopped after ${stop_secs}s, not within 25 s"; exit 1; }
say "SIGTERM: exit 0 after ${stop_secs}s (drain ${drain:-3 (default)} s)"
say "passed: build ${build_secs}s, image $(( size / 1000000 )) MB"
