//! The differential test: one build served by the `api` binary and by nginx configured as a
//! static host (Debian's nginx-light: `root dist; gzip_static on; etag on;` `try_files $uri
//! /index.html` outside the assets, the policy's `_headers` as `add_header`, its `_redirects` as
//! `rewrite`), the same corpus of raw requests to each, and the answers compared: status,
//! `Cache-Control`, `Vary`, `Content-Encoding`, `Content-Length`, `Content-Range`, `Location` and
//! the body. ETags are compared by what they mean rather than by value (the two servers compute
//! them differently): on each side, a tag names exactly one body, stays the same across
//! requests, differs between codings, comes back on the 304 and the 206 of its representation,
//! and the conditional requests use the tag that side gave.
//!
//! Where the answers differ on purpose, the case says what each side gives and why, and that
//! difference is asserted too, so the list stays true. Without nginx on `PATH` the test says so
//! and passes, except under CI (`CI` set), where it fails: CI must run it.
//!
//! Over 400 lines because the case table is the test: one list of requests, each with its
//! expected agreement or difference, reads better whole than split by topic.

use std::{
    collections::HashMap,
    net::SocketAddr,
    path::{Path, PathBuf},
    process::Stdio,
    time::{Duration, Instant},
};

use edge_policy::{Policy, EMBEDDED_POLICY};
use tokio::process::{Child, Command};

use crate::helpers::{
    dist::{LOGO_URL, NESTED_URL, NON_ASCII_URL, PLUS_URL, SCRIPT_URL},
    exchange, request_bytes, ApiCommand, Dist, RawResponse,
};

/// Differences that hold for every answer, not one case.
const EVERYWHERE: &[&str] = &[
    "ETag values: ours hash the bytes (`\"<sha256 prefix>[-br|-gz]\"`), nginx's are \
     `\"<mtime>-<size>\"`: compared by meaning, not by value",
    "Last-Modified: nginx sends the file's mtime; we send none (a build's mtime says nothing a \
     content hash does not)",
    "Cache-Control on documents: ours is the policy's `cache.document`; `_headers` leaves HTML \
     to the host's default, and nginx has none",
    "error bodies: ours are the JSON error (`Cache-Control: no-store`), nginx's an HTML page; \
     for an error only the status and Vary are compared",
    "redirect bodies: ours is empty with the policy's `cache.redirect`, nginx's an HTML page \
     without Cache-Control; for a redirect only the status and Location are compared",
    "Content-Type (not compared): nginx's mime.types and ours differ in charset parameters",
];

// ---------------------------------------------------------------------------------------------
// The corpus
// ---------------------------------------------------------------------------------------------

/// What one side answers where the two differ on purpose.
#[derive(Debug, Clone, Copy)]
struct Expect {
    status: u16,
    /// `Content-Encoding` (None: absent).
    coding: Option<&'static str>,
    /// The file of the build the body must be (GET, 200 only).
    body: Option<&'static str>,
}

const fn answer(status: u16) -> Expect {
    Expect {
        status,
        coding: None,
        body: None,
    }
}

impl Expect {
    const fn coding(mut self, coding: &'static str) -> Expect {
        self.coding = Some(coding);
        self
    }
    const fn body(mut self, file: &'static str) -> Expect {
        self.body = Some(file);
        self
    }
}

#[derive(Debug, Clone, Copy)]
struct Differs {
    why: &'static str,
    ours: Expect,
    nginx: Expect,
}

/// One request, sent byte for byte. Header values may name the validators each side gave:
/// `{etag}` (for this target and these `Accept-Encoding` lines), `{etag:CODING}` (for this
/// target with `Accept-Encoding: CODING`), `{last-modified}` (nginx's, sent to both).
#[derive(Debug, Clone)]
struct Case {
    method: &'static str,
    target: String,
    headers: Vec<(&'static str, String)>,
    differs: Option<Differs>,
}

fn get(target: &str) -> Case {
    Case {
        method: "GET",
        target: target.to_owned(),
        headers: Vec::new(),
        differs: None,
    }
}

fn head(target: &str) -> Case {
    Case {
        method: "HEAD",
        ..get(target)
    }
}

impl Case {
    fn h(mut self, name: &'static str, value: &str) -> Case {
        self.headers.push((name, value.to_owned()));
        self
    }
    fn ae(self, value: &str) -> Case {
        self.h("accept-encoding", value)
    }
    fn differs(mut self, why: &'static str, ours: Expect, nginx: Expect) -> Case {
        self.differs = Some(Differs { why, ours, nginx });
        self
    }
    fn accept_encoding(&self) -> Vec<String> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case("accept-encoding"))
            .map(|(_, v)| v.clone())
            .collect()
    }
}

