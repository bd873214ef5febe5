use std::collections::HashSet;

use crate::{
    backend_tests,
    helpers::{spawn_app, spawn_app_with_unreachable_database, Backend, TestConfig},
};

backend_tests!(warmup_reports_each_step, concurrent_warmups_share_one_run);

async fn warmup_reports_each_step(backend: Backend) {
    let app = TestConfig::new(backend)
        .var("DATABASE_MIN_CONNECTIONS", "3")
        .spawn()
        .await;

    let response = app.post("/api/warmup").await;

    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["status"], "warm");
    assert_eq!(body["served"], "ran");
    let steps = body["steps"].as_array().unwrap();
    let names: Vec<_> = steps.iter().map(|s| s["name"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        ["database.schema", "database.connections", "password.hasher"]
    );
    for step in steps {
        assert_eq!(step["result"], "ok", "{step}");
        assert!(step["durationMs"].as_f64().is_some_and(|ms| ms >= 0.0));
    }
    assert!(
        steps[1]["detail"]
            .as_str()
            .unwrap()
            .starts_with("opened 3 connection(s)"),
        "{}",
        steps[1]
    );
}

async fn concurrent_warmups_share_one_run(backend: Backend) {
    let app = spawn_app(backend).await;

    let calls = (0..16).map(|_| app.post("/api/warmup"));
    let responses = futures::future::join_all(calls).await;

    let mut runs = HashSet::new();
    let mut ran = 0;
    for response in responses {
        assert_eq!(response.status(), 200);
        let body: serde_json::Value = response.json().await.unwrap();
        runs.insert(body["run"].as_u64().unwrap());
        ran += usize::from(body["served"] == "ran");
    }
    assert_eq!(runs, HashSet::from([1]), "every call reports the same run");
    assert_eq!(ran, 1, "exactly one call ran the warmup");

    // Once warm, a call answers with what was already done.
    let again: serde_json::Value = app.post("/api/warmup").await.json().await.unwrap();
    assert_eq!(
        (again["served"].as_str(), again["run"].as_u64()),
        (Some("cached"), Some(1))
    );
}

#[tokio::test]
async fn warmup_rejects_other_methods_with_json_and_allow() {
    let app = spawn_app(Backend::Sqlite).await;
    let response = app.get("/api/warmup").await;
    assert_eq!(response.status(), 405);
    assert_eq!(response.headers()["allow"], "POST");
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "method_not_allowed");
}

#[tokio::test]
async fn warmup_against_a_dead_database_fails_fast_and_is_not_cached() {
    let app = spawn_app_with_unreachable_database().await;

    let first = app.post("/api/warmup").await;
    assert_eq!(first.status(), 503);
    let first: serde_json::Value = first.json().await.unwrap();
    assert_eq!(first["status"], "failed");
    assert_eq!(first["error"]["code"], "warmup_failed");
    let steps = first["steps"].as_array().unwrap();
    for step in steps
        .iter()
        .filter(|s| s["name"].as_str().unwrap().starts_with("database."))
    {
        assert_eq!(step["result"], "error", "{step}");
    }

    let second: serde_json::Value = app.post("/api/warmup").await.json().await.unwrap();
    assert_eq!(
        (second["served"].as_str(), second["run"].as_u64()),
        (Some("ran"), Some(2))
    );
}
