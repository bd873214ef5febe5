//! Accounts: lookup and creation. The SQL is written once for both dialects (`$1` placeholders
//! work in SQLite too); hashing is `password.rs`'s.

use secrecy::SecretString;
use sqlx::Row;

use crate::{db::Database, password::PasswordHasher, with_pool};

/// Looks up a login by its lower-cased email. Prepared on every connection by warmup, since login
/// is the first thing a user does.
pub const FIND_BY_EMAIL: &str =
    "SELECT id, email, password_hash, session_epoch FROM users WHERE email = $1";
const INSERT: &str =
    "INSERT INTO users (email, password_hash) VALUES ($1, $2) ON CONFLICT (email) DO NOTHING";
const REPLACE_PASSWORD: &str =
    "UPDATE users SET password_hash = $2, session_epoch = session_epoch + 1 WHERE email = $1";

/// The shortest password `api user add` accepts, in characters.
pub const MIN_PASSWORD_CHARS: usize = 8;
/// The longest password accepted, in characters: bounds argon2's input.
pub const MAX_PASSWORD_CHARS: usize = 1024;

/// An account as login reads it.
#[derive(Debug, Clone)]
pub struct UserRecord {
    /// The account's id.
    pub id: i64,
    /// The account's email address, lower-cased.
    pub email: String,
    /// PHC string (`$argon2id$v=19$m=19456,t=2,p=1$…`).
    pub password_hash: String,
    /// Sessions issued now carry this epoch; a higher one ends them.
    pub session_epoch: i64,
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

/// The account with this email (compared case-insensitively), if any.
///
/// # Errors
/// The database failed.
pub async fn find_by_email(db: &Database, email: &str) -> Result<Option<UserRecord>, sqlx::Error> {
    with_pool!(db, pool => {
        let row = sqlx::query(FIND_BY_EMAIL).bind(email).fetch_optional(pool).await?;
        row.map(|r| Ok(UserRecord {
            id: r.try_get("id")?,
            email: r.try_get("email")?,
            password_hash: r.try_get("password_hash")?,
            session_epoch: r.try_get("session_epoch")?,
        }))
            .transpose()
    })
}

/// Whether `upsert` created the account or replaced its password.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Upserted {
    /// A new account.
    Created,
    /// The password was replaced, and every session of the account ended with it.
    PasswordReplaced,
}

/// Creates the account, or replaces its password if it exists — which also advances its
/// session epoch, so every session issued under the old password ends. Each statement is atomic,
/// so concurrent calls for one new email all succeed: one creates it, the others replace.
///
/// # Errors
/// Hashing or the database failed.
pub async fn upsert(
    db: &Database,
    email: &str,
    password: &SecretString,
) -> anyhow::Result<Upserted> {
    let hash = PasswordHasher::new(1).hash(password.clone()).await?;
    let created = with_pool!(db, pool => sqlx::query(INSERT).bind(email).bind(&hash).execute(pool).await?.rows_affected());
    if created > 0 {
        return Ok(Upserted::Created);
    }
    with_pool!(db, pool => sqlx::query(REPLACE_PASSWORD).bind(email).bind(&hash).execute(pool).await.map(drop))?;
    Ok(Upserted::PasswordReplaced)
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
}
