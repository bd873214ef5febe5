//! What the checklist items share: the HTTP client, what earlier items learned (the session, the
//! cookies seen, the deployed version), and the request helpers every item uses.

use reqwest::{header, Client, Method, RequestBuilder, Response, StatusCode};

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

/// Session cookie names the API sets; any other cookie is treated as instance affinity.
pub(super) const SESSION_COOKIES: [&str; 2] = ["rf_session", "__Host-rf_session"];

/// `name=value` of the session cookie a response set, if any.
pub(super) fn session_cookie(response: &Response) -> Option<String> {
    response
        .headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .map(|v| v.split(';').next().unwrap_or_default().to_owned())
        .find(|pair| {
            SESSION_COOKIES
                .iter()
                .any(|n| pair.starts_with(&format!("{n}=")))
        })
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
    /// `request` as the client would make it over HTTPS: as it is against an `https://` URL, or,
    /// in a local run without TLS (`--forwarded-proto`), with the header the proxy would set.
    fn over_https(&self, request: RequestBuilder) -> RequestBuilder {
        if self.options.forwarded_proto {
            request.header("x-forwarded-proto", "https")
        } else {
            request
        }
    }

    /// A request as the client would make it over HTTPS (through the proxy, in a local run).
    pub(super) async fn https_get(&mut self, url: &str) -> Result<Response, String> {
        let response = self
            .over_https(self.client.get(url))
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

    /// The account to log in with, or why there is none.
    pub(super) fn credentials(&self) -> Result<(String, String), String> {
        match (&self.options.email, &self.options.password) {
            (Some(email), Some(password)) => Ok((email.clone(), password.clone())),
            _ => Err("no credentials: pass --email and set RELEASE_CHECK_PASSWORD (never on the command line)".to_owned()),
        }
    }

    /// `POST url` with the account's credentials as JSON, with `origin` as the `Origin` header
    /// when given (as the page sends it), over HTTPS as the client would make it.
    pub(super) async fn post_login(
        &mut self,
        url: &str,
        origin: Option<&str>,
        (email, password): (&str, &str),
    ) -> Result<Response, String> {
        let mut request = self
            .client
            .post(url)
            .json(&serde_json::json!({ "email": email, "password": password }));
        if let Some(origin) = origin {
            request = request.header(header::ORIGIN, origin);
        }
        let response = self
            .over_https(request)
            .send()
            .await
            .map_err(|e| format!("POST {url}: {e}"))?;
        self.remember_cookies(&response);
        Ok(response)
    }

    /// A request carrying the session cookie; the answer must be JSON.
    pub(super) async fn with_session(
        &self,
        method: Method,
        url: &str,
        session: &str,
    ) -> Result<(StatusCode, serde_json::Value), String> {
        let request = self
            .client
            .request(method.clone(), url)
            .header(header::COOKIE, session);
        let response = self
            .over_https(request)
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
