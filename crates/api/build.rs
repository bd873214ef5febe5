//! Records the git commit the binary was built from, so `/api/health` can report a `releaseId`
//! even where `RENDER_GIT_COMMIT` is not set. `GIT_COMMIT` overrides it (the Docker build has no `.git`).
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=GIT_COMMIT");
    println!("cargo:rerun-if-changed=../../.git/HEAD");
    println!("cargo:rerun-if-changed=../../.git/refs");
    let commit = std::env::var("GIT_COMMIT")
        .ok()
        .filter(|c| !c.is_empty())
        .or_else(|| {
            Command::new("git")
                .args(["rev-parse", "HEAD"])
                .output()
                .ok()
                .filter(|o| o.status.success())
                .and_then(|o| String::from_utf8(o.stdout).ok())
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty())
        });
    if let Some(commit) = commit {
        println!("cargo:rustc-env=BUILD_GIT_COMMIT={commit}");
    }
}
