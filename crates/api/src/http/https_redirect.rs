//! HTTPS redirect behind a TLS-terminating proxy.
//!
//! Render ends TLS at its edge and forwards plain HTTP; the only sign of the client's scheme is
//! `X-Forwarded-Proto`, which any client can also send. So the header is read only when the
//! policy says this environment sits behind a proxy that overwrites it, and the redirect target
//! is built from the configured origin plus the original path and query, never from `Host` or
//! `X-Forwarded-Host` (that would be an open redirect). `/health` is never redirected: Render's
//! probe does not come through the edge, and a redirect would make the check meaningless.

use axum::{
    body::Body,
    http::{header, HeaderMap, HeaderName, HeaderValue, Method, Request, Response, StatusCode},
};

static X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");

/// The scheme the client used, as far as this service can trust anyone's word for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    Https,
    Http,
    /// No trusted header (direct connection, or a proxy we do not trust): treat as plain HTTP
    /// for HSTS, but never redirect — local development, probes and scrapers land here.
    Unknown,
}

/// Reads `X-Forwarded-Proto` if `trusted`. With a chain (`https, http`) the first value is the
/// client's. Anything but `http`/`https` counts as absent.
pub fn effective_scheme(headers: &HeaderMap, trusted: bool) -> Scheme {
    if !trusted {
        return Scheme::Unknown;
    }
    let Some(value) = headers
        .get(&X_FORWARDED_PROTO)
        .and_then(|v| v.to_str().ok())
    else {
        return Scheme::Unknown;
    };
    let first = value.split(',').next().unwrap_or_default().trim();
    if first.eq_ignore_ascii_case("https") {
        Scheme::Https
    } else if first.eq_ignore_ascii_case("http") {
        Scheme::Http
    } else {
        Scheme::Unknown
    }
}

/// Paths that are never redirected.
fn exempt(path: &str) -> bool {
    path == "/health"
}

/// The redirect for a request that arrived over plain HTTP, or `None` if it should be served.
/// 301 for GET and HEAD; 308 for other methods, which must not turn into GET.
pub fn redirect_for<B>(
    request: &Request<B>,
    origin: &str,
    scheme: Scheme,
) -> Option<Response<Body>> {
    if scheme != Scheme::Http || exempt(request.uri().path()) {
        return None;
    }
    let path_and_query = request.uri().path_and_query().map_or("/", |pq| pq.as_str());
    // The path arrives percent-encoded and is copied verbatim; the origin is fixed, so even
    // `//evil.example/` stays a path on our host.
    let location = HeaderValue::try_from(format!("{origin}{path_and_query}")).ok()?;
    let status = if request.method() == Method::GET || request.method() == Method::HEAD {
        StatusCode::MOVED_PERMANENTLY
    } else {
        StatusCode::PERMANENT_REDIRECT
    };
    let mut response = Response::new(Body::empty());
    *response.status_mut() = status;
    response.headers_mut().insert(header::LOCATION, location);
    Some(response)
}

/// The origin redirects point at: the configured one, always as `https://`.
pub fn https_origin(configured: &str) -> String {
    match configured.split_once("://") {
        Some((_, authority)) => format!("https://{authority}"),
        None => format!("https://{configured}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ORIGIN: &str = "https://app.example.com";

    fn request(method: Method, uri: &str, proto: Option<&str>) -> Request<()> {
        let mut builder = Request::builder()
            .method(method)
            .uri(uri)
            .header("host", "evil.example");
        builder = builder.header("x-forwarded-host", "evil.example");
        if let Some(p) = proto {
            builder = builder.header("x-forwarded-proto", p);
        }
        builder.body(()).unwrap()
    }

    fn redirect(
        method: Method,
        uri: &str,
        proto: Option<&str>,
        trusted: bool,
    ) -> Option<(StatusCode, String)> {
        let req = request(method, uri, proto);
        let scheme = effective_scheme(req.headers(), trusted);
        redirect_for(&req, ORIGIN, scheme).map(|r| {
            (
                r.status(),
                r.headers()[header::LOCATION].to_str().unwrap().to_owned(),
            )
        })
    }

    #[test]
    fn trusted_http_get_is_a_301_to_the_configured_origin() {
        assert_eq!(
            redirect(Method::GET, "/docs/a?b=1&c=%20", Some("http"), true),
            Some((
                StatusCode::MOVED_PERMANENTLY,
                format!("{ORIGIN}/docs/a?b=1&c=%20")
            ))
        );
    }

    #[test]
    fn head_is_a_301() {
        assert_eq!(
            redirect(Method::HEAD, "/", Some("http"), true).unwrap().0,
            StatusCode::MOVED_PERMANENTLY
        );
    }

    #[test]
    fn post_is_a_308_so_the_method_survives() {
        assert_eq!(
            redirect(Method::POST, "/api/auth/login", Some("http"), true)
                .unwrap()
                .0,
            StatusCode::PERMANENT_REDIRECT
        );
    }

    #[test]
    fn https_is_served() {
        assert_eq!(redirect(Method::GET, "/", Some("https"), true), None);
    }

    #[test]
    fn an_absent_header_is_served() {
        assert_eq!(redirect(Method::GET, "/", None, true), None);
    }

    #[test]
    fn a_header_from_an_untrusted_peer_is_ignored() {
        assert_eq!(redirect(Method::GET, "/", Some("http"), false), None);
    }

    #[test]
    fn health_is_never_redirected() {
        assert_eq!(redirect(Method::GET, "/health", Some("http"), true), None);
    }

    #[test]
    fn host_and_forwarded_host_never_reach_the_location() {
        let (_, location) = redirect(Method::GET, "//evil.example/x", Some("http"), true).unwrap();
        assert_eq!(location, format!("{ORIGIN}//evil.example/x"));
        assert!(location.starts_with("https://app.example.com/"));
    }

    #[test]
    fn the_first_value_of_a_proto_chain_counts() {
        let req = request(Method::GET, "/", Some("https, http"));
        assert_eq!(effective_scheme(req.headers(), true), Scheme::Https);
        let req = request(Method::GET, "/", Some("HTTP"));
        assert_eq!(effective_scheme(req.headers(), true), Scheme::Http);
    }

    #[test]
    fn an_unknown_proto_value_is_not_a_scheme() {
        let req = request(Method::GET, "/", Some("javascript"));
        assert_eq!(effective_scheme(req.headers(), true), Scheme::Unknown);
    }

    #[test]
    fn a_configured_http_origin_still_redirects_to_https() {
        assert_eq!(
            https_origin("http://app.example.com:8443"),
            "https://app.example.com:8443"
        );
    }
}
