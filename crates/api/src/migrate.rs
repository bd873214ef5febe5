//! Migrations: one process applies them while the others wait (bounded and logged), every error
//! path releases the lock, and a failure says whose fault it is.
//!
//! - **PostgreSQL**: a session-level advisory lock on a connection of its own, opened for the run
//!   and closed after it whatever happened. sqlx's own lock is taken on a pooled connection and
//!   not released when a migration fails, so the connection went back to the pool still holding
//!   it and every later migrator waited forever; its locking is switched off here.
//! - **SQLite**: an exclusive lock on a file beside the database (`<file>-migrate.lock`), held by
//!   an open handle: the operating system releases it when the handle closes or the process
//!   dies. SQLite has no advisory lock, and without one two processes migrating a new file both
//!   saw it empty and the second failed with "table users already exists".
//!
//! A failure is [`MigrationError::is_release_fault`] when the database answered and refused the
//! release's migrations (a statement failed, an applied migration was edited or is missing): the
//! instance can never serve this release, so liveness reports it and Render keeps the old
//! instances. Otherwise (unreachable, out of space, another migrator holding the lock past the
//! wait) it is the database's availability, retried in the background.

use std::{
    fs::File,
    path::{Path, PathBuf},
    sync::LazyLock,
    time::{Duration, Instant},
};

use sqlx::{
    migrate::{MigrateError, Migrator},
    postgres::PgConnection,
    Connection,
};

use crate::db::{storage_fault, Database};

static SQLITE: LazyLock<Migrator> =
    LazyLock::new(|| unlocked(sqlx::migrate!("./migrations/sqlite")));
static POSTGRES: LazyLock<Migrator> =
    LazyLock::new(|| unlocked(sqlx::migrate!("./migrations/postgres")));

/// The advisory lock key: any constant the other migrators of this database agree on.
const POSTGRES_LOCK_KEY: i64 = 0x7266_6d69_6772_6174; // "rfmigrat"
/// How often a waiting migrator tries the lock again, and how often it says it is waiting.
const LOCK_RETRY: Duration = Duration::from_millis(200);
const LOCK_LOG_EVERY: Duration = Duration::from_secs(5);

fn unlocked(migrator: Migrator) -> Migrator {
    let mut migrator = Migrator::with_migrations(migrator.iter().cloned().collect());
    migrator.set_locking(false);
    migrator
}

/// The newest migration version this binary carries (the same in both dialects).
pub fn latest_version() -> i64 {
    SQLITE.iter().map(|m| m.version).max().unwrap_or(0)
}

