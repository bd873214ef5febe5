//! Configuration: every environment variable is read once, here, into typed settings and validated
//! before anything binds or connects. A bad value stops start-up with one line naming the variable,
//! what is wrong with it, and what is expected.

use std::{
    fmt,
    net::{IpAddr, Ipv4Addr},
    path::PathBuf,
    str::FromStr,
    time::Duration,
};

use secrecy::{ExposeSecret, SecretString};

/// One documented environment variable. [`VARIABLES`] is the single list that `api --help`
/// prints and that the docs test checks README.md and docs/ENV_VARS_AND_RENDER_SETUP.md against.
#[derive(Debug, Clone, Copy)]
pub struct Variable {
    pub name: &'static str,
    pub default: &'static str,
    pub help: &'static str,
}

pub const VARIABLES: &[Variable] = &[
    Variable { name: "APP_ENV", default: "development", help: "development | staging | production" },
    Variable { name: "HOST", default: "127.0.0.1 in development, else 0.0.0.0", help: "address to bind" },
    Variable { name: "PORT", default: "8080", help: "port to bind (Render sets it); 0 picks a free port" },
    Variable {
        name: "DATABASE_URL",
        default: "sqlite://data/release-flow.db",
        help: "sqlite:PATH or postgres://USER:PASS@HOST/DB; the SQLite file and its folder are created",
    },
    Variable { name: "DATABASE_MAX_CONNECTIONS", default: "10", help: "pool size, 1-1000" },
    Variable { name: "DATABASE_MIN_CONNECTIONS", default: "1", help: "connections warmup opens and keeps, <= max" },
    Variable {
        name: "DATABASE_ACQUIRE_TIMEOUT_MS",
        default: "3000",
        help: "how long a request waits for a connection before a JSON 503",
    },
    Variable { name: "HEALTH_DB_TIMEOUT_MS", default: "2000", help: "database probe timeout of /api/health" },
    Variable { name: "REQUEST_TIMEOUT_SECS", default: "20", help: "a request still running after this gets a JSON 503" },
    Variable { name: "BODY_LIMIT_BYTES", default: "65536", help: "larger request bodies get a JSON 413" },
    Variable {
        name: "HEADER_READ_TIMEOUT_SECS",
        default: "30",
        help: "a connection that has not sent a complete request head within this is closed (also idle keep-alive)",
    },
    Variable {
        name: "SHUTDOWN_TIMEOUT_SECS",
        default: "25",
        help: "after SIGTERM, the process exits within this, even if clients hold connections",
    },
    Variable {
        name: "SHUTDOWN_DRAIN_SECS",
        default: "0 in development, else 3",
        help: "after SIGTERM, keep serving with /health at 503 this long before closing the listener",
    },
    Variable {
        name: "SESSION_SECRET",
        default: "random per process in development",
        help: "session signing key, at least 32 bytes; required outside development",
    },
    Variable { name: "SESSION_TTL_SECS", default: "43200 (12 h)", help: "how long a login lasts, 60 to 2592000" },
    Variable { name: "FRONTEND_DIR", default: "frontend/dist", help: "built frontend served for non-API paths" },
    Variable {
        name: "POLICY_FILE",
        default: "the policy.toml built into the binary",
        help: "edge policy: security headers, HTTPS, CORS origins, redirects",
    },
    Variable { name: "LOG_FORMAT", default: "pretty in development, else json", help: "pretty | json" },
    Variable { name: "RUST_LOG", default: "info", help: "tracing filter, e.g. info,api=debug" },
    Variable { name: "RENDER_GIT_COMMIT", default: "the commit the binary was built from", help: "releaseId in /api/health" },
    Variable { name: "RENDER_SERVICE_NAME", default: "release-flow-api", help: "serviceId in /api/health" },
    Variable { name: "RENDER_INSTANCE_ID", default: "the hostname", help: "instanceId in /api/health" },
    Variable {
        name: "METRICS_TOKEN",
        default: "unset: /metrics is off",
        help: "bearer token for GET /metrics (Prometheus), at least 16 characters",
    },
    Variable {
        name: "RENDER",
        default: "unset (Render sets it to true)",
        help: "set on Render: no demo login is created there, even in development",
    },
];

