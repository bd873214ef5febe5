//! The compliance checklist against the real application (every item passes) and against a
//! deliberately broken local deployment, one defect at a time (that item, and only it, fails).

use std::{path::PathBuf, time::Duration};

use axum::{
    extract::Request,
    http::{header, HeaderMap, HeaderValue, StatusCode},
    middleware::{self, Next},
    response::{IntoResponse, Response},
    routing::{get, post},
    Json, Router,
};
use release_check::verify::{verify, Item, Options};

const EMAIL: &str = "ops@example.com";
const PASSWORD: &str = "a long enough password";
const SECRET: &str = "verify-secret-0123456789-abcdefghijklmnop";

fn changelog() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../CHANGELOG.md"))
}

fn options(api: &str, expect_host: &str) -> Options {
    Options {
        api: api.to_owned(),
        frontend: api.to_owned(),
        instances: vec![],
        email: Some(EMAIL.to_owned()),
        password: Some(PASSWORD.to_owned()),
        wait: Duration::from_secs(10),
        forwarded_proto: true,
        expect_host: Some(expect_host.to_owned()),
        changelog: changelog(),
        expect_version: None,
        expect_release: None,
    }
}

fn failed(items: &[Item]) -> Vec<&'static str> {
    items.iter().filter(|i| !i.passed).map(|i| i.id).collect()
}

/// The real API in production mode serving a small frontend build, with an account.
async fn real_app(dir: &std::path::Path) -> String {
    let dist = dir.join("dist");
    std::fs::create_dir_all(&dist).unwrap();
    std::fs::write(
        dist.join("index.html"),
        "<!doctype html><html><head><script>var a = 1;</script></head><body></body></html>",
    )
    .unwrap();
    let vars = [
        ("APP_ENV", "production".to_owned()),
        ("PORT", "0".to_owned()),
        ("HOST", "127.0.0.1".to_owned()),
        ("SESSION_SECRET", SECRET.to_owned()),
        ("DATABASE_URL", format!("sqlite://{}/app.db", dir.display())),
        ("FRONTEND_DIR", dist.display().to_string()),
    ];
    let settings = api::Settings::from_vars(vars).unwrap();
    let app = api::Application::build(settings).await.unwrap();
    let url = format!("http://{}", app.local_addr());
    let db = app.state().db.clone();
    let state = app.state().clone();
    tokio::spawn(app.run_until_stopped());
    state
        .schema
        .ensure_applied(&db, Duration::from_secs(10))
        .await
        .unwrap();
    api::users::upsert(
        &db,
        EMAIL,
        &secrecy::SecretString::from(PASSWORD.to_owned()),
    )
    .await
    .unwrap();
    url
}

#[tokio::test]
async fn every_item_passes_against_the_real_application_and_a_second_instance() {
    // Two instances of one deployment: the same database (where sessions are ended) and secret.
    let dir = tempfile::tempdir().unwrap();
    let first = real_app(dir.path()).await;
    let second = real_app(dir.path()).await;
    let mut options = options(&first, "release-flow-api.onrender.com");
    options.instances = vec![second];

    let items = verify(options).await;

    assert_eq!(failed(&items), Vec::<&str>::new(), "{items:#?}");
    assert_eq!(items.len(), 9);
    let stateless = items.iter().find(|i| i.id == "stateless").unwrap();
    assert!(
        stateless.detail.contains("2 endpoint(s)"),
        "{}",
        stateless.detail
    );
}

#[tokio::test]
async fn missing_credentials_fail_the_login_item_and_say_how_to_pass_them() {
    let dir = tempfile::tempdir().unwrap();
    let url = real_app(dir.path()).await;
    let mut options = options(&url, "release-flow-api.onrender.com");
    options.password = None;
    let items = verify(options).await;
    let login = items.iter().find(|i| i.id == "login-warmup").unwrap();
    assert!(!login.passed);
    assert!(login.detail.contains("RELEASE_CHECK_PASSWORD"));
}

/// One thing wrong with an otherwise compliant deployment.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Defect {
    None,
    Health500,
    NoHsts,
    RedirectElsewhere,
    AffinityCookie,
    WarmupFailing,
    /// The static host's SPA fallback answers a missing asset with index.html.
    SpaForMissingAsset,
}

const FAKE_HOST: &str = "app.example.com";

