//! Guarantees the error contract: any error response that is not already JSON (the router's 405,
//! the body limit's 413, the timeout's 503, a rejection's plain text) leaves as
//! `{"error": {"code", "message"}}`, keeping its status and headers (such as `Allow`).

use std::{
    future::Future,
    pin::Pin,
    task::{ready, Context, Poll},
};

use axum::{
    body::Body,
    http::{header, Request, Response, StatusCode},
};
use tower::{Layer, Service};

use crate::error::{error_response, PlainBody};

/// Rewrites every non-JSON error response into the JSON error shape, keeping status and headers.
#[derive(Clone, Copy, Debug, Default)]
pub struct JsonErrorLayer;

impl<S> Layer<S> for JsonErrorLayer {
    type Service = JsonErrors<S>;
    fn layer(&self, inner: S) -> Self::Service {
        JsonErrors { inner }
    }
}

/// The service [`JsonErrorLayer`] makes.
#[derive(Clone, Debug)]
pub struct JsonErrors<S> {
    inner: S,
}

impl<S, B, ResBody> Service<Request<B>> for JsonErrors<S>
where
    S: Service<Request<B>, Response = Response<ResBody>>,
    ResBody: From<Body>,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = JsonErrorsFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        JsonErrorsFuture {
            inner: self.inner.call(request),
        }
    }
}

pin_project_lite::pin_project! {
    /// The response future of [`JsonErrors`].
    pub struct JsonErrorsFuture<F> {
        #[pin]
        inner: F,
    }
}

impl<F, E, ResBody> Future for JsonErrorsFuture<F>
where
    F: Future<Output = Result<Response<ResBody>, E>>,
    ResBody: From<Body>,
{
    type Output = Result<Response<ResBody>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let response = ready!(self.project().inner.poll(cx))?;
        Poll::Ready(Ok(into_json_error(response)))
    }
}

fn is_json<B>(response: &Response<B>) -> bool {
    response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("application/json") || ct.contains("+json"))
}

/// Successes, JSON errors and deliberate plain bodies pass through untouched; anything else gets
/// the JSON error body, in the inner body type (no boxing).
fn into_json_error<B: From<Body>>(response: Response<B>) -> Response<B> {
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error())
        || is_json(&response)
        || response.extensions().get::<PlainBody>().is_some()
    {
        return response;
    }
    let (code, message) = describe(status);
    let (mut parts, _) = response.into_parts();
    let json = error_response(status, code, message);
    for name in [header::CONTENT_TYPE, header::CACHE_CONTROL] {
        if let Some(value) = json.headers().get(&name) {
            parts.headers.insert(name, value.clone());
        }
    }
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, B::from(json.into_body()))
}

fn describe(status: StatusCode) -> (&'static str, &'static str) {
    match status {
        StatusCode::BAD_REQUEST => ("bad_request", "the request could not be understood"),
        StatusCode::UNAUTHORIZED => ("unauthorized", "authentication required"),
        StatusCode::FORBIDDEN => ("forbidden", "not allowed"),
        StatusCode::NOT_FOUND => ("not_found", "no such resource"),
        StatusCode::METHOD_NOT_ALLOWED => (
            "method_not_allowed",
            "this method is not allowed here; see the Allow header",
        ),
        StatusCode::NOT_ACCEPTABLE => (
            "not_acceptable",
            "no representation matches the request's Accept-Encoding",
        ),
        StatusCode::REQUEST_TIMEOUT => ("request_timeout", "the request took too long to arrive"),
        StatusCode::PRECONDITION_FAILED => (
            "precondition_failed",
            "the resource does not match the request's If-Match",
        ),
        StatusCode::RANGE_NOT_SATISFIABLE => (
            "range_not_satisfiable",
            "the requested range is outside the representation; see Content-Range",
        ),
        StatusCode::PAYLOAD_TOO_LARGE => (
            "payload_too_large",
            "the request body is larger than the server accepts",
        ),
        StatusCode::URI_TOO_LONG => ("uri_too_long", "the request URI is too long"),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => (
            "unsupported_media_type",
            "the request body has an unsupported content type",
        ),
        StatusCode::UNPROCESSABLE_ENTITY => ("invalid_body", "the request body is not valid"),
        StatusCode::TOO_MANY_REQUESTS => ("rate_limited", "too many requests; see Retry-After"),
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE => {
            ("headers_too_large", "the request headers are too large")
        }
        StatusCode::SERVICE_UNAVAILABLE => (
            "unavailable",
            "the service could not answer in time; retry shortly",
        ),
        s if s.is_client_error() => ("bad_request", "the request could not be handled"),
        _ => ("internal", "an internal error occurred"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    async fn body_json(response: Response<Body>) -> serde_json::Value {
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 16)
            .await
            .unwrap();
        serde_json::from_slice(&bytes).unwrap()
    }

    #[tokio::test]
    async fn a_plain_405_becomes_json_and_keeps_allow() {
        let mut response = Response::new(Body::from("Method Not Allowed"));
        *response.status_mut() = StatusCode::METHOD_NOT_ALLOWED;
        response
            .headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("POST"));
        let response = into_json_error(response);
        assert_eq!(response.headers()[header::ALLOW], "POST");
        assert_eq!(response.headers()[header::CONTENT_TYPE], "application/json");
        assert_eq!(
            body_json(response).await["error"]["code"],
            "method_not_allowed"
        );
    }

    #[tokio::test]
    async fn json_errors_and_successes_pass_through() {
        let ok = into_json_error(Response::new(Body::from("hello")));
        assert_eq!(ok.status(), StatusCode::OK);
        let json = into_json_error(error_response(StatusCode::CONFLICT, "taken", "email taken"));
        assert_eq!(body_json(json).await["error"]["code"], "taken");
    }
}
