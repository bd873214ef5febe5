//! Release Flow API.
//!
//! A guided tour, in the order a request meets the code: the binary reads its configuration and
//! builds the application, which binds, accepts connections and passes each request through the
//! layer stack to the router and a handler; handlers read the shared state (the database, the
//! sessions, the frontend) and answer with a body or one error type.

#![warn(missing_docs)]

/// Environment variables and flags (clap), read once into validated, typed settings.
pub mod config;
/// Logs: JSON in staging and production, readable in development.
pub mod telemetry;
/// The application's lifecycle: `Application::build` binds first; `run_until_stopped` serves
/// and drains on SIGTERM.
pub mod startup;
/// Stop requests: SIGTERM, SIGINT, or a `ShutdownHandle`.
pub mod signals;
/// Background jobs: migrations with retry, the sweep of ended sessions and full rate-limit
/// buckets, the demo login.
pub mod jobs;
/// The accept loop and the drain contract: header-read timeout, request-head limit,
/// `Connection: close` and GOAWAY while draining.
pub mod server;
/// The edge policy resolved for this process: headers per response class, HTTPS, trusted
/// proxies, origins, redirects.
pub mod edge;
/// Layers every request passes through, in the order of `http::stack`.
pub mod http;
/// The routes and the route table.
pub mod router;
/// Handlers, one module per resource.
pub mod routes;
/// The error type every handler returns, rendered as `{"error": {"code", "message"}}`.
pub mod error;
/// The shared state handed to handlers; the lifecycle and migration status.
pub mod state;
/// Signed, expiring session tokens in an HttpOnly cookie; secret rotation.
pub mod session;
/// Ending sessions in the shared database: logout, logout-all, password changes.
pub mod revocation;
/// Login rate limits per client address and per account, shared by every instance.
pub mod rate_limit;
/// argon2id with bounded concurrency and reused working memory.
pub mod password;
/// Accounts.
pub mod users;
/// The database: SQLite or PostgreSQL behind one enum.
pub mod db;
/// Per-dialect migrations, one process at a time, with every error path releasing the lock.
pub mod migrate;
/// The built frontend, loaded into memory at start-up, served as static hosts serve it.
pub mod static_files;
/// Warmup's single flight and its report.
pub mod warmup;
/// The metrics registry behind `GET /metrics`.
pub mod metrics;
/// Timestamps and durations as the JSON bodies write them.
pub mod clock;

pub use config::Settings;
pub use signals::ShutdownHandle;
pub use startup::Application;
