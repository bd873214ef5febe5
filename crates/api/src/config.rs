//! Configuration: every environment variable is one field of [`Config`], a clap `Args` struct
//! whose attributes carry the variable's name, default and help (what `api --help` prints and
//! what the docs test compares README.md against). [`Config::validate`] then applies the rules
//! that span several variables and yields the typed [`Settings`] the rest of the program reads.
//!
//! A bad value stops start-up with one line that names the variable, says what is wrong and what
//! is expected ([`ConfigError`]); `main.rs` exits with status 78 (sysexits.h `EX_CONFIG`).

use std::{
    ffi::OsString,
    fmt,
    net::{IpAddr, Ipv4Addr},
    path::PathBuf,
    sync::Arc,
    time::Duration,
};

use clap::{error::ErrorKind, ArgAction, Args, FromArgMatches};
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

    /// Seconds a login lasts
    #[arg(long, env = "SESSION_TTL_SECS", default_value = "43200", value_parser = parse::whole::<u64>(60, 30 * 24 * 3600))]
    pub session_ttl_secs: u64,

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

    /// Bearer token for GET /metrics, at least 16 characters [default: unset, /metrics is off]
    #[arg(long, env = "METRICS_TOKEN", hide_env_values = true, value_parser = parse::metrics_token)]
    pub metrics_token: Option<SecretString>,

    /// Set by Render on every service: no demo login is created there, even in development
    #[arg(long, env = "RENDER")]
    pub render: bool,
}

/// Variables that hold secrets: refused on the command line, where `ps` and shell history keep
/// them (`DATABASE_URL` only when it carries a password).
const SECRET_VARIABLES: &[&str] = &["SESSION_SECRET", "METRICS_TOKEN", "DATABASE_URL"];

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

/// A configuration value that cannot be used. Displayed as one line that names the variable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {var}: {problem}; expected {expected}")]
pub struct ConfigError {
    pub var: String,
    pub problem: String,
    pub expected: String,
}

impl ConfigError {
    fn new(var: &str, problem: impl Into<String>, expected: impl Into<String>) -> Self {
        Self {
            var: var.to_owned(),
            problem: problem.into(),
            expected: expected.into(),
        }
    }
}

/// `DATABASE_URL`, kept secret (a PostgreSQL URL carries the password), with its backend.
#[derive(Clone)]
pub struct DatabaseUrl {
    url: SecretString,
    backend: Backend,
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
    pub ttl: Duration,
    /// True when no secret was configured and a random one was made (development only).
    pub generated: bool,
}

#[derive(Debug, Clone)]
pub struct LogSettings {
    pub format: LogFormat,
    /// A `tracing_subscriber::EnvFilter` directive, checked at start-up.
    pub filter: String,
}

/// What `/api/health` says about this build and instance.
#[derive(Debug, Clone)]
pub struct ReleaseInfo {
    pub version: &'static str,
    pub release_id: Option<String>,
    pub service_id: String,
    pub instance_id: String,
}

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

        let ttl = Duration::from_secs(self.session_ttl_secs);
        let session = match self.session_secret {
            Some(secret) => {
                if !dev && is_weak_secret(secret.expose_secret()) {
                    return Err(ConfigError::new(
                        "SESSION_SECRET",
                        "it repeats too few distinct characters to be random",
                        "a random value, e.g. from `openssl rand -base64 48`",
                    ));
                }
                SessionSettings {
                    secret,
                    ttl,
                    generated: false,
                }
            }
            None if dev => SessionSettings {
                secret: random_secret(),
                ttl,
                generated: true,
            },
            None => {
                return Err(ConfigError::new(
                    "SESSION_SECRET",
                    format!("it is not set and APP_ENV is {env}"),
                    format!("at least {MIN_SECRET_BYTES} random bytes outside development"),
                ))
            }
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
            release: ReleaseInfo {
                version: env!("CARGO_PKG_VERSION"),
                release_id: self
                    .render_git_commit
                    .or_else(|| option_env!("BUILD_GIT_COMMIT").map(str::to_owned)),
                service_id: self.render_service_name,
                instance_id: self
                    .render_instance_id
                    .unwrap_or_else(|| gethostname::gethostname().to_string_lossy().into_owned()),
            },
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

/// One documented variable, as clap knows it: what `api --help` prints and what the README's
/// table must say (a test compares them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Variable {
    pub name: String,
    /// The default as help text gives it (`8080`, `0 in development, else 3`), or empty.
    pub default: String,
    /// The help text without its `[default: …]` note.
    pub help: String,
}

