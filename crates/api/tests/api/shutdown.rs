//! Graceful shutdown of the real binary, the way Render stops an instance: SIGTERM, then SIGKILL
//! after `maxShutdownDelaySeconds`.

use std::{
    process::Stdio,
    time::{Duration, Instant},
};

use tokio::{
    io::{AsyncBufReadExt, AsyncWriteExt, BufReader},
    process::{Child, Command},
};

use crate::helpers::{black_hole, listening_address, Backend, TestConfig};

struct RunningApi {
    child: Child,
    address: String,
    _dir: tempfile::TempDir,
}

async fn start_api(vars: &[(&str, String)]) -> RunningApi {
    let dir = tempfile::tempdir().unwrap();
    let mut command = Command::new(env!("CARGO_BIN_EXE_api"));
    command
        .current_dir(dir.path())
        .env_clear()
        .env("PORT", "0")
        .env("LOG_FORMAT", "json")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true);
    for (k, v) in vars {
        command.env(k, v);
    }
    let mut child = command.spawn().expect("start the api binary");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let address = tokio::time::timeout(Duration::from_secs(10), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            if let Some(address) = listening_address(&line) {
                return address;
            }
        }
        panic!("the api exited before listening");
    })
    .await
    .expect("the api did not start listening");
    // Keep draining stdout so the child never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    RunningApi {
        child,
        address: format!("http://{address}"),
        _dir: dir,
    }
}

impl RunningApi {
    /// A connection that has sent half a request head and then waits forever.
    async fn stalled_client(&self) -> tokio::net::TcpStream {
        let mut stalled =
            tokio::net::TcpStream::connect(self.address.trim_start_matches("http://"))
                .await
                .unwrap();
        stalled
            .write_all(b"GET /api/health HTTP/1.1\r\nHost: x\r\n")
            .await
            .unwrap();
        stalled
    }

    /// SIGTERM, then the exit status and how long the process took to exit (at most `within`).
    async fn stop(&mut self, within: Duration) -> (std::process::ExitStatus, Duration) {
        let signalled = Instant::now();
        sigterm(&self.child);
        let status = tokio::time::timeout(within, self.child.wait())
            .await
            .expect("exited in time")
            .unwrap();
        (status, signalled.elapsed())
    }
}

fn sigterm(child: &Child) {
    let pid = child.id().expect("still running").to_string();
    let status = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(status.success());
}

#[tokio::test]
async fn sigterm_lets_in_flight_requests_finish_and_exits_zero() {
    // Arrange: a hung database makes each /api/health take the whole 1.5 s probe timeout, so
    // the requests are genuinely in flight when SIGTERM arrives.
    let hung = black_hole().await;
    let mut api = start_api(&[
        ("DATABASE_URL", format!("postgres://app@{hung}/app")),
        ("HEALTH_DB_TIMEOUT_MS", "1500".into()),
        ("SHUTDOWN_DRAIN_SECS", "1".into()),
        ("SHUTDOWN_TIMEOUT_SECS", "6".into()),
    ])
    .await;
    let client = reqwest::Client::new();
    let in_flight: Vec<_> = (0..5)
        .map(|_| {
            let (client, url) = (client.clone(), format!("{}/api/health", api.address));
            tokio::spawn(async move { client.get(url).send().await })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(300)).await;

    // Act
    let signalled = Instant::now();
    sigterm(&api.child);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let during_drain = reqwest::Client::new()
        .get(format!("{}/health", api.address))
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
    let status = tokio::time::timeout(Duration::from_secs(8), api.child.wait())
        .await
        .expect("exited")
        .unwrap();
    assert_eq!(status.code(), Some(0));
    assert!(
        signalled.elapsed() < Duration::from_secs(6),
        "took {:?}",
        signalled.elapsed()
    );
}

#[tokio::test]
async fn a_client_holding_a_connection_cannot_delay_exit_past_the_timeout() {
    let mut api = start_api(&[("SHUTDOWN_TIMEOUT_SECS", "2".into())]).await;
    let _stalled = api.stalled_client().await;
    // An idle keep-alive connection as well.
    let client = reqwest::Client::new();
    assert_eq!(
        client
            .get(format!("{}/health", api.address))
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
    let mut api = start_api(&[
        ("SHUTDOWN_TIMEOUT_SECS", "20".into()),
        ("HEADER_READ_TIMEOUT_SECS", "1".into()),
    ])
    .await;
    let _stalled = api.stalled_client().await;

    let (status, took) = api.stop(Duration::from_secs(10)).await;

    assert_eq!(status.code(), Some(0));
    assert!(took < Duration::from_secs(4), "took {took:?}");
}

#[tokio::test]
async fn sigterm_the_moment_it_says_listening_is_a_clean_stop() {
    // The handlers are installed before "listening" is logged: a SIGTERM from then on drains,
    // it never kills the process with the default action.
    let mut api = start_api(&[]).await;
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
    assert_eq!(app.get_health().await.status(), 200);

    app.shutdown.shutdown();
    tokio::time::sleep(Duration::from_millis(200)).await;

    // Draining: still accepting; liveness says so, readiness warns and still answers 200.
    assert_eq!(app.get_health().await.status(), 503);
    let readiness = app.get_api_health().await;
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
