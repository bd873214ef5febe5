//! "HTTPS enforced": plain HTTP to the API and to the frontend is redirected (301 or 308) to
//! https:// on the expected host with the path kept, and HTTPS answers carry HSTS of at least a year.

use reqwest::header;

use super::checker::{host_of, join, Checker, Outcome};

/// One year in seconds: the least HSTS `max-age` accepted.
const ONE_YEAR: u64 = 31_536_000;

impl Checker {
    pub(super) async fn https(&mut self) -> Outcome {
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
}
