//! HTTP handlers, one module per resource.

/// Login, logout, `/api/me`, `/api/session`, and the `AuthUser` extractor.
pub mod auth;
/// Non-API paths: the policy's redirects, then the frontend.
pub mod frontend;
/// `GET|HEAD /health` (liveness) and `GET /api/health` (readiness).
pub mod health;
/// `GET /metrics`: Prometheus text, behind a bearer token.
pub mod metrics;
/// `GET /api/openapi.json`: the OpenAPI document, generated from the handlers.
pub mod openapi;
/// `GET /api/release`: this release and instance, for the page shown after login.
pub mod release;
/// `POST /api/warmup`: what a warmup run does.
pub mod warmup;
