//! The compliance checklist (docs/RELEASE_FLOW.md), run against a deployment: each item is an
//! HTTP conversation with the API or the frontend, and reports what it saw.
//!
//! This file runs the items in order and renders the result (for a person, and as Markdown for a
//! GitHub Actions job summary); each item is a method on the shared
//! `Checker` (`checker.rs`, with the HTTP helpers), in a file per checklist concern: `health.rs`,
//! `https.rs`, `headers.rs`, `session.rs` (login, warmup, stateless), `frontend.rs` (login through
//! the frontend's origin, the missing-asset 404) and `changelog.rs`.

mod changelog;
mod checker;
mod frontend;
mod headers;
mod health;
mod https;
mod session;

use std::{
    path::PathBuf,
    time::{Duration, Instant},
};

use reqwest::{redirect, Client};
use serde::Serialize;

use checker::{Checker, Outcome};

/// What to check and how (the `release-check verify` flags).
#[derive(Debug, Clone)]
pub struct Options {
    /// The API's base URL, e.g. `https://release-flow-api.onrender.com` (a trailing `/` is fine).
    pub api: String,
    /// The frontend's base URL: the static site, or the API itself when it serves the frontend.
    pub frontend: String,
    /// Other instance URLs of the same service, for the cross-instance session check.
    pub instances: Vec<String>,
    /// The account to log in with; without it (or `password`) the login item fails.
    pub email: Option<String>,
    /// That account's password (from `RELEASE_CHECK_PASSWORD`, never a flag).
    pub password: Option<String>,
    /// Poll `/health` this long before giving up (right after a deploy); zero tries once.
    pub wait: Duration,
    /// The target has no TLS in front (a local run): send the `X-Forwarded-Proto` a TLS proxy would.
    pub forwarded_proto: bool,
    /// The host (`host` or `host:port`) HTTP must redirect to; defaults to the API URL's host.
    pub expect_host: Option<String>,
    /// The CHANGELOG.md that must have a dated section for the deployed version.
    pub changelog: PathBuf,
    /// The version `/api/health` must report (the tag being released): an older instance still
    /// answering, or another build, fails the readiness item.
    pub expect_version: Option<semver::Version>,
    /// The release id (commit) `/api/health` must report.
    pub expect_release: Option<String>,
}

/// One checklist item's result. Serialised (in `--json` output) with camelCase keys:
/// `{"id", "title", "passed", "detail", "durationMs"}`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Item {
    /// Stable identifier for machines: `health`, `readiness`, `https`, `security-headers`,
    /// `login-warmup`, `stateless`, `frontend-login`, `missing-asset` or `changelog`.
    pub id: &'static str,
    /// The checklist line, for a person.
    pub title: &'static str,
    /// Whether the item passed.
    pub passed: bool,
    /// What was seen: the evidence when it passed, the reason when it failed.
    pub detail: String,
    /// How long the item took, milliseconds.
    pub duration_ms: u64,
}

/// Runs every checklist item in order against the deployment and returns one [`Item`] each (nine
/// in all, health first): the compliance checklist of the release process, as docs/RELEASE_FLOW.md
/// maps each of its lines to items. Never fails as a whole: a network error, a timeout (15 s per request)
/// or a wrong answer fails that item, with the reason in its `detail`; later items still run.
///
/// # Panics
///
/// If the HTTP client cannot be built (no TLS backend), which does not happen in practice.
pub async fn verify(options: Options) -> Vec<Item> {
    let client = Client::builder()
        .redirect(redirect::Policy::none())
        .timeout(Duration::from_secs(15))
        .build()
        .expect("an HTTP client");
    let mut checker = Checker {
        options,
        client,
        session: None,
        cookies_seen: Vec::new(),
        version: None,
    };
    let mut items = Vec::new();
    // Health first: the others are meaningless until the deploy is up.
    items.push(timed("health", "Health check green", checker.health()).await);
    items.push(
        timed(
            "readiness",
            "Readiness passes (/api/health)",
            checker.readiness(),
        )
        .await,
    );
    items.push(timed("https", "HTTPS enforced", checker.https()).await);
    items.push(
        timed(
            "security-headers",
            "Security headers on the frontend and the API",
            checker.security_headers(),
        )
        .await,
    );
    items.push(
        timed(
            "login-warmup",
            "Login triggers warmup without errors",
            checker.login_warmup(),
        )
        .await,
    );
    items.push(
        timed(
            "stateless",
            "No sticky sessions required; stateless verified",
            checker.stateless(),
        )
        .await,
    );
    items.push(
        timed(
            "frontend-login",
            "Login works through the frontend's origin (same origin, first-party cookie)",
            checker.frontend_login(),
        )
        .await,
    );
    items.push(
        timed(
            "missing-asset",
            "A missing asset is a 404 on the frontend, never cached HTML",
            checker.missing_asset(),
        )
        .await,
    );
    items.push(timed("changelog", "Changelog updated", checker.changelog()).await);
    items
}

