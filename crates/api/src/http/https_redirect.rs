//! HTTP → HTTPS redirect behind a TLS-terminating proxy.
//!
//! Render ends TLS at its edge and forwards plain HTTP; the only sign of the client's scheme is
//! `X-Forwarded-Proto`, which any client can also send, so it is read only where the policy
//! trusts the proxy ([`TrustedProxy::scheme`](crate::edge::TrustedProxy::scheme)). The target is
//! the configured canonical origin plus the original path and query, never `Host` or
//! `X-Forwarded-Host` (that would be an open redirect). Status 301 for GET and HEAD, 308 for
//! other methods, which must not turn into GET (RFC 9110 §15.4.2, §15.4.9). The liveness path is
//! never redirected ([`Edge::is_https_exempt`]).

use std::{
    future::Future,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
};

use axum::{
    body::Body,
    http::{header, HeaderValue, Method, Request, Response, StatusCode},
};
use tower::{Layer, Service};

use crate::edge::{Edge, Scheme};

/// Answers requests that arrived over plain HTTP with a redirect to the canonical HTTPS origin.
#[derive(Clone, Debug)]
pub struct HttpsRedirectLayer {
    edge: Arc<Edge>,
}

impl HttpsRedirectLayer {
    /// Redirects to the canonical origin of `edge`, when the policy enforces HTTPS.
    pub fn new(edge: Arc<Edge>) -> Self {
        Self { edge }
    }
}

impl<S> Layer<S> for HttpsRedirectLayer {
    type Service = HttpsRedirect<S>;
    fn layer(&self, inner: S) -> Self::Service {
        HttpsRedirect {
            inner,
            edge: self.edge.clone(),
        }
    }
}

/// The service [`HttpsRedirectLayer`] makes.
#[derive(Clone, Debug)]
pub struct HttpsRedirect<S> {
    inner: S,
    edge: Arc<Edge>,
}

impl<S, B, ResBody> Service<Request<B>> for HttpsRedirect<S>
where
    S: Service<Request<B>, Response = Response<ResBody>>,
    ResBody: From<Body>,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = HttpsRedirectFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        match redirect_for(&self.edge, &request) {
            Some(response) => HttpsRedirectFuture::Redirect {
                response: Some(response),
            },
            None => HttpsRedirectFuture::Inner {
                inner: self.inner.call(request),
            },
        }
    }
}

pin_project_lite::pin_project! {
    // pin-project-lite takes no attributes on a variant's fields, so they cannot carry docs.
    #[allow(missing_docs)]
    #[project = HttpsRedirectFutureProj]
    /// The response future of [`HttpsRedirect`].
    pub enum HttpsRedirectFuture<F> {
        /// The request was plain HTTP: the redirect to HTTPS (301 or 308), ready at once.
        Redirect { response: Option<Response<Body>> },
        /// The request goes on to the inner service.
        Inner { #[pin] inner: F },
    }
}

impl<F, E, ResBody> Future for HttpsRedirectFuture<F>
where
    F: Future<Output = Result<Response<ResBody>, E>>,
    ResBody: From<Body>,
{
    type Output = Result<Response<ResBody>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project() {
            HttpsRedirectFutureProj::Redirect { response } => {
                let response = response.take().expect("polled after completion");
                Poll::Ready(Ok(response.map(ResBody::from)))
            }
            HttpsRedirectFutureProj::Inner { inner } => inner.poll(cx),
        }
    }
}

/// The redirect for a request that arrived over plain HTTP, or `None` if it is to be served.
fn redirect_for<B>(edge: &Edge, request: &Request<B>) -> Option<Response<Body>> {
    if edge.proxy.scheme(request.headers()) != Scheme::Http
        || edge.is_https_exempt(request.uri().path())
    {
        return None;
    }
    let path_and_query = request.uri().path_and_query().map_or("/", |pq| pq.as_str());
    // The path arrives percent-encoded and is copied verbatim; the origin is fixed, so even
    // `//evil.example/` stays a path on our host.
    let location =
        HeaderValue::try_from(format!("{}{path_and_query}", edge.canonical_origin)).ok()?;
    let status = if request.method() == Method::GET || request.method() == Method::HEAD {
        StatusCode::MOVED_PERMANENTLY
    } else {
        StatusCode::PERMANENT_REDIRECT
    };
    let mut response = Response::new(Body::empty());
    *response.status_mut() = status;
    response.headers_mut().insert(header::LOCATION, location);
    Some(response)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::AppEnv;

    fn edge() -> Edge {
        let policy = edge_policy::Policy::from_toml(edge_policy::EMBEDDED_POLICY).unwrap();
        Edge::resolve(&policy, AppEnv::Production, &[]).unwrap()
    }

    const ORIGIN: &str = "https://release-flow-api.onrender.com";

    fn redirect(method: Method, uri: &str, proto: Option<&str>) -> Option<(StatusCode, String)> {
        let mut builder = Request::builder()
            .method(method)
            .uri(uri)
            .header("host", "evil.example")
            .header("x-forwarded-host", "evil.example");
        if let Some(p) = proto {
            builder = builder.header("x-forwarded-proto", p);
        }
        let request = builder.body(()).unwrap();
        redirect_for(&edge(), &request).map(|r| {
            (
                r.status(),
                r.headers()[header::LOCATION].to_str().unwrap().to_owned(),
            )
        })
    }

    #[test]
    fn a_trusted_http_get_is_a_301_to_the_configured_origin_rfc9110_15_4_2() {
        assert_eq!(
            redirect(Method::GET, "/docs/a?b=1&c=%20", Some("http")),
            Some((
                StatusCode::MOVED_PERMANENTLY,
                format!("{ORIGIN}/docs/a?b=1&c=%20")
            ))
        );
    }

    #[test]
    fn head_is_a_301() {
        assert_eq!(
            redirect(Method::HEAD, "/", Some("http")).unwrap().0,
            StatusCode::MOVED_PERMANENTLY
        );
    }

    #[test]
    fn post_is_a_308_so_the_method_survives_rfc9110_15_4_9() {
        assert_eq!(
            redirect(Method::POST, "/api/auth/login", Some("http"))
                .unwrap()
                .0,
            StatusCode::PERMANENT_REDIRECT
        );
    }

    #[test]
    fn https_and_an_absent_header_are_served() {
        assert_eq!(redirect(Method::GET, "/", Some("https")), None);
        assert_eq!(redirect(Method::GET, "/", None), None);
    }

    #[test]
    fn liveness_is_never_redirected() {
        assert_eq!(redirect(Method::GET, "/health", Some("http")), None);
    }

    #[test]
    fn host_and_forwarded_host_never_reach_the_location() {
        let (_, location) = redirect(Method::GET, "//evil.example/x", Some("http")).unwrap();
        assert_eq!(location, format!("{ORIGIN}//evil.example/x"));
    }
}
