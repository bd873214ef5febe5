//! Drift detection: the emitted files, render.yaml's static site and the built index.html
//! against the policy. Each difference is reported with the rule it concerns.

use std::path::Path;

use crate::{
    emit::{self, EmitError, HeaderRule},
    policy::Policy,
    render::{self, StaticHeader, StaticRoute},
};

/// Compares everything the policy drives for `env`; returns one line per difference.
pub fn check(
    policy: &Policy,
    env: &str,
    dist: &Path,
    render_yaml: Option<&Path>,
) -> Result<Vec<String>, EmitError> {
    let mut drift = Vec::new();
    let expected = emit::render_files(policy, env, dist)?;

    for (name, want) in [
        ("_headers", &expected.headers),
        ("_redirects", &expected.redirects),
    ] {
        let path = dist.join(name);
        match std::fs::read_to_string(&path) {
            Err(_) => drift.push(format!(
                "{}: missing; run `edge-policy emit --env {env} --dist {}`",
                path.display(),
                dist.display()
            )),
            Ok(have) if &have != want => {
                let stale_hashes = name == "_headers"
                    && expected
                        .script_hashes
                        .iter()
                        .any(|h| !have.contains(h.as_str()));
                for line in diff_lines(want, &have) {
                    drift.push(format!("{}: {line}", path.display()));
                }
                if stale_hashes {
                    drift.push(format!(
                        "{}: the CSP lacks the hash of an inline script in index.html; re-run emit after every build",
                        path.display()
                    ));
                }
            }
            Ok(_) => {}
        }
    }

    if let Some(render_yaml) = render_yaml {
        let environment = policy.environment(env)?;
        let Some(site) = environment.render_static_site.as_deref() else {
            drift.push(format!("policy.toml: environments.{env}.render_static_site is not set, so render.yaml cannot be checked"));
            return Ok(drift);
        };
        let text = std::fs::read_to_string(render_yaml).map_err(|e| EmitError::File {
            path: render_yaml.to_owned(),
            problem: format!("cannot read it: {e}"),
        })?;
        let blueprint = render::parse(&text).map_err(|problem| EmitError::File {
            path: render_yaml.to_owned(),
            problem,
        })?;
        let file = render_yaml.display();
        match blueprint.static_site(site) {
            Err(problem) => drift.push(format!("{file}: {problem}")),
            Ok(service) => {
                let rules = policy.static_header_rules(env, &expected.script_hashes)?;
                compare_headers(
                    &mut drift,
                    &format!("{file}: service {site}"),
                    &flatten(&rules),
                    &service.headers,
                );
                let want_routes: Vec<StaticRoute> = policy
                    .render_routes()
                    .into_iter()
                    .map(|r| StaticRoute {
                        kind: r.kind.to_owned(),
                        source: r.source,
                        destination: r.destination,
                    })
                    .collect();
                if want_routes != service.routes {
                    drift.push(format!(
                        "{file}: service {site}: routes differ from the policy; expected, in order: {}",
                        want_routes.iter().map(|r| format!("{} {} -> {}", r.kind, r.source, r.destination)).collect::<Vec<_>>().join(", ")
                    ));
                }
            }
        }
    }
    Ok(drift)
}

/// The header rules as Render writes them: one `{path, name, value}` entry per header.
pub fn flatten(rules: &[HeaderRule]) -> Vec<StaticHeader> {
    rules
        .iter()
        .flat_map(|rule| {
            rule.headers.iter().map(|h| StaticHeader {
                path: rule.path.clone(),
                name: h.name.to_owned(),
                value: h.value.clone(),
            })
        })
        .collect()
}

fn compare_headers(
    drift: &mut Vec<String>,
    at: &str,
    want: &[StaticHeader],
    have: &[StaticHeader],
) {
    let same = |a: &StaticHeader, b: &StaticHeader| {
        a.path == b.path && a.name.eq_ignore_ascii_case(&b.name)
    };
    for w in want {
        match have.iter().find(|h| same(h, w)) {
            None => drift.push(format!(
                "{at}: missing header {} on {}: {}",
                w.name, w.path, w.value
            )),
            Some(h) if h.value != w.value => drift.push(format!(
                "{at}: header {} on {} is {:?}; the policy says {:?}",
                w.name, w.path, h.value, w.value
            )),
            Some(_) => {}
        }
    }
    for h in have {
        if !want.iter().any(|w| same(h, w)) {
            drift.push(format!(
                "{at}: header {} on {} is not in the policy",
                h.name, h.path
            ));
        }
    }
}

/// Lines present in only one of the texts, marked `expected` or `unexpected`.
fn diff_lines(want: &str, have: &str) -> Vec<String> {
    let mut out = Vec::new();
    for line in want.lines().filter(|l| !have.lines().any(|h| h == *l)) {
        out.push(format!("expected line missing: {line}"));
    }
    for line in have.lines().filter(|l| !want.lines().any(|w| w == *l)) {
        out.push(format!("unexpected line: {line}"));
    }
    if out.is_empty() {
        out.push("lines are in a different order than the policy gives".to_owned());
    }
    out
}
