//! The built frontend, served from memory.
//!
//! `FRONTEND_DIR` is read once at start-up: every file with its precompressed `.br` and `.gz`
//! variants (made at build time), its content type and one strong ETag per representation. A
//! request is a map lookup on the normalised path ([`path::normalize`]) — no filesystem access,
//! so no path can escape the directory however it is encoded — and the body is a
//! reference-counted slice of the loaded bytes.
//!
//! What it guarantees, each with its RFC 9110 section in the tests' names:
//! - one representation per coding (br, gzip, identity), each with its own strong ETag (§8.8.3),
//!   chosen by `Accept-Encoding` (§12.5.3) and announced with `Vary: accept-encoding` (§12.5.5);
//! - `If-None-Match` (weak comparison, §13.1.2) → 304 with the 200's `ETag` and `Vary`
//!   (§15.4.5); `If-Match` (strong comparison, §13.1.1) → 412; no `Last-Modified` is sent, so
//!   `If-Modified-Since` is ignored (§13.1.3);
//! - one byte range (§14.2) → 206 with `Content-Range`, `If-Range` honoured (§13.1.5), an
//!   unsatisfiable range → 416 with `Content-Range: bytes */LENGTH`; several ranges → the whole
//!   representation (§14.2 lets a server ignore `Range`);
//! - no representation acceptable (`identity;q=0` and nothing else) → 406 (§15.5.7).
//!
//! About 350 lines of code and its unit tests; the parsers it leans on live in `path.rs` and
//! `accept_encoding.rs`.

mod accept_encoding;
pub mod path;

use std::{
    collections::HashMap,
    path::{Path, PathBuf},
};

use axum::{
    body::{Body, Bytes},
    http::{header, HeaderMap, HeaderValue, Method, Response, StatusCode},
};
use headers::{ETag, HeaderMapExt, IfMatch, IfNoneMatch, IfRange};
use sha2::{Digest, Sha256};

use crate::error::RESPONSE_HEADER_ROOM;
use accept_encoding::{AcceptEncoding, Coding};

/// One encoded form of a file, with its own validator.
#[derive(Debug)]
struct Representation {
    bytes: Bytes,
    etag: ETag,
    etag_value: HeaderValue,
}

/// A file of the build, in every coding the build made for it.
#[derive(Debug)]
pub struct StaticFile {
    identity: Representation,
    br: Option<Representation>,
    gzip: Option<Representation>,
    content_type: HeaderValue,
}

/// The build, keyed by URL path (`/assets/app-1a2b.js`, decoded).
#[derive(Debug, Default)]
pub struct StaticFiles {
    files: HashMap<String, StaticFile>,
}

/// Files a static host reads as configuration, never served.
const NOT_SERVED: &[&str] = &["_headers", "_redirects"];

impl StaticFiles {
    /// Loads `dir`; an absent directory gives an empty set (the API runs without a frontend).
    ///
    /// # Errors
    /// A file of the build cannot be read.
    pub fn load(dir: &Path) -> std::io::Result<StaticFiles> {
        if !dir.is_dir() {
            return Ok(StaticFiles::default());
        }
        let mut paths = Vec::new();
        collect(dir, &mut paths)?;
        let mut files = HashMap::new();
        for path in &paths {
            let name = path
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default();
            if name.ends_with(".br") || name.ends_with(".gz") || NOT_SERVED.contains(&name) {
                continue;
            }
            let relative = path.strip_prefix(dir).expect("under dir");
            let url = format!(
                "/{}",
                relative
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy())
                    .collect::<Vec<_>>()
                    .join("/")
            );
            let identity = Bytes::from(std::fs::read(path)?);
            let digest = Sha256::digest(&identity);
            let tag: String = digest[..12].iter().map(|b| format!("{b:02x}")).collect();
            let variant = |suffix: &str, label: &str| -> std::io::Result<Option<Representation>> {
                let mut p = path.clone().into_os_string();
                p.push(suffix);
                match std::fs::read(&p) {
                    Ok(bytes) => Ok(Some(representation(
                        Bytes::from(bytes),
                        &format!("{tag}-{label}"),
                    ))),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                    Err(e) => Err(e),
                }
            };
            files.insert(
                url,
                StaticFile {
                    br: variant(".br", "br")?,
                    gzip: variant(".gz", "gz")?,
                    identity: representation(identity, &tag),
                    content_type: content_type(path),
                },
            );
        }
        Ok(StaticFiles { files })
    }

    /// How many files are served (each with its precompressed variants counted once).
    pub fn len(&self) -> usize {
        self.files.len()
    }

    /// True when the frontend directory held no file.
    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    /// The served `index.html`, whose inline scripts the CSP must hash.
    pub fn index_html(&self) -> Option<&[u8]> {
        self.files
            .get("/index.html")
            .map(|f| f.identity.bytes.as_ref())
    }

    /// The file at the normalised `path`, if the build has one.
    pub fn get(&self, path: &str) -> Option<&StaticFile> {
        self.files.get(path)
    }

    /// The file for a normalised `path`: an exact file, `index.html` for `/`, or — for a path
    /// that does not look like a file (no extension, not under `assets_prefix`) — `index.html`,
    /// so the SPA's deep links load. A missing asset stays a 404 rather than HTML under a
    /// script's URL.
    pub fn resolve(&self, path: &str, assets_prefix: &str) -> Option<&StaticFile> {
        if let Some(file) = self.files.get(path) {
            return Some(file);
        }
        let last = path.rsplit('/').next().unwrap_or_default();
        if path.starts_with(assets_prefix) || last.contains('.') {
            return None;
        }
        self.files.get("/index.html")
    }
}

