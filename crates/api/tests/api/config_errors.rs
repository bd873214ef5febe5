//! The binary refuses bad configuration before it binds anything: exit status 78 and one line on
//! stderr naming the variable.

use crate::helpers::ApiCommand;

#[tokio::test]
async fn a_non_numeric_port_stops_start_up() {
    let run = ApiCommand::new().var("PORT", "eighty").run().await;
    assert_eq!(run.code(), Some(78));
    assert_eq!(run.stderr, "error: invalid PORT: \"eighty\" is not a whole number; expected a whole number from 0 to 65535\n");
}

#[tokio::test]
async fn production_without_a_session_secret_stops_start_up() {
    let run = ApiCommand::new()
        .var("APP_ENV", "production")
        .var("DATABASE_URL", "postgres://db/app")
        .run()
        .await;
    assert_eq!(run.code(), Some(78));
    assert!(
        run.stderr
            .starts_with("error: invalid SESSION_SECRET: it is not set and APP_ENV is production"),
        "{}",
        run.stderr
    );
}

#[tokio::test]
async fn an_unknown_environment_stops_start_up() {
    let run = ApiCommand::new().var("APP_ENV", "live").run().await;
    assert_eq!(run.code(), Some(78));
    assert!(
        run.stderr.starts_with("error: invalid APP_ENV: \"live\""),
        "{}",
        run.stderr
    );
}

#[tokio::test]
async fn a_repository_url_that_is_not_https_stops_start_up() {
    let run = ApiCommand::new()
        .var(
            "REPOSITORY_URL",
            "http://github.com/release-flow/release-flow",
        )
        .run()
        .await;
    assert_eq!(run.code(), Some(78));
    assert_eq!(
        run.stderr.lines().next(),
        Some("error: invalid REPOSITORY_URL: \"http://github.com/release-flow/release-flow\" is not an https URL; expected an https URL such as https://github.com/OWNER/REPO"),
        "{}",
        run.stderr
    );
}

#[tokio::test]
async fn an_unsupported_database_stops_start_up_without_echoing_the_password() {
    let run = ApiCommand::new()
        .var("DATABASE_URL", "mysql://root:hunter2@db/app")
        .run()
        .await;
    assert_eq!(run.code(), Some(78));
    assert!(
        run.stderr.starts_with("error: invalid DATABASE_URL"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("hunter2"));
}

#[tokio::test]
async fn a_port_in_use_is_reported_with_the_address() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let run = ApiCommand::new().var("PORT", &port).run().await;
    assert_eq!(run.code(), Some(1));
    assert!(
        run.stderr.contains(&format!(
            "cannot listen on 127.0.0.1:{port} (check HOST and PORT)"
        )),
        "{}",
        run.stderr
    );
}

#[tokio::test]
async fn help_lists_every_environment_variable() {
    for args in [
        &["--help"][..],
        &["serve", "--help"],
        &["migrate", "--help"],
    ] {
        let run = ApiCommand::new().args(args).run().await;
        assert!(run.status.success(), "{}", run.stderr);
        let help = run.stdout;
        for var in api::config::Config::variables() {
            assert!(
                help.contains(&format!("[env: {}", var.name)),
                "{args:?} help does not mention {}",
                var.name
            );
        }
    }
}

#[tokio::test]
async fn a_secret_on_the_command_line_is_refused() {
    let run = ApiCommand::new()
        .args(["--metrics-token", "0123456789abcdef0123", "migrate"])
        .run()
        .await;
    assert_eq!(run.code(), Some(78));
    let stderr = run.stderr;
    assert!(
        stderr.starts_with("error: invalid METRICS_TOKEN: it was given as --metrics-token"),
        "{stderr}"
    );
    assert!(!stderr.contains("0123456789abcdef0123"));
}

/// The README's table is generated from the clap definitions; `BLESS=1` rewrites it.
#[test]
fn the_readme_table_is_the_variables_clap_knows() {
    const START: &str = "<!-- variables:start -->\n";
    const END: &str = "<!-- variables:end -->";
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md");
    let readme = std::fs::read_to_string(path).unwrap();
    let (before, rest) = readme
        .split_once(START)
        .expect("README.md has the variables markers");
    let (table, after) = rest.split_once(END).expect("README.md has the end marker");
    let want = api::config::Config::markdown_table();
    if table != want {
        if std::env::var_os("BLESS").is_some() {
            std::fs::write(path, format!("{before}{START}{want}{END}{after}")).unwrap();
        } else {
            panic!("README.md's variables table differs from `api --help`; run `BLESS=1 cargo test -p api --test api readme_table`. Expected:\n{want}");
        }
    }
}

#[test]
fn the_render_guide_documents_every_environment_variable() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../docs/ENV_VARS_AND_RENDER_SETUP.md"
    );
    let text = std::fs::read_to_string(path).unwrap();
    let documented: std::collections::BTreeSet<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("| `")?.split('`').next())
        .collect();
    let known: std::collections::BTreeSet<String> = api::config::Config::variables()
        .into_iter()
        .map(|v| v.name)
        .collect();
    let known: std::collections::BTreeSet<&str> = known.iter().map(String::as_str).collect();
    assert_eq!(
        documented, known,
        "docs/ENV_VARS_AND_RENDER_SETUP.md's table rows against `api --help`"
    );
}

#[tokio::test]
async fn a_dot_env_naming_another_environment_stops_start_up() {
    // `.env` is read in development only; one that says production is a mistake, not a switch.
    let command = ApiCommand::new().args(["migrate"]);
    std::fs::write(command.dir().join(".env"), "APP_ENV=production\n").unwrap();
    let run = command.run().await;
    assert_eq!(run.code(), Some(78), "{}", run.stderr);
    assert!(
        run.stderr.starts_with(
            "error: invalid .env: it sets APP_ENV=production; expected APP_ENV=development or none"
        ),
        "{}",
        run.stderr
    );
}

#[tokio::test]
async fn a_dot_env_line_it_cannot_read_stops_start_up() {
    // dotenvy stops at the first bad line: every line after it would be lost without a word.
    let command = ApiCommand::new().args(["migrate"]);
    std::fs::write(
        command.dir().join(".env"),
        "RUST_LOG=info\nNOT A LINE\nPORT=eighty\n",
    )
    .unwrap();
    let run = command.run().await;
    assert_eq!(run.code(), Some(78), "{}", run.stderr);
    assert!(
        run.stderr
            .starts_with("error: invalid .env: Error parsing line: 'NOT A LINE'"),
        "{}",
        run.stderr
    );
}

#[tokio::test]
async fn render_accepts_any_truthy_spelling_and_empty_or_falsey_means_off() {
    // Render sets RENDER=true; a hand-set `1` or `yes` must not stop start-up with clap's exit 2.
    for value in ["true", "1", "yes", "True", "0", "false", "no"] {
        let run = ApiCommand::new()
            .var("RENDER", value)
            .args(["migrate"])
            .run()
            .await;
        assert_eq!(run.code(), Some(0), "RENDER={value}: {}", run.stderr);
    }
}
