//! The policy's headers for the response class, added by one layer from values computed at
//! start-up ([`Edge::headers`]).
//!
//! A redirect (301, 302, 303, 307, 308) is the redirect class; otherwise, a 304 included, the
//! path decides ([`Edge::class_of_path`]).
//! Security headers override whatever a handler set, so a response never carries two values;
//! `Cache-Control` is only filled in where the handler did not choose one. HSTS goes only on
//! responses the trusted proxy says were HTTPS (RFC 6797 §7.2). A 304 leaves without the
//! `Content-Length: 0` axum's router writes for its empty body (see [`apply`]).

use std::{
    future::Future,
    pin::Pin,
    sync::Arc,
    task::{ready, Context, Poll},
};

use axum::http::{header, HeaderName, Request, Response, StatusCode};
use edge_policy::ResponseClass;
use tower::{Layer, Service};

use crate::edge::{Edge, Scheme};

/// Adds the policy's headers for each response's class (document, asset, API, redirect).
#[derive(Clone, Debug)]
pub struct SecurityHeadersLayer {
    edge: Arc<Edge>,
}

impl SecurityHeadersLayer {
    /// Uses the header values `edge` computed at start-up.
    pub fn new(edge: Arc<Edge>) -> Self {
        Self { edge }
    }
}

impl<S> Layer<S> for SecurityHeadersLayer {
    type Service = SecurityHeaders<S>;
    fn layer(&self, inner: S) -> Self::Service {
        SecurityHeaders {
            inner,
            edge: self.edge.clone(),
        }
    }
}

/// The service [`SecurityHeadersLayer`] makes.
#[derive(Clone, Debug)]
pub struct SecurityHeaders<S> {
    inner: S,
    edge: Arc<Edge>,
}

impl<S, B, ResBody> Service<Request<B>> for SecurityHeaders<S>
where
    S: Service<Request<B>, Response = Response<ResBody>>,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = SecurityHeadersFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let class = self.edge.class_of_path(request.uri().path());
        let https = self.edge.proxy.scheme(request.headers()) == Scheme::Https;
        SecurityHeadersFuture {
            inner: self.inner.call(request),
            edge: self.edge.clone(),
            class,
            https,
        }
    }
}

pin_project_lite::pin_project! {
    /// The response future of [`SecurityHeaders`]: adds the class's headers to the response.
    pub struct SecurityHeadersFuture<F> {
        #[pin]
        inner: F,
        edge: Arc<Edge>,
        class: ResponseClass,
        https: bool,
    }
}

impl<F, E, ResBody> Future for SecurityHeadersFuture<F>
where
    F: Future<Output = Result<Response<ResBody>, E>>,
{
    type Output = Result<Response<ResBody>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let mut response = ready!(this.inner.poll(cx))?;
        apply(this.edge, &mut response, *this.class, *this.https);
        Poll::Ready(Ok(response))
    }
}

static X_POWERED_BY: HeaderName = HeaderName::from_static("x-powered-by");

fn apply<B>(edge: &Edge, response: &mut Response<B>, class: ResponseClass, https: bool) {
    let class = if is_redirect(response.status()) {
        ResponseClass::Redirect
    } else {
        class
    };
    let set = edge.headers(class);
    let headers = response.headers_mut();
    headers.reserve(set.headers.len() + 2);
    for (name, value) in set.headers.iter() {
        headers.insert(name.clone(), value.clone());
    }
    if !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, set.cache_control.clone());
    }
    if https {
        headers.insert(header::STRICT_TRANSPORT_SECURITY, edge.hsts.clone());
    }
    // Nothing here sets them, but a future dependency might: never advertise the stack.
    headers.remove(header::SERVER);
    headers.remove(&X_POWERED_BY);
    // A 304 may only carry the Content-Length its 200 would (RFC 9110 §8.6). axum's router
    // writes `0` for every empty body; hyper drops it from a 304 to GET but sends it on a 304
    // to HEAD, telling the client its cached representation is empty. Sent without one, as a
    // static host sends it.
    if response.status() == StatusCode::NOT_MODIFIED {
        response.headers_mut().remove(header::CONTENT_LENGTH);
    }
}

/// A redirect sends the client elsewhere (RFC 9110 §15.4). 304 is in the 3xx class but is not one:
/// it stands for the 200 the client has cached and carries that response's caching headers
/// (§15.4.5), so it keeps the class its path gives it.
fn is_redirect(status: StatusCode) -> bool {
    matches!(status.as_u16(), 301 | 302 | 303 | 307 | 308)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::AppEnv;
    use axum::http::HeaderValue;

    fn edge() -> Edge {
        let policy = edge_policy::Policy::from_toml(edge_policy::EMBEDDED_POLICY).unwrap();
        Edge::resolve(&policy, AppEnv::Production, &[]).unwrap()
    }

    fn answered(status: StatusCode, class: ResponseClass) -> Response<()> {
        let mut response = Response::new(());
        *response.status_mut() = status;
        response
            .headers_mut()
            .insert(header::CONTENT_LENGTH, HeaderValue::from_static("0"));
        apply(&edge(), &mut response, class, false);
        response
    }

    #[test]
    fn a_304_keeps_its_paths_class_and_a_redirect_is_the_redirect_class_rfc9110_15_4_5() {
        let not_modified = answered(StatusCode::NOT_MODIFIED, ResponseClass::Asset);
        assert_eq!(
            not_modified.headers()[header::CACHE_CONTROL],
            "public, max-age=31536000, immutable"
        );
        for status in [301, 302, 303, 307, 308] {
            let status = StatusCode::from_u16(status).unwrap();
            let redirect = answered(status, ResponseClass::Asset);
            assert_eq!(
                redirect.headers()[header::CACHE_CONTROL],
                "no-store",
                "{status}"
            );
        }
    }

    #[test]
    fn a_304_carries_no_content_length_of_zero_rfc9110_8_6() {
        let not_modified = answered(StatusCode::NOT_MODIFIED, ResponseClass::Document);
        assert!(not_modified.headers().get(header::CONTENT_LENGTH).is_none());
        let redirect = answered(StatusCode::MOVED_PERMANENTLY, ResponseClass::Document);
        assert_eq!(
            redirect.headers()[header::CONTENT_LENGTH],
            "0",
            "a 301's body is empty"
        );
    }
}
