//! The compliance checklist (docs/RELEASE_FLOW.md), run against a deployment: each item is an
//! HTTP conversation with the API or the frontend, and reports what it saw.

use std::{
    path::PathBuf,
    time::{Duration, Instant},
};

use reqwest::{header, redirect, Client, Method, Response, StatusCode};
use serde::Serialize;

/// Session cookie names the API sets; any other cookie is treated as instance affinity.
const SESSION_COOKIES: [&str; 2] = ["rf_session", "__Host-rf_session"];
const ONE_YEAR: u64 = 31_536_000;

#[derive(Debug, Clone)]
pub struct Options {
    pub api: String,
    pub frontend: String,
    /// Other instance URLs of the same service, for the cross-instance session check.
    pub instances: Vec<String>,
    pub email: Option<String>,
    pub password: Option<String>,
    /// Poll `/health` this long before giving up (right after a deploy).
    pub wait: Duration,
    /// The target has no TLS in front (a local run): send the `X-Forwarded-Proto` a TLS proxy would.
    pub forwarded_proto: bool,
    /// The host HTTP must redirect to; defaults to the API URL's host.
    pub expect_host: Option<String>,
    pub changelog: PathBuf,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Item {
    pub id: &'static str,
    pub title: &'static str,
    pub passed: bool,
    pub detail: String,
    pub duration_ms: u64,
}

struct Checker {
    options: Options,
    client: Client,
    /// `name=value` of the session the login item obtained.
    session: Option<String>,
    /// Every cookie name any response set.
    cookies_seen: Vec<String>,
    version: Option<String>,
}

type Outcome = Result<String, String>;

pub async fn verify(options: Options) -> Vec<Item> {
    let client = Client::builder()
        .redirect(redirect::Policy::none())
        .timeout(Duration::from_secs(15))
        .build()
        .expect("an HTTP client");
    let mut checker = Checker {
        options,
        client,
        session: None,
        cookies_seen: Vec::new(),
        version: None,
    };
    let mut items = Vec::new();
    // Health first: the others are meaningless until the deploy is up.
    items.push(timed("health", "Health check green", checker.health()).await);
    items.push(
        timed(
            "readiness",
            "Readiness passes (/api/health)",
            checker.readiness(),
        )
        .await,
    );
    items.push(timed("https", "HTTPS enforced", checker.https()).await);
    items.push(
        timed(
            "security-headers",
            "Security headers on the frontend and the API",
            checker.security_headers(),
        )
        .await,
    );
    items.push(
        timed(
            "login-warmup",
            "Login triggers warmup without errors",
            checker.login_warmup(),
        )
        .await,
    );
    items.push(
        timed(
            "stateless",
            "No sticky sessions required; stateless verified",
            checker.stateless(),
        )
        .await,
    );
    items.push(timed("changelog", "Changelog updated", checker.changelog()).await);
    items
}

async fn timed(
    id: &'static str,
    title: &'static str,
    work: impl std::future::Future<Output = Outcome>,
) -> Item {
    let started = Instant::now();
    let outcome = work.await;
    let duration_ms = started.elapsed().as_millis() as u64;
    match outcome {
        Ok(detail) => Item {
            id,
            title,
            passed: true,
            detail,
            duration_ms,
        },
        Err(detail) => Item {
            id,
            title,
            passed: false,
            detail,
            duration_ms,
        },
    }
}

fn join(base: &str, path: &str) -> String {
    format!("{}{path}", base.trim_end_matches('/'))
}

fn host_of(url: &str) -> Option<String> {
    reqwest::Url::parse(url).ok().and_then(|u| {
        u.host_str().map(|h| match u.port() {
            Some(p) => format!("{h}:{p}"),
            None => h.to_owned(),
        })
    })
}

impl Checker {
    /// A request as the client would make it over HTTPS (through the proxy, in a local run).
    async fn https_get(&mut self, url: &str) -> Result<Response, String> {
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

    fn remember_cookies(&mut self, response: &Response) {
        for value in response.headers().get_all(header::SET_COOKIE) {
            if let Some(name) = value.to_str().ok().and_then(|v| v.split('=').next()) {
                if !self.cookies_seen.iter().any(|n| n == name) {
                    self.cookies_seen.push(name.trim().to_owned());
                }
            }
        }
    }

    async fn health(&mut self) -> Outcome {
        let url = join(&self.options.api, "/health");
        let deadline = Instant::now() + self.options.wait;
        let mut attempts = 0;
        loop {
            attempts += 1;
            let last = match self.client.get(&url).send().await {
                Ok(r) if r.status() == StatusCode::OK => {
                    return Ok(format!("{url} answered 200 (attempt {attempts})"))
                }
                Ok(r) => format!("{url} answered {}", r.status()),
                Err(e) => format!("{url}: {e}"),
            };
            if Instant::now() >= deadline {
                return Err(last);
            }
            eprintln!("waiting for {url}: {last}");
            tokio::time::sleep(Duration::from_secs(2).min(deadline - Instant::now())).await;
        }
    }

    async fn readiness(&mut self) -> Outcome {
        let url = join(&self.options.api, "/api/health");
        let response = self.https_get(&url).await?;
        let status = response.status();
        let body: serde_json::Value = response
            .json()
            .await
            .map_err(|e| format!("{url}: not JSON ({e})"))?;
        self.version = body["version"].as_str().map(str::to_owned);
        match body["status"].as_str() {
            Some(s @ ("pass" | "warn")) if status.is_success() => Ok(format!(
                "{s}, version {}, instance {}",
                body["version"], body["instanceId"]
            )),
            other => Err(format!(
                "{url} answered {status} with status {other:?}: {}",
                body["checks"]
            )),
        }
    }

    async fn https(&mut self) -> Outcome {
        let expect_host = self
            .options
            .expect_host
            .clone()
            .or_else(|| host_of(&self.options.api))
            .ok_or("no API host")?;
        let mut seen = Vec::new();
        for (base, path, host) in [
            (
                self.options.api.clone(),
                "/api/health?check=https",
                Some(expect_host.clone()),
            ),
            (self.options.frontend.clone(), "/", None),
        ] {
            let url = join(&base, path);
            // The plain-HTTP leg: the http:// URL, or in a local run the header a proxy would set.
            let (plain_url, mut request) = if self.options.forwarded_proto {
                (
                    url.clone(),
                    self.client.get(&url).header("x-forwarded-proto", "http"),
                )
            } else {
                let plain = url.replacen("https://", "http://", 1);
                (plain.clone(), self.client.get(&plain))
            };
            request = request.header(header::ACCEPT, "text/html");
            let response = request
                .send()
                .await
                .map_err(|e| format!("GET {plain_url}: {e}"))?;
            let location = response
                .headers()
                .get(header::LOCATION)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned();
            if !matches!(response.status().as_u16(), 301 | 308) {
                return Err(format!(
                    "{plain_url} over HTTP answered {}, expected 301 to https://",
                    response.status()
                ));
            }
            let target_host = host_of(&location);
            // A configured canonical host applies to both legs: a local target cannot redirect to itself.
            let wanted_host = self
                .options
                .expect_host
                .clone()
                .or(host)
                .or_else(|| host_of(&base));
            if !location.starts_with("https://") || target_host != wanted_host {
                return Err(format!(
                    "{plain_url} redirects to {location:?}; expected https://{}",
                    wanted_host.unwrap_or_default()
                ));
            }
            let wanted_path = path.split('?').next().unwrap_or(path);
            let located_path = reqwest::Url::parse(&location)
                .map(|u| u.path().to_owned())
                .unwrap_or_default();
            if located_path != wanted_path {
                return Err(format!(
                    "{plain_url} redirects to {location:?}, which drops the path {wanted_path}"
                ));
            }

            let secure = self.https_get(&url).await?;
            let hsts = secure
                .headers()
                .get(header::STRICT_TRANSPORT_SECURITY)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            let max_age = hsts.as_deref().and_then(|h| {
                h.split(';')
                    .find_map(|d| d.trim().strip_prefix("max-age="))
                    .and_then(|n| n.trim().parse::<u64>().ok())
            });
            match max_age {
                Some(age) if age >= ONE_YEAR => {
                    seen.push(format!("{plain_url} → 301 https, HSTS max-age={age}"))
                }
                _ => {
                    return Err(format!(
                    "{url} over HTTPS has HSTS {hsts:?}; expected max-age of at least {ONE_YEAR}"
                ))
                }
            }
        }
        Ok(seen.join("; "))
    }

    async fn security_headers(&mut self) -> Outcome {
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

    async fn login_warmup(&mut self) -> Outcome {
        let (Some(email), Some(password)) =
            (self.options.email.clone(), self.options.password.clone())
        else {
            return Err("no credentials: pass --email and set RELEASE_CHECK_PASSWORD (never on the command line)".to_owned());
        };
        let url = join(&self.options.api, "/api/auth/login");
        let mut request = self
            .client
            .post(&url)
            .json(&serde_json::json!({ "email": email, "password": password }));
        if self.options.forwarded_proto {
            request = request.header("x-forwarded-proto", "https");
        }
        let response = request
            .send()
            .await
            .map_err(|e| format!("POST {url}: {e}"))?;
        self.remember_cookies(&response);
        if response.status() != StatusCode::OK {
            return Err(format!(
                "login answered {}: {}",
                response.status(),
                response.text().await.unwrap_or_default()
            ));
        }
        let session = response
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
            .ok_or("login set no session cookie")?;
        self.session = Some(session.clone());

        // Exactly what the frontend does after login: both at once.
        let started = Instant::now();
        let (warmup_url, health_url) = (
            join(&self.options.api, "/api/warmup"),
            join(&self.options.api, "/api/health"),
        );
        let warmup = self.with_session(Method::POST, &warmup_url, &session);
        let health = self.with_session(Method::GET, &health_url, &session);
        let (warmup, health) = tokio::join!(warmup, health);
        let elapsed = started.elapsed().as_millis();
        let (warmup_status, warmup) = warmup?;
        let (health_status, health) = health?;
        if warmup_status != StatusCode::OK || warmup["status"] != "warm" {
            return Err(format!("warmup answered {warmup_status}: {warmup}"));
        }
        if !health_status.is_success() {
            return Err(format!("health answered {health_status}: {health}"));
        }
        Ok(format!(
            "logged in; warmup {} ({} steps) and health {} in parallel in {elapsed} ms",
            warmup["served"],
            warmup["steps"].as_array().map_or(0, Vec::len),
            health["status"]
        ))
    }

    async fn with_session(
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

    async fn stateless(&mut self) -> Outcome {
        let affinity: Vec<&String> = self
            .cookies_seen
            .iter()
            .filter(|n| !SESSION_COOKIES.contains(&n.as_str()))
            .collect();
        if !affinity.is_empty() {
            return Err(format!("a response set an affinity cookie: {affinity:?}; sessions must not need a sticky instance"));
        }
        let Some(session) = self.session.clone() else {
            return Err("no session to check (the login item failed)".to_owned());
        };
        let mut targets = vec![self.options.api.clone()];
        targets.extend(self.options.instances.iter().cloned());
        for target in &targets {
            let (status, body) = self
                .with_session(Method::GET, &join(target, "/api/me"), &session)
                .await?;
            if status != StatusCode::OK {
                return Err(format!("{target} refused the session ({status}): {body}"));
            }
        }
        Ok(format!(
            "no affinity cookie; the session is accepted by {} endpoint(s)",
            targets.len()
        ))
    }

    async fn changelog(&mut self) -> Outcome {
        let version = match self.version.clone() {
            Some(v) => v,
            None => {
                let url = join(&self.options.api, "/api/health");
                let body: serde_json::Value = self
                    .https_get(&url)
                    .await?
                    .json()
                    .await
                    .map_err(|e| format!("{url}: not JSON ({e})"))?;
                body["version"]
                    .as_str()
                    .map(str::to_owned)
                    .ok_or("/api/health reports no version")?
            }
        };
        let path = &self.options.changelog;
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        if crate::changelog::has_release(&text, &version) {
            Ok(format!(
                "the deployed version {version} has a dated section in {}",
                path.display()
            ))
        } else {
            Err(format!(
                "the deployed version {version} has no dated, non-empty section in {}",
                path.display()
            ))
        }
    }
}

/// The checklist as a person reads it.
pub fn render_human(items: &[Item]) -> String {
    let mut out = String::new();
    for item in items {
        let mark = if item.passed { "[x]" } else { "[ ]" };
        out.push_str(&format!(
            "{mark} {} ({} ms)\n      {}\n",
            item.title, item.duration_ms, item.detail
        ));
    }
    let passed = items.iter().filter(|i| i.passed).count();
    out.push_str(&format!("{passed} of {} passed\n", items.len()));
    out
}
