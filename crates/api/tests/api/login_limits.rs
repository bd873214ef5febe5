//! Login limits and the password hasher under load, as a deployment sees them: one budget per
//! account and per client address shared by every instance and kept across a deploy; the client
//! address taken only from what the trusted proxies wrote; a bounded number of argon2 runs at
//! once; and no login at all while the limits cannot be read.

use std::time::{Duration, Instant};

use api::rate_limit::{PER_ACCOUNT_PER_MINUTE, PER_ADDRESS_PER_MINUTE};
use reqwest::{Method, Response};

use crate::{
    backend_tests,
    helpers::{credentials, set_read_only, Backend, Outage, SharedDatabase, TestApp, TestConfig},
};

const EMAIL: &str = "ada@example.com";
const PASSWORD: &str = "correct horse battery";
const LOGIN: &str = "/api/auth/login";
/// Where Render's balancer says it got the request from: the right-most `X-Forwarded-For` entry.
const EDGE: &str = "104.16.0.1";
/// The static host whose /api proxy wrote the client: an address in Cloudflare's ranges, which
/// production's `forwarded_for_networks` trusts.
const STATIC_HOST: &str = "162.158.0.9";

backend_tests!(
    instances_share_the_account_budget_and_a_deploy_does_not_reset_it,
    a_non_address_in_the_forwarded_chain_is_counted_against_the_tcp_peer,
    logins_beyond_the_hash_slots_are_401_or_busy_and_none_hangs,
    while_the_limits_cannot_be_read_every_login_is_a_503,
    while_the_limits_cannot_be_written_a_readable_account_still_gets_a_503,
);

/// The JSON error code of `response`, after checking it is JSON.
async fn error_code(response: Response) -> String {
    assert_eq!(response.headers()["content-type"], "application/json");
    let body: serde_json::Value = response.json().await.unwrap();
    body["error"]["code"].as_str().unwrap().to_owned()
}

/// `Retry-After` in whole seconds; panics if it is absent or not a number.
fn retry_after(response: &Response) -> u64 {
    response
        .headers()
        .get("retry-after")
        .expect("Retry-After")
        .to_str()
        .unwrap()
        .parse()
        .expect("Retry-After in seconds")
}

/// Seconds between two attempts a budget of `per_minute` refills (GCRA's emission interval).
fn interval(per_minute: u32) -> u64 {
    60 / u64::from(per_minute)
}

/// Wrong-password attempts on `EMAIL`, taking turns between `apps`, until one is refused: its
/// number (from 1), the 429 itself, and how long it took from the first attempt's sending.
async fn attempts_until_limited(apps: &[&TestApp]) -> (u32, Response, Duration) {
    let started = Instant::now();
    for attempt in 1..=PER_ACCOUNT_PER_MINUTE * 3 {
        let app = apps[(attempt as usize - 1) % apps.len()];
        let response = app
            .post_json(LOGIN, &credentials(EMAIL, "not the password"))
            .await;
        if response.status() == 429 {
            return (attempt, response, started.elapsed());
        }
        assert_eq!(response.status(), 401, "attempt {attempt}");
    }
    panic!("never limited");
}

async fn instances_share_the_account_budget_and_a_deploy_does_not_reset_it(backend: Backend) {
    let budget = PER_ACCOUNT_PER_MINUTE;
    let refill = interval(PER_ACCOUNT_PER_MINUTE);

    // One instance on its own: the reference.
    let alone = SharedDatabase::new(backend).await;
    let single = alone.instance().spawn().await;
    single.add_user(EMAIL, PASSWORD).await;
    let (alone_at, _, alone_took) = attempts_until_limited(&[&single]).await;

    // Two instances of one deployment, attempts alternating between them.
    let db = SharedDatabase::new(backend).await;
    let first = db.instance().spawn().await;
    let second = db.instance().spawn().await;
    first.add_user(EMAIL, PASSWORD).await;
    let (shared_at, limited, took) = attempts_until_limited(&[&first, &second]).await;

    // The arithmetic below holds while no refill (one attempt per `refill` seconds) came due.
    assert!(
        alone_took < Duration::from_secs(refill) && took < Duration::from_secs(refill),
        "attempts took {alone_took:?} and {took:?}; a budget refills every {refill} s"
    );
    assert_eq!(alone_at, budget + 1, "alone, the budget is {budget}");
    assert_eq!(
        shared_at, alone_at,
        "two instances give no more attempts than one"
    );
    let wait = retry_after(&limited);
    assert!(
        wait <= refill && wait as f64 >= refill as f64 - took.as_secs_f64(),
        "Retry-After {wait} s, {took:?} after a full budget of {budget} per minute"
    );
    assert_eq!(error_code(limited).await, "rate_limited");
    // The instance that did not refuse refuses too, even the right password.
    let other = [&first, &second][shared_at as usize % 2];
    let refused = other.post_json(LOGIN, &credentials(EMAIL, PASSWORD)).await;
    assert_eq!(refused.status(), 429);

    // A deploy: both instances stop and new ones start on the same database.
    first.stop().await;
    second.stop().await;
    let third = db.instance().spawn().await;
    let fourth = db.instance().spawn().await;
    for app in [&third, &fourth] {
        let response = app.post_json(LOGIN, &credentials(EMAIL, PASSWORD)).await;
        assert_eq!(response.status(), 429, "the budget outlived the instances");
        let after_deploy = retry_after(&response);
        assert!(
            (1..=wait).contains(&after_deploy),
            "Retry-After {after_deploy} s after the deploy, {wait} s before"
        );
        assert_eq!(error_code(response).await, "rate_limited");
    }
}

