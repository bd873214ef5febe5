//! The typed settings [`Config::validate`](super::Config::validate) produces: what the rest of
//! the program reads, never the environment itself.

use std::{fmt, net::IpAddr, path::PathBuf, sync::Arc, time::Duration};

use secrecy::{ExposeSecret, SecretString};

/// Where the application runs. Decides defaults and how strict validation is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppEnv {
    /// Local machines: relaxed validation, readable logs, a generated secret allowed.
    Development,
    /// The `staging` branch's deploy: production's rules with its own origins.
    Staging,
    /// Deployed from a `vX.Y.Z` tag: strong secrets, PostgreSQL, HTTPS only.
    Production,
}

impl AppEnv {
    /// The name `APP_ENV` and `policy.toml`'s `[environments.NAME]` use.
    pub fn as_str(self) -> &'static str {
        match self {
            AppEnv::Development => "development",
            AppEnv::Staging => "staging",
            AppEnv::Production => "production",
        }
    }

    /// True for [`AppEnv::Development`], where a missing secret or SQLite is allowed.
    pub fn is_development(self) -> bool {
        self == AppEnv::Development
    }
}

impl fmt::Display for AppEnv {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `LOG_FORMAT`: how each log event is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Multi-line, coloured, for a terminal.
    Pretty,
    /// One JSON object per line, for Render's log stream and log drains.
    Json,
}

/// `DATABASE_URL`, kept secret (a PostgreSQL URL carries the password), with its backend.
#[derive(Clone)]
pub struct DatabaseUrl {
    pub(super) url: SecretString,
    pub(super) backend: Backend,
}

impl DatabaseUrl {
    /// The URL itself. Only for handing to the driver: never log it.
    pub fn expose_secret(&self) -> &str {
        self.url.expose_secret()
    }

    /// Which database the URL's scheme names.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Whether the URL's user information carries a password (`postgres://user:PASSWORD@host`).
    pub fn has_password(&self) -> bool {
        let url = self.url.expose_secret();
        let authority = url.split_once("://").map_or("", |(_, rest)| rest);
        let authority = authority.split(['/', '?']).next().unwrap_or_default();
        authority
            .rsplit_once('@')
            .is_some_and(|(userinfo, _)| userinfo.contains(':'))
    }
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DatabaseUrl({}:[REDACTED])", self.backend)
    }
}

/// The database engines this service speaks, from `DATABASE_URL`'s scheme.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// `sqlite:` — a file, one process (development).
    Sqlite,
    /// `postgres://` or `postgresql://` — shared by every instance (staging, production).
    Postgres,
}

impl Backend {
    /// The backend a URL's scheme names, if it is one this service speaks.
    pub fn of(url: &str) -> Option<Backend> {
        if url.starts_with("sqlite:") {
            Some(Backend::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Some(Backend::Postgres)
        } else {
            None
        }
    }
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        })
    }
}

/// The validated settings: what the rest of the program reads, never the environment itself.
#[derive(Debug, Clone)]
pub struct Settings {
    /// `APP_ENV`.
    pub env: AppEnv,
    /// Where and how the server listens and drains.
    pub server: ServerSettings,
    /// The connection pool and the migration lock.
    pub database: DatabaseSettings,
    /// Signing secrets, lifetime and password-hashing concurrency.
    pub session: SessionSettings,
    /// `LOG_FORMAT` and `RUST_LOG`.
    pub log: LogSettings,
    /// Version, release id and instance, as reported by `/api/health` and `/metrics`.
    pub release: ReleaseInfo,
    /// `FRONTEND_DIR`: the built frontend (`frontend/dist`) served at `/`.
    pub frontend_dir: PathBuf,
    /// Bearer token for `/metrics`; `None` switches the endpoint off.
    pub metrics_token: Option<SecretString>,
    /// Local development only (development, and not on Render): create and print a demo login.
    pub demo_login: bool,
    /// The edge policy, validated, with an entry for `env`.
    pub policy: Arc<edge_policy::Policy>,
}

