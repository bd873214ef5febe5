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

/// A server that refuses new sessions (`ALLOW_CONNECTIONS false`, SQLSTATE 55000) and ends the
/// open ones (57P01, "terminating connection due to administrator command") is the database being
/// unavailable, not a bug: every endpoint that needs it answers a JSON 503 (RFC 9110 §15.6.4), a
/// logout included, which keeps the cookie so the client can retry; it all works again after.
#[tokio::test]
async fn a_database_refusing_connections_is_a_503_never_a_500() {
    use sqlx::{Connection, Executor};
    if !postgres_available() {
        return;
    }
    // Arrange: a logged-in user.
    let url = fresh_postgres_database().await;
    let name = url.rsplit('/').next().unwrap().to_owned();
    let app = TestConfig::new(Backend::Postgres)
        .var("DATABASE_URL", url)
        .var("DATABASE_ACQUIRE_TIMEOUT_MS", "1000")
        .spawn()
        .await;
    app.add_user("ada@example.com", "correct horse battery")
        .await;
    app.log_in("ada@example.com", "correct horse battery").await;
    let admin_url = crate::helpers::postgres_url().unwrap();
    let mut admin = sqlx::PgConnection::connect(&admin_url).await.unwrap();
    let refuse = |allow: bool| {
        sqlx::AssertSqlSafe(format!(
            r#"ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS {allow}"#
        ))
    };

    // Act: the database stops accepting connections and ends the open ones.
    admin.execute(refuse(false)).await.unwrap();
    admin
        .execute(sqlx::AssertSqlSafe(format!(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"
        )))
        .await
        .unwrap();

    // Assert
    for (method, path) in [
        ("GET", "/api/me"),
        ("POST", "/api/auth/login"),
        ("POST", "/api/auth/logout"),
    ] {
        let response = match method {
            "GET" => app.get(path).await,
            _ => {
                app.post_json(
                    path,
                    &credentials("ada@example.com", "correct horse battery"),
                )
                .await
            }
        };
        assert_eq!(response.status(), 503, "{method} {path}");
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(
            body["error"]["code"], "database_unavailable",
            "{method} {path}"
        );
    }

    // Act: connections are allowed again.
    admin.execute(refuse(true)).await.unwrap();

    // Assert: the session survived the failed logout, and logging out now works.
    app.wait_for_readiness("pass", Duration::from_secs(10))
        .await;
    assert_eq!(app.get("/api/me").await.status(), 200);
    assert_eq!(app.post("/api/auth/logout").await.status(), 204);
    assert_eq!(app.get("/api/me").await.status(), 401);
}
