//! `release-check prepare vX.Y.Z`: cuts a release the way cargo-release and release-plz do. The
//! entries under `## [Unreleased]` move into a new `## [X.Y.Z] - YYYY-MM-DD` section, an empty
//! `## [Unreleased]` stays on top, the compare links at the bottom follow, and the workspace
//! version (Cargo.toml's `[workspace.package]`, which every member inherits) and the members'
//! entries in Cargo.lock are bumped. Nothing is committed: the commands to commit, tag and push
//! are printed, so the person cutting the release reviews the diff first.
//!
//! The files are edited as text, line by line, so their formatting and comments survive; each
//! edit is checked by parsing the result again.

use std::{
    collections::BTreeSet,
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::{bail, Context};
use semver::Version;

use crate::changelog::{lists_changes, workspace_version};

/// What `prepare` changed, and how to finish the release.
#[derive(Debug)]
pub struct Prepared {
    /// The version released (from the tag, without the `v`).
    pub version: Version,
    /// The workspace version before the bump.
    pub previous: Version,
    /// The files rewritten, relative to the repository root.
    pub changed: Vec<PathBuf>,
    /// The shell commands that commit, tag and push the release, in order.
    pub commands: Vec<String>,
}

/// Prepares the release `tag` in the repository at `root`, dated `date` (`YYYY-MM-DD`).
///
/// # Errors
///
/// Nothing is written when: the tag is not a plain `vX.Y.Z` ([`crate::changelog::production_version`]);
/// the date is not `YYYY-MM-DD`; `## [Unreleased]` is missing or lists no changes (placeholders do
/// not count); the version is not greater than the last release in the changelog or than the
/// workspace version, or already has a section; the tag already exists; CHANGELOG.md, Cargo.toml
/// or Cargo.lock has uncommitted changes; or a file cannot be read, edited or written.
pub fn prepare(root: &Path, tag: &str, date: &str) -> anyhow::Result<Prepared> {
    let version = crate::changelog::production_version(tag).map_err(|e| anyhow::anyhow!("{e}"))?;
    let format = time::macros::format_description!("[year]-[month]-[day]");
    time::Date::parse(date, &format)
        .with_context(|| format!("invalid --date {date:?}: expected YYYY-MM-DD"))?;

    let files = ["CHANGELOG.md", "Cargo.toml", "Cargo.lock"];
    let dirty = git(root, &["status", "--porcelain", "--"])
        .map(|out| {
            out.lines()
                .filter_map(|l| l.get(3..))
                .filter(|path| files.contains(path))
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .context("git status (prepare runs in a git repository)")?;
    if !dirty.is_empty() {
        bail!(
            "uncommitted changes in {}: commit or stash them first, so the release commit holds only the release",
            dirty.join(", ")
        );
    }
    if git(
        root,
        &["rev-parse", "-q", "--verify", &format!("refs/tags/{tag}")],
    )
    .is_ok()
    {
        bail!("the tag {tag} already exists");
    }

    let manifest_path = root.join("Cargo.toml");
    let previous = workspace_version(&manifest_path)?.with_context(|| {
        format!(
            "{} has no [workspace.package] version to bump",
            manifest_path.display()
        )
    })?;
    if version <= previous {
        bail!("{version} is not greater than the workspace version {previous}");
    }

    let changelog_path = root.join("CHANGELOG.md");
    let changelog = read(&changelog_path)?;
    let new_changelog = release_changelog(&changelog, &version, date)?;
    let manifest = read(&manifest_path)?;
    let new_manifest = bump_manifest(&manifest, &version)?;
    let lock_path = root.join("Cargo.lock");
    let new_lock = if lock_path.exists() {
        let members = inheriting_members(root, &manifest)?;
        Some(bump_lock(
            &read(&lock_path)?,
            &members,
            &previous,
            &version,
        )?)
    } else {
        None
    };

    // Every edit was computed and checked before anything is written.
    let mut changed = vec![PathBuf::from("CHANGELOG.md"), PathBuf::from("Cargo.toml")];
    let mut edits = vec![
        (changelog_path.as_path(), new_changelog.as_str()),
        (manifest_path.as_path(), new_manifest.as_str()),
    ];
    if let Some(lock) = &new_lock {
        edits.push((lock_path.as_path(), lock.as_str()));
        changed.push(PathBuf::from("Cargo.lock"));
    }
    write_all(&edits)?;
    let files = changed
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(" ");
    let commands = vec![
        format!("git commit -m \"Release {version}\" -- {files}"),
        "git push origin HEAD".to_owned(),
        format!("git tag -a {tag} -m \"Release {version}\""),
        format!("git push origin {tag}"),
    ];
    Ok(Prepared {
        version,
        previous,
        changed,
        commands,
    })
}

/// The changelog with `## [Unreleased]`'s entries moved under `## [VERSION] - DATE`, an empty
/// `## [Unreleased]` left on top, and the compare links (when the `[Unreleased]` link is a
/// `…/compare/PREVIOUS...HEAD` URL) pointing at the new tag.
///
/// # Errors
///
/// No `## [Unreleased]` heading; it lists no changes ([`lists_changes`]); the changelog already
/// has a section for the version, or a release equal or greater.
pub fn release_changelog(text: &str, version: &Version, date: &str) -> anyhow::Result<String> {
    let releases = parse_changelog::parse(text).context("CHANGELOG.md cannot be parsed")?;
    if let Some(last) = releases.keys().filter_map(|v| Version::parse(v).ok()).max() {
        if *version <= last {
            bail!("{version} is not greater than the last release in CHANGELOG.md, {last}");
        }
    }

    let lines: Vec<&str> = text.lines().collect();
    let heading = lines
        .iter()
        .position(|l| l.trim_end().eq_ignore_ascii_case("## [Unreleased]"))
        .context("CHANGELOG.md has no `## [Unreleased]` heading")?;
    // The section runs to the next release heading, or to the link definitions at the bottom.
    let end = lines[heading + 1..]
        .iter()
        .position(|l| l.starts_with("## ") || is_link_definition(l))
        .map_or(lines.len(), |i| heading + 1 + i);
    let body = lines[heading + 1..end].join("\n");
    if !lists_changes(&body) {
        bail!(
            "`## [Unreleased]` lists no changes (placeholders such as `*No changes yet.*` do not count): nothing to release"
        );
    }

    let mut out: Vec<String> = lines[..=heading].iter().map(|l| (*l).to_owned()).collect();
    out.push(String::new());
    out.push(format!("## [{version}] - {date}"));
    out.push(String::new());
    out.push(body.trim_matches('\n').to_owned());
    out.push(String::new());
    for line in &lines[end..] {
        match compare_links(line, version) {
            Some((unreleased, release)) => {
                out.push(unreleased);
                out.push(release);
            }
            None => out.push((*line).to_owned()),
        }
    }
    let mut new = out.join("\n");
    new.push('\n');
    // Checked: the result parses, and the release has its section.
    let check =
        parse_changelog::parse(&new).context("the prepared CHANGELOG.md cannot be parsed")?;
    anyhow::ensure!(
        check.contains_key(version.to_string().as_str()),
        "the prepared CHANGELOG.md has no section for {version}"
    );
    Ok(new)
}

/// A Markdown link reference definition: `[label]: url`.
fn is_link_definition(line: &str) -> bool {
    line.starts_with('[') && line.contains("]: ")
}

/// For the `[Unreleased]: BASE/compare/PREVIOUS...HEAD` line: that line for the new tag, and the
/// new release's `[X.Y.Z]: BASE/compare/PREVIOUS...vX.Y.Z` line.
fn compare_links(line: &str, version: &Version) -> Option<(String, String)> {
    const LABEL: &str = "[Unreleased]: ";
    let url = line
        .get(..LABEL.len())
        .filter(|l| l.eq_ignore_ascii_case(LABEL))
        .map(|_| line[LABEL.len()..].trim())?;
    let (base, range) = url.rsplit_once("/compare/")?;
    let previous = range.strip_suffix("...HEAD")?;
    let prefix = if previous.starts_with('v') { "v" } else { "" };
    Some((
        format!(
            "{}{base}/compare/{prefix}{version}...HEAD",
            &line[..LABEL.len()]
        ),
        format!("[{version}]: {base}/compare/{previous}...{prefix}{version}"),
    ))
}

/// The manifest with `[workspace.package] version` set to `version`.
///
/// # Errors
///
/// The manifest has no `version = "…"` line under `[workspace.package]`, or the edited manifest
/// does not read back with the new version.
pub fn bump_manifest(text: &str, version: &Version) -> anyhow::Result<String> {
    let mut in_table = false;
    let mut done = false;
    let mut out = Vec::new();
    for line in text.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with('[') {
            in_table = trimmed == "[workspace.package]";
        }
        let key = trimmed.split('=').next().map(str::trim);
        if in_table && !done && key == Some("version") {
            let indent = &line[..line.len() - line.trim_start().len()];
            out.push(format!("{indent}version = \"{version}\""));
            done = true;
        } else {
            out.push(line.to_owned());
        }
    }
    anyhow::ensure!(
        done,
        "Cargo.toml has no `version = \"…\"` under [workspace.package]"
    );
    let mut new = out.join("\n");
    if text.ends_with('\n') {
        new.push('\n');
    }
    let table: toml::Table = toml::from_str(&new).context("the bumped Cargo.toml is not TOML")?;
    let read_back = table
        .get("workspace")
        .and_then(|w| w.get("package"))
        .and_then(|p| p.get("version"))
        .and_then(|v| v.as_str());
    anyhow::ensure!(
        read_back == Some(version.to_string().as_str()),
        "the bumped Cargo.toml reads back version {read_back:?}"
    );
    Ok(new)
}

/// The names of the workspace members whose version is `version.workspace = true`: the packages
/// the bump changes. Member globs are not supported (this workspace lists its members).
fn inheriting_members(root: &Path, manifest: &str) -> anyhow::Result<BTreeSet<String>> {
    let table: toml::Table = toml::from_str(manifest).context("Cargo.toml is not TOML")?;
    let members = table
        .get("workspace")
        .and_then(|w| w.get("members"))
        .and_then(|m| m.as_array())
        .context("Cargo.toml has no [workspace] members")?;
    let mut names = BTreeSet::new();
    for member in members {
        let member = member
            .as_str()
            .context("a workspace member is not a string")?;
        if member.contains(['*', '?', '[']) {
            bail!("workspace member {member:?} is a glob; list the members one by one");
        }
        let path = root.join(member).join("Cargo.toml");
        let package: toml::Table = toml::from_str(&read(&path)?)
            .with_context(|| format!("{} is not TOML", path.display()))?;
        let package = package.get("package").and_then(|p| p.as_table());
        let inherits = package
            .and_then(|p| p.get("version"))
            .and_then(|v| v.get("workspace"))
            .and_then(|w| w.as_bool())
            == Some(true);
        if let (true, Some(name)) = (inherits, package.and_then(|p| p.get("name"))) {
            names.insert(name.as_str().unwrap_or_default().to_owned());
        }
    }
    Ok(names)
}

/// Cargo.lock with the local (source-less) packages named in `members` moved from `previous` to
/// `version`, in their `[[package]]` entries and wherever a dependency list names them with a
/// version. The lock stays the one `cargo` would write: only the members' versions change.
///
/// # Errors
///
/// A member has no entry at `previous` in the lock (it is stale: run `cargo update -w` first).
pub fn bump_lock(
    text: &str,
    members: &BTreeSet<String>,
    previous: &Version,
    version: &Version,
) -> anyhow::Result<String> {
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    let mut bumped = BTreeSet::new();
    let mut start = 0;
    // One [[package]] block at a time: name, version line, and whether it has a source.
    while start < lines.len() {
        let end = lines[start + 1..]
            .iter()
            .position(|l| l.starts_with("[[package]]"))
            .map_or(lines.len(), |i| start + 1 + i);
        let block = &lines[start..end];
        let name = block
            .iter()
            .find_map(|l| l.strip_prefix("name = \""))
            .map(|n| n.trim_end_matches('"').to_owned());
        let local = !block.iter().any(|l| l.starts_with("source = "));
        if let (Some(name), true) = (name, local) {
            if members.contains(&name) {
                let old = format!("version = \"{previous}\"");
                if let Some(line) = lines[start..end].iter_mut().find(|l| **l == old) {
                    *line = format!("version = \"{version}\"");
                    bumped.insert(name);
                }
            }
        }
        start = end;
    }
    for member in members {
        anyhow::ensure!(
            bumped.contains(member),
            "Cargo.lock has no entry for {member} {previous}: run `cargo update -w` and commit it first"
        );
        let old = format!(" \"{member} {previous}\",");
        let new = format!(" \"{member} {version}\",");
        for line in &mut lines {
            if line.ends_with(&old) {
                *line = line.replace(&old, &new);
            }
        }
    }
    let mut new = lines.join("\n");
    if text.ends_with('\n') {
        new.push('\n');
    }
    Ok(new)
}

fn read(path: &Path) -> anyhow::Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))
}

