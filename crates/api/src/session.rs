//! Session tokens: signed, expiring, in an HttpOnly cookie. Any instance that knows
//! `SESSION_SECRET` verifies one without asking another, so no sticky sessions are needed; that a
//! verified session has not been ended (logout, logout-all, a password change) is the shared
//! database's to say (`revocation.rs`).
//!
//! Token: `v2.<base64url(JSON claims)>.<base64url(HMAC-SHA256 over "v2.<claims>")>`. The
//! signature is checked in constant time (`hmac`'s `verify_slice`) before the claims are read,
//! against `SESSION_SECRET` and then, during a rotation, `SESSION_SECRET_PREVIOUS` (verification
//! only, as Django's `SECRET_KEY_FALLBACKS`); new tokens are always signed with the current one.
//! The cookie itself is written and read with the `cookie` crate (RFC 6265).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::http::{header, HeaderMap, HeaderValue};
use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use cookie::{Cookie, SameSite};
use hmac::{Hmac, KeyInit, Mac};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// The token format. `v1` tokens (no session id) are refused: their sessions could not be ended.
const VERSION: &str = "v2";

/// What a session token says, signed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// User id.
    pub sub: i64,
    /// The user's email address at login (shown by `GET /api/me`).
    pub email: String,
    /// Session id: 128 random bits, base64url. Logout revokes exactly this session.
    pub jti: String,
    /// The user's session epoch when issued; a higher epoch in the database ends this session.
    pub epoch: i64,
    /// Issued at, seconds since the Unix epoch.
    pub iat: u64,
    /// Expiry, seconds since the Unix epoch.
    pub exp: u64,
}

/// Why a request carries no valid session. Each ends as 401 `unauthorized`; the variant
/// is for the log.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SessionError {
    /// No session cookie on the request.
    #[error("no session cookie")]
    Missing,
    /// Not a `v2.<payload>.<signature>` token, or its payload does not decode.
    #[error("malformed session token")]
    Malformed,
    /// Signed with neither the current nor the previous secret.
    #[error("session signature does not match")]
    BadSignature,
    /// Past its `exp`.
    #[error("session expired")]
    Expired,
}

/// Signs and verifies session tokens, and names the cookie that carries them.
#[derive(Clone)]
pub struct Sessions {
    secret: SecretString,
    /// Accepted for verification only, during a rotation.
    previous: Option<SecretString>,
    /// A session's lifetime (`SESSION_TTL_SECS`); the cookie's `Max-Age`.
    pub ttl: Duration,
    /// `__Host-` prefix and `Secure` outside development: the browser then refuses the cookie over
    /// plain HTTP and from any other host or path.
    pub secure: bool,
}

impl Sessions {
    /// `secret` signs and verifies; `previous` only verifies.
    pub fn new(
        secret: SecretString,
        previous: Option<SecretString>,
        ttl: Duration,
        secure: bool,
    ) -> Self {
        Self {
            secret,
            previous,
            ttl,
            secure,
        }
    }

