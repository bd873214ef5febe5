//! The release gate on good and broken changelogs, and on the repository's own; tags are
//! SemVer 2.0.0 after the `v` (<https://semver.org/spec/v2.0.0.html>, sections cited per test).

use release_check::changelog::{
    check, has_release, lists_changes, production_version, version_of_tag, workspace_version,
};
use semver::Version;

const GOOD: &str = "# Changelog\n\n## [Unreleased]\n\n## [1.2.3] - 2026-11-20\n\n### Fixed\n- A bug.\n\n## [1.2.2] - 2026-11-01\n\n- Older.\n";

fn v(version: &str) -> Version {
    Version::parse(version).unwrap()
}

fn problems(tag: &str, changelog: &str, version: Option<&str>) -> Vec<String> {
    check(tag, changelog, version.map(v).as_ref())
        .err()
        .unwrap_or_default()
        .into_iter()
        .map(|e| e.problem)
        .collect()
}

#[test]
fn a_dated_non_empty_section_with_the_same_workspace_version_passes() {
    assert_eq!(check("v1.2.3", GOOD, Some(&v("1.2.3"))), Ok(()));
}

#[test]
fn a_tag_without_a_section_is_refused_with_the_fix() {
    let errors = check("v1.2.4", GOOD, Some(&v("1.2.4"))).unwrap_err();
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
        "V1.2.3",
        "v1.2",
        "v1.2.3.4",
        "vx.y.z",
        "v 1.2.3",
        "v1.2.3 ",
        "release-1",
    ] {
        assert!(version_of_tag(tag).is_err(), "{tag}");
    }
    assert_eq!(version_of_tag("v1.2.3"), Ok(v("1.2.3")));
}

// SemVer §2: "A normal version number MUST take the form X.Y.Z where X, Y, and Z are
// non-negative integers, and MUST NOT contain leading zeroes."
#[test]
fn semver_2_leading_zeros_in_major_minor_or_patch_are_refused() {
    for (tag, part) in [
        ("v01.2.3", "major"),
        ("v1.02.3", "minor"),
        ("v1.2.03", "patch"),
        ("v00.0.0", "major"),
    ] {
        let error = version_of_tag(tag).unwrap_err();
        assert!(
            error.problem.contains(&format!("{tag:?}"))
                && error
                    .problem
                    .contains(&format!("leading zero in {part} version number")),
            "{tag}: {}",
            error.problem
        );
    }
    assert_eq!(version_of_tag("v0.0.0"), Ok(v("0.0.0")));
    assert_eq!(version_of_tag("v10.20.30"), Ok(v("10.20.30")));
}

// SemVer §9: numeric pre-release identifiers "MUST NOT include leading zeroes"; identifiers are
// non-empty and "comprise only ASCII alphanumerics and hyphens [0-9A-Za-z-]".
#[test]
fn semver_9_pre_release_identifiers_are_checked() {
    for tag in [
        "v1.2.3-rc.01",
        "v1.2.3-01",
        "v1.2.3-",
        "v1.2.3-rc..1",
        "v1.2.3-rc.1.",
        "v1.2.3-rc_1",
        "v1.2.3-rc.é",
    ] {
        assert!(version_of_tag(tag).is_err(), "{tag}");
    }
    assert!(version_of_tag("v1.2.3-rc.01")
        .unwrap_err()
        .problem
        .contains("leading zero in pre-release identifier"));
    // The examples §9 gives, plus a zero alone and an alphanumeric identifier starting with 0.
    for tag in [
        "v1.0.0-alpha",
        "v1.0.0-alpha.1",
        "v1.0.0-0.3.7",
        "v1.0.0-x.7.z.92",
        "v1.0.0-x-y-z.--",
        "v1.2.3-rc.0",
        "v1.2.3-01a",
    ] {
        let version = version_of_tag(tag).unwrap_or_else(|e| panic!("{tag}: {e}"));
        assert_eq!(format!("v{version}"), tag);
    }
}

