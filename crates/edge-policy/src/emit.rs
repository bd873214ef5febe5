//! The static-host files: `_headers` and `_redirects` in the subset of the syntax that both
//! Netlify and Cloudflare Pages parse the same way, with Cloudflare's limits enforced here, so a
//! rule a host would reject or silently change is an error instead of a file.

use std::path::{Path, PathBuf};

use crate::{
    csp,
    headers::Header,
    policy::{Policy, PolicyError, Redirect},
};

/// Cloudflare Pages: at most 100 header rules and 2,000 characters per `_headers` line.
pub const MAX_HEADER_RULES: usize = 100;
/// Cloudflare Pages: the longest `_headers` line, in characters.
pub const MAX_HEADER_LINE: usize = 2000;
/// Cloudflare Pages: 2,000 static and 100 dynamic redirects, 1,000 characters per rule.
pub const MAX_STATIC_REDIRECTS: usize = 2000;
/// Cloudflare Pages: the most dynamic redirects (with `*` or `:placeholder`).
pub const MAX_DYNAMIC_REDIRECTS: usize = 100;
/// Cloudflare Pages: the longest `_redirects` line, in characters.
pub const MAX_REDIRECT_LINE: usize = 1000;

/// One `_headers` rule: a path pattern and the headers every response under it gets
/// (Netlify and Cloudflare Pages `_headers` format).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeaderRule {
    /// The path pattern (`/*`, `/assets/*`).
    pub path: String,
    /// The headers, in the order written.
    pub headers: Vec<Header>,
}

/// A Render static-site route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// `rewrite` or `redirect`, as render.yaml spells it.
    pub kind: &'static str,
    /// The path pattern matched (`/api/*`).
    pub source: String,
    /// Where it goes: a path, or the API's full URL for a proxy.
    pub destination: String,
}

/// Why `emit` or a file generator failed.
#[derive(Debug, thiserror::Error)]
pub enum EmitError {
    /// The policy is invalid or lacks the environment.
    #[error(transparent)]
    Policy(#[from] PolicyError),
    /// A file of the build could not be read or written.
    #[error("{path}: {problem}")]
    File {
        /// The file.
        path: PathBuf,
        /// What went wrong, and what to do.
        problem: String,
    },
    /// A host's documented limit would be exceeded (rule count, line length).
    #[error("{0}")]
    Limit(String),
}

impl Policy {
    /// The static hosts' header rules. Security headers and the document CSP go on `/*` only and
    /// Cache-Control on the assets prefix only: hosts that apply every matching rule join repeated
    /// names with ", ", so no header name may appear in two rules. HTML keeps the hosts' default
    /// Cache-Control, which revalidates (the API sends the policy's `cache.document`).
    pub fn static_header_rules(
        &self,
        env: &str,
        script_hashes: &[String],
    ) -> Result<Vec<HeaderRule>, PolicyError> {
        let mut all = self.common_headers();
        all.extend(self.document_headers());
        all.push(self.document_csp(env, script_hashes)?);
        // Static hosts serve only HTTPS, so HSTS is always right there.
        all.push(self.hsts());
        Ok(vec![
            HeaderRule {
                path: "/*".to_owned(),
                headers: all,
            },
            HeaderRule {
                path: format!("{}*", self.assets.prefix),
                headers: vec![self.cache_control(crate::headers::ResponseClass::Asset)],
            },
        ])
    }

    /// Render static-site routes for `env`, in the order Render tries them (first match wins;
    /// a file that exists is always served first, so no route hides a built file — Render's
    /// "Redirects and rewrites" page):
    /// 1. the policy's redirects (301);
    /// 2. `/api/*` rewritten to `{api_origin}/api/*`: the static site proxies the API, so page and
    ///    API share one origin and the session cookie is first-party (`onrender.com` is on the
    ///    Public Suffix List: two `onrender.com` hosts are two sites);
    /// 3. the assets prefix rewritten to the API's same path: an asset this build does not have
    ///    is answered by the API, which has the same content-hashed file or answers 404 (RFC 9110
    ///    §15.5.5) — never the SPA's `index.html` under an asset URL;
    /// 4. the SPA fallback, `/*` → `/index.html`, for deep links.
    ///
    /// # Errors
    /// A [`PolicyError`] when the policy has no environment `env`.
    pub fn render_routes(&self, env: &str) -> Result<Vec<Route>, PolicyError> {
        let api_origin = self.environment(env)?.api_origin.trim_end_matches('/');
        let mut routes: Vec<Route> = self
            .redirects
            .iter()
            .map(|r| Route {
                kind: "redirect",
                source: r.from.clone(),
                destination: render_target(&r.to),
            })
            .collect();
        routes.push(Route {
            kind: "rewrite",
            source: format!("{API_PREFIX}/*"),
            destination: format!("{api_origin}{API_PREFIX}/*"),
        });
        routes.push(Route {
            kind: "rewrite",
            source: format!("{}*", self.assets.prefix),
            destination: format!("{api_origin}{}*", self.assets.prefix),
        });
        routes.push(Route {
            kind: "rewrite",
            source: "/*".to_owned(),
            destination: "/index.html".to_owned(),
        });
        Ok(routes)
    }

