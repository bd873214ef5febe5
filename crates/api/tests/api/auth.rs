use reqwest::Method;

use crate::{
    backend_tests,
    helpers::{credentials, spawn_app, ApiCommand, Backend, TestConfig},
};

const EMAIL: &str = "ada@example.com";
const PASSWORD: &str = "correct horse battery";
const LOGIN: &str = "/api/auth/login";

backend_tests!(login_me_logout_round_trip);

async fn login_me_logout_round_trip(backend: Backend) {
    // Arrange
    let app = spawn_app(backend).await;
    app.add_user(EMAIL, PASSWORD).await;

    // Act: log in (with the email in another case)
    let response = app
        .post_json(LOGIN, &credentials("Ada@Example.com", PASSWORD))
        .await;

    // Assert
    assert_eq!(response.status(), 200);
    let cookie = response.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(cookie.starts_with("rf_session="), "{cookie}");
    for attribute in ["HttpOnly", "SameSite=Lax", "Path=/", "Max-Age=43200"] {
        assert!(cookie.contains(attribute), "{cookie} lacks {attribute}");
    }
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["user"]["email"], EMAIL);
    assert!(body["expiresAt"].as_u64().is_some());

    let me: serde_json::Value = app.get("/api/me").await.json().await.unwrap();
    assert_eq!(me["user"]["email"], EMAIL);

    let logout = app.post("/api/auth/logout").await;
    assert_eq!(logout.status(), 204);
    assert!(logout.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .contains("Max-Age=0"));
    assert_eq!(app.get("/api/me").await.status(), 401);
}

#[tokio::test]
async fn a_wrong_password_and_an_unknown_email_get_the_same_401() {
    let app = spawn_app(Backend::Sqlite).await;
    app.add_user(EMAIL, PASSWORD).await;

    let wrong = app
        .post_json(LOGIN, &credentials(EMAIL, "not the password"))
        .await;
    let unknown = app
        .post_json(LOGIN, &credentials("nobody@example.com", PASSWORD))
        .await;

    assert_eq!(wrong.status(), 401);
    assert_eq!(unknown.status(), 401);
    assert!(wrong.headers().get("set-cookie").is_none());
    let (wrong, unknown): (serde_json::Value, serde_json::Value) =
        (wrong.json().await.unwrap(), unknown.json().await.unwrap());
    assert_eq!(wrong, unknown);
    assert_eq!(wrong["error"]["code"], "invalid_credentials");
}

#[tokio::test]
async fn session_answers_null_without_a_login_and_the_user_with_one() {
    let app = spawn_app(Backend::Sqlite).await;
    app.add_user(EMAIL, PASSWORD).await;
    let before: serde_json::Value = app.get("/api/session").await.json().await.unwrap();
    assert_eq!(before, serde_json::json!({ "session": null }));
    app.log_in(EMAIL, PASSWORD).await;
    let after: serde_json::Value = app.get("/api/session").await.json().await.unwrap();
    assert_eq!(after["session"]["user"]["email"], EMAIL);
}

#[tokio::test]
async fn me_without_a_session_is_a_json_401() {
    let app = spawn_app(Backend::Sqlite).await;
    let response = app.get("/api/me").await;
    assert_eq!(response.status(), 401);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "unauthorized");
}

