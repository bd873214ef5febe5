//! "Health check green" and "Readiness passes": liveness (`/health`, polled while a deploy comes
//! up) and readiness (`/api/health`, which also tells the later items the deployed version).

use std::time::{Duration, Instant};

use reqwest::StatusCode;

use super::checker::{join, Checker, Outcome};

impl Checker {
    pub(super) async fn health(&mut self) -> Outcome {
        let url = join(&self.options.api, "/health");
        let deadline = Instant::now() + self.options.wait;
        let mut attempts = 0;
        loop {
            attempts += 1;
            let last = match self.client.get(&url).send().await {
                Ok(r) if r.status() == StatusCode::OK => {
                    return Ok(format!("{url} answered 200 (attempt {attempts})"))
                }
                Ok(r) => format!("{url} answered {}", r.status()),
                Err(e) => format!("{url}: {e}"),
            };
            if Instant::now() >= deadline {
                return Err(last);
            }
            eprintln!("waiting for {url}: {last}");
            tokio::time::sleep(Duration::from_secs(2).min(deadline - Instant::now())).await;
        }
    }

    pub(super) async fn readiness(&mut self) -> Outcome {
        let url = join(&self.options.api, "/api/health");
        let response = self.https_get(&url).await?;
        let status = response.status();
        let body: serde_json::Value = response
            .json()
            .await
            .map_err(|e| format!("{url}: not JSON ({e})"))?;
        self.version = body["version"].as_str().map(str::to_owned);
        if let Some(expected) = &self.options.expect_version {
            let deployed = body["version"].as_str().unwrap_or_default();
            if semver::Version::parse(deployed).ok().as_ref() != Some(expected) {
                return Err(format!("{url} reports version {deployed:?}, not {expected}: the release is not live there (an older instance still answers, or another build was deployed)"));
            }
        }
        if let Some(expected) = &self.options.expect_release {
            let deployed = body["releaseId"].as_str().unwrap_or_default();
            if deployed != expected {
                return Err(format!("{url} reports release {deployed:?}, not {expected}: another commit is live there"));
            }
        }
        match body["status"].as_str() {
            Some(s @ ("pass" | "warn")) if status.is_success() => Ok(format!(
                "{s}, version {}, instance {}",
                body["version"], body["instanceId"]
            )),
            other => Err(format!(
                "{url} answered {status} with status {other:?}: {}",
                body["checks"]
            )),
        }
    }
}