    /// The static page served with status 404 for a missing hashed asset: `{assets.prefix}404.html`
    /// (`/assets/404.html`), relative to the site root. Cloudflare Pages serves the nearest
    /// `404.html` up the requested path's folders with a 404 and keeps its SPA fallback only when
    /// there is no top-level one, so this file makes `/assets/missing.js` a 404 there while deep
    /// links still get `index.html`; Netlify's rule in `netlify.toml` points at it too.
    pub fn not_found_path(&self) -> String {
        format!("{}404.html", self.assets.prefix)
    }
}

/// The API's path prefix, proxied by every static host to the environment's `api_origin`.
pub const API_PREFIX: &str = "/api";

/// The page behind [`Policy::not_found_path`]: no script, no style, no external resource, so the
/// document CSP needs nothing for it.
pub const NOT_FOUND_PAGE: &str = "<!doctype html>\n<html lang=\"en\">\n<head><meta charset=\"utf-8\"><title>Not found</title></head>\n<body><h1>Not found</h1><p>This file is not part of the current release. Reload the page.</p></body>\n</html>\n";

/// `netlify.toml` for `env`: Netlify reads it from the site's base folder before the build (so it
/// is committed, not built) and applies its rules after `_redirects`, top to bottom:
/// - `/api/*` proxied (`status = 200` to an absolute URL, `force = true`) to the API — in
///   `netlify.toml`, not in the `_redirects` both hosts read, because Cloudflare's parser rejects
///   an absolute proxy target;
/// - a missing asset answered by the 404 page with status 404 (not forced: an existing file wins);
/// - the SPA fallback (Cloudflare's parser rejects it in `_redirects`).
///
/// # Errors
/// A [`PolicyError`] when the policy has no environment `env`.
pub fn netlify_toml(policy: &Policy, env: &str) -> Result<String, PolicyError> {
    let api_origin = policy.environment(env)?.api_origin.trim_end_matches('/');
    let assets = &policy.assets.prefix;
    Ok(format!(
        "# Generated by edge-policy from policy.toml (environment: {env}). Do not edit: run\n\
         # `edge-policy netlify-toml --env {env} > frontend/netlify.toml`; `edge-policy check --netlify` compares.\n\
         # Netlify reads this file from the base folder (frontend/) before the build; _headers and\n\
         # _redirects come from the build (edge-policy emit).\n\
         \n\
         # Same origin: the page's /api calls go through Netlify to the API, so the cookie is first-party.\n\
         [[redirects]]\n\
         from = \"{API_PREFIX}/*\"\n\
         to = \"{api_origin}{API_PREFIX}/:splat\"\n\
         status = 200\n\
         force = true\n\
         \n\
         # A hashed asset this deploy does not have is a 404, never index.html cached as immutable.\n\
         [[redirects]]\n\
         from = \"{assets}*\"\n\
         to = \"{not_found}\"\n\
         status = 404\n\
         \n\
         # The SPA: deep links get index.html.\n\
         [[redirects]]\n\
         from = \"/*\"\n\
         to = \"/index.html\"\n\
         status = 200\n",
        not_found = policy.not_found_path(),
    ))
}

/// Where [`pages_function`] goes, relative to the Cloudflare Pages project's root folder: Pages
/// routes `/api/*` to it (file-based routing; `[[path]]` matches any depth).
pub const PAGES_FUNCTION_PATH: &str = "api/[[path]].js";

/// The Cloudflare Pages Function that proxies `/api/*` to `env`'s API (Pages' `_redirects` cannot
/// proxy to another origin). It forwards the method, body and end-to-end headers (hop-by-hop ones
/// dropped: RFC 9110 §7.6.1), never follows the API's redirects, and sets `X-Forwarded-For` to the
/// client alone (`CF-Connecting-IP`; entries the client wrote are dropped) so that, after Render's
/// edge appends two entries (the Worker's address, Cloudflare's), the API finds the Worker's
/// address in `forwarded_for_networks` (Cloudflare's ranges) and reads the client left of it. The
/// Pages variable `API_ORIGIN` overrides the generated origin.
///
/// # Errors
/// A [`PolicyError`] when the policy has no environment `env`.
pub fn pages_function(policy: &Policy, env: &str) -> Result<String, PolicyError> {
    let api_origin = policy.environment(env)?.api_origin.trim_end_matches('/');
    Ok(format!(
        "// Generated by edge-policy from policy.toml (environment: {env}). Do not edit: run `edge-policy emit`.\n\
         // Cloudflare Pages Function: /api/* goes to the API, so the page and the API share one origin\n\
         // and the session cookie is first-party. The Pages variable API_ORIGIN overrides the origin.\n\
         const API_ORIGIN = {api_origin:?};\n\
         // Hop-by-hop fields (RFC 9110 §7.6.1) end at this hop; Host is the API's, set by fetch.\n\
         const NOT_FORWARDED = [\"connection\", \"keep-alive\", \"proxy-connection\", \"te\", \"trailer\", \"transfer-encoding\", \"upgrade\", \"host\"];\n\
         \n\
         export async function onRequest({{ request, env }}) {{\n\
         \x20 const incoming = new URL(request.url);\n\
         \x20 const target = new URL(incoming.pathname + incoming.search, env.API_ORIGIN || API_ORIGIN);\n\
         \x20 const headers = new Headers(request.headers);\n\
         \x20 for (const name of NOT_FORWARDED) headers.delete(name);\n\
         \x20 // The client as Cloudflare saw it, alone (entries the client wrote are dropped); Render's edge\n\
         \x20 // appends two more; the API reads the client left of this Worker's address (policy.toml forwarded_for_networks).\n\
         \x20 const client = request.headers.get(\"cf-connecting-ip\");\n\
         \x20 if (client) headers.set(\"x-forwarded-for\", client);\n\
         \x20 else headers.delete(\"x-forwarded-for\");\n\
         \x20 headers.set(\"x-forwarded-proto\", incoming.protocol.slice(0, -1));\n\
         \x20 headers.set(\"x-forwarded-host\", incoming.host);\n\
         \x20 const init = {{ method: request.method, headers, redirect: \"manual\" }};\n\
         \x20 if (request.method !== \"GET\" && request.method !== \"HEAD\") init.body = request.body;\n\
         \x20 return fetch(target, init);\n\
         }}\n"
    ))
}

/// Render writes the splat as `*` in the destination; Netlify and Cloudflare use `:splat`.
fn render_target(to: &str) -> String {
    to.replace(":splat", "*")
}

fn banner(env: &str) -> String {
    format!("# Generated by edge-policy from policy.toml (environment: {env}). Do not edit: run `edge-policy emit`.\n")
}

/// The `_headers` file for `env` (Netlify and Cloudflare Pages format).
///
/// # Errors
/// [`EmitError::Limit`] above Cloudflare's rule count or line length.
pub fn headers_file(env: &str, rules: &[HeaderRule]) -> Result<String, EmitError> {
    if rules.len() > MAX_HEADER_RULES {
        return Err(EmitError::Limit(format!(
            "{} header rules; Cloudflare Pages accepts {MAX_HEADER_RULES}",
            rules.len()
        )));
    }
    let mut out = banner(env);
    for (i, rule) in rules.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        out.push_str(&rule.path);
        out.push('\n');
        for header in &rule.headers {
            let line = format!("  {}: {}", header.name, header.value);
            if line.len() >= MAX_HEADER_LINE {
                return Err(EmitError::Limit(format!(
                    "the {} line for {} is {} characters; Cloudflare Pages accepts lines under {MAX_HEADER_LINE}",
                    header.name,
                    rule.path,
                    line.len()
                )));
            }
            out.push_str(&line);
            out.push('\n');
        }
    }
    Ok(out)
}

