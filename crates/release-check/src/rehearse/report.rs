//! What a rehearsal found: the samples summarised into counts, latency percentiles and drain
//! times (written as `rehearsal.json`), and the same report as a person reads it.

use std::path::Path;

use serde::Serialize;

use super::{Sample, Scenario};

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

/// The outcome of one scenario, one entry of `rehearsal.json`'s `scenarios` (camelCase keys:
/// `scenario`, `requests`, `failed`, `retries`, `targetRps`, `achievedRps`, `p50Ms`, …). Times
/// are rounded to 0.01.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    /// The scenario's name (`plain`, `keepalive`, `failing-migration`).
    pub scenario: &'static str,
    /// Requests sent.
    pub requests: usize,
    /// Requests that got no 2xx or 3xx (transport errors included); the rehearsal passes at 0.
    pub failed: usize,
    /// Requests nginx sent to more than one instance (its access log's `$upstream_addr` lists
    /// each instance tried): an error it hid from the client by retrying. Passes at 0.
    pub retries: usize,
    /// The failing-migration scenario: whether the new instance was kept from traffic
    /// (`/health` never 200, `503 migrations failed`). Passes when true; absent elsewhere.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub roll_refused: Option<bool>,
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
    /// Seconds from SIGTERM to exit, per instance stopped during the roll (the replaced ones, or
    /// the refused one).
    pub drain_secs: Vec<f64>,
    /// What the cross-instance session check saw (it must pass for the rehearsal to run).
    pub stateless: String,
    /// The roll's steps, in order.
    pub events: Vec<Event>,
    /// Up to 50 failed requests, in the order they completed.
    pub failures: Vec<Sample>,
}

impl Report {
    /// No failed request, no retry, and (failing-migration) the roll refused.
    pub fn passed(&self) -> bool {
        self.failed == 0 && self.retries == 0 && self.roll_refused != Some(false)
    }
}

/// What a scenario counted besides its samples.
pub(super) struct Counts {
    pub(super) rps: u32,
    /// Seconds the load ran.
    pub(super) elapsed: f64,
    pub(super) retries: usize,
}

pub(super) fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

pub(super) fn summarise(
    scenario: Scenario,
    samples: &[Sample],
    counts: Counts,
    drain_secs: Vec<f64>,
    roll_refused: Option<bool>,
    stateless: String,
    events: Vec<Event>,
) -> Report {
    let Counts {
        rps,
        elapsed,
        retries,
    } = counts;
    let mut latencies: Vec<f64> = samples.iter().map(|s| s.latency_ms).collect();
    latencies.sort_by(f64::total_cmp);
    let round = |v: f64| (v * 100.0).round() / 100.0;
    Report {
        scenario: scenario.name(),
        requests: samples.len(),
        failed: samples.iter().filter(|s| s.failed()).count(),
        retries,
        roll_refused,
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

/// The reports as a person reads them: a few aligned lines per scenario, then the paths of the
/// JSON and SVG files in `out`, newline-terminated.
pub fn render_human(reports: &[Report], out: &Path) -> String {
    let mut text = String::new();
    for report in reports {
        text.push_str(&format!(
            "Rolling deploy rehearsal: {}{}\n  requests   {} at {} req/s (target {})\n  failed     {}\n  retries    {} (requests nginx sent to a second instance)\n  latency    p50 {} ms, p95 {} ms, p99 {} ms, max {} ms\n  drains     {}\n",
            report.scenario,
            if report.passed() { "" } else { " — FAILED" },
            report.requests,
            report.achieved_rps,
            report.target_rps,
            report.failed,
            report.retries,
            report.p50_ms,
            report.p95_ms,
            report.p99_ms,
            report.max_ms,
            report.drain_secs.iter().map(|s| format!("{s:.2} s")).collect::<Vec<_>>().join(", "),
        ));
        if let Some(refused) = report.roll_refused {
            text.push_str(&format!(
                "  refused    {}\n",
                if refused {
                    "yes: the new instance never became healthy; the old ones served throughout"
                } else {
                    "NO: the instance whose migration the database refused was not kept out"
                }
            ));
        }
        text.push_str(&format!("  stateless  {}\n", report.stateless));
    }
    text.push_str(&format!(
        "  report     {}, {}\n",
        out.join("rehearsal.json").display(),
        out.join("rehearsal-SCENARIO.svg").display(),
    ));
    text
}
