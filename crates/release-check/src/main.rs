//! `release-check`: the release gate and the compliance checklist.

use std::{path::PathBuf, process::ExitCode, time::Duration};

use clap::{Parser, Subcommand};
use release_check::{changelog, verify};

#[derive(Parser)]
#[command(
    name = "release-check",
    version,
    about = "Release gate and compliance checklist for Release Flow"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Refuse a tag without a dated, non-empty `## [X.Y.Z]` section or with another workspace version.
    Changelog {
        /// The tag, e.g. v1.2.3.
        #[arg(long)]
        tag: String,
        #[arg(long, default_value = "CHANGELOG.md")]
        file: PathBuf,
        /// The workspace manifest whose version must match.
        #[arg(long, default_value = "Cargo.toml")]
        manifest: PathBuf,
    },
    /// Run the compliance checklist against a deployment; non-zero exit if any item fails.
    /// The password comes from RELEASE_CHECK_PASSWORD, never from the command line.
    Verify {
        /// The API's URL, e.g. https://release-flow-api.onrender.com
        #[arg(long)]
        api: String,
        /// The frontend's URL (the static site, or the API itself when it serves the frontend).
        #[arg(long)]
        frontend: String,
        /// Another instance of the API (repeat): the session must be accepted there too.
        #[arg(long = "instance")]
        instances: Vec<String>,
        /// The account to log in with.
        #[arg(long, env = "RELEASE_CHECK_EMAIL")]
        email: Option<String>,
        /// Keep polling /health this many seconds (right after a deploy).
        #[arg(long, default_value_t = 0)]
        wait: u64,
        /// For a target without TLS in front: send the X-Forwarded-Proto a TLS proxy would.
        #[arg(long)]
        forwarded_proto: bool,
        /// The host HTTP must redirect to (default: the API URL's host).
        #[arg(long)]
        expect_host: Option<String>,
        #[arg(long, default_value = "CHANGELOG.md")]
        changelog: PathBuf,
        /// Print JSON instead of the checklist.
        #[arg(long)]
        json: bool,
    },
}

fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Changelog {
            tag,
            file,
            manifest,
        } => {
            let text = match std::fs::read_to_string(&file) {
                Ok(t) => t,
                Err(e) => {
                    eprintln!("error: cannot read {}: {e}", file.display());
                    return ExitCode::from(2);
                }
            };
            let version = match changelog::workspace_version(&manifest) {
                Ok(v) => v,
                Err(e) => {
                    eprintln!("error: cannot read {}: {e}", manifest.display());
                    return ExitCode::from(2);
                }
            };
            match changelog::check(&tag, &text, version.as_deref()) {
                Ok(()) => {
                    println!(
                        "{tag}: {} has a dated entry and the workspace version matches",
                        file.display()
                    );
                    ExitCode::SUCCESS
                }
                Err(errors) => {
                    for e in errors {
                        eprintln!("{tag}: {e}");
                    }
                    ExitCode::FAILURE
                }
            }
        }
        Command::Verify {
            api,
            frontend,
            instances,
            email,
            wait,
            forwarded_proto,
            expect_host,
            changelog,
            json,
        } => {
            let options = verify::Options {
                api,
                frontend,
                instances,
                email,
                password: std::env::var("RELEASE_CHECK_PASSWORD")
                    .ok()
                    .filter(|p| !p.is_empty()),
                wait: Duration::from_secs(wait),
                forwarded_proto,
                expect_host,
                changelog,
            };
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime");
            let items = runtime.block_on(verify::verify(options));
            let ok = items.iter().all(|i| i.passed);
            if json {
                println!("{}", serde_json::json!({ "ok": ok, "items": items }));
            } else {
                print!("{}", verify::render_human(&items));
            }
            if ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
    }
}
