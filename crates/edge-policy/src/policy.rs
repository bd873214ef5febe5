//! The policy model: `policy.toml` parsed strictly (unknown keys are errors) and validated, so a
//! mistake is reported with the key that holds it before any header is computed.
//!
//! Over 400 lines: the model and its validation rules belong together, so each key's type, doc
//! and check sit side by side; most of the length is validation, one rule per key.

use std::{collections::BTreeMap, fmt, path::Path};

use serde::Deserialize;

/// A policy that failed to load, naming the key at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{key}: {problem}")]
pub struct PolicyError {
    /// The key at fault (`environments.production.api_origin`, `csp.document`), or `line N` for a
    /// TOML syntax error.
    pub key: String,
    /// What is wrong and what is expected.
    pub problem: String,
}

impl PolicyError {
    /// An error for `key`.
    pub fn new(key: impl Into<String>, problem: impl Into<String>) -> Self {
        Self {
            key: key.into(),
            problem: problem.into(),
        }
    }
}

/// The environments `APP_ENV` can name; the policy must describe each one.
pub const ENVIRONMENTS: [&str; 3] = ["development", "staging", "production"];

/// HSTS max-age hstspreload.org requires, and the minimum once `preload` is on.
pub const ONE_YEAR: u64 = 31_536_000;

/// The whole of `policy.toml` (docs/SECURITY_POLICY.md documents every key).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    /// `[hsts]`.
    pub hsts: Hsts,
    /// `[headers]`: sent on every response class.
    pub headers: CommonHeaders,
    /// `[document_headers]`: documents and assets only.
    pub document_headers: DocumentHeaders,
    /// `[csp.document]` and `[csp.api]`.
    pub csp: CspPolicies,
    /// `[cache]`: `Cache-Control` per response class.
    pub cache: Cache,
    /// `[assets]`: where the content-hashed files live.
    pub assets: Assets,
    /// `[[redirects]]`: path redirects every origin applies.
    #[serde(default)]
    pub redirects: Vec<Redirect>,
    /// `[environments.NAME]`, one per [`ENVIRONMENTS`] entry.
    pub environments: BTreeMap<String, Environment>,
}

/// `Strict-Transport-Security` (RFC 6797 §6.1), sent on HTTPS responses only.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Hsts {
    /// `max-age`, in seconds; at least [`ONE_YEAR`] with `preload`.
    pub max_age: u64,
    /// `includeSubDomains`: a one-way door for every subdomain.
    pub include_subdomains: bool,
    /// `preload`: asks for the browsers' preload lists (hstspreload.org).
    pub preload: bool,
}

/// `[headers]`: sent on every response class.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommonHeaders {
    /// `X-Content-Type-Options` (`nosniff`).
    pub x_content_type_options: String,
    /// `Referrer-Policy`.
    pub referrer_policy: String,
    /// `Cross-Origin-Resource-Policy`.
    pub cross_origin_resource_policy: String,
    /// `X-Frame-Options`, for browsers without CSP `frame-ancestors`; omitted when absent.
    #[serde(default)]
    pub x_frame_options: Option<String>,
}

/// `[document_headers]`: they govern a browsing context, which only documents and assets create.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DocumentHeaders {
    /// `Permissions-Policy`.
    pub permissions_policy: String,
    /// `Cross-Origin-Opener-Policy`.
    pub cross_origin_opener_policy: String,
}

/// `[csp.document]` and `[csp.api]`: directive name to sources.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CspPolicies {
    /// For HTML documents; `emit` adds inline-script hashes and the API origin.
    pub document: Directives,
    /// For JSON responses: nothing renders.
    pub api: Directives,
}

/// CSP directives in file order, each with its source list.
#[derive(Debug, Clone, Default)]
pub struct Directives(pub Vec<(String, Vec<String>)>);

