//! `edge-policy`: emit and check the static-host files from `policy.toml`.

use std::{collections::BTreeMap, path::PathBuf, process::ExitCode};

use clap::{Parser, Subcommand};
use edge_policy::{check, emit, nginx, render, Policy};

#[derive(Parser)]
#[command(
    name = "edge-policy",
    version,
    about = "Emit and check the static hosts' files (_headers, _redirects, netlify.toml, the Pages Function) and the Render Blueprints from policy.toml"
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
    /// Write DIST/_headers, DIST/_redirects and the missing-asset 404 page, hashing
    /// DIST/index.html's inline scripts into the CSP; with --functions, the Cloudflare Pages
    /// Function that proxies /api/*.
    Emit {
        /// development, staging or production.
        #[arg(long)]
        env: String,
        /// The built frontend (after `vite build`).
        #[arg(long, default_value = "frontend/dist")]
        dist: PathBuf,
        /// The Cloudflare Pages project's functions/ folder.
        #[arg(long)]
        functions: Option<PathBuf>,
    },
    /// Fail on any drift between the policy, the emitted files, the Blueprints, netlify.toml and
    /// index.html.
    Check {
        #[arg(long)]
        env: String,
        #[arg(long, default_value = "frontend/dist")]
        dist: PathBuf,
        /// A Render Blueprint; repeat for each (the environment's static site must be in one).
        #[arg(long)]
        render: Vec<PathBuf>,
        /// The committed netlify.toml.
        #[arg(long)]
        netlify: Option<PathBuf>,
        /// The Cloudflare Pages functions/ folder.
        #[arg(long)]
        functions: Option<PathBuf>,
    },
    /// Print netlify.toml for ENV (the /api proxy, the missing-asset 404, the SPA fallback).
    NetlifyToml {
        #[arg(long)]
        env: String,
    },
    /// Print an nginx.conf serving DIST as the Blueprint's static site for ENV would be served
    /// by Render (files first, then the routes in order, the header rules), over TLS.
    Nginx {
        #[arg(long)]
        env: String,
        /// The Blueprints; the environment's static site is looked up in them.
        #[arg(long, required = true)]
        render: Vec<PathBuf>,
        #[arg(long, default_value = "frontend/dist")]
        dist: PathBuf,
        /// address:port to listen on.
        #[arg(long)]
        listen: String,
        /// PEM certificate and key for the site's host name.
        #[arg(long)]
        cert: PathBuf,
        #[arg(long)]
        key: PathBuf,
        /// PEM CA the proxied hosts' certificates chain to.
        #[arg(long)]
        upstream_ca: PathBuf,
        /// HOST=ADDRESS:PORT for each host a route proxies to; repeatable.
        #[arg(long)]
        resolve: Vec<String>,
        /// A writable folder for the pid and temporary files.
        #[arg(long)]
        prefix: PathBuf,
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
        Command::Emit {
            env,
            dist,
            functions,
        } => emit::emit(&policy, &env, &dist, functions.as_deref()).map(|emitted| {
            println!(
                "wrote {}/_headers, _redirects and {}{} for {env} ({} inline script hash(es))",
                dist.display(),
                emitted.not_found.0.display(),
                functions
                    .map(|f| format!(", {}", f.join(emit::PAGES_FUNCTION_PATH).display()))
                    .unwrap_or_default(),
                emitted.script_hashes.len()
            );
            true
        }),
        Command::Check {
            env,
            dist,
            render,
            netlify,
            functions,
        } => {
            let targets = check::Targets {
                render: &render,
                netlify: netlify.as_deref(),
                functions: functions.as_deref(),
            };
            check::check(&policy, &env, &dist, &targets).map(|drift| {
                for line in &drift {
                    eprintln!("drift: {line}");
                }
                if drift.is_empty() {
                    let mut also: Vec<String> =
                        render.iter().map(|r| r.display().to_string()).collect();
                    also.extend(netlify.iter().map(|n| n.display().to_string()));
                    also.extend(
                        functions
                            .iter()
                            .map(|f| f.join(emit::PAGES_FUNCTION_PATH).display().to_string()),
                    );
                    println!(
                        "policy, {}/_headers, _redirects, the 404 page{} agree for {env}",
                        dist.display(),
                        also.iter().map(|a| format!(", {a}")).collect::<String>()
                    );
                }
                drift.is_empty()
            })
        }
        Command::NetlifyToml { env } => emit::netlify_toml(&policy, &env)
            .map(|text| {
                print!("{text}");
                true
            })
            .map_err(Into::into),
        Command::Nginx {
            env,
            render,
            dist,
            listen,
            cert,
            key,
            upstream_ca,
            resolve,
            prefix,
        } => nginx_conf(
            &policy,
            &env,
            &render,
            nginx::Site {
                root: dist,
                listen,
                server_name: String::new(),
                cert,
                key,
                upstream_ca,
                resolve: BTreeMap::new(),
                prefix,
            },
            &resolve,
        )
        .map(|conf| {
            print!("{conf}");
            true
        }),
        Command::RenderYaml { env, dist } => emit::dist_script_hashes(&dist)
            .and_then(|hashes| Ok(policy.static_header_rules(&env, &hashes)?))
            .and_then(|rules| {
                println!("    headers:");
                for h in check::flatten(&rules) {
                    println!(
                        "      - path: {}\n        name: {}\n        value: {:?}",
                        h.path, h.name, h.value
                    );
                }
                println!("    routes:");
                for r in policy.render_routes(&env)? {
                    println!(
                        "      - type: {}\n        source: {}\n        destination: {}",
                        r.kind, r.source, r.destination
                    );
                }
                Ok(true)
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

/// The nginx emulation of ENV's Render static site, looked up in the Blueprints.
fn nginx_conf(
    policy: &Policy,
    env: &str,
    blueprints: &[PathBuf],
    mut site: nginx::Site,
    resolve: &[String],
) -> Result<String, emit::EmitError> {
    let fail = |path: &PathBuf, problem: String| emit::EmitError::File {
        path: path.clone(),
        problem,
    };
    let name = policy
        .environment(env)?
        .render_static_site
        .clone()
        .ok_or_else(|| {
            emit::EmitError::Limit(format!("environments.{env}.render_static_site is not set"))
        })?;
    for pair in resolve {
        let (host, address) = pair.split_once('=').ok_or_else(|| {
            emit::EmitError::Limit(format!("--resolve {pair:?}: expected HOST=ADDRESS:PORT"))
        })?;
        site.resolve.insert(host.to_owned(), address.to_owned());
    }
    for path in blueprints {
        let text = std::fs::read_to_string(path)
            .map_err(|e| fail(path, format!("cannot read it: {e}")))?;
        let blueprint = render::parse(&text).map_err(|e| fail(path, e))?;
        if blueprint.services.iter().any(|s| s.name == name) {
            let service = blueprint.static_site(&name).map_err(|e| fail(path, e))?;
            site.server_name = format!("{name}.onrender.com");
            return nginx::config(service, &site).map_err(|e| fail(path, e));
        }
    }
    Err(emit::EmitError::Limit(format!(
        "no Blueprint has the static site {name:?}"
    )))
}