// SemVer §9 and §11: a pre-release is a different, lower version than the release, so it needs
// its own section and its own workspace version.
#[test]
fn semver_9_a_pre_release_tag_needs_its_own_section() {
    assert_eq!(
        problems("v1.2.3-rc.1", GOOD, Some("1.2.3-rc.1")),
        ["CHANGELOG.md has no section for 1.2.3-rc.1"]
    );
    assert_eq!(
        problems("v1.2.3-rc.1", GOOD, Some("1.2.3")),
        [
            "CHANGELOG.md has no section for 1.2.3-rc.1",
            "the workspace version is 1.2.3, the tag says 1.2.3-rc.1"
        ]
    );
    let with_rc = GOOD.replace(
        "## [1.2.2]",
        "## [1.2.3-rc.1] - 2026-11-10\n\n- Candidate.\n\n## [1.2.2]",
    );
    assert_eq!(
        check("v1.2.3-rc.1", &with_rc, Some(&v("1.2.3-rc.1"))),
        Ok(())
    );
}

// SemVer §10: build metadata follows a `+`, its identifiers are non-empty [0-9A-Za-z-] (leading
// zeros allowed), and it "MUST be ignored when determining version precedence".
#[test]
fn semver_10_build_metadata_is_accepted_and_checked() {
    for tag in [
        "v1.2.3+build.5",
        "v1.0.0-alpha+001",
        "v1.0.0+20130313144700",
        "v1.0.0-beta+exp.sha.5114f85",
        "v1.0.0+21AF26D3----117B344092BD",
    ] {
        let version = version_of_tag(tag).unwrap_or_else(|e| panic!("{tag}: {e}"));
        assert_eq!(format!("v{version}"), tag);
    }
    for tag in [
        "v1.2.3+",
        "v1.2.3+build..5",
        "v1.2.3+build_5",
        "v1.2.3+build+5",
    ] {
        assert!(version_of_tag(tag).is_err(), "{tag}");
    }
}

// SemVer §10: build metadata does not change precedence, so `v1.2.3+build.5` is release 1.2.3.
#[test]
fn semver_10_a_tag_with_build_metadata_matches_the_release_section_and_workspace_version() {
    assert_eq!(check("v1.2.3+build.5", GOOD, Some(&v("1.2.3"))), Ok(()));
    assert_eq!(check("v1.2.3", GOOD, Some(&v("1.2.3+ci.7"))), Ok(()));
    assert_eq!(
        problems("v1.2.4+build.5", GOOD, Some("1.2.3")),
        [
            "CHANGELOG.md has no section for 1.2.4",
            "the workspace version is 1.2.3, the tag says 1.2.4+build.5"
        ]
    );
    let errors = check("v1.2.4+build.5", GOOD, Some(&v("1.2.3"))).unwrap_err();
    assert!(
        errors[1].fix.contains("`version = \"1.2.4\"`"),
        "{}",
        errors[1].fix
    );
}

#[test]
fn a_refused_tag_is_named_with_the_form_expected() {
    for tag in ["v01.2.3", "1.2.3"] {
        let errors = check(tag, GOOD, Some(&v("1.2.3"))).unwrap_err();
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(
            errors[0].problem.contains(&format!("{tag:?}")),
            "{}",
            errors[0].problem
        );
        assert!(
            errors[0].fix.contains("vMAJOR.MINOR.PATCH") && errors[0].fix.contains("SemVer 2.0.0"),
            "{}",
            errors[0].fix
        );
    }
}

#[test]
fn the_verify_item_matches_a_section_by_precedence() {
    assert!(has_release(GOOD, &v("1.2.3")));
    assert!(has_release(GOOD, &v("1.2.3+build.5")));
    assert!(!has_release(GOOD, &v("1.2.3-rc.1")));
    assert!(!has_release(GOOD, &v("1.2.4")));
}

#[test]
fn a_workspace_version_that_is_not_semver_is_an_error_quoting_it() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = dir.path().join("Cargo.toml");
    std::fs::write(&manifest, "[workspace.package]\nversion = \"1.02.0\"\n").unwrap();
    let error = format!("{:#}", workspace_version(&manifest).unwrap_err());
    assert!(error.contains("\"1.02.0\""), "{error}");
    std::fs::write(&manifest, "[workspace]\nmembers = []\n").unwrap();
    assert_eq!(workspace_version(&manifest).unwrap(), None);
}

