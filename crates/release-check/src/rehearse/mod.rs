//! A rolling-deploy rehearsal: real `api` instances sharing PostgreSQL behind nginx (standing in
//! for Render's router), steady load from this process, and each instance replaced the way Render
//! does it — start the new one, wait for `/health`, move traffic, SIGTERM the old one. Every
//! request is recorded; the report counts failures, gives latency percentiles and each drain
//! time, and draws latency and errors over time as SVG.
//!
//! This file is the roll itself; the pieces it drives are one file each:
//! - `instance.rs`: starting, readying and stopping `api` processes;
//! - `nginx.rs`: the stand-in router and how traffic is moved;
//! - `load.rs`: the open-loop load generator and its samples;
//! - `report.rs` and `plot.rs`: the summary (JSON and human) and the SVG.

mod instance;
mod load;
mod nginx;
mod plot;
mod report;

use std::{
    path::PathBuf,
    time::{Duration, Instant},
};

use anyhow::{bail, Context};

use instance::{signal_term, start_instance};
use nginx::Nginx;

pub use load::Sample;
pub use plot::plot;
pub use report::{render_human, Event, Report};

/// How to run a rehearsal (the `release-check rehearse` flags).
#[derive(Debug, Clone)]
pub struct Options {
    /// The `api` binary; a relative path is resolved against the current directory.
    pub api_bin: PathBuf,
    /// The nginx binary (looked up on `PATH` when it is a bare name).
    pub nginx_bin: PathBuf,
    /// The PostgreSQL URL every instance shares; the rehearsal's account is created there.
    pub database_url: String,
    /// How many instances serve at once, each replaced in turn; at least 2 (the session check
    /// logs in on one and uses the session on another).
    pub instances: usize,
    /// Requests per second, sent open-loop (whatever the previous requests are doing).
    pub rps: u32,
    /// How long the load runs before the first replacement.
    pub warm: Duration,
    /// How long the load runs after the last replacement.
    pub settle: Duration,
    /// nginx listens on this port; the instances take the ports after it, one new port per
    /// instance started (`instances` × 2 in all).
    pub base_port: u16,
    /// The directory `rehearsal.json` and `rehearsal.svg` are written to (created if missing).
    pub out: PathBuf,
}

const PASSWORD: &str = "rehearsal password 0123";
const EMAIL: &str = "rehearsal@example.com";

