//! The binary refuses bad configuration before it binds anything: exit status 78 and one line on
//! stderr naming the variable.

use std::process::Command;

fn run_api(vars: &[(&str, &str)]) -> (Option<i32>, String) {
    let dir = tempfile::tempdir().unwrap();
    let mut command = Command::new(env!("CARGO_BIN_EXE_api"));
    command
        .current_dir(dir.path())
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default());
    for (k, v) in vars {
        command.env(k, v);
    }
    let output = command.output().expect("run the api binary");
    (
        output.status.code(),
        String::from_utf8(output.stderr).unwrap(),
    )
}

#[test]
fn a_non_numeric_port_stops_start_up() {
    let (code, stderr) = run_api(&[("PORT", "eighty")]);
    assert_eq!(code, Some(78));
    assert_eq!(stderr, "error: invalid PORT: \"eighty\" is not a whole number; expected a whole number from 0 to 65535\n");
}

#[test]
fn production_without_a_session_secret_stops_start_up() {
    let (code, stderr) = run_api(&[
        ("APP_ENV", "production"),
        ("DATABASE_URL", "postgres://db/app"),
    ]);
    assert_eq!(code, Some(78));
    assert!(
        stderr
            .starts_with("error: invalid SESSION_SECRET: it is not set and APP_ENV is production"),
        "{stderr}"
    );
}

#[test]
fn an_unknown_environment_stops_start_up() {
    let (code, stderr) = run_api(&[("APP_ENV", "live")]);
    assert_eq!(code, Some(78));
    assert!(
        stderr.starts_with("error: invalid APP_ENV: \"live\""),
        "{stderr}"
    );
}

#[test]
fn an_unsupported_database_stops_start_up_without_echoing_the_password() {
    let (code, stderr) = run_api(&[("DATABASE_URL", "mysql://root:hunter2@db/app")]);
    assert_eq!(code, Some(78));
    assert!(
        stderr.starts_with("error: invalid DATABASE_URL"),
        "{stderr}"
    );
    assert!(!stderr.contains("hunter2"));
}

#[test]
fn a_port_in_use_is_reported_with_the_address() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let (code, stderr) = run_api(&[("PORT", &port)]);
    assert_eq!(code, Some(1));
    assert!(
        stderr.contains(&format!(
            "cannot listen on 127.0.0.1:{port} (check HOST and PORT)"
        )),
        "{stderr}"
    );
}

#[test]
fn help_lists_every_environment_variable() {
    for args in [&["--help"][..], &["serve", "--help"]] {
        let output = Command::new(env!("CARGO_BIN_EXE_api"))
            .args(args)
            .output()
            .unwrap();
        assert!(output.status.success());
        let help = String::from_utf8(output.stdout).unwrap();
        for var in api::config::VARIABLES {
            assert!(
                help.contains(var.name),
                "{args:?} help does not mention {}",
                var.name
            );
        }
    }
}

#[test]
fn the_docs_list_every_environment_variable() {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
    for doc in ["README.md", "docs/ENV_VARS_AND_RENDER_SETUP.md"] {
        let text = std::fs::read_to_string(format!("{root}/{doc}"))
            .unwrap_or_else(|e| panic!("{doc}: {e}"));
        for var in api::config::VARIABLES {
            assert!(
                text.contains(&format!("`{}`", var.name)),
                "{doc} does not document `{}`",
                var.name
            );
        }
    }
}
