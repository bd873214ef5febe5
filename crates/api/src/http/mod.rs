//! Cross-cutting HTTP layers, one file per concern.

/// A panicking handler becomes a JSON 500.
pub mod catch_panic;
/// CSRF: unsafe methods with cookies must come from this site or the policy's origins.
pub mod csrf;
/// HTTP→HTTPS redirect, trusting `X-Forwarded-Proto` only where the policy says so.
pub mod https_redirect;
/// Turns every non-JSON error response (405, 413, timeouts) into the JSON error shape.
pub mod json_errors;
/// Per-route request counts and latency histograms at `/metrics` (token-protected).
pub mod metrics;
/// `x-request-id`: kept when the client or proxy sent a sensible one, generated otherwise.
pub mod request_id;
/// The policy's security headers, per response class, added by one layer.
pub mod security_headers;
/// Request timeout that arms a timer only for handlers that actually wait.
pub mod timeout;
/// Request spans and the access log.
pub mod trace;
