//! Configuration: every environment variable is one field of [`Config`], a clap `Args` struct
//! whose attributes carry the variable's name, default and help (what `api --help` prints and
//! what the docs test compares README.md against). [`Config::validate`] then applies the rules
//! that span several variables and yields the typed [`Settings`] the rest of the program reads.
//!
//! A bad value stops start-up with one line that names the variable, says what is wrong and what
//! is expected ([`ConfigError`]); `main.rs` exits with status 78 (sysexits.h `EX_CONFIG`).

use std::{
    ffi::OsString,
    net::{IpAddr, Ipv4Addr},
    path::PathBuf,
    sync::Arc,
    time::Duration,
};

use clap::{ArgAction, Args, FromArgMatches};
use secrecy::{ExposeSecret, SecretString};

/// Every variable the `api` binary reads. Each field is also a `--flag` of the same name, which
/// wins over the variable; secrets are accepted from the environment only.
#[derive(Args, Debug, Clone)]
#[command(next_help_heading = "Environment (also read from .env in development)")]
pub struct Config {
    /// development | staging | production: picks defaults and how strict validation is
    #[arg(long, env = "APP_ENV", default_value = "development", value_parser = parse::app_env)]
    pub app_env: AppEnv,

    /// Address to bind [default: 127.0.0.1 in development, else 0.0.0.0]
    #[arg(long, env = "HOST", value_parser = parse::ip_addr)]
    pub host: Option<IpAddr>,

    /// Port to bind (Render sets it); 0 picks a free port
    #[arg(long, env = "PORT", default_value = "8080", value_parser = parse::whole::<u16>(0, 65535))]
    pub port: u16,

    /// sqlite:PATH (the file and its folder are created) or postgres://USER:PASSWORD@HOST:PORT/DATABASE
    #[arg(long, env = "DATABASE_URL", default_value = DEFAULT_DATABASE_URL, hide_env_values = true, value_parser = parse::database_url)]
    pub database_url: DatabaseUrl,

    /// Database pool size
    #[arg(long, env = "DATABASE_MAX_CONNECTIONS", default_value = "10", value_parser = parse::whole::<u32>(1, 1000))]
    pub database_max_connections: u32,

    /// Connections warmup opens and keeps; at most DATABASE_MAX_CONNECTIONS
    #[arg(long, env = "DATABASE_MIN_CONNECTIONS", default_value = "1", value_parser = parse::whole::<u32>(0, 1000))]
    pub database_min_connections: u32,

    /// Milliseconds a request waits for a database connection before a JSON 503
    #[arg(long, env = "DATABASE_ACQUIRE_TIMEOUT_MS", default_value = "3000", value_parser = parse::whole::<u64>(100, 60_000))]
    pub database_acquire_timeout_ms: u64,

    /// Seconds a process waits for another one's migrations before giving up (and retrying later)
    #[arg(long, env = "MIGRATION_LOCK_WAIT_SECS", default_value = "60", value_parser = parse::whole::<u64>(1, 3600))]
    pub migration_lock_wait_secs: u64,

    /// Milliseconds the database probe of /api/health may take; slower than half is `warn`
    #[arg(long, env = "HEALTH_DB_TIMEOUT_MS", default_value = "2000", value_parser = parse::whole::<u64>(50, 30_000))]
    pub health_db_timeout_ms: u64,

    /// Seconds after which a request still running gets a JSON 503
    #[arg(long, env = "REQUEST_TIMEOUT_SECS", default_value = "20", value_parser = parse::whole::<u64>(1, 3600))]
    pub request_timeout_secs: u64,

    /// Larger request bodies get a JSON 413
    #[arg(long, env = "BODY_LIMIT_BYTES", default_value = "65536", value_parser = parse::whole::<usize>(1024, 2 * 1024 * 1024))]
    pub body_limit_bytes: usize,

    /// Seconds a connection may take to send a request head, and may sit idle between requests
    #[arg(long, env = "HEADER_READ_TIMEOUT_SECS", default_value = "30", value_parser = parse::whole::<u64>(1, 600))]
    pub header_read_timeout_secs: u64,

    /// After SIGTERM the process exits within this many seconds, even if clients hold connections
    #[arg(long, env = "SHUTDOWN_TIMEOUT_SECS", default_value = "25", value_parser = parse::whole::<u64>(1, 300))]
    pub shutdown_timeout_secs: u64,