impl<'de> Deserialize<'de> for Directives {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let table = toml::Table::deserialize(d)?;
        let mut out = Vec::with_capacity(table.len());
        for (name, value) in table {
            let sources = match value {
                toml::Value::Array(items) => items
                    .into_iter()
                    .map(|v| match v {
                        toml::Value::String(s) => Ok(s),
                        other => Err(serde::de::Error::custom(format!(
                            "`{name}` sources must be strings, found {}",
                            other.type_str()
                        ))),
                    })
                    .collect::<Result<Vec<_>, _>>()?,
                other => {
                    return Err(serde::de::Error::custom(format!(
                        "`{name}` must be a list of sources, found {}",
                        other.type_str()
                    )))
                }
            };
            out.push((name, sources));
        }
        Ok(Directives(out))
    }
}

/// `[cache]`: `Cache-Control` per response class (RFC 9111 §5.2).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Cache {
    /// Documents (`no-cache`: revalidate every load).
    pub document: String,
    /// Content-hashed assets (`immutable` for a year).
    pub asset: String,
    /// API responses (`no-store`).
    pub api: String,
    /// Redirects.
    pub redirect: String,
}

/// `[assets]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Assets {
    /// URL prefix of the content-hashed files (`/assets/`).
    pub prefix: String,
}

/// A path redirect, `from` → `to` with `status`, in `_redirects` syntax (`*` and `:splat`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Redirect {
    /// The path matched; a trailing `*` matches the rest.
    pub from: String,
    /// The relative target; `:splat` carries what `*` matched.
    pub to: String,
    /// 301 only (the one status Render's static sites support).
    pub status: u16,
}

/// `[environments.NAME]`: what differs between development, staging and production.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Environment {
    /// The API's origin: the HTTPS redirect target, the static hosts' `/api/*` proxy target.
    pub api_origin: String,
    /// Origins allowed to call the API with credentials (CORS); exact, no wildcards.
    #[serde(default)]
    pub frontend_origins: Vec<String>,
    /// Read `X-Forwarded-Proto` as the client's scheme (HTTPS redirect, HSTS). Only behind a
    /// TLS-terminating proxy that overwrites the header.
    pub trust_forwarded_proto: bool,
    /// How many proxies in front of the API append the address they saw to `X-Forwarded-For`:
    /// the client is that many entries from the right (RFC 7239 §5.2 for the list form). `0`
    /// ignores the header and uses the TCP peer.
    #[serde(default)]
    pub forwarded_for_hops: u8,
    /// Networks (CIDR, e.g. `162.158.0.0/15`) of proxies in front of those hops — a static
    /// host's `/api/*` proxy. When the entry `forwarded_for_hops` from the right lies in one of
    /// them, the entry left of it is read instead, and so on (at most
    /// [`MAX_FORWARDED_FOR_HOPS`] entries in all), as nginx's `real_ip_recursive` does: only a
    /// proxy in these networks can name the client, so a caller of the API host cannot.
    #[serde(default)]
    pub forwarded_for_networks: Vec<String>,
    /// The render.yaml (or render.production.yaml) static site serving this environment.
    #[serde(default)]
    pub render_static_site: Option<String>,
}

/// The most proxies `forwarded_for_hops` may name, and the most entries read from the right of
/// `X-Forwarded-For` with `forwarded_for_networks`; a chain longer than this is a mistake.
pub const MAX_FORWARDED_FOR_HOPS: u8 = 8;

/// CSP directives this policy accepts; anything else is a typo until proven otherwise.
const KNOWN_DIRECTIVES: &[&str] = &[
    "default-src",
    "script-src",
    "script-src-elem",
    "script-src-attr",
    "style-src",
    "style-src-elem",
    "style-src-attr",
    "img-src",
    "font-src",
    "connect-src",
    "media-src",
    "object-src",
    "frame-src",
    "child-src",
    "worker-src",
    "manifest-src",
    "base-uri",
    "form-action",
    "frame-ancestors",
    "upgrade-insecure-requests",
    "require-trusted-types-for",
    "trusted-types",
    "sandbox",
    "report-to",
];

/// Sources that would let injected script run, refused in any script directive.
const UNSAFE_SCRIPT_SOURCES: &[&str] = &[
    "'unsafe-inline'",
    "'unsafe-eval'",
    "'unsafe-hashes'",
    "*",
    "data:",
    "http:",
    "https:",
];

