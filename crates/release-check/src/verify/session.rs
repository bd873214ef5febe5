//! "Login triggers warmup without errors" and "No sticky sessions required; stateless verified":
//! log in, call warmup and health at once as the frontend does, then use the session on every
//! instance and refuse any affinity cookie.

use std::time::Instant;

use reqwest::{Method, StatusCode};

use super::checker::{join, session_cookie, Checker, Outcome, SESSION_COOKIES};

impl Checker {
    pub(super) async fn login_warmup(&mut self) -> Outcome {
        let (email, password) = self.credentials()?;
        let url = join(&self.options.api, "/api/auth/login");
        let response = self.post_login(&url, None, (&email, &password)).await?;
        if response.status() != StatusCode::OK {
            return Err(format!(
                "login answered {}: {}",
                response.status(),
                response.text().await.unwrap_or_default()
            ));
        }
        let session = session_cookie(&response).ok_or("login set no session cookie")?;
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

    pub(super) async fn stateless(&mut self) -> Outcome {
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
}
