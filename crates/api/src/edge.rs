//! The edge policy resolved for this process: `policy.toml`, `APP_ENV` and the served
//! `index.html` (whose inline scripts the CSP hashes) turned once, at start-up, into the values
//! the layers and extractors read on every request — header values per response class, the
//! canonical origin for redirects, the trusted-proxy settings, the origins that may call the API,
//! the assets prefix, the path redirects, and the paths exempt from the HTTPS redirect and the
//! access log. Nothing here parses the policy again or looks up the environment per request.
//!
//! About 330 lines of code; its unit tests (client address, redirects, classes) make it longer.

use std::net::IpAddr;

use ipnet::IpNet;

use axum::http::{header, HeaderMap, HeaderName, HeaderValue};
use edge_policy::{policy::Redirect, Policy, PolicyError, ResponseClass};

use crate::{config::AppEnv, static_files::path};

/// Render's health check path: never redirected to HTTPS, never logged, no database behind it.
pub const LIVENESS_PATH: &str = "/health";
/// The prefix of every JSON endpoint; nothing under it is ever the frontend.
pub const API_PREFIX: &str = "/api";
/// Prometheus' scrape path.
pub const METRICS_PATH: &str = "/metrics";

static X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
static X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");

/// The headers one response class carries, ready to copy into a response.
#[derive(Debug)]
pub struct ClassHeaders {
    /// Security headers; they override whatever a handler set.
    pub headers: Box<[(HeaderName, HeaderValue)]>,
    /// `Cache-Control`, used only where the handler chose none.
    pub cache_control: HeaderValue,
}

/// See the module documentation.
#[derive(Debug)]
pub struct Edge {
    /// The environment the policy was resolved for.
    pub env: AppEnv,
    document: ClassHeaders,
    asset: ClassHeaders,
    api: ClassHeaders,
    redirect: ClassHeaders,
    /// `Strict-Transport-Security`, for responses the proxy says went out over HTTPS.
    pub hsts: HeaderValue,
    /// Where plain-HTTP requests are redirected: the environment's `api_origin`, as `https://`,
    /// never the request's `Host` (that would be an open redirect).
    pub canonical_origin: Box<str>,
    /// Which forwarded headers to believe, and how far.
    pub proxy: TrustedProxy,
    /// Origins a cross-origin browser request may come from, with credentials: the
    /// environment's `frontend_origins` (CORS).
    pub cors_origins: Box<[HeaderValue]>,
    /// Origins an unsafe (non-GET) browser request may come from: the API's own and the
    /// frontends' (CSRF).
    pub trusted_origins: Box<[String]>,
    /// URL prefix of the content-hashed assets (`/assets/`).
    pub assets_prefix: Box<str>,
    redirects: Box<[Redirect]>,
}

