//! Release Flow's release tooling.
//!
//! - [`changelog`]: the gate a `vX.Y.Z` tag must pass before it deploys.
//! - [`prepare`]: cuts a release (Unreleased → a dated section, the version bumped).
//! - [`verify`]: the compliance checklist, run against a deployed (or local) URL.
//! - [`rehearse`]: a rolling deploy of real instances behind nginx under load, measured.

#![warn(missing_docs)]

pub mod changelog;
pub mod prepare;
pub mod rehearse;
pub mod verify;
