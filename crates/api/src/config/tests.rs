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
    assert!(
        error(&[("PORTT", "1")]).starts_with("invalid PORTT: it is not a variable of this service")
    );
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

#[test]
fn a_repository_url_links_a_commit_release_id() {
    let s = settings(&[
        (
            "REPOSITORY_URL",
            "https://github.com/release-flow/release-flow.git/",
        ),
        ("RENDER_GIT_COMMIT", "4f1c2e9d0a"),
    ])
    .unwrap();
    assert_eq!(
        s.release.commit_url.as_deref(),
        Some("https://github.com/release-flow/release-flow/commit/4f1c2e9d0a")
    );
    // A release id that is not a commit hash names no commit page.
    let s = settings(&[
        (
            "REPOSITORY_URL",
            "https://github.com/release-flow/release-flow",
        ),
        ("RENDER_GIT_COMMIT", "release-7"),
    ])
    .unwrap();
    assert_eq!(s.release.commit_url, None);
    let s = settings(&[("RENDER_GIT_COMMIT", "4f1c2e9d0a")]).unwrap();
    assert_eq!(s.release.commit_url, None);
}

#[test]
fn a_repository_url_that_is_not_https_is_named() {
    for bad in [
        "http://github.com/o/r",
        "javascript:alert(1)",
        "https://",
        "https://github.com",
        "https://github.com/o/r?x=1",
        "https://github.com/o/r#top",
        "https://user@github.com/o/r",
        "https://github.com/o/../r",
        "https://github.com/o r",
    ] {
        let e = error(&[("REPOSITORY_URL", bad)]);
        assert!(e.starts_with("invalid REPOSITORY_URL: "), "{bad}: {e}");
        assert!(
            e.ends_with("expected an https URL such as https://github.com/OWNER/REPO"),
            "{bad}: {e}"
        );
    }
}
