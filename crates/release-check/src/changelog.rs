//! The release gate: a `vX.Y.Z` tag needs a dated, non-empty `## [X.Y.Z] - YYYY-MM-DD` section in
//! CHANGELOG.md (Keep a Changelog) and the same version in the workspace's Cargo.toml.
//!
//! Versions are SemVer 2.0.0 (<https://semver.org/spec/v2.0.0.html>), parsed by the `semver`
//! crate and matched by precedence (§11). Build metadata does not take part in precedence (§10),
//! so the tag `v1.2.3+build.5` is release 1.2.3: it needs the `## [1.2.3]` section and a workspace
//! version of 1.2.3. A pre-release is a different version (§9): `v1.2.3-rc.1` needs its own section.

use std::{cmp::Ordering, path::Path};

use anyhow::Context;
use semver::{BuildMetadata, Version};

/// One failed requirement, with what to do about it.
///
/// Displays as the problem, then `fix:` and the fix on the next line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{problem}\n  fix: {fix}")]
pub struct GateError {
    /// What is wrong, naming the tag, version or file concerned.
    pub problem: String,
    /// What to change so that the gate passes.
    pub fix: String,
}

fn fail(problem: impl Into<String>, fix: impl Into<String>) -> GateError {
    GateError {
        problem: problem.into(),
        fix: fix.into(),
    }
}

/// What a release tag looks like, for the fix of a refused tag.
const TAG_FORM: &str = "release tags are `v` and a SemVer 2.0.0 version: vMAJOR.MINOR.PATCH \
    without leading zeros, optionally -PRERELEASE and +BUILD (e.g. v1.2.3, v1.2.3-rc.1, v1.2.3+build.5)";

/// The SemVer 2.0.0 version a release tag names: `v1.2.3` → 1.2.3, `v1.2.3-rc.1` → 1.2.3-rc.1,
/// `v1.2.3+build.5` → 1.2.3+build.5 (build metadata kept; it is ignored when versions are matched).
///
/// The `v` is the tag convention, not part of the version (SemVer FAQ, "Is v1.2.3 a semantic
/// version?"); the rest must be SemVer 2.0.0 exactly.
///
/// # Errors
///
/// A [`GateError`] naming the tag and giving the expected form when the tag does not start with
/// `v`, or when the rest is not SemVer 2.0.0: not three dot-separated numbers, or a number with a
/// leading zero (§2); an empty pre-release identifier, a character outside `[0-9A-Za-z-]` in one,
/// or a leading zero in a numeric one (§9); an empty or malformed build identifier (§10). Numbers
/// above `u64::MAX`, which SemVer allows, are refused too (a limit of the `semver` crate).
pub fn version_of_tag(tag: &str) -> Result<Version, GateError> {
    let version = tag
        .strip_prefix('v')
        .ok_or_else(|| fail(format!("tag {tag:?} does not start with 'v'"), TAG_FORM))?;
    Version::parse(version).map_err(|e| {
        fail(
            format!("tag {tag:?} is not SemVer 2.0.0 after the 'v': {e}"),
            TAG_FORM,
        )
    })
}

/// Production takes plain releases only: `vX.Y.Z`, without a pre-release or build metadata, so
/// that a candidate (`v1.2.3-rc.1`) never reaches Production and a tag names exactly one build.
///
/// # Errors
///
/// A [`GateError`] when the tag is not a release tag at all, or carries `-PRERELEASE` or `+BUILD`.
pub fn production_version(tag: &str) -> Result<Version, GateError> {
    let version = version_of_tag(tag)?;
    if !version.pre.is_empty() || !version.build.is_empty() {
        return Err(fail(
            format!("tag {tag:?} is not a plain release: Production deploys only vMAJOR.MINOR.PATCH"),
            format!(
                "pre-releases and builds are tried on Staging (the `staging` branch); tag the release itself as v{}.{}.{}",
                version.major, version.minor, version.patch
            ),
        ));
    }
    Ok(version)
}

