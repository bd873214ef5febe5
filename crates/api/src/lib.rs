//! Release Flow API.
//!
//! A guided tour, in the order a request meets the code:

/// Timestamps and durations as the JSON bodies write them.
pub mod clock;
/// Environment variables and flags (clap), read once into validated, typed settings.
pub mod config;
/// The database: SQLite or PostgreSQL behind one enum.
pub mod db;
/// The edge policy resolved for this process: headers per response class, HTTPS, trusted
/// proxies, origins, redirects.
pub mod edge;
/// The error type every handler returns, rendered as `{"error": {"code", "message"}}`.
pub mod error;
/// Layers every request passes through, in the order of `http::stack`.
pub mod http;
/// Background jobs: migrations with retry, the rate-limit sweep, the demo login.
pub mod jobs;
/// The metrics registry behind `GET /metrics`.
pub mod metrics;
/// Per-dialect migrations, one process at a time, with every error path releasing the lock.
pub mod migrate;
/// argon2id with bounded concurrency and reused working memory.
pub mod password;
/// Login rate limits per client address and per account, shared by every instance.
pub mod rate_limit;
/// Ending sessions in the shared database: logout, logout-all, password changes.
pub mod revocation;
/// The routes and the route table.
pub mod router;
/// Handlers, one module per resource.
pub mod routes;
/// The accept loop: hyper's header-read timeout, request-head limit, graceful connection shutdown.
pub mod server;
/// Signed, expiring session tokens in an HttpOnly cookie; secret rotation.
pub mod session;
/// Stop requests: SIGTERM, SIGINT, or a `ShutdownHandle`.
pub mod signals;
/// The application's lifecycle: `Application::build` binds first; `run_until_stopped` serves and
/// drains on SIGTERM.
pub mod startup;
/// The shared state handed to handlers; the lifecycle and migration status.
pub mod state;
/// The built frontend, loaded into memory at start-up.
pub mod static_files;
/// Logs: JSON in staging and production, readable in development.
pub mod telemetry;
/// Accounts.
pub mod users;
/// Warmup's single flight and its report.
pub mod warmup;

pub use config::Settings;
pub use signals::ShutdownHandle;
pub use startup::Application;
