use std::time::Duration;

use reqwest::Method;

use crate::helpers::{refusing_address, spawn_app, Backend, TestApp, TestConfig};

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

async fn scrape(app: &TestApp) -> String {
    let response = app
        .request(Method::GET, "/metrics")
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.text().await.unwrap()
}

#[tokio::test]
async fn metrics_carry_the_build_and_the_last_readiness() {
    let app = TestConfig::new(Backend::Sqlite)
        .var("METRICS_TOKEN", TOKEN)
        .var("RENDER_GIT_COMMIT", "4f1c2e9d")
        .spawn()
        .await;
    app.wait_for_readiness("pass", Duration::from_secs(10))
        .await;

    let text = scrape(&app).await;
    let build = format!(
        "release_flow_build_info{{version=\"{}\",release_id=\"4f1c2e9d\"}} 1\n",
        env!("CARGO_PKG_VERSION")
    );
    for line in [
        build.as_str(),
        "release_flow_readiness{status=\"pass\"} 1\n",
        "release_flow_readiness{status=\"warn\"} 0\n",
        "release_flow_readiness{status=\"fail\"} 0\n",
    ] {
        assert!(text.contains(line), "missing {line:?} in\n{text}");
    }
}

#[tokio::test]
async fn readiness_turns_fail_on_its_own_when_the_database_is_unreachable() {
    // Nobody calls /api/health here: the periodic probe that runs while /metrics is on does.
    let app = TestConfig::new(Backend::Postgres)
        .var(
            "DATABASE_URL",
            format!("postgres://app@{}/app", refusing_address()),
        )
        .var("DATABASE_ACQUIRE_TIMEOUT_MS", "300")
        .var("METRICS_TOKEN", TOKEN)
        .spawn()
        .await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let text = scrape(&app).await;
        if text.contains("release_flow_readiness{status=\"fail\"} 1\n") {
            assert!(text.contains("release_flow_readiness{status=\"pass\"} 0\n"));
            assert!(
                !text.contains("route=\"/api/health\""),
                "the probe is not a request:\n{text}"
            );
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "readiness never turned fail:\n{text}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
