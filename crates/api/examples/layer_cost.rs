//! What one layer costs per request, in-process: the same trivial route called through `oneshot`
//! bare and with each candidate layer.
//!
//! - `layer_cost [ROUNDS] [REQUESTS]`: timed, the variants interleaved in rounds so that drift
//!   hits all alike; prints nanoseconds per request, the median over rounds.
//! - `layer_cost --allocs VARIANT REQUESTS`: allocations per request.
//! - `layer_cost --only VARIANT REQUESTS`: runs one variant, for an instruction count under
//!   `valgrind --tool=callgrind` (repeatable on a busy machine); `bench/layers.sh` does that for
//!   every variant and prints instructions per request.
//!
//! Variants: bare, api-catch-panic, tower-http-catch-panic, tower-http-csrf, and stack: the
//! production stack (`APP_ENV=production`, every layer, the real router and state) around
//! `GET /health` with the headers Render's edge adds; hdrs: the bare route sending the same
//! header bytes as the stack's answer (the reference `bench/health.sh` sets its target against).
//! docs/PERFORMANCE.md records the figures.

use std::{
    alloc::{GlobalAlloc, Layout, System},
    hint::black_box,
    sync::atomic::{AtomicU64, Ordering},
    time::Instant,
};

/// Counts allocations, so `--allocs VARIANT REQUESTS` can print allocations per request.
struct Counting;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

use api::http::catch_panic::CatchPanicLayer;
use axum::{
    body::Body,
    http::{HeaderName, HeaderValue, Request},
    response::IntoResponse,
    routing::get,
    Router,
};
use tower::{Layer, Service, ServiceExt};

async fn per_request<S>(service: &S, requests: u32) -> f64
where
    S: Service<Request<Body>> + Clone,
{
    let started = Instant::now();
    for _ in 0..requests {
        let request = Request::get("/health")
            .header("x-forwarded-proto", "https")
            .header("x-forwarded-for", "203.0.113.7, 104.16.0.1")
            .body(Body::empty())
            .unwrap();
        let response = service.clone().oneshot(request).await;
        black_box(response.is_ok());
    }
    started.elapsed().as_nanos() as f64 / f64::from(requests)
}

/// Builds variant `which` and times `requests` calls through it.
async fn run(which: usize, requests: u32) -> f64 {
    let route = Router::new().route("/health", get(|| async { "ok\n" }));
    match which {
        0 => per_request(&route, requests).await,
        1 => per_request(&CatchPanicLayer.layer(route), requests).await,
        2 => {
            let layer = tower_http::catch_panic::CatchPanicLayer::new();
            per_request(&layer.layer(route), requests).await
        }
        3 => {
            let layer = tower_http::csrf::CsrfLayer::new()
                .add_trusted_origin("https://release-flow-web.onrender.com")
                .expect("a valid origin");
            per_request(&layer.layer(route), requests).await
        }
        5 => {
            let policy = edge_policy::Policy::from_toml(edge_policy::EMBEDDED_POLICY).unwrap();
            let mut headers: Vec<(HeaderName, HeaderValue)> = policy
                .headers_for("production", edge_policy::ResponseClass::Api, &[])
                .unwrap()
                .iter()
                .map(|h| h.http())
                .collect();
            headers.push(policy.hsts().http());
            headers.push((
                HeaderName::from_static("x-request-id"),
                HeaderValue::from_static("0123abcd-000000000001"),
            ));
            headers.push((
                HeaderName::from_static("content-type"),
                HeaderValue::from_static("text/plain; charset=utf-8"),
            ));
            let headers: &'static [(HeaderName, HeaderValue)] = headers.leak();
            let route = Router::new().route(
                "/health",
                get(move || async move {
                    let mut response = "ok\n".into_response();
                    for (name, value) in headers {
                        response.headers_mut().insert(name.clone(), value.clone());
                    }
                    response
                }),
            );
            per_request(&route, requests).await
        }
        _ => {
            let dir = std::env::temp_dir().join(format!("layer-cost-{}", std::process::id()));
            let settings = api::Settings::from_vars([
                ("APP_ENV", "production"),
                ("PORT", "0"),
                (
                    "SESSION_SECRET",
                    "0123456789abcdefghijklmnopqrstuvwxyzABCDEF",
                ),
                (
                    "DATABASE_URL",
                    &format!("sqlite://{}/app.db", dir.display()),
                ),
                ("FRONTEND_DIR", "/nonexistent"),
                ("RUST_LOG", "off"),
            ])
            .expect("valid settings");
            let server = settings.server.clone();
            let app = api::Application::build(settings)
                .await
                .expect("the application");
            let state = app.state().clone();
            let stack = api::http::stack::with_layers(
                api::router::router(state.clone()),
                &server,
                &state.edge,
            );
            let t = per_request(&stack, requests).await;
            let _ = std::fs::remove_dir_all(dir);
            t
        }
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

const VARIANTS: [&str; 6] = [
    "bare",
    "api-catch-panic",
    "tower-http-catch-panic",
    "tower-http-csrf",
    "stack",
    "hdrs",
];

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--allocs") {
        let variant = args.get(1).expect("--allocs VARIANT REQUESTS");
        let requests: u32 = args.get(2).and_then(|a| a.parse().ok()).expect("REQUESTS");
        let index = VARIANTS
            .iter()
            .position(|v| v == variant)
            .expect("a known variant");
        // The difference between two runs leaves the per-request count without the set-up.
        let count = |n| async move {
            let before = ALLOCATIONS.load(Ordering::Relaxed);
            run(index, n).await;
            ALLOCATIONS.load(Ordering::Relaxed) - before
        };
        let (full, half) = (count(requests).await, count(requests / 2).await);
        let per = (full - half) as f64 / f64::from(requests - requests / 2);
        println!("{variant}: {per:.2} allocations per request");
        return;
    }
    if args.first().map(String::as_str) == Some("--only") {
        let variant = args.get(1).expect("--only VARIANT REQUESTS");
        let requests: u32 = args.get(2).and_then(|a| a.parse().ok()).expect("REQUESTS");
        let index = VARIANTS
            .iter()
            .position(|v| v == variant)
            .expect("a known variant");
        run(index, requests).await;
        return;
    }
    let rounds: usize = args.first().and_then(|a| a.parse().ok()).unwrap_or(7);
    let requests: u32 = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(200_000);

    let mut times: [Vec<f64>; 4] = Default::default();
    // Warm up each once, then rotate the order every round (the stack is for callgrind only).
    for which in 0..4 {
        run(which, requests / 10).await;
    }
    for round in 0..rounds {
        for k in 0..4 {
            let which = (round + k) % 4;
            times[which].push(run(which, requests).await);
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