/// Writes every file or none: each goes to a temporary file beside it first, and only when all
/// are written are they renamed over the originals (a rename within a folder does not fail half
/// way), so a file that cannot be written leaves the others as they were.
fn write_all(edits: &[(&Path, &str)]) -> anyhow::Result<()> {
    let staged: Vec<PathBuf> = edits
        .iter()
        .map(|(path, _)| {
            let name = path.file_name().unwrap_or_default().to_string_lossy();
            path.with_file_name(format!(".{name}.release-check"))
        })
        .collect();
    for ((path, text), temp) in edits.iter().zip(&staged) {
        if let Err(e) = std::fs::write(temp, text) {
            for temp in &staged {
                let _ = std::fs::remove_file(temp);
            }
            return Err(e)
                .with_context(|| format!("cannot write {} (nothing was changed)", path.display()));
        }
    }
    for ((path, _), temp) in edits.iter().zip(&staged) {
        std::fs::rename(temp, path)
            .with_context(|| format!("cannot replace {}", path.display()))?;
    }
    Ok(())
}

/// Runs git in `root`; its standard output, or an error with its standard error.
fn git(root: &Path, args: &[&str]) -> anyhow::Result<String> {
    let out = Command::new("git")
        .arg("-C")
        .arg(root)
        .args(args)
        .output()
        .context("cannot run git")?;
    if !out.status.success() {
        bail!(
            "git {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}
