# syntax=docker/dockerfile:1
# Release Flow: the frontend built with Node, the binaries with Rust (dependencies cached by
# cargo-chef), then a slim runtime that runs `api` as a non-root user. Render builds this file for
# every API deploy (render.yaml); `docker build -t release-flow .` does the same locally.

# Keep in step with rust-toolchain.toml (a test checks it).
ARG RUST_VERSION=1.95.0
# Keep in step with .node-version (the Node major CI and Render's static sites build with); the
# latest 22.x, at least the 22.12 the Netlify parsers and package.json's engines require.
ARG NODE_VERSION=22

# --- frontend: vite build and precompressed variants (the edge files are emitted below) ---
FROM node:${NODE_VERSION}-bookworm-slim AS frontend
WORKDIR /src/frontend
# Without tools/api-types (an npm workspace), npm ci skips the API-types generator: the build only
# reads the src/api-schema.ts it wrote.
COPY frontend/package.json frontend/package-lock.json ./
RUN node -e 'const [M, m] = process.versions.node.split(".").map(Number); if (M === 22 && m < 12) throw new Error("Node " + process.version + " < 22.12")' \
 && npm ci --no-audit --no-fund
COPY frontend/ ./
# The page embeds this version's changelog highlights (vite.config.ts reads both files).
COPY CHANGELOG.md Cargo.toml /src/
RUN npm run build:static && node scripts/compress.mjs dist

# --- Rust: cargo-chef caches the dependency build in its own layer ---
FROM rust:${RUST_VERSION}-slim-bookworm AS chef
ARG RUST_VERSION
# The image's own toolchain, named: rust-toolchain.toml also lists rustfmt and clippy, which the
# slim image lacks, and rustup would download them in every stage that reads it (and fail on any
# builder without internet). The build needs neither.
ENV RUSTUP_TOOLCHAIN=${RUST_VERSION} \
    CARGO_PROFILE_RELEASE_STRIP=symbols
RUN cargo install cargo-chef --locked --version 0.1.78
WORKDIR /src

FROM chef AS planner
COPY . .
RUN cargo chef prepare --recipe-path recipe.json

FROM chef AS builder
COPY --from=planner /src/recipe.json recipe.json
# Only the two packages built below: cooking the whole workspace unifies release-check's features
# into shared dependencies, and the build below would then compile 25 of them again.
RUN cargo chef cook --release --locked -p api -p edge-policy --recipe-path recipe.json
COPY . .
# The commit /api/health reports when RENDER_GIT_COMMIT is not set (the build has no .git).
ARG GIT_COMMIT=""
ENV GIT_COMMIT=${GIT_COMMIT}
RUN cargo build --release --locked -p api -p edge-policy
# _headers/_redirects travel with the image's frontend, for anyone who copies dist to a static host.
ARG APP_ENV=production
COPY --from=frontend /src/frontend/dist frontend/dist
RUN target/release/edge-policy emit --env "${APP_ENV}" --dist frontend/dist

# --- runtime: the binary (migrations and the policy are embedded), the frontend, CA certificates ---
FROM debian:bookworm-slim AS runtime
# The CA bundle comes from the builder (Debian's ca-certificates, refreshed with the Rust image)
# rather than from apt here: apt would add openssl and 10 MB to every deploy for one file.
COPY --from=builder /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
RUN useradd --system --uid 10001 --user-group --home-dir /app --shell /usr/sbin/nologin app \
 && mkdir -p /app/data \
 && chown app:app /app/data
WORKDIR /app
COPY --from=builder /src/target/release/api /app/api
COPY --from=builder /src/frontend/dist /app/frontend/dist
ENV APP_ENV=production \
    HOST=0.0.0.0 \
    PORT=10000 \
    FRONTEND_DIR=/app/frontend/dist
USER 10001:10001
EXPOSE 10000
# Exec form: `api` is PID 1 and receives Render's SIGTERM itself, then drains.
CMD ["/app/api", "serve"]
