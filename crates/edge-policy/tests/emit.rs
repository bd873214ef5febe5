//! The emitted files, Cloudflare's limits, and the drift check against render.yaml.

use std::path::Path;

use edge_policy::{check, emit, Policy, EMBEDDED_POLICY};

const INDEX: &str = "<!doctype html><html><head><script>var inline = 1;</script>\
<script type=\"module\" crossorigin src=\"/assets/index-abc.js\"></script></head><body></body></html>";

fn dist() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("index.html"), INDEX).unwrap();
    dir
}

fn policy() -> Policy {
    Policy::from_toml(EMBEDDED_POLICY).unwrap()
}

fn render_yaml(dir: &Path, policy: &Policy) -> std::path::PathBuf {
    // A Blueprint written the way `edge-policy render-yaml` prints it.
    let hashes = emit::dist_script_hashes(dir).unwrap();
    let mut yaml = String::from("services:\n  - type: web\n    runtime: static\n    name: release-flow-web\n    staticPublishPath: ./frontend/dist\n    headers:\n");
    for h in check::flatten(&policy.static_header_rules("production", &hashes).unwrap()) {
        yaml.push_str(&format!(
            "      - path: {}\n        name: {}\n        value: {:?}\n",
            h.path, h.name, h.value
        ));
    }
    yaml.push_str("    envVars:\n      - key: VITE_API_BASE\n        value: \"\"\n    routes:\n");
    for r in policy.render_routes("production").unwrap() {
        yaml.push_str(&format!(
            "      - type: {}\n        source: {}\n        destination: {}\n",
            r.kind, r.source, r.destination
        ));
    }
    let path = dir.join("render.yaml");
    std::fs::write(&path, yaml).unwrap();
    path
}

fn render_only(yaml: &std::path::PathBuf) -> check::Targets<'_> {
    check::Targets {
        render: std::slice::from_ref(yaml),
        ..check::Targets::default()
    }
}

#[test]
fn security_headers_and_cache_control_never_share_a_rule() {
    let rules = policy().static_header_rules("production", &[]).unwrap();
    let names = |i: usize| rules[i].headers.iter().map(|h| h.name).collect::<Vec<_>>();
    assert_eq!(rules[0].path, "/*");
    assert_eq!(rules[1].path, "/assets/*");
    assert!(!names(0).contains(&"Cache-Control"));
    assert_eq!(names(1), ["Cache-Control"]);
    assert!(names(0).contains(&"Strict-Transport-Security"));
}

#[test]
fn the_csp_carries_the_inline_script_hash_and_the_api_origin() {
    let dist = dist();
    let emitted = emit::emit(&policy(), "production", dist.path(), None).unwrap();
    let csp = emitted
        .headers
        .lines()
        .find(|l| l.contains("Content-Security-Policy"))
        .unwrap();
    assert!(
        csp.contains("script-src 'self' 'sha256-B2yPHKaXnvFWtRChIbabYmUBFZdVfKKXHbWtWidDVF8='"),
        "{csp}"
    );
    assert!(
        csp.contains("connect-src 'self' https://release-flow-api.onrender.com"),
        "{csp}"
    );
    assert!(!csp.contains("unsafe-inline"));
}

#[test]
fn the_redirects_file_has_no_spa_or_https_rule() {
    let text = emit::redirects_file("production", &policy().redirects).unwrap();
    let rules: Vec<_> = text.lines().filter(|l| !l.starts_with('#')).collect();
    assert_eq!(rules, ["/login / 301"]);
}

#[test]
fn a_csp_line_over_cloudflares_limit_is_an_error_not_a_file() {
    let hashes: Vec<String> = (0..40)
        .map(|i| edge_policy::csp::script_hash(&format!("var x{i} = 1;")))
        .collect();
    let rules = policy().static_header_rules("production", &hashes).unwrap();
    let e = emit::headers_file("production", &rules)
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with("the Content-Security-Policy line for /* is"),
        "{e}"
    );
}

#[test]
fn more_than_100_dynamic_redirects_are_refused() {
    let redirects: Vec<_> = (0..101)
        .map(|i| edge_policy::policy::Redirect {
            from: format!("/old{i}/*"),
            to: format!("/new{i}/:splat"),
            status: 301,
        })
        .collect();
    let e = emit::redirects_file("production", &redirects)
        .unwrap_err()
        .to_string();
    assert_eq!(e, "101 dynamic redirects; Cloudflare Pages accepts 100");
}

