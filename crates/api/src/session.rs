//! Stateless sessions: a signed, expiring token in an HttpOnly cookie. Any instance that knows
//! `SESSION_SECRET` can verify it without a session table, so no sticky sessions are needed.
//!
//! Token: `v1.<base64url(JSON claims)>.<base64url(HMAC-SHA256 over "v1.<claims>")>`. The
//! signature is checked in constant time (`hmac`'s `verify_slice`) before the claims are read.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use hmac::{Hmac, KeyInit, Mac};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

const VERSION: &str = "v1";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// User id.
    pub sub: i64,
    pub email: String,
    /// Expiry, seconds since the Unix epoch.
    pub exp: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SessionError {
    #[error("no session cookie")]
    Missing,
    #[error("malformed session token")]
    Malformed,
    #[error("session signature does not match")]
    BadSignature,
    #[error("session expired")]
    Expired,
}

/// Signs and verifies session tokens, and names the cookie that carries them.
#[derive(Clone)]
pub struct Sessions {
    secret: SecretString,
    pub ttl: Duration,
    /// `__Host-` prefix and `Secure` outside development: the browser then refuses the cookie over
    /// plain HTTP and from any other host or path.
    pub secure: bool,
}

impl Sessions {
    pub fn new(secret: SecretString, ttl: Duration, secure: bool) -> Self {
        Self {
            secret,
            ttl,
            secure,
        }
    }

    pub fn cookie_name(&self) -> &'static str {
        if self.secure {
            "__Host-rf_session"
        } else {
            "rf_session"
        }
    }

    fn mac(&self) -> HmacSha256 {
        HmacSha256::new_from_slice(self.secret.expose_secret().as_bytes())
            .expect("HMAC takes any key length")
    }

    pub fn issue(&self, user_id: i64, email: &str) -> (String, Claims) {
        let claims = Claims {
            sub: user_id,
            email: email.to_owned(),
            exp: now() + self.ttl.as_secs(),
        };
        let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims).expect("serialisable"));
        let signed = format!("{VERSION}.{payload}");
        let mut mac = self.mac();
        mac.update(signed.as_bytes());
        let signature = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
        (format!("{signed}.{signature}"), claims)
    }

    pub fn verify(&self, token: &str) -> Result<Claims, SessionError> {
        self.verify_at(token, now())
    }

    pub fn verify_at(&self, token: &str, now: u64) -> Result<Claims, SessionError> {
        if token.len() > 4096 {
            return Err(SessionError::Malformed);
        }
        let (signed, signature) = token.rsplit_once('.').ok_or(SessionError::Malformed)?;
        let (version, payload) = signed.split_once('.').ok_or(SessionError::Malformed)?;
        if version != VERSION {
            return Err(SessionError::Malformed);
        }
        let signature = URL_SAFE_NO_PAD
            .decode(signature)
            .map_err(|_| SessionError::Malformed)?;
        let mut mac = self.mac();
        mac.update(signed.as_bytes());
        mac.verify_slice(&signature)
            .map_err(|_| SessionError::BadSignature)?;
        let bytes = URL_SAFE_NO_PAD
            .decode(payload)
            .map_err(|_| SessionError::Malformed)?;
        let claims: Claims = serde_json::from_slice(&bytes).map_err(|_| SessionError::Malformed)?;
        if claims.exp <= now {
            return Err(SessionError::Expired);
        }
        Ok(claims)
    }

    /// `Set-Cookie` for a new session.
    pub fn set_cookie(&self, token: &str) -> String {
        let secure = if self.secure { "; Secure" } else { "" };
        format!(
            "{}={token}; Path=/; HttpOnly; SameSite=Lax; Max-Age={}{secure}",
            self.cookie_name(),
            self.ttl.as_secs()
        )
    }

    /// `Set-Cookie` that removes the session.
    pub fn clear_cookie(&self) -> String {
        let secure = if self.secure { "; Secure" } else { "" };
        format!(
            "{}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0{secure}",
            self.cookie_name()
        )
    }

    /// The session token from a `Cookie` header, if present.
    pub fn token_from_cookies<'a>(&self, cookie_header: &'a str) -> Option<&'a str> {
        let name = self.cookie_name();
        cookie_header.split(';').map(str::trim).find_map(|pair| {
            let (k, v) = pair.split_once('=')?;
            (k == name).then_some(v)
        })
    }
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_secs()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sessions(secret: &str) -> Sessions {
        Sessions::new(
            SecretString::from(secret.to_owned()),
            Duration::from_secs(3600),
            true,
        )
    }

    #[test]
    fn a_token_verifies_with_the_same_secret_on_any_instance() {
        let (token, claims) =
            sessions("secret-a-0123456789-0123456789-xyz").issue(7, "a@example.com");
        let other_instance = sessions("secret-a-0123456789-0123456789-xyz");
        assert_eq!(other_instance.verify(&token).unwrap(), claims);
    }

    #[test]
    fn a_token_signed_with_another_secret_is_rejected() {
        let (token, _) = sessions("secret-a-0123456789-0123456789-xyz").issue(7, "a@example.com");
        assert_eq!(
            sessions("secret-b-0123456789-0123456789-xyz").verify(&token),
            Err(SessionError::BadSignature)
        );
    }

    #[test]
    fn a_tampered_payload_is_rejected() {
        let s = sessions("secret-a-0123456789-0123456789-xyz");
        let (token, _) = s.issue(7, "a@example.com");
        let (_, rest) = token.split_once('.').unwrap();
        let (_, signature) = rest.split_once('.').unwrap();
        let forged =
            URL_SAFE_NO_PAD.encode(br#"{"sub":1,"email":"admin@example.com","exp":99999999999}"#);
        assert_eq!(
            s.verify(&format!("v1.{forged}.{signature}")),
            Err(SessionError::BadSignature)
        );
    }

    #[test]
    fn an_expired_token_is_rejected() {
        let s = sessions("secret-a-0123456789-0123456789-xyz");
        let (token, claims) = s.issue(7, "a@example.com");
        assert_eq!(s.verify_at(&token, claims.exp), Err(SessionError::Expired));
    }

    #[test]
    fn garbage_is_malformed_not_a_panic() {
        let s = sessions("secret-a-0123456789-0123456789-xyz");
        for token in ["", "v1", "v1.x", "v2.a.b", "v1.!!!.???", &"a".repeat(5000)] {
            assert!(s.verify(token).is_err(), "{token}");
        }
    }

    #[test]
    fn the_cookie_is_host_only_httponly_lax_and_secure() {
        let s = sessions("secret-a-0123456789-0123456789-xyz");
        assert_eq!(
            s.set_cookie("t"),
            "__Host-rf_session=t; Path=/; HttpOnly; SameSite=Lax; Max-Age=3600; Secure"
        );
        assert_eq!(
            s.token_from_cookies("a=1; __Host-rf_session=tok; b=2"),
            Some("tok")
        );
    }
}
