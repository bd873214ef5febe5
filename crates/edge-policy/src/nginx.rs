//! An nginx configuration that serves a built site the way a Render static site serves it, from
//! the site's `headers` and `routes` in the Blueprint — for local tests of the real topology.
//!
//! Render's documented rules (render.com/docs/redirects-rewrites, static-site-headers):
//! - a file that exists at the path is served, and no route applies to it;
//! - otherwise the first matching route wins, top to bottom; none matching is a 404;
//! - a `redirect` answers 301; a `rewrite` serves the destination at the original URL, and a
//!   destination that is a full URL is fetched from there (a proxy);
//! - in a route source, `*` matches the rest of the path and `:name` one path segment; the
//!   destination names them the same way;
//! - a header rule's path: a trailing `/*` matches everything under it, `**` any folders, any other
//!   `*` one segment's characters.
//!
//! Not documented, and chosen here: header rules apply to the files the site serves (including
//! through a rewrite to a file, matched on the requested path), not to proxied responses; the
//! proxy appends the client to `X-Forwarded-For` and sets `X-Forwarded-Proto`.

use std::{collections::BTreeMap, fmt::Write as _, path::PathBuf};

use crate::render::Service;

/// How to run the emulation: where it listens, its certificate, and where the hosts that
/// rewrites proxy to really are (the test's DNS).
#[derive(Debug, Clone)]
pub struct Site {
    /// The built site (`frontend/dist`).
    pub root: PathBuf,
    /// `address:port` to listen on, with TLS.
    pub listen: String,
    /// The site's host name (`release-flow-web.onrender.com`).
    pub server_name: String,
    /// PEM certificate chain and key for `server_name`.
    pub cert: PathBuf,
    /// The PEM private key of `cert`.
    pub key: PathBuf,
    /// PEM CA bundle the proxied hosts' certificates must chain to.
    pub upstream_ca: PathBuf,
    /// Host name → `address:port` for every host a rewrite proxies to.
    pub resolve: BTreeMap<String, String>,
    /// A writable folder for nginx's pid and temporary files.
    pub prefix: PathBuf,
}

