//! The layers every request passes through, one file per concern, and the stack that orders
//! them ([`stack::with_layers`]). They sit below the handlers: nothing here imports a route.

/// A panicking handler becomes a JSON 500.
pub mod catch_panic;
/// The client address, as far as the policy trusts the proxies in front.
pub mod client_address;
/// CORS on every `/api` answer, whichever layer made it.
pub mod cors;
/// HTTP → HTTPS redirect, trusting `X-Forwarded-Proto` only where the policy says so.
pub mod https_redirect;
/// Turns every non-JSON error response (405, 413, timeouts) into the JSON error shape.
pub mod json_errors;
/// `x-request-id`: kept when the client or proxy sent a sensible one, generated otherwise.
pub mod request_id;
/// The policy's security headers, per response class.
pub mod security_headers;
/// The order of the layers, outermost first.
pub mod stack;
/// Request timeout that arms a timer only for handlers that actually wait.
pub mod timeout;
/// Request spans, the access log, and per-route metrics.
pub mod trace;