impl Config {
    /// Every variable, in `api --help` order.
    pub fn variables() -> Vec<Variable> {
        Config::command()
            .get_arguments()
            .filter_map(|arg| {
                let name = arg.get_env()?.to_string_lossy().into_owned();
                let help = arg.get_help().map(|h| h.to_string()).unwrap_or_default();
                // Defaults that depend on APP_ENV are written in the help as `[default: …]`.
                let (help, noted) = match help.split_once(" [default: ") {
                    Some((help, rest)) => (help.to_owned(), rest.trim_end_matches(']').to_owned()),
                    None => (help, String::new()),
                };
                let default = arg
                    .get_default_values()
                    .first()
                    .map(|d| d.to_string_lossy().into_owned())
                    .unwrap_or(noted);
                Some(Variable {
                    name,
                    default,
                    help,
                })
            })
            .collect()
    }

    /// The README's variables table, generated from [`Config::variables`].
    pub fn markdown_table() -> String {
        let mut out = String::from("| Variable | Default | Meaning |\n|---|---|---|\n");
        for v in Config::variables() {
            let default = match v.default.as_str() {
                "" => "unset".to_owned(),
                d if d.contains(' ') => d.to_owned(),
                d => format!("`{d}`"),
            };
            out.push_str(&format!(
                "| `{}` | {default} | {} |\n",
                v.name,
                v.help.replace('|', "\\|")
            ));
        }
        out
    }
}

/// The one-line [`ConfigError`] for a clap error about a value (a bad number, an unknown
/// environment, a secret on the command line), naming the variable rather than the flag; `None`
/// for anything else (`--help`, an unknown subcommand), which clap reports itself.
pub fn config_error(command: &clap::Command, error: &clap::Error) -> Option<ConfigError> {
    use clap::error::{ContextKind, ContextValue};
    if !matches!(
        error.kind(),
        ErrorKind::ValueValidation | ErrorKind::InvalidValue
    ) {
        return None;
    }
    let Some(ContextValue::String(shown)) = error.get(ContextKind::InvalidArg) else {
        return None;
    };
    // clap shows the argument as `--port <PORT>`; find it by its long name.
    let long = shown.trim_start_matches("--").split([' ', '=']).next()?;
    let var = command
        .get_arguments()
        .chain(command.get_subcommands().flat_map(|s| s.get_arguments()))
        .find(|a| a.get_long() == Some(long))?
        .get_env()?
        .to_string_lossy()
        .into_owned();
    let invalid = std::error::Error::source(error)?.downcast_ref::<parse::Invalid>()?;
    Some(ConfigError::new(
        &var,
        invalid.problem.clone(),
        invalid.expected.clone(),
    ))
}

