//! The static files' HTTP semantics, member by member, over real sockets: representations and
//! their ETags (RFC 9110 §8.8.3), `Accept-Encoding` (§12.5.3), the conditional requests
//! (§13.1.1 `If-Match`, §13.1.2 `If-None-Match`, §13.1.3 `If-Modified-Since`, §13.1.5
//! `If-Range`), ranges (§14.2, §15.3.7, §15.5.17), 406 (§15.5.7) and what a 304 carries
//! (§15.4.5) for each response class. Requests are written byte for byte, so a header sent twice
//! is two field lines and odd spellings reach the server as they are.
//!
//! Over 400 lines: one test per RFC rule and response class, kept in one file so the sections
//! cited read in the RFC's order.

use edge_policy::{Policy, ResponseClass, EMBEDDED_POLICY};

use crate::helpers::{
    dist::{self, LOGO_URL, SCRIPT_URL},
    spawn_production_app, Backend, Dist, RawResponse, TestApp, TestConfig,
};

/// A production instance serving `dist`.
async fn serve(dist: &Dist) -> TestApp {
    TestConfig::new(Backend::Sqlite)
        .var("APP_ENV", "production")
        .var("FRONTEND_DIR", dist.path().to_str().unwrap())
        .spawn()
        .await
}

/// The policy's `Cache-Control` for `class`.
fn cache_control(class: ResponseClass) -> String {
    Policy::from_toml(EMBEDDED_POLICY)
        .unwrap()
        .headers_for("production", class, &[])
        .unwrap()
        .into_iter()
        .find(|h| h.name.eq_ignore_ascii_case("cache-control"))
        .unwrap()
        .value
}

fn etag(response: &RawResponse) -> String {
    response
        .header("etag")
        .unwrap_or_else(|| panic!("no ETag: {response:?}"))
        .to_owned()
}

/// `GET path` with `Accept-Encoding: coding` (none for `identity`): the 200 and its ETag.
async fn representation(app: &TestApp, path: &str, coding: &str) -> RawResponse {
    let response = app.raw("GET", path, &[("accept-encoding", coding)]).await;
    assert_eq!(response.status, 200, "{path} {coding}: {response:?}");
    response
}

/// The codings a file with `.br` and `.gz` beside it is served in, as `Accept-Encoding` asks
/// for them and `Content-Encoding` names them.
const CODINGS: [(&str, Option<&str>); 3] = [
    ("br", Some("br")),
    ("gzip", Some("gzip")),
    ("identity", None),
];

// ---------------------------------------------------------------------------------------------
// §15.4.5: a 304 carries what its 200 would have (Cache-Control, ETag, Vary), in every class
// ---------------------------------------------------------------------------------------------

/// Asserts that a conditional GET and HEAD with the 200's ETag get a 304 with that 200's caching
/// headers and no body.
async fn assert_304_keeps_caching_headers(app: &TestApp, path: &str, coding: &str, class: &str) {
    let ok = representation(app, path, coding).await;
    let tag = etag(&ok);
    for method in ["GET", "HEAD"] {
        let not_modified = app
            .raw(
                method,
                path,
                &[("accept-encoding", coding), ("if-none-match", &tag)],
            )
            .await;
        let what = format!("{method} {path} ({coding}, {class})");
        assert_eq!(not_modified.status, 304, "{what}: {not_modified:?}");
        for name in ["cache-control", "etag", "vary"] {
            assert_eq!(
                not_modified.header_lines(name),
                ok.header_lines(name),
                "{what}: {name}"
            );
        }
        assert!(not_modified.body.is_empty(), "{what}");
        assert!(not_modified.header("content-encoding").is_none(), "{what}");
    }
}

#[tokio::test]
async fn a_304_for_a_document_keeps_its_cache_control_etag_and_vary_rfc9110_15_4_5() {
    let dist = Dist::new();
    let app = serve(&dist).await;
    // The document class is every path that serves index.html: the root, the file itself, a
    // deep link, a deep link with a trailing slash; each in each coding.
    for path in ["/", "/index.html", "/reports/2026/q3", "/reports/"] {
        for (coding, _) in CODINGS {
            assert_304_keeps_caching_headers(&app, path, coding, "document").await;
        }
        let ok = representation(&app, path, "gzip").await;
        assert_eq!(
            ok.header("cache-control"),
            Some(cache_control(ResponseClass::Document).as_str()),
            "{path}: the document class, not the redirect class's no-store"
        );
    }
}

