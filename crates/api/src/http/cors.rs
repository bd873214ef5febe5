//! CORS for the API, on every answer the API gives: tower-http's `CorsLayer` with the policy's
//! frontend origins and credentials (the session cookie), around everything that can answer —
//! the handler, the body limit's 413, the timeout's 503, a panic's 500, a 404 or 405, a rate
//! limit's 429 — so a cross-origin frontend always reads the JSON error instead of a network
//! error (Fetch standard, "CORS check"). Only paths under `/api` get it: documents and hashed
//! assets stay free of `Vary: origin`, which would split every cache by origin.
//!
//! tower-http's `Cors` service owns a copy of its settings (several vectors), and the stack is
//! cloned for every request (hyper-util's service adapter does that), so the `Cors` service is
//! built only for a request under `/api`, from settings shared behind an `Arc`: liveness and the
//! static files never pay for it (measured with `bench/layers.sh`).

use std::{
    future::Future,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
    time::Duration,
};

use axum::http::{header, Method, Request, Response};
use tower::{util::Oneshot, Layer, Service, ServiceExt};
use tower_http::cors::{AllowOrigin, Cors, CorsLayer};

use crate::edge::Edge;

/// CORS on `/api` paths, or nothing when the policy names no frontend origin (the frontend is
/// only ever served from the API's own origin).
#[derive(Clone, Debug)]
pub struct ApiCorsLayer {
    cors: Option<Arc<CorsLayer>>,
    edge: Arc<Edge>,
}

impl ApiCorsLayer {
    /// CORS settings from `edge`'s allowed frontend origins, built once and shared.
    pub fn new(edge: &Arc<Edge>) -> Self {
        let cors = (!edge.cors_origins.is_empty()).then(|| {
            CorsLayer::new()
                .allow_origin(AllowOrigin::list(edge.cors_origins.iter().cloned()))
                .allow_credentials(true)
                .allow_methods([Method::GET, Method::POST])
                .allow_headers([header::CONTENT_TYPE])
                // A cross-origin page reads when to retry a 429 or a 503.
                .expose_headers([header::RETRY_AFTER])
                .max_age(Duration::from_secs(600))
        });
        Self {
            cors: cors.map(Arc::new),
            edge: edge.clone(),
        }
    }
}

impl<S> Layer<S> for ApiCorsLayer {
    type Service = ApiCors<S>;
    fn layer(&self, inner: S) -> Self::Service {
        ApiCors {
            cors: self.cors.clone(),
            edge: self.edge.clone(),
            inner,
        }
    }
}

/// See [`ApiCorsLayer`].
#[derive(Clone, Debug)]
pub struct ApiCors<S> {
    cors: Option<Arc<CorsLayer>>,
    edge: Arc<Edge>,
    inner: S,
}

impl<S, B, ResBody> Service<Request<B>> for ApiCors<S>
where
    S: Service<Request<B>, Response = Response<ResBody>> + Clone,
    // A preflight's answer is an empty body of the inner type.
    ResBody: Default,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = ApiCorsFuture<Oneshot<Cors<S>, Request<B>>, S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        match &self.cors {
            Some(cors) if self.edge.is_api_request(request.uri().path()) => ApiCorsFuture::Cors {
                // A fresh inner service, readied by `oneshot`; `self.inner` stays ready for
                // whoever polled it.
                inner: cors.layer(self.inner.clone()).oneshot(request),
            },
            _ => ApiCorsFuture::Plain {
                inner: self.inner.call(request),
            },
        }
    }
}

pin_project_lite::pin_project! {
    // pin-project-lite takes no attributes on a variant's fields, so they cannot carry docs.
    #[allow(missing_docs)]
    #[project = ApiCorsFutureProj]
    /// The response future of [`ApiCors`].
    pub enum ApiCorsFuture<C, F> {
        /// An `/api` request, through tower-http's CORS.
        Cors { #[pin] inner: C },
        /// Any other request, untouched.
        Plain { #[pin] inner: F },
    }
}

impl<C, F, T> Future for ApiCorsFuture<C, F>
where
    C: Future<Output = T>,
    F: Future<Output = T>,
{
    type Output = T;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project() {
            ApiCorsFutureProj::Cors { inner } => inner.poll(cx),
            ApiCorsFutureProj::Plain { inner } => inner.poll(cx),
        }
    }
}