fn representation(bytes: Bytes, tag: &str) -> Representation {
    let etag_value =
        HeaderValue::try_from(format!("\"{tag}\"")).expect("hex is a valid header value");
    let etag = etag_value
        .to_str()
        .expect("ASCII")
        .parse()
        .expect("a quoted tag is an ETag");
    Representation {
        bytes,
        etag,
        etag_value,
    }
}

fn content_type(path: &Path) -> HeaderValue {
    let mime = mime_guess::from_path(path).first_or_octet_stream();
    let text = match mime.type_() {
        mime_guess::mime::TEXT => format!("{mime}; charset=utf-8"),
        _ if mime.subtype() == mime_guess::mime::JAVASCRIPT
            || mime.subtype() == mime_guess::mime::JSON =>
        {
            format!("{mime}; charset=utf-8")
        }
        _ => mime.to_string(),
    };
    HeaderValue::try_from(text).expect("a MIME type is a valid header value")
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let kind = entry.file_type()?;
        if kind.is_dir() {
            collect(&entry.path(), out)?;
        } else if kind.is_file() {
            out.push(entry.path());
        }
        // Symlinks are skipped: what is served is exactly what the build wrote.
    }
    Ok(())
}

impl StaticFile {
    fn available(&self) -> ([Coding; 2], usize) {
        let mut codings = [Coding::Identity; 2];
        let mut n = 0;
        for (coding, present) in [
            (Coding::Brotli, self.br.is_some()),
            (Coding::Gzip, self.gzip.is_some()),
        ] {
            if present {
                codings[n] = coding;
                n += 1;
            }
        }
        (codings, n)
    }

    fn representation(&self, coding: Coding) -> &Representation {
        match coding {
            Coding::Brotli => self.br.as_ref().expect("negotiated among those present"),
            Coding::Gzip => self.gzip.as_ref().expect("negotiated among those present"),
            Coding::Identity => &self.identity,
        }
    }