impl Policy {
    /// Parses and validates `text`.
    ///
    /// # Errors
    /// The first [`PolicyError`]: a TOML error with its line, or the key whose value is wrong.
    pub fn from_toml(text: &str) -> Result<Policy, PolicyError> {
        let policy: Policy = toml::from_str(text).map_err(|e| {
            let key = e
                .span()
                .map(|span| {
                    let line = text[..span.start].matches('\n').count() + 1;
                    format!("line {line}")
                })
                .unwrap_or_else(|| "policy".to_owned());
            PolicyError::new(key, e.message().trim().to_owned())
        })?;
        policy.validate()?;
        Ok(policy)
    }

    /// Reads and validates the file at `path`.
    ///
    /// # Errors
    /// The file cannot be read, or [`Policy::from_toml`]'s errors.
    pub fn load(path: &Path) -> Result<Policy, PolicyError> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            PolicyError::new(path.display().to_string(), format!("cannot read it: {e}"))
        })?;
        Policy::from_toml(&text)
    }

    /// The environment `name`.
    ///
    /// # Errors
    /// A [`PolicyError`] naming `environments.NAME` when the policy has no such table.
    pub fn environment(&self, name: &str) -> Result<&Environment, PolicyError> {
        self.environments.get(name).ok_or_else(|| {
            PolicyError::new(
                format!("environments.{name}"),
                "missing; the policy has no such environment",
            )
        })
    }

    fn validate(&self) -> Result<(), PolicyError> {
        // HSTS: preload is a one-way door with fixed requirements (hstspreload.org).
        if self.hsts.max_age == 0 {
            return Err(PolicyError::new(
                "hsts.max_age",
                "0 switches HSTS off; expected at least 86400",
            ));
        }
        if self.hsts.preload && self.hsts.max_age < ONE_YEAR {
            return Err(PolicyError::new(
                "hsts.max_age",
                format!(
                    "{} is below one year ({ONE_YEAR}), which preload requires",
                    self.hsts.max_age
                ),
            ));
        }
        if self.hsts.preload && !self.hsts.include_subdomains {
            return Err(PolicyError::new(
                "hsts.include_subdomains",
                "preload requires include_subdomains = true",
            ));
        }

        let h = &self.headers;
        for (key, value) in [
            (
                "headers.x_content_type_options",
                Some(&h.x_content_type_options),
            ),
            ("headers.referrer_policy", Some(&h.referrer_policy)),
            (
                "document_headers.permissions_policy",
                Some(&self.document_headers.permissions_policy),
            ),
            (
                "document_headers.cross_origin_opener_policy",
                Some(&self.document_headers.cross_origin_opener_policy),
            ),
            (
                "headers.cross_origin_resource_policy",
                Some(&h.cross_origin_resource_policy),
            ),
            ("headers.x_frame_options", h.x_frame_options.as_ref()),
            ("cache.document", Some(&self.cache.document)),
            ("cache.asset", Some(&self.cache.asset)),
            ("cache.api", Some(&self.cache.api)),
            ("cache.redirect", Some(&self.cache.redirect)),
        ] {
            if let Some(value) = value {
                header_value(key, value)?;
            }
        }
        if h.x_content_type_options != "nosniff" {
            return Err(PolicyError::new(
                "headers.x_content_type_options",
                "the only valid value is \"nosniff\"",
            ));
        }

        validate_directives("csp.document", &self.csp.document)?;
        validate_directives("csp.api", &self.csp.api)?;

        let prefix = &self.assets.prefix;
        if !(prefix.starts_with('/') && prefix.ends_with('/') && prefix.len() > 1)
            || prefix.contains('*')
        {
            return Err(PolicyError::new(
                "assets.prefix",
                format!("{prefix:?} must look like \"/assets/\""),
            ));
        }

        for (i, r) in self.redirects.iter().enumerate() {
            validate_redirect(&format!("redirects[{i}]"), r)?;
            if self.redirects[..i]
                .iter()
                .any(|earlier| earlier.from == r.from)
            {
                return Err(PolicyError::new(
                    format!("redirects[{i}].from"),
                    format!("{:?} is already redirected", r.from),
                ));
            }
        }

        for name in ENVIRONMENTS {
            self.environment(name)?;
        }
        for (name, env) in &self.environments {
            let key = format!("environments.{name}");
            if !ENVIRONMENTS.contains(&name.as_str()) {
                return Err(PolicyError::new(
                    key,
                    "unknown environment; expected development, staging or production",
                ));
            }
            let origin = Origin::parse(&env.api_origin)
                .map_err(|p| PolicyError::new(format!("{key}.api_origin"), p))?;
            if name != "development" && origin.scheme != "https" {
                return Err(PolicyError::new(
                    format!("{key}.api_origin"),
                    "must be https outside development",
                ));
            }
            if env.forwarded_for_hops > MAX_FORWARDED_FOR_HOPS {
                return Err(PolicyError::new(
                    format!("{key}.forwarded_for_hops"),
                    format!(
                        "{} is more proxies than a deployment has; expected 0 to {MAX_FORWARDED_FOR_HOPS}",
                        env.forwarded_for_hops
                    ),
                ));
            }
            for (i, net) in env.forwarded_for_networks.iter().enumerate() {
                net.parse::<ipnet::IpNet>().map_err(|_| {
                    PolicyError::new(
                        format!("{key}.forwarded_for_networks[{i}]"),
                        format!("{net:?} is not a network; expected CIDR notation such as \"162.158.0.0/15\" or \"2400:cb00::/32\""),
                    )
                })?;
            }
            if !env.forwarded_for_networks.is_empty() && env.forwarded_for_hops == 0 {
                return Err(PolicyError::new(
                    format!("{key}.forwarded_for_networks"),
                    "needs forwarded_for_hops of at least 1: the networks are read from the entries those hops wrote",
                ));
            }
            for (i, o) in env.frontend_origins.iter().enumerate() {
                Origin::parse(o)
                    .map_err(|p| PolicyError::new(format!("{key}.frontend_origins[{i}]"), p))?;
            }
            if let Some(site) = &env.render_static_site {
                if site.trim().is_empty() {
                    return Err(PolicyError::new(
                        format!("{key}.render_static_site"),
                        "must name a service",
                    ));
                }
            }
        }
        Ok(())
    }
}

