//! The metrics registry (prometheus-client): request counts by matched route, method and status
//! class, latency histograms per route and method, the process uptime, the last readiness result
//! and the build, rendered in the Prometheus text format (0.0.4) for `GET /metrics`.
//!
//! - `release_flow_readiness{status="pass"|"warn"|"fail"}`: 1 for the status the last readiness
//!   probe (`/api/health`, or the periodic probe while `/metrics` is on) reported, 0 for the
//!   others; all three 0 before the first probe. The alerts in `ops/` page on `fail`.
//! - `release_flow_build_info{version, release_id}`: always 1; `release_id` is the commit
//!   (`RENDER_GIT_COMMIT`, or the one the binary was built from), `unknown` without one. A new
//!   pair of labels is a deploy: the dashboard in `ops/` draws it as an annotation.
//!
//! Recorded by the route layer (`http/trace.rs`), where axum has matched the route, so the label
//! is the route (`/api/health`), never the raw path: label cardinality stays bounded whatever
//! clients send. A series is created the first time it is seen and its handle kept in a fixed
//! slot, so recording is an index, one atomic load and an increment — no lock on the family map
//! and no hashing of labels per request.

use std::sync::{atomic::AtomicU64, OnceLock};

use axum::http::{Method, StatusCode};
use prometheus_client::{
    encoding::EncodeLabelSet,
    metrics::{counter::Counter, family::Family, gauge::Gauge, histogram::Histogram},
    registry::Registry,
};

