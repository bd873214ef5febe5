//! Request timeout that arms its timer only when the handler actually waits.
//!
//! tower-http's `TimeoutLayer` registers a tokio timer for every request; on this service's hot
//! paths (liveness, cached warmup, static files) the handler finishes on its first poll, and the
//! timer registration alone cost about as much as the rest of the stack together (measured in
//! docs/PERFORMANCE.md). Here the first poll runs without a timer; only if the handler returns
//! `Pending` is a timer armed, for the deadline counted from when the request arrived.

use std::{
    future::Future,
    pin::Pin,
    task::{Context, Poll},
    time::Duration,
};

use axum::{
    body::Body,
    http::{Request, Response, StatusCode},
};
use tokio::time::{Instant, Sleep};
use tower::{Layer, Service};

use crate::error::error_response;

/// Cuts a request off after a deadline counted from its arrival: JSON 503 `timeout`.
#[derive(Clone, Copy, Debug)]
pub struct RequestTimeoutLayer {
    timeout: Duration,
}

impl RequestTimeoutLayer {
    /// A layer with this deadline (`REQUEST_TIMEOUT_SECS`).
    pub fn new(timeout: Duration) -> Self {
        Self { timeout }
    }
}

impl<S> Layer<S> for RequestTimeoutLayer {
    type Service = RequestTimeout<S>;
    fn layer(&self, inner: S) -> Self::Service {
        RequestTimeout {
            inner,
            timeout: self.timeout,
        }
    }
}

/// The service [`RequestTimeoutLayer`] makes.
#[derive(Clone, Debug)]
pub struct RequestTimeout<S> {
    inner: S,
    timeout: Duration,
}

impl<S, B, ResBody> Service<Request<B>> for RequestTimeout<S>
where
    S: Service<Request<B>, Response = Response<ResBody>>,
    ResBody: From<Body>,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = RequestTimeoutFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        RequestTimeoutFuture {
            inner: self.inner.call(request),
            timeout: self.timeout,
            arrived: None,
            sleep: None,
        }
    }
}

pin_project_lite::pin_project! {
    /// The response future of [`RequestTimeout`]: the inner future, raced against a timer armed
    /// the first time it is pending.
    pub struct RequestTimeoutFuture<F> {
        #[pin]
        inner: F,
        timeout: Duration,
        arrived: Option<Instant>,
        #[pin]
        sleep: Option<Sleep>,
    }
}

impl<F, E, ResBody> Future for RequestTimeoutFuture<F>
where
    F: Future<Output = Result<Response<ResBody>, E>>,
    ResBody: From<Body>,
{
    type Output = Result<Response<ResBody>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        if let Poll::Ready(result) = this.inner.poll(cx) {
            return Poll::Ready(result);
        }
        if this.sleep.is_none() {
            // The handler is waiting: now the deadline matters. `arrived` is the first poll,
            // which the server does as soon as the request head is parsed.
            let arrived = *this.arrived.get_or_insert_with(Instant::now);
            this.sleep
                .set(Some(tokio::time::sleep_until(arrived + *this.timeout)));
        }
        let sleep = this.sleep.as_pin_mut().expect("armed above");
        if sleep.poll(cx).is_ready() {
            tracing::warn!(timeout_secs = this.timeout.as_secs(), "request timed out");
            let response = error_response(
                StatusCode::SERVICE_UNAVAILABLE,
                "timeout",
                "the request took too long; retry shortly",
            );
            return Poll::Ready(Ok(response.map(ResBody::from)));
        }
        Poll::Pending
    }
}
