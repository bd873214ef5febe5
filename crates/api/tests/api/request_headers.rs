//! The request headers the API reads besides the static files' (those are in
//! `http_semantics`): `X-Forwarded-Proto`, `X-Forwarded-For`, `Origin` and `Sec-Fetch-Site` for
//! the CSRF guard, and `Cookie` — each as a list, in odd case, with whitespace, over several
//! field lines (RFC 9110 §5.3) and with invalid values. Requests are written byte for byte.

use std::time::Duration;

use api::db::Database;

use crate::helpers::{
    credentials, spawn_app, spawn_production_app, Backend, RawResponse, TestApp, TestConfig,
};

const API_ORIGIN: &str = "https://release-flow-api.onrender.com";
const FRONTEND: &str = "https://release-flow-web.onrender.com";

// ---------------------------------------------------------------------------------------------
// X-Forwarded-Proto: the first value of the first line, case-insensitive, http or https only
// ---------------------------------------------------------------------------------------------

/// What a request said about its scheme, as the answer shows it.
#[derive(Debug, PartialEq, Eq)]
enum Seen {
    /// Served with HSTS (RFC 6797 §7.2: only over HTTPS).
    Https,
    /// Redirected to the canonical HTTPS origin (RFC 9110 §15.4.2).
    Http,
    /// Served without HSTS and not redirected: no scheme the service can trust.
    Unknown,
}

fn seen(response: &RawResponse) -> Seen {
    match (
        response.status,
        response.header("strict-transport-security"),
    ) {
        (301, None) => {
            assert_eq!(
                response.header("location"),
                Some(format!("{API_ORIGIN}/api/session").as_str())
            );
            Seen::Http
        }
        (200, Some(_)) => Seen::Https,
        (200, None) => Seen::Unknown,
        _ => panic!("unexpected answer: {response:?}"),
    }
}

#[tokio::test]
async fn x_forwarded_proto_is_the_first_value_of_the_first_line_case_insensitive() {
    // Render's proxy writes one value; a chain of proxies may append (`https, http`: the client
    // spoke HTTPS to the first). Scheme names are case-insensitive (RFC 3986 §3.1).
    let app = spawn_production_app().await;
    let cases: &[(&[&str], Seen)] = &[
        (&["https"], Seen::Https),
        (&["HTTPS"], Seen::Https),
        (&["HtTpS"], Seen::Https),
        (&["   https   "], Seen::Https),
        (&["https, http"], Seen::Https),
        (&["https,http"], Seen::Https),
        (&[" https ,http"], Seen::Https),
        (&["https", "http"], Seen::Https),
        (&["http"], Seen::Http),
        (&["HTTP"], Seen::Http),
        (&["http, https"], Seen::Http),
        (&["http", "https"], Seen::Http),
        (&[""], Seen::Unknown),
        (&[",https"], Seen::Unknown),
        (&["javascript"], Seen::Unknown),
        (&["ftp"], Seen::Unknown),
        (&["wss"], Seen::Unknown),
        (&["https;q=1"], Seen::Unknown),
        (&["h ttps"], Seen::Unknown),
        (&["https:"], Seen::Unknown),
    ];
    for (lines, expected) in cases {
        let headers: Vec<_> = lines.iter().map(|l| ("x-forwarded-proto", *l)).collect();
        let response = app.raw("GET", "/api/session", &headers).await;
        assert_eq!(&seen(&response), expected, "{lines:?}");
    }
    // The header name in any case.
    let response = app
        .raw("GET", "/api/session", &[("X-FORWARDED-PROTO", "http")])
        .await;
    assert_eq!(seen(&response), Seen::Http);
}

#[tokio::test]
async fn x_forwarded_proto_means_nothing_where_the_policy_does_not_trust_it() {
    let app = spawn_app(Backend::Sqlite).await;
    for value in ["http", "https", "HTTP, https"] {
        let response = app
            .raw("GET", "/api/session", &[("x-forwarded-proto", value)])
            .await;
        assert_eq!(seen(&response), Seen::Unknown, "{value}");
    }
}

// ---------------------------------------------------------------------------------------------
// X-Forwarded-For: every line as one list, the entry `forwarded_for_hops` from the right
// ---------------------------------------------------------------------------------------------