/// Histogram bucket upper bounds, in seconds (the Prometheus clients' defaults).
pub const BUCKETS: [f64; 11] = [
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
const STATUS_CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];
/// The readiness statuses of `/api/health`, as its report spells them.
pub const READINESS: [&str; 3] = ["pass", "warn", "fail"];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    route: &'static str,
    method: &'static str,
    status: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    route: &'static str,
    method: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReadinessLabels {
    status: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BuildLabels {
    version: String,
    release_id: String,
}

/// The handles of one route and method, created on first use.
#[derive(Default)]
struct Slot {
    by_class: [OnceLock<Counter>; 5],
    latency: OnceLock<Histogram>,
}

/// Where [`Metrics::record`] writes: a route of the table and a method.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SlotId(usize);

/// See the module documentation.
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: Family<RouteLabels, Histogram, fn() -> Histogram>,
    uptime: Gauge<f64, AtomicU64>,
    readiness: Family<ReadinessLabels, Gauge>,
    build: Family<BuildLabels, Gauge>,
    routes: Box<[&'static str]>,
    /// `routes.len() × (METHODS.len() + 1)`: the last method slot collects any other method.
    slots: Box<[Slot]>,
}

impl Metrics {
    /// A registry for the router's `routes` (as `MatchedPath` names them).
    pub fn new(routes: &[&'static str]) -> Self {
        let mut registry = Registry::default();
        let requests = Family::<RequestLabels, Counter>::default();
        let latency: Family<RouteLabels, Histogram, fn() -> Histogram> =
            Family::new_with_constructor(|| Histogram::new(BUCKETS));
        let uptime = Gauge::<f64, AtomicU64>::default();
        let readiness = Family::<ReadinessLabels, Gauge>::default();
        let build = Family::<BuildLabels, Gauge>::default();
        registry.register(
            "http_requests",
            "Requests by matched route, method and status class",
            requests.clone(),
        );
        registry.register(
            "http_request_duration_seconds",
            "Time from the route's handler being called to its response",
            latency.clone(),
        );
        registry.register(
            "process_uptime_seconds",
            "Seconds since the process started",
            uptime.clone(),
        );
        registry.register(
            "release_flow_readiness",
            "1 for the status the last readiness probe reported (pass, warn or fail), 0 for the others",
            readiness.clone(),
        );
        registry.register(
            "release_flow_build_info",
            "Always 1: the version and release (commit) this process runs",
            build.clone(),
        );
        for status in READINESS {
            readiness.get_or_create(&ReadinessLabels { status }).set(0);
        }
        let slots = (0..routes.len() * (METHODS.len() + 1))
            .map(|_| Slot::default())
            .collect();
        Self {
            registry,
            requests,
            latency,
            uptime,
            readiness,
            build,
            routes: routes.into(),
            slots,
        }
    }

    /// The slot of `route` and `method`, if the route is one of the table's.
    pub fn slot(&self, route: &str, method: &Method) -> Option<SlotId> {
        let route = self.routes.iter().position(|r| *r == route)?;
        let method = METHODS
            .iter()
            .position(|m| m == method)
            .unwrap_or(METHODS.len());
        Some(SlotId(route * (METHODS.len() + 1) + method))
    }

    /// Counts one request answered with `status` after `seconds`.
    pub fn record(&self, slot: SlotId, status: StatusCode, seconds: f64) {
        let per_route = METHODS.len() + 1;
        let route = self.routes[slot.0 / per_route];
        let method = METHODS
            .get(slot.0 % per_route)
            .map_or("OTHER", Method::as_str);
        let class = (status.as_u16() / 100).clamp(1, 5) as usize - 1;
        let entry = &self.slots[slot.0];
        entry.by_class[class]
            .get_or_init(|| {
                self.requests.get_or_create_owned(&RequestLabels {
                    route,
                    method,
                    status: STATUS_CLASSES[class],
                })
            })
            .inc();
        entry
            .latency
            .get_or_init(|| {
                self.latency
                    .get_or_create_owned(&RouteLabels { route, method })
            })
            .observe(seconds);
    }

    /// Records the result of a readiness probe: `status` (one of [`READINESS`]) at 1, the others
    /// at 0. An unknown status sets all three to 0.
    pub fn set_readiness(&self, status: &str) {
        for s in READINESS {
            self.readiness
                .get_or_create(&ReadinessLabels { status: s })
                .set(i64::from(s == status));
        }
    }

    /// Sets `release_flow_build_info{version, release_id} 1` (`release_id` `unknown` when
    /// `None`), replacing any earlier pair.
    pub fn set_build_info(&self, version: &str, release_id: Option<&str>) {
        self.build.clear();
        self.build
            .get_or_create(&BuildLabels {
                version: version.to_owned(),
                release_id: release_id.unwrap_or("unknown").to_owned(),
            })
            .set(1);
    }

    /// The Prometheus text exposition (format 0.0.4) of everything recorded so far.
    pub fn render(&self, uptime_seconds: f64) -> String {
        self.uptime.set(uptime_seconds);
        let mut out = String::new();
        prometheus_client::encoding::prometheus_text::encode(&mut out, &self.registry)
            .expect("writing to a String cannot fail");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_recorded_request_appears_as_a_counter_and_a_cumulative_histogram() {
        let metrics = Metrics::new(&["/health", "/api/health"]);
        let slot = metrics.slot("/api/health", &Method::GET).unwrap();
        metrics.record(slot, StatusCode::OK, 0.003);
        metrics.record(slot, StatusCode::SERVICE_UNAVAILABLE, 0.2);
        assert_eq!(metrics.slot("/api/other", &Method::GET), None);
        let text = metrics.render(1.0);
        for line in [
            "http_requests_total{route=\"/api/health\",method=\"GET\",status=\"2xx\"} 1\n",
            "http_requests_total{route=\"/api/health\",method=\"GET\",status=\"5xx\"} 1\n",
            "http_request_duration_seconds_bucket{route=\"/api/health\",method=\"GET\",le=\"0.005\"} 1\n",
            "http_request_duration_seconds_bucket{route=\"/api/health\",method=\"GET\",le=\"0.25\"} 2\n",
            "http_request_duration_seconds_count{route=\"/api/health\",method=\"GET\"} 2\n",
            "process_uptime_seconds 1.0\n",
        ] {
            assert!(text.contains(line), "missing {line:?} in\n{text}");
        }
        assert!(
            !text.contains("route=\"/health\""),
            "an unseen route has no series:\n{text}"
        );
    }

    #[test]
    fn readiness_is_one_status_at_a_time_and_build_info_one_pair() {
        let metrics = Metrics::new(&[]);
        let text = metrics.render(0.0);
        for status in READINESS {
            assert!(
                text.contains(&format!(
                    "release_flow_readiness{{status=\"{status}\"}} 0\n"
                )),
                "before any probe every status is 0:\n{text}"
            );
        }
        assert!(!text.contains("release_flow_build_info{"), "{text}");

        metrics.set_readiness("fail");
        metrics.set_readiness("warn");
        metrics.set_build_info("1.2.3", None);
        metrics.set_build_info("1.2.3", Some("0123abc"));
        let text = metrics.render(0.0);
        for line in [
            "# TYPE release_flow_readiness gauge\n",
            "release_flow_readiness{status=\"pass\"} 0\n",
            "release_flow_readiness{status=\"warn\"} 1\n",
            "release_flow_readiness{status=\"fail\"} 0\n",
            "# TYPE release_flow_build_info gauge\n",
            "release_flow_build_info{version=\"1.2.3\",release_id=\"0123abc\"} 1\n",
        ] {
            assert!(text.contains(line), "missing {line:?} in\n{text}");
        }
        assert!(!text.contains("release_id=\"unknown\""), "{text}");
    }

    #[test]
    fn an_unlisted_method_is_counted_as_other() {
        let metrics = Metrics::new(&["/api/health"]);
        let slot = metrics.slot("/api/health", &Method::TRACE).unwrap();
        metrics.record(slot, StatusCode::METHOD_NOT_ALLOWED, 0.001);
        assert!(metrics.render(0.0).contains(
            "http_requests_total{route=\"/api/health\",method=\"OTHER\",status=\"4xx\"} 1\n"
        ));
    }
}
