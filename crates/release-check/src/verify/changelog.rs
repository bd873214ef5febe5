//! "Changelog updated": the version the deployment reports has a dated, non-empty section in
//! CHANGELOG.md (the same rule as the release gate in `crate::changelog`).

use super::checker::{join, Checker, Outcome};

impl Checker {
    pub(super) async fn changelog(&mut self) -> Outcome {
        let version = match self.version.clone() {
            Some(v) => v,
            None => {
                let url = join(&self.options.api, "/api/health");
                let body: serde_json::Value = self
                    .https_get(&url)
                    .await?
                    .json()
                    .await
                    .map_err(|e| format!("{url}: not JSON ({e})"))?;
                body["version"]
                    .as_str()
                    .map(str::to_owned)
                    .ok_or("/api/health reports no version")?
            }
        };
        let version = semver::Version::parse(&version)
            .map_err(|e| format!("the deployed version {version:?} is not SemVer 2.0.0: {e}"))?;
        let path = &self.options.changelog;
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        if crate::changelog::has_release(&text, &version) {
            Ok(format!(
                "the deployed version {version} has a dated section in {}",
                path.display()
            ))
        } else {
            Err(format!(
                "the deployed version {version} has no dated, non-empty section in {}",
                path.display()
            ))
        }
    }
}
