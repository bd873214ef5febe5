//! What the checklist items share: the HTTP client, what earlier items learned (the session, the
//! cookies seen, the deployed version), and the request helpers every item uses.

use reqwest::{header, Client, Method, Response, StatusCode};

use super::Options;

/// An item's result: the detail of what it saw, passed or failed.
pub(super) type Outcome = Result<String, String>;

/// The state of one checklist run; each item is a method on it, in the item's own file.
pub(super) struct Checker {
    pub(super) options: Options,
    pub(super) client: Client,
    /// `name=value` of the session the login item obtained.
    pub(super) session: Option<String>,
    /// Every cookie name any response set.
    pub(super) cookies_seen: Vec<String>,
    pub(super) version: Option<String>,
}

/// `base` and `path` with exactly one `/` between them.
pub(super) fn join(base: &str, path: &str) -> String {
    format!("{}{path}", base.trim_end_matches('/'))
}

/// `host` or `host:port` of a URL, as a redirect's `Location` is compared.
pub(super) fn host_of(url: &str) -> Option<String> {
    reqwest::Url::parse(url).ok().and_then(|u| {
        u.host_str().map(|h| match u.port() {
            Some(p) => format!("{h}:{p}"),
            None => h.to_owned(),
        })
    })
}

impl Checker {
    /// A request as the client would make it over HTTPS (through the proxy, in a local run).
    pub(super) async fn https_get(&mut self, url: &str) -> Result<Response, String> {
        let mut request = self.client.get(url);
        if self.options.forwarded_proto {
            request = request.header("x-forwarded-proto", "https");
        }
        let response = request
            .send()
            .await
            .map_err(|e| format!("GET {url}: {e}"))?;
        self.remember_cookies(&response);
        Ok(response)
    }

    pub(super) fn remember_cookies(&mut self, response: &Response) {
        for value in response.headers().get_all(header::SET_COOKIE) {
            if let Some(name) = value.to_str().ok().and_then(|v| v.split('=').next()) {
                if !self.cookies_seen.iter().any(|n| n == name) {
                    self.cookies_seen.push(name.trim().to_owned());
                }
            }
        }
    }

    /// A request carrying the session cookie; the answer must be JSON.
    pub(super) async fn with_session(
        &self,
        method: Method,
        url: &str,
        session: &str,
    ) -> Result<(StatusCode, serde_json::Value), String> {
        let mut request = self
            .client
            .request(method.clone(), url)
            .header(header::COOKIE, session);
        if self.options.forwarded_proto {
            request = request.header("x-forwarded-proto", "https");
        }
        let response = request
            .send()
            .await
            .map_err(|e| format!("{method} {url}: {e}"))?;
        let status = response.status();
        let body = response
            .json()
            .await
            .map_err(|e| format!("{method} {url}: not JSON ({e})"))?;
        Ok((status, body))
    }
}