/// Where and how the server listens and drains, from `HOST`, `PORT` and the timeouts.
#[derive(Debug, Clone)]
pub struct ServerSettings {
    /// `HOST`: the address to bind (`0.0.0.0` on Render).
    pub host: IpAddr,
    /// `PORT`: the TCP port (Render sets it; 10000 by default there).
    pub port: u16,
    /// `REQUEST_TIMEOUT_SECS`: a handler running longer is cut off with a JSON 503.
    pub request_timeout: Duration,
    /// `BODY_LIMIT_BYTES`: a larger request body answers 413 `payload_too_large`.
    pub body_limit: usize,
    /// Bounds both a slow request head and an idle keep-alive connection (one hyper timer).
    pub header_read_timeout: Duration,
    /// From SIGTERM to exit, at most.
    pub shutdown_timeout: Duration,
    /// From SIGTERM to closing the listener, with `/health` at 503.
    pub drain: Duration,
}

/// The database pool, from `DATABASE_*` variables.
#[derive(Debug, Clone)]
pub struct DatabaseSettings {
    /// `DATABASE_URL`, secret.
    pub url: DatabaseUrl,
    /// `DATABASE_MAX_CONNECTIONS`: the pool's upper bound, per instance.
    pub max_connections: u32,
    /// `DATABASE_MIN_CONNECTIONS`: connections kept open while idle.
    pub min_connections: u32,
    /// `DATABASE_ACQUIRE_TIMEOUT_MS`: how long a request waits for a connection (then 503).
    pub acquire_timeout: Duration,
    /// How long a migrator waits for another process's run.
    pub migration_lock_wait: Duration,
    /// `HEALTH_DB_TIMEOUT_MS`: the readiness probe's bound on the database round trip.
    pub probe_timeout: Duration,
}

impl DatabaseSettings {
    /// The backend of [`DatabaseSettings::url`].
    pub fn backend(&self) -> Backend {
        self.url.backend()
    }
}

/// Session signing and lifetime, from `SESSION_*` and `PASSWORD_HASH_CONCURRENCY`.
#[derive(Debug, Clone)]
pub struct SessionSettings {
    /// `SESSION_SECRET`: signs new sessions (HMAC-SHA256), at least 32 bytes outside development.
    pub secret: SecretString,
    /// Verifies, never signs (a rotation in progress).
    pub previous: Option<SecretString>,
    /// `SESSION_TTL_SECS`: a session's lifetime from login; the cookie's `Max-Age` too.
    pub ttl: Duration,
    /// At most this many argon2id hashes at once.
    pub hash_concurrency: usize,
    /// True when no secret was configured and a random one was made (development only).
    pub generated: bool,
}

/// `LOG_FORMAT` and `RUST_LOG`.
#[derive(Debug, Clone)]
pub struct LogSettings {
    /// `LOG_FORMAT`.
    pub format: LogFormat,
    /// A `tracing_subscriber::EnvFilter` directive, checked at start-up.
    pub filter: String,
}

/// What `/api/health`, `/api/release` and `/metrics` say about this build and instance; never
/// secret.
#[derive(Debug, Clone)]
pub struct ReleaseInfo {
    /// The crate version this binary was built from (`CARGO_PKG_VERSION`).
    pub version: &'static str,
    /// The deployed commit: `RENDER_GIT_COMMIT`, else the commit the binary was built from
    /// (`BUILD_GIT_COMMIT` at compile time), if known.
    pub release_id: Option<String>,
    /// `REPOSITORY_URL/commit/RELEASE_ID`, when both are set and the release id is a commit hash.
    pub commit_url: Option<String>,
    /// `RENDER_SERVICE_NAME` (`release-flow-api` by default).
    pub service_id: String,
    /// `RENDER_INSTANCE_ID`, else the host name.
    pub instance_id: String,
}

impl ReleaseInfo {
    /// The release's facts; `repository` is `REPOSITORY_URL`, already checked to be https.
    pub fn new(
        version: &'static str,
        release_id: Option<String>,
        repository: Option<&str>,
        service_id: String,
        instance_id: String,
    ) -> Self {
        // Only a commit hash is linked: a hand-set release id names no page of the repository.
        let commit_url = match (repository, release_id.as_deref()) {
            (Some(repository), Some(id)) if is_commit_hash(id) => {
                Some(format!("{repository}/commit/{id}"))
            }
            _ => None,
        };
        Self {
            version,
            release_id,
            commit_url,
            service_id,
            instance_id,
        }
    }
}

/// A full or abbreviated git object name: 7 to 64 hex digits (SHA-1 or SHA-256).
fn is_commit_hash(id: &str) -> bool {
    (7..=64).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_hexdigit())
}
