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
    task::{ready, Context, Poll},
    time::Duration,
};

use axum::{
    body::{Body, Bytes, HttpBody},
    http::{header, Method, Request, Response},
    BoxError,
};
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
            inner: AxumBody(inner),
        }
    }
}

/// See [`ApiCorsLayer`].
#[derive(Clone, Debug)]
pub struct ApiCors<S> {
    cors: Option<Arc<CorsLayer>>,
    edge: Arc<Edge>,
    inner: AxumBody<S>,
}

impl<S, B, ResBody> Service<Request<B>> for ApiCors<S>
where
    S: Service<Request<B>, Response = Response<ResBody>> + Clone,
    ResBody: HttpBody<Data = Bytes> + Send + 'static,
    ResBody::Error: Into<BoxError>,
{
    type Response = Response<Body>;
    type Error = S::Error;
    type Future = ApiCorsFuture<Oneshot<Cors<AxumBody<S>>, Request<B>>, S::Future>;

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
    #[project = ApiCorsFutureProj]
    pub enum ApiCorsFuture<C, F> {
        Cors { #[pin] inner: C },
        Plain { #[pin] inner: AxumBodyFuture<F> },
    }
}

impl<C, F, E> Future for ApiCorsFuture<C, F>
where
    C: Future<Output = Result<Response<Body>, E>>,
    AxumBodyFuture<F>: Future<Output = Result<Response<Body>, E>>,
{
    type Output = Result<Response<Body>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project() {
            ApiCorsFutureProj::Cors { inner } => inner.poll(cx),
            ApiCorsFutureProj::Plain { inner } => inner.poll(cx),
        }
    }
}

/// The inner service with its body as axum's `Body`, which the CORS preflight's empty answer
/// needs (`Default`). The stack boxes its body once either way: here rather than further out.
#[derive(Clone, Debug)]
pub struct AxumBody<S>(S);

impl<S, B, ResBody> Service<Request<B>> for AxumBody<S>
where
    S: Service<Request<B>, Response = Response<ResBody>>,
    ResBody: HttpBody<Data = Bytes> + Send + 'static,
    ResBody::Error: Into<BoxError>,
{
    type Response = Response<Body>;
    type Error = S::Error;
    type Future = AxumBodyFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        AxumBodyFuture {
            inner: self.0.call(request),
        }
    }
}

pin_project_lite::pin_project! {
    pub struct AxumBodyFuture<F> {
        #[pin]
        inner: F,
    }
}

impl<F, E, ResBody> Future for AxumBodyFuture<F>
where
    F: Future<Output = Result<Response<ResBody>, E>>,
    ResBody: HttpBody<Data = Bytes> + Send + 'static,
    ResBody::Error: Into<BoxError>,
{
    type Output = Result<Response<Body>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let response = ready!(self.project().inner.poll(cx))?;
        Poll::Ready(Ok(response.map(Body::new)))
    }
}