impl Edge {
    /// Resolves `policy` for `env`. `script_hashes` are the CSP sources (`'sha256-…'`) of the
    /// served index.html's inline scripts.
    ///
    /// # Errors
    /// A [`PolicyError`] if the policy has no entry for `env` (validation at start-up already
    /// checks that, so in practice this does not fail).
    pub fn resolve(
        policy: &Policy,
        env: AppEnv,
        script_hashes: &[String],
    ) -> Result<Edge, PolicyError> {
        let name = env.as_str();
        let environment = policy.environment(name)?;
        let class = |class: ResponseClass| -> Result<ClassHeaders, PolicyError> {
            let mut headers = Vec::new();
            let mut cache_control = None;
            for h in policy.headers_for(name, class, script_hashes)? {
                let (name, value) = h.http();
                if name == header::CACHE_CONTROL {
                    cache_control = Some(value);
                } else {
                    headers.push((name, value));
                }
            }
            Ok(ClassHeaders {
                headers: headers.into(),
                cache_control: cache_control.expect("every class has a Cache-Control"),
            })
        };
        let cors_origins = environment
            .frontend_origins
            .iter()
            .map(|o| HeaderValue::from_str(o).expect("validated as an origin"))
            .collect();
        let trusted_origins = std::iter::once(&environment.api_origin)
            .chain(&environment.frontend_origins)
            .map(|o| o.to_ascii_lowercase())
            .collect();
        Ok(Edge {
            env,
            document: class(ResponseClass::Document)?,
            asset: class(ResponseClass::Asset)?,
            api: class(ResponseClass::Api)?,
            redirect: class(ResponseClass::Redirect)?,
            hsts: policy.hsts().http().1,
            canonical_origin: https_origin(&environment.api_origin).into(),
            proxy: TrustedProxy {
                forwarded_proto: environment.trust_forwarded_proto,
                forwarded_for_hops: environment.forwarded_for_hops.into(),
                // Validated with the policy: every entry parses.
                forwarded_for_networks: environment
                    .forwarded_for_networks
                    .iter()
                    .filter_map(|n| n.parse().ok())
                    .collect(),
            },
            cors_origins,
            trusted_origins,
            assets_prefix: policy.assets.prefix.clone().into(),
            redirects: policy.redirects.clone().into(),
        })
    }

    /// What a response to the request path `raw` is, before its status is known: the API (JSON
    /// endpoints, liveness, metrics), a hashed asset, or a document (the SPA).
    ///
    /// Outside the routes, the path is resolved as the frontend fallback resolves it
    /// ([`path::normalize`]: decoded once, dot segments applied), so the class follows what is
    /// served: `/x/../assets/app.js` is the asset, `/assets/..` is index.html (a document, never
    /// cached as immutable), `//api/x` and `/API/x` are the API's JSON 404. A path that resolves
    /// to no name (it climbs above the root, or decodes to no text) is answered with a JSON
    /// error: the API class.
    pub fn class_of_path(&self, raw: &str) -> ResponseClass {
        // The routes match the path as it came.
        if raw == LIVENESS_PATH || raw == METRICS_PATH || is_api_path(raw) {
            return ResponseClass::Api;
        }
        let Ok(path) = path::normalize(raw) else {
            // A path that names nothing is answered with a JSON error.
            return ResponseClass::Api;
        };
        if path::is_api_spelling(&path) {
            ResponseClass::Api
        } else if path.starts_with(&*self.assets_prefix) {
            ResponseClass::Asset
        } else {
            ResponseClass::Document
        }
    }

    /// Whether `raw` is under `/api` however spelt (`//api/x`, `/API/x`, `/%61pi/x`): the
    /// JSON API, which CORS covers. Liveness and metrics are not: they answer Render and
    /// Prometheus, never a page.
    pub fn is_api_request(&self, raw: &str) -> bool {
        is_api_path(raw) || path::normalize(raw).is_ok_and(|path| path::is_api_spelling(&path))
    }
    /// The headers a response of `class` carries.
    pub fn headers(&self, class: ResponseClass) -> &ClassHeaders {
        match class {
            ResponseClass::Document => &self.document,
            ResponseClass::Asset => &self.asset,
            ResponseClass::Api => &self.api,
            ResponseClass::Redirect => &self.redirect,
        }
    }

    /// Paths answered over plain HTTP without a redirect: Render's probe does not come through
    /// the edge, and a redirect would make its check meaningless.
    pub fn is_https_exempt(&self, path: &str) -> bool {
        path == LIVENESS_PATH
    }

    /// Paths without an access-log line: the liveness probe (every few seconds on every
    /// instance) and the hashed assets (several per page load, never changing).
    pub fn is_quiet(&self, path: &str) -> bool {
        path == LIVENESS_PATH || path.starts_with(&*self.assets_prefix)
    }