    /// After SIGTERM, seconds to keep accepting with /health at 503 [default: 0 in development, else 3]
    #[arg(long, env = "SHUTDOWN_DRAIN_SECS", value_parser = parse::whole::<u64>(0, 300))]
    pub shutdown_drain_secs: Option<u64>,

    /// Session signing key, at least 32 bytes; required outside development [default: random per process in development]
    #[arg(long, env = "SESSION_SECRET", hide_env_values = true, value_parser = parse::session_secret)]
    pub session_secret: Option<SecretString>,

    /// The secret before the current one, during a rotation: accepted when verifying sessions, never used to sign [default: unset]
    #[arg(long, env = "SESSION_SECRET_PREVIOUS", hide_env_values = true, value_parser = parse::session_secret)]
    pub session_secret_previous: Option<SecretString>,

    /// Seconds a login lasts
    #[arg(long, env = "SESSION_TTL_SECS", default_value = "43200", value_parser = parse::whole::<u64>(60, 30 * 24 * 3600))]
    pub session_ttl_secs: u64,

    /// Password hashes (argon2id, 19 MiB each) computed at once; more logins wait up to 2 s, then get a 503 [default: the number of CPUs]
    #[arg(long, env = "PASSWORD_HASH_CONCURRENCY", value_parser = parse::whole::<usize>(1, 64))]
    pub password_hash_concurrency: Option<usize>,

    /// The built frontend, served for every path outside /api
    #[arg(long, env = "FRONTEND_DIR", default_value = "frontend/dist")]
    pub frontend_dir: PathBuf,

    /// Edge policy (security headers, HTTPS, CORS, redirects) [default: the policy.toml built into the binary]
    #[arg(long, env = "POLICY_FILE")]
    pub policy_file: Option<PathBuf>,

    /// pretty | json [default: pretty in development, else json]
    #[arg(long, env = "LOG_FORMAT", value_parser = parse::log_format)]
    pub log_format: Option<LogFormat>,

    /// Log filter, e.g. info,api=debug (request lines use the target api::http)
    #[arg(long = "log-filter", env = "RUST_LOG", default_value = "info", value_parser = parse::log_filter)]
    pub rust_log: String,

    /// releaseId in /api/health (Render sets it) [default: the commit the binary was built from]
    #[arg(long, env = "RENDER_GIT_COMMIT")]
    pub render_git_commit: Option<String>,

    /// serviceId in /api/health (Render sets it)
    #[arg(long, env = "RENDER_SERVICE_NAME", default_value = "release-flow-api")]
    pub render_service_name: String,

    /// instanceId in /api/health (Render sets it) [default: the hostname]
    #[arg(long, env = "RENDER_INSTANCE_ID")]
    pub render_instance_id: Option<String>,

    /// https URL of the source repository, e.g. https://github.com/OWNER/REPO: the release page links a commit release id to REPOSITORY_URL/commit/ID [default: unset, no link]
    #[arg(long, env = "REPOSITORY_URL", value_parser = parse::repository_url)]
    pub repository_url: Option<String>,

    /// Bearer token for GET /metrics, at least 16 characters [default: unset, /metrics is off]
    #[arg(long, env = "METRICS_TOKEN", hide_env_values = true, value_parser = parse::metrics_token)]
    pub metrics_token: Option<SecretString>,

    /// Set by Render on every service: no demo login is created there, even in development
    // Render sets `true`; any value but an empty, `0`, `false`, `no`, `off`, `n` or `f` is set.
    #[arg(long, env = "RENDER", value_parser = clap::builder::FalseyValueParser::new())]
    pub render: bool,
}

/// `DATABASE_URL`'s default: a SQLite file under `data/`, created on first start.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://data/release-flow.db";
const MIN_SECRET_BYTES: usize = 32;
const MIN_METRICS_TOKEN_CHARS: usize = 16;

impl Config {
    /// The variables as a clap command of their own (`api --help` shows the same arguments).
    pub fn command() -> clap::Command {
        Config::augment_args(clap::Command::new("api"))
    }

