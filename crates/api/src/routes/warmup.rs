//! `POST /api/warmup`: pays, once, what the first real requests would otherwise pay for.
//!
//! Single flight: concurrent calls share one run. A call that arrives while a run is in progress
//! waits for it and returns its report (`"served": "joined"`); once warm, a call returns the stored
//! report at once (`"cached"`). A failed run is not cached: the next call runs again.

use std::{
    future::Future,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

use axum::{
    extract::State,
    http::{header, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
};
use serde::Serialize;
use tokio::sync::Mutex;

use crate::{
    db::HOT_STATEMENTS,
    error::ErrorBody,
    routes::health::now_rfc3339,
    state::{AppState, Schema},
};

#[derive(Debug, Default)]
pub struct Warmup {
    last: Mutex<Option<Arc<WarmupReport>>>,
    runs: AtomicU64,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WarmupReport {
    pub status: WarmupStatus,
    /// Which run of this process produced the report (1 for the first).
    pub run: u64,
    #[schema(format = DateTime)]
    pub started_at: String,
    #[schema(format = DateTime)]
    pub finished_at: String,
    pub duration_ms: f64,
    pub steps: Vec<Step>,
    #[serde(skip)]
    #[schema(ignore)]
    finished: Option<Instant>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum WarmupStatus {
    Warm,
    Failed,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Step {
    pub name: &'static str,
    pub duration_ms: f64,
    pub result: StepResult,
    pub detail: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum StepResult {
    Ok,
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

/// The report, how this call was served, and an error when a step failed.
#[derive(Serialize, utoipa::ToSchema)]
pub struct WarmupResponse<'a> {
    served: Served,
    #[serde(flatten)]
    report: &'a WarmupReport,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<crate::error::ErrorDetail<'a>>,
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

#[utoipa::path(
    post,
    path = "/api/warmup",
    tag = "health",
    summary = "Warm the instance (single flight, idempotent)",
    responses(
        (status = 200, description = "Warm: this call ran the warmup, joined a run in progress, or found the instance warm", body = WarmupResponse),
        (status = 503, description = "A step failed; the next call runs again", body = WarmupResponse),
        (status = 403, description = "A cross-site browser request carrying cookies", body = ErrorBody),
    )
)]
pub async fn warmup(State(state): State<AppState>) -> Response {
    let arrived = Instant::now();
    // Spawned so that a client hanging up cannot cancel a run other callers are waiting on.
    let task = tokio::spawn({
        let state = state.clone();
        async move {
            let run_state = state.clone();
            state
                .warmup
                .run_or_join(arrived, |run| warm(run_state, run))
                .await
        }
    });
    let (report, served) = match task.await {
        Ok(done) => done,
        Err(e) => {
            return crate::error::ApiError::Internal(anyhow::anyhow!("warmup task failed: {e}"))
                .into_response()
        }
    };
    let (status, error) = match report.status {
        WarmupStatus::Warm => (StatusCode::OK, None),
        WarmupStatus::Failed => (
            StatusCode::SERVICE_UNAVAILABLE,
            Some(crate::error::ErrorDetail {
                code: "warmup_failed",
                message: "a warmup step failed; see steps",
            }),
        ),
    };
    let body = serde_json::to_vec(&WarmupResponse {
        served,
        report: &report,
        error,
    })
    .expect("serialisable");
    (
        status,
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        ],
        body,
    )
        .into_response()
}

/// One warmup run: make sure the schema is current, then open the pool's minimum connections and
/// prepare the hot statements on each.
async fn warm(state: AppState, run: u64) -> WarmupReport {
    let started = Instant::now();
    let started_at = now_rfc3339();
    let db = &state.settings.database;
    let step_timeout = db.acquire_timeout + db.probe_timeout;
    let mut steps = Vec::with_capacity(3);

    steps.push(
        step("database.schema", step_timeout, async {
            let already = state.schema.get() == Schema::Applied;
            match state.schema.ensure_applied(&state.db).await {
                Ok(()) if already => Ok(format!(
                    "migrations applied (version {})",
                    state.db.latest_migration()
                )),
                Ok(()) => Ok(format!(
                    "applied migrations up to version {}",
                    state.db.latest_migration()
                )),
                Err(e) => {
                    tracing::warn!(error = %e, "warmup could not apply migrations");
                    Err("could not apply migrations".to_owned())
                }
            }
        })
        .await,
    );

    let connections = db.min_connections.max(1);
    steps.push(
        step("database.connections", step_timeout, async {
            match state.db.warm(connections, HOT_STATEMENTS).await {
                Ok(n) => Ok(format!(
                    "opened {n} connection(s), {} statement(s) prepared on each",
                    HOT_STATEMENTS.len()
                )),
                Err(e) => {
                    tracing::warn!(error = %e, "warmup could not open database connections");
                    Err("could not open database connections".to_owned())
                }
            }
        })
        .await,
    );

    steps.push(
        step("password.hasher", step_timeout, async {
            // The first argon2 call maps its 19 MiB of working memory; pay that here, not in a login.
            tokio::task::spawn_blocking(crate::users::prepare_dummy_hash)
                .await
                .map(|()| "argon2id ready".to_owned())
                .map_err(|e| format!("could not prepare the hasher: {e}"))
        })
        .await,
    );

    let status = if steps.iter().all(|s| s.result == StepResult::Ok) {
        WarmupStatus::Warm
    } else {
        WarmupStatus::Failed
    };
    let report = WarmupReport {
        status,
        run,
        started_at,
        finished_at: now_rfc3339(),
        duration_ms: millis(started.elapsed()),
        steps,
        finished: Some(Instant::now()),
    };
    tracing::info!(run, status = ?report.status, duration_ms = report.duration_ms, "warmup finished");
    report
}

async fn step(
    name: &'static str,
    timeout: Duration,
    work: impl Future<Output = Result<String, String>>,
) -> Step {
    let started = Instant::now();
    let outcome = tokio::time::timeout(timeout, work)
        .await
        .unwrap_or_else(|_| Err(format!("timed out after {} ms", timeout.as_millis())));
    let (result, detail) = match outcome {
        Ok(detail) => (StepResult::Ok, detail),
        Err(detail) => (StepResult::Error, detail),
    };
    Step {
        name,
        duration_ms: millis(started.elapsed()),
        result,
        detail,
    }
}

fn millis(d: Duration) -> f64 {
    (d.as_secs_f64() * 100_000.0).round() / 100.0
}

#[cfg(test)]
mod tests {
    use super::*;

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
