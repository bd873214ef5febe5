//! The `api` processes of a rehearsal: how one is started (the environment a staging instance
//! gets), when it counts as up, how an account is created with the real CLI, and how an instance
//! is told to stop.

use std::{
    path::Path,
    process::Stdio,
    time::{Duration, Instant},
};

use anyhow::{bail, Context};
use tokio::{io::AsyncWriteExt, process::Child};

use super::{Options, EMAIL, PASSWORD};

/// A running `api` process and the port it serves on.
pub(super) struct Instance {
    pub(super) port: u16,
    pub(super) child: Child,
}

fn api_command(options: &Options, secret: &str, work: &Path) -> tokio::process::Command {
    let mut command = tokio::process::Command::new(&options.api_bin);
    command
        .current_dir(work)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("APP_ENV", "staging")
        .env("HOST", "127.0.0.1")
        .env("LOG_FORMAT", "json")
        .env("RUST_LOG", "warn")
        .env("SESSION_SECRET", secret)
        .env("DATABASE_URL", &options.database_url)
        .env("FRONTEND_DIR", work.join("no-frontend"))
        .env("SHUTDOWN_DRAIN_SECS", "2")
        .env("SHUTDOWN_TIMEOUT_SECS", "10")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true);
    command
}

/// The rehearsal's account, created with the real CLI (`api user add`) against the shared database.
pub(super) async fn add_user(options: &Options, secret: &str, work: &Path) -> anyhow::Result<()> {
    let mut add = api_command(options, secret, work)
        .args(["user", "add", "--email", EMAIL])
        .stdin(Stdio::piped())
        .spawn()
        .context("run api user add")?;
    add.stdin
        .take()
        .expect("piped")
        .write_all(PASSWORD.as_bytes())
        .await?;
    if !add.wait().await?.success() {
        bail!("api user add failed (is --database-url reachable?)");
    }
    Ok(())
}

/// Starts an instance on `port` without waiting for it.
pub(super) fn spawn_instance(
    options: &Options,
    secret: &str,
    work: &Path,
    port: u16,
) -> anyhow::Result<Instance> {
    let child = api_command(options, secret, work)
        .env("PORT", port.to_string())
        .spawn()
        .context("start api")?;
    Ok(Instance { port, child })
}

/// Starts an instance on `port` and returns once it is live and ready, or fails after 20 s.
pub(super) async fn start_instance(
    options: &Options,
    secret: &str,
    work: &Path,
    port: u16,
) -> anyhow::Result<Instance> {
    let instance = spawn_instance(options, secret, work, port)?;
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    // Render sends traffic once /health answers; readiness (the schema) is waited for too, so
    // the rehearsal measures the roll, not a cold database.
    loop {
        let live = client
            .get(format!("http://127.0.0.1:{port}/health"))
            .send()
            .await
            .is_ok_and(|r| r.status() == 200);
        let ready = live
            && client
                .get(format!("http://127.0.0.1:{port}/api/health"))
                .send()
                .await
                .is_ok_and(|r| r.status() == 200);
        if ready {
            return Ok(instance);
        }
        if Instant::now() > deadline {
            bail!("instance on port {port} did not become healthy in 20 s");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// What Render's health check saw of a new instance during a bounded wait.
#[derive(Debug)]
pub(super) struct HealthWatch {
    /// `/health` answered 200 at least once: Render would have moved traffic to it.
    pub(super) became_healthy: bool,
    /// The last `/health` answer: status and body (`503 migrations failed`), or the error.
    pub(super) last: String,
}

/// Polls `/health` on `port` every 100 ms for `wait`, as Render's health check does before it
/// moves traffic, and stops early if it ever answers 200.
pub(super) async fn watch_health(port: u16, wait: Duration) -> HealthWatch {
    let client = reqwest::Client::new();
    let deadline = Instant::now() + wait;
    let mut last = String::from("no answer");
    while Instant::now() < deadline {
        match client
            .get(format!("http://127.0.0.1:{port}/health"))
            .send()
            .await
        {
            Ok(r) => {
                let status = r.status().as_u16();
                let body = r.text().await.unwrap_or_default();
                last = format!("{status} {}", body.trim());
                if status == 200 {
                    return HealthWatch {
                        became_healthy: true,
                        last,
                    };
                }
            }
            Err(e) => last = format!("no answer: {e}"),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    HealthWatch {
        became_healthy: false,
        last,
    }
}

/// SIGTERM, as Render sends it to the instance being replaced.
pub(super) fn signal_term(child: &Child) -> anyhow::Result<()> {
    let pid = child.id().context("already exited")?;
    let status = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()?;
    if !status.success() {
        bail!("kill -TERM {pid} failed");
    }
    Ok(())
}
