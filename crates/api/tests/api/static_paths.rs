//! Paths as a static host resolves them, written byte for byte: percent-decoded exactly once
//! (RFC 3986 §2.1, §2.4), dot segments resolved (RFC 3986 §5.2.4) and never above the root,
//! file names with spaces, `+` and non-ASCII found, the policy's redirects keeping the query
//! (RFC 9110 §10.2.2: Location is a URI reference, so the query is the client's own), and
//! nothing under `/api` ever HTML, however it is spelt.

use crate::helpers::{
    dist::{self, Dist, LOGO_URL, NESTED_URL, NON_ASCII_URL, PLUS_URL, SCRIPT_URL},
    Backend, RawResponse, TestApp, TestConfig,
};

async fn serve(dist: &Dist) -> TestApp {
    TestConfig::new(Backend::Sqlite)
        .var("APP_ENV", "production")
        .var("FRONTEND_DIR", dist.path().to_str().unwrap())
        .spawn()
        .await
}

fn assert_json_error(response: &RawResponse, status: u16, code: &str, what: &str) {
    assert_eq!(response.status, status, "{what}: {response:?}");
    assert_eq!(
        response.header("content-type"),
        Some("application/json"),
        "{what}"
    );
    assert_eq!(response.json()["error"]["code"], code, "{what}");
}

#[tokio::test]
async fn percent_encoded_file_names_are_decoded_once_and_served_rfc3986_2_1() {
    let dist = Dist::new();
    let app = serve(&dist).await;
    for (target, body) in [
        (LOGO_URL, dist::LOGO),
        ("/assets/caf%c3%a9%20logo-1a2b.svg", dist::LOGO),
        ("/assets/caf%C3%A9%20logo%2D1a2b.svg", dist::LOGO),
        ("/%61ssets/caf%C3%A9%20logo-1a2b.svg", dist::LOGO),
        // `+` is a plus in a path (only form bodies and queries use it for a space).
        (PLUS_URL, dist::PLUS),
        ("/assets/a%2Bb-1a2b.txt", dist::PLUS),
        ("/assets/a%2bb-1a2b.txt", dist::PLUS),
        (NON_ASCII_URL, dist::NON_ASCII),
        ("/assets/%e6%97%a5%e6%9c%ac-1a2b.txt", dist::NON_ASCII),
        (NESTED_URL, dist::NESTED),
        ("/docs/guide/intro%2Etxt", dist::NESTED),
    ] {
        for method in ["GET", "HEAD"] {
            let response = app.raw(method, target, &[]).await;
            assert_eq!(response.status, 200, "{method} {target}: {response:?}");
            assert_eq!(
                response.header("content-length"),
                Some(body.len().to_string().as_str()),
                "{method} {target}"
            );
            if method == "GET" {
                assert_eq!(response.text(), body, "{target}");
            }
        }
    }
}

#[tokio::test]
async fn a_name_spelt_otherwise_is_another_name_rfc3986_2_1() {
    let dist = Dist::new();
    let app = serve(&dist).await;
    for target in [
        // `+` is not a space in a path; a space is not a plus.
        "/assets/caf%C3%A9+logo-1a2b.svg",
        "/assets/a%20b-1a2b.txt",
        // Encoded twice is decoded once: `%2520` names a file called `caf…%20logo…`.
        "/assets/caf%25C3%25A9%2520logo-1a2b.svg",
        // Another normalisation form of é (e + combining acute): another name.
        "/assets/cafe%CC%81%20logo-1a2b.svg",
        // Names are case-sensitive.
        "/assets/CAF%C3%89%20LOGO-1a2b.svg",
    ] {
        let response = app.raw("GET", target, &[]).await;
        assert_json_error(&response, 404, "not_found", target);
    }
}