#[tokio::test]
async fn a_304_for_a_hashed_asset_keeps_its_caching_headers_in_each_coding_rfc9110_15_4_5() {
    let dist = Dist::new();
    let app = serve(&dist).await;
    for (coding, _) in CODINGS {
        assert_304_keeps_caching_headers(&app, SCRIPT_URL, coding, "asset").await;
    }
    let ok = representation(&app, SCRIPT_URL, "br").await;
    assert_eq!(
        ok.header("cache-control"),
        Some(cache_control(ResponseClass::Asset).as_str())
    );
    assert_eq!(ok.header("vary"), Some("accept-encoding"));
}

#[tokio::test]
async fn a_304_for_a_file_without_variants_sends_no_vary_rfc9110_12_5_5() {
    // One representation only: nothing varies, so neither the 200 nor the 304 says Vary.
    let dist = Dist::new();
    let app = serve(&dist).await;
    assert_304_keeps_caching_headers(&app, LOGO_URL, "gzip, br", "asset").await;
    let ok = representation(&app, LOGO_URL, "gzip, br").await;
    assert!(ok.header("vary").is_none(), "{ok:?}");
    assert!(ok.header("content-encoding").is_none());
}

#[tokio::test]
async fn no_api_route_answers_304_whatever_the_precondition_rfc9110_15_4_5() {
    // The API class sends no validator (no ETag, no Last-Modified), so it has nothing to
    // compare a precondition with: every GET and HEAD route answers in full.
    let app = spawn_production_app().await;
    let routes = api::router::ROUTES
        .iter()
        .copied()
        .chain(["/api/nope", "/api"]);
    for path in routes {
        for method in ["GET", "HEAD"] {
            for precondition in [
                ("if-none-match", "*"),
                ("if-none-match", "\"x\", W/\"y\""),
                ("if-modified-since", "Sun, 06 Nov 2050 08:49:37 GMT"),
            ] {
                let response = app.raw(method, path, &[precondition]).await;
                assert_ne!(response.status, 304, "{method} {path} {precondition:?}");
                assert!(response.header("etag").is_none(), "{method} {path}");
                assert!(
                    response.header("last-modified").is_none(),
                    "{method} {path}"
                );
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// §8.8.3: one strong ETag per representation, stable for a build
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn each_coding_has_its_own_strong_etag_rfc9110_8_8_3() {
    let dist = Dist::new();
    let app = serve(&dist).await;
    for path in ["/", SCRIPT_URL] {
        let mut tags = Vec::new();
        for (coding, content_encoding) in CODINGS {
            let response = representation(&app, path, coding).await;
            assert_eq!(response.header("content-encoding"), content_encoding);
            let tag = etag(&response);
            assert!(!tag.starts_with("W/"), "{path} {coding}: strong, {tag}");
            tags.push(tag);
        }
        let identity = tags[2].trim_matches('"');
        assert_eq!(
            tags,
            [
                format!("\"{identity}-br\""),
                format!("\"{identity}-gz\""),
                format!("\"{identity}\""),
            ],
            "{path}: one tag per representation, named after it"
        );
        assert!(
            identity.len() == 24 && identity.bytes().all(|b| b.is_ascii_hexdigit()),
            "{identity}"
        );
    }
}

#[tokio::test]
async fn etags_are_the_same_on_two_instances_of_one_build_and_change_with_it_rfc9110_8_8_3() {
    // Two instances behind one balancer must agree, or every revalidation that lands on the
    // other instance would be a full download.
    let dist = Dist::new();
    let (first, second) = (serve(&dist).await, serve(&dist).await);
    let paths = [
        "/",
        SCRIPT_URL,
        LOGO_URL,
        dist::PLUS_URL,
        dist::NON_ASCII_URL,
        dist::NESTED_URL,
    ];
    for path in paths {
        for (coding, _) in CODINGS {
            assert_eq!(
                etag(&representation(&first, path, coding).await),
                etag(&representation(&second, path, coding).await),
                "{path} {coding}"
            );
        }
    }
    // Another build of the script: another tag for every representation.
    let changed = Dist::new();
    std::fs::write(
        changed.path().join("assets/app-1a2b3c4d.js"),
        "changed();\n",
    )
    .unwrap();
    let third = serve(&changed).await;
    for (coding, _) in CODINGS {
        assert_ne!(
            etag(&representation(&first, SCRIPT_URL, coding).await),
            etag(&representation(&third, SCRIPT_URL, coding).await),
            "{coding}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// §13.1.2 If-None-Match: weak comparison with the chosen representation's tag
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn if_none_match_in_every_form_rfc9110_13_1_2() {
    let dist = Dist::new();
    let app = serve(&dist).await;
    let gz = etag(&representation(&app, SCRIPT_URL, "gzip").await);
    let identity = etag(&representation(&app, SCRIPT_URL, "identity").await);
    let weak = format!("W/{gz}");
    let list = format!("\"a\", {gz}, \"b\"");
    let padded = format!("   \"a\"  ,   {gz}   ");
    let weak_list = format!("W/\"a\",W/{gz}");
    let unquoted = gz.trim_matches('"').to_owned();
    let with_invalid = format!("{gz}, unquoted");
    let cases: Vec<(&str, Vec<&str>, u16)> = vec![
        ("the tag itself", vec![&gz], 304),
        ("its weak form: weak comparison", vec![&weak], 304),
        ("in a list", vec![&list], 304),
        ("in a padded list", vec![&padded], 304),
        ("in a list of weak tags", vec![&weak_list], 304),
        ("on the second of two field lines", vec!["\"a\"", &gz], 304),
        ("the wildcard", vec!["*"], 304),
        ("another tag", vec!["\"other\""], 200),
        ("another representation's tag", vec![&identity], 200),
        (
            "no representation's tag, on two lines",
            vec!["\"a\"", "\"b\""],
            200,
        ),
        ("unquoted: not an entity-tag, ignored", vec![&unquoted], 200),
        (
            "a list with an invalid member: the member is ignored, the rest still counts",
            vec![&with_invalid],
            304,
        ),
        ("empty: ignored", vec![""], 200),
    ];
    for (what, lines, status) in cases {
        let mut headers = vec![("accept-encoding", "gzip")];
        headers.extend(lines.iter().map(|l| ("if-none-match", *l)));
        for method in ["GET", "HEAD"] {
            let response = app.raw(method, SCRIPT_URL, &headers).await;
            assert_eq!(response.status, status, "{method}, {what}: {lines:?}");
            assert_eq!(etag(&response), gz, "{method}, {what}");
        }
    }
    // The header name in any case is the same field (RFC 9110 §5.1).
    let response = app
        .raw(
            "GET",
            SCRIPT_URL,
            &[("Accept-Encoding", "gzip"), ("IF-NONE-MATCH", &gz)],
        )
        .await;
    assert_eq!(response.status, 304);
}

// ---------------------------------------------------------------------------------------------
// §13.1.1 If-Match: strong comparison, 412 when it fails
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn if_match_in_every_form_rfc9110_13_1_1() {
    let dist = Dist::new();
    let app = serve(&dist).await;
    let gz = etag(&representation(&app, SCRIPT_URL, "gzip").await);
    let identity = etag(&representation(&app, SCRIPT_URL, "identity").await);
    let weak = format!("W/{gz}");
    let list = format!("\"a\" , {gz}");
    let cases: Vec<(&str, Vec<&str>, u16)> = vec![
        ("the tag itself", vec![&gz], 200),
        ("in a list, with spaces", vec![&list], 200),
        ("on the second of two field lines", vec!["\"a\"", &gz], 200),
        ("the wildcard: a representation exists", vec!["*"], 200),
        ("its weak form: strong comparison fails", vec![&weak], 412),
        ("another tag", vec!["\"other\""], 412),
        ("another representation's tag", vec![&identity], 412),
    ];
    for (what, lines, status) in cases {
        let mut headers = vec![("accept-encoding", "gzip")];
        headers.extend(lines.iter().map(|l| ("if-match", *l)));
        let response = app.raw("GET", SCRIPT_URL, &headers).await;
        assert_eq!(response.status, status, "{what}: {lines:?}");
        if status == 412 {
            assert_eq!(
                response.json()["error"]["code"],
                "precondition_failed",
                "{what}"
            );
            assert_eq!(response.header("content-type"), Some("application/json"));
        } else {
            assert_eq!(response.body, dist.read("assets/app-1a2b3c4d.js.gz"));
        }
    }
    // If-Match is evaluated before If-None-Match (§13.2.2): a failed If-Match is a 412 even
    // where If-None-Match alone would give a 304.
    let both = app
        .raw(
            "GET",
            SCRIPT_URL,
            &[
                ("accept-encoding", "gzip"),
                ("if-match", "\"other\""),
                ("if-none-match", &gz),
            ],
        )
        .await;
    assert_eq!(both.status, 412);
}

// ---------------------------------------------------------------------------------------------
// §13.1.3 If-Modified-Since: no Last-Modified is sent, so there is nothing to compare with
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn if_modified_since_is_ignored_as_no_last_modified_is_sent_rfc9110_13_1_3() {
    let dist = Dist::new();
    let app = serve(&dist).await;
    for path in ["/", SCRIPT_URL, LOGO_URL] {
        let ok = representation(&app, path, "gzip").await;
        assert!(ok.header("last-modified").is_none(), "{path}");
        for date in [
            "Sun, 06 Nov 1994 08:49:37 GMT",
            "Sun, 06 Nov 2050 08:49:37 GMT",
            "Sunday, 06-Nov-50 08:49:37 GMT",
            "Sun Nov  6 08:49:37 2050",
            "not a date",
            "Sun, 06 Nov 2050 08:49:37 GMT, Sun, 06 Nov 1994 08:49:37 GMT",
        ] {
            let response = app
                .raw(
                    "GET",
                    path,
                    &[("accept-encoding", "gzip"), ("if-modified-since", date)],
                )
                .await;
            assert_eq!(response.status, 200, "{path} {date}");
        }
        // With If-None-Match, If-Modified-Since is ignored anyway (§13.1.3): the tag decides.
        let tag = etag(&ok);
        let both = app
            .raw(
                "GET",
                path,
                &[
                    ("accept-encoding", "gzip"),
                    ("if-modified-since", "Sun, 06 Nov 1994 08:49:37 GMT"),
                    ("if-none-match", &tag),
                ],
            )
            .await;
        assert_eq!(both.status, 304, "{path}");
    }
}

// ---------------------------------------------------------------------------------------------
// §14.2 Range, §13.1.5 If-Range, §15.3.7 206, §15.5.17 416
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn one_byte_range_is_a_206_with_content_range_rfc9110_14_2_and_15_3_7() {
    let dist = Dist::new();
    let app = serve(&dist).await;
    let script = dist::script().into_bytes();
    let total = script.len();
    for (range, first, last) in [
        ("bytes=0-9", 0, 9),
        ("bytes=10-", 10, total - 1),
        ("bytes=-5", total - 5, total - 1),
        ("bytes=0-0", 0, 0),
        ("bytes=570-100000", 570, total - 1),
        ("BYTES=0-9", 0, 9),
        ("bytes=0-9,", 0, 9),
    ] {
        for method in ["GET", "HEAD"] {
            let response = app.raw(method, SCRIPT_URL, &[("range", range)]).await;
            assert_eq!(response.status, 206, "{method} {range}: {response:?}");
            assert_eq!(
                response.header("content-range"),
                Some(format!("bytes {first}-{last}/{total}").as_str()),
                "{range}"
            );
            assert_eq!(
                response.header("content-length"),
                Some((last - first + 1).to_string().as_str()),
                "{range}"
            );
            if method == "GET" {
                assert_eq!(response.body, &script[first..=last], "{range}");
            }
            assert_eq!(
                response.header("cache-control"),
                Some(cache_control(ResponseClass::Asset).as_str())
            );
        }
    }
    // A range of the gzip representation is a range of its bytes.
    let gz = dist.read("assets/app-1a2b3c4d.js.gz");
    let response = app
        .raw(
            "GET",
            SCRIPT_URL,
            &[("accept-encoding", "gzip"), ("range", "bytes=0-3")],
        )
        .await;
    assert_eq!(response.status, 206);
    assert_eq!(response.header("content-encoding"), Some("gzip"));
    assert_eq!(response.body, &gz[..4]);
    assert_eq!(
        response.header("content-range"),
        Some(format!("bytes 0-3/{}", gz.len()).as_str())
    );
}

#[tokio::test]
async fn an_unsatisfiable_range_is_a_416_with_the_length_rfc9110_15_5_17() {
    let dist = Dist::new();
    let app = serve(&dist).await;
    let total = dist::script().len();
    for range in ["bytes=580-", "bytes=1000-2000", "bytes=-0"] {
        let response = app.raw("GET", SCRIPT_URL, &[("range", range)]).await;
        assert_eq!(response.status, 416, "{range}: {response:?}");
        assert_eq!(
            response.header("content-range"),
            Some(format!("bytes */{total}").as_str()),
            "{range}"
        );
        assert_eq!(response.header("content-type"), Some("application/json"));
    }
}

#[tokio::test]
async fn several_or_invalid_ranges_get_the_whole_representation_rfc9110_14_2() {
    // §14.2: a server may ignore Range; this one sends the whole for anything but one range.
    let dist = Dist::new();
    let app = serve(&dist).await;
    let script = dist::script().into_bytes();
    for range in [
        "bytes=0-1,5-6",
        "bytes=0-1, 0-1",
        "bytes=x-y",
        "bytes=5-2",
        "bytes=",
        "bytes = 0-9",
        "lines=1-2",
        "0-9",
    ] {
        let response = app.raw("GET", SCRIPT_URL, &[("range", range)]).await;
        assert_eq!(response.status, 200, "{range}: {response:?}");
        assert!(response.header("content-range").is_none(), "{range}");
        assert_eq!(response.body, script, "{range}");
    }
}

#[tokio::test]
async fn if_range_sends_the_part_only_for_the_same_representation_rfc9110_13_1_5() {
    let dist = Dist::new();
    let app = serve(&dist).await;
    let identity = etag(&representation(&app, SCRIPT_URL, "identity").await);
    let gz = etag(&representation(&app, SCRIPT_URL, "gzip").await);
    let weak = format!("W/{identity}");
    for (what, if_range, status) in [
        ("the tag itself", identity.as_str(), 206),
        ("its weak form: never a match", &weak, 200),
        ("another representation's tag", &gz, 200),
        ("another tag", "\"other\"", 200),
        (
            "a date: no Last-Modified to match",
            "Sun, 06 Nov 2050 08:49:37 GMT",
            200,
        ),
        ("garbage: not a validator", "garbage", 200),
    ] {
        let response = app
            .raw(
                "GET",
                SCRIPT_URL,
                &[("range", "bytes=0-9"), ("if-range", if_range)],
            )
            .await;
        assert_eq!(response.status, status, "{what}: {response:?}");
    }
    // If-Range is a single value: two field lines are no validator, so no part is sent.
    let response = app
        .raw(
            "GET",
            SCRIPT_URL,
            &[
                ("range", "bytes=0-9"),
                ("if-range", &identity),
                ("IF-RANGE", &identity),
            ],
        )
        .await;
    assert_eq!(response.status, 200);
    // Without Range, If-Range means nothing (§13.1.5).
    let response = app.raw("GET", SCRIPT_URL, &[("if-range", &identity)]).await;
    assert_eq!(response.status, 200);
    // A fresh cache hit wins over a range: If-None-Match first (§13.2.2).
    let response = app
        .raw(
            "GET",
            SCRIPT_URL,
            &[("range", "bytes=0-9"), ("if-none-match", &identity)],
        )
        .await;
    assert_eq!(response.status, 304);
}

// ---------------------------------------------------------------------------------------------
// §12.5.3 Accept-Encoding, §15.5.7 406
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn accept_encoding_in_every_form_rfc9110_12_5_3() {
    let dist = Dist::new();
    let app = serve(&dist).await;
    // (field lines, the coding served)
    let cases: &[(&[&str], Option<&str>)] = &[
        (&[], None),
        (&["gzip, deflate, br"], Some("br")),
        (&["gzip"], Some("gzip")),
        (&["GZIP"], Some("gzip")),
        (&["Br"], Some("br")),
        (&["br;q=0, gzip"], Some("gzip")),
        (&["br;Q=0, gzip"], Some("gzip")),
        (&["BR ; q=0 , gzip"], Some("gzip")),
        (&["br;q=0.5, gzip;q=0.9"], Some("gzip")),
        (&["br;q=0.9, gzip;q=0.9"], Some("br")),
        (&["gzip;q=0.5, identity"], None),
        (&["  gzip  ,  br  "], Some("br")),
        (&["br;q=0", "gzip"], Some("gzip")),
        (&["deflate", "gzip"], Some("gzip")),
        (&["identity", "br"], Some("br")),
        (&["*"], Some("br")),
        (&["*;q=0, gzip"], Some("gzip")),
        (&["*;q=0, identity"], None),
        (&["x-gzip"], Some("gzip")),
        (&[""], None),
        (&["deflate, compress"], None),
        (&["br;q=2, gzip"], Some("gzip")),
        (&["br;q=0.0001, gzip"], Some("gzip")),
        (&["br;q=1.000, gzip;q=0.999"], Some("br")),
        (&["br;q, gzip"], Some("gzip")),
        (&["b r, gzip"], Some("gzip")),
        (&[",,, gzip ,"], Some("gzip")),
    ];
    for (lines, served) in cases {
        let headers: Vec<_> = lines.iter().map(|l| ("accept-encoding", *l)).collect();
        let response = app.raw("GET", SCRIPT_URL, &headers).await;
        assert_eq!(response.status, 200, "{lines:?}");
        assert_eq!(response.header("content-encoding"), *served, "{lines:?}");
        let file = match served {
            Some("br") => "assets/app-1a2b3c4d.js.br",
            Some(_) => "assets/app-1a2b3c4d.js.gz",
            None => "assets/app-1a2b3c4d.js",
        };
        assert_eq!(response.body, dist.read(file), "{lines:?}");
        assert_eq!(
            response.header("vary"),
            Some("accept-encoding"),
            "{lines:?}"
        );
    }
}

#[tokio::test]
async fn nothing_acceptable_is_a_json_406_that_still_varies_rfc9110_15_5_7() {
    let dist = Dist::new();
    let app = serve(&dist).await;
    for lines in [
        &["identity;q=0"][..],
        &["*;q=0"],
        &["br;q=0, gzip;q=0, identity;q=0"],
        &["IDENTITY;Q=0"],
        &["identity;q=0", "*;q=0"],
    ] {
        let headers: Vec<_> = lines.iter().map(|l| ("accept-encoding", *l)).collect();
        let response = app.raw("GET", SCRIPT_URL, &headers).await;
        assert_eq!(response.status, 406, "{lines:?}: {response:?}");
        assert_eq!(response.header("vary"), Some("accept-encoding"));
        assert_eq!(response.json()["error"]["code"], "not_acceptable");
    }
    // A file with one representation: identity refused and nothing else to offer.
    let response = app
        .raw("GET", LOGO_URL, &[("accept-encoding", "identity;q=0")])
        .await;
    assert_eq!(response.status, 406);
    // identity refused, but a coding the file has is acceptable.
    let response = app
        .raw(
            "GET",
            SCRIPT_URL,
            &[("accept-encoding", "identity;q=0, gzip")],
        )
        .await;
    assert_eq!(response.status, 200);
    assert_eq!(response.header("content-encoding"), Some("gzip"));
}

#[tokio::test]
async fn a_query_does_not_change_the_representation_rfc9110_8_8_3() {
    let dist = Dist::new();
    let app = serve(&dist).await;
    let plain = representation(&app, SCRIPT_URL, "gzip").await;
    let queried = representation(&app, &format!("{SCRIPT_URL}?v=2&x=%20"), "gzip").await;
    assert_eq!(etag(&plain), etag(&queried));
    assert_eq!(plain.body, queried.body);
}