/// Where the application runs. Decides defaults and how strict validation is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppEnv {
    Development,
    Staging,
    Production,
}

impl AppEnv {
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

impl FromStr for AppEnv {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        match s {
            "development" => Ok(AppEnv::Development),
            "staging" => Ok(AppEnv::Staging),
            "production" => Ok(AppEnv::Production),
            _ => Err(()),
        }
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
    pub var: &'static str,
    pub problem: String,
    pub expected: String,
}

impl ConfigError {
    fn new(var: &'static str, problem: impl Into<String>, expected: impl Into<String>) -> Self {
        Self {
            var,
            problem: problem.into(),
            expected: expected.into(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Settings {
    pub env: AppEnv,
    pub server: ServerSettings,
    pub database: DatabaseSettings,
    pub session: SessionSettings,
    pub log_format: LogFormat,
    pub release: ReleaseInfo,
    pub frontend_dir: PathBuf,
    /// Bearer token for `/metrics`; `None` switches the endpoint off.
    pub metrics_token: Option<SecretString>,
    /// Local development only (development, and not on Render): create and print a demo login.
    pub demo_login: bool,
    /// The edge policy, validated, with an entry for `env`.
    pub policy: std::sync::Arc<edge_policy::Policy>,
}

#[derive(Debug, Clone)]
pub struct ServerSettings {
    pub host: IpAddr,
    pub port: u16,
    pub request_timeout: Duration,
    pub body_limit: usize,
    /// Bounds both a slow request head and an idle keep-alive connection (one hyper timer).
    pub header_read_timeout: Duration,
    pub shutdown_timeout: Duration,
    pub drain: Duration,
}

#[derive(Debug, Clone)]
pub struct DatabaseSettings {
    /// Kept secret: a Postgres URL carries the password.
    pub url: SecretString,
    pub max_connections: u32,
    pub min_connections: u32,
    pub acquire_timeout: Duration,
    pub probe_timeout: Duration,
}

impl DatabaseSettings {
    pub fn backend(&self) -> Backend {
        Backend::of(self.url.expose_secret()).expect("validated at start-up")
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
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

#[derive(Debug, Clone)]
pub struct SessionSettings {
    pub secret: SecretString,
    pub ttl: Duration,
    /// True when no secret was configured and a random one was made (development only).
    pub generated: bool,
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

impl Settings {
    /// Reads the process environment (after `.env` in development, see `main.rs`).
    pub fn from_env() -> Result<Settings, ConfigError> {
        Settings::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads settings through `lookup`, so tests can pass a map instead of the process environment.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Settings, ConfigError> {
        // An empty value counts as unset: Render and .env files often leave keys blank.
        let get = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());

        let env = match get("APP_ENV") {
            None => AppEnv::Development,
            Some(v) => v.parse().map_err(|()| {
                ConfigError::new(
                    "APP_ENV",
                    format!("{v:?} is not an environment"),
                    "development, staging or production",
                )
            })?,
        };

        let host = match get("HOST") {
            None if env.is_development() => IpAddr::V4(Ipv4Addr::LOCALHOST),
            None => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            Some(v) => v.parse().map_err(|_| {
                ConfigError::new(
                    "HOST",
                    format!("{v:?} is not an IP address"),
                    "an IPv4 or IPv6 address such as 0.0.0.0",
                )
            })?,
        };
        let port = parse_number::<u16>(&get, "PORT", 8080, 0, u16::MAX as u64)?;
        let request_timeout =
            Duration::from_secs(parse_number(&get, "REQUEST_TIMEOUT_SECS", 20, 1, 3600)?);
        let body_limit =
            parse_number::<usize>(&get, "BODY_LIMIT_BYTES", 64 * 1024, 1024, 2 * 1024 * 1024)?;
        let header_read_timeout =
            Duration::from_secs(parse_number(&get, "HEADER_READ_TIMEOUT_SECS", 30, 1, 600)?);
        let shutdown_timeout =
            Duration::from_secs(parse_number(&get, "SHUTDOWN_TIMEOUT_SECS", 25, 1, 300)?);
        let default_drain = if env.is_development() { 0 } else { 3 };
        let drain = Duration::from_secs(parse_number(
            &get,
            "SHUTDOWN_DRAIN_SECS",
            default_drain,
            0,
            300,
        )?);
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

        let url = get("DATABASE_URL").unwrap_or_else(|| DEFAULT_DATABASE_URL.to_owned());
        if Backend::of(&url).is_none() {
            // Only the scheme is echoed: the rest of a URL may hold a password.
            let scheme = url.split(':').next().unwrap_or_default();
            return Err(ConfigError::new(
                "DATABASE_URL",
                format!("scheme {scheme:?} is not supported"),
                "sqlite:PATH or postgres://USER:PASSWORD@HOST:PORT/DATABASE",
            ));
        }
        let max_connections = parse_number(&get, "DATABASE_MAX_CONNECTIONS", 10, 1, 1000)?;
        let min_connections = parse_number(&get, "DATABASE_MIN_CONNECTIONS", 1, 0, 1000)?;
        if min_connections > max_connections {
            return Err(ConfigError::new(
                "DATABASE_MIN_CONNECTIONS",
                format!(
                    "{min_connections} is more than DATABASE_MAX_CONNECTIONS ({max_connections})"
                ),
                "a number no larger than DATABASE_MAX_CONNECTIONS",
            ));
        }
        let acquire_timeout = Duration::from_millis(parse_number(
            &get,
            "DATABASE_ACQUIRE_TIMEOUT_MS",
            3000,
            100,
            60_000,
        )?);
        let probe_timeout = Duration::from_millis(parse_number(
            &get,
            "HEALTH_DB_TIMEOUT_MS",
            2000,
            50,
            30_000,
        )?);

        let session_ttl = Duration::from_secs(parse_number(
            &get,
            "SESSION_TTL_SECS",
            12 * 3600,
            60,
            30 * 24 * 3600,
        )?);
        let session = match get("SESSION_SECRET") {
            Some(secret) => {
                // Never echo the secret, only its length.
                if secret.len() < MIN_SECRET_BYTES {
                    return Err(ConfigError::new(
                        "SESSION_SECRET",
                        format!("it is {} bytes long", secret.len()),
                        format!("at least {MIN_SECRET_BYTES} random bytes, e.g. from `openssl rand -base64 48`"),
                    ));
                }
                if !env.is_development() && is_weak_secret(&secret) {
                    return Err(ConfigError::new(
                        "SESSION_SECRET",
                        "it repeats too few distinct characters to be random",
                        "a random value, e.g. from `openssl rand -base64 48`",
                    ));
                }
                SessionSettings {
                    secret: SecretString::from(secret),
                    ttl: session_ttl,
                    generated: false,
                }
            }
            None if env.is_development() => SessionSettings {
                secret: random_secret(),
                ttl: session_ttl,
                generated: true,
            },
            None => {
                return Err(ConfigError::new(
                    "SESSION_SECRET",
                    format!("it is not set and APP_ENV is {}", env.as_str()),
                    format!("at least {MIN_SECRET_BYTES} random bytes outside development"),
                ))
            }
        };

        let log_format = match get("LOG_FORMAT").as_deref() {
            None if env.is_development() => LogFormat::Pretty,
            None => LogFormat::Json,
            Some("pretty") => LogFormat::Pretty,
            Some("json") => LogFormat::Json,
            Some(other) => {
                return Err(ConfigError::new(
                    "LOG_FORMAT",
                    format!("{other:?} is not a format"),
                    "pretty or json",
                ))
            }
        };

        let release = ReleaseInfo {
            version: env!("CARGO_PKG_VERSION"),
            release_id: get("RENDER_GIT_COMMIT")
                .or_else(|| option_env!("BUILD_GIT_COMMIT").map(str::to_owned)),
            service_id: get("RENDER_SERVICE_NAME").unwrap_or_else(|| "release-flow-api".to_owned()),
            instance_id: get("RENDER_INSTANCE_ID")
                .unwrap_or_else(|| gethostname::gethostname().to_string_lossy().into_owned()),
        };

        let frontend_dir =
            PathBuf::from(get("FRONTEND_DIR").unwrap_or_else(|| "frontend/dist".to_owned()));

        let metrics_token = match get("METRICS_TOKEN") {
            Some(token) if token.len() < 16 => {
                return Err(ConfigError::new(
                    "METRICS_TOKEN",
                    format!("it is {} characters long", token.len()),
                    "at least 16 random characters, or unset to switch /metrics off",
                ))
            }
            token => token.map(SecretString::from),
        };

        let expected_policy = "a valid policy file (see docs/SECURITY_POLICY.md)";
        let policy = match get("POLICY_FILE") {
            None => edge_policy::Policy::from_toml(edge_policy::EMBEDDED_POLICY),
            Some(path) => edge_policy::Policy::load(std::path::Path::new(&path)),
        }
        .map_err(|e| ConfigError::new("POLICY_FILE", e.to_string(), expected_policy))?;
        policy
            .environment(env.as_str())
            .map_err(|e| ConfigError::new("POLICY_FILE", e.to_string(), expected_policy))?;

        Ok(Settings {
            env,
            server: ServerSettings {
                host,
                port,
                request_timeout,
                body_limit,
                header_read_timeout,
                shutdown_timeout,
                drain,
            },
            database: DatabaseSettings {
                url: SecretString::from(url),
                max_connections,
                min_connections,
                acquire_timeout,
                probe_timeout,
            },
            session,
            log_format,
            release,
            frontend_dir,
            demo_login: env.is_development() && get("RENDER").is_none(),
            metrics_token,
            policy: std::sync::Arc::new(policy),
        })
    }
}

fn parse_number<T>(
    get: &impl Fn(&str) -> Option<String>,
    var: &'static str,
    default: T,
    min: u64,
    max: u64,
) -> Result<T, ConfigError>
where
    T: TryFrom<u64> + Copy,
{
    let Some(raw) = get(var) else {
        return Ok(default);
    };
    let expected = || format!("a whole number from {min} to {max}");
    let n: u64 = raw
        .trim()
        .parse()
        .map_err(|_| ConfigError::new(var, format!("{raw:?} is not a whole number"), expected()))?;
    if n < min || n > max {
        return Err(ConfigError::new(
            var,
            format!("{n} is out of range"),
            expected(),
        ));
    }
    T::try_from(n).map_err(|_| ConfigError::new(var, format!("{n} is out of range"), expected()))
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

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn settings(pairs: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Settings::from_lookup(|k| map.get(k).cloned())
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
        assert_eq!(s.log_format, LogFormat::Pretty);
    }

    #[test]
    fn production_binds_all_interfaces_and_logs_json() {
        let s = settings(&[("APP_ENV", "production"), ("SESSION_SECRET", SECRET)]).unwrap();
        assert_eq!(s.server.host, IpAddr::V4(Ipv4Addr::UNSPECIFIED));
        assert_eq!(s.log_format, LogFormat::Json);
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
    fn every_variable_read_is_documented() {
        let source = include_str!("config.rs");
        for line in source
            .lines()
            .filter(|l| l.contains("get(\"") || l.contains("&get, \""))
        {
            let name = line.split('"').nth(1).unwrap();
            assert!(
                VARIABLES.iter().any(|v| v.name == name),
                "{name} is read but not in VARIABLES"
            );
        }
    }
}