fn header_value(key: &str, value: &str) -> Result<(), PolicyError> {
    if value.trim().is_empty() {
        return Err(PolicyError::new(key, "must not be empty"));
    }
    // Stricter than HTTP's obs-text allowance: static-host files and render.yaml are ASCII.
    if !value.bytes().all(|b| (0x20..0x7f).contains(&b))
        || http::HeaderValue::from_str(value).is_err()
    {
        return Err(PolicyError::new(
            key,
            format!("{value:?} is not a valid header value (visible ASCII only)"),
        ));
    }
    Ok(())
}

fn validate_directives(key: &str, directives: &Directives) -> Result<(), PolicyError> {
    if directives.0.is_empty() {
        return Err(PolicyError::new(key, "has no directives"));
    }
    for (i, (name, sources)) in directives.0.iter().enumerate() {
        let dkey = format!("{key}.{name}");
        if !KNOWN_DIRECTIVES.contains(&name.as_str()) {
            return Err(PolicyError::new(
                dkey,
                "is not a CSP directive this policy knows",
            ));
        }
        if directives.0[..i].iter().any(|(earlier, _)| earlier == name) {
            return Err(PolicyError::new(dkey, "appears twice"));
        }
        for source in sources {
            if source.is_empty()
                || source
                    .chars()
                    .any(|c| c.is_whitespace() || c == ';' || c == ',' || !c.is_ascii())
            {
                return Err(PolicyError::new(
                    dkey,
                    format!("{source:?} is not a single source expression"),
                ));
            }
            let bare_keyword = matches!(
                source.as_str(),
                "self"
                    | "none"
                    | "unsafe-inline"
                    | "unsafe-eval"
                    | "strict-dynamic"
                    | "unsafe-hashes"
                    | "wasm-unsafe-eval"
            );
            if bare_keyword {
                return Err(PolicyError::new(
                    dkey,
                    format!("{source:?} must be quoted: \"'{source}'\""),
                ));
            }
            let governs_scripts = name.starts_with("script-src")
                || (name == "default-src" && !directives.0.iter().any(|(n, _)| n == "script-src"));
            if governs_scripts && UNSAFE_SCRIPT_SOURCES.contains(&source.as_str()) {
                return Err(PolicyError::new(
                    dkey,
                    format!("{source} would let injected scripts run; inline scripts are allowed by hash (edge-policy emit)"),
                ));
            }
        }
        if sources.len() > 1 && sources.iter().any(|s| s == "'none'") {
            return Err(PolicyError::new(
                dkey,
                "'none' cannot be combined with other sources",
            ));
        }
    }
    Ok(())
}

