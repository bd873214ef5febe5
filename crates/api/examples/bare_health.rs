//! The benchmark's reference: the same `/health` answer from a bare axum route with no layers.
//! `bench/health.sh` measures the production stack against this in the same run.
//!
//! With `BARE_HEADERS=production`, the route also sends the production policy's API headers
//! (the same bytes on the wire as the full stack), as plain static headers: the difference
//! between the two references is what the header bytes themselves cost.

use axum::{
    http::{HeaderName, HeaderValue},
    response::IntoResponse,
    routing::get,
    Router,
};

#[tokio::main]
async fn main() {
    let port = std::env::var("PORT").unwrap_or_else(|_| "18081".into());
    let app = match std::env::var("BARE_HEADERS").ok() {
        None => Router::new().route("/health", get(|| async { "ok\n" })),
        Some(env) => {
            let policy = edge_policy::Policy::from_toml(edge_policy::EMBEDDED_POLICY).unwrap();
            let mut headers: Vec<(HeaderName, HeaderValue)> = policy
                .headers_for(&env, edge_policy::ResponseClass::Api, &[])
                .unwrap()
                .iter()
                .map(|h| h.http())
                .collect();
            headers.push(policy.hsts().http());
            headers.push((
                HeaderName::from_static("x-request-id"),
                HeaderValue::from_static("0123abcd-000000000001"),
            ));
            let headers: &'static [(HeaderName, HeaderValue)] = headers.leak();
            Router::new().route(
                "/health",
                get(move || async move {
                    let mut response = "ok\n".into_response();
                    for (name, value) in headers {
                        response.headers_mut().insert(name.clone(), value.clone());
                    }
                    response
                }),
            )
        }
    };
    let listener = tokio::net::TcpListener::bind(format!("127.0.0.1:{port}"))
        .await
        .unwrap();
    axum::serve(listener, app).await.unwrap();
}
