//! The release gate on good and broken changelogs, and on the repository's own.

use release_check::changelog::{check, version_of_tag, workspace_version};

const GOOD: &str = "# Changelog\n\n## [Unreleased]\n\n## [1.2.3] - 2026-11-20\n\n### Fixed\n- A bug.\n\n## [1.2.2] - 2026-11-01\n\n- Older.\n";

fn problems(tag: &str, changelog: &str, version: Option<&str>) -> Vec<String> {
    check(tag, changelog, version)
        .err()
        .unwrap_or_default()
        .into_iter()
        .map(|e| e.problem)
        .collect()
}

#[test]
fn a_dated_non_empty_section_with_the_same_workspace_version_passes() {
    assert_eq!(check("v1.2.3", GOOD, Some("1.2.3")), Ok(()));
}

#[test]
fn a_tag_without_a_section_is_refused_with_the_fix() {
    let errors = check("v1.2.4", GOOD, Some("1.2.4")).unwrap_err();
    assert_eq!(errors[0].problem, "CHANGELOG.md has no section for 1.2.4");
    assert!(errors[0].fix.contains("`## [1.2.4] - YYYY-MM-DD`"));
}

#[test]
fn an_undated_section_is_refused() {
    let undated = GOOD.replace("## [1.2.3] - 2026-11-20", "## [1.2.3]");
    assert_eq!(
        problems("v1.2.3", &undated, Some("1.2.3")),
        ["the 1.2.3 section is not dated: `## [1.2.3]`"]
    );
}

#[test]
fn an_empty_section_is_refused() {
    let empty = GOOD.replace("### Fixed\n- A bug.\n", "");
    assert_eq!(
        problems("v1.2.3", &empty, Some("1.2.3")),
        ["the 1.2.3 section lists no changes"]
    );
}

#[test]
fn a_different_workspace_version_is_refused() {
    assert_eq!(
        problems("v1.2.3", GOOD, Some("1.2.2")),
        ["the workspace version is 1.2.2, the tag says 1.2.3"]
    );
}

#[test]
fn tags_that_are_not_semver_with_a_v_are_refused() {
    for tag in [
        "1.2.3",
        "v1.2",
        "v1.2.3.4",
        "v01.2.3",
        "vx.y.z",
        "v1.2.3-",
        "release-1",
    ] {
        assert!(version_of_tag(tag).is_err(), "{tag}");
    }
    assert_eq!(version_of_tag("v1.2.3-rc.1"), Ok("1.2.3-rc.1"));
}

#[test]
fn the_repository_changelog_has_the_workspace_version() {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
    let text = std::fs::read_to_string(format!("{root}/CHANGELOG.md")).unwrap();
    let version = workspace_version(std::path::Path::new(&format!("{root}/Cargo.toml"))).unwrap();
    let version = version.expect("a workspace version");
    assert_eq!(check(&format!("v{version}"), &text, Some(&version)), Ok(()));
}