async fn fake_deployment(defect: Defect) -> String {
    let router = Router::new()
        .route("/health", get(move || async move { if defect == Defect::Health500 { StatusCode::INTERNAL_SERVER_ERROR } else { StatusCode::OK } }))
        .route("/api/health", get(|| async { Json(serde_json::json!({ "status": "pass", "version": "0.1.0", "instanceId": "fake-1", "checks": {} })) }))
        .route("/", get(|| async { ([(header::CONTENT_TYPE, "text/html")], "<!doctype html><title>fake</title>") }))
        .route(
            "/api/auth/login",
            post(|| async { ([(header::SET_COOKIE, "__Host-rf_session=fake-token; Path=/; HttpOnly; Secure; SameSite=Lax")], Json(serde_json::json!({ "user": { "id": 1, "email": EMAIL } }))) }),
        )
        .route(
            "/api/warmup",
            post(move || async move {
                if defect == Defect::WarmupFailing {
                    (StatusCode::SERVICE_UNAVAILABLE, Json(serde_json::json!({ "status": "failed", "steps": [] })))
                } else {
                    (StatusCode::OK, Json(serde_json::json!({ "status": "warm", "served": "ran", "steps": [] })))
                }
            }),
        )
        .route(
            "/api/me",
            get(|headers: HeaderMap| async move {
                let ok = headers.get(header::COOKIE).and_then(|c| c.to_str().ok()).is_some_and(|c| c.contains("rf_session=fake-token"));
                let status = if ok { StatusCode::OK } else { StatusCode::UNAUTHORIZED };
                (status, Json(serde_json::json!({ "user": { "id": 1, "email": EMAIL } }))).into_response()
            }),
        )
        .fallback(move || async move {
            if defect == Defect::SpaForMissingAsset {
                ([(header::CONTENT_TYPE, "text/html"), (header::CACHE_CONTROL, "public, max-age=31536000, immutable")], "<!doctype html><script src=\"/assets/app.js\"></script>").into_response()
            } else {
                StatusCode::NOT_FOUND.into_response()
            }
        })
        .layer(middleware::from_fn(move |request: Request, next: Next| edge(defect, request, next)));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    url
}

/// What a compliant edge does: redirect plain HTTP, add HSTS and the security headers.
async fn edge(defect: Defect, request: Request, next: Next) -> Response {
    let proto = request
        .headers()
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    if proto == "http" && request.uri().path() != "/health" {
        let host = if defect == Defect::RedirectElsewhere {
            "evil.example"
        } else {
            FAKE_HOST
        };
        let location = format!(
            "https://{host}{}",
            request.uri().path_and_query().map_or("/", |p| p.as_str())
        );
        return (
            StatusCode::MOVED_PERMANENTLY,
            [(header::LOCATION, location)],
        )
            .into_response();
    }
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    for (name, value) in [
        (
            "content-security-policy",
            "default-src 'self'; script-src 'self'; frame-ancestors 'none'",
        ),
        ("x-content-type-options", "nosniff"),
        ("referrer-policy", "no-referrer"),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    if defect != Defect::NoHsts && proto == "https" {
        headers.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000"),
        );
    }
    if defect == Defect::AffinityCookie {
        headers.append(
            header::SET_COOKIE,
            HeaderValue::from_static("AWSALB=instance-7; Path=/"),
        );
    }
    response
}

async fn failures_with(defect: Defect) -> Vec<&'static str> {
    let url = fake_deployment(defect).await;
    let mut options = options(&url, FAKE_HOST);
    options.wait = Duration::ZERO;
    failed(&verify(options).await)
}

#[tokio::test]
async fn the_compliant_fake_passes_every_item() {
    assert_eq!(failures_with(Defect::None).await, Vec::<&str>::new());
}

#[tokio::test]
async fn a_failing_health_check_is_caught() {
    assert_eq!(failures_with(Defect::Health500).await, ["health"]);
}

#[tokio::test]
async fn missing_hsts_is_caught() {
    assert_eq!(failures_with(Defect::NoHsts).await, ["https"]);
}

#[tokio::test]
async fn a_redirect_to_another_host_is_caught() {
    assert_eq!(failures_with(Defect::RedirectElsewhere).await, ["https"]);
}

#[tokio::test]
async fn an_affinity_cookie_is_caught() {
    assert_eq!(failures_with(Defect::AffinityCookie).await, ["stateless"]);
}

#[tokio::test]
async fn a_failing_warmup_is_caught() {
    assert_eq!(failures_with(Defect::WarmupFailing).await, ["login-warmup"]);
}

#[tokio::test]
async fn an_spa_fallback_over_missing_assets_is_caught() {
    assert_eq!(
        failures_with(Defect::SpaForMissingAsset).await,
        ["missing-asset"]
    );
}