async fn timed(
    id: &'static str,
    title: &'static str,
    work: impl std::future::Future<Output = Outcome>,
) -> Item {
    let started = Instant::now();
    let outcome = work.await;
    let duration_ms = started.elapsed().as_millis() as u64;
    match outcome {
        Ok(detail) => Item {
            id,
            title,
            passed: true,
            detail,
            duration_ms,
        },
        Err(detail) => Item {
            id,
            title,
            passed: false,
            detail,
            duration_ms,
        },
    }
}

/// The checklist as a person reads it: `[x]` or `[ ]`, the title and its duration, the detail
/// indented below, then `N of M passed`; newline-terminated.
pub fn render_human(items: &[Item]) -> String {
    let mut out = String::new();
    for item in items {
        let mark = if item.passed { "[x]" } else { "[ ]" };
        out.push_str(&format!(
            "{mark} {} ({} ms)\n      {}\n",
            item.title, item.duration_ms, item.detail
        ));
    }
    let passed = items.iter().filter(|i| i.passed).count();
    out.push_str(&format!("{passed} of {} passed\n", items.len()));
    out
}

/// The checklist as Markdown, for a GitHub Actions job summary (`$GITHUB_STEP_SUMMARY`): a
/// heading with the target and the count, then a table of the items, each detail on one line
/// with `|` escaped; newline-terminated.
pub fn render_markdown(items: &[Item], api: &str) -> String {
    let passed = items.iter().filter(|i| i.passed).count();
    let verdict = if passed == items.len() {
        "all passed".to_owned()
    } else {
        format!("{} failed", items.len() - passed)
    };
    let mut out = format!(
        "### Compliance checklist: {passed} of {} passed ({verdict})\n\nTarget: `{}`\n\n",
        items.len(),
        api.replace('`', "'")
    );
    out.push_str("| | Item | What was seen | Time |\n|---|---|---|---:|\n");
    for item in items {
        let mark = if item.passed { "✅" } else { "❌" };
        out.push_str(&format!(
            "| {mark} | {} | {} | {} ms |\n",
            table_cell(item.title),
            table_cell(&item.detail),
            item.duration_ms
        ));
    }
    out
}

/// `text` fit for one Markdown table cell: one line, `|` escaped.
fn table_cell(text: &str) -> String {
    text.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .replace('|', "\\|")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(id: &'static str, passed: bool, detail: &str) -> Item {
        Item {
            id,
            title: "A title",
            passed,
            detail: detail.to_owned(),
            duration_ms: 7,
        }
    }

    #[test]
    fn markdown_is_a_table_with_one_line_per_item() {
        let items = [
            item("health", true, "200 in 3 ms"),
            item("https", false, "no redirect |\nsaw 200"),
        ];
        assert_eq!(
            render_markdown(&items, "https://api.example.com"),
            "### Compliance checklist: 1 of 2 passed (1 failed)\n\n\
             Target: `https://api.example.com`\n\n\
             | | Item | What was seen | Time |\n\
             |---|---|---|---:|\n\
             | ✅ | A title | 200 in 3 ms | 7 ms |\n\
             | ❌ | A title | no redirect \\| saw 200 | 7 ms |\n"
        );
        assert!(render_markdown(&items[..1], "x")
            .starts_with("### Compliance checklist: 1 of 1 passed (all passed)\n"));
    }
}