/// A login to a production instance as Render delivers it: over HTTPS, with `forwarded_for` as
/// the `X-Forwarded-For` chain (none if `None`), for an email that does not exist.
async fn login_through_the_edge(
    app: &TestApp,
    forwarded_for: Option<&str>,
    email: &str,
) -> Response {
    let mut request = app
        .request(Method::POST, LOGIN)
        .header("x-forwarded-proto", "https")
        .json(&credentials(email, "not the password"));
    if let Some(chain) = forwarded_for {
        request = request.header("x-forwarded-for", chain);
    }
    request.send().await.unwrap()
}

async fn a_non_address_in_the_forwarded_chain_is_counted_against_the_tcp_peer(backend: Backend) {
    // Arrange: production trusts Render's two hops (Cloudflare, Render's balancer) and a static
    // host's proxy in Cloudflare's networks in front of them; the entry left of it is the client's.
    let app = TestConfig::new(backend)
        .var("APP_ENV", "production")
        .spawn()
        .await;
    app.wait_for_readiness("pass", Duration::from_secs(10))
        .await;
    let budget = PER_ADDRESS_PER_MINUTE;
    let refill = interval(PER_ADDRESS_PER_MINUTE);

    // Act: every attempt writes a new address of its own where the static host should have
    // written the client's, which reads `unknown`; and a new email each time, so no account limit bites.
    let started = Instant::now();
    let mut limited = None;
    for attempt in 1..=budget * 2 {
        let chain = format!("198.51.100.{attempt}, unknown, {STATIC_HOST}, {EDGE}");
        let response =
            login_through_the_edge(&app, Some(&chain), &format!("user{attempt}@example.com")).await;
        if response.status() == 429 {
            limited = Some((attempt, response));
            break;
        }
        assert_eq!(response.status(), 401, "attempt {attempt}");
    }
    let took = started.elapsed();

    // Assert: one budget, the TCP peer's, whatever the client wrote.
    let (limited_at, response) =
        limited.expect("client-written entries must not give each attempt a fresh budget");
    let refills = took.as_secs() / refill;
    assert!(
        (budget + 1..=budget + 1 + refills as u32).contains(&limited_at),
        "limited at attempt {limited_at}, {took:?} after the first (budget {budget}, one more every {refill} s)"
    );
    assert!((1..=refill).contains(&retry_after(&response)));
    assert_eq!(error_code(response).await, "rate_limited");
    for (chain, why) in [
        (
            Some(format!("192.0.2.77, unknown, {STATIC_HOST}, {EDGE}")),
            "yet another client-written address",
        ),
        (
            Some(format!("203.0.113.9, unknown, {STATIC_HOST}, {EDGE}")),
            "an address that has its budget",
        ),
        (None, "no X-Forwarded-For: the TCP peer itself"),
    ] {
        let response = login_through_the_edge(&app, chain.as_deref(), "late@example.com").await;
        assert_eq!(response.status(), 429, "{why}");
    }
    // A client address the proxies did write is a budget of its own.
    let proper = format!("192.0.2.77, 203.0.113.9, {STATIC_HOST}, {EDGE}");
    let response = login_through_the_edge(&app, Some(&proper), "late@example.com").await;
    assert_eq!(response.status(), 401);
}

