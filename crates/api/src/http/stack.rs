//! The layer stack every request passes through, outermost first. It wraps the router once, from
//! outside, instead of with `Router::layer`, which would clone it into every route's call.
//!
//! | layer | why there |
//! |---|---|
//! | sensitive headers | `Authorization` and `Cookie` never print, whatever logs a request later |
//! | request id | every later layer and the handler see the id; the response echoes it |
//! | trace | the access-log line carries the final status and the request id; the quiet paths go around it |
//! | JSON errors | outside everything that can answer an error, so every error is JSON |
//! | security headers | on every answer: the handler's, a redirect, a timeout, a panic, a 413 |
//! | CORS (`/api` only) | likewise: a cross-origin page reads every error the API gives |
//! | HTTPS redirect | before any work is done for a plain-HTTP request |
//! | timeout | bounds the handler; a JSON 503 after `REQUEST_TIMEOUT_SECS` |
//! | catch panic | a panic becomes a JSON 500 and the connection lives on |
//! | body limit | a JSON 413 above `BODY_LIMIT_BYTES`; its body is boxed into axum's `Body` here, |
//! | | once: every layer above answers in the body type it is given (`From<Body>`) |
//! | CSRF | an unsafe cross-site browser request never reaches a handler |

use std::{convert::Infallible, sync::Arc};

use axum::{
    body::{Body, Bytes, HttpBody},
    http::{header, Request, Response, StatusCode},
    BoxError,
};
use tower::{Service, ServiceBuilder};
use tower_http::{
    csrf::{CsrfLayer, ProtectionError},
    limit::{RequestBodyLimitLayer, ResponseBody},
    sensitive_headers::SetSensitiveRequestHeadersLayer,
    trace::TraceLayer,
};

use super::{
    catch_panic::CatchPanicLayer,
    cors::ApiCorsLayer,
    https_redirect::HttpsRedirectLayer,
    json_errors::JsonErrorLayer,
    request_id::RequestIdLayer,
    security_headers::SecurityHeadersLayer,
    timeout::RequestTimeoutLayer,
    trace::{LogResponse, QuietPathsLayer, RequestSpan},
};
use crate::{config::ServerSettings, edge::Edge, error::error_response};

/// Wraps `service` (the router) in the stack; see the module documentation for the order. The
/// answer's body is the access log's wrapper around axum's `Body`; hyper takes it as it is.
pub fn with_layers<S>(
    service: S,
    server: &ServerSettings,
    edge: &Arc<Edge>,
) -> impl Service<
    Request<Body>,
    Response = Response<impl HttpBody<Data = Bytes, Error: Into<BoxError>> + Send + 'static>,
    Error = Infallible,
    Future: Send + 'static,
> + Clone
       + Send
       + Sync
       + 'static
where
    S: Service<
            Request<tower_http::body::Limited<Body>>,
            Response = Response<Body>,
            Error = Infallible,
        > + Clone
        + Send
        + Sync
        + 'static,
    S::Future: Send + 'static,
{
    ServiceBuilder::new()
        .layer(SetSensitiveRequestHeadersLayer::new([
            header::AUTHORIZATION,
            header::COOKIE,
        ]))
        .layer(RequestIdLayer)
        .layer(QuietPathsLayer::new(
            TraceLayer::new_for_http()
                .make_span_with(RequestSpan::new(edge.clone()))
                .on_request(())
                .on_response(LogResponse)
                .on_failure(()),
            edge.clone(),
        ))
        .layer(JsonErrorLayer)
        .layer(SecurityHeadersLayer::new(edge.clone()))
        .layer(ApiCorsLayer::new(edge))
        .layer(HttpsRedirectLayer::new(edge.clone()))
        .layer(RequestTimeoutLayer::new(server.request_timeout))
        .layer(CatchPanicLayer)
        .map_response(into_axum_body as fn(_) -> _)
        // axum's extractors also stop at 2 MiB, the ceiling of BODY_LIMIT_BYTES.
        .layer(RequestBodyLimitLayer::new(server.body_limit))
        .layer(csrf(edge))
        .service(service)
}

/// The body limit's answer in axum's `Body`: the one allocation the stack makes for a response.
fn into_axum_body(response: Response<ResponseBody<Body>>) -> Response<Body> {
    response.map(Body::new)
}

/// tower-http's CSRF protection (the Fetch-metadata scheme of Go 1.25's `CrossOriginProtection`):
/// an unsafe method from a browser must be same-origin, or come from one of the policy's origins.
/// Non-browser clients, which send neither `Sec-Fetch-Site` nor `Origin`, pass.
fn csrf(
    edge: &Edge,
) -> CsrfLayer<impl FnMut(ProtectionError) -> Response<Body> + Clone + Send + Sync + 'static> {
    edge.trusted_origins
        .iter()
        .try_fold(CsrfLayer::new(), |layer, origin| {
            layer.add_trusted_origin(origin)
        })
        .expect("the policy validated every origin")
        .with_rejection_response(|error: ProtectionError| {
            tracing::warn!(%error, "cross-site request refused");
            error_response(
                StatusCode::FORBIDDEN,
                "cross_site_request",
                "this request must come from the application's own pages",
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Settings;
    use axum::{routing::get, Router};
    use std::time::Duration;
    use tower::ServiceExt;

    fn settings() -> Settings {
        Settings::from_vars([("", ""); 0]).unwrap()
    }

    async fn call(
        router: Router,
        server: &ServerSettings,
        path: &str,
    ) -> (StatusCode, serde_json::Value) {
        let settings = settings();
        let edge = Arc::new(Edge::resolve(&settings.policy, settings.env, &[]).unwrap());
        let response = with_layers(router, server, &edge)
            .oneshot(Request::get(path).body(Body::empty()).unwrap())
            .await
            .unwrap();
        let status = response.status();
        let bytes = axum::body::to_bytes(Body::new(response.into_body()), 1 << 16)
            .await
            .unwrap();
        (status, serde_json::from_slice(&bytes).unwrap())
    }

    #[tokio::test]
    async fn a_panicking_handler_becomes_a_json_500() {
        async fn boom() -> &'static str {
            panic!("the detail stays in the log")
        }
        let routes = Router::new().route("/boom", get(boom));
        let (status, body) = call(routes, &settings().server, "/boom").await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(body["error"]["code"], "internal");
        assert!(!body.to_string().contains("detail"));
    }

    #[tokio::test(start_paused = true)]
    async fn a_handler_slower_than_the_request_timeout_becomes_a_json_503() {
        let mut server = settings().server;
        server.request_timeout = Duration::from_secs(1);
        let routes =
            Router::new().route("/slow", get(|| tokio::time::sleep(Duration::from_secs(5))));
        let (status, body) = call(routes, &server, "/slow").await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(body["error"]["code"], "timeout");
    }
}