/// The whole `nginx.conf` (run it with `nginx -c FILE`; it stays in the foreground).
///
/// # Errors
/// A route nginx cannot express (an unknown type, a destination host missing from
/// `site.resolve`, a `$` in a header value) is reported with the rule at fault.
pub fn config(service: &Service, site: &Site) -> Result<String, String> {
    let mut maps = String::new();
    let mut adds = String::new();
    // One variable per header name; its map lists the rules in Blueprint order (first match wins).
    let mut by_name: Vec<(String, Vec<(String, String)>)> = Vec::new();
    for h in &service.headers {
        if h.value.contains('$') || h.value.contains('"') {
            return Err(format!(
                "header {} on {}: a value with $ or \" is not supported",
                h.name, h.path
            ));
        }
        let lower = h.name.to_ascii_lowercase();
        let entry = match by_name.iter_mut().find(|(n, _)| *n == lower) {
            Some(entry) => entry,
            None => {
                by_name.push((lower, Vec::new()));
                by_name.last_mut().expect("just pushed")
            }
        };
        entry.1.push((header_path_regex(&h.path), h.value.clone()));
    }
    for (i, (name, rules)) in by_name.iter().enumerate() {
        let _ = writeln!(maps, "  map $rf_path $rf_header_{i} {{");
        for (regex, value) in rules {
            let _ = writeln!(maps, "    \"~{regex}\" \"{value}\";");
        }
        let _ = writeln!(maps, "    default \"\";\n  }}");
        let _ = writeln!(adds, "      add_header {name} $rf_header_{i};");
    }

    let mut routes = String::new();
    let mut proxies = String::new();
    for (i, route) in service.routes.iter().enumerate() {
        let (regex, names) = source_regex(&route.source)?;
        let destination = |target: &str| substitute(target, &names);
        match route.kind.as_str() {
            "redirect" => {
                let _ = writeln!(
                    routes,
                    "      rewrite \"{regex}\" \"{}\" permanent;",
                    destination(&route.destination)
                );
            }
            "rewrite" if route.destination.starts_with('/') => {
                let _ = writeln!(
                    routes,
                    "      rewrite \"{regex}\" \"{}\" last;",
                    destination(&route.destination)
                );
            }
            "rewrite" => {
                let (scheme, rest) = route.destination.split_once("://").ok_or_else(|| {
                    format!(
                        "route {}: {:?} is neither a path nor a URL",
                        i + 1,
                        route.destination
                    )
                })?;
                let (host, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
                let address = site.resolve.get(host).ok_or_else(|| {
                    format!(
                        "route {}: no address for {host} (add it to the resolve list)",
                        i + 1
                    )
                })?;
                let path = if path.is_empty() { "/" } else { path };
                let location = format!("/__render_route_{i}");
                let _ = writeln!(
                    routes,
                    "      rewrite \"{regex}\" \"{location}{}\" last;",
                    destination(path)
                );
                let tls = if scheme == "https" {
                    format!(
                        "      proxy_ssl_server_name on;\n      proxy_ssl_name {host};\n      proxy_ssl_verify on;\n      proxy_ssl_trusted_certificate \"{}\";\n",
                        site.upstream_ca.display()
                    )
                } else {
                    String::new()
                };
                let _ = write!(
                    proxies,
                    "    location ^~ {location}/ {{\n      internal;\n      rewrite \"^{location}(/.*)$\" $1 break;\n      proxy_pass {scheme}://{address};\n      proxy_http_version 1.1;\n      proxy_set_header Host {host};\n      proxy_set_header Connection \"\";\n      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;\n      proxy_set_header X-Forwarded-Proto $scheme;\n      proxy_redirect off;\n{tls}    }}\n"
                );
            }
            other => return Err(format!("route {}: unknown type {other:?}", i + 1)),
        }
    }

    let prefix = site.prefix.display();
    Ok(format!(
        "# Generated by `edge-policy nginx` from the Blueprint's static site {name}: Render's static\n\
         # hosting emulated (an existing file wins, then the routes in order, else 404).\n\
         daemon off;\n\
         master_process off;\n\
         pid {prefix}/nginx.pid;\n\
         error_log stderr error;\n\
         events {{ worker_connections 256; }}\n\
         http {{\n\
         \x20 access_log off;\n\
         \x20 client_body_temp_path {prefix}/body;\n\
         \x20 proxy_temp_path {prefix}/proxy;\n\
         \x20 fastcgi_temp_path {prefix}/fastcgi;\n\
         \x20 uwsgi_temp_path {prefix}/uwsgi;\n\
         \x20 scgi_temp_path {prefix}/scgi;\n\
         \x20 types {{ text/html html; text/javascript js; text/css css; image/svg+xml svg; application/json json; text/plain txt; }}\n\
         \x20 default_type application/octet-stream;\n\
         \x20 server_tokens off;\n\
         \x20 # Header rules match the path the client asked for, not a rewrite's destination.\n\
         \x20 map $request_uri $rf_path {{ \"~^(?<p>[^?]*)\" $p; }}\n\
         {maps}\
         \x20 server {{\n\
         \x20   listen {listen} ssl;\n\
         \x20   server_name {server_name};\n\
         \x20   ssl_certificate \"{cert}\";\n\
         \x20   ssl_certificate_key \"{key}\";\n\
         \x20   root \"{root}\";\n\
         \x20   index index.html;\n\
         \x20   absolute_redirect off;\n\
         \x20   location / {{\n\
         {adds}\
         \x20     try_files $uri $uri/ @render_routes;\n\
         \x20   }}\n\
         \x20   location @render_routes {{\n\
         {routes}\
         \x20     return 404;\n\
         \x20   }}\n\
         {proxies}\
         \x20 }}\n\
         }}\n",
        name = service.name,
        listen = site.listen,
        server_name = site.server_name,
        cert = site.cert.display(),
        key = site.key.display(),
        root = site.root.display(),
    ))
}

/// A route source as an anchored regex, and the names of its captures in order (`*` for the
/// splat, else the placeholder's name).
fn source_regex(source: &str) -> Result<(String, Vec<String>), String> {
    if !source.starts_with('/') {
        return Err(format!("route source {source:?} is not a path"));
    }
    let mut regex = String::from("^");
    let mut names = Vec::new();
    let mut chars = source.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '*' => {
                regex.push_str("(.*)");
                names.push("*".to_owned());
            }
            ':' if chars.peek().is_some_and(|n| n.is_ascii_alphabetic()) => {
                let mut name = String::new();
                while let Some(n) = chars
                    .peek()
                    .filter(|n| n.is_ascii_alphanumeric() || **n == '_')
                {
                    name.push(*n);
                    chars.next();
                }
                regex.push_str("([^/]+)");
                names.push(name);
            }
            c if c.is_ascii_alphanumeric() || c == '/' || c == '-' || c == '_' => regex.push(c),
            c => {
                regex.push('\\');
                regex.push(c);
            }
        }
    }
    regex.push('$');
    Ok((regex, names))
}

