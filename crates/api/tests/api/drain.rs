//! The drain contract, on the real binary and SIGTERM, seen from clients: every request that
//! reaches the server is answered; HTTP/1.1 responses say `Connection: close` (RFC 9112 §9.6)
//! and HTTP/2 connections get GOAWAY (RFC 9113 §6.8), so clients move elsewhere; an idle
//! connection is never closed under a request its client may be sending (RFC 9112 §9.3), only at
//! the shutdown deadline; and the process exits 0 within `SHUTDOWN_TIMEOUT_SECS`.

use std::time::{Duration, Instant};

use tokio::{
    io::{AsyncReadExt, AsyncWriteExt, BufReader},
    net::TcpStream,
};

use crate::{
    backend_tests,
    helpers::{
        black_hole, fresh_postgres_database, read_response, ApiCommand, Backend, RawResponse,
        RunningApi,
    },
};

backend_tests!(fifty_requests_in_flight_at_sigterm_are_all_answered_2xx);

/// A server on `backend` (a SQLite file in its working directory, or a fresh PostgreSQL
/// database) that drains for `drain` seconds and exits by `timeout` seconds after SIGTERM.
async fn start(backend: Backend, drain: u64, timeout: u64) -> RunningApi {
    let command = ApiCommand::new();
    let url = match backend {
        Backend::Sqlite => format!("sqlite://{}/app.db", command.dir().display()),
        Backend::Postgres => fresh_postgres_database().await,
    };
    command
        .var("DATABASE_URL", url)
        .var("SHUTDOWN_DRAIN_SECS", drain.to_string())
        .var("SHUTDOWN_TIMEOUT_SECS", timeout.to_string())
        .start()
        .await
}