    /// The response for a GET or HEAD of this file (see the module documentation).
    pub fn respond(&self, method: &Method, request: &HeaderMap) -> Response<Body> {
        let (codings, n) = self.available();
        let has_variants = n > 0;
        let mut response = Response::new(Body::empty());
        response.headers_mut().reserve(RESPONSE_HEADER_ROOM);
        if has_variants {
            response
                .headers_mut()
                .insert(header::VARY, HeaderValue::from_static("accept-encoding"));
        }
        let Some(coding) = AcceptEncoding::from_headers(request).choose(&codings[..n]) else {
            *response.status_mut() = StatusCode::NOT_ACCEPTABLE;
            return response;
        };
        let chosen = self.representation(coding);
        let headers = response.headers_mut();
        headers.insert(header::ETAG, chosen.etag_value.clone());
        headers.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));

        // RFC 9110 §13.2.2: If-Match first, then If-None-Match; If-Modified-Since has nothing to
        // compare with (no Last-Modified is sent).
        if let Some(if_match) = request.typed_get::<IfMatch>() {
            if !if_match.precondition_passes(&chosen.etag) {
                *response.status_mut() = StatusCode::PRECONDITION_FAILED;
                return response;
            }
        }
        if let Some(if_none_match) = request.typed_get::<IfNoneMatch>() {
            if !if_none_match.precondition_passes(&chosen.etag) {
                *response.status_mut() = StatusCode::NOT_MODIFIED;
                return response;
            }
        }

        let total = chosen.bytes.len() as u64;
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, self.content_type.clone());
        match coding {
            Coding::Brotli => {
                headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static("br"))
            }
            Coding::Gzip => {
                headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"))
            }
            Coding::Identity => None,
        };
        let body = match byte_range(request, &chosen.etag, total) {
            Range::Whole => chosen.bytes.clone(),
            Range::Part(range) => {
                *response.status_mut() = StatusCode::PARTIAL_CONTENT;
                let headers = response.headers_mut();
                headers.insert(
                    header::CONTENT_RANGE,
                    HeaderValue::try_from(format!(
                        "bytes {}-{}/{total}",
                        range.start(),
                        range.end()
                    ))
                    .expect("digits"),
                );
                chosen
                    .bytes
                    .slice(*range.start() as usize..=*range.end() as usize)
            }
            Range::Unsatisfiable => {
                *response.status_mut() = StatusCode::RANGE_NOT_SATISFIABLE;
                let headers = response.headers_mut();
                headers.remove(header::CONTENT_TYPE);
                headers.remove(header::CONTENT_ENCODING);
                headers.insert(
                    header::CONTENT_RANGE,
                    HeaderValue::try_from(format!("bytes */{total}")).expect("digits"),
                );
                return response;
            }
        };
        response
            .headers_mut()
            .insert(header::CONTENT_LENGTH, HeaderValue::from(body.len()));
        if method != Method::HEAD {
            *response.body_mut() = Body::from(body);
        }
        response
    }
}

enum Range {
    Whole,
    Part(std::ops::RangeInclusive<u64>),
    Unsatisfiable,
}

