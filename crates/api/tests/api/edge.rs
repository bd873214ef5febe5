//! The edge policy through the running application: one test per header and per redirect rule.
//! Expected values come from the policy itself, so a policy change cannot drift from the tests.

use edge_policy::{Policy, ResponseClass, EMBEDDED_POLICY};
use reqwest::{Method, Response};

use crate::helpers::{spawn_app, spawn_production_app, Backend, TestApp};

const API_ORIGIN: &str = "https://release-flow-api.onrender.com";

/// A development instance, where X-Forwarded-Proto is not trusted.
async fn development() -> TestApp {
    let app = spawn_app(Backend::Sqlite).await;
    app.wait_for_readiness("pass", std::time::Duration::from_secs(10))
        .await;
    app
}

async fn get(app: &TestApp, path: &str, proto: Option<&str>) -> Response {
    request(app, Method::GET, path, proto).await
}

async fn request(app: &TestApp, method: Method, path: &str, proto: Option<&str>) -> Response {
    let mut req = app.request(method, path);
    if let Some(proto) = proto {
        req = req.header("x-forwarded-proto", proto);
    }
    req.send().await.unwrap()
}

fn policy_value(class: ResponseClass, name: &str) -> String {
    let policy = Policy::from_toml(EMBEDDED_POLICY).unwrap();
    policy
        .headers_for("production", class, &[])
        .unwrap()
        .into_iter()
        .find(|h| h.name.eq_ignore_ascii_case(name))
        .unwrap_or_else(|| panic!("the policy has no {name}"))
        .value
}

/// Asserts `name` appears exactly once on `response` with `value`.
fn assert_once(response: &Response, name: &str, value: &str) {
    let values: Vec<_> = response.headers().get_all(name).iter().collect();
    assert_eq!(values.len(), 1, "{name} should appear once, got {values:?}");
    assert_eq!(values[0], value, "{name}");
}

/// One test per header: `$path` answered over HTTPS carries `$name` once, with the policy's value
/// for `$class`.
macro_rules! header_test {
    ($test:ident, $path:literal, $class:expr, $name:literal) => {
        #[tokio::test]
        async fn $test() {
            let app = spawn_production_app().await;
            let response = get(&app, $path, Some("https")).await;
            assert_once(&response, $name, &policy_value($class, $name));
        }
    };
}

header_test!(
    x_content_type_options_is_nosniff,
    "/api/health",
    ResponseClass::Api,
    "X-Content-Type-Options"
);
header_test!(
    referrer_policy_is_the_policys,
    "/api/health",
    ResponseClass::Api,
    "Referrer-Policy"
);
header_test!(
    cross_origin_resource_policy_is_the_policys,
    "/api/health",
    ResponseClass::Api,
    "Cross-Origin-Resource-Policy"
);
header_test!(
    x_frame_options_is_the_policys,
    "/api/health",
    ResponseClass::Api,
    "X-Frame-Options"
);
header_test!(
    permissions_policy_is_on_documents,
    "/app",
    ResponseClass::Document,
    "Permissions-Policy"
);
header_test!(
    cross_origin_opener_policy_is_on_documents,
    "/app",
    ResponseClass::Document,
    "Cross-Origin-Opener-Policy"
);

#[tokio::test]
async fn document_only_headers_stay_off_api_responses() {
    let app = spawn_production_app().await;
    let response = get(&app, "/api/health", Some("https")).await;
    assert!(response.headers().get("permissions-policy").is_none());
    assert!(response
        .headers()
        .get("cross-origin-opener-policy")
        .is_none());
}

#[tokio::test]
async fn api_responses_carry_the_api_csp() {
    let app = spawn_production_app().await;
    let response = get(&app, "/api/health", Some("https")).await;
    assert_once(
        &response,
        "content-security-policy",
        "default-src 'none'; frame-ancestors 'none'",
    );
}

#[tokio::test]
async fn documents_carry_the_document_csp_with_the_api_origin() {
    let app = spawn_production_app().await;
    let response = get(&app, "/some/page", Some("https")).await;
    let csp = response.headers()["content-security-policy"]
        .to_str()
        .unwrap();
    assert!(
        csp.starts_with("default-src 'self'; script-src 'self'"),
        "{csp}"
    );
    assert!(
        csp.contains(&format!("connect-src 'self' {API_ORIGIN}")),
        "{csp}"
    );
    assert!(!csp.contains("unsafe-inline"));
}

#[tokio::test]
async fn hsts_is_sent_on_https_responses() {
    let app = spawn_production_app().await;
    let response = get(&app, "/api/health", Some("https")).await;
    assert_once(&response, "strict-transport-security", "max-age=31536000");
}

#[tokio::test]
async fn hsts_is_absent_on_plain_http() {
    let app = spawn_production_app().await;
    for response in [
        get(&app, "/health", None).await,
        get(&app, "/health", Some("http")).await,
    ] {
        assert_eq!(response.status(), 200);
        assert!(response
            .headers()
            .get("strict-transport-security")
            .is_none());
    }
}

