//! Hostile and malformed input, written byte for byte: each is answered with a 4xx (never a 5xx,
//! a hang or a crash) and the server still answers `/api/health` afterwards. Requests that HTTP
//! parsing rejects are answered by hyper before any layer runs (a bare status with an empty body,
//! connection closed); everything that parses gets the JSON error body.

use reqwest::Method;

use crate::helpers::{spawn_production_app, TestApp};

const API_ORIGIN: &str = "https://release-flow-api.onrender.com";

async fn assert_still_healthy(app: &TestApp) {
    let response = app.get("/api/health").await;
    assert_eq!(response.status(), 200, "the server stopped answering");
}

/// The JSON error code of a raw response, if its body is one.
fn error_code(raw: &str) -> Option<String> {
    let body = raw.split("\r\n\r\n").nth(1)?;
    let json: serde_json::Value = serde_json::from_str(body).ok()?;
    json["error"]["code"].as_str().map(str::to_owned)
}

/// What hyper itself writes when it cannot parse a request, before any layer of ours runs: the
/// status, `connection: close` (it then closes), an empty body, and (removed by
/// [`without_date`]) a `date` header.
const HYPER_400: &str =
    "HTTP/1.1 400 Bad Request\r\nconnection: close\r\ncontent-length: 0\r\n\r\n";
const HYPER_431: &str = "HTTP/1.1 431 Request Header Fields Too Large\r\n\
                         connection: close\r\ncontent-length: 0\r\n\r\n";

/// A raw response without its `date` header line, the only part of hyper's answers that varies.
fn without_date(raw: &str) -> String {
    raw.split("\r\n")
        .filter(|line| !line.starts_with("date: "))
        .collect::<Vec<_>>()
        .join("\r\n")
}

fn header_lines(raw: &str) -> Vec<&str> {
    raw.split("\r\n\r\n")
        .next()
        .unwrap_or_default()
        .split("\r\n")
        .skip(1)
        .collect()
}

#[tokio::test]
async fn an_oversized_header_is_a_431() {
    let app = spawn_production_app().await;
    let big = "a".repeat(80 * 1024);
    let (status, raw) = app
        .raw_request(
            format!("GET /api/health HTTP/1.1\r\nHost: x\r\nX-Big: {big}\r\n\r\n").as_bytes(),
        )
        .await;
    assert_eq!(status, 431);
    assert_eq!(without_date(&raw), HYPER_431, "hyper's own answer");
    assert_still_healthy(&app).await;
}

#[tokio::test]
async fn too_many_headers_are_a_431() {
    let app = spawn_production_app().await;
    let headers: String = (0..200).map(|i| format!("X-H{i}: v\r\n")).collect();
    let (status, raw) = app
        .raw_request(format!("GET /api/health HTTP/1.1\r\nHost: x\r\n{headers}\r\n").as_bytes())
        .await;
    assert_eq!(status, 431);
    assert_eq!(without_date(&raw), HYPER_431, "hyper's own answer");
    assert_still_healthy(&app).await;
}

#[tokio::test]
async fn an_oversized_url_is_a_431() {
    let app = spawn_production_app().await;
    // Longer than the whole request head may be, so the request line never completes in hyper's
    // buffer and hyper cannot tell a long URI from a long head: 431. (It answers 414 only for a
    // complete request line whose URI is over 65,534 bytes, which cannot fit in 64 KiB.)
    let path = format!("/api/{}", "a".repeat(100 * 1024));
    assert!(path.len() > api::server::MAX_REQUEST_HEAD_BYTES);
    let (status, raw) = app.raw_get(&path).await;
    assert_eq!(status, 431, "{raw:?}");
    assert_eq!(without_date(&raw), HYPER_431, "hyper's own answer");
    assert_still_healthy(&app).await;
}

