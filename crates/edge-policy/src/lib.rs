//! Release Flow's edge policy: `policy.toml` is the one source of truth for security headers,
//! HTTPS, caching, CORS origins and redirects.
//!
//! - [`policy`]: the file's model, parsed strictly and validated.
//! - [`headers`]: header sets per response class ([`Policy::headers_for`]); the API adds these.
//! - [`csp`]: CSP rendering and inline-script hashing.
//! - [`emit`]: `_headers` and `_redirects` for static hosts, and Render routes.
//! - [`render`]: the static-site part of `render.yaml`.
//! - [`nginx`]: a Render static site emulated with nginx, for local tests.
//! - [`check`]: drift between the policy and everything it drives.

#![warn(missing_docs)]

pub mod check;
pub mod csp;
pub mod emit;
pub mod headers;
pub mod nginx;
pub mod policy;
pub mod render;

pub use headers::{Header, ResponseClass};
pub use policy::{Policy, PolicyError};

/// The repository's `policy.toml`, embedded so a binary runs with the reviewed policy by default.
pub const EMBEDDED_POLICY: &str = include_str!("../../../policy.toml");
