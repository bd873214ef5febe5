//! The typed settings [`Config::validate`](super::Config::validate) produces: what the rest of
//! the program reads, never the environment itself.

use std::{fmt, net::IpAddr, path::PathBuf, sync::Arc, time::Duration};

use secrecy::{ExposeSecret, SecretString};

/// Where the application runs. Decides defaults and how strict validation is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppEnv {
    Development,
    Staging,
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

    pub fn is_development(self) -> bool {
        self == AppEnv::Development
    }
}

impl fmt::Display for AppEnv {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Pretty,
    Json,
}

/// `DATABASE_URL`, kept secret (a PostgreSQL URL carries the password), with its backend.
#[derive(Clone)]
pub struct DatabaseUrl {
    pub(super) url: SecretString,
    pub(super) backend: Backend,
}

impl DatabaseUrl {
    pub fn expose_secret(&self) -> &str {
        self.url.expose_secret()
    }

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

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
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
    pub env: AppEnv,
    pub server: ServerSettings,
    pub database: DatabaseSettings,
    pub session: SessionSettings,
    pub log: LogSettings,
    pub release: ReleaseInfo,
    pub frontend_dir: PathBuf,
    /// Bearer token for `/metrics`; `None` switches the endpoint off.
    pub metrics_token: Option<SecretString>,
    /// Local development only (development, and not on Render): create and print a demo login.
    pub demo_login: bool,
    /// The edge policy, validated, with an entry for `env`.
    pub policy: Arc<edge_policy::Policy>,
}

#[derive(Debug, Clone)]
pub struct ServerSettings {
    pub host: IpAddr,
    pub port: u16,
    pub request_timeout: Duration,
    pub body_limit: usize,
    /// Bounds both a slow request head and an idle keep-alive connection (one hyper timer).
    pub header_read_timeout: Duration,
    /// From SIGTERM to exit, at most.
    pub shutdown_timeout: Duration,
    /// From SIGTERM to closing the listener, with `/health` at 503.
    pub drain: Duration,
}

#[derive(Debug, Clone)]
pub struct DatabaseSettings {
    pub url: DatabaseUrl,
    pub max_connections: u32,
    pub min_connections: u32,
    pub acquire_timeout: Duration,
    /// How long a migrator waits for another process's run.
    pub migration_lock_wait: Duration,
    pub probe_timeout: Duration,
}

impl DatabaseSettings {
    pub fn backend(&self) -> Backend {
        self.url.backend()
    }
}

#[derive(Debug, Clone)]
pub struct SessionSettings {
    pub secret: SecretString,
    /// Verifies, never signs (a rotation in progress).
    pub previous: Option<SecretString>,
    pub ttl: Duration,
    /// At most this many argon2id hashes at once.
    pub hash_concurrency: usize,
    /// True when no secret was configured and a random one was made (development only).
    pub generated: bool,
}

#[derive(Debug, Clone)]
pub struct LogSettings {
    pub format: LogFormat,
    /// A `tracing_subscriber::EnvFilter` directive, checked at start-up.
    pub filter: String,
}

/// What `/api/health` and `/api/release` say about this build and instance.
#[derive(Debug, Clone)]
pub struct ReleaseInfo {
    /// The crate version.
    pub version: &'static str,
    /// The commit (`RENDER_GIT_COMMIT`, else the one the binary was built from), if known.
    pub release_id: Option<String>,
    /// `REPOSITORY_URL/commit/RELEASE_ID`, when both are set and the release id is a commit hash.
    pub commit_url: Option<String>,
    pub service_id: String,
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