fn validate_redirect(key: &str, r: &Redirect) -> Result<(), PolicyError> {
    for (field, path) in [("from", &r.from), ("to", &r.to)] {
        if !path.starts_with('/') || path.starts_with("//") {
            return Err(PolicyError::new(
                format!("{key}.{field}"),
                format!("{path:?} must be a relative path such as /old; absolute URLs do not work on every host"),
            ));
        }
        if path.len() > 900
            || path
                .chars()
                .any(|c| c.is_whitespace() || c == '?' || c == '#' || !c.is_ascii())
        {
            return Err(PolicyError::new(
                format!("{key}.{field}"),
                format!("{path:?} must be a plain path without spaces, query or fragment"),
            ));
        }
    }
    // The API answers everything under its prefix itself; a rule there would hold on a static
    // host and not on the API.
    if r.from == "/api" || r.from.starts_with("/api/") || r.from.starts_with("/api*") {
        return Err(PolicyError::new(
            format!("{key}.from"),
            format!("{:?} is under /api, which the API answers itself", r.from),
        ));
    }
    let stars = r.from.matches('*').count();
    if stars > 1 || (stars == 1 && !r.from.ends_with('*')) {
        return Err(PolicyError::new(
            format!("{key}.from"),
            "at most one '*', at the end",
        ));
    }
    if r.from == "/*" || r.from == "/" {
        return Err(PolicyError::new(
            format!("{key}.from"),
            "cannot redirect every path or the root",
        ));
    }
    if r.to.contains(":splat") && stars == 0 {
        return Err(PolicyError::new(
            format!("{key}.to"),
            ":splat needs a '*' in from",
        ));
    }
    if r.to.contains('*') {
        return Err(PolicyError::new(
            format!("{key}.to"),
            "use :splat, not '*', in the target",
        ));
    }
    if r.from == r.to {
        return Err(PolicyError::new(key, "redirects to itself"));
    }
    // Render static sites redirect with 301 only; anything else could not be the same everywhere.
    if r.status != 301 {
        return Err(PolicyError::new(
            format!("{key}.status"),
            format!("{} is not portable; expected 301", r.status),
        ));
    }
    Ok(())
}

/// `scheme://host[:port]`, nothing more.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    /// `http` or `https`, lower-case.
    pub scheme: String,
    /// `host[:port]`, lower-case.
    pub authority: String,
}

impl Origin {
    /// Parses an origin: a scheme, `://` and an authority, with no path, query or fragment.
    ///
    /// # Errors
    /// What is wrong with `text`, in words.
    pub fn parse(text: &str) -> Result<Origin, String> {
        let (scheme, rest) = text
            .split_once("://")
            .ok_or_else(|| format!("{text:?} is not an origin like https://example.com"))?;
        if scheme != "https" && scheme != "http" {
            return Err(format!("{text:?} must start with https:// or http://"));
        }
        if rest.is_empty() || rest.contains(['/', '?', '#', '*', '@', ' ']) {
            return Err(format!(
                "{text:?} must be scheme://host[:port] with no path, wildcard or credentials"
            ));
        }
        let uri: http::uri::Authority = rest
            .parse()
            .map_err(|_| format!("{text:?} has an invalid host"))?;
        Ok(Origin {
            scheme: scheme.to_owned(),
            authority: uri.as_str().to_ascii_lowercase(),
        })
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://{}", self.scheme, self.authority)
    }
}
