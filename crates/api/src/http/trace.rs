//! Request spans and the access log: one `info` line per request with method, matched route,
//! status, latency, client address and request id, written by tower-http's `TraceLayer` with
//! [`RequestSpan`] and [`LogResponse`]. The quiet paths ([`Edge::is_quiet`]: the liveness probe,
//! every few seconds on every instance, and the hashed assets, several per page load) get no span
//! and no line: [`QuietPathsLayer`] sends them around the trace layer, which would otherwise still
//! read the clock at the start, at the response and for each body frame, and wrap the body, for a
//! line it never writes. Headers are never recorded, so `Authorization` and `Cookie` cannot reach
//! the log.

use std::{
    future::Future,
    pin::Pin,
    sync::Arc,
    task::{ready, Context, Poll},
    time::{Duration, Instant},
};

use std::net::SocketAddr;

use axum::{
    extract::{ConnectInfo, MatchedPath},
    http::{Request, Response},
};
use http_body_util::Either;
use tower::{Layer, Service};
use tower_http::trace::{MakeSpan, OnResponse};
use tracing::Span;

use super::request_id::X_REQUEST_ID;
use crate::{
    edge::Edge,
    metrics::{Metrics, SlotId},
};

/// Sends the quiet paths ([`Edge::is_quiet`]) around the layer it wraps (the trace layer), and
/// every other request through it.
#[derive(Clone, Debug)]
pub struct QuietPathsLayer<L> {
    traced: L,
    edge: Arc<Edge>,
}

impl<L> QuietPathsLayer<L> {
    /// `traced` for every path but `edge`'s quiet ones.
    pub fn new(traced: L, edge: Arc<Edge>) -> Self {
        Self { traced, edge }
    }
}

impl<L: Layer<S>, S: Clone> Layer<S> for QuietPathsLayer<L> {
    type Service = QuietPaths<L::Service, S>;
    fn layer(&self, inner: S) -> Self::Service {
        QuietPaths {
            traced: self.traced.layer(inner.clone()),
            quiet: inner,
            edge: self.edge.clone(),
        }
    }
}

/// The service [`QuietPathsLayer`] makes: the answer's body is the traced one or the inner one
/// (`http_body_util::Either`, no boxing).
#[derive(Clone, Debug)]
pub struct QuietPaths<T, S> {
    traced: T,
    quiet: S,
    edge: Arc<Edge>,
}

impl<T, S, B, TracedBody, QuietBody> Service<Request<B>> for QuietPaths<T, S>
where
    T: Service<Request<B>, Response = Response<TracedBody>>,
    S: Service<Request<B>, Response = Response<QuietBody>, Error = T::Error>,
{
    type Response = Response<Either<TracedBody, QuietBody>>;
    type Error = T::Error;
    type Future = QuietPathsFuture<T::Future, S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        ready!(self.traced.poll_ready(cx))?;
        self.quiet.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        if self.edge.is_quiet(request.uri().path()) {
            QuietPathsFuture::Quiet {
                inner: self.quiet.call(request),
            }
        } else {
            QuietPathsFuture::Traced {
                inner: self.traced.call(request),
            }
        }
    }
}

pin_project_lite::pin_project! {
    // pin-project-lite takes no attributes on a variant's fields, so they cannot carry docs.
    #[allow(missing_docs)]
    #[project = QuietPathsFutureProj]
    /// The response future of [`QuietPaths`].
    pub enum QuietPathsFuture<T, S> {
        /// Through the trace layer.
        Traced { #[pin] inner: T },
        /// Around it.
        Quiet { #[pin] inner: S },
    }
}

impl<T, S, E, TracedBody, QuietBody> Future for QuietPathsFuture<T, S>
where
    T: Future<Output = Result<Response<TracedBody>, E>>,
    S: Future<Output = Result<Response<QuietBody>, E>>,
{
    type Output = Result<Response<Either<TracedBody, QuietBody>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Poll::Ready(Ok(match self.project() {
            QuietPathsFutureProj::Traced { inner } => ready!(inner.poll(cx))?.map(Either::Left),
            QuietPathsFutureProj::Quiet { inner } => ready!(inner.poll(cx))?.map(Either::Right),
        }))
    }
}

/// Makes the request span.
#[derive(Clone, Debug)]
pub struct RequestSpan {
    edge: Arc<Edge>,
}

impl RequestSpan {
    /// A span maker reading the client address from `edge`.
    pub fn new(edge: Arc<Edge>) -> Self {
        Self { edge }
    }
}

impl<B> MakeSpan<B> for RequestSpan {
    fn make_span(&mut self, request: &Request<B>) -> Span {
        let path = request.uri().path();
        let request_id = request
            .headers()
            .get(&X_REQUEST_ID)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        let peer = request
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip());
        let client = self.edge.proxy.client_address(request.headers(), peer);
        tracing::info_span!(
            target: "api::http",
            "request",
            method = %request.method(),
            route = tracing::field::Empty,
            path,
            client = client.map(tracing::field::display),
            request_id,
        )
    }
}

/// Writes the access-log line (`info`, target `api::http`): status and latency in
/// milliseconds, inside the request span.
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

/// Records the matched route (`/api/health`, not the raw path) into the request span, and the
/// request's status and latency into [`Metrics`]. Applied with `Router::route_layer`, where axum
/// has already matched the route; the span is entered while the inner service is called.
#[derive(Clone)]
pub struct RecordRouteLayer {
    metrics: Arc<Metrics>,
}

impl RecordRouteLayer {
    /// Records into `metrics`: one histogram and counter per matched route and status.
    pub fn new(metrics: Arc<Metrics>) -> Self {
        Self { metrics }
    }
}

impl<S> Layer<S> for RecordRouteLayer {
    type Service = RecordRoute<S>;
    fn layer(&self, inner: S) -> Self::Service {
        RecordRoute {
            inner,
            metrics: self.metrics.clone(),
        }
    }
}

/// The service [`RecordRouteLayer`] makes.
#[derive(Clone)]
pub struct RecordRoute<S> {
    inner: S,
    metrics: Arc<Metrics>,
}

impl<S, B, ResBody> Service<Request<B>> for RecordRoute<S>
where
    S: Service<Request<B>, Response = Response<ResBody>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = RecordRouteFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let mut slot = None;
        if let Some(route) = request.extensions().get::<MatchedPath>() {
            let span = Span::current();
            if !span.is_disabled() {
                span.record("route", route.as_str());
            }
            slot = self.metrics.slot(route.as_str(), request.method());
        }
        RecordRouteFuture {
            inner: self.inner.call(request),
            metrics: slot.map(|slot| (self.metrics.clone(), slot)),
            started: Instant::now(),
        }
    }
}

pin_project_lite::pin_project! {
    /// The response future of [`RecordRoute`]: records the duration when the inner one ends.
    pub struct RecordRouteFuture<F> {
        #[pin]
        inner: F,
        metrics: Option<(Arc<Metrics>, SlotId)>,
        started: Instant,
    }
}

impl<F, E, ResBody> Future for RecordRouteFuture<F>
where
    F: Future<Output = Result<Response<ResBody>, E>>,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let result = ready!(this.inner.poll(cx));
        if let (Ok(response), Some((metrics, slot))) = (&result, this.metrics.take()) {
            metrics.record(
                slot,
                response.status(),
                this.started.elapsed().as_secs_f64(),
            );
        }
        Poll::Ready(result)
    }
}
