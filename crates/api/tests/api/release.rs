//! `GET /api/release`: the release page's facts, behind a session.

use crate::helpers::{spawn_app, Backend, TestConfig};

const EMAIL: &str = "ada@example.com";
const PASSWORD: &str = "correct horse battery";

#[tokio::test]
async fn the_release_needs_a_session_and_names_environment_version_commit_and_instance() {
    // Arrange: a staging instance whose repository is configured.
    let app = TestConfig::new(Backend::Sqlite)
        .var("APP_ENV", "staging")
        .var("RENDER_GIT_COMMIT", "4f1c2e9d0a7b")
        .var("RENDER_INSTANCE_ID", "srv-d1-abc12")
        .var(
            "REPOSITORY_URL",
            "https://github.com/release-flow/release-flow.git",
        )
        .spawn()
        .await;
    app.add_user(EMAIL, PASSWORD).await;

    // Act + Assert: anonymous, then logged in (the cookie sent by hand: it is `Secure` outside
    // development, and this is plain HTTP).
    let anonymous = app.get("/api/release").await;
    assert_eq!(anonymous.status(), 401);
    let body: serde_json::Value = anonymous.json().await.unwrap();
    assert_eq!(body["error"]["code"], "unauthorized");

    let cookie = app.log_in(EMAIL, PASSWORD).await;
    let response = app
        .request(reqwest::Method::GET, "/api/release")
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(
        body,
        serde_json::json!({
            "environment": "staging",
            "version": env!("CARGO_PKG_VERSION"),
            "releaseId": "4f1c2e9d0a7b",
            "commitUrl": "https://github.com/release-flow/release-flow/commit/4f1c2e9d0a7b",
            "serviceId": "release-flow-api",
            "instanceId": "srv-d1-abc12",
        })
    );
}

#[tokio::test]
async fn without_a_repository_there_is_no_commit_link() {
    let app = spawn_app(Backend::Sqlite).await;
    app.add_user(EMAIL, PASSWORD).await;
    app.log_in(EMAIL, PASSWORD).await;

    let body: serde_json::Value = app.get("/api/release").await.json().await.unwrap();

    assert_eq!(body["environment"], "development");
    assert_eq!(body["version"], env!("CARGO_PKG_VERSION"));
    assert!(body.get("commitUrl").is_none(), "{body}");
    // The instance is the hostname when Render does not name it.
    assert!(body["instanceId"].as_str().is_some_and(|id| !id.is_empty()));
    // The same release id as readiness reports.
    let health: serde_json::Value = app.get("/api/health").await.json().await.unwrap();
    assert_eq!(body.get("releaseId"), health.get("releaseId"));
}
