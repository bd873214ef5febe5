//! The parts of a Render Blueprint (`render.yaml`) the policy governs: a static site's `headers`
//! and `routes`. Everything else in the file is left to Render's own schema.

use serde::Deserialize;

/// A Blueprint, as far as the policy reads it (render.com/docs/blueprint-spec).
#[derive(Debug, Deserialize)]
pub struct Blueprint {
    /// `services`; databases and environment groups are not read.
    #[serde(default)]
    pub services: Vec<Service>,
}

/// One service of a Blueprint.
#[derive(Debug, Deserialize)]
pub struct Service {
    /// The service name (`release-flow-web`).
    pub name: String,
    /// `type`: `web` (a static site too), `pserv`, `worker`, ….
    #[serde(rename = "type")]
    pub kind: Option<String>,
    /// `runtime`: `static` for a static site, `docker`, ….
    pub runtime: Option<String>,
    /// A static site's response `headers`.
    #[serde(default)]
    pub headers: Vec<StaticHeader>,
    /// A static site's `routes` (rewrites and redirects), in order.
    #[serde(default)]
    pub routes: Vec<StaticRoute>,
    /// `envVars`: only the `{key, value}` entries matter here.
    #[serde(default, rename = "envVars")]
    pub env_vars: Vec<EnvVar>,
}

/// One `envVars` entry; entries without a `value` (`generateValue`, `fromDatabase`, …) have none.
#[derive(Debug, Deserialize)]
pub struct EnvVar {
    /// The variable's name.
    pub key: Option<String>,
    /// Its literal value, when the Blueprint sets one.
    pub value: Option<serde_yaml_ng::Value>,
}

impl Service {
    /// The literal value of the variable `key` (a number as its text), if the Blueprint sets one.
    pub fn env_value(&self, key: &str) -> Option<&str> {
        self.env_vars
            .iter()
            .find(|v| v.key.as_deref() == Some(key))
            .and_then(|v| v.value.as_ref())
            .and_then(serde_yaml_ng::Value::as_str)
    }
}

/// A static site's header rule: `path` glob, header `name` and `value`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StaticHeader {
    /// The path glob (`/*`, `/assets/*`).
    pub path: String,
    /// The header name.
    pub name: String,
    /// The header value.
    pub value: String,
}

/// A static site's route: Render applies the first match, after files that exist.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StaticRoute {
    /// `rewrite` (served from `destination`, URL unchanged) or `redirect`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The path matched; `*` and `:placeholders` as Render documents them.
    pub source: String,
    /// A path, or a full URL (a rewrite to another origin proxies to it).
    pub destination: String,
}

/// Parses a Blueprint's YAML.
///
/// # Errors
/// The YAML error, prefixed `not a Blueprint:`.
pub fn parse(text: &str) -> Result<Blueprint, String> {
    serde_yaml_ng::from_str(text).map_err(|e| format!("not a Blueprint: {e}"))
}

impl Blueprint {
    /// The static site named `name`.
    ///
    /// # Errors
    /// No service has that name, or it is not a static site.
    pub fn static_site(&self, name: &str) -> Result<&Service, String> {
        let service = self
            .services
            .iter()
            .find(|s| s.name == name)
            .ok_or_else(|| format!("no service named {name:?}"))?;
        if service.runtime.as_deref() != Some("static") || service.kind.as_deref() != Some("web") {
            return Err(format!(
                "service {name:?} is not a static site (type: web, runtime: static)"
            ));
        }
        Ok(service)
    }
}