#[tokio::test]
async fn a_session_from_one_instance_is_accepted_by_another_with_the_same_secret() {
    // A fleet: instances share the database (where sessions are ended) and the secret.
    let secret = "shared-secret-0123456789-abcdefghijklmnop";
    let dir = tempfile::tempdir().unwrap();
    let database = format!("sqlite://{}/fleet.db", dir.path().display());
    let first = TestConfig::new(Backend::Sqlite)
        .var("SESSION_SECRET", secret)
        .var("DATABASE_URL", &database)
        .spawn()
        .await;
    let second = TestConfig::new(Backend::Sqlite)
        .var("SESSION_SECRET", secret)
        .var("DATABASE_URL", &database)
        .spawn()
        .await;
    let stranger = TestConfig::new(Backend::Sqlite)
        .var("SESSION_SECRET", "another-secret-0123456789-abcdefghijklmn")
        .var("DATABASE_URL", &database)
        .spawn()
        .await;
    first.add_user(EMAIL, PASSWORD).await;
    let cookie = first.log_in(EMAIL, PASSWORD).await;

    let on_second = reqwest::Client::new()
        .get(second.url("/api/me"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    let on_stranger = reqwest::Client::new()
        .get(stranger.url("/api/me"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();

    assert_eq!(on_second.status(), 200);
    assert_eq!(on_stranger.status(), 401);
}

#[tokio::test]
async fn a_tampered_session_is_rejected() {
    let app = spawn_app(Backend::Sqlite).await;
    app.add_user(EMAIL, PASSWORD).await;
    let cookie = app.log_in(EMAIL, PASSWORD).await;
    let tampered = format!("{}A", cookie);
    let response = reqwest::Client::new()
        .get(app.url("/api/me"))
        .header("cookie", tampered)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
}

#[tokio::test]
async fn repeated_attempts_on_one_account_are_rate_limited_with_retry_after() {
    let app = spawn_app(Backend::Sqlite).await;
    app.add_user(EMAIL, PASSWORD).await;
    let mut statuses = Vec::new();
    for _ in 0..api::rate_limit::PER_ACCOUNT_PER_MINUTE + 1 {
        statuses.push(
            app.post_json(LOGIN, &credentials(EMAIL, "wrong password"))
                .await,
        );
    }
    let last = statuses.pop().unwrap();
    assert!(statuses.iter().all(|r| r.status() == 401));
    assert_eq!(last.status(), 429);
    let retry_after: u64 = last.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry_after), "{retry_after}");
    let body: serde_json::Value = last.json().await.unwrap();
    assert_eq!(body["error"]["code"], "rate_limited");
}

#[tokio::test]
async fn a_cross_site_post_with_a_cookie_is_refused() {
    let app = spawn_app(Backend::Sqlite).await;
    app.add_user(EMAIL, PASSWORD).await;
    app.log_in(EMAIL, PASSWORD).await;

    let forged = app
        .request(Method::POST, "/api/auth/logout")
        .header("origin", "https://evil.example")
        .header("sec-fetch-site", "cross-site")
        .send()
        .await
        .unwrap();

    assert_eq!(forged.status(), 403);
    let body: serde_json::Value = forged.json().await.unwrap();
    assert_eq!(body["error"]["code"], "cross_site_request");
    assert_eq!(
        app.get("/api/me").await.status(),
        200,
        "the session survived"
    );
}

#[tokio::test]
async fn bad_login_bodies_get_json_errors() {
    let app = spawn_app(Backend::Sqlite).await;
    let malformed = app
        .request(Method::POST, LOGIN)
        .header("content-type", "application/json")
        .body("{\"email\":")
        .send()
        .await
        .unwrap();
    let no_type = app
        .request(Method::POST, LOGIN)
        .body("{}")
        .send()
        .await
        .unwrap();
    let missing = app
        .post_json(LOGIN, &serde_json::json!({ "email": EMAIL }))
        .await;
    let not_email = app.post_json(LOGIN, &credentials("ada", "x")).await;

    for (response, status, code) in [
        (malformed, 400, "malformed_json"),
        (no_type, 415, "unsupported_media_type"),
        (missing, 422, "invalid_body"),
        (not_email, 422, "invalid_email"),
    ] {
        assert_eq!(response.status(), status, "{code}");
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(body["error"]["code"], code);
    }
}

#[tokio::test]
async fn user_add_reads_the_password_from_stdin_and_the_account_can_log_in() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/users.db", dir.path().display());
    let output = ApiCommand::new()
        .args(["user", "add", "--email", "Grace@Example.com"])
        .var("DATABASE_URL", &url)
        .stdin("a long enough password\n")
        .run()
        .await;
    assert!(output.status.success(), "{}", output.stderr);
    assert_eq!(output.stdout, "created grace@example.com\n");

    let app = TestConfig::new(Backend::Sqlite)
        .var("DATABASE_URL", url)
        .spawn()
        .await;
    app.log_in("grace@example.com", "a long enough password")
        .await;
}
