//! Each validation rule of policy.toml, against the repository's own policy with one change.

use edge_policy::{Policy, EMBEDDED_POLICY};

/// The repository policy with `from` replaced by `to` (which must occur exactly once).
fn changed(from: &str, to: &str) -> String {
    assert_eq!(
        EMBEDDED_POLICY.matches(from).count(),
        1,
        "{from:?} must occur once in policy.toml"
    );
    EMBEDDED_POLICY.replace(from, to)
}

fn error(from: &str, to: &str) -> String {
    Policy::from_toml(&changed(from, to))
        .expect_err("should be rejected")
        .to_string()
}

#[test]
fn the_repository_policy_is_valid() {
    let policy = Policy::from_toml(EMBEDDED_POLICY).unwrap();
    for env in ["development", "staging", "production"] {
        policy.environment(env).unwrap();
    }
}

#[test]
fn an_unknown_key_is_rejected_with_its_line() {
    let e = error(
        "x_frame_options = \"DENY\"",
        "x_frame_options = \"DENY\"\nx_powered_by = \"me\"",
    );
    assert!(e.contains("unknown field `x_powered_by`"), "{e}");
    assert!(e.starts_with("line "), "{e}");
}

#[test]
fn an_invalid_header_value_is_rejected() {
    let e = error(
        "referrer_policy = \"strict-origin-when-cross-origin\"",
        "referrer_policy = \"caf\u{e9}\"",
    );
    assert!(e.starts_with("headers.referrer_policy: "), "{e}");
}

#[test]
fn an_unknown_csp_directive_is_rejected() {
    let e = error("img-src = [\"'self'\"]", "image-src = [\"'self'\"]");
    assert_eq!(
        e,
        "csp.document.image-src: is not a CSP directive this policy knows"
    );
}

#[test]
fn unsafe_inline_scripts_are_refused() {
    let e = error(
        "script-src = [\"'self'\"]",
        "script-src = [\"'self'\", \"'unsafe-inline'\"]",
    );
    assert!(
        e.starts_with("csp.document.script-src: 'unsafe-inline' would let injected scripts run"),
        "{e}"
    );
}

#[test]
fn an_unquoted_keyword_is_caught() {
    let e = error("object-src = [\"'none'\"]", "object-src = [\"none\"]");
    assert_eq!(
        e,
        "csp.document.object-src: \"none\" must be quoted: \"'none'\""
    );
}

#[test]
fn preload_below_one_year_is_rejected() {
    let policy = changed("preload = false", "preload = true")
        .replace("include_subdomains = false", "include_subdomains = true");
    let e = Policy::from_toml(&policy.replace("max_age = 31536000", "max_age = 86400"))
        .unwrap_err()
        .to_string();
    assert_eq!(
        e,
        "hsts.max_age: 86400 is below one year (31536000), which preload requires"
    );
}

#[test]
fn preload_without_subdomains_is_rejected() {
    assert_eq!(
        error("preload = false", "preload = true"),
        "hsts.include_subdomains: preload requires include_subdomains = true"
    );
}

#[test]
fn an_absolute_redirect_target_is_rejected() {
    let e = error("to = \"/\"", "to = \"https://elsewhere.example/\"");
    assert!(
        e.starts_with("redirects[0].to: \"https://elsewhere.example/\" must be a relative path"),
        "{e}"
    );
}

#[test]
fn a_non_portable_redirect_status_is_rejected() {
    assert_eq!(
        error("status = 301", "status = 308"),
        "redirects[0].status: 308 is not portable; expected 301"
    );
}

#[test]
fn a_wildcard_frontend_origin_is_rejected() {
    let e = error(
        "frontend_origins = [\"https://release-flow-web.onrender.com\"]",
        "frontend_origins = [\"https://*.onrender.com\"]",
    );
    assert!(
        e.starts_with("environments.production.frontend_origins[0]: "),
        "{e}"
    );
}

#[test]
fn plain_http_api_origin_is_rejected_outside_development() {
    let e = error(
        "api_origin = \"https://release-flow-api.onrender.com\"",
        "api_origin = \"http://release-flow-api.onrender.com\"",
    );
    assert_eq!(
        e,
        "environments.production.api_origin: must be https outside development"
    );
}

#[test]
fn a_missing_environment_is_named() {
    let e = error("[environments.staging]", "[environments.qa]");
    assert!(
        e.starts_with("environments.staging: missing") || e.starts_with("environments.qa"),
        "{e}"
    );
}

#[test]
fn a_malformed_forwarded_for_network_is_named() {
    let e = error(
        "forwarded_for_hops = 0\n",
        "forwarded_for_hops = 1\nforwarded_for_networks = [\"10.0.0.0/8\", \"10.0.0.300/8\"]\n",
    );
    assert!(
        e.starts_with("environments.development.forwarded_for_networks[1]: \"10.0.0.300/8\" is not a network; expected CIDR notation"),
        "{e}"
    );
}

#[test]
fn forwarded_for_networks_need_hops_to_read_from() {
    let e = error(
        "forwarded_for_hops = 0\n",
        "forwarded_for_hops = 0\nforwarded_for_networks = [\"10.0.0.0/8\"]\n",
    );
    assert!(
        e.starts_with("environments.development.forwarded_for_networks: needs forwarded_for_hops of at least 1"),
        "{e}"
    );
}