/// Why migrations did not apply.
#[derive(Debug, thiserror::Error)]
pub enum MigrationError {
    /// Another process held the lock for the whole wait.
    #[error("another process held the migration lock for {} s", .0.as_secs())]
    LockTimeout(Duration),
    /// The lock could not be taken (the lock file cannot be created, say).
    #[error("could not take the migration lock: {0}")]
    Lock(#[source] std::io::Error),
    /// Connecting, or a statement, failed.
    #[error(transparent)]
    Migrate(#[from] MigrateError),
    /// The dedicated connection could not be opened.
    #[error("could not connect to the database at {target}: {error}")]
    Connect {
        /// `HOST:PORT/DATABASE`: which server, since the driver's message often does not say.
        target: String,
        /// The driver's error (its own source is the OS error, when there is one).
        #[source]
        error: sqlx::Error,
    },
}

impl MigrationError {
    /// Whether the release itself cannot run on this database (see the module documentation),
    /// as opposed to the database being unavailable for now.
    pub fn is_release_fault(&self) -> bool {
        match self {
            MigrationError::Migrate(e) => match e {
                MigrateError::Execute(err) | MigrateError::ExecuteMigration(err, _) => {
                    matches!(err, sqlx::Error::Database(_)) && storage_fault(err).is_none()
                }
                MigrateError::VersionMissing(_)
                | MigrateError::VersionMismatch(_)
                | MigrateError::VersionNotPresent(_)
                | MigrateError::VersionTooOld(..)
                | MigrateError::VersionTooNew(..)
                | MigrateError::Dirty(_) => true,
                _ => false,
            },
            _ => false,
        }
    }

    /// One line for an operator: what failed and what to do, without the driver's detail when
    /// `public` (the `/api/health` body), with it otherwise (the CLI and the log).
    pub fn cause(&self, public: bool) -> String {
        let detail = |err: &sqlx::Error| {
            if public {
                String::from("; the service log has the database's message")
            } else {
                format!(": {err}")
            }
        };
        match self {
            MigrationError::Migrate(MigrateError::ExecuteMigration(err, version)) => format!(
                "migration {version} failed{}. Each migration is one transaction, so the database is as it was before it; fix the cause, then run `api migrate` again",
                detail(err)
            ),
            MigrationError::Migrate(MigrateError::VersionMismatch(version)) => format!(
                "migration {version} was applied before and has been edited since; an applied migration must never change (add a new one instead)"
            ),
            MigrationError::Migrate(MigrateError::VersionMissing(version)) => format!(
                "the database has migration {version}, which this release does not know: it is older than the database"
            ),
            MigrationError::Migrate(MigrateError::Dirty(version)) => format!(
                "migration {version} was left partly applied; repair the database by hand, then run `api migrate` again"
            ),
            MigrationError::LockTimeout(wait) => format!(
                "another process held the migration lock for {} s; it may still be migrating, or be stuck: see MIGRATION_LOCK_WAIT_SECS",
                wait.as_secs()
            ),
            other => match (public, storage_fault_of(other)) {
                (_, Some(fault)) => format!("{fault}; once that is fixed, migrations can be applied"),
                (true, None) => "the database is unavailable; retrying".to_owned(),
                // The error line says what failed; this says what to check, without repeating it.
                (false, None) => "the database is unavailable: check DATABASE_URL and that the server accepts connections".to_owned(),
            },
        }
    }
}

fn storage_fault_of(err: &MigrationError) -> Option<&'static str> {
    match err {
        MigrationError::Migrate(
            MigrateError::Execute(e) | MigrateError::ExecuteMigration(e, _),
        )
        | MigrationError::Connect { error: e, .. } => storage_fault(e),
        _ => None,
    }
}

/// Applies pending migrations, waiting at most `lock_wait` for another process's run.
///
/// # Errors
/// A [`MigrationError`]; whatever it is, the lock is no longer held when this returns.
pub async fn run(db: &Database, lock_wait: Duration) -> Result<(), MigrationError> {
    match db {
        Database::Postgres(pool) => {
            // A connection of its own: closing it ends the session, and with it the lock. Bounded
            // like the pool's (`DATABASE_ACQUIRE_TIMEOUT_MS`): a server that accepts the connection
            // and never answers would otherwise hold this run, and every retry behind it, forever.
            let wait = pool.options().get_acquire_timeout();
            let options = pool.connect_options();
            let target = format!(
                "{}:{}/{}",
                options.get_host(),
                options.get_port(),
                options.get_database().unwrap_or_default()
            );
            let connect = PgConnection::connect_with(&options);
            let mut conn = match tokio::time::timeout(wait, connect).await {
                Ok(connected) => connected.map_err(|error| MigrationError::Connect {
                    target: target.clone(),
                    error,
                })?,
                Err(_) => {
                    return Err(MigrationError::Connect {
                        target,
                        error: sqlx::Error::Io(std::io::Error::new(
                            std::io::ErrorKind::TimedOut,
                            format!("no answer within {} ms", wait.as_millis()),
                        )),
                    });
                }
            };
            let result = migrate_postgres(&mut conn, lock_wait).await;
            if let Err(e) = conn.close().await {
                tracing::debug!(error = %e, "closing the migration connection");
            }
            result
        }
        Database::Sqlite(pool) => {
            let options = pool.connect_options();
            let file = options.get_filename();
            // An in-memory database is private to this process's one connection.
            let _lock = match is_in_memory(file) {
                true => None,
                false => Some(lock_file(&lock_path(file), lock_wait).await?),
            };
            let mut conn = pool
                .acquire()
                .await
                .map_err(|error| MigrationError::Connect {
                    target: file.display().to_string(),
                    error,
                })?;
            SQLITE.run_direct(None, &mut *conn, false).await?;
            Ok(())
        }
    }
}

async fn migrate_postgres(
    conn: &mut PgConnection,
    lock_wait: Duration,
) -> Result<(), MigrationError> {
    lock_postgres(conn, lock_wait).await?;
    POSTGRES.run_direct(None, conn, false).await?;
    Ok(())
}

async fn lock_postgres(conn: &mut PgConnection, wait: Duration) -> Result<(), MigrationError> {
    let started = Instant::now();
    let mut said = started;
    loop {
        let locked: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
            .bind(POSTGRES_LOCK_KEY)
            .fetch_one(&mut *conn)
            .await
            .map_err(|e| MigrationError::Migrate(MigrateError::Execute(e)))?;
        if locked {
            return Ok(());
        }
        waiting(started, &mut said, wait)?;
        tokio::time::sleep(LOCK_RETRY).await;
    }
}

/// The lock file of an SQLite database: beside it, so every process that opens the database
/// finds the same one.
fn lock_path(database: &Path) -> PathBuf {
    let mut name = database.as_os_str().to_owned();
    name.push("-migrate.lock");
    PathBuf::from(name)
}

fn is_in_memory(file: &Path) -> bool {
    let name = file.to_string_lossy();
    name.is_empty() || name.contains(":memory:") || name.contains("mode=memory")
}

/// Holds an exclusive lock on `path` (created if missing) until dropped.
async fn lock_file(path: &Path, wait: Duration) -> Result<File, MigrationError> {
    let file = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .map_err(MigrationError::Lock)?;
    let started = Instant::now();
    let mut said = started;
    loop {
        match file.try_lock() {
            Ok(()) => return Ok(file),
            Err(std::fs::TryLockError::WouldBlock) => {}
            Err(std::fs::TryLockError::Error(e)) => return Err(MigrationError::Lock(e)),
        }
        waiting(started, &mut said, wait)?;
        tokio::time::sleep(LOCK_RETRY).await;
    }
}

/// Logs that this process is waiting (every few seconds), or gives up after `wait`.
fn waiting(started: Instant, said: &mut Instant, wait: Duration) -> Result<(), MigrationError> {
    if started.elapsed() >= wait {
        return Err(MigrationError::LockTimeout(wait));
    }
    if said.elapsed() >= LOCK_LOG_EVERY {
        *said = Instant::now();
        tracing::info!(
            waited_secs = started.elapsed().as_secs(),
            "another process is applying migrations; waiting for it"
        );
    }
    Ok(())
}
