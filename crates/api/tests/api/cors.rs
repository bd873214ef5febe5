//! CORS (Fetch standard, "CORS protocol"; RFC 6454 §7 for `Origin`) on every answer under `/api`
//! to an allowed origin, whichever layer made it: the handler, the router's 404 and 405, the
//! body limit's 413 (declared by Content-Length, or found while reading a chunked body), the
//! rate limit's 429, and — from a test router inside the real layer stack — the timeout's 503,
//! a panic's 500 and the CSRF guard's 403. Otherwise a cross-origin frontend sees a network error
//! instead of the JSON error. None for an origin not allowed, none outside `/api`.
//!
//! Over 400 lines: one test per answer kind, each asserted for an allowed and a foreign origin.

use std::{sync::Arc, time::Duration};

use api::{
    config::Settings,
    edge::Edge,
    http::stack::with_layers,
    server::{self, ConnectionLimits},
};
use axum::{
    http::StatusCode,
    routing::{get, post},
    Router,
};
use reqwest::Method;

use crate::helpers::{credentials, exchange, Backend, Dist, RawResponse, TestApp, TestConfig};

const FRONTEND: &str = "https://release-flow-web.onrender.com";
const OTHER: &str = "https://evil.example";

/// What an answer to a request from `origin` must carry: the origin echoed, credentials allowed,
/// and `Vary: origin` (the answer depends on it, so a cache must not give it to another origin).
fn assert_cors(headers: &[(String, String)], origin: &str, what: &str) {
    let get = |name: &str| -> Vec<&str> {
        headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    };
    assert_eq!(get("access-control-allow-origin"), [origin], "{what}");
    assert_eq!(get("access-control-allow-credentials"), ["true"], "{what}");
    assert!(
        get("vary").iter().any(|v| v
            .split(',')
            .any(|t| t.trim().eq_ignore_ascii_case("origin"))),
        "{what}: Vary should name origin, got {:?}",
        get("vary")
    );
}

/// No permission for the page to read the answer: no `Access-Control-Allow-Origin`, so the
/// browser's CORS check fails and the page gets a network error. (tower-http sends
/// `Access-Control-Allow-Credentials: true` on every answer; without an allowed origin it grants
/// nothing, as the Fetch standard checks the origin first.)
fn assert_no_cors(headers: &[(String, String)], what: &str) {
    for (name, value) in headers {
        assert!(
            name != "access-control-allow-origin",
            "{what}: {name}: {value}"
        );
    }
}

fn pairs(response: &reqwest::Response) -> Vec<(String, String)> {
    response
        .headers()
        .iter()
        .map(|(n, v)| (n.as_str().to_owned(), v.to_str().unwrap_or("").to_owned()))
        .collect()
}

/// A production instance (the policy's frontend origin allowed) with a 1 KiB body limit.
async fn production() -> TestApp {
    TestConfig::new(Backend::Sqlite)
        .var("APP_ENV", "production")
        .var("BODY_LIMIT_BYTES", "1024")
        .spawn()
        .await
}