/// The `_redirects` file for `env`: the policy's path redirects, `from to status` per line.
///
/// # Errors
/// [`EmitError::Limit`] above Cloudflare's static or dynamic redirect counts or line length.
pub fn redirects_file(env: &str, redirects: &[Redirect]) -> Result<String, EmitError> {
    let dynamic = |r: &&Redirect| r.from.contains('*') || r.from.contains(':');
    let (dynamic_rules, static_rules): (Vec<&Redirect>, Vec<&Redirect>) =
        redirects.iter().partition(dynamic);
    if static_rules.len() > MAX_STATIC_REDIRECTS {
        return Err(EmitError::Limit(format!(
            "{} static redirects; Cloudflare Pages accepts {MAX_STATIC_REDIRECTS}",
            static_rules.len()
        )));
    }
    if dynamic_rules.len() > MAX_DYNAMIC_REDIRECTS {
        return Err(EmitError::Limit(format!(
            "{} dynamic redirects; Cloudflare Pages accepts {MAX_DYNAMIC_REDIRECTS}",
            dynamic_rules.len()
        )));
    }
    let mut out = banner(env);
    out.push_str("# HTTPS and the SPA fallback are host settings (both hosts redirect to HTTPS; Cloudflare\n");
    out.push_str(
        "# serves index.html for unknown paths; Netlify needs the fallback in netlify.toml).\n",
    );
    // Static rules first: Cloudflare evaluates them before dynamic ones anyway.
    for r in static_rules.into_iter().chain(dynamic_rules) {
        let line = format!("{} {} {}", r.from, r.to, r.status);
        if line.len() > MAX_REDIRECT_LINE {
            return Err(EmitError::Limit(format!(
                "the redirect from {} is {} characters; the limit is {MAX_REDIRECT_LINE}",
                r.from,
                line.len()
            )));
        }
        out.push_str(&line);
        out.push('\n');
    }
    Ok(out)
}