/// A destination with `*` and `:name` replaced by nginx's `$N` for the source's captures.
fn substitute(target: &str, names: &[String]) -> String {
    let mut out = String::new();
    let mut chars = target.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '*' => match names.iter().position(|n| n == "*") {
                Some(i) => {
                    let _ = write!(out, "${}", i + 1);
                }
                None => out.push('*'),
            },
            ':' if chars.peek().is_some_and(|n| n.is_ascii_alphabetic()) => {
                let mut name = String::new();
                while let Some(n) = chars
                    .peek()
                    .filter(|n| n.is_ascii_alphanumeric() || **n == '_')
                {
                    name.push(*n);
                    chars.next();
                }
                match names.iter().position(|n| *n == name) {
                    Some(i) => {
                        let _ = write!(out, "${}", i + 1);
                    }
                    None => {
                        out.push(':');
                        out.push_str(&name);
                    }
                }
            }
            c => out.push(c),
        }
    }
    out
}

/// A header rule's path as a regex over the requested path (see the module documentation).
fn header_path_regex(path: &str) -> String {
    if let Some(prefix) = path.strip_suffix("/*") {
        return format!("^{}/", escape(prefix));
    }
    let mut regex = String::from("^");
    let mut rest = path;
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix("**/") {
            regex.push_str("(?:.*/)?");
            rest = after;
        } else if let Some(after) = rest.strip_prefix('*') {
            regex.push_str("[^/]*");
            rest = after;
        } else {
            let c = rest.chars().next().expect("not empty");
            regex.push_str(&escape(&c.to_string()));
            rest = &rest[c.len_utf8()..];
        }
    }
    regex.push('$');
    regex
}

fn escape(text: &str) -> String {
    text.chars()
        .flat_map(|c| {
            let special = !(c.is_ascii_alphanumeric() || c == '/' || c == '-' || c == '_');
            special
                .then_some('\\')
                .into_iter()
                .chain(std::iter::once(c))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splats_and_placeholders_become_numbered_captures() {
        let (regex, names) = source_regex("/blog/:year/*").unwrap();
        assert_eq!(regex, "^/blog/([^/]+)/(.*)$");
        assert_eq!(substitute("/posts/:year/*", &names), "/posts/$1/$2");
        assert_eq!(
            substitute("https://x.example/api/*", &["*".into()]),
            "https://x.example/api/$1"
        );
    }

    #[test]
    fn header_paths_follow_renders_wildcards() {
        assert_eq!(header_path_regex("/*"), "^/");
        assert_eq!(header_path_regex("/assets/*"), "^/assets/");
        assert_eq!(header_path_regex("/*.css"), "^/[^/]*\\.css$");
        assert_eq!(header_path_regex("/**/*.css"), "^/(?:.*/)?[^/]*\\.css$");
    }
}
