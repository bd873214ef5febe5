//! The structure the release flow relies on in Dockerfile and the Render Blueprints (render.yaml:
//! Dev and Staging; render.production.yaml: Production), checked with the
//! project's own types (Render's full schema is checked by hand; see docs/RELEASE_FLOW.md).

use serde::Deserialize;

fn read(path: &str) -> String {
    std::fs::read_to_string(format!("{}/../../{path}", env!("CARGO_MANIFEST_DIR")))
        .unwrap_or_else(|e| panic!("{path}: {e}"))
}

#[derive(Deserialize)]
struct Blueprint {
    services: Vec<Service>,
    databases: Vec<Database>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Service {
    name: String,
    #[serde(rename = "type")]
    kind: String,
    runtime: String,
    branch: Option<String>,
    auto_deploy_trigger: Option<String>,
    health_check_path: Option<String>,
    max_shutdown_delay_seconds: Option<u64>,
    pre_deploy_command: Option<String>,
    scaling: Option<Scaling>,
    #[serde(default)]
    env_vars: Vec<serde_yaml_ng::Value>,
    build_command: Option<String>,
    static_publish_path: Option<String>,
    #[serde(default)]
    routes: Vec<serde_yaml_ng::Value>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Scaling {
    min_instances: u32,
    max_instances: u32,
    target_c_p_u_percent: Option<u32>,
    target_memory_percent: Option<u32>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Database {
    name: String,
    postgres_major_version: Option<String>,
    ip_allow_list: Option<Vec<serde_yaml_ng::Value>>,
}

const BLUEPRINTS: [&str; 2] = ["render.yaml", "render.production.yaml"];

fn parse(path: &str) -> Blueprint {
    serde_yaml_ng::from_str(&read(path)).unwrap_or_else(|e| panic!("{path} parses: {e}"))
}

/// Both Blueprints' resources, as one project.
fn blueprint() -> Blueprint {
    let mut all = Blueprint {
        services: Vec::new(),
        databases: Vec::new(),
    };
    for path in BLUEPRINTS {
        let b = parse(path);
        all.services.extend(b.services);
        all.databases.extend(b.databases);
    }
    all
}

fn env_value<'a>(service: &'a Service, key: &str) -> Option<&'a serde_yaml_ng::Value> {
    service
        .env_vars
        .iter()
        .find(|v| v["key"].as_str() == Some(key))
}

const ENVIRONMENTS: [(&str, &str, Option<&str>, &str); 3] = [
    ("-dev", "development", Some("main"), "checksPass"),
    ("-staging", "staging", Some("staging"), "checksPass"),
    ("", "production", None, "off"),
];

#[test]
fn each_environment_has_an_api_health_checked_on_health_and_draining_within_render_s_delay() {
    let blueprint = blueprint();
    for (suffix, app_env, branch, trigger) in ENVIRONMENTS {
        let api = blueprint
            .services
            .iter()
            .find(|s| s.name == format!("release-flow-api{suffix}"))
            .expect("API service");
        assert_eq!((api.kind.as_str(), api.runtime.as_str()), ("web", "docker"));
        assert_eq!(api.health_check_path.as_deref(), Some("/health"));
        assert_eq!(api.branch.as_deref(), branch, "{}", api.name);
        assert_eq!(
            api.auto_deploy_trigger.as_deref(),
            Some(trigger),
            "{}",
            api.name
        );
        assert_eq!(api.pre_deploy_command.as_deref(), Some("/app/api migrate"));
        assert_eq!(
            env_value(api, "APP_ENV").and_then(|v| v["value"].as_str()),
            Some(app_env)
        );
        assert_eq!(
            env_value(api, "SESSION_SECRET").and_then(|v| v["generateValue"].as_bool()),
            Some(true)
        );
        let db = env_value(api, "DATABASE_URL").expect("DATABASE_URL");
        assert_eq!(
            db["fromDatabase"]["property"].as_str(),
            Some("connectionString")
        );
        assert!(blueprint
            .databases
            .iter()
            .any(|d| Some(d.name.as_str()) == db["fromDatabase"]["name"].as_str()));
        // Render's SIGKILL must come after the app's own deadline.
        let shutdown: u64 = env_value(api, "SHUTDOWN_TIMEOUT_SECS")
            .and_then(|v| v["value"].as_u64())
            .unwrap_or(25);
        assert!(
            api.max_shutdown_delay_seconds
                .expect("maxShutdownDelaySeconds")
                > shutdown,
            "{}",
            api.name
        );
    }
}

#[test]
fn production_autoscales_one_to_four_at_60_cpu_70_memory() {
    let blueprint = blueprint();
    let prod = blueprint
        .services
        .iter()
        .find(|s| s.name == "release-flow-api")
        .unwrap();
    let scaling = prod.scaling.as_ref().expect("scaling");
    assert_eq!((scaling.min_instances, scaling.max_instances), (1, 4));
    assert_eq!(
        (scaling.target_c_p_u_percent, scaling.target_memory_percent),
        (Some(60), Some(70))
    );
}

#[test]
fn each_environment_has_a_static_site_pointing_at_its_api() {
    let blueprint = blueprint();
    for (suffix, _, branch, _) in ENVIRONMENTS {
        let site = blueprint
            .services
            .iter()
            .find(|s| s.name == format!("release-flow-web{suffix}"))
            .expect("static site");
        assert_eq!(
            (site.kind.as_str(), site.runtime.as_str()),
            ("web", "static")
        );
        assert_eq!(site.branch.as_deref(), branch);
        assert_eq!(site.static_publish_path.as_deref(), Some("./frontend/dist"));
        assert!(site
            .build_command
            .as_deref()
            .is_some_and(|c| c.contains("npm run build:static")));
        // Same origin: the page calls its own /api, which the site proxies to the API.
        assert_eq!(
            env_value(site, "VITE_API_BASE").and_then(|v| v["value"].as_str()),
            Some("")
        );
        let api = format!("https://release-flow-api{suffix}.onrender.com/api/*");
        let proxy = site
            .routes
            .iter()
            .position(|r| r["source"].as_str() == Some("/api/*"))
            .expect("an /api/* route");
        assert_eq!(site.routes[proxy]["type"].as_str(), Some("rewrite"));
        assert_eq!(
            site.routes[proxy]["destination"].as_str(),
            Some(api.as_str())
        );
        let fallback = site
            .routes
            .iter()
            .position(|r| r["source"].as_str() == Some("/*"))
            .expect("the SPA fallback");
        assert!(
            proxy < fallback,
            "{}: /api/* must come before /*",
            site.name
        );
    }
}

#[test]
fn production_lives_only_in_its_own_blueprint_so_main_never_syncs_it() {
    let dev = parse("render.yaml");
    let prod = parse("render.production.yaml");
    let names = |b: &Blueprint| -> Vec<String> {
        b.services
            .iter()
            .map(|s| s.name.clone())
            .chain(b.databases.iter().map(|d| d.name.clone()))
            .collect()
    };
    assert_eq!(
        names(&prod),
        ["release-flow-api", "release-flow-web", "release-flow-db"]
    );
    for name in names(&dev) {
        assert!(
            name.ends_with("-dev") || name.ends_with("-staging"),
            "render.yaml holds {name}, which is not Dev or Staging"
        );
    }
    for s in &prod.services {
        assert_eq!(s.auto_deploy_trigger.as_deref(), Some("off"), "{}", s.name);
    }
}

#[test]
fn every_api_declares_its_metrics_token_and_every_database_is_pinned_and_private() {
    let blueprint = blueprint();
    for api in blueprint.services.iter().filter(|s| s.runtime == "docker") {
        let token = env_value(api, "METRICS_TOKEN").expect("METRICS_TOKEN");
        assert!(
            token["generateValue"].as_bool() == Some(true)
                || token["sync"].as_bool() == Some(false),
            "{}",
            api.name
        );
    }
    assert_eq!(blueprint.databases.len(), 3);
    for db in &blueprint.databases {
        // Render's default is the latest major, immutable afterwards; the tests run on 15.
        assert_eq!(
            db.postgres_major_version.as_deref(),
            Some("15"),
            "{}",
            db.name
        );
        // [] = reachable on Render's private network only.
        assert_eq!(
            db.ip_allow_list.as_deref().map(<[_]>::len),
            Some(0),
            "{}",
            db.name
        );
    }
}

#[test]
fn the_dockerfile_builds_with_the_pinned_toolchain_and_runs_unprivileged_in_exec_form() {
    let dockerfile = read("Dockerfile");
    let toolchain = read("rust-toolchain.toml");
    let channel = toolchain
        .lines()
        .find_map(|l| l.strip_prefix("channel = "))
        .unwrap()
        .trim_matches('"');
    assert!(
        dockerfile.contains(&format!("ARG RUST_VERSION={channel}")),
        "Dockerfile and rust-toolchain.toml disagree"
    );
    let user = dockerfile
        .lines()
        .rfind(|l| l.starts_with("USER "))
        .expect("a USER line");
    assert!(!user.contains("root") && !user.contains(" 0"), "{user}");
    let cmd = dockerfile
        .lines()
        .rfind(|l| l.starts_with("CMD "))
        .expect("a CMD line");
    assert!(
        cmd.starts_with("CMD [\""),
        "exec form, so SIGTERM reaches the process: {cmd}"
    );
    assert!(
        dockerfile.contains("FROM node:") && dockerfile.contains("cargo chef cook"),
        "frontend and cached Rust stages"
    );
    let ignore = read(".dockerignore");
    assert!(
        !ignore
            .lines()
            .filter(|l| !l.starts_with('#'))
            .any(|l| l.contains("migrations")),
        "migrations are embedded at build time"
    );
}