    /// `__Host-rf_session` when `secure`, else `rf_session` (RFC 6265bis §4.1.3.2: the `__Host-`
    /// prefix pins the cookie to this host, path `/`, HTTPS).
    pub fn cookie_name(&self) -> &'static str {
        if self.secure {
            "__Host-rf_session"
        } else {
            "rf_session"
        }
    }

    fn mac(secret: &SecretString) -> HmacSha256 {
        HmacSha256::new_from_slice(secret.expose_secret().as_bytes())
            .expect("HMAC takes any key length")
    }

    /// A new session for the user, under the user's current session `epoch`.
    pub fn issue(&self, user_id: i64, email: &str, epoch: i64) -> (String, Claims) {
        let iat = now();
        let jti: [u8; 16] = rand::random();
        let claims = Claims {
            sub: user_id,
            email: email.to_owned(),
            jti: URL_SAFE_NO_PAD.encode(jti),
            epoch,
            iat,
            exp: iat + self.ttl.as_secs(),
        };
        let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims).expect("serialisable"));
        let signed = format!("{VERSION}.{payload}");
        let mut mac = Self::mac(&self.secret);
        mac.update(signed.as_bytes());
        let signature = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
        (format!("{signed}.{signature}"), claims)
    }

    /// The claims of a token signed with the current or the previous secret and not yet expired.
    /// Whether the session was ended since is not checked here (see `revocation.rs`).
    ///
    /// # Errors
    /// [`SessionError::Malformed`], [`SessionError::BadSignature`] or [`SessionError::Expired`].
    pub fn verify(&self, token: &str) -> Result<Claims, SessionError> {
        self.verify_at(token, now())
    }

    /// [`Sessions::verify`] at `now` (seconds since the Unix epoch).
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
        let signed_with = |secret: &SecretString| {
            let mut mac = Self::mac(secret);
            mac.update(signed.as_bytes());
            mac.verify_slice(&signature).is_ok()
        };
        if !signed_with(&self.secret) && !self.previous.as_ref().is_some_and(signed_with) {
            return Err(SessionError::BadSignature);
        }
        let bytes = URL_SAFE_NO_PAD
            .decode(payload)
            .map_err(|_| SessionError::Malformed)?;
        let claims: Claims = serde_json::from_slice(&bytes).map_err(|_| SessionError::Malformed)?;
        if claims.exp <= now {
            return Err(SessionError::Expired);
        }
        Ok(claims)
    }

    /// `Set-Cookie` for a new session: host-only, `Path=/`, HttpOnly, `SameSite=Lax`,
    /// `Max-Age` = the session's lifetime, and `Secure` outside development (RFC 6265 §4.1;
    /// the `__Host-` prefix, RFC 6265bis §4.1.3.2, needs exactly these attributes).
    pub fn set_cookie(&self, token: &str) -> HeaderValue {
        let ttl = i64::try_from(self.ttl.as_secs()).unwrap_or(i64::MAX);
        self.cookie(token, cookie::time::Duration::seconds(ttl))
    }

    /// `Set-Cookie` that removes the session (`Max-Age=0`, RFC 6265 §5.2.2).
    pub fn clear_cookie(&self) -> HeaderValue {
        self.cookie("", cookie::time::Duration::ZERO)
    }

    fn cookie(&self, value: &str, max_age: cookie::time::Duration) -> HeaderValue {
        let cookie = Cookie::build((self.cookie_name(), value))
            .path("/")
            .http_only(true)
            .same_site(SameSite::Lax)
            .max_age(max_age)
            .secure(self.secure)
            .build();
        HeaderValue::try_from(cookie.to_string()).expect("a token is a valid header value")
    }

    /// The session token from the request's `Cookie` header lines (HTTP/2 may send one line per
    /// cookie, RFC 9113 §8.2.3), if one carries this service's cookie.
    pub fn token_from_headers(&self, headers: &HeaderMap) -> Option<String> {
        let name = self.cookie_name();
        headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(Cookie::split_parse)
            .filter_map(Result::ok)
            .find(|c| c.name() == name)
            .map(|c| c.value().to_owned())
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
            None,
            Duration::from_secs(3600),
            true,
        )
    }

    fn rotated(secret: &str, previous: &str) -> Sessions {
        Sessions::new(
            SecretString::from(secret.to_owned()),
            Some(SecretString::from(previous.to_owned())),
            Duration::from_secs(3600),
            true,
        )
    }

    const A: &str = "secret-a-0123456789-0123456789-xyz";
    const B: &str = "secret-b-0123456789-0123456789-xyz";

    #[test]
    fn during_a_rotation_the_previous_secret_still_verifies_but_never_signs() {
        let (old_token, claims) = sessions(A).issue(7, "a@example.com", 0);
        let rotating = rotated(B, A);
        assert_eq!(rotating.verify(&old_token).unwrap(), claims);
        let (new_token, _) = rotating.issue(7, "a@example.com", 0);
        assert_eq!(
            sessions(B).verify(&new_token).map(|c| c.sub),
            Ok(7),
            "signed with the new secret"
        );
        assert_eq!(
            sessions(A).verify(&new_token),
            Err(SessionError::BadSignature)
        );
        assert_eq!(
            sessions(B).verify(&old_token),
            Err(SessionError::BadSignature),
            "once the previous secret is removed"
        );
    }

    #[test]
    fn every_session_has_its_own_id_and_its_issue_time() {
        let s = sessions(A);
        let (_, one) = s.issue(7, "a@example.com", 3);
        let (_, two) = s.issue(7, "a@example.com", 3);
        assert_ne!(one.jti, two.jti);
        assert_eq!(one.jti.len(), 22, "128 bits in base64url");
        assert_eq!(one.epoch, 3);
        assert_eq!(one.exp - one.iat, 3600);
    }

    #[test]
    fn a_token_verifies_with_the_same_secret_on_any_instance() {
        let (token, claims) =
            sessions("secret-a-0123456789-0123456789-xyz").issue(7, "a@example.com", 0);
        let other_instance = sessions("secret-a-0123456789-0123456789-xyz");
        assert_eq!(other_instance.verify(&token).unwrap(), claims);
    }

    #[test]
    fn a_token_signed_with_another_secret_is_rejected() {
        let (token, _) =
            sessions("secret-a-0123456789-0123456789-xyz").issue(7, "a@example.com", 0);
        assert_eq!(
            sessions("secret-b-0123456789-0123456789-xyz").verify(&token),
            Err(SessionError::BadSignature)
        );
    }

    #[test]
    fn a_tampered_payload_is_rejected() {
        let s = sessions("secret-a-0123456789-0123456789-xyz");
        let (token, _) = s.issue(7, "a@example.com", 0);
        let (_, rest) = token.split_once('.').unwrap();
        let (_, signature) = rest.split_once('.').unwrap();
        let forged =
            URL_SAFE_NO_PAD.encode(br#"{"sub":1,"email":"admin@example.com","exp":99999999999}"#);
        assert_eq!(
            s.verify(&format!("v2.{forged}.{signature}")),
            Err(SessionError::BadSignature)
        );
    }

    #[test]
    fn an_expired_token_is_rejected() {
        let s = sessions("secret-a-0123456789-0123456789-xyz");
        let (token, claims) = s.issue(7, "a@example.com", 0);
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
            "__Host-rf_session=t; HttpOnly; SameSite=Lax; Secure; Path=/; Max-Age=3600"
        );
        assert_eq!(
            s.clear_cookie(),
            "__Host-rf_session=; HttpOnly; SameSite=Lax; Secure; Path=/; Max-Age=0"
        );
    }

    #[test]
    fn the_token_is_found_among_other_cookies_and_cookie_lines() {
        let s = sessions("secret-a-0123456789-0123456789-xyz");
        let mut headers = HeaderMap::new();
        headers.append(header::COOKIE, HeaderValue::from_static("a=1; b=2"));
        headers.append(
            header::COOKIE,
            HeaderValue::from_static("c=3;__Host-rf_session=tok"),
        );
        assert_eq!(s.token_from_headers(&headers), Some("tok".to_owned()));
        let mut other = HeaderMap::new();
        other.append(header::COOKIE, HeaderValue::from_static("rf_session=tok"));
        assert_eq!(
            s.token_from_headers(&other),
            None,
            "the development name is another cookie"
        );
    }
}
