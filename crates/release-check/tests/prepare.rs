//! `release-check prepare` on a scratch git repository: a two-member Cargo workspace with a lock
//! file written by cargo and a Keep a Changelog file, released as the command line would.

use std::{path::Path, process::Command};

const CHANGELOG: &str = "\
# Changelog

Intro.

## [Unreleased]

### Added
- Next thing.

### Fixed
- A bug.

## [0.1.0] - 2026-11-26

- First.

[Unreleased]: https://github.com/o/r/compare/v0.1.0...HEAD
[0.1.0]: https://github.com/o/r/releases/tag/v0.1.0
";

const PREPARED: &str = "\
# Changelog

Intro.

## [Unreleased]

## [0.2.0] - 2026-12-06

### Added
- Next thing.

### Fixed
- A bug.

## [0.1.0] - 2026-11-26

- First.

[Unreleased]: https://github.com/o/r/compare/v0.2.0...HEAD
[0.2.0]: https://github.com/o/r/compare/v0.1.0...v0.2.0
[0.1.0]: https://github.com/o/r/releases/tag/v0.1.0
";

fn run(dir: &Path, program: &str, args: &[&str]) -> std::process::Output {
    Command::new(program)
        .args(args)
        .current_dir(dir)
        .env("GIT_AUTHOR_NAME", "t")
        .env("GIT_AUTHOR_EMAIL", "t@example.com")
        .env("GIT_COMMITTER_NAME", "t")
        .env("GIT_COMMITTER_EMAIL", "t@example.com")
        .output()
        .unwrap_or_else(|e| panic!("{program}: {e}"))
}

fn ok(dir: &Path, program: &str, args: &[&str]) -> String {
    let out = run(dir, program, args);
    assert!(
        out.status.success(),
        "{program} {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn cargo() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".into())
}

/// A committed workspace at 0.1.0: members `a` and `b` (b depends on a), lock from cargo.
fn scratch(changelog: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let write = |path: &str, text: &str| {
        let path = root.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    };
    write(
        "Cargo.toml",
        "[workspace]\nresolver = \"2\"\nmembers = [\"crates/a\", \"crates/b\"]\n\n\
         [workspace.package]\n# The release version.\nversion = \"0.1.0\"\nedition = \"2021\"\n",
    );
    write(
        "crates/a/Cargo.toml",
        "[package]\nname = \"a\"\nversion.workspace = true\nedition.workspace = true\n",
    );
    write(
        "crates/b/Cargo.toml",
        "[package]\nname = \"b\"\nversion.workspace = true\nedition.workspace = true\n\n\
         [dependencies]\na = { path = \"../a\" }\n",
    );
    write("crates/a/src/lib.rs", "");
    write("crates/b/src/lib.rs", "");
    write("CHANGELOG.md", changelog);
    ok(root, &cargo(), &["generate-lockfile", "--offline"]);
    ok(root, "git", &["init", "-q", "-b", "main"]);
    ok(root, "git", &["add", "-A"]);
    ok(root, "git", &["commit", "-q", "-m", "start"]);
    dir
}

fn prepare(root: &Path, args: &[&str]) -> std::process::Output {
    let mut all = vec!["prepare"];
    all.extend_from_slice(args);
    run(root, env!("CARGO_BIN_EXE_release-check"), &all)
}

fn read(root: &Path, path: &str) -> String {
    std::fs::read_to_string(root.join(path)).unwrap()
}

