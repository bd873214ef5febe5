//! Ending sessions for real, in the shared database, so that every instance sees it at once:
//! logout revokes one session id (a row kept only until the token would have expired anyway);
//! logout-all and a password change advance the user's session epoch, which ends every session
//! issued under an older one.
//!
//! Cost: one indexed read per authenticated request (the user's epoch and the session id's
//! revocation, in one statement), measured in docs/ARCHITECTURE.md. Nothing is cached, so a
//! revocation holds on every instance from the moment it is written.

use sqlx::Row;

use crate::{db::Database, session::Claims, with_pool};

const CURRENT: &str = "SELECT u.session_epoch,
        CASE WHEN EXISTS (SELECT 1 FROM revoked_sessions r WHERE r.jti = $2) THEN 1 ELSE 0 END AS revoked
     FROM users u WHERE u.id = $1";
const REVOKE: &str =
    "INSERT INTO revoked_sessions (jti, expires_at) VALUES ($1, $2) ON CONFLICT (jti) DO NOTHING";
const ADVANCE_EPOCH: &str = "UPDATE users SET session_epoch = session_epoch + 1 WHERE id = $1";
const FORGET_EXPIRED: &str = "DELETE FROM revoked_sessions WHERE expires_at < $1";

/// Whether the session `claims` describe is still on: its user exists, its epoch is the user's
/// current one, and its id was not revoked.
///
/// # Errors
/// The database error: the caller answers 503 (a session is never assumed valid unchecked).
pub async fn is_current(db: &Database, claims: &Claims) -> Result<bool, sqlx::Error> {
    let found: Option<(i64, i32)> = with_pool!(db, pool => {
        let row = sqlx::query(CURRENT).bind(claims.sub).bind(&claims.jti).fetch_optional(pool).await?;
        row.map(|r| Ok::<_, sqlx::Error>((r.try_get("session_epoch")?, r.try_get("revoked")?)))
            .transpose()?
    });
    Ok(found.is_some_and(|(epoch, revoked)| epoch == claims.epoch && revoked == 0))
}

/// Ends the one session `claims` describe.
///
/// # Errors
/// The database error.
pub async fn revoke(db: &Database, claims: &Claims) -> Result<(), sqlx::Error> {
    let expires_at = i64::try_from(claims.exp).unwrap_or(i64::MAX);
    with_pool!(db, pool => sqlx::query(REVOKE).bind(&claims.jti).bind(expires_at).execute(pool).await.map(drop))
}

/// Ends every session of `user_id`.
///
/// # Errors
/// The database error.
pub async fn end_all(db: &Database, user_id: i64) -> Result<(), sqlx::Error> {
    with_pool!(db, pool => sqlx::query(ADVANCE_EPOCH).bind(user_id).execute(pool).await.map(drop))
}

/// Deletes revocations whose tokens have expired: they can no longer be presented. Returns how
/// many went.
///
/// # Errors
/// The database error.
pub async fn forget_expired(db: &Database, now: u64) -> Result<u64, sqlx::Error> {
    let now = i64::try_from(now).unwrap_or(i64::MAX);
    with_pool!(db, pool => sqlx::query(FORGET_EXPIRED).bind(now).execute(pool).await.map(|r| r.rows_affected()))
}