/// Refuses secrets given as `--flags`: checked in `main.rs`, which sees where values came from.
pub fn secret_on_command_line(matches: &clap::ArgMatches) -> Option<ConfigError> {
    let command = Config::command();
    for arg in command.get_arguments() {
        let Some(var) = arg.get_env().map(|e| e.to_string_lossy().into_owned()) else {
            continue;
        };
        let id = arg.get_id().as_str();
        let holds_secret = match var.as_str() {
            "DATABASE_URL" => matches
                .get_one::<DatabaseUrl>(id)
                .is_some_and(DatabaseUrl::has_password),
            var => SECRET_VARIABLES.contains(&var),
        };
        if holds_secret && matches.value_source(id) == Some(clap::parser::ValueSource::CommandLine)
        {
            return Some(ConfigError::new(
                &var,
                format!("it was given as --{}", arg.get_long().unwrap_or_default()),
                "it in the environment only: a command line is visible to every process on the machine",
            ));
        }
    }
    None
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

/// Value parsers: each error is an [`parse::Invalid`] that [`config_error`] turns into one line.
mod parse {
    use std::net::IpAddr;

    use secrecy::SecretString;

    use super::{
        AppEnv, Backend, DatabaseUrl, LogFormat, MIN_METRICS_TOKEN_CHARS, MIN_SECRET_BYTES,
    };

    /// What is wrong with a value, and what would be right.
    #[derive(Debug, Clone, thiserror::Error)]
    #[error("{problem}; expected {expected}")]
    pub struct Invalid {
        pub problem: String,
        pub expected: String,
    }

    fn invalid(problem: impl Into<String>, expected: impl Into<String>) -> Invalid {
        Invalid {
            problem: problem.into(),
            expected: expected.into(),
        }
    }

    /// A whole number in `min..=max`.
    pub fn whole<T>(
        min: u64,
        max: u64,
    ) -> impl Fn(&str) -> Result<T, Invalid> + Clone + Send + Sync + 'static
    where
        T: TryFrom<u64>,
    {
        move |raw: &str| {
            let expected = || format!("a whole number from {min} to {max}");
            let n: u64 = raw
                .trim()
                .parse()
                .map_err(|_| invalid(format!("{raw:?} is not a whole number"), expected()))?;
            if !(min..=max).contains(&n) {
                return Err(invalid(format!("{n} is out of range"), expected()));
            }
            T::try_from(n).map_err(|_| invalid(format!("{n} is out of range"), expected()))
        }
    }

    pub fn app_env(raw: &str) -> Result<AppEnv, Invalid> {
        match raw.trim() {
            "development" => Ok(AppEnv::Development),
            "staging" => Ok(AppEnv::Staging),
            "production" => Ok(AppEnv::Production),
            _ => Err(invalid(
                format!("{raw:?} is not an environment"),
                "development, staging or production",
            )),
        }
    }

    pub fn log_format(raw: &str) -> Result<LogFormat, Invalid> {
        match raw.trim() {
            "pretty" => Ok(LogFormat::Pretty),
            "json" => Ok(LogFormat::Json),
            _ => Err(invalid(
                format!("{raw:?} is not a format"),
                "pretty or json",
            )),
        }
    }

    pub fn ip_addr(raw: &str) -> Result<IpAddr, Invalid> {
        raw.trim().parse().map_err(|_| {
            invalid(
                format!("{raw:?} is not an IP address"),
                "an IPv4 or IPv6 address such as 0.0.0.0",
            )
        })
    }

    pub fn database_url(raw: &str) -> Result<DatabaseUrl, Invalid> {
        let url = raw.trim();
        let backend = Backend::of(url).ok_or_else(|| {
            // Only the scheme is echoed: the rest of a URL may hold a password.
            let scheme = url.split(':').next().unwrap_or_default();
            invalid(
                format!("scheme {scheme:?} is not supported"),
                "sqlite:PATH or postgres://USER:PASSWORD@HOST:PORT/DATABASE",
            )
        })?;
        Ok(DatabaseUrl {
            url: SecretString::from(url.to_owned()),
            backend,
        })
    }

    /// `SESSION_SECRET`: at least 32 bytes. Never echoed, only its length.
    pub fn session_secret(raw: &str) -> Result<SecretString, Invalid> {
        if raw.len() < MIN_SECRET_BYTES {
            return Err(invalid(
                format!("it is {} bytes long", raw.len()),
                format!(
                    "at least {MIN_SECRET_BYTES} random bytes, e.g. from `openssl rand -base64 48`"
                ),
            ));
        }
        Ok(SecretString::from(raw.to_owned()))
    }

    /// `METRICS_TOKEN`: at least 16 characters. Never echoed, only its length.
    pub fn metrics_token(raw: &str) -> Result<SecretString, Invalid> {
        let chars = raw.chars().count();
        if chars < MIN_METRICS_TOKEN_CHARS {
            return Err(invalid(
                format!("it is {chars} characters long"),
                format!("at least {MIN_METRICS_TOKEN_CHARS} random characters, or unset to switch /metrics off"),
            ));
        }
        Ok(SecretString::from(raw.to_owned()))
    }

    pub fn log_filter(raw: &str) -> Result<String, Invalid> {
        tracing_subscriber::EnvFilter::try_new(raw)
            .map(|_| raw.to_owned())
            .map_err(|e| {
                invalid(
                    format!("{raw:?} is not a filter ({e})"),
                    "directives such as info or info,api=debug",
                )
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(pairs: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        Settings::from_vars(pairs.iter().copied())
    }

    fn error(pairs: &[(&str, &str)]) -> String {
        settings(pairs).expect_err("should be rejected").to_string()
    }

    const SECRET: &str = "0123456789abcdefghijklmnopqrstuvwxyzABCDEF";

    #[test]
    fn development_defaults_need_nothing_set() {
        let s = settings(&[]).unwrap();
        assert_eq!(s.env, AppEnv::Development);
        assert_eq!(s.server.port, 8080);
        assert_eq!(s.server.host, IpAddr::V4(Ipv4Addr::LOCALHOST));
        assert_eq!(s.database.url.expose_secret(), DEFAULT_DATABASE_URL);
        assert!(s.session.generated);
        assert_eq!(s.server.shutdown_timeout, Duration::from_secs(25));
        assert_eq!(s.server.drain, Duration::ZERO);
        assert_eq!(s.log.format, LogFormat::Pretty);
        assert_eq!(s.log.filter, "info");
    }

    #[test]
    fn production_binds_all_interfaces_and_logs_json() {
        let s = settings(&[("APP_ENV", "production"), ("SESSION_SECRET", SECRET)]).unwrap();
        assert_eq!(s.server.host, IpAddr::V4(Ipv4Addr::UNSPECIFIED));
        assert_eq!(s.log.format, LogFormat::Json);
        assert_eq!(s.server.drain, Duration::from_secs(3));
    }

    #[test]
    fn unknown_app_env_is_named() {
        assert_eq!(
            error(&[("APP_ENV", "prod")]),
            "invalid APP_ENV: \"prod\" is not an environment; expected development, staging or production"
        );
    }

    #[test]
    fn non_numeric_port_is_named() {
        assert_eq!(
            error(&[("PORT", "http")]),
            "invalid PORT: \"http\" is not a whole number; expected a whole number from 0 to 65535"
        );
    }

    #[test]
    fn port_out_of_range_is_named() {
        assert_eq!(
            error(&[("PORT", "70000")]),
            "invalid PORT: 70000 is out of range; expected a whole number from 0 to 65535"
        );
    }

    #[test]
    fn bad_host_is_named() {
        assert!(error(&[("HOST", "localhost:80")])
            .starts_with("invalid HOST: \"localhost:80\" is not an IP address"));
    }

    #[test]
    fn unsupported_database_scheme_is_named_without_the_password() {
        let e = error(&[("DATABASE_URL", "mysql://root:hunter2@db/app")]);
        assert!(
            e.starts_with("invalid DATABASE_URL: scheme \"mysql\" is not supported"),
            "{e}"
        );
        assert!(!e.contains("hunter2"));
    }

    #[test]
    fn the_database_url_never_reaches_debug_output() {
        let s = settings(&[("DATABASE_URL", "postgres://app:hunter2@db/app")]).unwrap();
        assert!(!format!("{s:?}").contains("hunter2"));
        assert_eq!(s.database.backend(), Backend::Postgres);
    }

    #[test]
    fn a_password_in_the_database_url_is_recognised() {
        let url = |u: &str| {
            Config::from_vars([("DATABASE_URL", u)])
                .unwrap()
                .database_url
        };
        assert!(url("postgres://app:hunter2@db:5432/app").has_password());
        assert!(!url("postgres://app@db:5432/app").has_password());
        assert!(!url("sqlite://data/x@y:z.db").has_password());
    }

    #[test]
    fn min_connections_above_max_is_named() {
        let e = error(&[
            ("DATABASE_MAX_CONNECTIONS", "2"),
            ("DATABASE_MIN_CONNECTIONS", "5"),
        ]);
        assert!(
            e.starts_with(
                "invalid DATABASE_MIN_CONNECTIONS: 5 is more than DATABASE_MAX_CONNECTIONS (2)"
            ),
            "{e}"
        );
    }

    #[test]
    fn zero_pool_size_is_named() {
        assert!(error(&[("DATABASE_MAX_CONNECTIONS", "0")])
            .starts_with("invalid DATABASE_MAX_CONNECTIONS: 0 is out of range"));
    }

    #[test]
    fn session_secret_is_required_outside_development() {
        for env in ["staging", "production"] {
            let e = error(&[("APP_ENV", env)]);
            assert!(
                e.starts_with(&format!(
                    "invalid SESSION_SECRET: it is not set and APP_ENV is {env}"
                )),
                "{e}"
            );
        }
    }

    #[test]
    fn short_session_secret_is_rejected_without_echoing_it() {
        let e = error(&[
            ("APP_ENV", "production"),
            ("SESSION_SECRET", "short-secret"),
        ]);
        assert!(
            e.starts_with("invalid SESSION_SECRET: it is 12 bytes long; expected at least 32"),
            "{e}"
        );
        assert!(!e.contains("short-secret"));
    }

    #[test]
    fn placeholder_session_secret_is_refused_in_production() {
        let e = error(&[
            ("APP_ENV", "production"),
            ("SESSION_SECRET", &"a".repeat(40)),
        ]);
        assert!(
            e.starts_with("invalid SESSION_SECRET: it repeats too few distinct characters"),
            "{e}"
        );
    }

    #[test]
    fn drain_must_be_shorter_than_shutdown_timeout() {
        let e = error(&[("SHUTDOWN_TIMEOUT_SECS", "5"), ("SHUTDOWN_DRAIN_SECS", "5")]);
        assert!(
            e.starts_with(
                "invalid SHUTDOWN_DRAIN_SECS: 5s is not shorter than SHUTDOWN_TIMEOUT_SECS (5s)"
            ),
            "{e}"
        );
    }

    #[test]
    fn shutdown_timeout_above_render_maximum_is_rejected() {
        assert!(error(&[("SHUTDOWN_TIMEOUT_SECS", "301")])
            .starts_with("invalid SHUTDOWN_TIMEOUT_SECS: 301 is out of range"));
    }

    #[test]
    fn unknown_log_format_is_named() {
        assert_eq!(
            error(&[("LOG_FORMAT", "xml")]),
            "invalid LOG_FORMAT: \"xml\" is not a format; expected pretty or json"
        );
    }

    #[test]
    fn an_invalid_log_filter_is_named() {
        let e = error(&[("RUST_LOG", "info,api=loud")]);
        assert!(
            e.starts_with("invalid RUST_LOG: \"info,api=loud\" is not a filter"),
            "{e}"
        );
    }

    #[test]
    fn a_short_metrics_token_is_rejected_without_echoing_it() {
        let e = error(&[("METRICS_TOKEN", "abc123")]);
        assert_eq!(e, "invalid METRICS_TOKEN: it is 6 characters long; expected at least 16 random characters, or unset to switch /metrics off");
    }

    #[test]
    fn the_demo_login_is_for_local_development_only() {
        assert!(settings(&[]).unwrap().demo_login);
        assert!(
            !settings(&[("RENDER", "true")]).unwrap().demo_login,
            "Render's Dev environment"
        );
        assert!(settings(&[("RENDER", "false")]).unwrap().demo_login);
        assert!(
            !settings(&[("APP_ENV", "staging"), ("SESSION_SECRET", SECRET)])
                .unwrap()
                .demo_login
        );
    }

    #[test]
    fn an_unreadable_policy_file_is_named() {
        let e = error(&[("POLICY_FILE", "/nonexistent/policy.toml")]);
        assert!(
            e.starts_with("invalid POLICY_FILE: /nonexistent/policy.toml: cannot read it"),
            "{e}"
        );
    }

    #[test]
    fn an_invalid_policy_names_the_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("policy.toml");
        std::fs::write(
            &path,
            edge_policy::EMBEDDED_POLICY.replace("preload = false", "preload = true"),
        )
        .unwrap();
        let e = error(&[("POLICY_FILE", path.to_str().unwrap())]);
        assert!(
            e.starts_with("invalid POLICY_FILE: hsts.include_subdomains: preload requires"),
            "{e}"
        );
    }

    #[test]
    fn empty_values_count_as_unset() {
        let s = settings(&[("PORT", ""), ("APP_ENV", " ")]).unwrap();
        assert_eq!(s.server.port, 8080);
        assert_eq!(s.env, AppEnv::Development);
    }

    #[test]
    fn an_unknown_variable_is_named() {
        assert!(error(&[("PORTT", "1")])
            .starts_with("invalid PORTT: it is not a variable of this service"));
    }

    #[test]
    fn every_variable_has_a_flag_and_help() {
        for arg in Config::command().get_arguments() {
            let id = arg.get_id();
            assert!(arg.get_env().is_some(), "{id} has no variable");
            assert!(arg.get_long().is_some(), "{id} has no flag");
            assert!(arg.get_help().is_some(), "{id} has no help");
        }
    }
}
