//! `GET /metrics`: the Prometheus text exposition of [`Metrics`](crate::metrics::Metrics). Not
//! public: 404 unless `METRICS_TOKEN` is set, 401 (with `WWW-Authenticate: Bearer`, RFC 6750
//! §3) without the right bearer token, compared in constant time.

use axum::{
    extract::State,
    http::{header, HeaderMap, HeaderValue},
    response::{IntoResponse, Response},
};
use secrecy::ExposeSecret;
use subtle::ConstantTimeEq;

use crate::{error::ApiError, state::AppState};

/// `GET /metrics`: the Prometheus text format (0.0.4), behind `Authorization: Bearer
/// <METRICS_TOKEN>` compared in constant time; 404 when no token is configured, 401 with
/// `WWW-Authenticate: Bearer` (RFC 6750 §3) for a wrong or missing one.
pub async fn endpoint(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let Some(token) = state.settings.metrics_token.as_ref() else {
        return ApiError::NotFound.into_response();
    };
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(bearer_token);
    let authorised =
        presented.is_some_and(|p| bool::from(p.as_bytes().ct_eq(token.expose_secret().as_bytes())));
    if !authorised {
        let mut response = ApiError::Unauthorized.into_response();
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        return response;
    }
    let body = state
        .metrics
        .render(state.lifecycle.started_at.elapsed().as_secs_f64());
    (
        [
            (
                header::CONTENT_TYPE,
                "text/plain; version=0.0.4; charset=utf-8",
            ),
            (header::CACHE_CONTROL, "no-store"),
        ],
        body,
    )
        .into_response()
}

/// The token of `Authorization: Bearer TOKEN`; the scheme is case-insensitive (RFC 9110
/// §11.1, RFC 6750 §2.1).
fn bearer_token(value: &str) -> Option<&str> {
    let (scheme, token) = value.trim().split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bearer_scheme_is_case_insensitive_rfc9110_11_1() {
        assert_eq!(bearer_token("Bearer abc"), Some("abc"));
        assert_eq!(bearer_token("bearer abc"), Some("abc"));
        assert_eq!(bearer_token("BEARER  abc "), Some("abc"));
        assert_eq!(bearer_token("Basic abc"), None);
        assert_eq!(bearer_token("Bearer"), None);
    }
}
