//! `GET /api/openapi.json`: the API's OpenAPI 3.1 document, generated from the handlers'
//! `#[utoipa::path]` annotations and the response types themselves, so it cannot drift from them.
//! Serialised once, on first request.

use std::sync::LazyLock;

use axum::{
    http::{header, HeaderValue},
    response::IntoResponse,
};
use utoipa::OpenApi;

use crate::{
    error::{ErrorBody, ErrorDetail},
    routes::{auth, health, release, warmup},
};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Release Flow API",
        description = "Health, warmup and sessions. Every error is `{\"error\": {\"code\", \"message\"}}`; \
                       every method a path does not list is a JSON 405. `/metrics` (Prometheus, behind METRICS_TOKEN) \
                       is operational, not part of this API.",
        license(name = "MIT OR Apache-2.0"),
    ),
    paths(
        health::liveness,
        health::readiness,
        warmup::warmup,
        release::release,
        auth::login,
        auth::logout,
        auth::logout_all,
        auth::session,
        auth::me,
        document,
    ),
    components(schemas(ErrorBody, ErrorDetail)),
    tags(
        (name = "health", description = "Liveness, readiness, warmup and the release"),
        (name = "auth", description = "Login with a signed, expiring session cookie"),
        (name = "meta", description = "This document"),
    )
)]
/// The OpenAPI 3.1 document of the JSON API, built from the handlers' `utoipa::path`s.
pub struct ApiDoc;

static DOCUMENT: LazyLock<String> = LazyLock::new(|| {
    ApiDoc::openapi()
        .to_json()
        .expect("the OpenAPI document serialises")
});

/// The document as `GET /api/openapi.json` serves it (and `api openapi` prints it).
pub fn document_json() -> &'static str {
    DOCUMENT.as_str()
}

#[utoipa::path(
    get,
    path = "/api/openapi.json",
    tag = "meta",
    summary = "This OpenAPI document",
    responses((status = 200, description = "OpenAPI 3.1", content_type = "application/json"))
)]
/// `GET /api/openapi.json`: the document, serialised once and cached.
pub async fn document() -> impl IntoResponse {
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        ],
        DOCUMENT.as_str(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_route_but_metrics_is_documented() {
        let doc = ApiDoc::openapi();
        for route in crate::router::ROUTES {
            if *route == "/metrics" {
                continue;
            }
            assert!(
                doc.paths.paths.contains_key(*route),
                "{route} is not in the OpenAPI document"
            );
        }
        assert_eq!(doc.paths.paths.len(), crate::router::ROUTES.len() - 1);
    }
}
