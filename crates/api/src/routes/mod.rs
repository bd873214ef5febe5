//! HTTP handlers, one module per resource.

/// `GET|HEAD /health` (liveness) and `GET /api/health` (readiness).
pub mod health;
/// `POST /api/warmup`: single-flight warmup.
pub mod warmup;
