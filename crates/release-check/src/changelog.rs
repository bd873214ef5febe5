//! The release gate: a `vX.Y.Z` tag needs a dated, non-empty `## [X.Y.Z] - YYYY-MM-DD` section in
//! CHANGELOG.md (Keep a Changelog) and the same version in the workspace's Cargo.toml.

use std::path::Path;

/// One failed requirement, with what to do about it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{problem}\n  fix: {fix}")]
pub struct GateError {
    pub problem: String,
    pub fix: String,
}

fn fail(problem: impl Into<String>, fix: impl Into<String>) -> GateError {
    GateError {
        problem: problem.into(),
        fix: fix.into(),
    }
}

/// `v1.2.3` (or `v1.2.3-rc.1`) → `1.2.3`.
pub fn version_of_tag(tag: &str) -> Result<&str, GateError> {
    let version = tag.strip_prefix('v').ok_or_else(|| {
        fail(
            format!("tag {tag:?} does not start with 'v'"),
            "release tags are vMAJOR.MINOR.PATCH, e.g. v1.2.3",
        )
    })?;
    let (core, pre) = match version.split_once('-') {
        Some((core, pre)) => (core, Some(pre)),
        None => (version, None),
    };
    let numbers: Vec<&str> = core.split('.').collect();
    let numeric = |n: &&str| {
        !n.is_empty()
            && n.chars().all(|c| c.is_ascii_digit())
            && (n.len() == 1 || !n.starts_with('0'))
    };
    let pre_ok = pre.is_none_or(|p| {
        !p.is_empty()
            && p.split('.').all(|id| {
                !id.is_empty() && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            })
    });
    if numbers.len() != 3 || !numbers.iter().all(numeric) || !pre_ok {
        return Err(fail(
            format!("tag {tag:?} is not SemVer"),
            "use vMAJOR.MINOR.PATCH, e.g. v1.2.3 (no leading zeros)",
        ));
    }
    Ok(version)
}

/// Checks `tag` against the changelog text and the workspace version. All problems, not just the first.
pub fn check(
    tag: &str,
    changelog: &str,
    workspace_version: Option<&str>,
) -> Result<(), Vec<GateError>> {
    let version = match version_of_tag(tag) {
        Ok(v) => v,
        Err(e) => return Err(vec![e]),
    };
    let mut errors = Vec::new();
    match parse_changelog::parse(changelog) {
        Err(e) => errors.push(fail(format!("CHANGELOG.md cannot be parsed: {e}"), "follow Keep a Changelog: `## [X.Y.Z] - YYYY-MM-DD` headings")),
        Ok(releases) => match releases.get(version) {
            None => errors.push(fail(
                format!("CHANGELOG.md has no section for {version}"),
                format!("move the entries under `## [Unreleased]` to a new `## [{version}] - YYYY-MM-DD` heading"),
            )),
            Some(release) => {
                let date = release.title.rsplit_once(" - ").map(|(_, d)| d.trim());
                let format = time::macros::format_description!("[year]-[month]-[day]");
                if date.is_none_or(|d| time::Date::parse(d, &format).is_err()) {
                    errors.push(fail(
                        format!("the {version} section is not dated: `## {}`", release.title),
                        format!("write the heading as `## [{version}] - YYYY-MM-DD` with the release date"),
                    ));
                }
                if !release.notes.lines().any(|l| l.trim_start().starts_with(['-', '*'])) {
                    errors.push(fail(format!("the {version} section lists no changes"), "add the highlights, fixes and migration notes as `- ` items"));
                }
            }
        },
    }
    match workspace_version {
        Some(v) if v == version => {}
        Some(v) => errors.push(fail(
            format!("the workspace version is {v}, the tag says {version}"),
            format!("set `version = \"{version}\"` under [workspace.package] in Cargo.toml and commit before tagging"),
        )),
        None => errors.push(fail("Cargo.toml has no [workspace.package] version", "add `version = \"X.Y.Z\"` under [workspace.package]")),
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

/// `[workspace.package] version` of the Cargo.toml at `path`.
pub fn workspace_version(path: &Path) -> anyhow::Result<Option<String>> {
    let text = std::fs::read_to_string(path)?;
    let value: toml::Table = toml::from_str(&text)?;
    Ok(value
        .get("workspace")
        .and_then(|w| w.get("package"))
        .and_then(|p| p.get("version"))
        .and_then(|v| v.as_str())
        .map(str::to_owned))
}

/// Whether the changelog has a dated section for `version` (used by `verify`).
pub fn has_release(changelog: &str, version: &str) -> bool {
    check(&format!("v{version}"), changelog, Some(version)).is_ok()
}
