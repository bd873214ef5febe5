use reqwest::Method;

use crate::helpers::{spawn_app, Backend, TestConfig};

const TOKEN: &str = "metrics-token-0123456789";

#[tokio::test]
async fn metrics_are_off_without_a_token() {
    let app = spawn_app(Backend::Sqlite).await;
    let response = app.get("/metrics").await;
    assert_eq!(response.status(), 404);
}

#[tokio::test]
async fn metrics_need_the_bearer_token() {
    let app = TestConfig::new(Backend::Sqlite)
        .var("METRICS_TOKEN", TOKEN)
        .spawn()
        .await;
    let none = app.get("/metrics").await;
    let wrong = app
        .request(Method::GET, "/metrics")
        .bearer_auth("metrics-token-0123456780")
        .send()
        .await
        .unwrap();
    for response in [none, wrong] {
        assert_eq!(response.status(), 401);
        assert_eq!(response.headers()["www-authenticate"], "Bearer");
    }
}

#[tokio::test]
async fn metrics_count_requests_per_route_with_latency_histograms() {
    let app = TestConfig::new(Backend::Sqlite)
        .var("METRICS_TOKEN", TOKEN)
        .spawn()
        .await;
    for _ in 0..3 {
        app.get("/health").await;
    }
    app.get("/api/nope").await;

    let response = app
        .request(Method::GET, "/metrics")
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();

    assert_eq!(response.status(), 200);
    assert!(response.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/plain; version=0.0.4"));
    let text = response.text().await.unwrap();
    assert!(
        text.contains("http_requests_total{route=\"/health\",method=\"GET\",status=\"2xx\"} 3\n"),
        "{text}"
    );
    assert!(
        text.contains("http_request_duration_seconds_count{route=\"/health\",method=\"GET\"} 3\n"),
        "{text}"
    );
    assert!(text.contains("# TYPE http_request_duration_seconds histogram"));
    // Unmatched paths never become labels: a client cannot grow the series.
    assert!(!text.contains("/api/nope"));
}
