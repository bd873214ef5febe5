//! Sessions end for real, on every instance of a deployment: logout, logout-all, a password
//! change and a secret rotation, seen from another client and another instance sharing the
//! database; and an authenticated request is never answered without the database's word.

use std::time::{Duration, Instant};

use reqwest::{Method, Response, StatusCode};
use secrecy::SecretString;

use crate::{
    backend_tests,
    helpers::{credentials, ApiCommand, Backend, Outage, SharedDatabase, TestApp, TestConfig},
};

const EMAIL: &str = "ada@example.com";
const PASSWORD: &str = "correct horse battery";
const LOGIN: &str = "/api/auth/login";

/// A request to `app` from another client (no cookie store) carrying `cookie` (`name=value`).
async fn with_cookie(app: &TestApp, method: Method, path: &str, cookie: &str) -> Response {
    reqwest::Client::new()
        .request(method, app.url(path))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// `GET /api/me` from another client with `cookie`: its status.
async fn me(app: &TestApp, cookie: &str) -> StatusCode {
    with_cookie(app, Method::GET, "/api/me", cookie)
        .await
        .status()
}

/// Asserts `response` is the JSON error `status` with `code`.
async fn assert_error(response: Response, status: u16, code: &str) {
    assert_eq!(response.status(), status, "expected {status} {code}");
    assert_eq!(response.headers()["content-type"], "application/json");
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], code, "{body}");
}

backend_tests!(
    logout_ends_the_session_for_every_copy_of_its_cookie,
    a_password_change_by_the_cli_ends_the_accounts_sessions,
    logout_all_ends_the_accounts_sessions_made_elsewhere,
    a_revocation_reaches_another_instance_within_a_second,
    a_rotated_secret_accepts_old_sessions_only_while_it_is_configured,
    an_authenticated_request_without_the_database_is_a_503,
);

async fn logout_ends_the_session_for_every_copy_of_its_cookie(backend: Backend) {
    // Arrange: one session, its cookie copied (as a stolen or second-tab cookie would be).
    let db = SharedDatabase::new(backend).await;
    let first = db.instance().spawn().await;
    let second = db.instance().spawn().await;
    first.add_user(EMAIL, PASSWORD).await;
    let cookie = first.log_in(EMAIL, PASSWORD).await;
    assert_eq!(
        me(&first, &cookie).await,
        200,
        "the copy works before logout"
    );
    assert_eq!(me(&second, &cookie).await, 200, "on the other instance too");

    // Act
    let logout = first.post("/api/auth/logout").await;

    // Assert: the cookie is cleared, and the copy no longer works anywhere.
    assert_eq!(logout.status(), 204);
    let cleared = logout.headers()["set-cookie"].to_str().unwrap();
    assert_eq!(
        cleared,
        "rf_session=; HttpOnly; SameSite=Lax; Path=/; Max-Age=0"
    );
    for app in [&first, &second] {
        assert_error(
            with_cookie(app, Method::GET, "/api/me", &cookie).await,
            401,
            "unauthorized",
        )
        .await;
        let session = with_cookie(app, Method::GET, "/api/session", &cookie).await;
        assert_eq!(session.status(), 200);
        let body: serde_json::Value = session.json().await.unwrap();
        assert_eq!(body, serde_json::json!({ "session": null }));
    }
    // Logging out again with the ended session is harmless.
    let again = with_cookie(&second, Method::POST, "/api/auth/logout", &cookie).await;
    assert_eq!(again.status(), 204);
    // A new login is a new session.
    let fresh = first.log_in(EMAIL, PASSWORD).await;
    assert_eq!(me(&second, &fresh).await, 200);
}

