//! Cross-cutting HTTP layers, one file per concern.

/// Turns every non-JSON error response (405, 413, timeouts) into the JSON error shape.
pub mod json_errors;
/// `x-request-id`: kept when the client or proxy sent a sensible one, generated otherwise.
pub mod request_id;
/// Request timeout that arms a timer only for handlers that actually wait.
pub mod timeout;
/// Request spans and the access log.
pub mod trace;
