//! The access log on the real binary's JSON output: one `request finished` line per request,
//! inside the request span (method, path, matched route, request id), except for the quiet paths
//! — the liveness probe and everything under the assets prefix, found or not — which go around
//! the trace layer and leave no line at all.

use std::time::{Duration, Instant};

use crate::helpers::ApiCommand;

/// The access-log lines (`target` `api::http`) of `output`, as (path, status, route).
fn access_lines(output: &str) -> Vec<(String, u64, Option<String>)> {
    output
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|line| line["target"] == "api::http" && line["status"].is_u64())
        .map(|line| {
            (
                line["span"]["path"].as_str().unwrap_or_default().to_owned(),
                line["status"].as_u64().unwrap(),
                line["span"]["route"].as_str().map(str::to_owned),
            )
        })
        .collect()
}

#[tokio::test]
async fn every_request_but_the_quiet_paths_gets_one_access_log_line() {
    let frontend = tempfile::tempdir().unwrap();
    std::fs::create_dir(frontend.path().join("assets")).unwrap();
    std::fs::write(frontend.path().join("index.html"), "<!doctype html><p>app").unwrap();
    std::fs::write(frontend.path().join("assets/app-1a2b.js"), "1").unwrap();
    let command = ApiCommand::new();
    let url = format!("sqlite://{}/app.db", command.dir().display());
    let api = command
        .var("DATABASE_URL", url)
        .var("FRONTEND_DIR", frontend.path())
        .start()
        .await;
    let client = reqwest::Client::new();
    let get = |path: &str| {
        let request = client.get(api.url(path));
        async move { request.send().await.unwrap().status().as_u16() }
    };

    // Quiet: the liveness probe, a hashed asset, a missing one.
    assert_eq!(get("/health").await, 200);
    assert_eq!(get("/assets/app-1a2b.js").await, 200);
    assert_eq!(get("/assets/gone-9z9z.js").await, 404);
    // Logged: a route, the frontend, an unknown API path, and paths that only look like the
    // quiet ones (the assets prefix matches as the path is sent, letter case included).
    let logged = [
        ("/api/health", 200, Some("/api/health")),
        ("/", 200, None),
        ("/api/nope", 404, None),
        ("/ASSETS/app-1a2b.js", 404, None),
        ("/healthz", 200, None),
    ];
    for (path, status, _) in logged {
        assert_eq!(get(path).await, status, "{path}");
    }

    // The lines reach the pipe a moment after the answers.
    let deadline = Instant::now() + Duration::from_secs(5);
    let lines = loop {
        let lines = access_lines(&api.output());
        if lines.len() >= logged.len() || Instant::now() > deadline {
            break lines;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let expected: Vec<_> = logged
        .iter()
        .map(|(path, status, route)| (path.to_string(), *status as u64, route.map(str::to_owned)))
        .collect();
    assert_eq!(lines, expected, "{}", api.output());
}
