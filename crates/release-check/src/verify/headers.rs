//! Security headers on the frontend and the API: a CSP (without unsafe inline scripts on the
//! document), nosniff, framing control, a Referrer-Policy, and no version in `Server`.

use super::checker::{join, Checker, Outcome};

impl Checker {
    pub(super) async fn security_headers(&mut self) -> Outcome {
        let mut seen = Vec::new();
        for (label, url, document) in [
            ("frontend", join(&self.options.frontend, "/"), true),
            ("API", join(&self.options.api, "/api/health"), false),
        ] {
            let response = self.https_get(&url).await?;
            let get = |name: &str| {
                response
                    .headers()
                    .get(name)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned)
            };
            let csp = get("content-security-policy")
                .ok_or_else(|| format!("{label} {url}: no Content-Security-Policy"))?;
            if document {
                let script_src = csp
                    .split(';')
                    .map(str::trim)
                    .find(|d| d.starts_with("script-src") || d.starts_with("default-src"));
                if script_src
                    .is_some_and(|d| d.contains("'unsafe-inline'") || d.contains("'unsafe-eval'"))
                {
                    return Err(format!(
                        "{label} {url}: the CSP allows unsafe inline scripts: {csp}"
                    ));
                }
            }
            if get("x-content-type-options").as_deref() != Some("nosniff") {
                return Err(format!(
                    "{label} {url}: X-Content-Type-Options is not nosniff"
                ));
            }
            let framing = csp.contains("frame-ancestors") || get("x-frame-options").is_some();
            if !framing {
                return Err(format!(
                    "{label} {url}: neither CSP frame-ancestors nor X-Frame-Options"
                ));
            }
            if get("referrer-policy").is_none() {
                return Err(format!("{label} {url}: no Referrer-Policy"));
            }
            if get("server").is_some_and(|s| s.chars().any(|c| c.is_ascii_digit())) {
                return Err(format!("{label} {url}: the Server header gives a version"));
            }
            seen.push(format!("{label}: CSP, nosniff, framing, Referrer-Policy"));
        }
        Ok(seen.join("; "))
    }
}
