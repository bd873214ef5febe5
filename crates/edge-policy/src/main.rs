//! `edge-policy`: emit and check the static-host files from `policy.toml`.

use std::{path::PathBuf, process::ExitCode};

use clap::{Parser, Subcommand};
use edge_policy::{check, emit, Policy};

#[derive(Parser)]
#[command(
    name = "edge-policy",
    version,
    about = "Emit and check _headers/_redirects and render.yaml from policy.toml"
)]
struct Cli {
    /// The policy file.
    #[arg(long, global = true, default_value = "policy.toml")]
    policy: PathBuf,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Write DIST/_headers and DIST/_redirects, hashing DIST/index.html's inline scripts into the CSP.
    Emit {
        /// development, staging or production.
        #[arg(long)]
        env: String,
        /// The built frontend (after `vite build`).
        #[arg(long, default_value = "frontend/dist")]
        dist: PathBuf,
    },
    /// Fail on any drift between the policy, the emitted files, render.yaml and index.html.
    Check {
        #[arg(long)]
        env: String,
        #[arg(long, default_value = "frontend/dist")]
        dist: PathBuf,
        /// The Render Blueprint whose static site must match.
        #[arg(long)]
        render: Option<PathBuf>,
    },
    /// Print the header rules for ENV as render.yaml `headers:` and `routes:` entries.
    RenderYaml {
        #[arg(long)]
        env: String,
        #[arg(long, default_value = "frontend/dist")]
        dist: PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let policy = match Policy::load(&cli.policy) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: invalid policy {}: {e}", cli.policy.display());
            return ExitCode::from(2);
        }
    };
    let result = match cli.command {
        Command::Emit { env, dist } => emit::emit(&policy, &env, &dist).map(|emitted| {
            println!(
                "wrote {}/_headers and {}/_redirects for {env} ({} inline script hash(es))",
                dist.display(),
                dist.display(),
                emitted.script_hashes.len()
            );
            true
        }),
        Command::Check { env, dist, render } => {
            check::check(&policy, &env, &dist, render.as_deref()).map(|drift| {
                for line in &drift {
                    eprintln!("drift: {line}");
                }
                if drift.is_empty() {
                    println!(
                        "policy, {}/_headers, _redirects{} agree for {env}",
                        dist.display(),
                        render
                            .map(|r| format!(" and {}", r.display()))
                            .unwrap_or_default()
                    );
                }
                drift.is_empty()
            })
        }
        Command::RenderYaml { env, dist } => emit::dist_script_hashes(&dist)
            .and_then(|hashes| Ok(policy.static_header_rules(&env, &hashes)?))
            .map(|rules| {
                println!("    headers:");
                for h in check::flatten(&rules) {
                    println!(
                        "      - path: {}\n        name: {}\n        value: {:?}",
                        h.path, h.name, h.value
                    );
                }
                println!("    routes:");
                for r in policy.render_routes() {
                    println!(
                        "      - type: {}\n        source: {}\n        destination: {}",
                        r.kind, r.source, r.destination
                    );
                }
                true
            }),
    };
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