const JS: &str = "assets/app-1a2b3c4d.js";
const JS_GZ: &str = "assets/app-1a2b3c4d.js.gz";
const JS_BR: &str = "assets/app-1a2b3c4d.js.br";
const INDEX: &str = "index.html";

// Reasons, one line each.
const NO_BROTLI: &str = "nginx-light has no brotli module: where br is preferred, nginx sends gzip if accepted, else identity";
const X_GZIP: &str = "we read x-gzip as gzip (RFC 9110 §8.4.1.3); nginx does not";
const STAR: &str =
    "nginx ignores `*` in Accept-Encoding (RFC 9110 §12.5.3: it covers every coding not named)";
const Q_ORDER: &str = "nginx sends gzip whenever its q is above 0; we send the coding with the highest q (RFC 9110 §12.5.3)";
const AE_LINES: &str = "nginx reads only the first Accept-Encoding line; we read every line as one list (RFC 9110 §5.3)";
const INM_LINES: &str = "nginx 1.22 refuses a repeated If-None-Match with a 400; we read every line as one list (RFC 9110 §5.3)";
const NOT_ACCEPTABLE: &str = "identity refused and nothing else acceptable: we answer 406 (RFC 9110 §15.5.7), nginx sends identity anyway";
const NO_LAST_MODIFIED: &str =
    "we send no Last-Modified, so If-Modified-Since and a dated If-Range have nothing to match";
const MULTI_RANGE: &str = "several ranges: we send the whole representation (RFC 9110 §14.2 allows it), nginx a multipart/byteranges 206";
const INVALID_RANGE: &str =
    "an invalid byte range: we ignore Range (RFC 9110 §14.2), nginx answers 416";
const GZIP_RANGE: &str =
    "nginx's gzip_static ignores Range on the .gz; we answer ranges of every representation";
const FILE_LIKE: &str = "a missing name with an extension is a file request: our JSON 404, where try_files gives index.html";
const API_PREFIX: &str = "nothing under /api is ever the frontend here; the static host has no API and serves index.html";
const IMS_WITH_INM: &str = "nginx also needs If-Modified-Since to match when If-None-Match does; RFC 9110 §13.1.3 says to ignore it then, as we do";
const NOT_A_NAME: &str = "decoded bytes that are not UTF-8 or hold NUL name no file: our 404; nginx falls back to index.html or refuses NUL with 400";