/// Runs a rehearsal: starts `options.instances` instances and nginx in front of them, logs in on
/// one and uses the session on another, then sends load while each instance is replaced in turn
/// (new one healthy, traffic moved, 1 s later SIGTERM to the old one, its exit timed), the order
/// Render's zero-downtime deploys follow (docs/RELIABILITY.md). Prints each
/// event as it happens, writes `rehearsal.json` (the [`Report`]) and `rehearsal.svg` ([`plot`])
/// to `options.out`, and returns the report; failed requests are in the report, not an error.
///
/// # Errors
///
/// The rehearsal could not be run: the `api` binary is missing, `api user add` failed (the
/// database is unreachable), an instance was not healthy within 20 s or an old one did not exit
/// within 30 s of SIGTERM, nginx did not start, answer within 10 s or reload, the session check
/// failed, or the report could not be written. The instances and the nginx master started so far
/// are then killed (SIGKILL, on drop); the scratch directory in the system temp dir is left behind.
pub async fn rehearse(mut options: Options) -> anyhow::Result<Report> {
    // The instances run in a scratch directory, so a relative path must be resolved first.
    options.api_bin = std::fs::canonicalize(&options.api_bin).with_context(|| {
        format!(
            "--api-bin {}: not found (cargo build --release -p api)",
            options.api_bin.display()
        )
    })?;
    let work = tempdir()?;
    let secret = format!("rehearsal-{:032x}", rand_u128());
    std::fs::create_dir_all(&options.out)?;

    instance::add_user(&options, &secret, &work).await?;

    let mut next_port = options.base_port + 1;
    let mut instances = Vec::new();
    for _ in 0..options.instances {
        instances.push(start_instance(&options, &secret, &work, next_port).await?);
        next_port += 1;
    }
    let listen = options.base_port;
    let nginx = Nginx::start(
        &options.nginx_bin,
        &work,
        listen,
        &instances.iter().map(|i| i.port).collect::<Vec<_>>(),
    )?;
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()?;
    let load_client = load::client()?;
    wait_until(&client, &format!("http://127.0.0.1:{listen}/health")).await?;

    let stateless = stateless_check(
        &client,
        instances[0].port,
        instances[1 % instances.len()].port,
    )
    .await?;

    let load = load::Load::start(load_client, listen, options.rps);
    let started = load.started();
    let mut events = Vec::new();
    let event = |events: &mut Vec<Event>, what: String| {
        println!("{:>6.1}s  {what}", started.elapsed().as_secs_f64());
        events.push(Event {
            at_ms: started.elapsed().as_millis() as u64,
            what,
        });
    };

    tokio::time::sleep(options.warm).await;
    let mut drain_secs = Vec::new();
    for index in 0..instances.len() {
        let old_port = instances[index].port;
        let new = start_instance(&options, &secret, &work, next_port).await?;
        next_port += 1;
        event(&mut events, format!("new instance :{} healthy", new.port));
        let mut ports: Vec<u16> = instances.iter().map(|i| i.port).collect();
        ports[index] = new.port;
        nginx.route_to(&ports).await?;
        event(
            &mut events,
            format!("traffic moved from :{old_port} to :{}", new.port),
        );
        // Render moves traffic first and signals the old instance afterwards.
        tokio::time::sleep(Duration::from_secs(1)).await;
        let mut old = std::mem::replace(&mut instances[index], new);
        let signalled = Instant::now();
        signal_term(&old.child)?;
        event(&mut events, format!("SIGTERM to :{old_port}"));
        let status = tokio::time::timeout(Duration::from_secs(30), old.child.wait())
            .await
            .context("old instance did not exit")??;
        let drained = signalled.elapsed().as_secs_f64();
        drain_secs.push(drained);
        event(
            &mut events,
            format!(":{old_port} exited ({status}) after {drained:.2} s"),
        );
    }
    tokio::time::sleep(options.settle).await;
    let samples = load.finish().await?;
    let elapsed = started.elapsed().as_secs_f64();

    for mut instance in instances {
        let _ = signal_term(&instance.child);
        let _ = tokio::time::timeout(Duration::from_secs(15), instance.child.wait()).await;
    }
    nginx.quit().await;
    let _ = std::fs::remove_dir_all(&work);

    let report = report::summarise(
        &samples,
        options.rps,
        elapsed,
        drain_secs,
        stateless,
        events,
    );
    std::fs::write(
        options.out.join("rehearsal.json"),
        serde_json::to_vec_pretty(&report)?,
    )?;
    std::fs::write(options.out.join("rehearsal.svg"), plot(&samples, &report))?;
    Ok(report)
}

async fn wait_until(client: &reqwest::Client, url: &str) -> anyhow::Result<()> {
    for _ in 0..100 {
        if client
            .get(url)
            .send()
            .await
            .is_ok_and(|r| r.status() == 200)
        {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    bail!("{url} never answered 200")
}

/// Logs in on one instance and uses the session on another: no affinity needed.
async fn stateless_check(client: &reqwest::Client, a: u16, b: u16) -> anyhow::Result<String> {
    let login = client
        .post(format!("http://127.0.0.1:{a}/api/auth/login"))
        .json(&serde_json::json!({ "email": EMAIL, "password": PASSWORD }))
        .send()
        .await?;
    if login.status() != 200 {
        bail!("login on :{a} answered {}", login.status());
    }
    let cookie = login
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .context("no session cookie")?
        .to_owned();
    let me = client
        .get(format!("http://127.0.0.1:{b}/api/me"))
        .header("cookie", &cookie)
        .send()
        .await?;
    if me.status() != 200 {
        bail!(
            "the session from :{a} was refused by :{b} ({})",
            me.status()
        );
    }
    Ok(format!("logged in on :{a}, session accepted by :{b}"))
}

fn tempdir() -> anyhow::Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("rehearsal-{:x}", rand_u128()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

fn rand_u128() -> u128 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos(),
    );
    let a = h.finish();
    h.write_u64(a);
    (u128::from(a) << 64) | u128::from(h.finish())
}
