//! The built frontend served from memory: encodings, ETag/304, cache classes, the SPA fallback,
//! and paths that try to leave the directory.

use std::path::Path;

use reqwest::Method;

use crate::helpers::{Backend, TestApp, TestConfig};

const INDEX: &str = "<!doctype html><html><head><script>var inline = 1;</script>\
<script type=\"module\" src=\"/assets/app-1a2b3c.js\"></script></head><body>app</body></html>";
const SCRIPT: &str = "console.log('release flow');";

/// A frontend build in a temp dir: index.html, one hashed asset with .br/.gz variants, a file
/// outside the build that must never be reachable, and the static-host files.
fn build(dir: &Path) -> std::path::PathBuf {
    let dist = dir.join("dist");
    std::fs::create_dir_all(dist.join("assets")).unwrap();
    std::fs::write(dist.join("index.html"), INDEX).unwrap();
    std::fs::write(dist.join("assets/app-1a2b3c.js"), SCRIPT).unwrap();
    std::fs::write(dist.join("assets/app-1a2b3c.js.br"), b"brotli-bytes").unwrap();
    std::fs::write(dist.join("assets/app-1a2b3c.js.gz"), b"gzip-bytes").unwrap();
    std::fs::write(dist.join("_headers"), "/*\n  X-Test: 1\n").unwrap();
    std::fs::write(dir.join("secret.txt"), "outside the build").unwrap();
    dist
}

async fn app_with_frontend(env: &str) -> (TestApp, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let dist = build(dir.path());
    let app = TestConfig::new(Backend::Sqlite)
        .var("APP_ENV", env)
        .var("FRONTEND_DIR", dist.to_str().unwrap())
        .spawn()
        .await;
    (app, dir)
}

async fn get(app: &TestApp, path: &str, headers: &[(&str, &str)]) -> reqwest::Response {
    let mut request = app.request(Method::GET, path);
    for (k, v) in headers {
        request = request.header(*k, *v);
    }
    request.send().await.unwrap()
}

#[tokio::test]
async fn index_is_served_as_a_revalidating_document_with_the_script_hash_in_its_csp() {
    let (app, _dir) = app_with_frontend("development").await;
    let response = get(&app, "/", &[]).await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "text/html; charset=utf-8"
    );
    assert_eq!(response.headers()["cache-control"], "no-cache");
    let csp = response.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        csp.contains("'sha256-B2yPHKaXnvFWtRChIbabYmUBFZdVfKKXHbWtWidDVF8='"),
        "{csp}"
    );
    assert_eq!(response.text().await.unwrap(), INDEX);
}

#[tokio::test]
async fn a_hashed_asset_is_immutable_and_served_in_the_best_encoding() {
    let (app, _dir) = app_with_frontend("development").await;
    let path = "/assets/app-1a2b3c.js";

    let br = get(&app, path, &[("accept-encoding", "gzip, br")]).await;
    assert_eq!(
        br.headers()["cache-control"],
        "public, max-age=31536000, immutable"
    );
    assert_eq!(br.headers()["content-encoding"], "br");
    assert_eq!(br.headers()["vary"], "accept-encoding");
    assert_eq!(
        br.headers()["content-type"],
        "text/javascript; charset=utf-8"
    );
    assert_eq!(br.bytes().await.unwrap().as_ref(), b"brotli-bytes");

    let gzip = get(&app, path, &[("accept-encoding", "gzip")]).await;
    assert_eq!(gzip.headers()["content-encoding"], "gzip");
    assert_eq!(gzip.bytes().await.unwrap().as_ref(), b"gzip-bytes");

    let identity = get(&app, path, &[("accept-encoding", "identity")]).await;
    assert!(identity.headers().get("content-encoding").is_none());
    assert_eq!(identity.text().await.unwrap(), SCRIPT);
}

