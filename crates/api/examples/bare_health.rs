//! The benchmark's reference: the same `/health` answer from a bare axum route with no layers.
//! `bench/health.sh` measures the production stack against this in the same run.

use axum::{routing::get, Router};

#[tokio::main]
async fn main() {
    let port = std::env::var("PORT").unwrap_or_else(|_| "18081".into());
    let app = Router::new().route("/health", get(|| async { "ok\n" }));
    let listener = tokio::net::TcpListener::bind(format!("127.0.0.1:{port}"))
        .await
        .unwrap();
    axum::serve(listener, app).await.unwrap();
}
