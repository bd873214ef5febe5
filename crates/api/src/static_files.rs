//! The built frontend, served from memory.
//!
//! `FRONTEND_DIR` is read once at start-up: every file with its precompressed `.br` and `.gz`
//! variants (made at build time), its content type and a strong ETag. A request is a map lookup
//! — no filesystem access, so no path can escape the directory however it is encoded — and the
//! response body is a reference-counted slice of the loaded bytes.

use std::{
    collections::HashMap,
    path::{Path, PathBuf},
};

use axum::{
    body::{Body, Bytes},
    http::{header, HeaderMap, HeaderValue, Method, Response, StatusCode},
};
use sha2::{Digest, Sha256};

#[derive(Debug)]
pub struct StaticFile {
    identity: Bytes,
    br: Option<Bytes>,
    gzip: Option<Bytes>,
    content_type: HeaderValue,
    etag: HeaderValue,
}

#[derive(Debug, Default)]
pub struct StaticFiles {
    files: HashMap<String, StaticFile>,
}

/// Files a static host reads as configuration, never served.
const NOT_SERVED: &[&str] = &["_headers", "_redirects"];

impl StaticFiles {
    /// Loads `dir`; an absent directory gives an empty set (the API runs without a frontend).
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
            let variant = |suffix: &str| -> std::io::Result<Option<Bytes>> {
                let mut p = path.clone().into_os_string();
                p.push(suffix);
                match std::fs::read(&p) {
                    Ok(bytes) => Ok(Some(Bytes::from(bytes))),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                    Err(e) => Err(e),
                }
            };
            let digest = Sha256::digest(&identity);
            let etag = format!(
                "\"{}\"",
                digest[..12]
                    .iter()
                    .map(|b| format!("{b:02x}"))
                    .collect::<String>()
            );
            let mime = mime_guess::from_path(path).first_or_octet_stream();
            let content_type = match mime.type_() {
                mime_guess::mime::TEXT => format!("{mime}; charset=utf-8"),
                _ if mime.subtype() == mime_guess::mime::JAVASCRIPT
                    || mime.subtype() == mime_guess::mime::JSON =>
                {
                    format!("{mime}; charset=utf-8")
                }
                _ => mime.to_string(),
            };
            files.insert(
                url,
                StaticFile {
                    br: variant(".br")?,
                    gzip: variant(".gz")?,
                    identity,
                    content_type: HeaderValue::try_from(content_type)
                        .expect("a MIME type is a valid header value"),
                    etag: HeaderValue::try_from(etag).expect("hex is a valid header value"),
                },
            );
        }
        Ok(StaticFiles { files })
    }

    pub fn len(&self) -> usize {
        self.files.len()
    }

    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    /// The served `index.html`, whose inline scripts the CSP must hash.
    pub fn index_html(&self) -> Option<&[u8]> {
        self.files.get("/index.html").map(|f| f.identity.as_ref())
    }

    pub fn get(&self, path: &str) -> Option<&StaticFile> {
        self.files.get(path)
    }

    /// The file for `path`: an exact file, `index.html` for `/`, or — for a path that does not
    /// look like a file (no extension, not under `assets_prefix`) — `index.html`, so the SPA's
    /// deep links load. A missing asset stays a 404 rather than HTML under a script's URL.
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

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Encoding {
    Brotli,
    Gzip,
    Identity,
}

/// The best encoding both sides have: br, then gzip, then none. `q=0` refuses an encoding.
fn negotiate(accept: Option<&str>, file: &StaticFile) -> Encoding {
    let Some(accept) = accept else {
        return Encoding::Identity;
    };
    let accepts = |name: &str| {
        accept.split(',').any(|item| {
            let mut parts = item.split(';');
            let token = parts.next().unwrap_or_default().trim();
            let refused = parts.any(|p| {
                let p = p.trim();
                p.strip_prefix("q=")
                    .is_some_and(|q| q.trim().parse::<f32>().is_ok_and(|q| q <= 0.0))
            });
            token.eq_ignore_ascii_case(name) && !refused
        })
    };
    if file.br.is_some() && accepts("br") {
        Encoding::Brotli
    } else if file.gzip.is_some() && accepts("gzip") {
        Encoding::Gzip
    } else {
        Encoding::Identity
    }
}

impl StaticFile {
    /// The response for a GET or HEAD of this file: 304 when `If-None-Match` matches.
    pub fn respond(&self, method: &Method, request_headers: &HeaderMap) -> Response<Body> {
        let has_variants = self.br.is_some() || self.gzip.is_some();
        let not_modified = request_headers
            .get(header::IF_NONE_MATCH)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| {
                v.trim() == "*"
                    || v.split(',')
                        .any(|tag| tag.trim().trim_start_matches("W/") == self.etag)
            });
        let mut response = Response::new(Body::empty());
        let headers = response.headers_mut();
        headers.insert(header::ETAG, self.etag.clone());
        if has_variants {
            headers.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
        }
        if not_modified {
            *response.status_mut() = StatusCode::NOT_MODIFIED;
            return response;
        }
        let accept = request_headers
            .get(header::ACCEPT_ENCODING)
            .and_then(|v| v.to_str().ok());
        let (body, encoding) = match negotiate(accept, self) {
            Encoding::Brotli => (self.br.clone().expect("negotiated"), Some("br")),
            Encoding::Gzip => (self.gzip.clone().expect("negotiated"), Some("gzip")),
            Encoding::Identity => (self.identity.clone(), None),
        };
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, self.content_type.clone());
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from(body.len()));
        if let Some(encoding) = encoding {
            headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static(encoding));
        }
        if method != Method::HEAD {
            *response.body_mut() = Body::from(body);
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(br: bool, gzip: bool) -> StaticFile {
        StaticFile {
            identity: Bytes::from_static(b"x"),
            br: br.then(|| Bytes::from_static(b"b")),
            gzip: gzip.then(|| Bytes::from_static(b"g")),
            content_type: HeaderValue::from_static("text/plain"),
            etag: HeaderValue::from_static("\"abc\""),
        }
    }

    #[test]
    fn brotli_wins_when_both_sides_have_it() {
        assert_eq!(
            negotiate(Some("gzip, deflate, br"), &file(true, true)),
            Encoding::Brotli
        );
    }

    #[test]
    fn gzip_when_brotli_is_refused_or_missing() {
        assert_eq!(
            negotiate(Some("br;q=0, gzip"), &file(true, true)),
            Encoding::Gzip
        );
        assert_eq!(
            negotiate(Some("br, gzip"), &file(false, true)),
            Encoding::Gzip
        );
    }

    #[test]
    fn identity_without_accept_encoding() {
        assert_eq!(negotiate(None, &file(true, true)), Encoding::Identity);
    }
}