#[tokio::test]
async fn raw_non_ascii_bytes_in_the_request_line_are_a_400() {
    let app = spawn_production_app().await;
    let (status, raw) = app
        .raw_request(b"GET /api/\xff\xfe HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await;
    assert_eq!(status, 400);
    assert_eq!(without_date(&raw), HYPER_400, "hyper's own answer");
    assert_still_healthy(&app).await;
}

#[tokio::test]
async fn percent_encoded_invalid_utf8_and_nul_in_paths_get_json_4xx() {
    let app = spawn_production_app().await;
    for path in [
        "/api/%FF%FE",
        "/api/%00",
        "/api/health%00",
        "/api/auth/%C0%AF",
    ] {
        let (status, raw) = app.raw_get(path).await;
        assert_eq!(status, 404, "{path}: {raw}");
        assert_eq!(error_code(&raw).as_deref(), Some("not_found"), "{path}");
    }
    // Frontend paths, with no frontend build: the JSON 404, never a 5xx.
    for path in [
        "/%FF%FE",
        "/%00",
        "/assets/%FF.js",
        "/..%2F..%2Fetc%2Fpasswd%00",
    ] {
        let (status, raw) = app.raw_get(path).await;
        assert_eq!(status, 404, "{path}: {raw}");
        assert_eq!(error_code(&raw).as_deref(), Some("not_found"), "{path}");
    }
    assert_still_healthy(&app).await;
}

#[tokio::test]
async fn an_invalid_utf8_query_is_ignored_where_no_query_is_read() {
    let app = spawn_production_app().await;
    let (status, _) = app.raw_get("/api/health?x=%FF%FE&%00=1").await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn an_invalid_utf8_json_body_is_a_json_400() {
    let app = spawn_production_app().await;
    let body = b"{\"email\":\"a\xff@example.com\",\"password\":\"x\"}";
    let mut request = format!(
        "POST /api/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    request.extend_from_slice(body);
    let (status, raw) = app.raw_request(&request).await;
    assert_eq!(status, 400, "{raw}");
    assert_eq!(error_code(&raw).as_deref(), Some("malformed_json"));
    assert_still_healthy(&app).await;
}

#[tokio::test]
async fn deeply_nested_json_is_a_json_422_not_a_stack_overflow() {
    let app = spawn_production_app().await;
    // Within the body limit, far beyond serde_json's recursion limit.
    let body = format!("{}{}", "[".repeat(30_000), "]".repeat(30_000));
    let response = app
        .request(Method::POST, "/api/auth/login")
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 422);
    let json: serde_json::Value = response.json().await.unwrap();
    assert_eq!(json["error"]["code"], "invalid_body", "{json}");
    assert_still_healthy(&app).await;
}

#[tokio::test]
async fn invalid_bytes_in_a_session_cookie_are_no_session() {
    let app = spawn_production_app().await;
    for cookie in [
        &b"__Host-rf_session=v1.\xff\xfe.\x80"[..],
        b"__Host-rf_session=",
        b"__Host-rf_session=v1..",
        b"__Host-rf_session=v1.AAAA.AAAA; __Host-rf_session=v1.BBBB.BBBB",
    ] {
        let mut request =
            b"GET /api/me HTTP/1.1\r\nHost: x\r\nConnection: close\r\nCookie: ".to_vec();
        request.extend_from_slice(cookie);
        request.extend_from_slice(b"\r\n\r\n");
        let (status, raw) = app.raw_request(&request).await;
        assert_eq!(status, 401, "{raw}");
        assert_eq!(error_code(&raw).as_deref(), Some("unauthorized"));
    }
    assert_still_healthy(&app).await;
}

#[tokio::test]
async fn an_invalid_request_id_is_replaced_not_echoed() {
    let app = spawn_production_app().await;
    let (status, raw) = app
        .raw_request(
            b"GET /api/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\nX-Request-Id: \xff<script>\r\n\r\n",
        )
        .await;
    assert_eq!(status, 200);
    let id = header_lines(&raw)
        .into_iter()
        .find_map(|l| l.strip_prefix("x-request-id: "))
        .expect("a request id");
    assert!(!id.contains("script"), "{id}");
}

#[tokio::test]
async fn encoded_crlf_in_a_redirected_path_stays_encoded_in_location() {
    let app = spawn_production_app().await;
    let (status, raw) = app
        .raw_request(
            b"GET /a%0d%0aSet-Cookie:%20evil=1?q=%0D%0AX-Injected:%201 HTTP/1.1\r\nHost: x\r\n\
              X-Forwarded-Proto: http\r\nConnection: close\r\n\r\n",
        )
        .await;
    assert_eq!(status, 301, "{raw}");
    let headers = header_lines(&raw);
    assert!(
        headers
            .iter()
            .all(|l| !l.to_ascii_lowercase().starts_with("set-cookie")
                && !l.to_ascii_lowercase().starts_with("x-injected")),
        "{headers:?}"
    );
    let location = headers
        .iter()
        .find_map(|l| l.strip_prefix("location: "))
        .unwrap();
    assert_eq!(
        location,
        format!("{API_ORIGIN}/a%0d%0aSet-Cookie:%20evil=1?q=%0D%0AX-Injected:%201")
    );
}

#[tokio::test]
async fn encoded_crlf_in_a_policy_redirect_stays_encoded_in_location() {
    let app = spawn_production_app().await;
    let (status, raw) = app
        .raw_request(
            b"GET /login?next=%0d%0aSet-Cookie:%20evil=1 HTTP/1.1\r\nHost: x\r\n\
              X-Forwarded-Proto: https\r\nConnection: close\r\n\r\n",
        )
        .await;
    assert_eq!(status, 301, "{raw}");
    let headers = header_lines(&raw);
    assert!(
        headers
            .iter()
            .all(|l| !l.to_ascii_lowercase().starts_with("set-cookie")),
        "{headers:?}"
    );
    let location = headers
        .iter()
        .find_map(|l| l.strip_prefix("location: "))
        .unwrap();
    assert!(!location.contains('\r') && !location.contains('\n'));
    assert_eq!(
        location, "/?next=%0d%0aSet-Cookie:%20evil=1",
        "the policy's redirect keeps the query as it came, still encoded"
    );
}

#[tokio::test]
async fn an_absolute_form_target_cannot_choose_the_redirect_host() {
    let app = spawn_production_app().await;
    let (status, raw) = app
        .raw_request(
            b"GET http://evil.example/steal?x=1 HTTP/1.1\r\nHost: evil.example\r\n\
              X-Forwarded-Proto: http\r\nConnection: close\r\n\r\n",
        )
        .await;
    assert_eq!(status, 301, "{raw}");
    let location = header_lines(&raw)
        .into_iter()
        .find_map(|l| l.strip_prefix("location: "))
        .unwrap()
        .to_owned();
    assert_eq!(location, format!("{API_ORIGIN}/steal?x=1"));
}

#[tokio::test]
async fn a_smuggled_request_behind_conflicting_lengths_is_never_answered() {
    let app = spawn_production_app().await;
    // Content-Length and Transfer-Encoding together: RFC 9112 says the chunked coding wins and
    // the connection closes after the response, so the bytes after the empty chunk (a second
    // request, if Content-Length had been believed) must never be served.
    let (_, raw) = app
        .raw_request(
            b"POST /api/warmup HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\
              Transfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /api/smuggled HTTP/1.1\r\nHost: x\r\n\r\n",
        )
        .await;
    assert_eq!(raw.matches("HTTP/1.1 ").count(), 1, "{raw}");
    assert!(!raw.contains("not_found"), "{raw}");
    assert_still_healthy(&app).await;
}

#[tokio::test]
async fn invalid_content_lengths_are_a_400() {
    let app = spawn_production_app().await;
    for length in [
        "Content-Length: 4\r\nContent-Length: 5",
        "Content-Length: abc",
        "Content-Length: -1",
    ] {
        let (status, raw) = app
            .raw_request(
                format!("POST /api/warmup HTTP/1.1\r\nHost: x\r\n{length}\r\nConnection: close\r\n\r\nabcd")
                    .as_bytes(),
            )
            .await;
        assert_eq!(status, 400, "{length}");
        assert_eq!(
            without_date(&raw),
            HYPER_400,
            "{length}: hyper's own answer"
        );
    }
    assert_still_healthy(&app).await;
}

#[tokio::test]
async fn an_oversized_chunked_body_is_a_json_413() {
    let app = spawn_production_app().await;
    let chunk = "a".repeat(16 * 1024);
    let mut request = String::from(
        "POST /api/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
         Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
    );
    for _ in 0..8 {
        request.push_str(&format!("{:x}\r\n{chunk}\r\n", chunk.len()));
    }
    request.push_str("0\r\n\r\n");
    let (status, raw) = app.raw_request(request.as_bytes()).await;
    assert_eq!(status, 413, "{raw}");
    assert_eq!(error_code(&raw).as_deref(), Some("payload_too_large"));
    assert_still_healthy(&app).await;
}

#[tokio::test]
async fn an_unknown_method_is_a_json_405() {
    let app = spawn_production_app().await;
    let (status, raw) = app
        .raw_request(b"PURGE /api/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await;
    assert_eq!(status, 405, "{raw}");
    assert_eq!(
        error_code(&raw).as_deref(),
        Some("method_not_allowed"),
        "{raw}"
    );
}

#[tokio::test]
async fn garbage_instead_of_http_is_a_400() {
    let app = spawn_production_app().await;
    // The first bytes of a TLS ClientHello, then a blank line: no method hyper can parse (and
    // not HTTP/2's preface either, so the HTTP/1 parser is the one that refuses it).
    let (status, raw) = app
        .raw_request(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n")
        .await;
    assert_eq!(status, 400, "{raw:?}");
    assert_eq!(without_date(&raw), HYPER_400, "hyper's own answer");
    assert_still_healthy(&app).await;
}
