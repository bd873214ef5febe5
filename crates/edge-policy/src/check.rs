//! Drift detection: the emitted files, render.yaml's static site and the built index.html
//! against the policy. Each difference is reported with the rule it concerns.

use std::path::Path;

use crate::{
    emit::{self, EmitError, HeaderRule},
    policy::Policy,
    render::{self, StaticHeader, StaticRoute},
};

/// The deploy files `check` compares besides `dist`'s own, each optional.
#[derive(Debug, Default, Clone, Copy)]
pub struct Targets<'a> {
    /// Every Render Blueprint of the project (`render.yaml`, `render.production.yaml`): the
    /// environment's static site must be in exactly one of them and match the policy.
    pub render: &'a [std::path::PathBuf],
    /// The committed `netlify.toml` ([`emit::netlify_toml`]).
    pub netlify: Option<&'a Path>,
    /// The Cloudflare Pages project's `functions/` folder ([`emit::pages_function`]).
    pub functions: Option<&'a Path>,
}

/// Compares everything the policy drives for `env`; returns one line per difference.
///
/// # Errors
/// An unknown environment, an unreadable index.html or Blueprint, or a Blueprint that is not YAML.
pub fn check(
    policy: &Policy,
    env: &str,
    dist: &Path,
    targets: &Targets<'_>,
) -> Result<Vec<String>, EmitError> {
    let mut drift = Vec::new();
    let expected = emit::render_files(policy, env, dist)?;

    let mut generated = vec![
        (dist.join("_headers"), expected.headers.clone()),
        (dist.join("_redirects"), expected.redirects.clone()),
        (
            dist.join(&expected.not_found.0),
            expected.not_found.1.to_owned(),
        ),
    ];
    if let Some(functions) = targets.functions {
        generated.push((
            functions.join(emit::PAGES_FUNCTION_PATH),
            expected.pages_function.clone(),
        ));
    }
    if let Some(netlify) = targets.netlify {
        generated.push((netlify.to_owned(), emit::netlify_toml(policy, env)?));
    }
    for (path, want) in &generated {
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        match std::fs::read_to_string(path) {
            Err(_) => drift.push(format!(
                "{}: missing; run `edge-policy emit --env {env} --dist {}` (netlify.toml: `edge-policy netlify-toml --env {env}`)",
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

    check_foreign_routing(dist, targets.functions, &mut drift);
    if !targets.render.is_empty() {
        check_render(policy, env, &expected, targets.render, &mut drift)?;
    }
    Ok(drift)
}

/// Files a static host reads as routing that the policy does not generate, each of which would
/// route around it: a top-level `404.html` switches Cloudflare Pages out of its SPA mode (deep
/// links become 404s) and Netlify serves it for every miss; `_routes.json` decides which paths
/// reach Pages Functions; any other Function or `_middleware` answers paths of its own.
fn check_foreign_routing(dist: &Path, functions: Option<&Path>, drift: &mut Vec<String>) {
    for (name, why) in [
        ("404.html", "a top-level 404.html turns Cloudflare Pages' SPA fallback off (deep links answer 404); the policy's 404 page is assets/404.html"),
        ("_routes.json", "_routes.json decides which paths reach Pages Functions; the policy generates none"),
    ] {
        if dist.join(name).exists() {
            drift.push(format!("{}: {why}; remove it (frontend/public/ is copied into dist)", dist.join(name).display()));
        }
    }
    let Some(functions) = functions else {
        return;
    };
    let ours = functions.join(emit::PAGES_FUNCTION_PATH);
    let mut stack = vec![functions.to_owned()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if path != ours {
                drift.push(format!(
                    "{}: a Pages Function the policy did not generate answers paths of its own; remove it",
                    path.display()
                ));
            }
        }
    }
}

/// The environment's static site, found in exactly one Blueprint, against the policy: headers,
/// routes in order, and no cross-origin `VITE_API_BASE` (the page calls its own origin).
fn check_render(
    policy: &Policy,
    env: &str,
    expected: &emit::Emitted,
    files: &[std::path::PathBuf],
    drift: &mut Vec<String>,
) -> Result<(), EmitError> {
    let environment = policy.environment(env)?;
    let Some(site) = environment.render_static_site.as_deref() else {
        drift.push(format!("policy.toml: environments.{env}.render_static_site is not set, so the Blueprint cannot be checked"));
        return Ok(());
    };
    let mut found = Vec::new();
    for render_yaml in files {
        let text = std::fs::read_to_string(render_yaml).map_err(|e| EmitError::File {
            path: render_yaml.clone(),
            problem: format!("cannot read it: {e}"),
        })?;
        let blueprint = render::parse(&text).map_err(|problem| EmitError::File {
            path: render_yaml.clone(),
            problem,
        })?;
        if blueprint.services.iter().any(|s| s.name == site) {
            found.push((render_yaml.display().to_string(), blueprint));
        }
    }
    let names = files
        .iter()
        .map(|f| f.display().to_string())
        .collect::<Vec<_>>()
        .join(", ");
    let (file, blueprint) = match found.len() {
        1 => found.remove(0),
        0 => {
            drift.push(format!("{names}: no service named {site:?}"));
            return Ok(());
        }
        _ => {
            // Render: "Do not manage a particular service … with more than one Blueprint".
            drift.push(format!(
                "{names}: service {site:?} is in more than one Blueprint; Render syncs each resource from one"
            ));
            return Ok(());
        }
    };
    let service = match blueprint.static_site(site) {
        Err(problem) => {
            drift.push(format!("{file}: {problem}"));
            return Ok(());
        }
        Ok(service) => service,
    };
    let rules = policy.static_header_rules(env, &expected.script_hashes)?;
    compare_headers(
        drift,
        &format!("{file}: service {site}"),
        &flatten(&rules),
        &service.headers,
    );
    let want_routes: Vec<StaticRoute> = policy
        .render_routes(env)?
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
            want_routes
                .iter()
                .map(|r| format!("{} {} -> {}", r.kind, r.source, r.destination))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    // Render keeps a variable removed from the Blueprint, so same origin is an explicit "".
    match service.env_value("VITE_API_BASE") {
        Some("") => {}
        Some(other) => drift.push(format!(
            "{file}: service {site}: VITE_API_BASE is {other:?}; the page calls its own origin (\"\"), which proxies /api/* to the API"
        )),
        None => drift.push(format!(
            "{file}: service {site}: VITE_API_BASE is not set; set it to \"\" (Render keeps an old value when the key is removed)"
        )),
    }
    Ok(())
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