/// The byte range to send: one satisfiable range when `Range` asks for exactly one (and any
/// `If-Range` is this representation's ETag, strong comparison, §13.1.5); the whole
/// representation for anything else the field may say (§14.2: a server may ignore it), and
/// whenever an `If-Range` does not match, parseable or not.
fn byte_range(request: &HeaderMap, etag: &ETag, total: u64) -> Range {
    let Some(value) = request.get(header::RANGE).and_then(|v| v.to_str().ok()) else {
        return Range::Whole;
    };
    let mut if_range_lines = request.get_all(header::IF_RANGE).iter();
    if if_range_lines.next().is_some() {
        match request.typed_get::<IfRange>() {
            // One validator (the field is a single value, §5.3), and it is this
            // representation's tag.
            Some(if_range)
                if if_range_lines.next().is_none() && !if_range.is_modified(Some(etag), None) => {}
            // Another validator, a date (no Last-Modified is sent), a value that is neither an
            // entity-tag nor an HTTP-date, or two field lines: the condition is false, so the
            // Range is ignored — never a part of what may be another representation.
            _ => return Range::Whole,
        }
    }
    let Ok(parsed) = http_range_header::parse_range_header(value) else {
        return Range::Whole;
    };
    match parsed.validate(total) {
        Ok(ranges) if ranges.len() == 1 => Range::Part(ranges[0].clone()),
        Ok(_) => Range::Whole,
        Err(http_range_header::RangeUnsatisfiableError::Unsatisfiable) => Range::Unsatisfiable,
        Err(_) => Range::Whole,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file() -> StaticFile {
        StaticFile {
            identity: representation(Bytes::from_static(b"0123456789"), "abc"),
            br: Some(representation(Bytes::from_static(b"brotli"), "abc-br")),
            gzip: Some(representation(Bytes::from_static(b"gzipped"), "abc-gz")),
            content_type: HeaderValue::from_static("text/plain"),
        }
    }

    fn respond(pairs: &[(&'static str, &'static str)]) -> Response<Body> {
        let mut headers = HeaderMap::new();
        for (k, v) in pairs {
            headers.append(*k, HeaderValue::from_static(v));
        }
        file().respond(&Method::GET, &headers)
    }

    async fn body(response: Response<Body>) -> Vec<u8> {
        axum::body::to_bytes(response.into_body(), 1 << 16)
            .await
            .unwrap()
            .to_vec()
    }

    #[tokio::test]
    async fn each_representation_has_its_own_strong_etag_rfc9110_8_8_3() {
        let br = respond(&[("accept-encoding", "br")]);
        let gzip = respond(&[("accept-encoding", "gzip")]);
        let identity = respond(&[]);
        let tags = [&br, &gzip, &identity].map(|r| r.headers()[header::ETAG].clone());
        assert_eq!(tags, ["\"abc-br\"", "\"abc-gz\"", "\"abc\""]);
        assert_eq!(body(br).await, b"brotli");
    }

    #[test]
    fn if_none_match_compares_with_the_chosen_representation_rfc9110_13_1_2() {
        assert_eq!(
            respond(&[("accept-encoding", "br"), ("if-none-match", "\"abc-br\"")]).status(),
            304
        );
        assert_eq!(
            respond(&[("accept-encoding", "br"), ("if-none-match", "W/\"abc-br\"")]).status(),
            304,
            "weak comparison"
        );
        assert_eq!(
            respond(&[("accept-encoding", "gzip"), ("if-none-match", "\"abc-br\"")]).status(),
            200,
            "another representation"
        );
        assert_eq!(
            respond(&[("if-none-match", "\"x\", \"abc\"")]).status(),
            304,
            "a list"
        );
        assert_eq!(
            respond(&[("if-none-match", "\"x\""), ("if-none-match", "\"abc\"")]).status(),
            304,
            "several lines"
        );
        assert_eq!(respond(&[("if-none-match", "*")]).status(), 304);
        assert_eq!(
            respond(&[("if-none-match", "abc")]).status(),
            200,
            "unquoted: not an entity-tag"
        );
    }

    #[test]
    fn a_304_keeps_the_validator_and_vary_rfc9110_15_4_5() {
        let response = respond(&[("if-none-match", "\"abc\"")]);
        assert_eq!(response.headers()[header::ETAG], "\"abc\"");
        assert_eq!(response.headers()[header::VARY], "accept-encoding");
        assert!(response.headers().get(header::CONTENT_LENGTH).is_none());
    }

    #[test]
    fn if_match_uses_strong_comparison_rfc9110_13_1_1() {
        assert_eq!(respond(&[("if-match", "\"abc\"")]).status(), 200);
        assert_eq!(respond(&[("if-match", "W/\"abc\"")]).status(), 412);
        assert_eq!(respond(&[("if-match", "\"other\"")]).status(), 412);
    }

    #[tokio::test]
    async fn one_range_is_a_206_with_content_range_rfc9110_14_2() {
        let response = respond(&[("range", "bytes=2-4")]);
        assert_eq!(response.status(), 206);
        assert_eq!(response.headers()[header::CONTENT_RANGE], "bytes 2-4/10");
        assert_eq!(body(response).await, b"234");
        let suffix = respond(&[("range", "bytes=-3")]);
        assert_eq!(body(suffix).await, b"789");
    }

    #[test]
    fn an_unsatisfiable_range_is_a_416_rfc9110_15_5_17() {
        let response = respond(&[("range", "bytes=20-30")]);
        assert_eq!(response.status(), 416);
        assert_eq!(response.headers()[header::CONTENT_RANGE], "bytes */10");
    }

    #[test]
    fn if_range_with_another_etag_sends_the_whole_rfc9110_13_1_5() {
        assert_eq!(
            respond(&[("range", "bytes=2-4"), ("if-range", "\"old\"")]).status(),
            200
        );
        assert_eq!(
            respond(&[("range", "bytes=2-4"), ("if-range", "\"abc\"")]).status(),
            206
        );
        assert_eq!(
            respond(&[("range", "bytes=2-4"), ("if-range", "W/\"abc\"")]).status(),
            200,
            "a weak tag never matches"
        );
    }

    #[test]
    fn an_if_range_that_is_no_validator_sends_the_whole_rfc9110_13_1_5() {
        for value in ["abc", "garbage", "", "\"abc\", \"def\""] {
            assert_eq!(
                respond(&[("range", "bytes=2-4"), ("if-range", value)]).status(),
                200,
                "{value:?}"
            );
        }
        assert_eq!(
            respond(&[
                ("range", "bytes=2-4"),
                ("if-range", "\"abc\""),
                ("if-range", "\"abc\"")
            ])
            .status(),
            200,
            "two field lines of a single-value field"
        );
    }

    #[test]
    fn several_or_malformed_ranges_send_the_whole() {
        assert_eq!(respond(&[("range", "bytes=0-1, 4-5")]).status(), 200);
        assert_eq!(respond(&[("range", "lines=1-2")]).status(), 200);
        assert_eq!(respond(&[("range", "bytes=x-y")]).status(), 200);
    }

    #[test]
    fn nothing_acceptable_is_a_406_rfc9110_15_5_7() {
        assert_eq!(
            respond(&[("accept-encoding", "identity;q=0, br;q=0, gzip;q=0")]).status(),
            406
        );
    }
}
