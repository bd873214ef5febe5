//! "Login works where users log in": the session through the frontend's own origin (the static
//! host proxies `/api/*` to the API, so the cookie is first-party), and a missing hashed asset
//! answered 404 there, never the SPA's HTML (which a browser would keep for a year as immutable).

use reqwest::{header, Method, StatusCode};

use super::checker::{join, session_cookie, Checker, Outcome};

/// A path under the assets prefix that no build has: Vite's names are `name-<8 base64url>.ext`.
const MISSING_ASSET: &str = "/assets/release-check-missing-0000.js";

impl Checker {
    /// Logs in with `POST {frontend}/api/auth/login` (with the frontend's `Origin`, as the page
    /// sends it), then reads `{frontend}/api/me` with the session: proves the page's origin reaches
    /// the API and that the cookie it gets there is one the browser sends back (same origin).
    pub(super) async fn frontend_login(&mut self) -> Outcome {
        let (email, password) = self.credentials()?;
        let frontend = self.options.frontend.trim_end_matches('/').to_owned();
        let origin = reqwest::Url::parse(&frontend)
            .map_err(|e| format!("--frontend {frontend}: {e}"))?
            .origin()
            .ascii_serialization();
        let url = join(&frontend, "/api/auth/login");
        let response = self
            .post_login(&url, Some(&origin), (&email, &password))
            .await?;
        let status = response.status();
        let kind = content_type(response.headers());
        let session = session_cookie(&response);
        if status != StatusCode::OK || !kind.starts_with("application/json") {
            return Err(format!(
                "POST {url} answered {status} ({kind}): the frontend's origin does not pass /api/* to the API; the page cannot log in (docs/RELEASE_FLOW.md, \"Same origin\")"
            ));
        }
        let session = session.ok_or("login through the frontend set no session cookie")?;
        let me = join(&frontend, "/api/me");
        let (status, body) = self.with_session(Method::GET, &me, &session).await?;
        if status != StatusCode::OK || body["user"]["email"] != email.as_str() {
            return Err(format!(
                "GET {me} with the session answered {status}: {body}"
            ));
        }
        Ok(format!(
            "logged in at {url}; the session works at {me} (same origin as the page)"
        ))
    }

    /// `GET {frontend}/assets/<missing>`: 404 (RFC 9110 §15.5.5), not HTML, not `immutable`.
    pub(super) async fn missing_asset(&mut self) -> Outcome {
        let url = join(&self.options.frontend, MISSING_ASSET);
        let response = self.https_get(&url).await?;
        let status = response.status();
        let kind = content_type(response.headers());
        let cache = response
            .headers()
            .get(header::CACHE_CONTROL)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        if status != StatusCode::NOT_FOUND {
            return Err(format!(
                "GET {url} answered {status} ({kind}); a missing asset must be 404"
            ));
        }
        if cache.contains("immutable") {
            return Err(format!(
                "GET {url}: the 404 says Cache-Control: {cache}; a browser would keep it"
            ));
        }
        let body = response.text().await.unwrap_or_default();
        if body.contains("<script") {
            return Err(format!(
                "GET {url}: the 404 is the SPA's index.html ({kind})"
            ));
        }
        Ok(format!(
            "GET {MISSING_ASSET}: 404 ({kind}), Cache-Control {cache:?}"
        ))
    }
}

fn content_type(headers: &header::HeaderMap) -> String {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("no content type")
        .to_owned()
}