    /// Removes every variable of this service whose value is empty or blank from the process
    /// environment, so clap reads it as unset: Render and `.env` files often leave keys blank.
    /// Call it at the top of `main`, before any thread starts (it changes the environment).
    pub fn unset_empty_variables() {
        for arg in Config::command().get_arguments() {
            if let Some(name) = arg.get_env() {
                if std::env::var_os(name).is_some_and(|v| v.to_string_lossy().trim().is_empty()) {
                    std::env::remove_var(name);
                }
            }
        }
    }

    /// Reads `vars` (variable name → value) and nothing else: neither the process environment nor
    /// the command line. For tests and for programs that embed the service.
    ///
    /// # Errors
    /// A [`ConfigError`] naming the first variable that is unknown or whose value does not parse.
    pub fn from_vars<K: AsRef<str>, V: AsRef<str>>(
        vars: impl IntoIterator<Item = (K, V)>,
    ) -> Result<Config, ConfigError> {
        let command = Config::command();
        let mut argv = vec![OsString::from("api")];
        for (name, value) in vars {
            let (name, value) = (name.as_ref(), value.as_ref());
            let arg = command
                .get_arguments()
                .find(|a| a.get_env().is_some_and(|e| e == name))
                .ok_or_else(|| {
                    ConfigError::new(
                        name,
                        "it is not a variable of this service",
                        "one of `api --help`",
                    )
                })?;
            let long = arg.get_long().expect("every variable has a flag");
            if value.trim().is_empty() {
                continue;
            }
            if matches!(arg.get_action(), ArgAction::SetTrue) {
                // As clap reads a flag's variable: anything but a false-like value sets it.
                if !matches!(
                    value.trim().to_ascii_lowercase().as_str(),
                    "0" | "false" | "no" | "off" | "n" | "f"
                ) {
                    argv.push(format!("--{long}").into());
                }
            } else {
                argv.push(format!("--{long}={value}").into());
            }
        }
        let command = command.mut_args(|a| a.env(None::<&str>));
        let matches = command.try_get_matches_from(argv).map_err(|e| {
            config_error(&Config::command(), &e).unwrap_or_else(|| {
                ConfigError::new("configuration", e.kind().to_string(), "valid values")
            })
        })?;
        Config::from_arg_matches(&matches)
            .map_err(|e| ConfigError::new("configuration", e.to_string(), "valid values"))
    }

