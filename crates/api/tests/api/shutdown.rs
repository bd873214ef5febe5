//! Graceful shutdown of the real binary, the way Render stops an instance: SIGTERM, then SIGKILL
//! after `maxShutdownDelaySeconds`.

use std::{
    net::SocketAddr,
    time::{Duration, Instant},
};

use tokio::io::AsyncWriteExt;

use crate::helpers::{black_hole, ApiCommand, Backend, TestConfig};

/// A connection that has sent half a request head and then waits forever.
async fn stalled_client(address: SocketAddr) -> tokio::net::TcpStream {
    let mut stalled = tokio::net::TcpStream::connect(address).await.unwrap();
    stalled
        .write_all(b"GET /api/health HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    stalled
}

#[tokio::test]
async fn sigterm_lets_in_flight_requests_finish_and_exits_zero() {
    // Arrange: a hung database makes each /api/health take the whole 1.5 s probe timeout, so
    // the requests are genuinely in flight when SIGTERM arrives.
    let hung = black_hole().await;
    let mut api = ApiCommand::new()
        .var("DATABASE_URL", format!("postgres://app@{hung}/app"))
        .var("HEALTH_DB_TIMEOUT_MS", "1500")
        .var("SHUTDOWN_DRAIN_SECS", "1")
        .var("SHUTDOWN_TIMEOUT_SECS", "6")
        .start()
        .await;
    let client = reqwest::Client::new();
    let in_flight: Vec<_> = (0..5)
        .map(|_| {
            let (client, url) = (client.clone(), api.url("/api/health"));
            tokio::spawn(async move { client.get(url).send().await })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(300)).await;

    // Act
    let signalled = Instant::now();
    api.terminate();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let during_drain = reqwest::Client::new()
        .get(api.url("/health"))
        .send()
        .await
        .unwrap();

    // Assert: liveness flips to 503 while draining ...
    assert_eq!(during_drain.status(), 503);
    // ... every in-flight request gets its full answer ...
    for request in in_flight {
        let response = request.await.unwrap().expect("in-flight request completed");
        assert_eq!(response.status(), 503, "the hung database fails readiness");
        let body: serde_json::Value = response.json().await.expect("a complete JSON body");
        assert_eq!(body["status"], "fail");
    }
    // ... and the process exits 0 well within the deadline.
    let status = api.wait(Duration::from_secs(8)).await;
    assert_eq!(status.code(), Some(0));
    assert!(
        signalled.elapsed() < Duration::from_secs(6),
        "took {:?}",
        signalled.elapsed()
    );
}

#[tokio::test]
async fn a_client_holding_a_connection_cannot_delay_exit_past_the_timeout() {
    let mut api = ApiCommand::new()
        .var("SHUTDOWN_TIMEOUT_SECS", "2")
        .start()
        .await;
    let _stalled = stalled_client(api.address).await;
    // An idle keep-alive connection as well.
    let client = reqwest::Client::new();
    assert_eq!(
        client
            .get(api.url("/health"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );

    let (status, took) = api.stop(Duration::from_secs(5)).await;

    assert_eq!(status.code(), Some(0));
    assert!(took < Duration::from_millis(3500), "took {took:?}");
}

#[tokio::test]
async fn a_stalled_client_is_cut_off_by_the_header_timeout_well_before_the_deadline() {
    let mut api = ApiCommand::new()
        .var("SHUTDOWN_TIMEOUT_SECS", "20")
        .var("HEADER_READ_TIMEOUT_SECS", "1")
        .start()
        .await;
    let _stalled = stalled_client(api.address).await;

    let (status, took) = api.stop(Duration::from_secs(10)).await;

    assert_eq!(status.code(), Some(0));
    assert!(took < Duration::from_secs(4), "took {took:?}");
}

#[tokio::test]
async fn sigterm_the_moment_it_says_listening_is_a_clean_stop() {
    // The handlers are installed before "listening" is logged: a SIGTERM from then on drains,
    // it never kills the process with the default action.
    let mut api = ApiCommand::new().start().await;
    let (status, _) = api.stop(Duration::from_secs(10)).await;
    assert_eq!(status.code(), Some(0), "{status:?}");
}

#[tokio::test]
async fn the_shutdown_handle_drains_like_sigterm() {
    let app = TestConfig::new(Backend::Sqlite)
        .var("SHUTDOWN_DRAIN_SECS", "1")
        .var("SHUTDOWN_TIMEOUT_SECS", "5")
        .spawn()
        .await;
    assert_eq!(app.get("/health").await.status(), 200);

    app.shutdown.shutdown();
    tokio::time::sleep(Duration::from_millis(200)).await;

    // Draining: still accepting; liveness says so, readiness warns and still answers 200.
    assert_eq!(app.get("/health").await.status(), 503);
    let readiness = app.get("/api/health").await;
    assert_eq!(readiness.status(), 200);
    let readiness: serde_json::Value = readiness.json().await.unwrap();
    assert_eq!(readiness["status"], "warn");
    assert_eq!(
        readiness["notes"][0],
        "draining: this instance is shutting down; new requests belong elsewhere"
    );
    let result = tokio::time::timeout(Duration::from_secs(5), app.server)
        .await
        .expect("stopped in time");
    result.unwrap().expect("a clean stop");
}
