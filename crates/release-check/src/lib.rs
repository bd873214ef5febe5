//! Release Flow's release tooling.
//!
//! - [`changelog`]: the gate a `vX.Y.Z` tag must pass before it deploys.
//! - [`verify`]: the compliance checklist, run against a deployed (or local) URL.

pub mod changelog;
pub mod verify;