#[tokio::test]
async fn a_matching_etag_gets_a_304_without_a_body() {
    let (app, _dir) = app_with_frontend("development").await;
    let first = get(&app, "/assets/app-1a2b3c.js", &[]).await;
    let etag = first.headers()["etag"].to_str().unwrap().to_owned();

    let again = get(&app, "/assets/app-1a2b3c.js", &[("if-none-match", &etag)]).await;

    assert_eq!(again.status(), 304);
    assert_eq!(again.headers()["etag"], etag.as_str());
    assert!(again.bytes().await.unwrap().is_empty());
    let changed = get(
        &app,
        "/assets/app-1a2b3c.js",
        &[("if-none-match", "\"other\"")],
    )
    .await;
    assert_eq!(changed.status(), 200);
}

#[tokio::test]
async fn deep_links_get_index_but_missing_assets_and_api_paths_do_not() {
    let (app, _dir) = app_with_frontend("development").await;
    let deep = get(&app, "/reports/2026/q3", &[]).await;
    assert_eq!(deep.status(), 200);
    assert_eq!(deep.text().await.unwrap(), INDEX);

    let missing_asset = get(&app, "/assets/gone-000000.js", &[]).await;
    assert_eq!(missing_asset.status(), 404);
    assert_eq!(missing_asset.headers()["content-type"], "application/json");

    let api = get(&app, "/api/reports", &[]).await;
    assert_eq!(api.status(), 404);
    let body: serde_json::Value = api.json().await.unwrap();
    assert_eq!(body["error"]["code"], "not_found");
}

#[tokio::test]
async fn no_path_reaches_a_file_outside_the_build() {
    let (app, _dir) = app_with_frontend("development").await;
    // reqwest would normalise `..`, so these go over a raw socket, byte for byte. Expected: a
    // JSON 400 when the decoded path climbs above the root, the JSON 404 for a file name the
    // build does not have, and index.html for `_headers`, which has no extension and so is a
    // deep link as far as the SPA is concerned.
    for (path, status, expected) in [
        ("/../secret.txt", 400, r#"{"error":{"code":"bad_path""#),
        (
            "/assets/../../secret.txt",
            400,
            r#"{"error":{"code":"bad_path""#,
        ),
        ("/%2e%2e/secret.txt", 400, r#"{"error":{"code":"bad_path""#),
        (
            "/%2e%2e%2fsecret.txt",
            400,
            r#"{"error":{"code":"bad_path""#,
        ),
        ("/..%2fsecret.txt", 400, r#"{"error":{"code":"bad_path""#),
        (
            "/%252e%252e/secret.txt",
            404,
            r#"{"error":{"code":"not_found""#,
        ),
        ("/..\\secret.txt", 404, r#"{"error":{"code":"not_found""#),
        (
            "/assets/%2e%2e%5c%2e%2e%5csecret.txt",
            404,
            r#"{"error":{"code":"not_found""#,
        ),
        ("/_headers", 200, INDEX),
    ] {
        let (got, body) = app.raw_get(path).await;
        assert!(
            !body.contains("outside the build"),
            "{path} leaked the file"
        );
        assert!(!body.contains("X-Test"), "{path} served _headers");
        assert_eq!(got, status, "{path}: {body}");
        assert!(body.contains(expected), "{path}: {body}");
    }
}

#[tokio::test]
async fn other_methods_on_frontend_paths_are_a_json_405() {
    let (app, _dir) = app_with_frontend("development").await;
    let response = app.post("/reports").await;
    assert_eq!(response.status(), 405);
    assert_eq!(response.headers()["allow"], "GET, HEAD");
}

#[tokio::test]
async fn without_a_build_the_root_says_how_to_make_one() {
    let app = TestConfig::new(Backend::Sqlite)
        .var("FRONTEND_DIR", "/nonexistent/dist")
        .spawn()
        .await;
    let response = get(&app, "/", &[]).await;
    assert_eq!(response.status(), 200);
    assert!(response
        .text()
        .await
        .unwrap()
        .contains("npm --prefix frontend run build"));
    assert_eq!(app.get("/health").await.status(), 200);
}
