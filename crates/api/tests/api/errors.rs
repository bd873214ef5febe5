use reqwest::Method;

use crate::helpers::{spawn_app, Backend, TestConfig};

#[tokio::test]
async fn unknown_api_paths_are_a_json_404() {
    let app = spawn_app(Backend::Sqlite).await;
    for path in ["/api/nope", "/api", "/api/health/extra"] {
        let response = app.get(path).await;
        assert_eq!(response.status(), 404, "{path}");
        assert_eq!(
            response.headers()["content-type"],
            "application/json",
            "{path}"
        );
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(body["error"]["code"], "not_found", "{path}");
        assert!(body["error"]["message"].is_string());
    }
}

#[tokio::test]
async fn an_oversized_body_is_a_json_413() {
    let app = TestConfig::new(Backend::Sqlite)
        .var("BODY_LIMIT_BYTES", "1024")
        .spawn()
        .await;
    let response = app
        .request(Method::POST, "/api/warmup")
        .body(vec![b'x'; 4096])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 413);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "payload_too_large");
    // The server is still fine afterwards.
    assert_eq!(app.get("/health").await.status(), 200);
}

#[tokio::test]
async fn a_request_id_is_generated_when_absent() {
    let app = spawn_app(Backend::Sqlite).await;
    let a = app.get("/health").await.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let b = app.get("/health").await.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(!a.is_empty());
    assert_ne!(a, b);
}

#[tokio::test]
async fn a_request_id_sent_by_the_proxy_is_echoed() {
    let app = spawn_app(Backend::Sqlite).await;
    let response = app
        .request(Method::GET, "/api/health")
        .header("x-request-id", "edge-7f3a")
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["x-request-id"], "edge-7f3a");
}

#[tokio::test]
async fn the_openapi_document_is_served_and_lists_every_api_operation() {
    let app = spawn_app(Backend::Sqlite).await;
    let response = app.get("/api/openapi.json").await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/json");
    let doc: serde_json::Value = response.json().await.unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    assert_eq!(doc["info"]["version"], env!("CARGO_PKG_VERSION"));
    for (path, method) in [
        ("/health", "get"),
        ("/api/health", "get"),
        ("/api/warmup", "post"),
        ("/api/auth/login", "post"),
        ("/api/auth/logout", "post"),
        ("/api/me", "get"),
        ("/api/session", "get"),
    ] {
        assert!(doc["paths"][path][method].is_object(), "{method} {path}");
    }
    assert!(doc["components"]["schemas"]["ErrorBody"].is_object());
}