/// The corpus: conditional GET and HEAD, If-None-Match lists, weak tags and `*`, ranges,
/// negotiation, encoded names and traversal attempts, odd spellings of paths.
fn corpus() -> Vec<Case> {
    let ours_br = answer(200).coding("br").body(JS_BR);
    let nginx_gz = answer(200).coding("gzip").body(JS_GZ);
    let identity = answer(200).body(JS);
    let index = answer(200).body(INDEX);
    let mut cases = Vec::new();

    // Every file, GET and HEAD, no negotiation.
    for target in [
        "/",
        "/index.html",
        "/reports/2026/q3",
        SCRIPT_URL,
        LOGO_URL,
        PLUS_URL,
        NON_ASCII_URL,
        NESTED_URL,
    ] {
        cases.push(get(target));
        cases.push(head(target));
    }

    // Negotiation, on the script and on the document.
    for target in [SCRIPT_URL, "/"] {
        for value in [
            "gzip",
            "GZIP",
            "x-gzip, gzip",
            " gzip ",
            "deflate, gzip",
            "gzip;q=0",
            "gzip;Q=0",
            "gzip ; q=0.000",
            "gzip;q=0.001",
            "",
            "deflate",
            "identity",
            "gzip;q=0, identity",
        ] {
            cases.push(get(target).ae(value));
        }
        cases.push(head(target).ae("gzip"));
    }
    let (ours_br_index, nginx_gz_index) = (
        answer(200).coding("br").body("index.html.br"),
        answer(200).coding("gzip").body("index.html.gz"),
    );
    for (target, ours, nginx_gzip, nginx_identity) in [
        (SCRIPT_URL, ours_br, nginx_gz, identity),
        ("/", ours_br_index, nginx_gz_index, index),
    ] {
        cases.push(
            get(target)
                .ae("gzip, deflate, br")
                .differs(NO_BROTLI, ours, nginx_gzip),
        );
        cases.push(
            get(target)
                .ae("br;q=1, gzip;q=0.5")
                .differs(NO_BROTLI, ours, nginx_gzip),
        );
        cases.push(
            get(target)
                .ae("br")
                .differs(NO_BROTLI, ours, nginx_identity),
        );
        cases.push(get(target).ae("*").differs(STAR, ours, nginx_identity));
    }
    cases.push(get(SCRIPT_URL).ae("x-gzip").differs(
        X_GZIP,
        answer(200).coding("gzip").body(JS_GZ),
        identity,
    ));
    cases.push(
        get(SCRIPT_URL)
            .ae("gzip;q=0.5, identity")
            .differs(Q_ORDER, identity, nginx_gz),
    );
    cases.push(get(SCRIPT_URL).ae("deflate").ae("gzip").differs(
        AE_LINES,
        answer(200).coding("gzip").body(JS_GZ),
        identity,
    ));
    for value in ["identity;q=0", "*;q=0"] {
        cases.push(
            get(SCRIPT_URL)
                .ae(value)
                .differs(NOT_ACCEPTABLE, answer(406), identity),
        );
    }
    cases.push(get(LOGO_URL).ae("gzip, br"));

    // Conditional requests: the document, a deep link, the script in each coding, the logo.
    for (target, value) in [
        ("/", "gzip"),
        ("/", ""),
        ("/reports/2026/q3", "gzip"),
        (SCRIPT_URL, "gzip"),
        (SCRIPT_URL, ""),
        (LOGO_URL, ""),
        (NESTED_URL, ""),
    ] {
        let ae = |case: Case| {
            if value.is_empty() {
                case
            } else {
                case.ae(value)
            }
        };
        cases.push(ae(get(target)).h("if-none-match", "{etag}"));
        cases.push(ae(head(target)).h("if-none-match", "{etag}"));
        cases.push(ae(get(target)).h("if-none-match", "W/{etag}"));
        cases.push(ae(get(target)).h("if-none-match", "\"x\", {etag}, \"y\""));
        cases.push(ae(get(target)).h("if-none-match", "  W/\"x\" ,W/{etag}  "));
        cases.push(ae(get(target)).h("if-none-match", "*"));
        cases.push(ae(get(target)).h("if-none-match", "\"other\""));
        cases.push(ae(get(target)).h("if-match", "{etag}"));
        cases.push(ae(get(target)).h("if-match", "W/{etag}"));
        cases.push(ae(get(target)).h("if-match", "\"other\""));
        cases.push(ae(get(target)).h("if-match", "*"));
    }
    // An invalid member of the list: the valid members still count.
    cases.push(get(SCRIPT_URL).h("if-none-match", "{etag}, unquoted"));
    cases.push(get(SCRIPT_URL).h("if-none-match", "unquoted"));
    cases.push(get(SCRIPT_URL).h("if-match", "unquoted"));
    // Another representation's tag is not this one's.
    cases.push(
        get(SCRIPT_URL)
            .ae("gzip")
            .h("if-none-match", "{etag:identity}"),
    );
    cases.push(get(SCRIPT_URL).h("if-none-match", "{etag:gzip}"));
    cases.push(get(SCRIPT_URL).ae("gzip").h("if-match", "{etag:identity}"));
    // br asked for: each side compares with the representation it chose.
    cases.push(get(SCRIPT_URL).ae("br, gzip").h("if-none-match", "{etag}"));
    cases.push(
        get(SCRIPT_URL)
            .ae("gzip")
            .h("if-none-match", "\"x\"")
            .h("if-none-match", "{etag}")
            .differs(INM_LINES, answer(304), answer(400)),
    );
    // If-Modified-Since: nginx compares with its Last-Modified; we have none.
    cases.push(
        get(SCRIPT_URL)
            .h("if-modified-since", "{last-modified}")
            .differs(NO_LAST_MODIFIED, identity, answer(304)),
    );
    cases.push(get("/").h("if-modified-since", "{last-modified}").differs(
        NO_LAST_MODIFIED,
        index,
        answer(304),
    ));
    // If-None-Match decides over If-Modified-Since (RFC 9110 §13.1.3), both ways.
    cases.push(
        get(SCRIPT_URL)
            .h("if-modified-since", "{last-modified}")
            .h("if-none-match", "\"other\""),
    );
    cases.push(
        get(SCRIPT_URL)
            .h("if-modified-since", "Sun, 06 Nov 1994 08:49:37 GMT")
            .h("if-none-match", "{etag}")
            .differs(IMS_WITH_INM, answer(304), identity),
    );
    cases.push(get(SCRIPT_URL).h("if-modified-since", "Sun, 06 Nov 1994 08:49:37 GMT"));
    cases.push(get(SCRIPT_URL).h("if-modified-since", "not a date"));

    // Ranges on the script (identity).
    for range in [
        "bytes=0-9",
        "bytes=10-",
        "bytes=-5",
        "bytes=0-0",
        "bytes=570-100000",
        "bytes=-1000",
        "bytes=580-",
        "bytes=1000-2000",
        "lines=1-2",
    ] {
        cases.push(get(SCRIPT_URL).h("range", range));
    }
    cases.push(head(SCRIPT_URL).h("range", "bytes=0-9"));
    cases.push(get("/").h("range", "bytes=0-15"));
    cases.push(get(LOGO_URL).h("range", "bytes=-10"));
    for range in ["bytes=0-1,5-6", "bytes=0-1, 3-4, 8-9"] {
        cases.push(
            get(SCRIPT_URL)
                .h("range", range)
                .differs(MULTI_RANGE, identity, answer(206)),
        );
    }
    for range in ["bytes=x-y", "bytes=5-2"] {
        cases.push(
            get(SCRIPT_URL)
                .h("range", range)
                .differs(INVALID_RANGE, identity, answer(416)),
        );
    }
    cases.push(get(SCRIPT_URL).ae("gzip").h("range", "bytes=0-9").differs(
        GZIP_RANGE,
        answer(206).coding("gzip"),
        nginx_gz,
    ));
    for if_range in ["{etag}", "W/{etag}", "\"old\"", "{etag:gzip}"] {
        cases.push(
            get(SCRIPT_URL)
                .h("range", "bytes=0-9")
                .h("if-range", if_range),
        );
    }
    cases.push(
        get(SCRIPT_URL)
            .h("range", "bytes=0-9")
            .h("if-range", "{last-modified}")
            .differs(NO_LAST_MODIFIED, identity, answer(206)),
    );
    cases.push(
        get(SCRIPT_URL)
            .h("range", "bytes=0-9")
            .h("if-range", "garbage"),
    );
    cases.push(
        get(SCRIPT_URL)
            .h("range", "bytes=0-9")
            .h("if-none-match", "{etag}"),
    );
    cases.push(
        get(SCRIPT_URL)
            .h("range", "bytes=0-9")
            .h("if-match", "\"other\""),
    );

    // Encoded names and odd spellings that reach a file.
    for target in [
        "/assets/caf%c3%a9%20logo-1a2b.svg",
        "/assets/a%2Bb-1a2b.txt",
        "/assets/%e6%97%a5%e6%9c%ac-1a2b.txt",
        "/%61ssets/app-1a2b3c4d.js",
        "//assets/app-1a2b3c4d.js",
        "/assets//app-1a2b3c4d.js",
        "/./assets/app-1a2b3c4d.js",
        "/assets/./app-1a2b3c4d.js",
        "/assets/%2e/app-1a2b3c4d.js",
        "/x/../assets/app-1a2b3c4d.js",
        "/x/%2e%2e/assets/app-1a2b3c4d.js",
        "/assets%2Fapp-1a2b3c4d.js",
        "/assets/app-1a2b3c4d.js?v=1",
        "/docs/guide/intro%2Etxt",
    ] {
        cases.push(get(target));
        cases.push(head(target));
    }
    // Spellings that reach the document, or nothing.
    for target in [
        "/reports/",
        "/docs/guide/",
        "/docs/guide",
        "/assets",
        "/assets/..",
        "/index.html/",
        "/docs/guide/intro.txt/..",
        "/reports/../reports/q3",
        "/assets/",
        "/assets/missing-0000.js",
        "/assets/app-1a2b3c4d.js/",
        "/assets/caf%C3%A9+logo-1a2b.svg",
        "/assets/a%20b-1a2b.txt",
    ] {
        cases.push(get(target));
    }
    // Traversal: refused on both sides (400), whatever the encoding.
    for target in [
        "/..",
        "/../secret.txt",
        "/%2e%2e/secret.txt",
        "/%2E%2E/secret.txt",
        "/..%2fsecret.txt",
        "/assets/../../secret.txt",
        "/assets/..%2f..%2fsecret.txt",
        "//../secret.txt",
    ] {
        cases.push(get(target));
        cases.push(head(target));
    }
    // Names the two resolve differently, on purpose.
    for target in [
        "/missing.png",
        "/INDEX.HTML",
        "/%252e%252e/secret.txt",
        "/docs/guide/missing.txt",
    ] {
        cases.push(get(target).differs(FILE_LIKE, answer(404), index));
    }
    for target in ["/api/x", "/API/x", "//api/x", "/%61pi/x", "/api%2Fx"] {
        cases.push(get(target).differs(API_PREFIX, answer(404), index));
    }
    cases.push(get("/%FF").differs(NOT_A_NAME, answer(404), index));
    // UTF-8 octets in the request-target (RFC 3986 §2 wants them encoded): both accept them.
    cases.push(get("/assets/caf\u{e9}%20logo-1a2b.svg"));
    cases.push(get("/a%00b").differs(NOT_A_NAME, answer(404), answer(400)));
    // The policy's redirects: the query goes along on both.
    for target in [
        "/login",
        "/login?next=/a",
        "/login?next=%0d%0aSet-Cookie:%20evil=1",
        "//login?next=/a",
        "/login/",
    ] {
        cases.push(get(target));
        cases.push(head(target));
    }
    cases
}

