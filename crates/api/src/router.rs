//! The routes: what each path answers, and the route table the metrics are kept for.

use axum::{
    http::StatusCode,
    routing::{get, post},
    Router,
};

use crate::{
    edge::{API_PREFIX, LIVENESS_PATH, METRICS_PATH},
    error::ApiError,
    http::trace::RecordRouteLayer,
    routes::{auth, frontend, health, metrics, openapi, release, warmup},
    state::AppState,
};

/// Every route the router matches, as `MatchedPath` names them: the metrics table.
pub const ROUTES: &[&str] = &[
    LIVENESS_PATH,
    METRICS_PATH,
    "/api/health",
    "/api/warmup",
    "/api/auth/login",
    "/api/auth/logout",
    "/api/auth/logout-all",
    "/api/me",
    "/api/session",
    "/api/release",
    "/api/openapi.json",
];

/// The routes. Each records its matched path into the request span and the metrics
/// ([`RecordRouteLayer`]); anything else under `/api` is a JSON 404, and every other path is
/// the frontend.
pub fn router(state: AppState) -> Router {
    let api = Router::new()
        .route("/health", get(health::readiness))
        .route("/warmup", post(warmup::warmup))
        .route("/auth/login", post(auth::login))
        .route("/auth/logout", post(auth::logout))
        .route("/auth/logout-all", post(auth::logout_all))
        .route("/me", get(auth::me))
        .route("/session", get(auth::session))
        .route("/release", get(release::release))
        .route("/openapi.json", get(openapi::document))
        .fallback(api_not_found);
    Router::new()
        .route(LIVENESS_PATH, get(health::liveness))
        .route(METRICS_PATH, get(metrics::endpoint))
        .nest(API_PREFIX, api)
        .route_layer(RecordRouteLayer::new(state.metrics.clone()))
        .fallback(frontend::fallback)
        .with_state(state)
}

async fn api_not_found() -> ApiError {
    ApiError::client(StatusCode::NOT_FOUND, "not_found", "no such API endpoint")
}
