//! A rolling-deploy rehearsal: real `api` instances sharing PostgreSQL behind nginx (standing in
//! for Render's router), steady load from this process, and each instance replaced the way Render
//! does it — start the new one, wait for `/health`, move traffic, SIGTERM the old one. Every
//! request is recorded; the report counts failures and nginx's retries, gives latency percentiles
//! and each drain time, and draws latency and errors over time as SVG.
//!
//! It runs one or more [`Scenario`]s, each with instances and an nginx of its own: the roll with
//! nginx opening a connection per request, the same roll with nginx pooling keep-alive
//! connections to the instances, and a roll whose new instance the database refuses.
//!
//! This file is the roll itself; the pieces it drives are one file each:
//! - `instance.rs`: starting, readying and stopping `api` processes;
//! - `nginx.rs`: the stand-in router, how traffic is moved, and its retries;
//! - `migration.rs`: making the database refuse the newest migration, and undoing it;
//! - `load.rs`: the open-loop load generator and its samples;
//! - `report.rs` and `plot.rs`: the summary (JSON and human) and the SVG.
//!
//! Just over 400 lines: the orchestration of one scenario, start to verdict, reads as one piece.

mod instance;
mod load;
mod migration;
mod nginx;
mod plot;
mod report;

use std::{
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use anyhow::{bail, Context};

use instance::{signal_term, spawn_instance, start_instance, watch_health, Instance};
use nginx::Nginx;

pub use load::Sample;
pub use plot::plot;
pub use report::{render_human, Event, Report};

/// One way to roll, run with instances and an nginx of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Scenario {
    /// nginx opens a new connection to an instance for every request (its default).
    Plain,
    /// nginx keeps a pool of keep-alive connections to the instances (`keepalive 64`, HTTP/1.1,
    /// `Connection` cleared), as a pooling router does: what the drain's `Connection: close`
    /// and its care for idle connections are for.
    Keepalive,
    /// The new release's migration is refused by the database: the new instance never becomes
    /// healthy (`/health` 503 `migrations failed`), the roll is abandoned after a bounded wait,
    /// and the old instances serve throughout (nginx pools connections, as in `keepalive`).
    FailingMigration,
}

impl Scenario {
    /// Every scenario, in the order they run.
    pub const ALL: [Scenario; 3] = [
        Scenario::Plain,
        Scenario::Keepalive,
        Scenario::FailingMigration,
    ];

    /// The name on the command line and in the report.
    pub fn name(self) -> &'static str {
        match self {
            Scenario::Plain => "plain",
            Scenario::Keepalive => "keepalive",
            Scenario::FailingMigration => "failing-migration",
        }
    }

    fn keepalive(self) -> bool {
        self != Scenario::Plain
    }
}

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
    /// How long a new instance that is not healthy is waited for before its roll is abandoned
    /// (the failing-migration scenario).
    pub refuse_wait: Duration,
    /// The scenarios to run, in this order.
    pub scenarios: Vec<Scenario>,
    /// nginx listens on this port (plus 20 for each scenario before it); the instances take the
    /// ports after it, one new port per instance started.
    pub base_port: u16,
    /// The directory `rehearsal.json` and one `rehearsal-SCENARIO.svg` per scenario are written
    /// to (created if missing).
    pub out: PathBuf,
}

const PASSWORD: &str = "rehearsal password 0123";
const EMAIL: &str = "rehearsal@example.com";