// ---------------------------------------------------------------------------------------------
// nginx as a static host
// ---------------------------------------------------------------------------------------------

/// nginx from `PATH`, or `None` (with a message) when there is none — a failure under CI.
fn nginx_binary() -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|dir| dir.join("nginx"))
            .find(|candidate| candidate.is_file())
    });
    if found.is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "nginx is not on PATH, but CI is set: the differential test must run in CI \
             (`apt-get install nginx-light`; .ci/run installs it)"
        );
        eprintln!("skipped: nginx is not on PATH (apt-get install nginx-light)");
    }
    found
}

/// `value` inside a double-quoted nginx string.
fn quoted(value: &str) -> String {
    assert!(
        !value.contains(['"', '$', '\\']),
        "an nginx string cannot hold {value:?} as is"
    );
    format!("\"{value}\"")
}

/// The nginx configuration of a static host serving `dist`: the policy's `_headers` rules as
/// `add_header` (`/*` everywhere, the assets prefix's on top: nginx does not inherit
/// `add_header` into a location that has its own), its `_redirects` as `rewrite` (which keeps
/// the query), precompressed gzip, ETags, and the SPA fallback outside the assets.
fn nginx_config(dist: &Path, prefix: &Path, port: u16) -> String {
    let policy = Policy::from_toml(EMBEDDED_POLICY).unwrap();
    let hashes = edge_policy::emit::dist_script_hashes(dist).unwrap();
    let rules = policy.static_header_rules("production", &hashes).unwrap();
    let add_headers = |path: &str| -> String {
        rules
            .iter()
            .filter(|rule| rule.path == "/*" || rule.path == path)
            .flat_map(|rule| &rule.headers)
            .map(|h| format!("      add_header {} {};\n", h.name, quoted(&h.value)))
            .collect()
    };
    let assets = policy.assets.prefix.clone();
    let redirects: String = policy
        .redirects
        .iter()
        .map(|r| {
            let flag = match r.status {
                301 => "permanent",
                302 => "redirect",
                other => panic!("no nginx rewrite flag for a {other} redirect"),
            };
            let (pattern, target) = match r.from.strip_suffix('*') {
                Some(prefix) => (
                    format!("^{}(.*)$", regex_escape(prefix)),
                    r.to.replace(":splat", "$1"),
                ),
                None => (format!("^{}$", regex_escape(&r.from)), r.to.clone()),
            };
            format!("    rewrite {pattern} {target} {flag};\n")
        })
        .collect();
    let prefix = prefix.display();
    let root = dist.display();
    format!(
        "daemon off;\n\
         master_process off;\n\
         pid {prefix}/nginx.pid;\n\
         error_log stderr error;\n\
         events {{ worker_connections 64; }}\n\
         http {{\n\
         \x20 access_log off;\n\
         \x20 client_body_temp_path {prefix}/body;\n\
         \x20 proxy_temp_path {prefix}/proxy;\n\
         \x20 fastcgi_temp_path {prefix}/fastcgi;\n\
         \x20 uwsgi_temp_path {prefix}/uwsgi;\n\
         \x20 scgi_temp_path {prefix}/scgi;\n\
         \x20 types {{ text/html html; text/javascript js; image/svg+xml svg; text/plain txt; }}\n\
         \x20 default_type application/octet-stream;\n\
         \x20 server_tokens off;\n\
         \x20 server {{\n\
         \x20   listen 127.0.0.1:{port};\n\
         \x20   root \"{root}\";\n\
         \x20   etag on;\n\
         \x20   gzip off;\n\
         \x20   gzip_static on;\n\
         \x20   gzip_vary on;\n\
         \x20   absolute_redirect off;\n\
         {redirects}\
         \x20   location {assets} {{\n\
         {asset_headers}\
         \x20     try_files $uri =404;\n\
         \x20   }}\n\
         \x20   location / {{\n\
         {document_headers}\
         \x20     try_files $uri /index.html;\n\
         \x20   }}\n\
         \x20 }}\n\
         }}\n",
        asset_headers = add_headers(&format!("{assets}*")),
        document_headers = add_headers("/*"),
    )
}

