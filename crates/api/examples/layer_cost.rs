//! What one layer costs per request, in-process: the same trivial route called through `oneshot`
//! bare and with each candidate layer, interleaved in rounds so that drift hits all alike.
//! Prints nanoseconds per request and the cost above the bare route, the median over rounds.
//! docs/PERFORMANCE.md records the figures.
//!
//! `cargo run --release -p api --example layer_cost -- [ROUNDS] [REQUESTS_PER_ROUND]`

use std::{hint::black_box, time::Instant};

use api::http::catch_panic::CatchPanicLayer;
use axum::{body::Body, http::Request, routing::get, Router};
use tower::{Layer, Service, ServiceExt};

async fn per_request<S>(service: &S, requests: u32) -> f64
where
    S: Service<Request<Body>> + Clone,
{
    let started = Instant::now();
    for _ in 0..requests {
        let request = Request::get("/health").body(Body::empty()).unwrap();
        let response = service.clone().oneshot(request).await;
        black_box(response.is_ok());
    }
    started.elapsed().as_nanos() as f64 / f64::from(requests)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let mut args = std::env::args().skip(1);
    let rounds: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(7);
    let requests: u32 = args.next().and_then(|a| a.parse().ok()).unwrap_or(200_000);

    let route = Router::new().route("/health", get(|| async { "ok\n" }));
    let ours = CatchPanicLayer.layer(route.clone());
    let tower_http = tower_http::catch_panic::CatchPanicLayer::new().layer(route.clone());
    let csrf = tower_http::csrf::CsrfLayer::new()
        .add_trusted_origin("https://release-flow-web.onrender.com")
        .unwrap()
        .layer(route.clone());

    let mut times: [Vec<f64>; 4] = Default::default();
    // Warm up each once, then rotate the order every round.
    per_request(&route, requests / 10).await;
    per_request(&ours, requests / 10).await;
    per_request(&tower_http, requests / 10).await;
    per_request(&csrf, requests / 10).await;
    for round in 0..rounds {
        for k in 0..4 {
            let which = (round + k) % 4;
            let t = match which {
                0 => per_request(&route, requests).await,
                1 => per_request(&ours, requests).await,
                2 => per_request(&tower_http, requests).await,
                _ => per_request(&csrf, requests).await,
            };
            times[which].push(t);
        }
    }
    let [bare, own, crate_, csrf] = times.map(median);
    println!("requests per round: {requests}, rounds: {rounds} (medians)");
    println!("bare route                     {bare:8.1} ns/request");
    println!(
        "+ api CatchPanicLayer           {own:8.1} ns/request  (+{:.1} ns)",
        own - bare
    );
    println!(
        "+ tower-http CatchPanicLayer    {crate_:8.1} ns/request  (+{:.1} ns)",
        crate_ - bare
    );
    println!(
        "+ tower-http CsrfLayer (GET)    {csrf:8.1} ns/request  (+{:.1} ns)",
        csrf - bare
    );
}
