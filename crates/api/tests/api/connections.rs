//! Connection-level limits: a client that trickles its request head or idles on a keep-alive
//! connection is disconnected after `HEADER_READ_TIMEOUT_SECS`; one that is merely slow is served.

use std::time::{Duration, Instant};

use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

use crate::helpers::{read_until_closed, Backend, TestApp, TestConfig};

/// Ready to serve (schema applied), so a readiness failure later can only be the test's doing.
async fn app_with_header_timeout(secs: &str) -> TestApp {
    let app = TestConfig::new(Backend::Sqlite)
        .var("HEADER_READ_TIMEOUT_SECS", secs)
        .spawn()
        .await;
    app.wait_for_readiness("pass", Duration::from_secs(10))
        .await;
    app
}

/// Reads until the server closes the connection; returns what arrived and when it closed.
async fn until_closed(stream: &mut TcpStream, within: Duration) -> (Vec<u8>, Duration) {
    let started = Instant::now();
    let received = read_until_closed(stream, within).await;
    (received, started.elapsed())
}

#[tokio::test]
async fn a_client_trickling_its_request_head_is_disconnected() {
    let app = app_with_header_timeout("1").await;
    let mut slow = TcpStream::connect(app.socket_addr()).await.unwrap();
    slow.write_all(b"GET /api/health HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();

    let (received, after) = until_closed(&mut slow, Duration::from_secs(5)).await;

    assert!(
        received.is_empty(),
        "no response to half a request head: {:?}",
        String::from_utf8_lossy(&received)
    );
    assert!(after < Duration::from_secs(3), "closed after {after:?}");
    assert_eq!(
        app.get("/health").await.status(),
        200,
        "others still served"
    );
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed_after_the_timeout() {
    let app = app_with_header_timeout("1").await;
    let mut idle = TcpStream::connect(app.socket_addr()).await.unwrap();
    idle.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut first = [0u8; 12];
    idle.read_exact(&mut first).await.unwrap();
    assert_eq!(&first, b"HTTP/1.1 200");

    let (_, after) = until_closed(&mut idle, Duration::from_secs(5)).await;

    assert!(after < Duration::from_secs(3), "closed after {after:?}");
}

#[tokio::test]
async fn a_slow_but_complete_request_head_is_served() {
    let app = app_with_header_timeout("2").await;
    let mut slow = TcpStream::connect(app.socket_addr()).await.unwrap();
    for part in [
        &b"GET /health HT"[..],
        b"TP/1.1\r\nHost: x\r\n",
        b"Connection: close\r\n\r\n",
    ] {
        slow.write_all(part).await.unwrap();
        tokio::time::sleep(Duration::from_millis(300)).await;
    }

    let (received, _) = until_closed(&mut slow, Duration::from_secs(5)).await;

    assert!(
        received.starts_with(b"HTTP/1.1 200"),
        "{:?}",
        String::from_utf8_lossy(&received)
    );
}

#[tokio::test]
async fn many_stalled_connections_do_not_stop_the_server_answering() {
    let app = app_with_header_timeout("2").await;
    let mut stalled = Vec::new();
    for _ in 0..200 {
        let mut stream = TcpStream::connect(app.socket_addr()).await.unwrap();
        stream.write_all(b"GET / HTTP/1.1\r\n").await.unwrap();
        stalled.push(stream);
    }

    assert_eq!(app.get("/health").await.status(), 200);
    assert_eq!(app.get("/api/health").await.status(), 200);
    for mut stream in stalled {
        until_closed(&mut stream, Duration::from_secs(6)).await;
    }
}