fn regex_escape(text: &str) -> String {
    text.chars()
        .flat_map(|c| {
            let special = ".^$*+?()[]{}|\\".contains(c);
            special
                .then_some('\\')
                .into_iter()
                .chain(std::iter::once(c))
        })
        .collect()
}

/// A running nginx, killed when dropped.
struct Nginx {
    _child: Child,
    address: SocketAddr,
    _prefix: tempfile::TempDir,
}

async fn start_nginx(binary: &Path, dist: &Path) -> Nginx {
    let prefix = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let config = prefix.path().join("nginx.conf");
    std::fs::write(&config, nginx_config(dist, prefix.path(), port)).unwrap();
    let child = Command::new(binary)
        .arg("-p")
        .arg(prefix.path())
        .arg("-c")
        .arg(&config)
        .arg("-e")
        .arg("stderr")
        .stdin(Stdio::null())
        .stdout(Stdio::inherit())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .expect("start nginx");
    let address: SocketAddr = ([127, 0, 0, 1], port).into();
    let deadline = Instant::now() + Duration::from_secs(10);
    while tokio::net::TcpStream::connect(address).await.is_err() {
        assert!(
            Instant::now() < deadline,
            "nginx did not listen on {address}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Nginx {
        _child: child,
        address,
        _prefix: prefix,
    }
}

// ---------------------------------------------------------------------------------------------
// Sending and comparing
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
enum Side {
    Ours,
    Nginx,
}

/// One server, and the answers it gave to the plain GETs the templates refer to.
struct Server {
    side: Side,
    address: SocketAddr,
    primed: HashMap<(String, Vec<String>), RawResponse>,
}

impl Server {
    /// `GET target` with these `Accept-Encoding` lines and nothing else, asked once.
    async fn plain(&mut self, target: &str, accept_encoding: &[String]) -> RawResponse {
        let key = (target.to_owned(), accept_encoding.to_vec());
        if let Some(response) = self.primed.get(&key) {
            return response.clone();
        }
        let headers: Vec<_> = accept_encoding
            .iter()
            .map(|v| ("accept-encoding", v.as_str()))
            .collect();
        let response = exchange(self.address, &request_bytes("GET", target, &headers)).await;
        self.primed.insert(key, response.clone());
        response
    }

    async fn etag(&mut self, target: &str, accept_encoding: &[String]) -> String {
        let response = self.plain(target, accept_encoding).await;
        response
            .header("etag")
            .unwrap_or_else(|| panic!("{:?}: no ETag for {target} {accept_encoding:?}", self.side))
            .to_owned()
    }

    /// `case`'s header values with this side's validators in place of the templates.
    async fn resolve(&mut self, case: &Case, last_modified: &str) -> Vec<(&'static str, String)> {
        let mut headers = Vec::new();
        for (name, value) in &case.headers {
            let mut value = value.replace("{last-modified}", last_modified);
            if value.contains("{etag}") {
                let tag = self.etag(&case.target, &case.accept_encoding()).await;
                value = value.replace("{etag}", &tag);
            }
            for coding in ["gzip", "identity", "br"] {
                let template = format!("{{etag:{coding}}}");
                if value.contains(&template) {
                    let tag = self.etag(&case.target, &[coding.to_owned()]).await;
                    value = value.replace(&template, &tag);
                }
            }
            headers.push((*name, value));
        }
        headers
    }

    async fn send(&mut self, case: &Case, last_modified: &str) -> RawResponse {
        let headers = self.resolve(case, last_modified).await;
        let headers: Vec<_> = headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
        exchange(
            self.address,
            &request_bytes(case.method, &case.target, &headers),
        )
        .await
    }
}

/// The header values compared between the two, normalised: `Vary` as a lower-case set.
fn compared(response: &RawResponse, name: &str) -> Option<String> {
    let lines = response.header_lines(name);
    if lines.is_empty() {
        return None;
    }
    if name == "vary" {
        let mut tokens: Vec<String> = lines
            .iter()
            .flat_map(|l| l.split(','))
            .map(|t| t.trim().to_ascii_lowercase())
            .collect();
        tokens.sort();
        return Some(tokens.join(", "));
    }
    Some(lines.join(", "))
}

/// Whether `target` names the document class for us (everything outside the assets prefix).
fn is_document(target: &str) -> bool {
    let path = target.split('?').next().unwrap();
    api::static_files::path::normalize(path).is_ok_and(|p| !p.starts_with("/assets/"))
}

/// The differences between the two answers to `case`, as messages (none: they agree).
fn compare(case: &Case, ours: &RawResponse, nginx: &RawResponse) -> Vec<String> {
    let mut problems = Vec::new();
    if ours.status != nginx.status {
        problems.push(format!(
            "status: ours {}, nginx {}",
            ours.status, nginx.status
        ));
        return problems;
    }
    let error = ours.status >= 400;
    if matches!(ours.status, 301 | 302 | 303 | 307 | 308) {
        let (a, b) = (
            ours.header_lines("location"),
            nginx.header_lines("location"),
        );
        if a != b {
            problems.push(format!("location: ours {a:?}, nginx {b:?}"));
        }
        return problems;
    }
    let mut names = vec!["vary"];
    if !error {
        names.extend(["content-encoding", "content-length", "content-range"]);
        if !(is_document(&case.target)
            && ours.header("cache-control") == Some("no-cache")
            && nginx.header("cache-control").is_none())
        {
            names.push("cache-control");
        }
    }
    for name in names {
        let (a, b) = (compared(ours, name), compared(nginx, name));
        if a != b {
            problems.push(format!("{name}: ours {a:?}, nginx {b:?}"));
        }
    }
    if !error {
        if ours.header("etag").is_some() != nginx.header("etag").is_some() {
            problems.push(format!(
                "etag: ours {:?}, nginx {:?}",
                ours.header("etag"),
                nginx.header("etag")
            ));
        }
        if ours.body != nginx.body {
            problems.push(format!(
                "body: ours {} bytes, nginx {} bytes",
                ours.body.len(),
                nginx.body.len()
            ));
        }
    }
    problems
}

/// Where the case says the two differ: each side gives what the case says.
fn check_expected(
    dist: &Dist,
    case: &Case,
    side: Side,
    expect: &Expect,
    response: &RawResponse,
) -> Vec<String> {
    let mut problems = Vec::new();
    if response.status != expect.status {
        problems.push(format!(
            "{side:?}: status {}, expected {}",
            response.status, expect.status
        ));
    }
    if response.header("content-encoding") != expect.coding {
        problems.push(format!(
            "{side:?}: content-encoding {:?}, expected {:?}",
            response.header("content-encoding"),
            expect.coding
        ));
    }
    if let (Some(file), "GET") = (expect.body, case.method) {
        if response.body != dist.read(file) {
            problems.push(format!("{side:?}: the body is not {file}"));
        }
    }
    problems
}

/// What every answer on one side must hold, whatever the other says: the ETag semantics.
#[derive(Default)]
struct Validators {
    /// A full 200 body by its tag, and a tag by its body and coding.
    body_of: HashMap<String, Vec<u8>>,
    tag_of: HashMap<(Option<String>, Vec<u8>), String>,
}

impl Validators {
    fn check(&mut self, side: Side, case: &Case, response: &RawResponse) -> Vec<String> {
        let mut problems = Vec::new();
        let Some(tag) = response.header("etag").map(str::to_owned) else {
            return problems;
        };
        if tag.starts_with("W/") {
            problems.push(format!("{side:?}: a weak ETag {tag} on a static file"));
        }
        match response.status {
            200 if case.method == "GET" => {
                let coding = response.header("content-encoding").map(str::to_owned);
                if let Some(body) = self.body_of.insert(tag.clone(), response.body.clone()) {
                    if body != response.body {
                        problems.push(format!("{side:?}: {tag} names two bodies"));
                    }
                }
                if let Some(other) = self
                    .tag_of
                    .insert((coding, response.body.clone()), tag.clone())
                {
                    if other != tag {
                        problems.push(format!("{side:?}: one body, two tags: {other}, {tag}"));
                    }
                }
            }
            206 => {
                let Some(range) = response.header("content-range") else {
                    return problems; // multipart/byteranges: no single range to check
                };
                let Some(whole) = self.body_of.get(&tag) else {
                    problems.push(format!("{side:?}: a 206 with {tag}, which no 200 gave"));
                    return problems;
                };
                let (span, total) = range
                    .trim_start_matches("bytes ")
                    .split_once('/')
                    .expect("bytes FIRST-LAST/TOTAL");
                let (first, last) = span.split_once('-').unwrap();
                let (first, last): (usize, usize) = (first.parse().unwrap(), last.parse().unwrap());
                if total.parse::<usize>().unwrap() != whole.len() {
                    problems.push(format!(
                        "{side:?}: {range} but the representation has {} bytes",
                        whole.len()
                    ));
                } else if case.method == "GET" && response.body != whole[first..=last] {
                    problems.push(format!(
                        "{side:?}: the 206 body is not bytes {span} of {tag}"
                    ));
                }
            }
            304 if !self.body_of.contains_key(&tag) => {
                problems.push(format!("{side:?}: a 304 with {tag}, which no 200 gave"));
            }
            _ => {}
        }
        problems
    }
}

#[tokio::test]
async fn the_api_and_nginx_serve_one_build_alike_with_the_differences_listed() {
    let Some(nginx_binary) = nginx_binary() else {
        return;
    };
    let dist = Dist::new();
    let nginx = start_nginx(&nginx_binary, &dist.path()).await;
    let api = ApiCommand::new()
        .var("APP_ENV", "production")
        .var(
            "SESSION_SECRET",
            "test-secret-0123456789-abcdefghijklmnopqrstuvwxyz",
        )
        .var("FRONTEND_DIR", dist.path())
        .start()
        .await;
    let mut ours = Server {
        side: Side::Ours,
        address: api.address,
        primed: HashMap::new(),
    };
    let mut theirs = Server {
        side: Side::Nginx,
        address: nginx.address,
        primed: HashMap::new(),
    };

    // Every representation first, on both, so each 304 and 206 can be traced to its 200.
    let mut validators = [Validators::default(), Validators::default()];
    let files = [
        "/",
        SCRIPT_URL,
        LOGO_URL,
        PLUS_URL,
        NON_ASCII_URL,
        NESTED_URL,
    ];
    for target in files {
        for coding in ["br", "gzip", "identity"] {
            for (i, server) in [&mut ours, &mut theirs].into_iter().enumerate() {
                let response = server.plain(target, &[coding.to_owned()]).await;
                let case = get(target);
                let problems = validators[i].check(server.side, &case, &response);
                assert!(problems.is_empty(), "{target} {coding}: {problems:?}");
            }
        }
    }
    let corpus = corpus();
    let mut failures = Vec::new();
    let mut differing = 0;
    for case in &corpus {
        // nginx's Last-Modified for this target, sent to both where the case asks for it.
        let last_modified = if case
            .headers
            .iter()
            .any(|(_, v)| v.contains("{last-modified}"))
        {
            theirs
                .plain(&case.target, &[])
                .await
                .header("last-modified")
                .expect("nginx sends Last-Modified")
                .to_owned()
        } else {
            String::new()
        };
        let a = ours.send(case, &last_modified).await;
        let b = theirs.send(case, &last_modified).await;
        let mut problems = Vec::new();
        for (i, (side, response)) in [(Side::Ours, &a), (Side::Nginx, &b)]
            .into_iter()
            .enumerate()
        {
            problems.extend(validators[i].check(side, case, response));
            if response.header("last-modified").is_some() && side == Side::Ours {
                problems.push("ours: a Last-Modified".into());
            }
        }
        match &case.differs {
            None => problems.extend(compare(case, &a, &b)),
            Some(differs) => {
                differing += 1;
                problems.extend(check_expected(&dist, case, Side::Ours, &differs.ours, &a));
                problems.extend(check_expected(&dist, case, Side::Nginx, &differs.nginx, &b));
                if problems.is_empty() && compare(case, &a, &b).is_empty() {
                    problems.push(format!(
                        "listed as differing ({}), but the two agree",
                        differs.why
                    ));
                }
            }
        }
        // HEAD is GET without the body (RFC 9110 §9.3.2): the same status and headers, on
        // each side.
        if case.method == "HEAD" {
            let as_get = Case {
                method: "GET",
                ..case.clone()
            };
            for (server, head) in [(&mut ours, &a), (&mut theirs, &b)] {
                let get = server.send(&as_get, &last_modified).await;
                for name in [
                    "content-length",
                    "content-encoding",
                    "content-range",
                    "etag",
                    "vary",
                    "cache-control",
                    "location",
                ] {
                    if head.status != get.status || head.header(name) != get.header(name) {
                        problems.push(format!(
                            "{:?}: HEAD {} {name} {:?}, GET {} {:?}",
                            server.side,
                            head.status,
                            head.header(name),
                            get.status,
                            get.header(name)
                        ));
                    }
                }
            }
        }
        if !problems.is_empty() {
            failures.push(format!(
                "{} {} {:?}{}\n    {}",
                case.method,
                case.target,
                case.headers,
                case.differs
                    .map(|d| format!(" [differs: {}]", d.why))
                    .unwrap_or_default(),
                problems.join("\n    ")
            ));
        }
    }

    // Tags: stable across requests, and one per coding, on each side.
    for server in [&mut ours, &mut theirs] {
        for target in ["/", SCRIPT_URL] {
            let gzip = server.etag(target, &["gzip".into()]).await;
            let identity = server.etag(target, &["identity".into()]).await;
            if gzip == identity {
                failures.push(format!(
                    "{:?}: {target}: gzip and identity share {gzip}",
                    server.side
                ));
            }
            let again = exchange(
                server.address,
                &request_bytes("GET", target, &[("accept-encoding", "gzip")]),
            )
            .await;
            if again.header("etag") != Some(gzip.as_str()) {
                failures.push(format!("{:?}: {target}: the gzip tag changed", server.side));
            }
        }
    }
    let br = ours.etag(SCRIPT_URL, &["br".into()]).await;
    let gzip = ours.etag(SCRIPT_URL, &["gzip".into()]).await;
    assert_ne!(br, gzip, "ours: br and gzip share a tag");

    eprintln!(
        "differential: {} requests to each server, {differing} with a listed difference; \
         everywhere: {EVERYWHERE:#?}",
        corpus.len()
    );
    assert!(
        failures.is_empty(),
        "{} of {} cases:\n{}",
        failures.len(),
        corpus.len(),
        failures.join("\n"),
    );
    drop(api);
}
