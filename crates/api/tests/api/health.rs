use std::time::{Duration, Instant};

use reqwest::Method;

use crate::{
    backend_tests,
    helpers::{black_hole, spawn_app, spawn_app_with_unreachable_database, Backend, TestConfig},
};

backend_tests!(
    readiness_follows_the_health_check_draft,
    liveness_answers_ok_without_caching
);

async fn liveness_answers_ok_without_caching(backend: Backend) {
    // Arrange
    let app = spawn_app(backend).await;
    // Act
    let response = app.get("/health").await;
    // Assert
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "no-store");
    assert!(response.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/plain"));
    assert_eq!(response.text().await.unwrap(), "ok\n");
}

#[tokio::test]
async fn liveness_answers_head() {
    let app = spawn_app(Backend::Sqlite).await;
    let response = app.request(Method::HEAD, "/health").send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "no-store");
}

async fn readiness_follows_the_health_check_draft(backend: Backend) {
    let app = spawn_app(backend).await;
    let body = app
        .wait_for_readiness("pass", Duration::from_secs(10))
        .await;
    let response = app.get("/api/health").await;

    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "application/health+json"
    );
    assert_eq!(response.headers()["cache-control"], "no-store");
    assert_eq!(body["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(body["serviceId"], "release-flow-api");
    assert!(body["instanceId"].as_str().is_some_and(|id| !id.is_empty()));
    let db = &body["checks"]["database:responseTime"][0];
    assert_eq!(db["componentType"], "datastore");
    assert_eq!(
        db["componentId"],
        if backend == Backend::Sqlite {
            "sqlite"
        } else {
            "postgres"
        }
    );
    assert_eq!(db["observedUnit"], "ms");
    assert!(db["observedValue"].as_f64().is_some_and(|ms| ms >= 0.0));
    assert_eq!(db["status"], "pass");
    assert!(db["time"].as_str().is_some_and(|t| t.ends_with('Z')));
    assert_eq!(body["checks"]["database:migrations"][0]["status"], "pass");
    let uptime = &body["checks"]["uptime"][0];
    assert_eq!(uptime["observedUnit"], "s");
    assert!(uptime["observedValue"].as_f64().is_some());
}

#[tokio::test]
async fn release_id_comes_from_render_git_commit() {
    let app = TestConfig::new(Backend::Sqlite)
        .var("RENDER_GIT_COMMIT", "abc123")
        .var("RENDER_INSTANCE_ID", "srv-1-xyz")
        .spawn()
        .await;
    let body: serde_json::Value = app.get("/api/health").await.json().await.unwrap();
    assert_eq!(body["releaseId"], "abc123");
    assert_eq!(body["instanceId"], "srv-1-xyz");
}

#[tokio::test]
async fn a_hung_database_fails_readiness_within_the_probe_timeout_and_leaves_liveness_alone() {
    // Arrange: a "database" that accepts connections and never says a word.
    let hung = black_hole().await;
    let app = TestConfig::new(Backend::Postgres)
        .var("DATABASE_URL", format!("postgres://app:secret@{hung}/app"))
        .var("HEALTH_DB_TIMEOUT_MS", "300")
        .spawn()
        .await;

    // Act
    let started = Instant::now();
    let response = app.get("/api/health").await;
    let elapsed = started.elapsed();

    // Assert
    assert_eq!(response.status(), 503);
    assert!(elapsed < Duration::from_millis(1500), "took {elapsed:?}");
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["status"], "fail");
    assert_eq!(body["checks"]["database:responseTime"][0]["status"], "fail");
    assert_eq!(
        body["checks"]["database:responseTime"][0]["output"],
        "no answer within 300 ms"
    );
    assert!(!body.to_string().contains("secret"));
    assert_eq!(app.get("/health").await.status(), 200);
}

#[tokio::test]
async fn an_unreachable_database_fails_readiness_and_says_so() {
    let app = spawn_app_with_unreachable_database().await;
    let response = app.get("/api/health").await;
    assert_eq!(response.status(), 503);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(
        body["checks"]["database:responseTime"][0]["output"],
        "the database did not answer the probe"
    );
    assert_eq!(body["checks"]["database:migrations"][0]["status"], "fail");
    assert_eq!(app.get("/health").await.status(), 200);
}