#[test]
fn the_repository_changelog_has_the_workspace_version() {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
    let text = std::fs::read_to_string(format!("{root}/CHANGELOG.md")).unwrap();
    let version = workspace_version(std::path::Path::new(&format!("{root}/Cargo.toml"))).unwrap();
    let version = version.expect("a workspace version");
    // Between releases `## [Unreleased]` lists the changes to come; that is the only complaint
    // the gate may have about the released version.
    let problems: Vec<_> = check(&format!("v{version}"), &text, Some(&version))
        .err()
        .unwrap_or_default()
        .into_iter()
        .map(|e| e.problem)
        .collect();
    assert!(
        problems
            .iter()
            .all(|p| p == "`## [Unreleased]` still lists changes"),
        "{problems:?}"
    );
}

#[test]
fn placeholder_only_sections_list_no_changes() {
    for notes in [
        "",
        "*No changes yet.*",
        "_No changes yet._",
        "- *No changes yet.*",
        "TBD",
        "- TBD",
        "* tbd",
        "-",
        "- ",
        "*",
        "---",
        "***",
        "- - -",
        "___",
        "### Added\n\n### Fixed\n",
        "<!-- - A change to come. -->",
        "<!--\n- multi\n- line\n-->",
        "- None\n- n/a\n- ...\n- …",
        "1. TODO",
    ] {
        assert!(!lists_changes(notes), "{notes:?}");
    }
    for notes in [
        "- A bug.",
        "* A bug.",
        "+ A bug.",
        "1. A bug.",
        "### Fixed\n- A bug.",
        "<!-- note -->\n- A bug.",
        "- `TBD` markers in the docs are gone.",
    ] {
        assert!(lists_changes(notes), "{notes:?}");
    }
}

#[test]
fn a_placeholder_only_release_section_is_refused() {
    for placeholder in ["*No changes yet.*", "TBD", "- ", "---", "<!-- - soon -->"] {
        let changelog = GOOD.replace("### Fixed\n- A bug.\n", &format!("{placeholder}\n"));
        assert_eq!(
            problems("v1.2.3", &changelog, Some("1.2.3")),
            ["the 1.2.3 section lists no changes"],
            "{placeholder:?}"
        );
    }
}

#[test]
fn a_tag_is_refused_while_unreleased_lists_changes() {
    let pending = GOOD.replace(
        "## [Unreleased]\n",
        "## [Unreleased]\n\n### Added\n- Next thing.\n",
    );
    let errors = check("v1.2.3", &pending, Some(&v("1.2.3"))).unwrap_err();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0].problem, "`## [Unreleased]` still lists changes");
    assert!(
        errors[0].fix.contains("release-check prepare v1.2.3"),
        "{}",
        errors[0].fix
    );
    // A placeholder there is not a change.
    let placeholder = GOOD.replace(
        "## [Unreleased]\n",
        "## [Unreleased]\n\n*No changes yet.*\n",
    );
    assert_eq!(check("v1.2.3", &placeholder, Some(&v("1.2.3"))), Ok(()));
}

#[test]
fn production_takes_plain_releases_only() {
    assert_eq!(production_version("v1.2.3"), Ok(v("1.2.3")));
    for tag in ["v1.2.3-rc.1", "v1.2.3+build.5", "v1.2.3-rc.1+b"] {
        let error = production_version(tag).unwrap_err();
        assert!(
            error.problem.contains("not a plain release"),
            "{tag}: {error}"
        );
        assert!(error.fix.contains("v1.2.3"), "{tag}: {error}");
    }
    // Not a release tag at all: the SemVer refusal, not the Production one.
    assert!(production_version("v1.2.3-rc.01")
        .unwrap_err()
        .problem
        .contains("not SemVer 2.0.0"));
}

#[test]
fn changes_under_any_spelling_of_unreleased_are_refused() {
    for heading in ["## [unreleased]", "## [UNRELEASED]", "## [Next]"] {
        let pending = GOOD.replace(
            "## [Unreleased]",
            &format!("{heading}\n\n- An unshipped change."),
        );
        let errors = problems("v1.2.3", &pending, Some("1.2.3"));
        assert_eq!(errors.len(), 1, "{heading}: {errors:?}");
        assert!(
            errors[0].ends_with("still lists changes"),
            "{heading}: {errors:?}"
        );
    }
}

#[test]
fn a_section_dated_after_today_is_refused() {
    let future = GOOD.replace("## [1.2.3] - 2026-11-20", "## [1.2.3] - 2099-12-31");
    assert_eq!(
        problems("v1.2.3", &future, Some("1.2.3")),
        vec!["the 1.2.3 section is dated 2099-12-31, after today".to_owned()]
    );
}