/// The address buckets the login rate limit holds: the client address the service used.
async fn address_buckets(db: &Database) -> Vec<String> {
    let Database::Sqlite(pool) = db else {
        panic!("these tests run on SQLite")
    };
    let buckets: Vec<String> = sqlx::query_scalar(
        "SELECT bucket FROM login_limits WHERE bucket LIKE 'address:%' ORDER BY bucket",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    sqlx::query("DELETE FROM login_limits")
        .execute(pool)
        .await
        .unwrap();
    buckets
        .into_iter()
        .map(|b| b.trim_start_matches("address:").to_owned())
        .collect()
}

/// One login attempt with these `X-Forwarded-For` lines: the address it was counted against.
async fn client_address(app: &TestApp, lines: &[&str], attempt: usize) -> String {
    let body = credentials(&format!("user{attempt}@example.com"), "wrong password").to_string();
    let length = body.len().to_string();
    let mut headers: Vec<(&str, &str)> = lines.iter().map(|l| ("x-forwarded-for", *l)).collect();
    headers.extend([
        ("content-type", "application/json"),
        ("content-length", length.as_str()),
    ]);
    let mut request = crate::helpers::request_bytes("POST", "/api/auth/login", &headers);
    request.extend_from_slice(body.as_bytes());
    let response = crate::helpers::exchange(app.socket_addr(), &request).await;
    assert_eq!(response.status, 401, "{lines:?}: {response:?}");
    let mut buckets = address_buckets(&app.db).await;
    assert_eq!(buckets.len(), 1, "{lines:?}: {buckets:?}");
    buckets.remove(0)
}

#[tokio::test]
async fn x_forwarded_for_is_read_as_one_list_over_every_line_rfc9110_5_3() {
    // Production: Render's two proxies append (Cloudflare, then Render's balancer), so the
    // client is the second entry from the right — unless that entry is a static host's /api
    // proxy (Cloudflare's networks, `forwarded_for_networks`), whose left neighbour is then the
    // client (RFC 7239 §5.2 order). Anything further left was written by the client itself
    // (docs/SECURITY_POLICY.md, per host).
    let app = spawn_production_app().await;
    let peer = "127.0.0.1";
    let cases: &[(&[&str], &str)] = &[
        (
            &["6.6.6.6, 203.0.113.7, 162.158.0.9, 104.16.0.1"],
            "203.0.113.7",
        ),
        (&["203.0.113.7, 162.158.0.9, 104.16.0.1"], "203.0.113.7"),
        (
            &["6.6.6.6,203.0.113.7,162.158.0.9,104.16.0.1"],
            "203.0.113.7",
        ),
        (
            &["   6.6.6.6 ,  203.0.113.7 ,162.158.0.9,104.16.0.1   "],
            "203.0.113.7",
        ),
        (
            &["6.6.6.6", "203.0.113.7, 162.158.0.9, 104.16.0.1"],
            "203.0.113.7",
        ),
        (
            &["6.6.6.6, 203.0.113.7", "162.158.0.9, 104.16.0.1"],
            "203.0.113.7",
        ),
        (
            &["6.6.6.6", "203.0.113.7", "162.158.0.9", "104.16.0.1"],
            "203.0.113.7",
        ),
        (
            &["203.0.113.7:4711, 162.158.0.9, 104.16.0.1"],
            "203.0.113.7",
        ),
        (&["2001:db8::7, 162.158.0.9, 104.16.0.1"], "2001:db8::/64"),
        (
            &["[2001:DB8::7]:4711, 162.158.0.9, 104.16.0.1"],
            "2001:db8::/64",
        ),
        (
            &["6.6.6.6, 203.0.113.7, 162.158.0.9, not-an-address"],
            "203.0.113.7",
        ),
        // A direct call to the API host: the address Cloudflare saw, whatever the caller wrote.
        (&["203.0.113.7, 104.16.0.1"], "203.0.113.7"),
        (&["6.6.6.6, 198.51.100.4, 104.16.0.1"], "198.51.100.4"),
        // No usable entry where the client should be: the TCP peer, never a guess.
        (&["104.16.0.1"], peer),
        (&[], peer),
        (&[""], peer),
        (&["6.6.6.6, unknown, 162.158.0.9, 104.16.0.1"], peer),
        (&["6.6.6.6, , 162.158.0.9, 104.16.0.1"], peer),
        (&["6.6.6.6, 203.0.113.7:x, 162.158.0.9, 104.16.0.1"], peer),
        (&["203.0.113.7 162.158.0.9, 104.16.0.1"], peer),
        (&["6.6.6.6; 203.0.113.7; 162.158.0.9; 104.16.0.1"], peer),
    ];
    for (attempt, (lines, expected)) in cases.iter().enumerate() {
        assert_eq!(
            client_address(&app, lines, attempt).await,
            *expected,
            "{lines:?}"
        );
    }
}

#[tokio::test]
async fn x_forwarded_for_is_ignored_where_no_proxy_is_trusted() {
    let app = spawn_app(Backend::Sqlite).await;
    app.wait_for_readiness("pass", Duration::from_secs(10))
        .await;
    for (attempt, lines) in [&["203.0.113.7, 104.16.0.1"][..], &["1.2.3.4", "5.6.7.8"]]
        .into_iter()
        .enumerate()
    {
        assert_eq!(client_address(&app, lines, attempt).await, "127.0.0.1");
    }
}

// ---------------------------------------------------------------------------------------------
// Origin and Sec-Fetch-Site: the CSRF guard, byte for byte
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn the_csrf_guard_reads_origin_and_sec_fetch_site_byte_for_byte() {
    // tower-http's CsrfLayer (Go's CrossOriginProtection): an unsafe request passes when
    // Sec-Fetch-Site says same-origin or none, when Origin is one of the policy's origins
    // exactly, or — from a browser too old to send Sec-Fetch-Site — when Origin's host is the
    // request's Host. Fetch metadata values are lower-case tokens (Fetch standard).
    let app = spawn_production_app().await;
    let cases: &[(&[(&str, &str)], bool)] = &[
        (&[], true),
        (&[("sec-fetch-site", "same-origin")], true),
        (&[("sec-fetch-site", "none")], true),
        (
            &[("sec-fetch-site", "cross-site"), ("origin", FRONTEND)],
            true,
        ),
        (
            &[("sec-fetch-site", "cross-site"), ("origin", API_ORIGIN)],
            true,
        ),
        (
            &[("sec-fetch-site", "same-site"), ("origin", FRONTEND)],
            true,
        ),
        (
            &[
                ("sec-fetch-site", "cross-site"),
                ("origin", "  https://release-flow-web.onrender.com  "),
            ],
            true,
        ),
        (&[("origin", FRONTEND)], true),
        (&[("origin", "http://localhost")], true),
        (&[("sec-fetch-site", "Same-Origin")], false),
        (&[("sec-fetch-site", "cross-site")], false),
        (
            &[
                ("sec-fetch-site", "same-site"),
                ("origin", "https://evil.example"),
            ],
            false,
        ),
        (
            &[
                ("sec-fetch-site", "cross-site"),
                ("origin", "HTTPS://release-flow-web.onrender.com"),
            ],
            false,
        ),
        (
            &[
                ("sec-fetch-site", "cross-site"),
                ("origin", "https://release-flow-web.onrender.com/"),
            ],
            false,
        ),
        (
            &[
                ("sec-fetch-site", "cross-site"),
                ("origin", "https://release-flow-web.onrender.com:443"),
            ],
            false,
        ),
        (
            &[("sec-fetch-site", "cross-site"), ("origin", "null")],
            false,
        ),
        (
            &[
                ("sec-fetch-site", "cross-site"),
                ("origin", "https://evil.example"),
                ("origin", FRONTEND),
            ],
            false,
        ),
        (&[("origin", "https://evil.example")], false),
        (&[("origin", "null")], false),
    ];
    for (headers, passes) in cases {
        let mut headers = headers.to_vec();
        headers.push(("content-length", "0"));
        let response = app.raw("POST", "/api/auth/logout", &headers).await;
        if *passes {
            assert_eq!(response.status, 204, "{headers:?}: {response:?}");
        } else {
            assert_eq!(response.status, 403, "{headers:?}: {response:?}");
            assert_eq!(response.json()["error"]["code"], "cross_site_request");
        }
    }
    // Safe methods are never refused, whoever asks.
    let response = app
        .raw(
            "GET",
            "/api/session",
            &[
                ("sec-fetch-site", "cross-site"),
                ("origin", "https://evil.example"),
            ],
        )
        .await;
    assert_eq!(response.status, 200);
}

// ---------------------------------------------------------------------------------------------
// Cookie: every line, every pair, names case-sensitive (RFC 6265 §5.4, RFC 9113 §8.2.3)
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn the_session_cookie_is_found_in_every_form_of_the_cookie_field_rfc6265_5_4() {
    let app = TestConfig::new(Backend::Sqlite).spawn().await;
    app.add_user("ada@example.com", "correct horse battery")
        .await;
    let session = app.log_in("ada@example.com", "correct horse battery").await;
    let (name, token) = session.split_once('=').unwrap();
    assert_eq!(name, "rf_session");
    let quoted = format!("{name}=\"{token}\"");
    let upper = format!("{}={token}", name.to_uppercase());
    let cases: Vec<(Vec<String>, u16)> = vec![
        (vec![session.clone()], 200),
        (vec![format!("a=1; {session}; b=2")], 200),
        (vec![format!("a=1;{session};b=2")], 200),
        (vec![format!("   {session}   ")], 200),
        (vec![format!("a=1;   {session}")], 200),
        // HTTP/2 sends one line per cookie (RFC 9113 §8.2.3); HTTP/1.1 clients may too.
        (vec!["a=1".into(), session.clone()], 200),
        (vec!["a=1; b=2".into(), format!("c=3; {session}")], 200),
        // Names are case-sensitive; the quotes of a quoted value are part of it (RFC 6265
        // §4.1.1), and this service never sets one.
        (vec![upper], 401),
        (vec![quoted], 401),
        // The first cookie of that name is the one read.
        (vec![format!("{name}=garbage; {session}")], 401),
        (vec![format!("{name}=garbage"), session.clone()], 401),
        (vec![format!("{session}; {name}=garbage")], 200),
        (vec![format!("{name}=")], 401),
        (vec![name.to_owned()], 401),
        (vec![format!("{name}={}", &token[..token.len() - 1])], 401),
        (vec!["".into()], 401),
    ];
    for (lines, status) in cases {
        let headers: Vec<_> = lines.iter().map(|l| ("cookie", l.as_str())).collect();
        let response = app.raw("GET", "/api/me", &headers).await;
        assert_eq!(response.status, status, "{lines:?}: {response:?}");
        if status == 200 {
            assert_eq!(response.json()["user"]["email"], "ada@example.com");
        }
    }
}
