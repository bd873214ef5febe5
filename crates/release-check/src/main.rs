//! `release-check`: the release gate and the compliance checklist.

use std::{path::PathBuf, process::ExitCode, time::Duration};

use clap::{Parser, Subcommand};
use release_check::{changelog, prepare, rehearse, verify};

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
        /// The tag: `v` and a SemVer 2.0.0 version, e.g. v1.2.3, v1.2.3-rc.1 or v1.2.3+build.5
        /// (build metadata is ignored when matching the changelog and the workspace version).
        #[arg(long)]
        tag: String,
        #[arg(long, default_value = "CHANGELOG.md")]
        file: PathBuf,
        /// The workspace manifest whose version must match.
        #[arg(long, default_value = "Cargo.toml")]
        manifest: PathBuf,
        /// The tag deploys to Production: refuse pre-releases and build metadata (plain vX.Y.Z only).
        #[arg(long)]
        production: bool,
    },
    /// Cut a release: move `## [Unreleased]` into a dated `## [X.Y.Z]` section, update the compare
    /// links, bump the workspace version in Cargo.toml and Cargo.lock, and print the commands that
    /// commit, tag and push it. Refuses an Unreleased section without changes.
    Prepare {
        /// The release tag, a plain vX.Y.Z greater than the last release.
        tag: String,
        /// The release date, YYYY-MM-DD [default: today, UTC].
        #[arg(long)]
        date: Option<String>,
        /// The repository's root (CHANGELOG.md, Cargo.toml and Cargo.lock live there).
        #[arg(long, default_value = ".")]
        root: PathBuf,
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
        /// The version /api/health must report, e.g. 1.2.3 (the tag being released).
        #[arg(long)]
        expect_version: Option<semver::Version>,
        /// The release id (commit) /api/health must report.
        #[arg(long)]
        expect_release: Option<String>,
        /// Print JSON instead of the checklist: {"ok", "items": [{"id", "title", "passed",
        /// "detail", "durationMs"}]}. Either way, when GITHUB_STEP_SUMMARY names a file (GitHub
        /// Actions sets it), the checklist is appended to it as Markdown.
        #[arg(long)]
        json: bool,
    },
    /// Rehearse a rolling deploy: instances sharing PostgreSQL behind nginx, under load, each
    /// replaced in turn, in each scenario; non-zero exit if any request failed, nginx retried
    /// any on another instance, or the failing-migration roll was not refused.
    Rehearse {
        /// The PostgreSQL database the instances share.
        #[arg(long, env = "DATABASE_URL")]
        database_url: String,
        #[arg(long, default_value = "target/release/api")]
        api_bin: PathBuf,
        #[arg(long, default_value = "nginx")]
        nginx_bin: PathBuf,
        #[arg(long, default_value_t = 2)]
        instances: usize,
        /// Requests per second, sent open-loop.
        #[arg(long, default_value_t = 300)]
        rps: u32,
        /// Seconds of load before the first replacement.
        #[arg(long, default_value_t = 5)]
        warm: u64,
        /// Seconds of load after the last replacement.
        #[arg(long, default_value_t = 5)]
        settle: u64,
        /// Seconds a new instance that is not healthy is watched before its roll is abandoned
        /// (failing-migration).
        #[arg(long, default_value_t = 5)]
        refuse_wait: u64,
        /// A scenario to run (repeat for several) [default: all, in the order listed]
        #[arg(long = "scenario", value_enum)]
        scenarios: Vec<rehearse::Scenario>,
        /// nginx listens here (plus 20 per scenario before it); instances take the following ports.
        #[arg(long, default_value_t = 18400)]
        base_port: u16,
        /// Where rehearsal.json and rehearsal-SCENARIO.svg go.
        #[arg(long, default_value = "target/rehearsal")]
        out: PathBuf,
    },
}

fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Rehearse {
            database_url,
            api_bin,
            nginx_bin,
            instances,
            rps,
            warm,
            settle,
            refuse_wait,
            scenarios,
            base_port,
            out,
        } => {
            if instances < 2 {
                eprintln!("error: invalid --instances: {instances}; expected at least 2 (the session check needs two)");
                return ExitCode::from(2);
            }
            let options = rehearse::Options {
                api_bin,
                nginx_bin,
                database_url,
                instances,
                rps,
                warm: Duration::from_secs(warm),
                settle: Duration::from_secs(settle),
                refuse_wait: Duration::from_secs(refuse_wait),
                scenarios: if scenarios.is_empty() {
                    rehearse::Scenario::ALL.to_vec()
                } else {
                    scenarios
                },
                base_port,
                out: out.clone(),
            };
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .expect("a runtime");
            match runtime.block_on(rehearse::rehearse(options)) {
                Ok(reports) => {
                    print!("{}", rehearse::render_human(&reports, &out));
                    if reports.iter().all(rehearse::Report::passed) {
                        ExitCode::SUCCESS
                    } else {
                        ExitCode::FAILURE
                    }
                }
                Err(e) => {
                    eprintln!("error: {e:#}");
                    ExitCode::from(2)
                }
            }
        }
        Command::Prepare { tag, date, root } => {
            let date = date.unwrap_or_else(|| {
                let format = time::macros::format_description!("[year]-[month]-[day]");
                time::OffsetDateTime::now_utc()
                    .date()
                    .format(&format)
                    .expect("a date formats")
            });
            match prepare::prepare(&root, &tag, &date) {
                Ok(done) => {
                    let files: Vec<_> = done
                        .changed
                        .iter()
                        .map(|p| p.display().to_string())
                        .collect();
                    println!(
                        "prepared {} (was {}), dated {date}: {} updated. Review `git diff`, then:",
                        done.version,
                        done.previous,
                        files.join(", ")
                    );
                    for command in &done.commands {
                        println!("  {command}");
                    }
                    println!(
                        "The release workflow deploys the tag only when its commit is on origin/staging: \
                         tag the commit once it has reached staging."
                    );
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("error: {e:#}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Changelog {
            tag,
            file,
            manifest,
            production,
        } => {
            if production {
                if let Err(e) = changelog::production_version(&tag) {
                    eprintln!("{tag}: {e}");
                    return ExitCode::FAILURE;
                }
            }
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
                    eprintln!("error: {}: {e:#}", manifest.display());
                    return ExitCode::from(2);
                }
            };
            match changelog::check(&tag, &text, version.as_ref()) {
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
            expect_version,
            expect_release,
            json,
        } => {
            let options = verify::Options {
                api: api.clone(),
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
                expect_version,
                expect_release,
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
            if let Some(summary) = std::env::var_os("GITHUB_STEP_SUMMARY").filter(|s| !s.is_empty())
            {
                // The checklist decides the exit code; a summary that cannot be written is
                // only reported.
                if let Err(e) = append(&summary, &verify::render_markdown(&items, &api)) {
                    eprintln!(
                        "warning: cannot append to GITHUB_STEP_SUMMARY ({}): {e}",
                        std::path::Path::new(&summary).display()
                    );
                }
            }
            if ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
    }
}

/// Appends `text` to the file at `path`, creating it if needed.
fn append(path: &std::ffi::OsStr, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?
        .write_all(text.as_bytes())
}
