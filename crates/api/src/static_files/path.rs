//! A request path as a static host resolves it before looking up a file: percent-decoded exactly
//! once (RFC 3986 §2.1; `%252e` stays the three characters `%2e`), empty segments dropped (nginx's
//! `merge_slashes`), `.` and `..` resolved (RFC 3986 §5.2.4). A `..` that would climb above the
//! root is an error, as nginx answers 400, rather than silently clamped.

use std::borrow::Cow;

use percent_encoding::percent_decode_str;

/// Why a path cannot name a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathError {
    /// The decoded bytes are not UTF-8, or hold a NUL: no file of the build has such a name.
    NotAName,
    /// A `..` segment climbs above the root.
    AboveRoot,
}

/// The normalised path: starts with `/`, keeps a trailing `/` (a directory-like request), never
/// holds `//`, `/./` or `/../`. Borrowed when `raw` is already all of that (nothing to decode,
/// no empty or dot segment), as nearly every request's path is.
pub fn normalize(raw: &str) -> Result<Cow<'_, str>, PathError> {
    if is_normal(raw) {
        return Ok(Cow::Borrowed(raw));
    }
    decode_and_resolve(raw).map(Cow::Owned)
}

fn decode_and_resolve(raw: &str) -> Result<String, PathError> {
    let decoded = percent_decode_str(raw)
        .decode_utf8()
        .map_err(|_| PathError::NotAName)?;
    if decoded.contains('\0') {
        return Err(PathError::NotAName);
    }
    let mut segments: Vec<&str> = Vec::new();
    for segment in decoded.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                segments.pop().ok_or(PathError::AboveRoot)?;
            }
            name => segments.push(name),
        }
    }
    let mut path = String::with_capacity(decoded.len() + 1);
    for segment in &segments {
        path.push('/');
        path.push_str(segment);
    }
    let last = decoded.rsplit('/').next().unwrap_or_default();
    if path.is_empty() || (!segments.is_empty() && matches!(last, "" | "." | "..")) {
        path.push('/');
    }
    Ok(path)
}

/// Whether `raw` is its own normal form: it starts with `/` and holds no `%`, `//` or `/.`.
/// One pass over the bytes, as this runs a few times for every request.
fn is_normal(raw: &str) -> bool {
    let bytes = raw.as_bytes();
    if bytes.first() != Some(&b'/') {
        return false;
    }
    let mut after_slash = false;
    for &b in bytes {
        if b == b'%' || (after_slash && (b == b'/' || b == b'.')) {
            return false;
        }
        after_slash = b == b'/';
    }
    true
}

/// Whether the first segment of a normalised path names the API, in any letter case: nothing
/// under `/api`, however a client or a proxy spells it, is ever the frontend. A normalised path
/// starts with exactly one `/`, so the segment is bytes 1 to 3 followed by the end or a `/`.
pub fn is_api_spelling(normalized: &str) -> bool {
    let bytes = normalized.as_bytes();
    bytes.len() >= 4
        && bytes[1..4].eq_ignore_ascii_case(b"api")
        && matches!(bytes.get(4), None | Some(b'/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_encoding_is_decoded_once_rfc3986_2_1() {
        assert_eq!(
            normalize("/assets/caf%C3%A9%20logo-1a2b.svg").unwrap(),
            "/assets/café logo-1a2b.svg"
        );
        assert_eq!(normalize("/a%252e%252e/b").unwrap(), "/a%2e%2e/b");
        assert_eq!(normalize("/%61ssets/x.js").unwrap(), "/assets/x.js");
    }

    #[test]
    fn dot_segments_are_resolved_rfc3986_5_2_4() {
        assert_eq!(normalize("/a/./b/../c").unwrap(), "/a/c");
        assert_eq!(normalize("/a/%2e%2e/b").unwrap(), "/b");
        assert_eq!(normalize("/a/b/..").unwrap(), "/a/");
        assert_eq!(normalize("//a///b").unwrap(), "/a/b");
        assert_eq!(normalize("/").unwrap(), "/");
        assert_eq!(normalize("/reports/").unwrap(), "/reports/");
    }

    #[test]
    fn climbing_above_the_root_is_refused() {
        for raw in [
            "/../secret.txt",
            "/%2e%2e/x",
            "/a/../../x",
            "/..%2fsecret.txt",
        ] {
            assert_eq!(normalize(raw), Err(PathError::AboveRoot), "{raw}");
        }
    }

    #[test]
    fn a_path_taken_as_it_is_is_what_resolving_it_gives() {
        // Every string of up to six characters over the bytes that matter to the fast path.
        let alphabet = ['/', '.', 'a', '%', '2', 'e'];
        let mut strings = vec![String::new()];
        let mut checked = 0;
        for _ in 0..6 {
            strings = strings
                .iter()
                .flat_map(|s| alphabet.iter().map(move |c| format!("{s}{c}")))
                .collect();
            for raw in &strings {
                if is_normal(raw) {
                    assert_eq!(
                        decode_and_resolve(raw).as_deref(),
                        Ok(raw.as_str()),
                        "{raw}"
                    );
                    checked += 1;
                }
            }
        }
        assert!(checked > 100, "only {checked} strings took the fast path");
    }

    #[test]
    fn bytes_that_name_no_file_are_refused() {
        assert_eq!(normalize("/%FF%FE"), Err(PathError::NotAName));
        assert_eq!(normalize("/a%00.js"), Err(PathError::NotAName));
    }

    #[test]
    fn every_spelling_of_the_api_prefix_is_the_api() {
        for raw in [
            "/api",
            "/api/",
            "//api/x",
            "/API/x",
            "/%61pi/x",
            "/./api/x",
            "/x/../api/y",
            "/api%2Fx",
        ] {
            assert!(is_api_spelling(&normalize(raw).unwrap()), "{raw}");
        }
        for raw in ["/apis", "/", "/app/api"] {
            assert!(!is_api_spelling(&normalize(raw).unwrap()), "{raw}");
        }
    }
}