async fn a_password_change_by_the_cli_ends_the_accounts_sessions(backend: Backend) {
    // Arrange: two sessions of one account, on two instances.
    let db = SharedDatabase::new(backend).await;
    let first = db.instance().spawn().await;
    let second = db.instance().spawn().await;
    first.add_user(EMAIL, PASSWORD).await;
    let on_first = first.log_in(EMAIL, PASSWORD).await;
    let on_second = second.log_in(EMAIL, PASSWORD).await;
    assert_eq!(me(&second, &on_first).await, 200);

    // Act: an operator replaces the password with the binary, as on Render's shell.
    let output = ApiCommand::new()
        .args(["user", "add", "--email", EMAIL])
        .var("DATABASE_URL", &db.url)
        // Its log lines (PostgreSQL's notices among them) would share stdout with the answer.
        .var("RUST_LOG", "warn")
        .stdin("a brand new password\n")
        .run()
        .await;

    // Assert
    assert_eq!(output.code(), Some(0), "{}", output.stderr);
    assert_eq!(output.stdout, format!("replaced the password of {EMAIL}\n"));
    for app in [&first, &second] {
        assert_eq!(me(app, &on_first).await, 401);
        assert_eq!(me(app, &on_second).await, 401);
    }
    assert_error(
        second.post_json(LOGIN, &credentials(EMAIL, PASSWORD)).await,
        401,
        "invalid_credentials",
    )
    .await;
    let renewed = second.log_in(EMAIL, "a brand new password").await;
    assert_eq!(me(&first, &renewed).await, 200);
}

async fn logout_all_ends_the_accounts_sessions_made_elsewhere(backend: Backend) {
    // Arrange: Ada on a laptop (instance one) and a phone (instance two); Grace elsewhere.
    let db = SharedDatabase::new(backend).await;
    let first = db.instance().spawn().await;
    let second = db.instance().spawn().await;
    first.add_user(EMAIL, PASSWORD).await;
    first.add_user("grace@example.com", PASSWORD).await;
    let laptop = first.log_in(EMAIL, PASSWORD).await;
    let phone = second.log_in(EMAIL, PASSWORD).await;
    let grace = second.log_in("grace@example.com", PASSWORD).await;
    assert_eq!(me(&second, &phone).await, 200);

    // Act: logout-all from the laptop.
    let response = with_cookie(&first, Method::POST, "/api/auth/logout-all", &laptop).await;

    // Assert
    assert_eq!(response.status(), 204);
    assert!(
        response.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .ends_with("Max-Age=0"),
        "the caller's cookie is cleared"
    );
    for app in [&first, &second] {
        assert_eq!(me(app, &phone).await, 401, "the phone's session ended");
        assert_eq!(me(app, &laptop).await, 401, "and the caller's own");
        assert_eq!(me(app, &grace).await, 200, "another account's did not");
    }
    // A logout-all with an ended session is refused, and a new login works.
    assert_error(
        with_cookie(&second, Method::POST, "/api/auth/logout-all", &phone).await,
        401,
        "unauthorized",
    )
    .await;
    let again = second.log_in(EMAIL, PASSWORD).await;
    assert_eq!(me(&first, &again).await, 200);
}

