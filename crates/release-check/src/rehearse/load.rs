//! The open-loop load generator: a request every 1/rps seconds whatever the previous ones are
//! doing, so a stall shows up as latency and failures rather than as fewer requests. Every request
//! is recorded as a [`Sample`].

use std::{
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc, Mutex,
    },
    time::{Duration, Instant},
};

use serde::Serialize;
use tokio::task::JoinHandle;

/// One request of the load, as recorded. Serialised with these field names (snake_case) in the
/// report's `failures`.
#[derive(Debug, Clone, Serialize)]
pub struct Sample {
    /// When the request was sent: milliseconds since the load started.
    pub at_ms: u64,
    /// Milliseconds from sending to the end of the response body (or to the transport error).
    pub latency_ms: f64,
    /// The path requested: `/api/health` (3 in 4) or `/health`.
    pub path: &'static str,
    /// HTTP status, or 0 for a transport error. Anything outside 200–399 is a failure.
    pub status: u16,
}

impl Sample {
    pub(super) fn failed(&self) -> bool {
        !(200..400).contains(&self.status)
    }
}

/// The client the load is sent with.
pub(super) fn client() -> reqwest::Result<reqwest::Client> {
    // The load comes from many clients: one connection per request. Reusing keep-alive connections
    // to nginx would race its reload (an old worker closes an idle connection as the client reuses
    // it), a failure of this stand-in router rather than of the service being rolled.
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .pool_max_idle_per_host(0)
        .build()
}

/// Load running in the background against one port, until [`Load::finish`].
pub(super) struct Load {
    started: Instant,
    samples: Arc<Mutex<Vec<Sample>>>,
    stop: StopFlag,
    task: JoinHandle<()>,
}

impl Load {
    /// Starts sending `rps` requests per second to `127.0.0.1:port`; time zero is now.
    pub(super) fn start(client: reqwest::Client, port: u16, rps: u32) -> Self {
        let samples = Arc::new(Mutex::new(Vec::new()));
        let started = Instant::now();
        let stop = StopFlag::default();
        let task = tokio::spawn(generate_load(
            client,
            port,
            rps,
            started,
            samples.clone(),
            stop.clone(),
        ));
        Self {
            started,
            samples,
            stop,
            task,
        }
    }

    /// When the load started: the origin of every `at_ms`.
    pub(super) fn started(&self) -> Instant {
        self.started
    }

    /// Stops sending, waits for the requests in flight, and returns every sample.
    pub(super) async fn finish(self) -> anyhow::Result<Vec<Sample>> {
        self.stop.set();
        self.task.await?;
        Ok(std::mem::take(&mut *self.samples.lock().expect("samples")))
    }
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

/// Tells the load generator to stop; shared between the roll and the generator.
#[derive(Clone, Default)]
struct StopFlag(Arc<AtomicBool>);

impl StopFlag {
    fn set(&self) {
        self.0.store(true, Ordering::Release);
    }

    fn is_set(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }
}