/// Waits until readiness passes (the schema is applied), each poll on a connection of its own
/// that is closed afterwards, so no idle connection is left to hold the drain.
async fn wait_until_ready(api: &RunningApi) {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let mut conn = Conn::open(api).await;
        let response = conn
            .send("GET", "/api/health", "Connection: close\r\n")
            .await;
        if response.status == 200 {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "never ready: {}",
            String::from_utf8_lossy(&response.body)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// One HTTP/1.1 connection, written and read byte for byte.
struct Conn {
    reader: BufReader<TcpStream>,
}

impl Conn {
    async fn open(api: &RunningApi) -> Conn {
        Conn {
            reader: BufReader::new(TcpStream::connect(api.address).await.expect("connect")),
        }
    }

    /// Writes a request (keep-alive unless `extra` says otherwise), without reading the answer.
    async fn write(&mut self, method: &str, path: &str, extra: &str) {
        let length = if method == "POST" {
            "Content-Length: 0\r\n"
        } else {
            ""
        };
        let request = format!("{method} {path} HTTP/1.1\r\nHost: x\r\n{length}{extra}\r\n");
        self.reader
            .get_mut()
            .write_all(request.as_bytes())
            .await
            .expect("write the request");
    }

    async fn read(&mut self, method: &str) -> RawResponse {
        read_response(&mut self.reader, method == "HEAD").await
    }

    /// A request and its whole answer on this connection.
    async fn send(&mut self, method: &str, path: &str, extra: &str) -> RawResponse {
        self.write(method, path, extra).await;
        self.read(method).await
    }

    /// Asserts that the server closes the connection cleanly (FIN, not a reset) within `within`,
    /// with nothing more written.
    async fn expect_closed(&mut self, within: Duration) {
        let mut rest = Vec::new();
        let read = tokio::time::timeout(within, self.reader.read_to_end(&mut rest))
            .await
            .expect("the server should close the connection");
        read.expect("a clean close, not a reset");
        assert!(
            rest.is_empty(),
            "unexpected bytes: {:?}",
            String::from_utf8_lossy(&rest)
        );
    }
}

async fn fifty_requests_in_flight_at_sigterm_are_all_answered_2xx(backend: Backend) {
    // Arrange: the schema is applied but the instance is cold (no warmup has run), so the
    // warmups do real work (connections opened, statements prepared) while SIGTERM arrives.
    let mut api = start(backend, 2, 20).await;
    wait_until_ready(&api).await;
    let mut conns = Vec::new();
    for i in 0..50 {
        let mut conn = Conn::open(&api).await;
        let (method, path) = if i % 2 == 0 {
            ("POST", "/api/warmup")
        } else {
            ("GET", "/api/health")
        };
        conn.write(method, path, "").await;
        conns.push((conn, method, path));
    }

    // Act
    api.terminate();

    // Assert: every one gets a whole 2xx answer, whether it finished before SIGTERM or after.
    let answers = futures::future::join_all(conns.into_iter().map(
        |(mut conn, method, path)| async move {
            let response = tokio::time::timeout(Duration::from_secs(15), conn.read(method))
                .await
                .unwrap_or_else(|_| panic!("{method} {path}: no answer"));
            (method, path, response)
        },
    ))
    .await;
    for (method, path, response) in &answers {
        assert!(
            (200..300).contains(&response.status),
            "{method} {path}: {} {}",
            response.status,
            String::from_utf8_lossy(&response.body)
        );
        let body: serde_json::Value = serde_json::from_slice(&response.body)
            .unwrap_or_else(|e| panic!("{method} {path}: a whole JSON body: {e}"));
        assert!(body["status"].is_string(), "{method} {path}: {body}");
    }
    let status = api.wait(Duration::from_secs(20)).await;
    assert_eq!(status.code(), Some(0), "{}", api.output());
}

#[tokio::test]
async fn after_sigterm_every_http1_response_says_connection_close_rfc9112_9_6() {
    // Arrange: the listener stays open 5 s, ample for the requests below.
    let mut api = start(Backend::Sqlite, 5, 15).await;
    wait_until_ready(&api).await;

    // Act
    api.terminate();
    tokio::time::sleep(Duration::from_millis(300)).await;

    // Assert: liveness, readiness, an API error, a frontend path, a POST and a HEAD: each is
    // answered in full, says `Connection: close` though the client asked to keep the connection,
    // and the server then closes the connection (RFC 9112 §9.6).
    for (method, path, status) in [
        ("GET", "/health", 503),
        ("HEAD", "/health", 503),
        ("GET", "/api/health", 200),
        ("GET", "/api/me", 401),
        ("GET", "/api/no-such-endpoint", 404),
        ("GET", "/assets/no-such-file.js", 404),
        ("POST", "/api/warmup", 200),
    ] {
        let mut conn = Conn::open(&api).await;
        let response = conn.send(method, path, "Connection: keep-alive\r\n").await;
        assert_eq!(response.status, status, "{method} {path}");
        assert!(response.closes(), "{method} {path}: {:?}", response.headers);
        conn.expect_closed(Duration::from_secs(2)).await;
    }
    let status = api.wait(Duration::from_secs(15)).await;
    assert_eq!(status.code(), Some(0));
}

#[tokio::test]
async fn an_http2_connection_gets_goaway_and_its_stream_in_flight_completes_rfc9113_6_8() {
    // Arrange: a hung database holds each readiness request for the whole 1.5 s probe, so the
    // stream is genuinely in flight when SIGTERM arrives.
    let hung = black_hole().await;
    let mut api = ApiCommand::new()
        .var("DATABASE_URL", format!("postgres://app@{hung}/app"))
        .var("HEALTH_DB_TIMEOUT_MS", "1500")
        .var("SHUTDOWN_DRAIN_SECS", "3")
        .var("SHUTDOWN_TIMEOUT_SECS", "10")
        .start()
        .await;
    let tcp = TcpStream::connect(api.address).await.unwrap();
    // HTTP/2 with prior knowledge (h2c): the connection preface, no upgrade.
    let (client, connection) = h2::client::handshake(tcp).await.expect("h2 handshake");
    let connection = tokio::spawn(connection);
    let mut client = client.ready().await.unwrap();
    let get = |path: &str| {
        http::Request::get(format!("http://{}{path}", api.address))
            .body(())
            .unwrap()
    };
    let (first, _) = client.send_request(get("/health"), true).unwrap();
    assert_eq!(first.await.unwrap().status(), 200, "served over HTTP/2");
    let (in_flight, _) = client.send_request(get("/api/health"), true).unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;

    // Act
    api.terminate();

    // Assert: GOAWAY has arrived (RFC 9113 §6.8: no new stream may be opened on this
    // connection) ...
    tokio::time::sleep(Duration::from_millis(500)).await;
    let Err(goaway) = client.send_request(get("/health"), true) else {
        panic!("a new stream was opened after SIGTERM: no GOAWAY");
    };
    assert!(goaway.is_go_away() && goaway.is_remote(), "{goaway:?}");
    assert_eq!(goaway.reason(), Some(h2::Reason::NO_ERROR), "{goaway:?}");
    drop(client);
    // ... while the stream opened before it is answered in full ...
    let response = tokio::time::timeout(Duration::from_secs(5), in_flight)
        .await
        .expect("the stream in flight is answered")
        .expect("not reset");
    assert_eq!(response.status(), 503, "the hung database fails readiness");
    let mut body = response.into_body();
    let mut bytes = Vec::new();
    while let Some(chunk) = body.data().await {
        let chunk = chunk.expect("the whole body");
        let _ = body.flow_control().release_capacity(chunk.len());
        bytes.extend_from_slice(&chunk);
    }
    let body: serde_json::Value = serde_json::from_slice(&bytes).expect("a whole JSON body");
    assert_eq!(body["status"], "fail");
    // ... and then the server closes the connection, with no error, long before the deadline.
    let closed = tokio::time::timeout(Duration::from_secs(2), connection)
        .await
        .expect("the connection closes after its last stream")
        .unwrap();
    if let Err(e) = closed {
        assert!(
            e.is_go_away() && e.reason() == Some(h2::Reason::NO_ERROR),
            "{e:?}"
        );
    }
    let status = api.wait(Duration::from_secs(10)).await;
    assert_eq!(status.code(), Some(0));
}

#[tokio::test]
async fn a_keep_alive_client_rides_through_sigterm_without_a_reset_rfc9112_9_6() {
    // Arrange: a client that sends a request every 100 ms, reusing its connection while the
    // server lets it and opening a new one when told `Connection: close`.
    let mut api = start(Backend::Sqlite, 2, 10).await;
    wait_until_ready(&api).await;
    let mut conn = Conn::open(&api).await;
    let before = conn.send("GET", "/api/health", "").await;
    assert_eq!(before.status, 200);
    assert!(!before.closes(), "kept alive before SIGTERM");

    // Act
    let signalled = Instant::now();
    api.terminate();
    tokio::time::sleep(Duration::from_millis(200)).await;

    // Assert: the first answer after SIGTERM comes on the same connection and says
    // `Connection: close`; then the server closes it cleanly (no reset); the client reconnects
    // for each next request and every request gets its whole answer, until the listener closes
    // (`SHUTDOWN_DRAIN_SECS` after SIGTERM).
    let first = conn.send("GET", "/api/health", "").await;
    assert_eq!(first.status, 200);
    assert!(first.closes(), "{:?}", first.headers);
    let readiness: serde_json::Value = serde_json::from_slice(&first.body).unwrap();
    assert_eq!(readiness["status"], "warn");
    conn.expect_closed(Duration::from_secs(2)).await;
    let mut answered = 1;
    loop {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let Ok(stream) = TcpStream::connect(api.address).await else {
            break; // the listener has closed: time for this client to go elsewhere
        };
        let mut conn = Conn {
            reader: BufReader::new(stream),
        };
        let response = conn.send("GET", "/api/health", "").await;
        assert_eq!(response.status, 200);
        assert!(response.closes());
        conn.expect_closed(Duration::from_secs(2)).await;
        answered += 1;
    }
    let listener_open_for = signalled.elapsed();
    assert!(
        listener_open_for >= Duration::from_secs(2) && answered >= 5,
        "answered {answered} in {listener_open_for:?}"
    );
    let status = api.wait(Duration::from_secs(10)).await;
    assert_eq!(status.code(), Some(0));
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_left_open_for_its_client_rfc9112_9_3() {
    // Arrange: two connections served once and left idle, as a pool keeps them.
    let mut api = start(Backend::Sqlite, 1, 10).await;
    wait_until_ready(&api).await;
    let mut early = Conn::open(&api).await;
    let mut late = Conn::open(&api).await;
    for conn in [&mut early, &mut late] {
        let response = conn.send("GET", "/health", "").await;
        assert_eq!((response.status, response.closes()), (200, false));
    }

    // Act
    api.terminate();

    // Assert: a request sent on an idle connection during the drain window, and one sent after
    // the listener has closed, both get whole answers with `Connection: close`: the drain never
    // closes a connection a client may be sending on (RFC 9112 §9.3).
    tokio::time::sleep(Duration::from_millis(500)).await;
    let during = early.send("GET", "/api/health", "").await;
    assert_eq!(during.status, 200);
    assert!(during.closes());
    early.expect_closed(Duration::from_secs(2)).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(
        TcpStream::connect(api.address).await.is_err(),
        "the listener has closed by now"
    );
    let after = late.send("GET", "/api/health", "").await;
    assert_eq!(after.status, 200);
    assert!(after.closes());
    late.expect_closed(Duration::from_secs(2)).await;
    // Nothing is left open, so the process exits without waiting for the deadline.
    let status = api.wait(Duration::from_secs(3)).await;
    assert_eq!(status.code(), Some(0));
}

#[tokio::test]
async fn an_idle_connection_holds_the_exit_only_until_the_shutdown_deadline() {
    // Arrange: the idle limit (30 s) is far beyond the deadline (3 s).
    let mut api = start(Backend::Sqlite, 1, 3).await;
    wait_until_ready(&api).await;
    let mut idle = Conn::open(&api).await;
    assert_eq!(idle.send("GET", "/health", "").await.status, 200);

    // Act
    let (status, took) = api.stop(Duration::from_secs(6)).await;

    // Assert: the drain left the idle connection alone until the deadline, then the process
    // closed it and exited 0.
    assert_eq!(status.code(), Some(0));
    assert!(
        took >= Duration::from_millis(2800) && took < Duration::from_millis(4500),
        "exited {took:?} after SIGTERM"
    );
    let mut rest = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(1), idle.reader.read_to_end(&mut rest))
        .await
        .expect("closed when the process exited");
    assert!(rest.is_empty(), "{:?}", String::from_utf8_lossy(&rest));
}
