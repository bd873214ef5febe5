//! Health: liveness for Render's probe and readiness in the IETF health-check draft shape
//! (draft-inadarei-api-health-check-06).

use std::time::Instant;

use axum::{
    body::Body,
    extract::State,
    http::{header, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
};
use serde::Serialize;

use crate::{
    clock::{now_rfc3339, round2},
    config::Backend,
    error::{PlainBody, RESPONSE_HEADER_ROOM},
    state::{AppState, Schema},
};

static TEXT_PLAIN: HeaderValue = HeaderValue::from_static("text/plain; charset=utf-8");
static NO_STORE: HeaderValue = HeaderValue::from_static("no-store");

/// How long after start-up liveness waits for the first migration run's verdict.
pub const FIRST_VERDICT_WAIT: std::time::Duration = std::time::Duration::from_secs(3);

/// `GET|HEAD /health`: 200 `ok` while serving; 503 `draining` once SIGTERM arrived, and 503
/// `migrations failed` when the database refused this release's migrations (the instance can
/// never serve this release, so Render must not move traffic to it). Reads two flags and touches
/// nothing else: a database that is merely down never fails liveness, so a blip cannot make
/// Render restart healthy instances. In the first [`FIRST_VERDICT_WAIT`] of the process it first
/// waits for the first migration run to end, so a refused release is never reported `ok` before
/// the database has refused it.
#[utoipa::path(
    get,
    path = "/health",
    tag = "health",
    summary = "Liveness (Render's health check)",
    responses(
        (status = 200, description = "Serving", body = String, content_type = "text/plain", example = "ok\n"),
        (status = 503, description = "Draining after SIGTERM, or this release's migrations were refused by the database", body = String, content_type = "text/plain", example = "draining\n"),
    )
)]
pub async fn liveness(State(state): State<AppState>) -> Response {
    if !state.lifecycle.is_draining() && !state.schema.has_verdict() {
        // Right after start-up, the first migration run may be about to fail: wait for its verdict
        // (milliseconds, normally) rather than answer 200 first. Bounded by the instance's age, so
        // a database that never answers delays only the first probes, never fails them.
        let until = state.lifecycle.started_at + FIRST_VERDICT_WAIT;
        let _ = tokio::time::timeout_at(until.into(), state.schema.first_verdict()).await;
    }
    let (status, body) = if state.lifecycle.is_draining() {
        (StatusCode::SERVICE_UNAVAILABLE, "draining\n")
    } else if state.schema.release_fault() {
        (StatusCode::SERVICE_UNAVAILABLE, "migrations failed\n")
    } else {
        (StatusCode::OK, "ok\n")
    };
    let mut response = Response::new(Body::from(body));
    response.headers_mut().reserve(RESPONSE_HEADER_ROOM);
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, TEXT_PLAIN.clone());
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, NO_STORE.clone());
    if status != StatusCode::OK {
        // Only an error needs the marker (the JSON-error layer passes successes untouched), and
        // inserting it allocates the response's extension map.
        response.extensions_mut().insert(PlainBody);
    }
    response
}

/// A health verdict, ordered from best to worst (`max` of the checks is the report's).
/// The values of draft-inadarei-api-health-check-06 §3.1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Healthy.
    Pass,
    /// Serving, with a concern (a slow database, or draining after SIGTERM).
    Warn,
    /// Not ready: this instance should get no traffic.
    Fail,
}

/// The `application/health+json` body of `GET /api/health`
/// (draft-inadarei-api-health-check-06).
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct HealthReport {
    /// The worst status of the checks.
    pub status: Status,
    /// The API's version (the crate version).
    pub version: &'static str,
    /// The deployed commit, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub release_id: Option<String>,
    /// The Render service name.
    pub service_id: String,
    /// The Render instance id, or the host name off Render.
    pub instance_id: String,
    /// `Release Flow API`.
    pub description: &'static str,
    /// Why the status is not `pass`, one sentence each; absent when empty.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// The checks, keyed `component:measurement` as the draft names them.
    pub checks: Checks,
}

/// The checks of a [`HealthReport`], each a one-element array as the draft's shape requires.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Checks {
    /// The database round trip (`SELECT 1`), in milliseconds.
    #[serde(rename = "database:responseTime")]
    pub database_response_time: [Check; 1],
    /// Whether the schema migrations are applied; the value is the latest migration version.
    #[serde(rename = "database:migrations")]
    pub database_migrations: [Check; 1],
    /// Seconds since the process started.
    pub uptime: [Check; 1],
}

/// One measurement of a component (draft-inadarei-api-health-check-06 §4).
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Check {
    /// Which component, when there are several (`sqlite`, `postgres`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub component_id: Option<&'static str>,
    /// `datastore` or `system`.
    pub component_type: &'static str,
    /// The measured value; its unit is `observedUnit`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub observed_value: Option<serde_json::Value>,
    /// `ms`, `s` or `version`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub observed_unit: Option<&'static str>,
    /// This check's verdict.
    pub status: Status,
    /// When the measurement was taken (RFC 3339).
    #[schema(format = DateTime)]
    pub time: String,
    /// What went wrong, in words fit for a public page (no host names or driver text).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output: Option<String>,
}

