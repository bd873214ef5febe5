//! A rolling-deploy rehearsal: real `api` instances sharing PostgreSQL behind nginx (standing in
//! for Render's router), steady load from this process, and each instance replaced the way Render
//! does it — start the new one, wait for `/health`, move traffic, SIGTERM the old one. Every
//! request is recorded; the report counts failures, gives latency percentiles and each drain
//! time, and draws latency and errors over time as SVG.

use std::{
    path::{Path, PathBuf},
    process::Stdio,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use anyhow::{bail, Context};
use serde::Serialize;
use tokio::{io::AsyncWriteExt, process::Child};

#[derive(Debug, Clone)]
pub struct Options {
    pub api_bin: PathBuf,
    pub nginx_bin: PathBuf,
    pub database_url: String,
    pub instances: usize,
    pub rps: u32,
    /// Load before the first replacement and after the last.
    pub warm: Duration,
    pub settle: Duration,
    pub base_port: u16,
    pub out: PathBuf,
}

#[derive(Debug, Clone, Serialize)]
pub struct Sample {
    /// Milliseconds since the load started.
    pub at_ms: u64,
    pub latency_ms: f64,
    pub path: &'static str,
    /// HTTP status, or 0 for a transport error.
    pub status: u16,
}

impl Sample {
    fn failed(&self) -> bool {
        !(200..400).contains(&self.status)
    }
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Event {
    pub at_ms: u64,
    pub what: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    pub requests: usize,
    pub failed: usize,
    pub target_rps: u32,
    pub achieved_rps: f64,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    /// Seconds from SIGTERM to exit, per replaced instance.
    pub drain_secs: Vec<f64>,
    pub stateless: String,
    pub events: Vec<Event>,
    pub failures: Vec<Sample>,
}

struct Instance {
    port: u16,
    child: Child,
}

const PASSWORD: &str = "rehearsal password 0123";
const EMAIL: &str = "rehearsal@example.com";

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

async fn start_instance(
    options: &Options,
    secret: &str,
    work: &Path,
    port: u16,
) -> anyhow::Result<Instance> {
    let child = api_command(options, secret, work)
        .env("PORT", port.to_string())
        .spawn()
        .context("start api")?;
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
            return Ok(Instance { port, child });
        }
        if Instant::now() > deadline {
            bail!("instance on port {port} did not become healthy in 20 s");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// nginx as Render's router: pooled upstream connections, closed when idle for 20 s, before the
/// API's own idle limit (`HEADER_READ_TIMEOUT_SECS`, 30 s) so nginx never reuses a connection
/// the API is closing.
fn nginx_conf(work: &Path, listen: u16, ports: &[u16]) -> String {
    let servers: String = ports
        .iter()
        .map(|p| format!("    server 127.0.0.1:{p};\n"))
        .collect();
    format!(
        "worker_processes 1;\ndaemon off;\npid {pid};\nerror_log {work}/nginx-error.log warn;\n\
         events {{ worker_connections 4096; }}\n\
         http {{\n  access_log off;\n  client_body_temp_path {work}/body;\n  proxy_temp_path {work}/proxy;\n\
           upstream api {{\n{servers}    keepalive 64;\n    keepalive_timeout 20s;\n  }}\n\
           server {{\n    listen 127.0.0.1:{listen};\n    location / {{\n      proxy_pass http://api;\n\
               proxy_http_version 1.1;\n      proxy_set_header Connection \"\";\n\
               proxy_set_header X-Forwarded-Proto https;\n      proxy_next_upstream error timeout;\n    }}\n  }}\n}}\n",
        pid = work.join("nginx.pid").display(),
        work = work.display(),
    )
}

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

    // An account, created with the real CLI against the shared database.
    let mut add = api_command(&options, &secret, &work)
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

    let mut next_port = options.base_port + 1;
    let mut instances = Vec::new();
    for _ in 0..options.instances {
        instances.push(start_instance(&options, &secret, &work, next_port).await?);
        next_port += 1;
    }
    let listen = options.base_port;
    let conf = work.join("nginx.conf");
    std::fs::write(
        &conf,
        nginx_conf(
            &work,
            listen,
            &instances.iter().map(|i| i.port).collect::<Vec<_>>(),
        ),
    )?;
    let mut nginx = tokio::process::Command::new(&options.nginx_bin)
        .arg("-c")
        .arg(&conf)
        .arg("-e")
        .arg(work.join("nginx-error.log"))
        .kill_on_drop(true)
        .spawn()
        .context("start nginx")?;
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()?;
    // The load comes from many clients: one connection per request. Reusing keep-alive connections
    // to nginx would race its reload (an old worker closes an idle connection as the client reuses
    // it), a failure of this stand-in router rather than of the service being rolled.
    let load_client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .pool_max_idle_per_host(0)
        .build()?;
    wait_until(&client, &format!("http://127.0.0.1:{listen}/health")).await?;

    let stateless = stateless_check(
        &client,
        instances[0].port,
        instances[1 % instances.len()].port,
    )
    .await?;

    // Open-loop load: a request every 1/rps seconds whatever the previous ones are doing, so a
    // stall shows up as latency and failures rather than as fewer requests.
    let samples = Arc::new(Mutex::new(Vec::new()));
    let started = Instant::now();
    let stop = StopFlag::default();
    let load = tokio::spawn(generate_load(
        load_client,
        listen,
        options.rps,
        started,
        samples.clone(),
        stop.clone(),
    ));
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
        std::fs::write(&conf, nginx_conf(&work, listen, &ports))?;
        reload_nginx(&options.nginx_bin, &conf).await?;
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
    stop.set();
    load.await?;
    let elapsed = started.elapsed().as_secs_f64();

    for mut instance in instances {
        let _ = signal_term(&instance.child);
        let _ = tokio::time::timeout(Duration::from_secs(15), instance.child.wait()).await;
    }
    // SIGQUIT via `-s quit` stops the workers too; killing the master alone would orphan them.
    let _ = tokio::process::Command::new(&options.nginx_bin)
        .arg("-c")
        .arg(&conf)
        .args(["-s", "quit"])
        .status()
        .await;
    let _ = tokio::time::timeout(Duration::from_secs(5), nginx.wait()).await;
    let _ = std::fs::remove_dir_all(&work);

    let samples = std::mem::take(&mut *samples.lock().expect("samples"));
    let report = summarise(
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

async fn reload_nginx(nginx: &Path, conf: &Path) -> anyhow::Result<()> {
    let status = tokio::process::Command::new(nginx)
        .arg("-c")
        .arg(conf)
        .args(["-s", "reload"])
        .status()
        .await?;
    if !status.success() {
        bail!("nginx -s reload failed");
    }
    // The new workers take over within moments; the old ones finish their requests.
    tokio::time::sleep(Duration::from_millis(300)).await;
    Ok(())
}

fn signal_term(child: &Child) -> anyhow::Result<()> {
    let pid = child.id().context("already exited")?;
    let status = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()?;
    if !status.success() {
        bail!("kill -TERM {pid} failed");
    }
    Ok(())
}

async fn generate_load(
    client: reqwest::Client,
    port: u16,
    rps: u32,
    started: Instant,
    samples: Arc<Mutex<Vec<Sample>>>,
    stop: StopFlag,
) {
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / f64::from(rps.max(1))));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut n: u64 = 0;
    let mut tasks = tokio::task::JoinSet::new();
    while !stop.is_set() {
        tick.tick().await;
        n += 1;
        // Mostly readiness (a database round trip through the pool), some liveness.
        let path: &'static str = if n.is_multiple_of(4) {
            "/health"
        } else {
            "/api/health"
        };
        let (client, samples) = (client.clone(), samples.clone());
        tasks.spawn(async move {
            let sent = Instant::now();
            let status = match client
                .get(format!("http://127.0.0.1:{port}{path}"))
                .send()
                .await
            {
                Ok(r) => {
                    let status = r.status().as_u16();
                    let _ = r.bytes().await;
                    status
                }
                Err(_) => 0,
            };
            let sample = Sample {
                at_ms: sent.duration_since(started).as_millis() as u64,
                latency_ms: sent.elapsed().as_secs_f64() * 1000.0,
                path,
                status,
            };
            samples.lock().expect("samples").push(sample);
        });
        while tasks.try_join_next().is_some() {}
    }
    while tasks.join_next().await.is_some() {}
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

fn summarise(
    samples: &[Sample],
    rps: u32,
    elapsed: f64,
    drain_secs: Vec<f64>,
    stateless: String,
    events: Vec<Event>,
) -> Report {
    let mut latencies: Vec<f64> = samples.iter().map(|s| s.latency_ms).collect();
    latencies.sort_by(f64::total_cmp);
    let round = |v: f64| (v * 100.0).round() / 100.0;
    Report {
        requests: samples.len(),
        failed: samples.iter().filter(|s| s.failed()).count(),
        target_rps: rps,
        achieved_rps: round(samples.len() as f64 / elapsed),
        p50_ms: round(percentile(&latencies, 50.0)),
        p95_ms: round(percentile(&latencies, 95.0)),
        p99_ms: round(percentile(&latencies, 99.0)),
        max_ms: round(latencies.last().copied().unwrap_or(0.0)),
        drain_secs: drain_secs.into_iter().map(round).collect(),
        stateless,
        events,
        failures: samples
            .iter()
            .filter(|s| s.failed())
            .take(50)
            .cloned()
            .collect(),
    }
}

/// p95 latency per second as a line, failed requests per second as red bars, events as dashes.
pub fn plot(samples: &[Sample], report: &Report) -> String {
    let seconds = samples.iter().map(|s| s.at_ms / 1000).max().unwrap_or(0) as usize + 1;
    let mut per_second: Vec<Vec<f64>> = vec![Vec::new(); seconds];
    let mut errors = vec![0usize; seconds];
    for s in samples {
        let i = (s.at_ms / 1000) as usize;
        per_second[i].push(s.latency_ms);
        if s.failed() {
            errors[i] += 1;
        }
    }
    let p95: Vec<f64> = per_second
        .iter_mut()
        .map(|v| {
            v.sort_by(f64::total_cmp);
            percentile(v, 95.0)
        })
        .collect();
    let (w, h, left, bottom, top) = (900.0, 320.0, 60.0, 40.0, 30.0);
    let max_y = p95.iter().copied().fold(1.0_f64, f64::max) * 1.2;
    let x = |sec: f64| left + sec / seconds.max(1) as f64 * (w - left - 20.0);
    let y = |ms: f64| h - bottom - ms / max_y * (h - bottom - top);
    let points: Vec<String> = p95
        .iter()
        .enumerate()
        .map(|(i, v)| format!("{:.1},{:.1}", x(i as f64 + 0.5), y(*v)))
        .collect();
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" font-family=\"sans-serif\" font-size=\"11\">\n\
         <rect width=\"100%\" height=\"100%\" fill=\"#fff\"/>\n\
         <text x=\"{left}\" y=\"18\" font-size=\"13\">Rolling deploy rehearsal: {} requests, {} failed, p50 {} ms, p95 {} ms, p99 {} ms</text>\n\
         <line x1=\"{left}\" y1=\"{b}\" x2=\"{r}\" y2=\"{b}\" stroke=\"#333\"/><line x1=\"{left}\" y1=\"{top}\" x2=\"{left}\" y2=\"{b}\" stroke=\"#333\"/>\n\
         <text x=\"{left}\" y=\"{tb}\">0 s</text><text x=\"{xr}\" y=\"{tb}\" text-anchor=\"end\">{seconds} s</text>\n\
         <text x=\"8\" y=\"{ytop}\">{max_y:.1} ms</text><text x=\"8\" y=\"{b}\">0 ms</text>\n",
        report.requests,
        report.failed,
        report.p50_ms,
        report.p95_ms,
        report.p99_ms,
        b = h - bottom,
        r = w - 20.0,
        tb = h - bottom + 16.0,
        xr = w - 20.0,
        ytop = top + 4.0,
    );
    for e in &report.events {
        let ex = x(e.at_ms as f64 / 1000.0);
        svg.push_str(&format!(
            "<line x1=\"{ex:.1}\" y1=\"{top}\" x2=\"{ex:.1}\" y2=\"{:.1}\" stroke=\"#888\" stroke-dasharray=\"3,3\"><title>{}</title></line>\n",
            h - bottom,
            e.what
        ));
    }
    for (i, count) in errors.iter().enumerate().filter(|(_, c)| **c > 0) {
        svg.push_str(&format!(
            "<rect x=\"{:.1}\" y=\"{top}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"#d1242f\" opacity=\"0.5\"><title>{count} failed</title></rect>\n",
            x(i as f64),
            x(1.0) - x(0.0),
            h - bottom - top
        ));
    }
    svg.push_str(&format!(
        "<polyline fill=\"none\" stroke=\"#0969da\" stroke-width=\"2\" points=\"{}\"/>\n",
        points.join(" ")
    ));
    svg.push_str(
        "<text x=\"700\" y=\"18\" fill=\"#0969da\">p95 latency per second</text>\n</svg>\n",
    );
    svg
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

/// Tells the load generator to stop; shared between the roll and the generator.
#[derive(Clone, Default)]
struct StopFlag(Arc<std::sync::atomic::AtomicBool>);

impl StopFlag {
    fn set(&self) {
        self.0.store(true, std::sync::atomic::Ordering::Release);
    }

    fn is_set(&self) -> bool {
        self.0.load(std::sync::atomic::Ordering::Acquire)
    }
}

/// The report as a person reads it.
pub fn render_human(report: &Report, out: &Path) -> String {
    format!(
        "Rolling deploy rehearsal\n  requests   {} at {} req/s (target {})\n  failed     {}\n  latency    p50 {} ms, p95 {} ms, p99 {} ms, max {} ms\n  drains     {}\n  stateless  {}\n  report     {}, {}\n",
        report.requests,
        report.achieved_rps,
        report.target_rps,
        report.failed,
        report.p50_ms,
        report.p95_ms,
        report.p99_ms,
        report.max_ms,
        report.drain_secs.iter().map(|s| format!("{s:.2} s")).collect::<Vec<_>>().join(", "),
        report.stateless,
        out.join("rehearsal.json").display(),
        out.join("rehearsal.svg").display(),
    )
}
