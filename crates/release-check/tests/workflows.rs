//! The GitHub workflows' safety rules, read from the files: every action pinned by commit SHA
//! with its version in a comment, read-only default permissions, no `${{ }}` expression inside a
//! shell script (a tag or branch name would run as code), and the Render key and the checklist
//! password only in the environment of the steps that use them.

use serde_yaml_ng::Value;

fn read(name: &str) -> (String, Value) {
    let path = format!(
        "{}/../../.github/workflows/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let yaml = serde_yaml_ng::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"));
    (text, yaml)
}

const WORKFLOWS: [&str; 2] = ["ci.yml", "release.yml"];

fn steps(workflow: &Value) -> Vec<(String, &Value)> {
    let mut all = Vec::new();
    for (job, body) in workflow["jobs"].as_mapping().unwrap() {
        for step in body["steps"].as_sequence().into_iter().flatten() {
            all.push((job.as_str().unwrap().to_owned(), step));
        }
    }
    all
}

#[test]
fn every_action_is_pinned_by_commit_sha_with_its_version_noted() {
    for name in WORKFLOWS {
        let (text, _) = read(name);
        for line in text.lines().filter(|l| {
            l.trim_start().starts_with("- uses:") || l.trim_start().starts_with("uses:")
        }) {
            let spec = line.split("uses:").nth(1).unwrap().trim();
            if spec.starts_with("./") {
                continue; // a workflow of this repository
            }
            let (action, rest) = spec
                .split_once('@')
                .unwrap_or_else(|| panic!("{name}: {line}"));
            let (sha, comment) = rest
                .split_once(" # v")
                .unwrap_or_else(|| panic!("{name}: no `# vX.Y.Z`: {line}"));
            assert!(
                sha.len() == 40
                    && sha
                        .chars()
                        .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()),
                "{name}: {action} is not pinned by a full commit SHA: {line}"
            );
            assert_eq!(comment.split('.').count(), 3, "{name}: {line}");
        }
    }
}

#[test]
fn default_permissions_are_read_only() {
    for name in WORKFLOWS {
        let (_, yaml) = read(name);
        let permissions = yaml["permissions"]
            .as_mapping()
            .unwrap_or_else(|| panic!("{name}: no permissions"));
        assert_eq!(permissions.len(), 1, "{name}");
        assert_eq!(
            yaml["permissions"]["contents"].as_str(),
            Some("read"),
            "{name}"
        );
        for (job, body) in yaml["jobs"].as_mapping().unwrap() {
            assert!(
                body.get("permissions").is_none(),
                "{name}: job {job:?} widens permissions"
            );
        }
    }
}

#[test]
fn no_expression_is_interpolated_into_a_shell_script() {
    for name in WORKFLOWS {
        let (_, yaml) = read(name);
        for (job, step) in steps(&yaml) {
            if let Some(run) = step["run"].as_str() {
                assert!(
                    !run.contains("${{"),
                    "{name}: job {job}: pass it through env: instead: {run}"
                );
            }
        }
    }
}

#[test]
fn secrets_reach_only_the_steps_that_use_them() {
    for name in WORKFLOWS {
        let (text, yaml) = read(name);
        let mut in_steps = 0;
        for (job, step) in steps(&yaml) {
            let env = serde_yaml_ng::to_string(&step["env"]).unwrap();
            let run = step["run"].as_str().unwrap_or_default();
            if env.contains("secrets.RENDER_API_KEY") {
                assert!(
                    run.contains("scripts/render-deploy.sh"),
                    "{name}: {job}: the Render key in a step that does not deploy: {run}"
                );
                in_steps += 1;
            }
            if env.contains("secrets.RELEASE_CHECK_PASSWORD") {
                assert!(
                    run.contains("release-check") && run.contains("verify"),
                    "{name}: {job}: {run}"
                );
                in_steps += 1;
            }
            assert!(
                step.get("with")
                    .is_none_or(|w| !serde_yaml_ng::to_string(w).unwrap().contains("secrets.")),
                "{name}: {job}: a secret passed to an action"
            );
        }
        // Every mention of a secret in the file is one of those step environments.
        assert_eq!(
            text.matches("secrets.").count(),
            in_steps,
            "{name}: a secret outside a step's env:"
        );
        assert!(yaml["env"].is_null(), "{name}: workflow-level env");
    }
}

#[test]
fn production_deploys_the_api_and_checks_it_before_the_static_site() {
    let (_, yaml) = read("release.yml");
    let runs: Vec<String> = steps(&yaml)
        .into_iter()
        .filter(|(job, _)| job == "deploy")
        .filter_map(|(_, s)| s["run"].as_str().map(str::to_owned))
        .collect();
    let position = |needle: &str| {
        runs.iter()
            .position(|r| r.contains(needle))
            .unwrap_or_else(|| panic!("no step runs {needle}"))
    };
    let api = runs
        .iter()
        .position(|r| r.contains("render-deploy.sh") && r.contains("$SERVICE"))
        .unwrap();
    let verify = position("verify --api \"$API_URL\" --frontend \"$API_URL\"");
    let web = runs
        .iter()
        .rposition(|r| r.contains("render-deploy.sh"))
        .unwrap();
    let verify_all = position("--frontend \"$FRONTEND_URL\"");
    assert!(
        api < verify && verify < web && web < verify_all,
        "{runs:#?}"
    );
    let gate = serde_yaml_ng::to_string(&yaml["jobs"]["gate"]).unwrap();
    assert!(
        gate.contains("--production") && gate.contains("merge-base --is-ancestor"),
        "{gate}"
    );
}

#[test]
fn node_is_22_lts_or_newer() {
    let version =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../.node-version"))
            .unwrap();
    assert!(version.trim().parse::<u32>().unwrap() >= 22, "{version}");
    let (_, ci) = read("ci.yml");
    let setup = steps(&ci)
        .into_iter()
        .find(|(_, s)| {
            s["uses"]
                .as_str()
                .is_some_and(|u| u.starts_with("actions/setup-node@"))
        })
        .unwrap()
        .1;
    assert_eq!(
        setup["with"]["node-version-file"].as_str(),
        Some(".node-version")
    );
}
