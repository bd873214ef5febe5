//! The database: SQLite by default, PostgreSQL in staging and production.
//!
//! sqlx's `query!` macros bind to one database type at compile time and `AnyPool` gives up typed
//! columns, so the pool is an enum over the two typed pools. Queries are plain runtime SQL written
//! to run on both dialects; [`with_pool!`] runs one body against whichever pool is live, and the
//! compiler type-checks that body once per backend.

use std::{path::Path, str::FromStr, time::Duration};

use sqlx::{
    postgres::{PgConnectOptions, PgPool, PgPoolOptions},
    sqlite::{
        SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
    },
    Executor,
};

use crate::config::{Backend, DatabaseSettings};

/// The probe `/api/health` and warmup run.
pub const PING: &str = "SELECT 1";

/// The connection pool, for the backend `DATABASE_URL` names. Cheap to clone (an `Arc`).
#[derive(Clone, Debug)]
pub enum Database {
    /// A SQLite file: one process.
    Sqlite(SqlitePool),
    /// PostgreSQL: shared by every instance.
    Postgres(PgPool),
}

/// Runs `$body` with `$pool` bound to the live pool, whichever backend it is.
#[macro_export]
macro_rules! with_pool {
    ($db:expr, $pool:ident => $body:expr) => {
        match $db {
            $crate::db::Database::Sqlite($pool) => $body,
            $crate::db::Database::Postgres($pool) => $body,
        }
    };
}

impl Database {
    /// Creates the pool without connecting: the service starts, binds and answers `/health` even
    /// while the database is down; connections open on first use (or on warmup).
    pub fn connect_lazy(settings: &DatabaseSettings) -> anyhow::Result<Database> {
        let url = settings.url.expose_secret();
        match settings.backend() {
            Backend::Sqlite => {
                let in_memory = url.contains(":memory:") || url.contains("mode=memory");
                let mut options = SqliteConnectOptions::from_str(url)
                    .map_err(|e| {
                        anyhow::anyhow!("invalid DATABASE_URL: {e}; expected sqlite:PATH")
                    })?
                    .create_if_missing(true)
                    .foreign_keys(true)
                    .busy_timeout(Duration::from_secs(5));
                let mut pool = SqlitePoolOptions::new().acquire_timeout(settings.acquire_timeout);
                if in_memory {
                    // Every connection to `:memory:` is its own empty database: keep exactly one, forever.
                    pool = pool
                        .max_connections(1)
                        .min_connections(1)
                        .idle_timeout(None)
                        .max_lifetime(None);
                } else {
                    create_parent_dir(options.get_filename())?;
                    options = options
                        .journal_mode(SqliteJournalMode::Wal)
                        .synchronous(SqliteSynchronous::Normal);
                    pool = pool
                        .max_connections(settings.max_connections)
                        .min_connections(settings.min_connections);
                }
                Ok(Database::Sqlite(pool.connect_lazy_with(options)))
            }
            Backend::Postgres => {
                let options = PgConnectOptions::from_str(url)
                    .map_err(|e| anyhow::anyhow!("invalid DATABASE_URL: {e}; expected postgres://USER:PASSWORD@HOST:PORT/DATABASE"))?
                    .application_name("release-flow-api");
                let pool = PgPoolOptions::new()
                    .max_connections(settings.max_connections)
                    .min_connections(settings.min_connections)
                    .acquire_timeout(settings.acquire_timeout)
                    .connect_lazy_with(options);
                Ok(Database::Postgres(pool))
            }
        }
    }

    /// Which backend this pool speaks.
    pub fn backend(&self) -> Backend {
        match self {
            Database::Sqlite(_) => Backend::Sqlite,
            Database::Postgres(_) => Backend::Postgres,
        }
    }

    /// Runs [`PING`] on a pooled connection.
    ///
    /// # Errors
    /// The pool timed out or the database failed.
    pub async fn ping(&self) -> Result<(), sqlx::Error> {
        with_pool!(self, pool => pool.execute(PING).await.map(drop))
    }