#[test]
fn check_passes_right_after_emit_and_with_a_matching_render_yaml() {
    let dist = dist();
    let policy = policy();
    emit::emit(&policy, "production", dist.path(), None).unwrap();
    let yaml = render_yaml(dist.path(), &policy);
    assert_eq!(
        check::check(&policy, "production", dist.path(), &render_only(&yaml)).unwrap(),
        Vec::<String>::new()
    );
}

#[test]
fn check_reports_a_new_inline_script_after_emit() {
    let dist = dist();
    let policy = policy();
    emit::emit(&policy, "production", dist.path(), None).unwrap();
    std::fs::write(
        dist.path().join("index.html"),
        INDEX.replace("var inline = 1;", "var inline = 2;"),
    )
    .unwrap();
    let drift = check::check(
        &policy,
        "production",
        dist.path(),
        &check::Targets::default(),
    )
    .unwrap();
    assert!(
        drift
            .iter()
            .any(|d| d.contains("lacks the hash of an inline script")),
        "{drift:?}"
    );
}

#[test]
fn check_reports_a_hand_edited_headers_file() {
    let dist = dist();
    let policy = policy();
    emit::emit(&policy, "production", dist.path(), None).unwrap();
    let path = dist.path().join("_headers");
    let edited = std::fs::read_to_string(&path)
        .unwrap()
        .replace("X-Frame-Options: DENY", "X-Frame-Options: SAMEORIGIN");
    std::fs::write(&path, edited).unwrap();
    let drift = check::check(
        &policy,
        "production",
        dist.path(),
        &check::Targets::default(),
    )
    .unwrap();
    assert!(
        drift
            .iter()
            .any(|d| d.ends_with("unexpected line:   X-Frame-Options: SAMEORIGIN")),
        "{drift:?}"
    );
}

#[test]
fn check_reports_render_yaml_header_and_route_drift() {
    let dist = dist();
    let policy = policy();
    emit::emit(&policy, "production", dist.path(), None).unwrap();
    let yaml = render_yaml(dist.path(), &policy);
    let text = std::fs::read_to_string(&yaml)
        .unwrap()
        .replace("value: \"DENY\"", "value: \"SAMEORIGIN\"")
        .replace("source: /login", "source: /signin");
    std::fs::write(&yaml, text).unwrap();
    let drift = check::check(&policy, "production", dist.path(), &render_only(&yaml)).unwrap();
    assert!(
        drift.iter().any(|d| d
            .contains("header X-Frame-Options on /* is \"SAMEORIGIN\"; the policy says \"DENY\"")),
        "{drift:?}"
    );
    assert!(
        drift
            .iter()
            .any(|d| d.contains("routes differ from the policy")),
        "{drift:?}"
    );
}

#[test]
fn check_reports_a_missing_static_site() {
    let dist = dist();
    let policy = policy();
    emit::emit(&policy, "production", dist.path(), None).unwrap();
    let yaml = dist.path().join("render.yaml");
    std::fs::write(
        &yaml,
        "services:\n  - type: web\n    runtime: docker\n    name: release-flow-api\n",
    )
    .unwrap();
    let drift = check::check(&policy, "production", dist.path(), &render_only(&yaml)).unwrap();
    assert_eq!(
        drift,
        [format!(
            "{}: no service named \"release-flow-web\"",
            yaml.display()
        )]
    );
}

#[test]
fn every_environments_render_site_proxies_api_and_missing_assets_before_the_spa_fallback() {
    let policy = policy();
    for env in ["development", "staging", "production"] {
        let origin = &policy.environment(env).unwrap().api_origin;
        let routes: Vec<(String, String)> = policy
            .render_routes(env)
            .unwrap()
            .into_iter()
            .filter(|r| r.kind == "rewrite")
            .map(|r| (r.source, r.destination))
            .collect();
        // First match wins on Render: the proxies must precede `/*`, or the SPA answers them.
        assert_eq!(
            routes,
            [
                ("/api/*".to_owned(), format!("{origin}/api/*")),
                ("/assets/*".to_owned(), format!("{origin}/assets/*")),
                ("/*".to_owned(), "/index.html".to_owned()),
            ],
            "{env}"
        );
    }
}

#[test]
fn netlify_toml_proxies_api_forced_then_404s_missing_assets_then_falls_back_to_the_spa() {
    let text = emit::netlify_toml(&policy(), "staging").unwrap();
    let parsed: toml::Table = toml::from_str(&text).unwrap();
    let rules: Vec<(String, String, i64, bool)> = parsed["redirects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["from"].as_str().unwrap().to_owned(),
                r["to"].as_str().unwrap().to_owned(),
                r["status"].as_integer().unwrap(),
                r.get("force")
                    .and_then(toml::Value::as_bool)
                    .unwrap_or(false),
            )
        })
        .collect();
    assert_eq!(
        rules,
        [
            (
                "/api/*".into(),
                "https://release-flow-api-staging.onrender.com/api/:splat".into(),
                200,
                true
            ),
            // RFC 9110 §15.5.5: a missing asset is 404 Not Found; not forced, so a file that exists wins.
            ("/assets/*".into(), "/assets/404.html".into(), 404, false),
            ("/*".into(), "/index.html".into(), 200, false),
        ]
    );
}