#[tokio::test]
async fn bytes_a_request_target_may_not_hold_rfc9112_3_2() {
    // A space ends the request-target: the request line does not parse, and hyper answers 400
    // before any layer runs. UTF-8 octets are not allowed in it either (RFC 3986 §2: only
    // percent-encoded), but hyper accepts them (RFC 9112 §3.2 says SHOULD answer 400, not MUST):
    // the decoded name is then the same file as its percent-encoding names. Invalid UTF-8 is
    // refused (hostile_input).
    let dist = Dist::new();
    let app = serve(&dist).await;
    let request = |target: &[u8]| {
        let mut bytes = b"GET ".to_vec();
        bytes.extend_from_slice(target);
        bytes.extend_from_slice(b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        bytes
    };
    let (status, raw) = app
        .raw_request(&request(b"/assets/caf%C3%A9 logo-1a2b.svg"))
        .await;
    assert_eq!(status, 400, "{raw}");
    assert!(!raw.contains("<svg"), "{raw}");
    let (status, raw) = app
        .raw_request(&request(b"/assets/caf\xc3\xa9%20logo-1a2b.svg"))
        .await;
    assert_eq!(status, 200, "{raw}");
    assert!(raw.ends_with(dist::LOGO), "{raw}");
}

#[tokio::test]
async fn dot_segments_inside_the_root_are_resolved_rfc3986_5_2_4() {
    let dist = Dist::new();
    let app = serve(&dist).await;
    let script = dist::script();
    for target in [
        "//assets/app-1a2b3c4d.js",
        "/assets//app-1a2b3c4d.js",
        "/./assets/app-1a2b3c4d.js",
        "/assets/./app-1a2b3c4d.js",
        "/assets/%2e/app-1a2b3c4d.js",
        "/x/../assets/app-1a2b3c4d.js",
        "/x/%2E%2E/assets/app-1a2b3c4d.js",
        "/x/y/../../assets/app-1a2b3c4d.js",
        "/docs/../assets/app-1a2b3c4d.js",
        "/assets%2Fapp-1a2b3c4d.js",
        "/x%2F..%2Fassets%2Fapp-1a2b3c4d.js",
    ] {
        let response = app.raw("GET", target, &[]).await;
        assert_eq!(response.status, 200, "{target}: {response:?}");
        assert_eq!(response.text(), script, "{target}");
    }
    // Resolved to a directory-like path: the SPA's index.html, as for any deep link.
    for target in ["/assets/..", "/docs/guide/intro.txt/..", "/x/./", "/."] {
        let response = app.raw("GET", target, &[]).await;
        assert_eq!(response.status, 200, "{target}");
        assert_eq!(response.text(), dist::index_html(), "{target}");
    }
}

#[tokio::test]
async fn every_encoding_of_a_climb_above_the_root_is_refused() {
    // RFC 3986 §5.2.4 removes a `..` at the root silently; a static host answers 400 instead
    // (nginx does), and so does this service: a JSON 400 `bad_path`, whatever spelling of `..`
    // and `/` did the climbing, GET or HEAD.
    let dist = Dist::new();
    let app = serve(&dist).await;
    for target in [
        "/..",
        "/../secret.txt",
        "/%2e%2e/secret.txt",
        "/%2E%2E/secret.txt",
        "/.%2e/secret.txt",
        "/%2e./secret.txt",
        "/..%2fsecret.txt",
        "/..%2Fsecret.txt",
        "/%2e%2e%2fsecret.txt",
        "//../secret.txt",
        "/./../secret.txt",
        "/assets/../../secret.txt",
        "/assets/%2e%2e/%2e%2e/secret.txt",
        "/assets/..%2F..%2Fsecret.txt",
        "/assets%2F..%2F..%2Fsecret.txt",
        "/x/../../dist/../secret.txt",
        "/../dist/index.html",
    ] {
        for method in ["GET", "HEAD"] {
            let response = app.raw(method, target, &[]).await;
            assert_eq!(response.status, 400, "{method} {target}: {response:?}");
            assert_eq!(
                response.header("content-type"),
                Some("application/json"),
                "{method} {target}"
            );
            if method == "GET" {
                assert_json_error(&response, 400, "bad_path", target);
                assert!(!response.text().contains(dist::SECRET), "{target}");
            }
        }
    }
}

#[tokio::test]
async fn spellings_that_only_look_like_a_climb_name_no_file() {
    // Decoded once, these are not `..` segments (or not a name at all): the JSON 404.
    let dist = Dist::new();
    let app = serve(&dist).await;
    for target in [
        // Encoded twice: the segment is the three characters `%2e%2e`... as text.
        "/%252e%252e/secret.txt",
        "/%252e%252e%252fsecret.txt",
        // A backslash is a character of the name, not a separator.
        "/..%5csecret.txt",
        "/..\\secret.txt",
        // Overlong UTF-8 for `.` and `/`: not UTF-8, no file has such a name.
        "/%c0%ae%c0%ae/secret.txt",
        "/%c0%af../secret.txt",
        // NUL cuts no name short here.
        "/%2e%2e%00/secret.txt",
        "/assets/app-1a2b3c4d.js%00.svg",
        // `..;` is a name (a servlet container would read a path parameter).
        "/..;/secret.txt",
    ] {
        let response = app.raw("GET", target, &[]).await;
        assert_json_error(&response, 404, "not_found", target);
        assert!(!response.text().contains(dist::SECRET), "{target}");
    }
}

#[tokio::test]
async fn policy_redirects_keep_the_query_as_it_came_rfc9110_10_2_2() {
    let dist = Dist::new();
    let app = serve(&dist).await;
    for (target, location) in [
        ("/login", "/"),
        ("/login?next=/a", "/?next=/a"),
        ("/login?next=%2Fa&b=%20c", "/?next=%2Fa&b=%20c"),
        ("/login?next=/a?b", "/?next=/a?b"),
        // An empty query is no query: WHATWG URL's `search` of a bare `?` is empty, so
        // Cloudflare's `destination + search` gives `/` too.
        ("/login?", "/"),
        // An encoded CRLF stays encoded: no header can be injected through the query.
        (
            "/login?next=%0d%0aSet-Cookie:%20evil=1",
            "/?next=%0d%0aSet-Cookie:%20evil=1",
        ),
        ("/login?%0D%0A", "/?%0D%0A"),
        // The rule matches the resolved path, as on the static hosts.
        ("//login?next=/a", "/?next=/a"),
        ("/./login?next=/a", "/?next=/a"),
        ("/x/../login?next=/a", "/?next=/a"),
        ("/%6cogin?next=/a", "/?next=/a"),
    ] {
        for method in ["GET", "HEAD"] {
            let response = app
                .raw(method, target, &[("x-forwarded-proto", "https")])
                .await;
            assert_eq!(response.status, 301, "{method} {target}: {response:?}");
            assert_eq!(
                response.header_lines("location"),
                [location],
                "{method} {target}"
            );
            assert!(response.header("set-cookie").is_none(), "{target}");
            assert_eq!(
                response.header("cache-control"),
                Some("no-store"),
                "{target}"
            );
        }
    }
    // Not the rule's path: served as the SPA (paths are case-sensitive, `/login/` is another).
    for target in ["/LOGIN?next=/a", "/login/?next=/a", "/login/x"] {
        let response = app.raw("GET", target, &[]).await;
        assert_eq!(response.status, 200, "{target}");
        assert_eq!(response.text(), dist::index_html(), "{target}");
    }
}

#[tokio::test]
async fn every_spelling_of_the_api_prefix_is_json_never_html() {
    let dist = Dist::new();
    let app = serve(&dist).await;
    for target in [
        "/api",
        "/api/",
        "/api/x",
        "//api/x",
        "/API/x",
        "/Api",
        "/%61pi/x",
        "/%41PI/x",
        "/./api/x",
        "/x/../api/y",
        "/api%2Fx",
        "/api/../api/x",
        "/api/x.html",
        "/api/index.html",
        "/assets/../api/x",
    ] {
        for method in ["GET", "HEAD"] {
            let response = app.raw(method, target, &[("accept", "text/html")]).await;
            let what = format!("{method} {target}");
            assert_eq!(response.status, 404, "{what}: {response:?}");
            assert_eq!(
                response.header("content-type"),
                Some("application/json"),
                "{what}"
            );
            if method == "GET" {
                assert_json_error(&response, 404, "not_found", &what);
            }
        }
    }
    // And the other methods: the API's 404 or 405, JSON either way.
    for target in ["/API/x", "//api/x", "/api%2Fx"] {
        let response = app.raw("POST", target, &[("content-length", "0")]).await;
        assert_eq!(response.header("content-type"), Some("application/json"));
        assert!(matches!(response.status, 404 | 405), "{target}");
    }
    // A prefix that is not the API segment is the SPA.
    for target in ["/apis", "/app/api", "/%2561pi/x"] {
        let response = app.raw("GET", target, &[]).await;
        assert_eq!(response.status, 200, "{target}");
        assert_eq!(response.text(), dist::index_html(), "{target}");
    }
}

#[tokio::test]
async fn a_missing_file_like_path_is_a_404_not_the_spa() {
    // A name with an extension, or anything under the assets prefix, is a file request: the
    // JSON 404 rather than HTML under a script's or an image's URL.
    let dist = Dist::new();
    let app = serve(&dist).await;
    for target in [
        "/assets/missing-0000.js",
        "/assets/",
        "/assets/app-1a2b3c4d.js/",
        "/missing.png",
        "/INDEX.HTML",
        "/docs/guide/missing.txt",
        SCRIPT_URL.trim_end_matches(".js"),
    ] {
        let response = app.raw("GET", target, &[]).await;
        assert_json_error(&response, 404, "not_found", target);
    }
}
