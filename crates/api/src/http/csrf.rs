//! CSRF protection for cookie-authenticated API calls: an unsafe method (POST, PUT, PATCH,
//! DELETE) that carries cookies must come from this site or one of the policy's origins.
//!
//! Browsers send `Origin` on every cross-origin and every non-GET request, and `Sec-Fetch-Site`
//! on every request; neither can be set by page script. A request with neither is not from a
//! browser, so it cannot be a forged browser request, and is let through.

use axum::{
    extract::{Request, State},
    http::{header, HeaderMap, StatusCode},
    middleware::Next,
    response::{IntoResponse, Response},
};

use crate::{error::ApiError, state::AppState};

pub async fn guard(State(state): State<AppState>, request: Request, next: Next) -> Response {
    if !request.method().is_safe() && request.headers().contains_key(header::COOKIE) {
        let allowed = state.allowed_origins.iter().map(String::as_str);
        if !from_allowed_site(request.headers(), allowed) {
            tracing::warn!(origin = ?request.headers().get(header::ORIGIN), "cross-site request refused");
            return ApiError::client(
                StatusCode::FORBIDDEN,
                "cross_site_request",
                "this request must come from the application's own pages",
            )
            .into_response();
        }
    }
    next.run(request).await
}

pub fn from_allowed_site<'a>(
    headers: &HeaderMap,
    mut allowed: impl Iterator<Item = &'a str>,
) -> bool {
    let fetch_site = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok());
    if fetch_site == Some("same-origin") {
        return true;
    }
    match headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) {
        Some(origin) => allowed.any(|a| a.eq_ignore_ascii_case(origin)),
        // No Origin: a browser would only omit it for a same-origin GET/HEAD, which never get here.
        None => fetch_site.is_none(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    const ALLOWED: [&str; 1] = ["https://app.example.com"];

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn same_origin_fetches_pass() {
        assert!(from_allowed_site(
            &headers(&[("sec-fetch-site", "same-origin")]),
            ALLOWED.into_iter()
        ));
    }

    #[test]
    fn a_listed_frontend_origin_passes() {
        let h = headers(&[
            ("origin", "https://app.example.com"),
            ("sec-fetch-site", "same-site"),
        ]);
        assert!(from_allowed_site(&h, ALLOWED.into_iter()));
    }

    #[test]
    fn another_site_is_refused() {
        let h = headers(&[
            ("origin", "https://evil.example"),
            ("sec-fetch-site", "cross-site"),
        ]);
        assert!(!from_allowed_site(&h, ALLOWED.into_iter()));
    }

    #[test]
    fn a_browser_request_without_origin_is_refused() {
        assert!(!from_allowed_site(
            &headers(&[("sec-fetch-site", "cross-site")]),
            ALLOWED.into_iter()
        ));
    }

    #[test]
    fn a_non_browser_client_passes() {
        assert!(from_allowed_site(&headers(&[]), ALLOWED.into_iter()));
    }
}
