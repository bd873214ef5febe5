//! The rehearsal drawn as SVG (`rehearsal.svg`), with no plotting dependency: a fixed 900×320
//! canvas, one point per second.

use super::{report::percentile, Report, Sample};

/// The rehearsal as an SVG document (900×320 px): p95 latency per second as a line, failed
/// requests per second as red bars, events as dashed verticals with their text as a tooltip.
/// `samples` are all the requests (in any order); the title figures come from `report`.
pub fn plot(samples: &[Sample], report: &Report) -> String {
    let seconds = samples.iter().map(|s| s.at_ms / 1000).max().unwrap_or(0) as usize + 1;
    let mut per_second: Vec<Vec<f64>> = vec![Vec::new(); seconds];
    let mut errors = vec![0usize; seconds];
    for s in samples {
        let i = (s.at_ms / 1000) as usize;
        per_second[i].push(s.latency_ms);
        if s.failed() {
            errors[i] += 1;
        }
    }
    let p95: Vec<f64> = per_second
        .iter_mut()
        .map(|v| {
            v.sort_by(f64::total_cmp);
            percentile(v, 95.0)
        })
        .collect();
    let (w, h, left, bottom, top) = (900.0, 320.0, 60.0, 40.0, 30.0);
    let max_y = p95.iter().copied().fold(1.0_f64, f64::max) * 1.2;
    let x = |sec: f64| left + sec / seconds.max(1) as f64 * (w - left - 20.0);
    let y = |ms: f64| h - bottom - ms / max_y * (h - bottom - top);
    let points: Vec<String> = p95
        .iter()
        .enumerate()
        .map(|(i, v)| format!("{:.1},{:.1}", x(i as f64 + 0.5), y(*v)))
        .collect();
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" font-family=\"sans-serif\" font-size=\"11\">\n\
         <rect width=\"100%\" height=\"100%\" fill=\"#fff\"/>\n\
         <text x=\"{left}\" y=\"18\" font-size=\"13\">Rolling deploy rehearsal, {}: {} requests, {} failed, {} retried, p50 {} ms, p95 {} ms, p99 {} ms</text>\n\
         <line x1=\"{left}\" y1=\"{b}\" x2=\"{r}\" y2=\"{b}\" stroke=\"#333\"/><line x1=\"{left}\" y1=\"{top}\" x2=\"{left}\" y2=\"{b}\" stroke=\"#333\"/>\n\
         <text x=\"{left}\" y=\"{tb}\">0 s</text><text x=\"{xr}\" y=\"{tb}\" text-anchor=\"end\">{seconds} s</text>\n\
         <text x=\"8\" y=\"{ytop}\">{max_y:.1} ms</text><text x=\"8\" y=\"{b}\">0 ms</text>\n",
        report.scenario,
        report.requests,
        report.failed,
        report.retries,
        report.p50_ms,
        report.p95_ms,
        report.p99_ms,
        b = h - bottom,
        r = w - 20.0,
        tb = h - bottom + 16.0,
        xr = w - 20.0,
        ytop = top + 4.0,
    );
    for e in &report.events {
        let ex = x(e.at_ms as f64 / 1000.0);
        svg.push_str(&format!(
            "<line x1=\"{ex:.1}\" y1=\"{top}\" x2=\"{ex:.1}\" y2=\"{:.1}\" stroke=\"#888\" stroke-dasharray=\"3,3\"><title>{}</title></line>\n",
            h - bottom,
            e.what
        ));
    }
    for (i, count) in errors.iter().enumerate().filter(|(_, c)| **c > 0) {
        svg.push_str(&format!(
            "<rect x=\"{:.1}\" y=\"{top}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"#d1242f\" opacity=\"0.5\"><title>{count} failed</title></rect>\n",
            x(i as f64),
            x(1.0) - x(0.0),
            h - bottom - top
        ));
    }
    svg.push_str(&format!(
        "<polyline fill=\"none\" stroke=\"#0969da\" stroke-width=\"2\" points=\"{}\"/>\n",
        points.join(" ")
    ));
    svg.push_str(
        "<text x=\"700\" y=\"18\" fill=\"#0969da\">p95 latency per second</text>\n</svg>\n",
    );
    svg
}