    /// Opens `count` distinct connections (holding each while opening the next), and on each one
    /// runs the ping and prepares `statements`, so the first real requests find a warm pool with
    /// statements already in every connection's cache. Returns how many connections were warmed.
    pub async fn warm(&self, count: u32, statements: &[&'static str]) -> Result<u32, sqlx::Error> {
        with_pool!(self, pool => {
            let mut held = Vec::with_capacity(count as usize);
            for _ in 0..count.max(1) {
                let mut conn = pool.acquire().await?;
                conn.execute(PING).await?;
                for sql in statements {
                    conn.prepare(sqlx::SqlSafeStr::into_sql_str(*sql)).await?;
                }
                held.push(conn);
            }
            Ok(held.len() as u32)
        })
    }

    /// Closes the pool: waits for checked-out connections to come back, then closes them all.
    pub async fn close(&self) {
        with_pool!(self, pool => pool.close().await)
    }
}

fn create_parent_dir(file: &Path) -> anyhow::Result<()> {
    if let Some(dir) = file.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| {
            anyhow::anyhow!(
                "invalid DATABASE_URL: cannot create the folder {} ({e}); expected a writable path",
                dir.display()
            )
        })?;
    }
    Ok(())
}

/// What is wrong with the database's storage or capacity, when `err` says the disk is full, the
/// database is read-only, its files cannot be opened or written, or the server is out of
/// resources: a fault of the machine, not of the request or of the code, so requests get a 503
/// and the CLI says what to fix. SQLite reports it in its result code (the low byte of the
/// extended code), PostgreSQL in the SQLSTATE.
pub fn storage_fault(err: &sqlx::Error) -> Option<&'static str> {
    let db_err = err.as_database_error()?;
    let code = db_err.code()?;
    if db_err
        .try_downcast_ref::<sqlx::sqlite::SqliteError>()
        .is_some()
    {
        return match code.parse::<u32>().ok()? & 0xff {
            13 => Some("the disk holding the SQLite database is full"),
            8 => Some("the SQLite database is read-only"),
            14 => Some("the SQLite database file cannot be opened (a read-only or missing folder, or no space for its journal)"),
            10 => Some("the disk holding the SQLite database failed a write (full or read-only?)"),
            _ => None,
        };
    }
    match code.as_ref() {
        "53100" => Some("the PostgreSQL server's disk is full"),
        "25006" => Some(
            "the PostgreSQL database is read-only (a standby, or default_transaction_read_only)",
        ),
        "53300" => Some("the PostgreSQL server has no free connection slots"),
        c if c.starts_with("53") => {
            Some("the PostgreSQL server is out of resources (memory or disk)")
        }
        _ => None,
    }
}

/// Whether `err` is PostgreSQL refusing or ending the session rather than failing the statement:
/// a connection exception (SQLSTATE class 08), an administrator or crash shutdown, or a server
/// starting up (57P01–57P03), a refused login or a missing database (class 28, 3D000), or a
/// database not accepting connections (`ALTER DATABASE … ALLOW_CONNECTIONS false`: 55000). These
/// pass when the server or its operator is done, so they are 503s, never 500s.
pub fn connection_refused(err: &sqlx::Error) -> bool {
    let Some(db_err) = err.as_database_error() else {
        return false;
    };
    if db_err
        .try_downcast_ref::<sqlx::postgres::PgDatabaseError>()
        .is_none()
    {
        return false;
    }
    db_err.code().is_some_and(|code| {
        code.starts_with("08")
            || code.starts_with("57P")
            || code.starts_with("28")
            || code == "3D000"
            || code == "55000"
    })
}

/// Where `settings` point, for an error message: `HOST:PORT/DATABASE` for PostgreSQL, the file
/// for SQLite; never the user or password.
pub fn target(settings: &DatabaseSettings) -> String {
    let url = settings.url.expose_secret();
    match settings.backend() {
        Backend::Postgres => match sqlx::postgres::PgConnectOptions::from_str(url) {
            Ok(o) => format!(
                "{}:{}/{}",
                o.get_host(),
                o.get_port(),
                o.get_database().unwrap_or_default()
            ),
            Err(_) => "the server in DATABASE_URL".to_owned(),
        },
        Backend::Sqlite => match SqliteConnectOptions::from_str(url) {
            Ok(o) => o.get_filename().display().to_string(),
            Err(_) => "the file in DATABASE_URL".to_owned(),
        },
    }
}

/// [`storage_fault`] anywhere in an error chain (a CLI command's error, or a migration's, whose
/// `sqlx::Error` is its source).
pub fn storage_fault_in(err: &(dyn std::error::Error + 'static)) -> Option<&'static str> {
    std::iter::successors(Some(err), |e| e.source())
        .find_map(|e| e.downcast_ref::<sqlx::Error>().and_then(storage_fault))
}
