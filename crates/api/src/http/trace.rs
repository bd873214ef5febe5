//! Request spans and the access log: one `info` line per request with method, matched route,
//! status, latency and request id. `/health` gets no span and no line: Render probes it every few
//! seconds on every instance. Headers are never recorded, so `Authorization` and `Cookie` cannot
//! reach the log.

use std::time::Duration;

use axum::{
    extract::MatchedPath,
    http::{Request, Response},
};
use tower_http::trace::{MakeSpan, OnResponse};
use tracing::Span;

#[derive(Clone, Copy, Debug, Default)]
pub struct RequestSpan;

impl<B> MakeSpan<B> for RequestSpan {
    fn make_span(&mut self, request: &Request<B>) -> Span {
        if request.uri().path() == "/health" {
            return Span::none();
        }
        let route = request
            .extensions()
            .get::<MatchedPath>()
            .map_or("fallback", MatchedPath::as_str);
        let request_id = request
            .headers()
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        tracing::info_span!(
            target: "api::http",
            "request",
            method = %request.method(),
            route,
            path = %request.uri().path(),
            request_id,
        )
    }
}

#[derive(Clone, Copy, Debug, Default)]
pub struct LogResponse;

impl<B> OnResponse<B> for LogResponse {
    fn on_response(self, response: &Response<B>, latency: Duration, span: &Span) {
        if span.is_disabled() {
            return;
        }
        let status = response.status().as_u16();
        let latency_ms = latency.as_secs_f64() * 1000.0;
        if response.status().is_server_error() {
            tracing::warn!(target: "api::http", parent: span, status, latency_ms, "request failed");
        } else {
            tracing::info!(target: "api::http", parent: span, status, latency_ms, "request finished");
        }
    }
}