async fn logins_beyond_the_hash_slots_are_401_or_busy_and_none_hangs(backend: Backend) {
    // Arrange: one hashing slot; a burst of logins from distinct clients (so no rate limit
    // applies), far more than one slot can verify within the 2 s a login waits for it.
    const LOGINS: usize = 200;
    let app = TestConfig::new(backend)
        .var("APP_ENV", "production")
        .var("PASSWORD_HASH_CONCURRENCY", "1")
        .spawn()
        .await;
    app.add_user(EMAIL, PASSWORD).await;
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(15))
        .build()
        .unwrap();

    // Act
    let logins = (0..LOGINS).map(|i| {
        let client = client.clone();
        // Ada with a wrong password, and emails that do not exist (verified against the dummy).
        let email = if i == 0 {
            EMAIL.to_owned()
        } else {
            format!("user{i}@example.com")
        };
        let request = client
            .post(app.url(LOGIN))
            .header("x-forwarded-proto", "https")
            .header(
                "x-forwarded-for",
                format!("2001:db8:{i:x}::1, {STATIC_HOST}, {EDGE}"),
            )
            .json(&credentials(&email, "not the password"));
        async move {
            let sent = Instant::now();
            let answer = async {
                let response = request.send().await?;
                let status = response.status().as_u16();
                let retry_after = response.headers().get("retry-after").cloned();
                let body: serde_json::Value = response.json().await?;
                Ok::<_, reqwest::Error>((status, retry_after, body))
            };
            (answer.await, sent.elapsed())
        }
    });
    let answers = futures::future::join_all(logins).await;

    // Assert
    let (mut refused, mut busy) = (0, 0);
    for (i, (answer, took)) in answers.into_iter().enumerate() {
        let (status, retry_after, body) =
            answer.unwrap_or_else(|e| panic!("login {i} got no answer in {took:?}: {e}"));
        match (status, body["error"]["code"].as_str()) {
            (401, Some("invalid_credentials")) => refused += 1,
            (503, Some("busy")) => {
                let retry_after = retry_after.as_ref().map(|v| v.to_str().unwrap());
                assert_eq!(retry_after, Some("2"), "login {i}: Retry-After");
                busy += 1;
            }
            _ => panic!("login {i}: {status} {body}"),
        }
        assert!(took < Duration::from_secs(10), "login {i} took {took:?}");
    }
    eprintln!("{backend:?}: {refused} refused (401), {busy} busy (503) of {LOGINS}");
    assert!(refused > 0, "the slot verified some");
    assert!(
        busy > 0,
        "one slot cannot verify {LOGINS} logins within 2 s"
    );
}

async fn while_the_limits_cannot_be_read_every_login_is_a_503(backend: Backend) {
    // Arrange
    let (app, mut outage) = Outage::spawn(TestConfig::new(backend)).await;
    app.add_user(EMAIL, PASSWORD).await;

    // Act: the database (which holds the limits) goes away.
    outage.cut().await;

    // Assert: whatever the credentials, no login is let through unlimited, none is refused as
    // if checked: a JSON 503. (The limits are the first thing a login reads, so here the account
    // lookup is down too; the next test takes away only the limits.)
    for (email, password) in [
        (EMAIL, PASSWORD),
        (EMAIL, "not the password"),
        ("nobody@example.com", PASSWORD),
    ] {
        let response = app.post_json(LOGIN, &credentials(email, password)).await;
        assert_eq!(response.status(), 503, "{email} / {password}");
        assert!(response.headers().get("set-cookie").is_none());
        assert_eq!(error_code(response).await, "database_unavailable");
    }

    // Once the database is back, the right password logs in.
    outage.restore().await;
    app.wait_for_readiness("pass", Duration::from_secs(10))
        .await;
    app.log_in(EMAIL, PASSWORD).await;
}

async fn while_the_limits_cannot_be_written_a_readable_account_still_gets_a_503(backend: Backend) {
    // The database reachable, the accounts readable, only the limits' write refused (a read-only
    // disk or a standby): an implementation that let unchecked attempts through would answer
    // 401 or 200 here, since the account lookup and the hash still work.
    const POOL: u32 = 2;
    let app = TestConfig::new(backend)
        .var("DATABASE_MAX_CONNECTIONS", POOL.to_string())
        .var("RENDER", "true") // no demo account written in the background
        .spawn()
        .await;
    app.add_user(EMAIL, PASSWORD).await;
    set_read_only(&app.db, POOL, true).await;

    for (email, password) in [(EMAIL, PASSWORD), ("nobody@example.com", PASSWORD)] {
        let response = app.post_json(LOGIN, &credentials(email, password)).await;
        assert_eq!(response.status(), 503, "{email}");
        assert!(response.headers().get("set-cookie").is_none());
        assert_eq!(error_code(response).await, "database_unavailable");
    }

    set_read_only(&app.db, POOL, false).await;
    app.log_in(EMAIL, PASSWORD).await;
}
