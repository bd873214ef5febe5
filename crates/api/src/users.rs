//! Accounts: lookup, creation, and password hashing. The SQL is written once for both dialects
//! (`$1` placeholders work in SQLite too).

use std::sync::LazyLock;

use argon2::{
    password_hash::{phc::PasswordHash, PasswordHasher, PasswordVerifier},
    Argon2,
};
use secrecy::{ExposeSecret, SecretString};
use sqlx::Row;

use crate::{db::Database, with_pool};

/// Looks up a login by its lower-cased email. Prepared on every connection by warmup, since login
/// is the first thing a user does.
pub const FIND_BY_EMAIL: &str = "SELECT id, email, password_hash FROM users WHERE email = $1";
const INSERT: &str = "INSERT INTO users (email, password_hash) VALUES ($1, $2)";
const UPDATE_PASSWORD: &str = "UPDATE users SET password_hash = $2 WHERE email = $1";

pub const MIN_PASSWORD_CHARS: usize = 8;
pub const MAX_PASSWORD_CHARS: usize = 1024;

#[derive(Debug, Clone)]
pub struct UserRecord {
    pub id: i64,
    pub email: String,
    pub password_hash: String,
}

/// Emails are compared lower-cased and trimmed; `None` if it is not plausibly an address.
pub fn normalise_email(email: &str) -> Option<String> {
    let email = email.trim().to_lowercase();
    let (local, domain) = email.split_once('@')?;
    let plausible = !local.is_empty()
        && !domain.is_empty()
        && !domain.contains('@')
        && email.len() <= 254
        && !email.chars().any(|c| c.is_whitespace() || c.is_control());
    plausible.then_some(email)
}

pub async fn find_by_email(db: &Database, email: &str) -> Result<Option<UserRecord>, sqlx::Error> {
    with_pool!(db, pool => {
        let row = sqlx::query(FIND_BY_EMAIL).bind(email).fetch_optional(pool).await?;
        row.map(|r| Ok(UserRecord { id: r.try_get("id")?, email: r.try_get("email")?, password_hash: r.try_get("password_hash")? }))
            .transpose()
    })
}

/// Whether `upsert` created the account or replaced its password.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Upserted {
    Created,
    PasswordReplaced,
}

/// Creates the account, or replaces its password if it exists.
pub async fn upsert(
    db: &Database,
    email: &str,
    password: &SecretString,
) -> anyhow::Result<Upserted> {
    let hash = hash_password(password.clone()).await?;
    let updated = with_pool!(db, pool => sqlx::query(UPDATE_PASSWORD).bind(email).bind(&hash).execute(pool).await?.rows_affected());
    if updated > 0 {
        return Ok(Upserted::PasswordReplaced);
    }
    with_pool!(db, pool => sqlx::query(INSERT).bind(email).bind(&hash).execute(pool).await.map(drop))?;
    Ok(Upserted::Created)
}

/// argon2id with the crate's defaults (m = 19 MiB, t = 2, p = 1: OWASP's recommendation), on a
/// blocking thread so a login never stalls the runtime.
pub async fn hash_password(password: SecretString) -> anyhow::Result<String> {
    tokio::task::spawn_blocking(move || {
        Argon2::default()
            .hash_password(password.expose_secret().as_bytes())
            .map(|h| h.to_string())
            .map_err(|e| anyhow::anyhow!("hashing the password failed: {e}"))
    })
    .await?
}

/// A hash no password matches, verified against when the account does not exist so that an
/// unknown email costs as much time as a wrong password.
static DUMMY_HASH: LazyLock<String> = LazyLock::new(|| {
    Argon2::default()
        .hash_password(b"no account has this password")
        .expect("hashable")
        .to_string()
});

/// Verifies `password` against `stored` (or the dummy hash when there is no account).
pub async fn verify_password(
    password: SecretString,
    stored: Option<String>,
) -> anyhow::Result<bool> {
    tokio::task::spawn_blocking(move || {
        let exists = stored.is_some();
        let hash = stored.unwrap_or_else(|| DUMMY_HASH.clone());
        let parsed =
            PasswordHash::new(&hash).map_err(|e| anyhow::anyhow!("stored hash is invalid: {e}"))?;
        let matches = Argon2::default()
            .verify_password(password.expose_secret().as_bytes(), &parsed)
            .is_ok();
        Ok(exists && matches)
    })
    .await?
}

/// Builds the dummy hash now, so the first login with an unknown email is not faster than later ones.
pub fn prepare_dummy_hash() {
    LazyLock::force(&DUMMY_HASH);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_trimmed_and_lower_cased() {
        assert_eq!(
            normalise_email("  Ada@Example.COM "),
            Some("ada@example.com".into())
        );
    }

    #[test]
    fn implausible_emails_are_refused() {
        for bad in [
            "",
            "ada",
            "@example.com",
            "ada@",
            "a b@example.com",
            "a@b@c",
        ] {
            assert_eq!(normalise_email(bad), None, "{bad}");
        }
    }

    #[tokio::test]
    async fn a_hash_verifies_its_password_only() {
        let hash = hash_password(SecretString::from("correct horse".to_owned()))
            .await
            .unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(verify_password(
            SecretString::from("correct horse".to_owned()),
            Some(hash.clone())
        )
        .await
        .unwrap());
        assert!(
            !verify_password(SecretString::from("wrong horse".to_owned()), Some(hash))
                .await
                .unwrap()
        );
        assert!(
            !verify_password(SecretString::from("anything".to_owned()), None)
                .await
                .unwrap()
        );
    }
}