/// The inline-script hashes of `dist/index.html`.
pub fn dist_script_hashes(dist: &Path) -> Result<Vec<String>, EmitError> {
    let path = dist.join("index.html");
    let html = std::fs::read_to_string(&path).map_err(|e| EmitError::File {
        path: path.clone(),
        problem: format!("cannot read it ({e}); build the frontend first (npm run build)"),
    })?;
    csp::inline_script_hashes(&html).map_err(|problem| EmitError::File { path, problem })
}

/// What `emit` writes, before it is written.
pub struct Emitted {
    /// The `_headers` file.
    pub headers: String,
    /// The `_redirects` file.
    pub redirects: String,
    /// The 404 page and its path relative to `dist` (`assets/404.html`).
    pub not_found: (PathBuf, &'static str),
    /// The Cloudflare Pages Function proxying `/api/*` ([`pages_function`]).
    pub pages_function: String,
    /// The `sha256-…` sources of `index.html`'s inline scripts, added to the document CSP.
    pub script_hashes: Vec<String>,
}

/// Everything `emit` writes for `env`, from the policy and `dist/index.html`.
///
/// # Errors
/// An unknown environment, an unreadable index.html, or a rule over a host's limits.
pub fn render_files(policy: &Policy, env: &str, dist: &Path) -> Result<Emitted, EmitError> {
    let script_hashes = dist_script_hashes(dist)?;
    let rules = policy.static_header_rules(env, &script_hashes)?;
    Ok(Emitted {
        headers: headers_file(env, &rules)?,
        redirects: redirects_file(env, &policy.redirects)?,
        not_found: (
            PathBuf::from(policy.not_found_path().trim_start_matches('/')),
            NOT_FOUND_PAGE,
        ),
        pages_function: pages_function(policy, env)?,
        script_hashes,
    })
}

/// Writes `dist/_headers`, `dist/_redirects` and the 404 page, and, when `functions` is given
/// (the Cloudflare Pages project's `functions/` folder), the Pages Function proxying `/api/*`.
///
/// # Errors
/// As [`render_files`], or a file that cannot be written.
pub fn emit(
    policy: &Policy,
    env: &str,
    dist: &Path,
    functions: Option<&Path>,
) -> Result<Emitted, EmitError> {
    let emitted = render_files(policy, env, dist)?;
    let mut files = vec![
        (dist.join("_headers"), emitted.headers.as_str()),
        (dist.join("_redirects"), emitted.redirects.as_str()),
        (dist.join(&emitted.not_found.0), emitted.not_found.1),
    ];
    if let Some(functions) = functions {
        files.push((
            functions.join(PAGES_FUNCTION_PATH),
            emitted.pages_function.as_str(),
        ));
    }
    for (path, text) in files {
        let written = path
            .parent()
            .map_or(Ok(()), std::fs::create_dir_all)
            .and_then(|()| std::fs::write(&path, text));
        written.map_err(|e| EmitError::File {
            path,
            problem: format!("cannot write it: {e}"),
        })?;
    }
    Ok(emitted)
}