/// `version` without its build metadata: the release it names, as a changelog heading gives it.
fn release_of(version: &Version) -> Version {
    Version {
        build: BuildMetadata::EMPTY,
        ..version.clone()
    }
}

/// Checks `tag` against the changelog text and the workspace version (`None`: the manifest has
/// none). The versions are matched by SemVer precedence, so build metadata on either side is
/// ignored (SemVer §10).
///
/// # Errors
///
/// Every failed requirement, not just the first: the tag is not a release tag
/// ([`version_of_tag`]; then nothing else is checked), the changelog cannot be parsed, has no
/// section for the version, or its section is undated or lists no changes ([`lists_changes`]),
/// or the workspace
/// version is missing or different, or `## [Unreleased]` still lists changes.
pub fn check(
    tag: &str,
    changelog: &str,
    workspace_version: Option<&Version>,
) -> Result<(), Vec<GateError>> {
    let version = version_of_tag(tag).map_err(|e| vec![e])?;
    let release = release_of(&version);
    let mut errors = section_errors(changelog, &version);
    errors.extend(unreleased_errors(changelog, &release));
    match workspace_version {
        Some(v) if v.cmp_precedence(&version) == Ordering::Equal => {}
        Some(v) => errors.push(fail(
            format!("the workspace version is {v}, the tag says {version}"),
            format!("set `version = \"{release}\"` under [workspace.package] in Cargo.toml and commit before tagging"),
        )),
        None => errors.push(fail("Cargo.toml has no [workspace.package] version", "add `version = \"X.Y.Z\"` under [workspace.package]")),
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

/// What is wrong with `## [Unreleased]`, if anything: it must be empty when a release is tagged,
/// or the tag would ship changes its own section does not describe. Any spelling counts
/// (`[unreleased]`, `[UNRELEASED]`), and so does any other heading that names no release
/// (`[Next]`): changes listed there are not in the tagged release's section either.
fn unreleased_errors(changelog: &str, release: &Version) -> Vec<GateError> {
    // parse-changelog knows only the exact `Unreleased`, so the level-2 headings are read here.
    let mut sections: Vec<(&str, String)> = Vec::new();
    for line in changelog.lines() {
        if let Some(title) = line.strip_prefix("## ") {
            sections.push((title.trim(), String::new()));
        } else if let Some((_, body)) = sections.last_mut() {
            body.push_str(line);
            body.push('\n');
        }
    }
    sections
        .iter()
        .filter(|(title, body)| {
            let name = title
                .trim_start_matches('[')
                .split([']', ' '])
                .next()
                .unwrap_or_default();
            Version::parse(name).is_err() && lists_changes(body)
        })
        .map(|(title, _)| {
            fail(
                format!("`## {title}` still lists changes"),
                format!("run `release-check prepare v{release}` to move them into the release's section, then tag the commit it makes"),
            )
        })
        .collect()
}

/// Whether a section's notes list at least one change: a list item (`- `, `* `, `+ `, `1. `)
/// whose text is not a placeholder. HTML comments, headings, rules (`---`), empty items and
/// placeholders (`*No changes yet.*`, `TBD`, `None`, `-`) are not changes.
pub fn lists_changes(notes: &str) -> bool {
    strip_html_comments(notes).lines().any(|line| {
        let line = line.trim();
        if is_rule(line) {
            return false;
        }
        let item = ["- ", "* ", "+ "]
            .iter()
            .find_map(|marker| line.strip_prefix(marker))
            .or_else(|| {
                let digits =
                    line.len() - line.trim_start_matches(|c: char| c.is_ascii_digit()).len();
                (digits > 0)
                    .then(|| line[digits..].strip_prefix(". "))
                    .flatten()
            });
        item.is_some_and(|text| !is_placeholder(text))
    })
}

/// A thematic break: three or more of the same `-`, `*` or `_`, with optional spaces.
fn is_rule(line: &str) -> bool {
    let chars: Vec<char> = line.chars().filter(|c| !c.is_whitespace()).collect();
    chars.len() >= 3 && matches!(chars[0], '-' | '*' | '_') && chars.iter().all(|c| *c == chars[0])
}

/// Text that stands in for an entry rather than being one.
fn is_placeholder(text: &str) -> bool {
    let bare = text
        .trim()
        .trim_matches(|c: char| matches!(c, '*' | '_' | '`' | '.' | '…' | '-') || c.is_whitespace())
        .to_lowercase();
    matches!(
        bare.as_str(),
        "" | "tbd"
            | "tba"
            | "todo"
            | "none"
            | "n/a"
            | "no changes"
            | "no changes yet"
            | "nothing yet"
    )
}

/// `text` without `<!-- … -->` comments (an unclosed one runs to the end, as in HTML).
fn strip_html_comments(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("<!--") {
        out.push_str(&rest[..start]);
        match rest[start + 4..].find("-->") {
            Some(end) => rest = &rest[start + 4 + end + 3..],
            None => return out,
        }
    }
    out.push_str(rest);
    out
}

/// What is wrong with the changelog's section for `version` (found by precedence), if anything.
fn section_errors(changelog: &str, version: &Version) -> Vec<GateError> {
    let release = release_of(version);
    let mut errors = Vec::new();
    match parse_changelog::parse(changelog) {
        Err(e) => errors.push(fail(format!("CHANGELOG.md cannot be parsed: {e}"), "follow Keep a Changelog: `## [X.Y.Z] - YYYY-MM-DD` headings")),
        // Headings that are not SemVer (`Unreleased`) name no release.
        Ok(releases) => match releases.values().find(|r| {
            Version::parse(r.version).is_ok_and(|v| v.cmp_precedence(version) == Ordering::Equal)
        }) {
            None => errors.push(fail(
                format!("CHANGELOG.md has no section for {release}"),
                format!("move the entries under `## [Unreleased]` to a new `## [{release}] - YYYY-MM-DD` heading"),
            )),
            Some(section) => {
                let date = section.title.rsplit_once(" - ").map(|(_, d)| d.trim());
                let format = time::macros::format_description!("[year]-[month]-[day]");
                match date.map(|d| time::Date::parse(d, &format)) {
                    Some(Ok(day)) => {
                        // A day of grace: the tagger's calendar may be ahead of UTC.
                        let tomorrow = time::OffsetDateTime::now_utc().date().next_day();
                        if tomorrow.is_some_and(|t| day > t) {
                            errors.push(fail(
                                format!("the {} section is dated {day}, after today", section.version),
                                format!("date the heading `## [{}] - YYYY-MM-DD` with the day of the release", section.version),
                            ));
                        }
                    }
                    _ => errors.push(fail(
                        format!("the {} section is not dated: `## {}`", section.version, section.title),
                        format!("write the heading as `## [{}] - YYYY-MM-DD` with the release date", section.version),
                    )),
                }
                if !lists_changes(section.notes) {
                    errors.push(fail(format!("the {} section lists no changes", section.version), "add the highlights, fixes and migration notes as `- ` items (placeholders such as `*No changes yet.*` or `TBD` do not count)"));
                }
            }
        },
    }
    errors
}

/// `[workspace.package] version` of the Cargo.toml at `path`, as SemVer; `Ok(None)` when the
/// manifest has no such string.
///
/// # Errors
///
/// The file cannot be read or is not TOML, or the version is not SemVer 2.0.0 (the error quotes it).
pub fn workspace_version(path: &Path) -> anyhow::Result<Option<Version>> {
    let text = std::fs::read_to_string(path)?;
    let value: toml::Table = toml::from_str(&text)?;
    value
        .get("workspace")
        .and_then(|w| w.get("package"))
        .and_then(|p| p.get("version"))
        .and_then(|v| v.as_str())
        .map(|v| {
            Version::parse(v).with_context(|| {
                format!("version {v:?} under [workspace.package] is not SemVer 2.0.0")
            })
        })
        .transpose()
}

/// Whether the changelog has a dated, non-empty section for `version`, matched by precedence
/// (used by `verify` for the version a deployment reports).
pub fn has_release(changelog: &str, version: &Version) -> bool {
    section_errors(changelog, version).is_empty()
}