    /// The target of the first policy redirect matching `path`: an exact `from`, or a `from`
    /// ending in `*` as a prefix whose remainder replaces `:splat` in `to`.
    pub fn redirect_target(&self, path: &str) -> Option<String> {
        self.redirects
            .iter()
            .find_map(|r| match r.from.strip_suffix('*') {
                Some(prefix) => path
                    .strip_prefix(prefix)
                    .map(|splat| r.to.replace(":splat", splat)),
                None => (r.from == path).then(|| r.to.clone()),
            })
    }
}

/// Whether `path` belongs to the JSON API.
pub fn is_api_path(path: &str) -> bool {
    path.strip_prefix(API_PREFIX)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

/// The scheme the client used, as far as this service can trust anyone's word for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// `X-Forwarded-Proto: https` from a trusted proxy.
    Https,
    /// `X-Forwarded-Proto: http` from a trusted proxy: redirected to HTTPS where enforced.
    Http,
    /// No trusted header (a direct connection, or a proxy not trusted): plain HTTP for HSTS,
    /// but never redirected — local development, probes and scrapers land here.
    Unknown,
}

/// What the proxies in front of the API are trusted to say, per header: trusting one says
/// nothing about the other.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustedProxy {
    /// Read `X-Forwarded-Proto`.
    pub forwarded_proto: bool,
    /// Proxies every request passes that append to `X-Forwarded-For` (Render's edge: 2); 0
    /// ignores the header.
    pub forwarded_for_hops: usize,
    /// Networks of proxies in front of those (a static host's `/api/*` proxy): an entry in one
    /// of them was written by such a proxy, so the entry left of it is read instead.
    pub forwarded_for_networks: Box<[IpNet]>,
}

impl TrustedProxy {
    /// The client's scheme from `X-Forwarded-Proto` when trusted. With a chain (`https, http`)
    /// the first value is the client's; anything but `http`/`https` counts as absent.
    pub fn scheme(&self, headers: &HeaderMap) -> Scheme {
        if !self.forwarded_proto {
            return Scheme::Unknown;
        }
        let Some(value) = headers.get(&X_FORWARDED_PROTO) else {
            return Scheme::Unknown;
        };
        // A chain (`https, http`) names the client's scheme first; a lone value needs no split.
        let bytes = value.as_bytes();
        let first = match bytes.iter().position(|b| *b == b',') {
            Some(comma) => bytes[..comma].trim_ascii(),
            None => bytes.trim_ascii(),
        };
        if first.eq_ignore_ascii_case(b"https") {
            Scheme::Https
        } else if first.eq_ignore_ascii_case(b"http") {
            Scheme::Http
        } else {
            Scheme::Unknown
        }
    }

    /// The client's address: the entry `forwarded_for_hops` from the right of `X-Forwarded-For`
    /// (every field line, in order, as one list: RFC 9110 §5.3; RFC 7239 §5.2 for the order),
    /// which the nearest trusted proxy wrote. While that entry lies in `forwarded_for_networks`
    /// (a static host's proxy, whose own left neighbour is the client it saw), the entry left of
    /// it is read instead, at most [`edge_policy::policy::MAX_FORWARDED_FOR_HOPS`] entries from the
    /// right. Anything else further left was written by the client and is never used: when the
    /// list is shorter than the hops or the entry read is not an IP address, the answer is
    /// `peer`.
    pub fn client_address(&self, headers: &HeaderMap, peer: Option<IpAddr>) -> Option<IpAddr> {
        let hops = self.forwarded_for_hops;
        if hops == 0 {
            return peer;
        }
        let entries: Vec<&str> = headers
            .get_all(&X_FORWARDED_FOR)
            .iter()
            .flat_map(|v| v.to_str().unwrap_or_default().split(','))
            .map(str::trim)
            .collect();
        let Some(mut index) = entries.len().checked_sub(hops) else {
            return peer;
        };
        // IPv4-mapped IPv6 (`::ffff:162.158.0.9`) is the IPv4 address, for the networks as for
        // the log and the limits.
        let Some(mut client) = parse_forwarded_address(entries[index]).map(|a| a.to_canonical())
        else {
            return peer;
        };
        let deepest = entries
            .len()
            .saturating_sub(usize::from(edge_policy::policy::MAX_FORWARDED_FOR_HOPS));
        while index > deepest
            && self
                .forwarded_for_networks
                .iter()
                .any(|n| n.contains(&client))
        {
            index -= 1;
            match parse_forwarded_address(entries[index]) {
                Some(address) => client = address.to_canonical(),
                // A proxy of ours wrote something that is not an address: trust nothing left.
                None => return peer,
            }
        }
        Some(client)
    }
}

