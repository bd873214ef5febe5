//! The parts of a Render Blueprint (`render.yaml`) the policy governs: a static site's `headers`
//! and `routes`. Everything else in the file is left to Render's own schema.

use serde::Deserialize;

#[derive(Debug, Deserialize)]
pub struct Blueprint {
    #[serde(default)]
    pub services: Vec<Service>,
}

#[derive(Debug, Deserialize)]
pub struct Service {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub runtime: Option<String>,
    #[serde(default)]
    pub headers: Vec<StaticHeader>,
    #[serde(default)]
    pub routes: Vec<StaticRoute>,
    /// `envVars`: only the `{key, value}` entries matter here.
    #[serde(default, rename = "envVars")]
    pub env_vars: Vec<EnvVar>,
}

/// One `envVars` entry; entries without a `value` (`generateValue`, `fromDatabase`, …) have none.
#[derive(Debug, Deserialize)]
pub struct EnvVar {
    pub key: Option<String>,
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

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StaticHeader {
    pub path: String,
    pub name: String,
    pub value: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StaticRoute {
    #[serde(rename = "type")]
    pub kind: String,
    pub source: String,
    pub destination: String,
}

pub fn parse(text: &str) -> Result<Blueprint, String> {
    serde_yaml_ng::from_str(text).map_err(|e| format!("not a Blueprint: {e}"))
}

impl Blueprint {
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
