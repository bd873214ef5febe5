//! The failing-migration scenario's database side: make the shared database refuse the newest
//! migration for a new instance, and put it back afterwards.
//!
//! The newest version's row is moved out of `_sqlx_migrations` into a table of the rehearsal's
//! own while its schema objects stay, so an instance starting now sees that migration as pending,
//! re-runs it, and the database refuses it ("already exists") — a release fault, exactly as a
//! release whose new migration conflicts with the schema. The instances already serving have
//! applied their migrations and never look again. Restoring moves the row back untouched
//! (checksum included), so later runs of `api migrate` find the history as it was.

use anyhow::Context;
use sqlx::{Connection, Executor, PgConnection};

/// Where the held-back row waits; its presence means a rehearsal stopped before restoring it.
const HELD: &str = "rehearsal_held_migration";

/// Moves the newest applied migration's row out of the history (restoring first any row a
/// previous rehearsal left held back). Returns its version.
pub(super) async fn hold_back_newest(database_url: &str) -> anyhow::Result<i64> {
    restore(database_url).await?;
    let mut conn = PgConnection::connect(database_url)
        .await
        .context("connect to --database-url")?;
    let mut tx = conn.begin().await?;
    tx.execute(sqlx::AssertSqlSafe(format!(
        "CREATE TABLE {HELD} AS SELECT * FROM _sqlx_migrations \
         WHERE version = (SELECT MAX(version) FROM _sqlx_migrations)"
    )))
    .await
    .context("hold back the newest migration")?;
    tx.execute(sqlx::AssertSqlSafe(format!(
        "DELETE FROM _sqlx_migrations WHERE version IN (SELECT version FROM {HELD})"
    )))
    .await?;
    let version: i64 =
        sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT version FROM {HELD}")))
            .fetch_one(&mut *tx)
            .await
            .context("no migration applied to hold back")?;
    tx.commit().await?;
    conn.close().await?;
    Ok(version)
}

/// Puts a held-back row back into the history, if there is one; a no-op otherwise.
pub(super) async fn restore(database_url: &str) -> anyhow::Result<()> {
    let mut conn = PgConnection::connect(database_url)
        .await
        .context("connect to --database-url")?;
    let held: Option<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT to_regclass('{HELD}')::text"
    )))
    .fetch_one(&mut conn)
    .await?;
    if held.is_some() {
        let mut tx = conn.begin().await?;
        tx.execute(sqlx::AssertSqlSafe(format!(
            "INSERT INTO _sqlx_migrations SELECT * FROM {HELD}"
        )))
        .await
        .context("restore the held-back migration")?;
        tx.execute(sqlx::AssertSqlSafe(format!("DROP TABLE {HELD}")))
            .await?;
        tx.commit().await?;
    }
    conn.close().await?;
    Ok(())
}

/// Whether the history has `version` (after a restore, it must).
pub(super) async fn has_version(database_url: &str, version: i64) -> anyhow::Result<bool> {
    let mut conn = PgConnection::connect(database_url).await?;
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM _sqlx_migrations WHERE version = $1")
        .bind(version)
        .fetch_one(&mut conn)
        .await?;
    conn.close().await?;
    Ok(n == 1)
}
