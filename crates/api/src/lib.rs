//! Release Flow API.
//!
//! A guided tour, in the order a request meets the code:

/// Environment variables, read once into typed settings and validated at start-up.
pub mod config;
/// The database: SQLite or PostgreSQL behind one enum, with per-dialect migrations.
pub mod db;
/// The error type every handler returns, rendered as `{"error": {"code", "message"}}`.
pub mod error;
/// Layers every request passes through: request id, access log, JSON errors.
pub mod http;
/// Login rate limits per client address and per account.
pub mod rate_limit;
/// Handlers, one module per resource.
pub mod routes;
/// The accept loop: hyper's header-read timeout, graceful connection shutdown.
pub mod server;
/// Signed, expiring session tokens in an HttpOnly cookie.
pub mod session;
/// `Application::build` binds the listener; `run_until_stopped` serves and drains on SIGTERM.
pub mod startup;
/// The shared state handed to handlers, and the process lifecycle (draining, schema).
pub mod state;
/// The built frontend, loaded into memory at start-up.
pub mod static_files;
/// Logs: JSON in staging and production, readable in development.
pub mod telemetry;
/// Accounts and password hashing.
pub mod users;

pub use config::Settings;
pub use startup::{Application, ShutdownHandle};