/// Polls `GET /api/me` on `app` with `cookie` until it is 401; how long that took from `since`.
async fn time_until_refused(app: &TestApp, cookie: &str, since: Instant) -> Duration {
    loop {
        let status = me(app, cookie).await;
        let elapsed = since.elapsed();
        if status == 401 {
            return elapsed;
        }
        assert_eq!(status, 200, "the session is either live or ended");
        assert!(
            elapsed < Duration::from_secs(5),
            "still accepted {elapsed:?} after it was ended"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn a_revocation_reaches_another_instance_within_a_second(backend: Backend) {
    // Arrange: a session made on one instance, in use on the other.
    let db = SharedDatabase::new(backend).await;
    let first = db.instance().spawn().await;
    let second = db.instance().spawn().await;
    first.add_user(EMAIL, PASSWORD).await;
    let cookie = first.log_in(EMAIL, PASSWORD).await;
    assert_eq!(me(&second, &cookie).await, 200);

    // Act: logout on the first; measured from its answer to the second's first refusal.
    let logout = with_cookie(&first, Method::POST, "/api/auth/logout", &cookie).await;
    assert_eq!(logout.status(), 204);
    let after_logout = time_until_refused(&second, &cookie, Instant::now()).await;

    // The same for logout-all (the epoch, not the revoked id).
    let cookie = first.log_in(EMAIL, PASSWORD).await;
    assert_eq!(me(&second, &cookie).await, 200);
    let all = with_cookie(&first, Method::POST, "/api/auth/logout-all", &cookie).await;
    assert_eq!(all.status(), 204);
    let after_logout_all = time_until_refused(&second, &cookie, Instant::now()).await;

    // Assert
    eprintln!("{backend:?}: refused by the other instance {after_logout:?} after logout, {after_logout_all:?} after logout-all");
    assert!(after_logout < Duration::from_secs(1), "{after_logout:?}");
    assert!(
        after_logout_all < Duration::from_secs(1),
        "{after_logout_all:?}"
    );
}

async fn a_rotated_secret_accepts_old_sessions_only_while_it_is_configured(backend: Backend) {
    const OLD: &str = "old-secret-0123456789-abcdefghijklmnopqrs";
    const NEW: &str = "new-secret-9876543210-zyxwvutsrqponmlkjih";
    let db = SharedDatabase::new(backend).await;
    // Before the rotation: signed with OLD.
    let before = db.instance().var("SESSION_SECRET", OLD).spawn().await;
    before.add_user(EMAIL, PASSWORD).await;
    let old_cookie = before.log_in(EMAIL, PASSWORD).await;

    // During: NEW signs, OLD still verifies.
    let during = db
        .instance()
        .var("SESSION_SECRET", NEW)
        .var("SESSION_SECRET_PREVIOUS", OLD)
        .spawn()
        .await;
    assert_eq!(
        me(&during, &old_cookie).await,
        200,
        "an old session lives on"
    );
    let new_cookie = during.log_in(EMAIL, PASSWORD).await;

    // After: SESSION_SECRET_PREVIOUS removed.
    let after = db.instance().var("SESSION_SECRET", NEW).spawn().await;
    assert_eq!(me(&after, &old_cookie).await, 401, "an old session is over");
    assert_eq!(
        me(&after, &new_cookie).await,
        200,
        "a new one is signed with NEW"
    );
    assert_eq!(me(&before, &new_cookie).await, 401, "and not with OLD");

    // The token itself: a verifier knowing only NEW accepts it, one knowing only OLD does not.
    let token = new_cookie.split_once('=').unwrap().1;
    let verifier = |secret: &str| {
        api::session::Sessions::new(
            SecretString::from(secret.to_owned()),
            None,
            Duration::from_secs(3600),
            false,
        )
    };
    assert_eq!(verifier(NEW).verify(token).map(|c| c.email).unwrap(), EMAIL);
    assert_eq!(
        verifier(OLD).verify(token),
        Err(api::session::SessionError::BadSignature)
    );
}

async fn an_authenticated_request_without_the_database_is_a_503(backend: Backend) {
    // Arrange
    let (app, mut outage) = Outage::spawn(TestConfig::new(backend)).await;
    app.add_user(EMAIL, PASSWORD).await;
    let cookie = app.log_in(EMAIL, PASSWORD).await;
    assert_eq!(me(&app, &cookie).await, 200);

    // Act: the database goes away.
    outage.cut().await;

    // Assert: a valid cookie is neither trusted (200) nor refused (401): the answer is 503.
    let started = Instant::now();
    for (method, path) in [
        (Method::GET, "/api/me"),
        (Method::GET, "/api/session"),
        (Method::POST, "/api/auth/logout-all"),
    ] {
        assert_error(
            with_cookie(&app, method, path, &cookie).await,
            503,
            "database_unavailable",
        )
        .await;
    }
    let logout = with_cookie(&app, Method::POST, "/api/auth/logout", &cookie).await;
    assert!(
        logout.headers().get("set-cookie").is_none(),
        "a logout that could not be recorded keeps the cookie"
    );
    assert_error(logout, 503, "database_unavailable").await;
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "answered within the acquire timeouts: {:?}",
        started.elapsed()
    );

    // And once it is back, the session is what it was.
    outage.restore().await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while me(&app, &cookie).await != 200 {
        assert!(Instant::now() < deadline, "the session never came back");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