/// `GET /api/health`: readiness. The database probe is bounded by `HEALTH_DB_TIMEOUT_MS`, so a
/// dead or hung database answers `fail` + 503 quickly. Slower than half the timeout is `warn`;
/// so is a draining instance (200, with a note): it still answers what reaches it.
#[utoipa::path(
    get,
    path = "/api/health",
    tag = "health",
    summary = "Readiness, in the health+json shape",
    responses(
        (status = 200, description = "`pass`, or `warn` (a slow database, or draining after SIGTERM)", body = HealthReport, content_type = "application/health+json"),
        (status = 503, description = "`fail`: the database is unreachable, slow past the probe timeout, or its schema is not applied", body = HealthReport, content_type = "application/health+json"),
    )
)]
pub async fn readiness(State(state): State<AppState>) -> Response {
    let report = HealthReport::gather(&state).await;
    let status = if report.status == Status::Fail {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        StatusCode::OK
    };
    let body = serde_json::to_vec(&report).expect("serialisable");
    (
        status,
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/health+json"),
            ),
            (header::CACHE_CONTROL, NO_STORE.clone()),
        ],
        body,
    )
        .into_response()
}

impl HealthReport {
    /// Probes the database (bounded by `HEALTH_DB_TIMEOUT_MS`), reads the migration status and
    /// the lifecycle, and folds them into one report. Never fails: a failed probe is a `fail` check.
    pub async fn gather(state: &AppState) -> HealthReport {
        let timeout = state.settings.database.probe_timeout;
        let backend = state.db.backend();
        let started = Instant::now();
        let probe = tokio::time::timeout(timeout, state.db.ping()).await;
        let elapsed = started.elapsed();
        let now = now_rfc3339();

        let (db_status, output) = match probe {
            Ok(Ok(())) if elapsed > timeout / 2 => (
                Status::Warn,
                Some(format!("slower than {} ms", timeout.as_millis() / 2)),
            ),
            Ok(Ok(())) => (Status::Pass, None),
            Ok(Err(e)) => {
                // The detail (host names, driver text) goes to the log, not to the public body.
                tracing::warn!(error = %e, %backend, "database probe failed");
                let output = match crate::db::storage_fault(&e) {
                    Some(fault) => format!("the database did not answer the probe: {fault}"),
                    None => "the database did not answer the probe".to_owned(),
                };
                (Status::Fail, Some(output))
            }
            Err(_) => {
                tracing::warn!(timeout_ms = timeout.as_millis() as u64, %backend, "database probe timed out");
                (
                    Status::Fail,
                    Some(format!("no answer within {} ms", timeout.as_millis())),
                )
            }
        };
        let db_check = Check {
            component_id: Some(match backend {
                Backend::Sqlite => "sqlite",
                Backend::Postgres => "postgres",
            }),
            component_type: "datastore",
            observed_value: Some(serde_json::json!(round2(elapsed.as_secs_f64() * 1000.0))),
            observed_unit: Some("ms"),
            status: db_status,
            time: now.clone(),
            output,
        };

        let (schema_status, schema_output) = match state.schema.get() {
            Schema::Applied => (Status::Pass, None),
            Schema::Pending => (Status::Fail, Some("migrations not applied yet".to_owned())),
            Schema::Failed { cause, .. } => (Status::Fail, Some(cause)),
        };
        let schema_check = Check {
            component_id: None,
            component_type: "datastore",
            observed_value: Some(serde_json::json!(crate::migrate::latest_version())),
            observed_unit: Some("version"),
            status: schema_status,
            time: now.clone(),
            output: schema_output,
        };

        let uptime = Check {
            component_id: None,
            component_type: "system",
            observed_value: Some(serde_json::json!(round2(
                state.lifecycle.started_at.elapsed().as_secs_f64()
            ))),
            observed_unit: Some("s"),
            status: Status::Pass,
            time: now,
            output: None,
        };

        let mut notes = Vec::new();
        let mut status = db_status.max(schema_status);
        if state.lifecycle.is_draining() {
            // Still answering (requests accepted before SIGTERM get real answers), but leaving:
            // `warn`, so a poller sees the instance go without counting it as broken.
            notes.push(
                "draining: this instance is shutting down; new requests belong elsewhere"
                    .to_owned(),
            );
            status = status.max(Status::Warn);
        }
        // Every probe, whoever asked for it, is what `release_flow_readiness` reports.
        state.metrics.set_readiness(match status {
            Status::Pass => "pass",
            Status::Warn => "warn",
            Status::Fail => "fail",
        });
        let release = &state.settings.release;
        HealthReport {
            status,
            version: release.version,
            release_id: release.release_id.clone(),
            service_id: release.service_id.clone(),
            instance_id: release.instance_id.clone(),
            description: "Release Flow API",
            notes,
            checks: Checks {
                database_response_time: [db_check],
                database_migrations: [schema_check],
                uptime: [uptime],
            },
        }
    }
}
