//! Time as the JSON bodies write it: RFC 3339 timestamps and milliseconds with two decimals.

use std::time::Duration;

use time::{format_description::well_known::Rfc3339, OffsetDateTime};

/// Now, in UTC, as RFC 3339 (`2026-12-06T03:15:00.123456789Z`).
pub fn now_rfc3339() -> String {
    OffsetDateTime::now_utc()
        .format(&Rfc3339)
        .expect("a UTC timestamp formats as RFC 3339")
}

/// `d` in milliseconds, rounded to two decimals.
pub fn millis(d: Duration) -> f64 {
    round2(d.as_secs_f64() * 1000.0)
}

/// `v` rounded to two decimals.
pub fn round2(v: f64) -> f64 {
    (v * 100.0).round() / 100.0
}