/// Runs each of `options.scenarios` in turn (see [`run_scenario`]), writes `rehearsal.json`
/// (`{"scenarios": [Report…]}`) and `rehearsal-SCENARIO.svg` ([`plot`]) to `options.out`, and
/// returns the reports; failed requests, retries and a roll that was not refused are in the
/// reports ([`Report::passed`]), not errors.
///
/// # Errors
///
/// A scenario could not be run (see [`run_scenario`]), or the reports could not be written.
pub async fn rehearse(mut options: Options) -> anyhow::Result<Vec<Report>> {
    // The instances run in a scratch directory, so a relative path must be resolved first.
    options.api_bin = std::fs::canonicalize(&options.api_bin).with_context(|| {
        format!(
            "--api-bin {}: not found (cargo build --release -p api)",
            options.api_bin.display()
        )
    })?;
    std::fs::create_dir_all(&options.out)?;
    let mut reports = Vec::new();
    for (k, scenario) in options.scenarios.iter().enumerate() {
        println!("== scenario {}", scenario.name());
        let base_port = options.base_port + 20 * k as u16;
        let (report, samples) = run_scenario(&options, *scenario, base_port).await?;
        std::fs::write(
            options
                .out
                .join(format!("rehearsal-{}.svg", scenario.name())),
            plot(&samples, &report),
        )?;
        reports.push(report);
    }
    std::fs::write(
        options.out.join("rehearsal.json"),
        serde_json::to_vec_pretty(&serde_json::json!({ "scenarios": &reports }))?,
    )?;
    Ok(reports)
}

/// Runs one scenario: starts `options.instances` instances and nginx in front of them (listening
/// on `base_port`, the instances on the ports after it), logs in on one instance and uses the
/// session on another, then sends load while each instance is replaced in turn (new one healthy,
/// traffic moved, 1 s later SIGTERM to the old one, its exit timed), the order Render's
/// zero-downtime deploys follow (docs/RELIABILITY.md). In [`Scenario::FailingMigration`] the
/// database refuses the newest migration instead, one new instance is started and watched for
/// `options.refuse_wait`, and its roll is abandoned (SIGTERM, exit timed); the migration is
/// restored afterwards, whatever happened. Prints each event as it happens and returns the
/// report with every sample.
///
/// # Errors
///
/// The scenario could not be run: `api user add` failed (the database is unreachable), an
/// instance was not healthy within 20 s or did not exit within 30 s of SIGTERM, nginx did not
/// start, answer within 10 s or reload, the session check failed, or the migration could not be
/// held back or restored. The instances and the nginx master started so far are then killed
/// (SIGKILL, on drop); the scratch directory in the system temp dir is left behind.
pub async fn run_scenario(
    options: &Options,
    scenario: Scenario,
    base_port: u16,
) -> anyhow::Result<(Report, Vec<Sample>)> {
    let work = tempdir()?;
    let secret = format!("rehearsal-{:032x}", rand_u128());
    instance::add_user(options, &secret, &work).await?;

    let mut next_port = base_port + 1;
    let mut instances = Vec::new();
    for _ in 0..options.instances {
        instances.push(start_instance(options, &secret, &work, next_port).await?);
        next_port += 1;
    }
    let listen = base_port;
    let nginx = Nginx::start(
        &options.nginx_bin,
        &work,
        listen,
        &instances.iter().map(|i| i.port).collect::<Vec<_>>(),
        scenario.keepalive(),
    )?;
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()?;
    let load_client = load::client()?;
    wait_until(&client, &format!("http://127.0.0.1:{listen}/health")).await?;

    let stateless = stateless_check(instances[0].port, instances[1 % instances.len()].port).await?;

    let load = load::Load::start(load_client, listen, options.rps);
    let mut roll = Roll {
        started: load.started(),
        events: Vec::new(),
        drain_secs: Vec::new(),
        refused: None,
    };
    tokio::time::sleep(options.warm).await;
    let refused = match scenario {
        Scenario::Plain | Scenario::Keepalive => {
            for index in 0..instances.len() {
                let new = start_instance(options, &secret, &work, next_port).await?;
                next_port += 1;
                roll.event(format!("new instance :{} healthy", new.port));
                let old_port = instances[index].port;
                let mut ports: Vec<u16> = instances.iter().map(|i| i.port).collect();
                ports[index] = new.port;
                nginx.route_to(&ports).await?;
                roll.event(format!("traffic moved from :{old_port} to :{}", new.port));
                // Render moves traffic first and signals the old instance afterwards.
                tokio::time::sleep(Duration::from_secs(1)).await;
                let old = std::mem::replace(&mut instances[index], new);
                roll.stop(old).await?;
            }
            None
        }
        Scenario::FailingMigration => {
            let version = migration::hold_back_newest(&options.database_url).await?;
            let attempt =
                refused_roll(options, &secret, &work, next_port, version, &mut roll).await;
            let restored = migration::restore(&options.database_url).await;
            attempt?;
            restored?;
            if !migration::has_version(&options.database_url, version).await? {
                bail!("migration {version} is missing from _sqlx_migrations after the restore");
            }
            roll.event(format!("migration {version} restored"));
            Some(roll.refused.take().unwrap_or(false))
        }
    };
    tokio::time::sleep(options.settle).await;
    let samples = load.finish().await?;
    let elapsed = roll.started.elapsed().as_secs_f64();

    // Stopped together: each drains for SHUTDOWN_DRAIN_SECS.
    for instance in &instances {
        let _ = signal_term(&instance.child);
    }
    for mut instance in instances {
        let _ = tokio::time::timeout(Duration::from_secs(15), instance.child.wait()).await;
    }
    nginx.quit().await;
    let access_log = std::fs::read_to_string(nginx::access_log_path(&work))
        .context("read nginx's access log")?;
    let _ = std::fs::remove_dir_all(&work);

    let report = report::summarise(
        scenario,
        &samples,
        report::Counts {
            rps: options.rps,
            elapsed,
            retries: nginx::retries(&access_log),
        },
        roll.drain_secs,
        refused,
        stateless,
        roll.events,
    );
    Ok((report, samples))
}