    /// The cross-variable rules and environment-dependent defaults, then the typed settings.
    /// Also loads `POLICY_FILE` (or the embedded policy) and checks it describes `APP_ENV`.
    ///
    /// # Errors
    /// A [`ConfigError`] naming the variable at fault.
    pub fn validate(self) -> Result<Settings, ConfigError> {
        let env = self.app_env;
        let dev = env.is_development();
        let host = self.host.unwrap_or(if dev {
            IpAddr::V4(Ipv4Addr::LOCALHOST)
        } else {
            IpAddr::V4(Ipv4Addr::UNSPECIFIED)
        });
        let shutdown_timeout = Duration::from_secs(self.shutdown_timeout_secs);
        let drain =
            Duration::from_secs(self.shutdown_drain_secs.unwrap_or(if dev { 0 } else { 3 }));
        if drain >= shutdown_timeout {
            return Err(ConfigError::new(
                "SHUTDOWN_DRAIN_SECS",
                format!(
                    "{}s is not shorter than SHUTDOWN_TIMEOUT_SECS ({}s)",
                    drain.as_secs(),
                    shutdown_timeout.as_secs()
                ),
                "fewer seconds than SHUTDOWN_TIMEOUT_SECS",
            ));
        }
        if self.database_min_connections > self.database_max_connections {
            return Err(ConfigError::new(
                "DATABASE_MIN_CONNECTIONS",
                format!(
                    "{} is more than DATABASE_MAX_CONNECTIONS ({})",
                    self.database_min_connections, self.database_max_connections
                ),
                "a number no larger than DATABASE_MAX_CONNECTIONS",
            ));
        }

        let (secret, generated) = match self.session_secret {
            Some(secret) => {
                if !dev && is_weak_secret(secret.expose_secret()) {
                    return Err(ConfigError::new(
                        "SESSION_SECRET",
                        "it repeats too few distinct characters to be random",
                        "a random value, e.g. from `openssl rand -base64 48`",
                    ));
                }
                (secret, false)
            }
            None if dev => (random_secret(), true),
            None => {
                return Err(ConfigError::new(
                    "SESSION_SECRET",
                    format!("it is not set and APP_ENV is {env}"),
                    format!("at least {MIN_SECRET_BYTES} random bytes outside development"),
                ))
            }
        };
        if self
            .session_secret_previous
            .as_ref()
            .is_some_and(|p| p.expose_secret() == secret.expose_secret())
        {
            return Err(ConfigError::new(
                "SESSION_SECRET_PREVIOUS",
                "it is the same as SESSION_SECRET",
                "the secret being rotated out, or unset once the rotation is over",
            ));
        }
        let session = SessionSettings {
            secret,
            previous: self.session_secret_previous,
            ttl: Duration::from_secs(self.session_ttl_secs),
            generated,
            hash_concurrency: self
                .password_hash_concurrency
                .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get())),
        };
        let expected_policy = "a valid policy file (see docs/SECURITY_POLICY.md)";
        let policy = match &self.policy_file {
            None => edge_policy::Policy::from_toml(edge_policy::EMBEDDED_POLICY),
            Some(path) => edge_policy::Policy::load(path),
        }
        .map_err(|e| ConfigError::new("POLICY_FILE", e.to_string(), expected_policy))?;
        policy
            .environment(env.as_str())
            .map_err(|e| ConfigError::new("POLICY_FILE", e.to_string(), expected_policy))?;

        Ok(Settings {
            env,
            server: ServerSettings {
                host,
                port: self.port,
                request_timeout: Duration::from_secs(self.request_timeout_secs),
                body_limit: self.body_limit_bytes,
                header_read_timeout: Duration::from_secs(self.header_read_timeout_secs),
                shutdown_timeout,
                drain,
            },
            database: DatabaseSettings {
                url: self.database_url,
                max_connections: self.database_max_connections,
                min_connections: self.database_min_connections,
                acquire_timeout: Duration::from_millis(self.database_acquire_timeout_ms),
                migration_lock_wait: Duration::from_secs(self.migration_lock_wait_secs),
                probe_timeout: Duration::from_millis(self.health_db_timeout_ms),
            },
            session,
            log: LogSettings {
                format: self.log_format.unwrap_or(if dev {
                    LogFormat::Pretty
                } else {
                    LogFormat::Json
                }),
                filter: self.rust_log,
            },
            release: ReleaseInfo::new(
                env!("CARGO_PKG_VERSION"),
                // The same source as `release_flow_build_info`'s `release_id`.
                self.render_git_commit
                    .or_else(|| option_env!("BUILD_GIT_COMMIT").map(str::to_owned)),
                self.repository_url.as_deref(),
                self.render_service_name,
                self.render_instance_id
                    .unwrap_or_else(|| gethostname::gethostname().to_string_lossy().into_owned()),
            ),
            frontend_dir: self.frontend_dir,
            metrics_token: self.metrics_token,
            demo_login: dev && !self.render,
            policy: Arc::new(policy),
        })
    }
}

impl Settings {
    /// [`Config::from_vars`] then [`Config::validate`].
    pub fn from_vars<K: AsRef<str>, V: AsRef<str>>(
        vars: impl IntoIterator<Item = (K, V)>,
    ) -> Result<Settings, ConfigError> {
        Config::from_vars(vars)?.validate()
    }
}
/// Catches placeholder secrets such as `changeme…` padded to length or a single repeated character.
fn is_weak_secret(secret: &str) -> bool {
    let mut distinct: Vec<char> = secret.chars().collect();
    distinct.sort_unstable();
    distinct.dedup();
    distinct.len() < 10
}

fn random_secret() -> SecretString {
    let bytes: [u8; 48] = rand::random();
    SecretString::from(bytes.iter().map(|b| format!("{b:02x}")).collect::<String>())
}

mod docs;
mod errors;
mod parse;
mod settings;

pub use docs::Variable;
pub use errors::{config_error, secret_on_command_line, ConfigError};
pub use settings::{
    AppEnv, Backend, DatabaseSettings, DatabaseUrl, LogFormat, LogSettings, ReleaseInfo,
    ServerSettings, SessionSettings, Settings,
};

#[cfg(test)]
mod tests;