#[test]
fn prepare_cuts_the_release_and_the_printed_commands_finish_it() {
    let dir = scratch(CHANGELOG);
    let root = dir.path();
    let out = prepare(root, &["v0.2.0", "--date", "2026-12-06"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );

    assert_eq!(read(root, "CHANGELOG.md"), PREPARED);
    let manifest = read(root, "Cargo.toml");
    assert!(
        manifest.contains("# The release version.\nversion = \"0.2.0\"\n"),
        "{manifest}"
    );
    // cargo agrees the lock matches the manifests: both members at 0.2.0, nothing else changed.
    let metadata = ok(
        root,
        &cargo(),
        &["metadata", "--locked", "--offline", "--format-version", "1"],
    );
    let metadata: serde_json::Value = serde_json::from_str(&metadata).unwrap();
    let versions: Vec<_> = metadata["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            format!(
                "{} {}",
                p["name"].as_str().unwrap(),
                p["version"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(versions, ["a 0.2.0", "b 0.2.0"]);
    let diff = ok(root, "git", &["diff", "--stat"]);
    assert!(diff.contains("3 files changed"), "{diff}");

    // The printed commands, as printed (less the pushes: the scratch repository has no remote).
    let commands: Vec<&str> = stdout
        .lines()
        .filter_map(|l| l.strip_prefix("  "))
        .collect();
    assert_eq!(
        commands,
        [
            "git commit -m \"Release 0.2.0\" -- CHANGELOG.md Cargo.toml Cargo.lock",
            "git push origin HEAD",
            "git tag -a v0.2.0 -m \"Release 0.2.0\"",
            "git push origin v0.2.0",
        ]
    );
    for command in [commands[0], commands[2]] {
        ok(root, "sh", &["-c", command]);
    }
    assert_eq!(ok(root, "git", &["status", "--porcelain"]), "");
    // The release gate, as the release workflow runs it, passes on the tagged commit.
    ok(
        root,
        env!("CARGO_BIN_EXE_release-check"),
        &["changelog", "--tag", "v0.2.0", "--production"],
    );
    // And the same version cannot be prepared twice.
    let again = prepare(root, &["v0.2.0", "--date", "2026-12-06"]);
    assert!(!again.status.success());
}

#[test]
fn prepare_refuses_and_writes_nothing() {
    let empty = CHANGELOG.replace(
        "### Added\n- Next thing.\n\n### Fixed\n- A bug.\n",
        "### Added\n\n",
    );
    let placeholder = CHANGELOG.replace(
        "### Added\n- Next thing.\n\n### Fixed\n- A bug.\n",
        "*No changes yet.*\n\n- TBD\n\n---\n",
    );
    let cases: [(&str, &[&str], &str); 7] = [
        (&empty, &["v0.2.0"], "lists no changes"),
        (&placeholder, &["v0.2.0"], "lists no changes"),
        (
            CHANGELOG,
            &["v0.1.0"],
            "not greater than the workspace version 0.1.0",
        ),
        (CHANGELOG, &["v0.0.9"], "not greater"),
        (CHANGELOG, &["v0.2.0-rc.1"], "not a plain release"),
        (CHANGELOG, &["0.2.0"], "does not start with 'v'"),
        (
            CHANGELOG,
            &["v0.2.0", "--date", "6.12.2026"],
            "expected YYYY-MM-DD",
        ),
    ];
    for (changelog, args, expected) in cases {
        let dir = scratch(changelog);
        let out = prepare(dir.path(), args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} was accepted");
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
        assert_eq!(
            ok(dir.path(), "git", &["status", "--porcelain"]),
            "",
            "{args:?}"
        );
    }

    // A release greater than the workspace version but not than the changelog's last.
    let ahead = CHANGELOG.replace(
        "## [0.1.0]",
        "## [0.3.0] - 2026-11-30\n\n- Later.\n\n## [0.1.0]",
    );
    let dir = scratch(&ahead);
    let stderr = String::from_utf8_lossy(&prepare(dir.path(), &["v0.2.0"]).stderr).into_owned();
    assert!(
        stderr.contains("not greater than the last release in CHANGELOG.md, 0.3.0"),
        "{stderr}"
    );

    // Uncommitted edits to the files it rewrites.
    let dir = scratch(CHANGELOG);
    std::fs::write(dir.path().join("Cargo.lock"), "# edited\n").unwrap();
    let stderr = String::from_utf8_lossy(&prepare(dir.path(), &["v0.2.0"]).stderr).into_owned();
    assert!(
        stderr.contains("uncommitted changes in Cargo.lock"),
        "{stderr}"
    );
}
