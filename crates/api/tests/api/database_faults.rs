//! The database going away and coming back under a running service (PostgreSQL, through a relay
//! the test can cut): liveness never changes, readiness fails fast, a login is a JSON 503, and
//! everything recovers without a restart.

use std::time::{Duration, Instant};

use crate::helpers::{
    credentials, fresh_postgres_database, postgres_available, postgres_socket_addr, via, Backend,
    TcpRelay, TestConfig,
};

#[tokio::test]
async fn readiness_fails_fast_while_the_database_is_down_and_recovers_without_a_restart() {
    if !postgres_available() {
        return;
    }
    // Arrange
    let relay = TcpRelay::start(postgres_socket_addr()).await;
    let url = via(&fresh_postgres_database().await, relay.addr);
    let app = TestConfig::new(Backend::Postgres)
        .var("DATABASE_URL", url)
        .var("HEALTH_DB_TIMEOUT_MS", "500")
        .var("DATABASE_ACQUIRE_TIMEOUT_MS", "500")
        .spawn()
        .await;
    app.wait_for_readiness("pass", Duration::from_secs(10))
        .await;
    let warmup = app.post("/api/warmup").await;
    assert_eq!(warmup.status(), 200, "{}", warmup.text().await.unwrap());
    app.add_user("ada@example.com", "correct horse battery")
        .await;

    // Act: the database goes away.
    relay.cut();
    let started = Instant::now();
    let down = app.get("/api/health").await;
    let elapsed = started.elapsed();

    // Assert
    assert_eq!(down.status(), 503);
    assert!(elapsed < Duration::from_millis(1500), "took {elapsed:?}");
    assert_eq!(
        app.get("/health").await.status(),
        200,
        "liveness ignores the database"
    );
    let login = app
        .post_json(
            "/api/auth/login",
            &credentials("ada@example.com", "correct horse battery"),
        )
        .await;
    assert_eq!(login.status(), 503);
    let body: serde_json::Value = login.json().await.unwrap();
    assert_eq!(body["error"]["code"], "database_unavailable");

    // Act: it comes back.
    relay.restore().await;

    // Assert: readiness recovers on its own.
    let body = app
        .wait_for_readiness("pass", Duration::from_secs(10))
        .await;
    assert_eq!(body["checks"]["database:responseTime"][0]["status"], "pass");
    let login = app
        .post_json(
            "/api/auth/login",
            &credentials("ada@example.com", "correct horse battery"),
        )
        .await;
    assert_eq!(login.status(), 200, "login works again");
}
