//! What a rehearsal found: the samples summarised into counts, latency percentiles and drain
//! times (written as `rehearsal.json`), and the same report as a person reads it.

use std::path::Path;

use serde::Serialize;

use super::Sample;

/// A step of the roll (`new instance :18403 healthy`, `SIGTERM to :18401`, …), as printed and
/// drawn. Serialised as `{"atMs": u64, "what": string}`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Event {
    /// When it happened: milliseconds since the load started.
    pub at_ms: u64,
    /// What happened, for a person.
    pub what: String,
}

/// The outcome of a rehearsal, written as `rehearsal.json` (camelCase keys: `requests`, `failed`,
/// `targetRps`, `achievedRps`, `p50Ms`, …). Times are rounded to 0.01.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    /// Requests sent.
    pub requests: usize,
    /// Requests that got no 2xx or 3xx (transport errors included); the rehearsal passes at 0.
    pub failed: usize,
    /// The requests per second asked for.
    pub target_rps: u32,
    /// Requests sent per second of load, over the whole run.
    pub achieved_rps: f64,
    /// Median latency, milliseconds.
    pub p50_ms: f64,
    /// 95th percentile latency, milliseconds.
    pub p95_ms: f64,
    /// 99th percentile latency, milliseconds.
    pub p99_ms: f64,
    /// Slowest request, milliseconds.
    pub max_ms: f64,
    /// Seconds from SIGTERM to exit, per replaced instance.
    pub drain_secs: Vec<f64>,
    /// What the cross-instance session check saw (it must pass for the rehearsal to run).
    pub stateless: String,
    /// The roll's steps, in order.
    pub events: Vec<Event>,
    /// Up to 50 failed requests, in the order they completed.
    pub failures: Vec<Sample>,
}

pub(super) fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

pub(super) fn summarise(
    samples: &[Sample],
    rps: u32,
    elapsed: f64,
    drain_secs: Vec<f64>,
    stateless: String,
    events: Vec<Event>,
) -> Report {
    let mut latencies: Vec<f64> = samples.iter().map(|s| s.latency_ms).collect();
    latencies.sort_by(f64::total_cmp);
    let round = |v: f64| (v * 100.0).round() / 100.0;
    Report {
        requests: samples.len(),
        failed: samples.iter().filter(|s| s.failed()).count(),
        target_rps: rps,
        achieved_rps: round(samples.len() as f64 / elapsed),
        p50_ms: round(percentile(&latencies, 50.0)),
        p95_ms: round(percentile(&latencies, 95.0)),
        p99_ms: round(percentile(&latencies, 99.0)),
        max_ms: round(latencies.last().copied().unwrap_or(0.0)),
        drain_secs: drain_secs.into_iter().map(round).collect(),
        stateless,
        events,
        failures: samples
            .iter()
            .filter(|s| s.failed())
            .take(50)
            .cloned()
            .collect(),
    }
}

/// The report as a person reads it: a few aligned lines ending with the paths of the JSON and SVG
/// files in `out`, newline-terminated.
pub fn render_human(report: &Report, out: &Path) -> String {
    format!(
        "Rolling deploy rehearsal\n  requests   {} at {} req/s (target {})\n  failed     {}\n  latency    p50 {} ms, p95 {} ms, p99 {} ms, max {} ms\n  drains     {}\n  stateless  {}\n  report     {}, {}\n",
        report.requests,
        report.achieved_rps,
        report.target_rps,
        report.failed,
        report.p50_ms,
        report.p95_ms,
        report.p99_ms,
        report.max_ms,
        report.drain_secs.iter().map(|s| format!("{s:.2} s")).collect::<Vec<_>>().join(", "),
        report.stateless,
        out.join("rehearsal.json").display(),
        out.join("rehearsal.svg").display(),
    )
}