#[test]
fn emit_writes_the_404_page_and_the_pages_function_and_check_compares_them() {
    let dist = dist();
    let functions = tempfile::tempdir().unwrap();
    let policy = policy();
    emit::emit(&policy, "production", dist.path(), Some(functions.path())).unwrap();
    let page = std::fs::read_to_string(dist.path().join("assets/404.html")).unwrap();
    assert!(
        !page.contains("<script") && !page.contains("style"),
        "{page}"
    );
    let function = std::fs::read_to_string(functions.path().join("api/[[path]].js")).unwrap();
    assert!(function.contains("const API_ORIGIN = \"https://release-flow-api.onrender.com\";"));
    let targets = check::Targets {
        functions: Some(functions.path()),
        ..check::Targets::default()
    };
    assert_eq!(
        check::check(&policy, "production", dist.path(), &targets).unwrap(),
        Vec::<String>::new()
    );
    // The Function of another environment is drift.
    emit::emit(&policy, "staging", dist.path(), Some(functions.path())).unwrap();
    emit::emit(&policy, "production", dist.path(), None).unwrap();
    let drift = check::check(&policy, "production", dist.path(), &targets).unwrap();
    assert!(drift.iter().any(|d| d.contains("[[path]].js")), "{drift:?}");
    std::fs::remove_file(dist.path().join("assets/404.html")).unwrap();
    let drift = check::check(
        &policy,
        "production",
        dist.path(),
        &check::Targets::default(),
    )
    .unwrap();
    assert!(
        drift.iter().any(|d| d.contains("404.html: missing")),
        "{drift:?}"
    );
}

/// Files a static host reads as routing, which the policy does not generate, are drift: each
/// would route around the policy (Cloudflare Pages: a top-level `404.html` ends SPA mode,
/// `_routes.json` and other Functions decide what reaches code).
#[test]
fn routing_files_the_policy_did_not_generate_are_drift() {
    let dist = dist();
    let functions = tempfile::tempdir().unwrap();
    let policy = policy();
    emit::emit(&policy, "production", dist.path(), Some(functions.path())).unwrap();
    let targets = check::Targets {
        functions: Some(functions.path()),
        ..check::Targets::default()
    };
    let clean = check::check(&policy, "production", dist.path(), &targets).unwrap();
    assert_eq!(clean, Vec::<String>::new());
    for (path, needle) in [
        (dist.path().join("404.html"), "SPA fallback off"),
        (dist.path().join("_routes.json"), "_routes.json"),
        (functions.path().join("_middleware.js"), "_middleware.js"),
        (functions.path().join("assets/[[p]].js"), "[[p]].js"),
    ] {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, "x").unwrap();
        let drift = check::check(&policy, "production", dist.path(), &targets).unwrap();
        assert!(
            drift.iter().any(|d| d.contains(needle)),
            "{needle}: {drift:?}"
        );
        std::fs::remove_file(&path).unwrap();
    }
}

#[test]
fn check_reports_a_cross_origin_api_base_and_a_site_in_two_blueprints() {
    let dist = dist();
    let policy = policy();
    emit::emit(&policy, "production", dist.path(), None).unwrap();
    let yaml = render_yaml(dist.path(), &policy);
    let text = std::fs::read_to_string(&yaml).unwrap().replace(
        "value: \"\"",
        "value: https://release-flow-api.onrender.com",
    );
    std::fs::write(&yaml, &text).unwrap();
    let drift = check::check(&policy, "production", dist.path(), &render_only(&yaml)).unwrap();
    assert!(
        drift
            .iter()
            .any(|d| d.contains("VITE_API_BASE is \"https://release-flow-api.onrender.com\"")),
        "{drift:?}"
    );
    let copy = dist.path().join("render.production.yaml");
    std::fs::write(&copy, &text).unwrap();
    let both = [yaml.clone(), copy];
    let targets = check::Targets {
        render: &both,
        ..check::Targets::default()
    };
    let drift = check::check(&policy, "production", dist.path(), &targets).unwrap();
    assert!(
        drift.iter().any(|d| d.contains("more than one Blueprint")),
        "{drift:?}"
    );
}