/// An `X-Forwarded-For` entry as proxies write it: an IP address, an IPv6 address in brackets,
/// either with a port (`203.0.113.7:4711`, `[2001:db8::1]:4711`).
fn parse_forwarded_address(entry: &str) -> Option<IpAddr> {
    if let Ok(ip) = entry.parse() {
        return Some(ip);
    }
    if let Some(rest) = entry.strip_prefix('[') {
        return rest.split_once(']')?.0.parse().ok();
    }
    let (host, port) = entry.rsplit_once(':')?;
    port.parse::<u16>().ok()?;
    host.parse::<std::net::Ipv4Addr>().ok().map(IpAddr::V4)
}

/// The origin redirects point at: the configured one, always as `https://`.
pub fn https_origin(configured: &str) -> String {
    match configured.split_once("://") {
        Some((_, authority)) => format!("https://{authority}"),
        None => format!("https://{configured}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_static(v));
        }
        h
    }

    /// Render's edge (two appending proxies) and, in front of it, a static host's proxy in
    /// 162.158.0.0/15 (one of Cloudflare's published ranges).
    fn proxy() -> TrustedProxy {
        TrustedProxy {
            forwarded_proto: true,
            forwarded_for_hops: 2,
            forwarded_for_networks: ["162.158.0.0/15".parse().unwrap()].into(),
        }
    }

    fn peer() -> Option<IpAddr> {
        Some("10.0.0.1".parse().unwrap())
    }

    #[test]
    fn the_first_value_of_a_proto_chain_counts() {
        assert_eq!(
            proxy().scheme(&headers(&[("x-forwarded-proto", "https, http")])),
            Scheme::Https
        );
        assert_eq!(
            proxy().scheme(&headers(&[("x-forwarded-proto", "HTTP")])),
            Scheme::Http
        );
    }

    #[test]
    fn an_unknown_proto_value_is_not_a_scheme() {
        assert_eq!(
            proxy().scheme(&headers(&[("x-forwarded-proto", "javascript")])),
            Scheme::Unknown
        );
        assert_eq!(proxy().scheme(&headers(&[])), Scheme::Unknown);
    }

    #[test]
    fn an_untrusted_proto_header_is_ignored() {
        let proxy = TrustedProxy {
            forwarded_proto: false,
            ..proxy()
        };
        assert_eq!(
            proxy.scheme(&headers(&[("x-forwarded-proto", "http")])),
            Scheme::Unknown
        );
    }

    #[test]
    fn the_client_is_the_entry_the_nearest_trusted_proxies_wrote() {
        let h = headers(&[("x-forwarded-for", "6.6.6.6, 203.0.113.7, 104.16.0.1")]);
        assert_eq!(
            proxy().client_address(&h, peer()),
            Some("203.0.113.7".parse().unwrap())
        );
    }

    #[test]
    fn a_static_hosts_proxy_names_the_client_and_a_direct_caller_cannot() {
        // RFC 7239 §5.2 order: the static host's proxy wrote the client, Cloudflare appended the
        // proxy's address (162.158.0.9, a trusted network), Render's balancer appended its own.
        let proxied = headers(&[(
            "x-forwarded-for",
            "6.6.6.6, 203.0.113.7, 162.158.0.9, 104.16.0.1",
        )]);
        assert_eq!(
            proxy().client_address(&proxied, peer()),
            Some("203.0.113.7".parse().unwrap())
        );
        // A direct caller writes what it likes; Cloudflare appends its real address, which is
        // in no trusted network, so what it wrote is never read.
        let direct = headers(&[("x-forwarded-for", "6.6.6.6, 198.51.100.4, 104.16.0.1")]);
        assert_eq!(
            proxy().client_address(&direct, peer()),
            Some("198.51.100.4".parse().unwrap())
        );
    }

    #[test]
    fn the_walk_through_trusted_networks_is_bounded_and_stops_at_a_non_address() {
        let chain = std::iter::repeat_n("162.158.0.9", 12)
            .chain(["104.16.0.1"])
            .collect::<Vec<_>>()
            .join(", ");
        let h = HeaderMap::from_iter([(
            X_FORWARDED_FOR.clone(),
            HeaderValue::from_str(&chain).unwrap(),
        )]);
        // Eight entries from the right at most: the one there is still a proxy's, and it is
        // what is left to key on (never an entry beyond the bound).
        assert_eq!(
            proxy().client_address(&h, peer()),
            Some("162.158.0.9".parse().unwrap())
        );
        let h = headers(&[(
            "x-forwarded-for",
            "203.0.113.7, unknown, 162.158.0.9, 104.16.0.1",
        )]);
        assert_eq!(proxy().client_address(&h, peer()), peer());
        // An IPv4-mapped proxy address is the IPv4 one, in a trusted network.
        let h = headers(&[(
            "x-forwarded-for",
            "203.0.113.7, ::ffff:162.158.0.9, 104.16.0.1",
        )]);
        assert_eq!(
            proxy().client_address(&h, peer()),
            Some("203.0.113.7".parse().unwrap())
        );
    }

    #[test]
    fn several_field_lines_are_one_list_in_order() {
        // RFC 9110 §5.3: field lines with the same name combine, in order, into one list.
        let h = headers(&[
            ("x-forwarded-for", "6.6.6.6"),
            ("x-forwarded-for", "203.0.113.7, 104.16.0.1"),
        ]);
        assert_eq!(
            proxy().client_address(&h, peer()),
            Some("203.0.113.7".parse().unwrap())
        );
    }

    #[test]
    fn a_non_address_where_the_client_should_be_falls_back_to_the_peer() {
        let h = headers(&[("x-forwarded-for", "6.6.6.6, unknown, 104.16.0.1")]);
        assert_eq!(proxy().client_address(&h, peer()), peer());
        let h = headers(&[("x-forwarded-for", "6.6.6.6, 203.0.113.7, unknown")]);
        assert_eq!(
            proxy().client_address(&h, peer()),
            Some("203.0.113.7".parse().unwrap())
        );
    }

    #[test]
    fn a_list_shorter_than_the_hops_falls_back_to_the_peer() {
        let h = headers(&[("x-forwarded-for", "104.16.0.1")]);
        assert_eq!(proxy().client_address(&h, peer()), peer());
        assert_eq!(proxy().client_address(&headers(&[]), peer()), peer());
    }

    #[test]
    fn zero_hops_ignore_the_header() {
        let proxy = TrustedProxy {
            forwarded_for_hops: 0,
            ..proxy()
        };
        let h = headers(&[("x-forwarded-for", "6.6.6.6, 203.0.113.7")]);
        assert_eq!(proxy.client_address(&h, peer()), peer());
    }

    #[test]
    fn addresses_with_ports_and_brackets_are_read() {
        for (entry, ip) in [
            ("203.0.113.7:4711", "203.0.113.7"),
            ("[2001:db8::1]:4711", "2001:db8::1"),
            ("2001:db8::1", "2001:db8::1"),
        ] {
            assert_eq!(
                parse_forwarded_address(entry),
                Some(ip.parse().unwrap()),
                "{entry}"
            );
        }
        assert_eq!(parse_forwarded_address("_hidden"), None);
    }

    fn edge_with_redirects(rules: &str) -> Edge {
        let policy =
            Policy::from_toml(&format!("{}\n{rules}", edge_policy::EMBEDDED_POLICY)).unwrap();
        Edge::resolve(&policy, AppEnv::Production, &[]).unwrap()
    }

    const RULES: &str = "[[redirects]]\nfrom = \"/docs/*\"\nto = \"/guide/:splat\"\nstatus = 301\n";

    #[test]
    fn an_exact_rule_matches_only_its_path() {
        let edge = edge_with_redirects(RULES);
        assert_eq!(edge.redirect_target("/login"), Some("/".into()));
        assert_eq!(edge.redirect_target("/login/x"), None);
    }

    #[test]
    fn a_splat_rule_carries_the_rest_of_the_path() {
        let edge = edge_with_redirects(RULES);
        assert_eq!(edge.redirect_target("/docs/a/b"), Some("/guide/a/b".into()));
        assert_eq!(edge.redirect_target("/documents"), None);
    }

    #[test]
    fn the_proxy_settings_come_from_the_environment() {
        let edge = edge_with_redirects("");
        assert_eq!(
            (edge.proxy.forwarded_proto, edge.proxy.forwarded_for_hops),
            // Render's edge: Cloudflare, then Render's balancer.
            (true, 2)
        );
        // A static host's proxy in front of the edge: Cloudflare's published ranges.
        assert!(edge
            .proxy
            .forwarded_for_networks
            .iter()
            .any(|n| n.contains(&"162.158.0.9".parse::<IpAddr>().unwrap())));
        assert_eq!(
            &*edge.canonical_origin,
            "https://release-flow-api.onrender.com"
        );
        assert!(edge.is_https_exempt(LIVENESS_PATH));
        assert!(edge.is_quiet("/assets/app-1234.js"));
        assert!(!edge.is_quiet("/api/health"));
    }

    #[test]
    fn the_class_follows_the_path_as_the_fallback_resolves_it() {
        let edge = edge_with_redirects("");
        for (raw, class) in [
            ("/", ResponseClass::Document),
            ("/reports/q3", ResponseClass::Document),
            ("/assets/app-1a2b.js", ResponseClass::Asset),
            ("/health", ResponseClass::Api),
            ("/metrics", ResponseClass::Api),
            ("/api/health", ResponseClass::Api),
            // Decoded once, dot segments applied: the class of what is served.
            ("/%61ssets/app-1a2b.js", ResponseClass::Asset),
            ("//assets/app-1a2b.js", ResponseClass::Asset),
            ("/x/../assets/app-1a2b.js", ResponseClass::Asset),
            ("/assets%2Fapp-1a2b.js", ResponseClass::Asset),
            ("/assets/..", ResponseClass::Document),
            ("/assets/%2e%2e/reports", ResponseClass::Document),
            ("/.well-known/x", ResponseClass::Document),
            ("//api/x", ResponseClass::Api),
            ("/API/x", ResponseClass::Api),
            ("/%61pi/x", ResponseClass::Api),
            // Routes match the path as it came: `//health` is no route, but a deep link.
            ("//health", ResponseClass::Document),
            // No name at all: the JSON error's class.
            ("/../secret.txt", ResponseClass::Api),
            ("/%FF", ResponseClass::Api),
        ] {
            assert_eq!(edge.class_of_path(raw), class, "{raw}");
        }
    }

    #[test]
    fn the_api_prefix_is_a_path_segment() {
        assert!(is_api_path("/api"));
        assert!(is_api_path("/api/"));
        assert!(is_api_path("/api/health"));
        assert!(!is_api_path("/apis"));
        assert!(!is_api_path("/"));
    }

    #[test]
    fn a_configured_http_origin_still_redirects_to_https() {
        assert_eq!(
            https_origin("http://app.example.com:8443"),
            "https://app.example.com:8443"
        );
    }
}
