//! `POST /api/warmup`: pays, once, what the first real requests would otherwise pay for —
//! migrations, the pool's connections with the hot statements prepared on each, the password
//! hasher's memory. Concurrent calls share one run ([`Warmup`](crate::warmup::Warmup)).

use std::{
    future::Future,
    time::{Duration, Instant},
};

use axum::{
    extract::State,
    http::{header, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
};
use serde::Serialize;

use crate::{
    clock::{millis, now_rfc3339},
    db,
    error::{ErrorBody, ErrorDetail},
    password::SLOT_WAIT,
    state::{AppState, Schema},
    users,
    warmup::{Served, Step, StepResult, WarmupReport, WarmupStatus},
};

/// Statements every request path depends on, prepared on each connection by warmup.
const HOT_STATEMENTS: &[&str] = &[db::PING, users::FIND_BY_EMAIL];

/// The report, how this call was served, and an error when a step failed.
#[derive(Serialize, utoipa::ToSchema)]
pub struct WarmupResponse<'a> {
    served: Served,
    #[serde(flatten)]
    report: &'a WarmupReport,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<ErrorDetail<'a>>,
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
/// `POST /api/warmup`: runs the warmup steps (schema, pool connections, password hasher) once
/// per process, shared by concurrent callers; 503 when a step fails.
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
            Some(ErrorDetail {
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
            let lock_wait = state.settings.database.migration_lock_wait;
            match state.schema.ensure_applied(&state.db, lock_wait).await {
                Ok(()) if already => Ok(format!(
                    "migrations applied (version {})",
                    crate::migrate::latest_version()
                )),
                Ok(()) => Ok(format!(
                    "applied migrations up to version {}",
                    crate::migrate::latest_version()
                )),
                // Logged with the driver's detail by `ensure_applied`; the body gets the public cause.
                Err(e) => Err(e.cause(true)),
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
        // Its own bound: a hash may wait for a slot (SLOT_WAIT) before it runs.
        step("password.hasher", step_timeout.max(SLOT_WAIT * 3), async {
            // One verification against the dummy hash allocates a slot's 19 MiB of working memory
            // (kept for reuse) and builds the dummy hash: paid here, not in a login.
            let probe = secrecy::SecretString::from("warmup".to_owned());
            match state.passwords.verify(probe, None).await {
                Ok(_) => Ok("argon2id ready (one working memory allocated)".to_owned()),
                Err(e) => Err(format!("could not prepare the hasher: {e}")),
            }
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
