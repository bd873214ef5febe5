//! Security headers from the edge policy, computed once at start-up and added by one layer.
//!
//! The response class decides the set: a 3xx is a redirect; `/api/*` and `/health` are API
//! responses; the assets prefix is a hashed asset; anything else is a document (the SPA). Security
//! headers override whatever a handler set, so a response never carries two values;
//! `Cache-Control` is only filled in where the handler did not choose one. HSTS goes only on
//! responses the trusted proxy says were HTTPS (RFC 6797 §7.2).

use std::{
    future::Future,
    pin::Pin,
    sync::Arc,
    task::{ready, Context, Poll},
};

use axum::{
    body::Body,
    http::{header, HeaderName, HeaderValue, Request, Response},
};
use edge_policy::{Policy, PolicyError, ResponseClass};
use http_body_util::Either;
use tower::{Layer, Service};

use super::https_redirect::{effective_scheme, https_origin, redirect_for, Scheme};

type HeaderSet = Box<[(HeaderName, HeaderValue)]>;

#[derive(Debug)]
struct ClassHeaders {
    headers: HeaderSet,
    cache_control: HeaderValue,
}

/// Every header value the policy gives this environment, ready to copy into responses.
#[derive(Debug)]
pub struct SecurityHeaders {
    document: ClassHeaders,
    asset: ClassHeaders,
    api: ClassHeaders,
    redirect: ClassHeaders,
    hsts: HeaderValue,
    assets_prefix: Box<str>,
    trust_forwarded_proto: bool,
    /// Where plain-HTTP requests are redirected: the environment's `api_origin`, as https.
    redirect_origin: Box<str>,
}

impl SecurityHeaders {
    /// `script_hashes` are the CSP hashes of the served index.html's inline scripts.
    pub fn from_policy(
        policy: &Policy,
        env: &str,
        script_hashes: &[String],
    ) -> Result<Self, PolicyError> {
        let class = |class: ResponseClass| -> Result<ClassHeaders, PolicyError> {
            let mut headers = Vec::new();
            let mut cache_control = None;
            for h in policy.headers_for(env, class, script_hashes)? {
                let (name, value) = h.http();
                if name == header::CACHE_CONTROL {
                    cache_control = Some(value);
                } else {
                    headers.push((name, value));
                }
            }
            Ok(ClassHeaders {
                headers: headers.into(),
                cache_control: cache_control.expect("every class has one"),
            })
        };
        Ok(SecurityHeaders {
            document: class(ResponseClass::Document)?,
            asset: class(ResponseClass::Asset)?,
            api: class(ResponseClass::Api)?,
            redirect: class(ResponseClass::Redirect)?,
            hsts: policy.hsts().http().1,
            assets_prefix: policy.assets.prefix.clone().into(),
            trust_forwarded_proto: policy.environment(env)?.trust_forwarded_proto,
            redirect_origin: https_origin(&policy.environment(env)?.api_origin).into(),
        })
    }

    fn class_of_path(&self, path: &str) -> ResponseClass {
        if path == "/health" || path == "/metrics" || path == "/api" || path.starts_with("/api/") {
            ResponseClass::Api
        } else if path.starts_with(&*self.assets_prefix) {
            ResponseClass::Asset
        } else {
            ResponseClass::Document
        }
    }

    fn apply<B>(&self, response: &mut Response<B>, class: ResponseClass, https: bool) {
        let class = if response.status().is_redirection() {
            ResponseClass::Redirect
        } else {
            class
        };
        let set = match class {
            ResponseClass::Document => &self.document,
            ResponseClass::Asset => &self.asset,
            ResponseClass::Api => &self.api,
            ResponseClass::Redirect => &self.redirect,
        };
        let headers = response.headers_mut();
        headers.reserve(set.headers.len() + 2);
        for (name, value) in set.headers.iter() {
            headers.insert(name.clone(), value.clone());
        }
        if !headers.contains_key(header::CACHE_CONTROL) {
            headers.insert(header::CACHE_CONTROL, set.cache_control.clone());
        }
        if https {
            headers.insert(header::STRICT_TRANSPORT_SECURITY, self.hsts.clone());
        }
        // Nothing here sets them, but a future dependency might: never advertise the stack.
        headers.remove(header::SERVER);
        headers.remove("x-powered-by");
    }
}

#[derive(Clone, Debug)]
pub struct SecurityHeadersLayer(Arc<SecurityHeaders>);

impl SecurityHeadersLayer {
    pub fn new(headers: Arc<SecurityHeaders>) -> Self {
        Self(headers)
    }
}

impl<S> Layer<S> for SecurityHeadersLayer {
    type Service = SecurityHeadersService<S>;
    fn layer(&self, inner: S) -> Self::Service {
        SecurityHeadersService {
            inner,
            headers: self.0.clone(),
        }
    }
}

#[derive(Clone, Debug)]
pub struct SecurityHeadersService<S> {
    inner: S,
    headers: Arc<SecurityHeaders>,
}

/// Redirects plain-HTTP requests (see `https_redirect.rs`), then adds the class's headers to
/// whatever the inner service answers. The scheme is read once for both decisions.
impl<S, B, ResBody> Service<Request<B>> for SecurityHeadersService<S>
where
    S: Service<Request<B>, Response = Response<ResBody>>,
{
    type Response = Response<Either<ResBody, Body>>;
    type Error = S::Error;
    type Future = SecurityHeadersFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let scheme = effective_scheme(request.headers(), self.headers.trust_forwarded_proto);
        if let Some(mut redirect) = redirect_for(&request, &self.headers.redirect_origin, scheme) {
            self.headers
                .apply(&mut redirect, ResponseClass::Redirect, false);
            return SecurityHeadersFuture::Redirect {
                response: Some(redirect),
            };
        }
        let class = self.headers.class_of_path(request.uri().path());
        SecurityHeadersFuture::Inner {
            inner: self.inner.call(request),
            headers: self.headers.clone(),
            class,
            https: scheme == Scheme::Https,
        }
    }
}

pin_project_lite::pin_project! {
    #[project = SecurityHeadersFutureProj]
    pub enum SecurityHeadersFuture<F> {
        Redirect { response: Option<Response<Body>> },
        Inner {
            #[pin]
            inner: F,
            headers: Arc<SecurityHeaders>,
            class: ResponseClass,
            https: bool,
        },
    }
}

impl<F, E, ResBody> Future for SecurityHeadersFuture<F>
where
    F: Future<Output = Result<Response<ResBody>, E>>,
{
    type Output = Result<Response<Either<ResBody, Body>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project() {
            SecurityHeadersFutureProj::Redirect { response } => {
                let response = response.take().expect("polled after completion");
                Poll::Ready(Ok(response.map(Either::Right)))
            }
            SecurityHeadersFutureProj::Inner {
                inner,
                headers,
                class,
                https,
            } => {
                let mut response = ready!(inner.poll(cx))?;
                headers.apply(&mut response, *class, *https);
                Poll::Ready(Ok(response.map(Either::Left)))
            }
        }
    }
}
