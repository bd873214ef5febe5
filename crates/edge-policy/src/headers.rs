//! Header sets per response class, computed from the policy for one environment. The API adds
//! them with one layer; `emit` writes the static-host form of the same values.

use http::{HeaderName, HeaderValue};

use crate::{
    csp,
    policy::{Origin, Policy, PolicyError},
};

/// What a response is, which decides its CSP and Cache-Control.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponseClass {
    /// An HTML document (index.html, SPA routes).
    Document,
    /// A content-hashed file under the assets prefix.
    Asset,
    /// A JSON API response (and the health endpoints).
    Api,
    /// A redirect answered by the edge itself.
    Redirect,
}

/// One header as a static host writes it (canonical case) and as HTTP sends it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// The header name in canonical case (`Content-Security-Policy`), as `_headers` writes it.
    pub name: &'static str,
    /// The value, validated as an HTTP field value when the policy loads.
    pub value: String,
}

impl Header {
    fn new(name: &'static str, value: impl Into<String>) -> Self {
        Self {
            name,
            value: value.into(),
        }
    }

    /// The header as `http` types, for the API's responses.
    pub fn http(&self) -> (HeaderName, HeaderValue) {
        (
            HeaderName::from_static(lowercase(self.name)),
            HeaderValue::from_str(&self.value).expect("validated when the policy was loaded"),
        )
    }
}

fn lowercase(name: &'static str) -> &'static str {
    // Header names are a fixed set; map each to its lowercase form once.
    match name {
        "Strict-Transport-Security" => "strict-transport-security",
        "Content-Security-Policy" => "content-security-policy",
        "X-Content-Type-Options" => "x-content-type-options",
        "Referrer-Policy" => "referrer-policy",
        "Permissions-Policy" => "permissions-policy",
        "Cross-Origin-Opener-Policy" => "cross-origin-opener-policy",
        "Cross-Origin-Resource-Policy" => "cross-origin-resource-policy",
        "X-Frame-Options" => "x-frame-options",
        "Cache-Control" => "cache-control",
        other => panic!("unmapped header name {other}"),
    }
}

impl Policy {
    /// `Strict-Transport-Security`, for HTTPS responses only.
    pub fn hsts(&self) -> Header {
        let mut value = format!("max-age={}", self.hsts.max_age);
        if self.hsts.include_subdomains {
            value.push_str("; includeSubDomains");
        }
        if self.hsts.preload {
            value.push_str("; preload");
        }
        Header::new("Strict-Transport-Security", value)
    }

    /// The headers every class carries.
    pub fn common_headers(&self) -> Vec<Header> {
        let h = &self.headers;
        let mut out = vec![
            Header::new("X-Content-Type-Options", &h.x_content_type_options),
            Header::new("Referrer-Policy", &h.referrer_policy),
            Header::new(
                "Cross-Origin-Resource-Policy",
                &h.cross_origin_resource_policy,
            ),
        ];
        if let Some(xfo) = &h.x_frame_options {
            out.push(Header::new("X-Frame-Options", xfo));
        }
        out
    }

    /// The headers only documents (and the assets they load) carry.
    pub fn document_headers(&self) -> Vec<Header> {
        let d = &self.document_headers;
        vec![
            Header::new("Permissions-Policy", &d.permissions_policy),
            Header::new("Cross-Origin-Opener-Policy", &d.cross_origin_opener_policy),
        ]
    }

    /// The document CSP for `env`: the policy's directives, the inline-script hashes in
    /// `script-src`, and the environment's API origin in `connect-src`.
    pub fn document_csp(&self, env: &str, script_hashes: &[String]) -> Result<Header, PolicyError> {
        let environment = self.environment(env)?;
        let api_origin = Origin::parse(&environment.api_origin)
            .map_err(|p| PolicyError::new("api_origin", p))?
            .to_string();
        let value = csp::render(
            &self.csp.document,
            &[
                ("script-src", script_hashes.to_vec()),
                ("connect-src", vec![api_origin]),
            ],
        );
        Ok(Header::new("Content-Security-Policy", value))
    }

    /// `Cache-Control` for `class`, from the policy's `[cache]` table.
    pub fn cache_control(&self, class: ResponseClass) -> Header {
        let value = match class {
            ResponseClass::Document => &self.cache.document,
            ResponseClass::Asset => &self.cache.asset,
            ResponseClass::Api => &self.cache.api,
            ResponseClass::Redirect => &self.cache.redirect,
        };
        Header::new("Cache-Control", value)
    }

    /// Every header (except HSTS, which depends on the scheme) a response of `class` carries.
    /// Documents and assets carry the same security headers and document CSP, as the static
    /// hosts' `/*` rule gives them; they differ in Cache-Control.
    pub fn headers_for(
        &self,
        env: &str,
        class: ResponseClass,
        script_hashes: &[String],
    ) -> Result<Vec<Header>, PolicyError> {
        let mut out = self.common_headers();
        match class {
            ResponseClass::Document | ResponseClass::Asset => {
                out.extend(self.document_headers());
                out.push(self.document_csp(env, script_hashes)?);
            }
            ResponseClass::Api => out.push(Header::new(
                "Content-Security-Policy",
                csp::render(&self.csp.api, &[]),
            )),
            ResponseClass::Redirect => {}
        }
        out.push(self.cache_control(class));
        Ok(out)
    }
}