#[tokio::test]
async fn hsts_is_not_sent_when_the_proto_header_is_not_trusted() {
    let app = development().await;
    let response = get(&app, "/api/health", Some("https")).await;
    assert!(response
        .headers()
        .get("strict-transport-security")
        .is_none());
}

#[tokio::test]
async fn plain_http_get_redirects_301_to_the_configured_origin_keeping_path_and_query() {
    let app = spawn_production_app().await;
    let response = get(&app, "/reports/q3?year=2026&x=%20y", Some("http")).await;
    assert_eq!(response.status(), 301);
    assert_eq!(
        response.headers()["location"],
        format!("{API_ORIGIN}/reports/q3?year=2026&x=%20y")
    );
    assert!(response
        .headers()
        .get("strict-transport-security")
        .is_none());
    assert_eq!(
        response.headers()["cache-control"],
        policy_value(ResponseClass::Redirect, "Cache-Control")
    );
}

#[tokio::test]
async fn plain_http_head_redirects_301() {
    let app = spawn_production_app().await;
    assert_eq!(
        request(&app, Method::HEAD, "/", Some("http"))
            .await
            .status(),
        301
    );
}

#[tokio::test]
async fn plain_http_post_redirects_308() {
    let app = spawn_production_app().await;
    let response = request(&app, Method::POST, "/api/warmup", Some("http")).await;
    assert_eq!(response.status(), 308);
    assert_eq!(
        response.headers()["location"],
        format!("{API_ORIGIN}/api/warmup")
    );
}

#[tokio::test]
async fn https_is_served_not_redirected() {
    let app = spawn_production_app().await;
    assert_eq!(get(&app, "/api/health", Some("https")).await.status(), 200);
}

#[tokio::test]
async fn a_request_without_the_header_is_served() {
    let app = spawn_production_app().await;
    assert_eq!(get(&app, "/api/health", None).await.status(), 200);
}

#[tokio::test]
async fn health_is_never_redirected() {
    let app = spawn_production_app().await;
    let response = get(&app, "/health", Some("http")).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await.unwrap(), "ok\n");
}

#[tokio::test]
async fn a_forged_proto_from_an_untrusted_peer_is_ignored() {
    let app = development().await;
    assert_eq!(get(&app, "/api/health", Some("http")).await.status(), 200);
}

#[tokio::test]
async fn host_and_forwarded_host_never_reach_the_location() {
    let app = spawn_production_app().await;
    let response = app
        .request(Method::GET, "//evil.example/path")
        .header("x-forwarded-proto", "http")
        .header("host", "evil.example")
        .header("x-forwarded-host", "evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 301);
    let location = response.headers()["location"].to_str().unwrap();
    assert!(
        location.starts_with(&format!("{API_ORIGIN}/")),
        "{location}"
    );
}

#[tokio::test]
async fn error_and_redirect_responses_carry_each_header_once() {
    let app = spawn_production_app().await;
    let not_found = get(&app, "/api/nope", Some("https")).await;
    let redirect = get(&app, "/x", Some("http")).await;
    for (response, class) in [
        (&not_found, ResponseClass::Api),
        (&redirect, ResponseClass::Redirect),
    ] {
        for name in [
            "X-Content-Type-Options",
            "Referrer-Policy",
            "X-Frame-Options",
            "Cache-Control",
        ] {
            assert_once(response, name, &policy_value(class, name));
        }
    }
}

#[tokio::test]
async fn no_server_banner_is_sent() {
    let app = spawn_production_app().await;
    let response = get(&app, "/api/health", Some("https")).await;
    assert!(response.headers().get("server").is_none());
    assert!(response.headers().get("x-powered-by").is_none());
}

#[tokio::test]
async fn the_policys_path_redirects_apply_on_the_api_origin_too() {
    let app = spawn_production_app().await;
    let response = get(&app, "/login", Some("https")).await;
    assert_eq!(response.status(), 301);
    assert_eq!(response.headers()["location"], "/");
}

#[tokio::test]
async fn cors_allows_the_policys_frontend_origin_with_credentials() {
    let app = spawn_production_app().await;
    let response = app
        .request(Method::OPTIONS, "/api/warmup")
        .header("origin", "https://release-flow-web.onrender.com")
        .header("access-control-request-method", "POST")
        .header("x-forwarded-proto", "https")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["access-control-allow-origin"],
        "https://release-flow-web.onrender.com"
    );
    assert_eq!(
        response.headers()["access-control-allow-credentials"],
        "true"
    );
}

#[tokio::test]
async fn cors_ignores_other_origins() {
    let app = spawn_production_app().await;
    let response = app
        .request(Method::GET, "/api/health")
        .header("origin", "https://evil.example")
        .header("x-forwarded-proto", "https")
        .send()
        .await
        .unwrap();
    assert!(response
        .headers()
        .get("access-control-allow-origin")
        .is_none());
}
