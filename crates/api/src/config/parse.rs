//! Value parsers for [`Config`](super::Config): each error is an [`Invalid`] that
//! [`config_error`](super::config_error) turns into one line naming the variable.

use std::net::IpAddr;

use secrecy::SecretString;

use super::{AppEnv, Backend, DatabaseUrl, LogFormat, MIN_METRICS_TOKEN_CHARS, MIN_SECRET_BYTES};

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

/// `REPOSITORY_URL`: an https URL with a host and a path, without query, fragment or user
/// information, returned without a trailing `/` or `.git` so `/commit/ID` can be appended. The
/// page shows it as a link, so anything else (`javascript:`, plain http) is refused here.
pub fn repository_url(raw: &str) -> Result<String, Invalid> {
    let expected = || "an https URL such as https://github.com/OWNER/REPO".to_owned();
    let url = raw.trim();
    let rest = url
        .strip_prefix("https://")
        .ok_or_else(|| invalid(format!("{url:?} is not an https URL"), expected()))?;
    let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
    let host_ok = !host.is_empty()
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':'));
    if !host_ok {
        return Err(invalid(format!("{url:?} has no valid host"), expected()));
    }
    let path = path.trim_end_matches('/');
    let path = path.strip_suffix(".git").unwrap_or(path);
    let path_ok = !path.is_empty()
        && path.bytes().all(|b| {
            b.is_ascii_alphanumeric() || matches!(b, b'/' | b'-' | b'_' | b'.' | b'~' | b'%')
        })
        && !path
            .split('/')
            .any(|segment| segment.is_empty() || segment == "..");
    if !path_ok {
        return Err(invalid(
            format!("{url:?} has no repository path, or one with a query, fragment or unusual characters"),
            expected(),
        ));
    }
    Ok(format!("https://{host}/{path}"))
}
