//! A panicking handler becomes a JSON 500; the panic message goes to the log, never to the client.
//!
//! tower-http's `CatchPanicLayer` does the same but boxes every response body (it must be able
//! to return a different body type): 200 more instructions per request than this one
//! (`bench/layers.sh`, docs/PERFORMANCE.md). This one answers in the inner body type
//! (`ResBody: From<Body>`), so a normal response passes through untouched.

use std::{
    any::Any,
    future::Future,
    panic::{catch_unwind, AssertUnwindSafe},
    pin::Pin,
    task::{Context, Poll},
};

use axum::{
    body::Body,
    http::{Request, Response, StatusCode},
};
use tower::{Layer, Service};

use crate::error::error_response;

/// Turns a panic in the inner service (while called or polled) into a JSON 500 `internal`.
#[derive(Clone, Copy, Debug, Default)]
pub struct CatchPanicLayer;

impl<S> Layer<S> for CatchPanicLayer {
    type Service = CatchPanic<S>;
    fn layer(&self, inner: S) -> Self::Service {
        CatchPanic { inner }
    }
}

/// The service [`CatchPanicLayer`] makes.
#[derive(Clone, Debug)]
pub struct CatchPanic<S> {
    inner: S,
}

impl<S, B, ResBody> Service<Request<B>> for CatchPanic<S>
where
    S: Service<Request<B>, Response = Response<ResBody>>,
    ResBody: From<Body>,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = CatchPanicFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        match catch_unwind(AssertUnwindSafe(|| self.inner.call(request))) {
            Ok(future) => CatchPanicFuture::Running { future },
            Err(panic) => CatchPanicFuture::Panicked { panic: Some(panic) },
        }
    }
}

pin_project_lite::pin_project! {
    // pin-project-lite takes no attributes on a variant's fields, so they cannot carry docs.
    #[allow(missing_docs)]
    #[project = CatchPanicProj]
    /// The response future of [`CatchPanic`].
    pub enum CatchPanicFuture<F> {
        /// The inner future, polled inside `catch_unwind`.
        Running { #[pin] future: F },
        /// The inner service panicked while being called: answered with a JSON 500.
        Panicked { panic: Option<Box<dyn Any + Send + 'static>> },
    }
}

impl<F, E, ResBody> Future for CatchPanicFuture<F>
where
    F: Future<Output = Result<Response<ResBody>, E>>,
    ResBody: From<Body>,
{
    type Output = Result<Response<ResBody>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project() {
            CatchPanicProj::Running { future } => {
                match catch_unwind(AssertUnwindSafe(|| future.poll(cx))) {
                    Ok(Poll::Ready(result)) => Poll::Ready(result),
                    Ok(Poll::Pending) => Poll::Pending,
                    Err(panic) => Poll::Ready(Ok(panic_response(panic).map(ResBody::from))),
                }
            }
            CatchPanicProj::Panicked { panic } => Poll::Ready(Ok(panic_response(
                panic.take().expect("polled after completion"),
            )
            .map(ResBody::from))),
        }
    }
}

fn panic_response(panic: Box<dyn Any + Send + 'static>) -> Response<Body> {
    let detail = panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".to_owned());
    tracing::error!(panic = %detail, "handler panicked");
    error_response(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal",
        "an internal error occurred",
    )
}
