//! Request metrics per route, in the Prometheus text format at `GET /metrics`: request counts by
//! method and status class, and latency histograms (for autoscaling on P95 latency). Not public:
//! the endpoint answers only with `Authorization: Bearer $METRICS_TOKEN`, and is off without it.
//!
//! Recorded by the route layer in `trace.rs`, where axum has matched the route, so the label is
//! the route (`/api/health`), never the raw path: label cardinality stays bounded whatever
//! clients send.

use std::{
    fmt::Write,
    sync::atomic::{AtomicU64, Ordering},
};

use axum::{
    extract::State,
    http::{header, HeaderMap, HeaderValue, Method, StatusCode},
    response::IntoResponse,
};

use crate::{error::ApiError, state::AppState};

/// Histogram bucket upper bounds, in seconds (Prometheus client defaults).
const BUCKETS: [f64; 11] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];
const METHODS: [Method; 7] = [
    Method::GET,
    Method::HEAD,
    Method::POST,
    Method::PUT,
    Method::PATCH,
    Method::DELETE,
    Method::OPTIONS,
];

#[derive(Default)]
struct Stats {
    /// Requests by status class: 1xx … 5xx.
    by_class: [AtomicU64; 5],
    buckets: [AtomicU64; BUCKETS.len()],
    sum_micros: AtomicU64,
    count: AtomicU64,
}

/// One route's stats, per method (the last slot collects any other method).
#[derive(Default)]
struct RouteStats([Stats; METHODS.len() + 1]);

/// One entry per route of the router, fixed when it is built: recording is a short scan of a
/// few static strings and some relaxed atomics — no lock, no hashing, no allocation.
pub struct Metrics {
    routes: Box<[(&'static str, RouteStats)]>,
}

impl Metrics {
    pub fn new(routes: &[&'static str]) -> Self {
        Self {
            routes: routes.iter().map(|r| (*r, RouteStats::default())).collect(),
        }
    }

    /// The slot of `route` and `method`, if the route is one of the table's.
    pub fn slot(&self, route: &str, method: &Method) -> Option<(usize, usize)> {
        let index = self.routes.iter().position(|(r, _)| *r == route)?;
        let method = METHODS
            .iter()
            .position(|m| m == method)
            .unwrap_or(METHODS.len());
        Some((index, method))
    }

    pub fn record_at(&self, (route, method): (usize, usize), status: StatusCode, seconds: f64) {
        Self::record(&self.routes[route].1 .0[method], status, seconds);
    }

    fn record(stats: &Stats, status: StatusCode, seconds: f64) {
        let class = (status.as_u16() / 100).clamp(1, 5) as usize - 1;
        stats.by_class[class].fetch_add(1, Ordering::Relaxed);
        if let Some(i) = BUCKETS.iter().position(|b| seconds <= *b) {
            stats.buckets[i].fetch_add(1, Ordering::Relaxed);
        }
        stats
            .sum_micros
            .fetch_add((seconds * 1e6) as u64, Ordering::Relaxed);
        stats.count.fetch_add(1, Ordering::Relaxed);
    }

    /// The Prometheus text exposition of everything recorded so far.
    pub fn render(&self, uptime_seconds: f64) -> String {
        let mut out = String::new();
        out.push_str(
            "# HELP http_requests_total Requests by matched route, method and status class.\n",
        );
        out.push_str("# TYPE http_requests_total counter\n");
        let each = |f: &mut dyn FnMut(&str, &str, &Stats)| {
            for (name, route) in self.routes.iter() {
                for (i, stats) in route.0.iter().enumerate() {
                    if stats.count.load(Ordering::Relaxed) > 0 {
                        f(name, METHODS.get(i).map_or("OTHER", Method::as_str), stats);
                    }
                }
            }
        };
        each(&mut |route, method, stats| {
            for (class, n) in stats.by_class.iter().enumerate() {
                let n = n.load(Ordering::Relaxed);
                if n > 0 {
                    let _ = writeln!(out, "http_requests_total{{route=\"{route}\",method=\"{method}\",status=\"{}xx\"}} {n}", class + 1);
                }
            }
        });
        out.push_str("# HELP http_request_duration_seconds Time from the route's handler being called to its response.\n");
        out.push_str("# TYPE http_request_duration_seconds histogram\n");
        each(&mut |route, method, stats| {
            let mut cumulative = 0;
            for (bound, n) in BUCKETS.iter().zip(&stats.buckets) {
                cumulative += n.load(Ordering::Relaxed);
                let _ = writeln!(out, "http_request_duration_seconds_bucket{{route=\"{route}\",method=\"{method}\",le=\"{bound}\"}} {cumulative}");
            }
            let count = stats.count.load(Ordering::Relaxed);
            let sum = stats.sum_micros.load(Ordering::Relaxed) as f64 / 1e6;
            let _ = writeln!(out, "http_request_duration_seconds_bucket{{route=\"{route}\",method=\"{method}\",le=\"+Inf\"}} {count}");
            let _ = writeln!(
                out,
                "http_request_duration_seconds_sum{{route=\"{route}\",method=\"{method}\"}} {sum}"
            );
            let _ = writeln!(out, "http_request_duration_seconds_count{{route=\"{route}\",method=\"{method}\"}} {count}");
        });
        out.push_str("# HELP process_uptime_seconds Seconds since the process started.\n# TYPE process_uptime_seconds gauge\n");
        let _ = writeln!(out, "process_uptime_seconds {uptime_seconds:.3}");
        out
    }
}

/// `GET /metrics`: 404 unless `METRICS_TOKEN` is set; 401 without the right bearer token.
pub async fn endpoint(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> axum::response::Response {
    let Some(token) = state.settings.metrics_token.as_ref() else {
        return ApiError::NotFound.into_response();
    };
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    if !presented.is_some_and(|p| {
        constant_time_eq(
            p.as_bytes(),
            secrecy::ExposeSecret::expose_secret(token).as_bytes(),
        )
    }) {
        let mut response = ApiError::Unauthorized.into_response();
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        return response;
    }
    let body = state
        .metrics
        .render(state.lifecycle.started_at.elapsed().as_secs_f64());
    (
        [
            (
                header::CONTENT_TYPE,
                "text/plain; version=0.0.4; charset=utf-8",
            ),
            (header::CACHE_CONTROL, "no-store"),
        ],
        body,
    )
        .into_response()
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_recorded_request_appears_as_a_counter_and_a_cumulative_histogram() {
        let metrics = Metrics::new(&["/health", "/api/health"]);
        let slot = metrics.slot("/api/health", &Method::GET).unwrap();
        metrics.record_at(slot, StatusCode::OK, 0.003);
        metrics.record_at(slot, StatusCode::SERVICE_UNAVAILABLE, 0.2);
        assert_eq!(metrics.slot("/api/other", &Method::GET), None);
        let text = metrics.render(1.0);
        assert!(
            text.contains(
                "http_requests_total{route=\"/api/health\",method=\"GET\",status=\"2xx\"} 1\n"
            ),
            "{text}"
        );
        assert!(text.contains(
            "http_requests_total{route=\"/api/health\",method=\"GET\",status=\"5xx\"} 1\n"
        ));
        assert!(text.contains("http_request_duration_seconds_bucket{route=\"/api/health\",method=\"GET\",le=\"0.005\"} 1\n"));
        assert!(text.contains("http_request_duration_seconds_bucket{route=\"/api/health\",method=\"GET\",le=\"0.25\"} 2\n"));
        assert!(text.contains(
            "http_request_duration_seconds_count{route=\"/api/health\",method=\"GET\"} 2\n"
        ));
    }
}
