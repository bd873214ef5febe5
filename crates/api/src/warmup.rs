//! Warmup's single flight: concurrent calls share one run. A call that arrives while a run is in
//! progress waits for it and returns its report (`"served": "joined"`); once warm, a call returns
//! the stored report at once (`"cached"`). A failed run is not cached: the next call runs again.
//! What a run does is the handler's (`routes/warmup.rs`); this is the state it keeps.

use std::{
    future::Future,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
    time::Instant,
};

use serde::Serialize;
use tokio::sync::Mutex;

/// The warmup state in [`crate::state::AppState`]: the last successful report and the run
/// counter; the mutex is the single flight.
#[derive(Debug, Default)]
pub struct Warmup {
    last: Mutex<Option<Arc<WarmupReport>>>,
    runs: AtomicU64,
}

/// What one warmup run did: the body of `POST /api/warmup` (with how the call was served).
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WarmupReport {
    /// `warm` when every step succeeded.
    pub status: WarmupStatus,
    /// Which run of this process produced the report (1 for the first).
    pub run: u64,
    /// When the run started (RFC 3339).
    #[schema(format = DateTime)]
    pub started_at: String,
    /// When the run ended (RFC 3339).
    #[schema(format = DateTime)]
    pub finished_at: String,
    /// The whole run, in milliseconds.
    pub duration_ms: f64,
    /// Each step in the order it ran.
    pub steps: Vec<Step>,
    /// When the run ended: a call that arrived before it joins it rather than running again.
    #[serde(skip)]
    #[schema(ignore)]
    pub finished: Option<Instant>,
}

/// A warmup run's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum WarmupStatus {
    /// Every step succeeded; later calls get this report from memory.
    Warm,
    /// A step failed; the next call runs again.
    Failed,
}

/// One step of a warmup run.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Step {
    /// What the step warms: `database.schema`, `database.connections` or `password.hasher`.
    pub name: &'static str,
    /// How long the step took, in milliseconds.
    pub duration_ms: f64,
    /// Whether it succeeded.
    pub result: StepResult,
    /// What it did or why it failed, fit for a public page.
    pub detail: String,
}

/// A step's outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum StepResult {
    /// The step succeeded.
    Ok,
    /// The step failed; the run is `failed`.
    Error,
}

/// How a call was answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Served {
    /// This call ran the warmup.
    Ran,
    /// This call waited for a run that was already in progress.
    Joined,
    /// The instance was already warm.
    Cached,
}

impl Warmup {
    /// Returns the current report, running `run` only if no run is in progress or finished warm.
    pub async fn run_or_join<F, Fut>(&self, arrived: Instant, run: F) -> (Arc<WarmupReport>, Served)
    where
        F: FnOnce(u64) -> Fut,
        Fut: Future<Output = WarmupReport>,
    {
        let mut last = self.last.lock().await;
        if let Some(report) = last.as_ref() {
            if report.finished.is_some_and(|f| f >= arrived) {
                return (report.clone(), Served::Joined);
            }
            if report.status == WarmupStatus::Warm {
                return (report.clone(), Served::Cached);
            }
        }
        let report = Arc::new(run(self.runs.fetch_add(1, Ordering::Relaxed) + 1).await);
        *last = Some(report.clone());
        (report, Served::Ran)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn report(status: WarmupStatus, run: u64) -> WarmupReport {
        WarmupReport {
            status,
            run,
            started_at: String::new(),
            finished_at: String::new(),
            duration_ms: 0.0,
            steps: vec![],
            finished: Some(Instant::now()),
        }
    }

    #[tokio::test]
    async fn concurrent_calls_share_one_run() {
        let warmup = Arc::new(Warmup::default());
        let barrier = Arc::new(tokio::sync::Barrier::new(8));
        let calls: Vec<_> = (0..8)
            .map(|_| {
                let (warmup, barrier) = (warmup.clone(), barrier.clone());
                tokio::spawn(async move {
                    barrier.wait().await;
                    warmup
                        .run_or_join(Instant::now(), |run| async move {
                            tokio::time::sleep(Duration::from_millis(50)).await;
                            report(WarmupStatus::Warm, run)
                        })
                        .await
                })
            })
            .collect();
        let mut ran = 0;
        for call in calls {
            let (report, served) = call.await.unwrap();
            assert_eq!(report.run, 1);
            ran += usize::from(served == Served::Ran);
        }
        assert_eq!(ran, 1);
    }

    #[tokio::test]
    async fn a_failed_run_is_retried_by_the_next_call() {
        let warmup = Warmup::default();
        let (first, _) = warmup
            .run_or_join(Instant::now(), |run| async move {
                report(WarmupStatus::Failed, run)
            })
            .await;
        let (second, served) = warmup
            .run_or_join(Instant::now(), |run| async move {
                report(WarmupStatus::Warm, run)
            })
            .await;
        assert_eq!((first.run, second.run, served), (1, 2, Served::Ran));
        let (third, served) = warmup
            .run_or_join(Instant::now(), |_| async { unreachable!("already warm") })
            .await;
        assert_eq!((third.run, served), (2, Served::Cached));
    }
}