/// A static site as render.yaml shipped it before the /api proxy: every path is the SPA's
/// index.html, so a login posted to the page's own origin never reaches the API.
async fn static_site_without_api_proxy() -> String {
    let html = || async {
        (
            [(header::CONTENT_TYPE, "text/html")],
            "<!doctype html><script type=\"module\" src=\"/assets/app.js\"></script>",
        )
    };
    let router = Router::new().fallback(html);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    url
}

#[tokio::test]
async fn a_frontend_origin_that_does_not_reach_the_api_fails_the_frontend_login() {
    let api = fake_deployment(Defect::None).await;
    let mut options = options(&api, FAKE_HOST);
    options.wait = Duration::ZERO;
    options.frontend = static_site_without_api_proxy().await;
    let items = verify(options).await;
    let login = items.iter().find(|i| i.id == "frontend-login").unwrap();
    assert!(!login.passed);
    assert!(
        login.detail.contains("does not pass /api/* to the API"),
        "{}",
        login.detail
    );
    // Logging in at the API directly still works: only the frontend's origin is broken.
    assert!(
        items
            .iter()
            .find(|i| i.id == "login-warmup")
            .unwrap()
            .passed
    );
}

/// The binary as a workflow step runs it: `--json` on standard output, and the checklist
/// appended as Markdown to the file `GITHUB_STEP_SUMMARY` names, after what earlier steps wrote.
#[tokio::test]
async fn the_binary_prints_json_and_appends_the_checklist_to_the_job_summary() {
    let url = fake_deployment(Defect::WarmupFailing).await;
    let dir = tempfile::tempdir().unwrap();
    let summary = dir.path().join("step-summary.md");
    std::fs::write(&summary, "## Deploy\n\nDeployed.\n\n").unwrap();
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_release-check"))
        .args([
            "verify",
            "--api",
            &url,
            "--frontend",
            &url,
            "--email",
            EMAIL,
        ])
        .args(["--forwarded-proto", "--expect-host", FAKE_HOST, "--json"])
        .arg("--changelog")
        .arg(changelog())
        .env("RELEASE_CHECK_PASSWORD", PASSWORD)
        .env("GITHUB_STEP_SUMMARY", &summary)
        .output()
        .await
        .unwrap();

    assert_eq!(output.status.code(), Some(1), "one item fails");
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(json["ok"], false);
    let items = json["items"].as_array().unwrap();
    assert_eq!(items.len(), 9);
    let failed: Vec<_> = items
        .iter()
        .filter(|i| i["passed"] == false)
        .map(|i| i["id"].as_str().unwrap())
        .collect();
    assert_eq!(failed, ["login-warmup"]);
    assert!(items
        .iter()
        .all(|i| i["title"].is_string() && i["detail"].is_string() && i["durationMs"].is_u64()));

    let markdown = std::fs::read_to_string(&summary).unwrap();
    assert!(
        markdown.starts_with(
            "## Deploy\n\nDeployed.\n\n### Compliance checklist: 8 of 9 passed (1 failed)\n"
        ),
        "{markdown}"
    );
    assert!(markdown.contains(&format!("Target: `{url}`")), "{markdown}");
    assert!(
        markdown.contains("| ❌ | Login triggers warmup without errors | "),
        "{markdown}"
    );
    assert!(
        markdown.contains("| ✅ | Health check green | "),
        "{markdown}"
    );
    assert_eq!(
        markdown.matches("\n| ✅ |").count() + markdown.matches("\n| ❌ |").count(),
        9
    );
}

#[tokio::test]
async fn a_deployment_reporting_another_version_or_commit_fails_readiness() {
    // Right after a deploy an old instance may still answer: the checklist must not pass on it.
    // A deployment each (its own database), so the logins stay within the account's budget.
    async fn run(version: Option<&str>, release: Option<&str>) -> Vec<Item> {
        let dir = tempfile::tempdir().unwrap();
        let api = real_app(dir.path()).await;
        let mut expecting = options(&api, "release-flow-api.onrender.com");
        expecting.expect_version = version.map(|v| semver::Version::parse(v).unwrap());
        expecting.expect_release = release.map(str::to_owned);
        verify(expecting).await
    }
    let this_version = env!("CARGO_PKG_VERSION");
    assert_eq!(
        failed(&run(Some(this_version), None).await),
        Vec::<&str>::new()
    );

    let items = run(Some("9.9.9"), None).await;
    assert_eq!(failed(&items), vec!["readiness"], "{items:#?}");
    let readiness = items.iter().find(|i| i.id == "readiness").unwrap();
    assert!(
        readiness.detail.contains("not 9.9.9"),
        "{}",
        readiness.detail
    );

    let other_commit = "0123456789abcdef0123456789abcdef01234567";
    assert_eq!(
        failed(&run(None, Some(other_commit)).await),
        vec!["readiness"]
    );
}