/// `method path` from `origin` through the app's client (HTTPS as far as the proxy says).
async fn from(app: &TestApp, origin: &str, method: Method, path: &str) -> reqwest::Response {
    app.request(method, path)
        .header("origin", origin)
        .header("x-forwarded-proto", "https")
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn handler_router_and_error_answers_carry_cors_for_an_allowed_origin() {
    let app = production().await;
    app.wait_for_readiness("pass", Duration::from_secs(10))
        .await;
    // (method, path, status for the frontend, who made it, status for another origin): an
    // unsafe method from another origin is the CSRF guard's 403 (RFC 9110 §15.5.4) instead.
    let cases = [
        (Method::GET, "/api/health", 200, "a handler", 200),
        (Method::GET, "/api/session", 200, "a handler", 200),
        (Method::GET, "/api/openapi.json", 200, "a handler", 200),
        (Method::GET, "/api/me", 401, "the session extractor", 401),
        (Method::GET, "/api/nope", 404, "the API's fallback", 404),
        (Method::GET, "/api", 404, "the API's fallback", 404),
        (Method::GET, "/api/warmup", 405, "the method router", 405),
        (Method::DELETE, "/api/health", 405, "the method router", 403),
        (
            Method::POST,
            "/api/auth/login",
            415,
            "the JSON extractor",
            403,
        ),
        (Method::POST, "/api/nope", 404, "the API's fallback", 403),
    ];
    for (method, path, status, who, other_status) in cases {
        let what = format!("{method} {path} ({who})");
        let allowed = from(&app, FRONTEND, method.clone(), path).await;
        assert_eq!(allowed.status(), status, "{what}");
        assert_cors(&pairs(&allowed), FRONTEND, &what);
        let other = from(&app, OTHER, method, path).await;
        assert_eq!(other.status(), other_status, "{what}, other origin");
        assert_no_cors(&pairs(&other), &what);
    }
}

#[tokio::test]
async fn a_413_carries_cors_whether_the_length_was_declared_or_chunked_rfc9110_15_5_14() {
    let app = production().await;
    let body = "x".repeat(4096);
    for origin in [FRONTEND, OTHER] {
        // Declared: Content-Length says 4096 > 1024, refused before the body is read.
        let declared = format!(
            "POST /api/auth/login HTTP/1.1\r\nHost: x\r\nOrigin: {origin}\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        // Chunked: no length up front; the limit trips while the body is read.
        let mut chunked = format!(
            "POST /api/auth/login HTTP/1.1\r\nHost: x\r\nOrigin: {origin}\r\n\
             Content-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
        );
        for piece in body.as_bytes().chunks(512) {
            chunked.push_str(&format!(
                "{:x}\r\n{}\r\n",
                piece.len(),
                std::str::from_utf8(piece).unwrap()
            ));
        }
        chunked.push_str("0\r\n\r\n");
        for (how, request) in [("content-length", declared), ("chunked", chunked)] {
            let response: RawResponse = exchange(app.socket_addr(), request.as_bytes()).await;
            let what = format!("{how} from {origin}");
            // A chunked body trips the limit only when read: from another origin, the CSRF
            // guard (inside the limit) refuses the request before anything reads it.
            let (status, code) = if origin == OTHER && how == "chunked" {
                (403, "cross_site_request")
            } else {
                (413, "payload_too_large")
            };
            assert_eq!(response.status, status, "{what}: {response:?}");
            assert_eq!(response.json()["error"]["code"], code, "{what}");
            if origin == FRONTEND {
                assert_cors(&response.headers, origin, &what);
            } else {
                assert_no_cors(&response.headers, &what);
            }
        }
    }
}

#[tokio::test]
async fn a_429_carries_cors_rfc6585_4() {
    let app = production().await;
    app.wait_for_readiness("pass", Duration::from_secs(10))
        .await;
    let mut last = None;
    for _ in 0..=api::rate_limit::PER_ACCOUNT_PER_MINUTE {
        last = Some(
            app.request(Method::POST, "/api/auth/login")
                .header("origin", FRONTEND)
                .json(&credentials("ada@example.com", "wrong password"))
                .send()
                .await
                .unwrap(),
        );
    }
    let limited = last.unwrap();
    assert_eq!(limited.status(), 429);
    assert!(limited.headers().contains_key("retry-after"));
    assert_cors(&pairs(&limited), FRONTEND, "429");
    // Fetch standard, "CORS-safelisted response-header name": Retry-After is not one, so the
    // page reads it only when the answer exposes it.
    assert_eq!(
        limited.headers()["access-control-expose-headers"],
        "retry-after"
    );
}

#[tokio::test]
async fn every_spelling_of_the_api_carries_cors_for_an_allowed_origin() {
    let app = production().await;
    for path in [
        "//api/nothing",
        "/API/nothing",
        "/%61pi/nothing",
        "/x/../api/nothing",
    ] {
        let response = app
            .raw(
                "GET",
                path,
                &[("origin", FRONTEND), ("x-forwarded-proto", "https")],
            )
            .await;
        assert_eq!(response.status, 404, "{path}");
        assert_cors(&response.headers, FRONTEND, path);
    }
}

#[tokio::test]
async fn nothing_outside_the_api_carries_cors_even_for_an_allowed_origin() {
    // Documents and assets stay free of `Vary: origin`, which would split every cache by origin.
    let dist = Dist::new();
    let app = TestConfig::new(Backend::Sqlite)
        .var("APP_ENV", "production")
        .var("FRONTEND_DIR", dist.path().to_str().unwrap())
        .spawn()
        .await;
    for (method, path, status) in [
        (Method::GET, "/", 200),
        (Method::GET, "/reports/q3", 200),
        (Method::GET, crate::helpers::dist::SCRIPT_URL, 200),
        (Method::GET, "/assets/missing-0000.js", 404),
        (Method::GET, "/health", 200),
        (Method::GET, "/metrics", 404),
        (Method::GET, "/login", 301),
        (Method::POST, "/reports", 405),
        (Method::GET, "/apis", 200),
    ] {
        let what = format!("{method} {path}");
        let response = from(&app, FRONTEND, method, path).await;
        assert_eq!(response.status(), status, "{what}");
        let headers = pairs(&response);
        assert_no_cors(&headers, &what);
        assert!(
            headers
                .iter()
                .all(|(n, v)| n != "vary" || !v.to_ascii_lowercase().contains("origin")),
            "{what}: {headers:?}"
        );
    }
}

#[tokio::test]
async fn the_origin_is_compared_byte_for_byte_rfc6454_7() {
    // Browsers serialise an origin one way (RFC 6454 §6.2: lower-case scheme and host, no
    // default port, no path); anything else is another origin. OWS around a field value is not
    // part of it (RFC 9110 §5.5).
    let app = production().await;
    let allowed = |v: &str| (v.to_owned(), true);
    let refused = |v: &str| (v.to_owned(), false);
    for (origin, expected) in [
        allowed(FRONTEND),
        allowed(&format!("   {FRONTEND}  ")),
        refused("HTTPS://release-flow-web.onrender.com"),
        refused("https://Release-Flow-Web.onrender.com"),
        refused("https://release-flow-web.onrender.com/"),
        refused("https://release-flow-web.onrender.com:443"),
        refused("http://release-flow-web.onrender.com"),
        refused(&format!("{FRONTEND}, {OTHER}")),
        refused("https://release-flow-web-dev.onrender.com"),
        refused("https://release-flow-api.onrender.com"),
        refused("null"),
        refused(""),
    ] {
        let response = app.raw("GET", "/api/health", &[("origin", &origin)]).await;
        if expected {
            assert_cors(&response.headers, FRONTEND, &origin);
        } else {
            assert_no_cors(&response.headers, &origin);
        }
    }
    // Origin is a single value; a browser never sends two. Of two field lines, the first is
    // the one read.
    let first_allowed = app
        .raw(
            "GET",
            "/api/health",
            &[("origin", FRONTEND), ("origin", OTHER)],
        )
        .await;
    assert_cors(&first_allowed.headers, FRONTEND, "two lines, allowed first");
    let first_other = app
        .raw(
            "GET",
            "/api/health",
            &[("origin", OTHER), ("origin", FRONTEND)],
        )
        .await;
    assert_no_cors(&first_other.headers, "two lines, other first");
}

#[tokio::test]
async fn a_preflight_answers_for_the_allowed_origin_only() {
    let app = production().await;
    for (origin, allowed) in [(FRONTEND, true), (OTHER, false)] {
        for path in ["/api/auth/login", "/api/nope"] {
            let response = app
                .raw(
                    "OPTIONS",
                    path,
                    &[
                        ("origin", origin),
                        ("access-control-request-method", "POST"),
                        ("access-control-request-headers", "content-type"),
                    ],
                )
                .await;
            let what = format!("preflight {path} from {origin}");
            assert_eq!(response.status, 200, "{what}");
            if allowed {
                assert_cors(&response.headers, origin, &what);
                assert_eq!(
                    response.header("access-control-allow-methods"),
                    Some("GET,POST")
                );
                assert_eq!(
                    response.header("access-control-allow-headers"),
                    Some("content-type")
                );
                assert_eq!(response.header("access-control-max-age"), Some("600"));
            } else {
                assert_no_cors(&response.headers, &what);
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The layers a product route cannot trigger on demand: a test router inside the real stack
// ---------------------------------------------------------------------------------------------

/// Serves `routes` inside the production layer stack (`with_layers`) on the real accept loop,
/// with a 1 s request timeout; `edge` may adjust the resolved policy first.
async fn stacked(routes: Router, edge: impl FnOnce(&mut Edge)) -> std::net::SocketAddr {
    let settings = Settings::from_vars([
        ("APP_ENV", "production"),
        (
            "SESSION_SECRET",
            "test-secret-0123456789-abcdefghijklmnopqrstuvwxyz",
        ),
        ("REQUEST_TIMEOUT_SECS", "1"),
    ])
    .expect("valid settings");
    let mut resolved = Edge::resolve(&settings.policy, settings.env, &[]).unwrap();
    edge(&mut resolved);
    let service = with_layers(routes, &settings.server, &Arc::new(resolved));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let limits = ConnectionLimits {
        header_read_timeout: Duration::from_secs(5),
    };
    tokio::spawn(server::serve(
        listener,
        service,
        limits,
        server::Shutdown::default(),
    ));
    address
}

async fn slow() -> &'static str {
    tokio::time::sleep(Duration::from_secs(30)).await;
    "too late"
}

async fn boom() -> &'static str {
    panic!("a bug in a handler")
}

fn test_routes() -> Router {
    Router::new()
        .route("/api/slow", get(slow))
        .route("/api/boom", get(boom))
        .route("/api/echo", post(|| async { StatusCode::NO_CONTENT }))
        .route("/slow", get(slow))
        .route("/boom", get(boom))
}

#[tokio::test]
async fn the_timeouts_503_and_a_panics_500_carry_cors_rfc9110_15_6_4_and_15_6_1() {
    let address = stacked(test_routes(), |_| {}).await;
    let client = reqwest::Client::new();
    for (path, status, code) in [
        ("/api/slow", 503, "timeout"),
        ("/api/boom", 500, "internal"),
    ] {
        for origin in [FRONTEND, OTHER] {
            let what = format!("{path} from {origin}");
            let response = client
                .get(format!("http://{address}{path}"))
                .header("origin", origin)
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), status, "{what}");
            let headers = pairs(&response);
            if origin == FRONTEND {
                assert_cors(&headers, origin, &what);
            } else {
                assert_no_cors(&headers, &what);
            }
            let body: serde_json::Value = response.json().await.unwrap();
            assert_eq!(body["error"]["code"], code, "{what}");
        }
    }
    // The same layers outside /api: the same answers, without CORS.
    for (path, status) in [("/slow", 503), ("/boom", 500)] {
        let response = client
            .get(format!("http://{address}{path}"))
            .header("origin", FRONTEND)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), status, "{path}");
        assert_no_cors(&pairs(&response), path);
    }
}

#[tokio::test]
async fn the_csrf_guards_403_carries_cors_for_an_allowed_origin_rfc9110_15_5_4() {
    // In the policy every CORS origin is also trusted by the CSRF guard, so the guard never
    // refuses one. Resolve it without the trusted origins to make the guard answer, and check
    // that the answer it makes still reaches the cross-origin page.
    let address = stacked(test_routes(), |edge| edge.trusted_origins = Box::new([])).await;
    let client = reqwest::Client::new();
    for origin in [FRONTEND, OTHER] {
        let response = client
            .post(format!("http://{address}/api/echo"))
            .header("origin", origin)
            .header("sec-fetch-site", "cross-site")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 403, "{origin}");
        let headers = pairs(&response);
        if origin == FRONTEND {
            assert_cors(&headers, origin, "403");
        } else {
            assert_no_cors(&headers, "403");
        }
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(body["error"]["code"], "cross_site_request");
    }
    // With the policy's trusted origins, the same request passes the guard.
    let address = stacked(test_routes(), |_| {}).await;
    let response = client
        .post(format!("http://{address}/api/echo"))
        .header("origin", FRONTEND)
        .header("sec-fetch-site", "cross-site")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    assert_cors(&pairs(&response), FRONTEND, "204");
}