/// The steps of a roll as they happen, and the drain time of each instance stopped.
struct Roll {
    started: Instant,
    events: Vec<Event>,
    drain_secs: Vec<f64>,
    /// The failing-migration scenario: whether the new instance was kept from traffic.
    refused: Option<bool>,
}

impl Roll {
    fn event(&mut self, what: String) {
        println!("{:>6.1}s  {what}", self.started.elapsed().as_secs_f64());
        self.events.push(Event {
            at_ms: self.started.elapsed().as_millis() as u64,
            what,
        });
    }

    /// SIGTERM, then the time to exit (at most 30 s).
    async fn stop(&mut self, mut instance: Instance) -> anyhow::Result<()> {
        let signalled = Instant::now();
        signal_term(&instance.child)?;
        self.event(format!("SIGTERM to :{}", instance.port));
        let status = tokio::time::timeout(Duration::from_secs(30), instance.child.wait())
            .await
            .context("instance did not exit within 30 s of SIGTERM")??;
        let drained = signalled.elapsed().as_secs_f64();
        self.drain_secs.push(drained);
        self.event(format!(
            ":{} exited ({status}) after {drained:.2} s",
            instance.port
        ));
        Ok(())
    }
}

/// The new instance of a release the database refuses: started, watched as Render's health
/// check would for `options.refuse_wait`, never given traffic, then stopped. Sets `roll.refused`:
/// true when it never answered `/health` with 200 and said `migrations failed`.
async fn refused_roll(
    options: &Options,
    secret: &str,
    work: &Path,
    port: u16,
    version: i64,
    roll: &mut Roll,
) -> anyhow::Result<()> {
    roll.event(format!(
        "migration {version} held back: the database refuses it for a new instance"
    ));
    let new = spawn_instance(options, secret, work, port)?;
    roll.event(format!("new instance :{port} started"));
    let watch = watch_health(port, options.refuse_wait).await;
    let refused = !watch.became_healthy && watch.last == "503 migrations failed";
    roll.refused = Some(refused);
    roll.event(if refused {
        format!(
            "roll abandoned after {} s: :{port} /health {}; traffic stays on the old instances",
            options.refuse_wait.as_secs(),
            watch.last
        )
    } else if watch.became_healthy {
        format!("NOT refused: :{port} became healthy ({})", watch.last)
    } else {
        format!("NOT refused as expected: :{port} /health {}", watch.last)
    });
    roll.stop(new).await
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

/// Logs in on one instance and uses the session on another: no affinity needed. Its connections
/// are closed at once: an idle one left open would hold that instance's drain until its
/// shutdown deadline, which the service leaves to the client (docs/RELIABILITY.md).
async fn stateless_check(a: u16, b: u16) -> anyhow::Result<String> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .pool_max_idle_per_host(0)
        .build()?;
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
