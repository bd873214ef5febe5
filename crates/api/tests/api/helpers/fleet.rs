//! Several instances of one deployment, as Render runs them: one `DATABASE_URL` (a SQLite file in
//! a temporary directory the test holds, or a fresh PostgreSQL database) and one
//! `SESSION_SECRET` (the [`TestConfig`] default) for all of them; and a database the test can take
//! away from an instance and give back.

use std::time::Duration;

use api::db::Database;

use super::{
    fresh_postgres_database, postgres_socket_addr, via, Backend, TcpRelay, TestApp, TestConfig,
};

/// The database every instance of one deployment uses. It outlives the instances (a restart keeps
/// it), and a SQLite file is removed with it.
pub struct SharedDatabase {
    pub backend: Backend,
    pub url: String,
    _dir: Option<tempfile::TempDir>,
}

impl SharedDatabase {
    pub async fn new(backend: Backend) -> SharedDatabase {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("temp dir");
                SharedDatabase {
                    backend,
                    url: format!("sqlite://{}/fleet.db", dir.path().display()),
                    _dir: Some(dir),
                }
            }
            Backend::Postgres => SharedDatabase {
                backend,
                url: fresh_postgres_database().await,
                _dir: None,
            },
        }
    }

    /// One more instance of the deployment, on this database.
    pub fn instance(&self) -> TestConfig {
        TestConfig::new(self.backend).var("DATABASE_URL", &self.url)
    }
}

/// An instance whose database the test can take away ([`Outage::cut`]) and give back
/// ([`Outage::restore`]).
///
/// - PostgreSQL: the instance reaches the server through a [`TcpRelay`]; cutting it closes every
///   connection and refuses new ones, as a network partition or a restarting server would.
/// - SQLite has no server to cut: the test takes every connection of the instance's pool
///   (`DATABASE_MAX_CONNECTIONS=2`) and holds them, so a request finds no connection within
///   `DATABASE_ACQUIRE_TIMEOUT_MS`: the same failure (`PoolTimedOut`) a request meets while a
///   PostgreSQL server cannot be reached.
pub struct Outage {
    switch: Switch,
}

enum Switch {
    Relay(TcpRelay),
    Pool {
        db: Database,
        held: Vec<sqlx::pool::PoolConnection<sqlx::Sqlite>>,
    },
}

const POOL_SIZE: u32 = 2;

impl Outage {
    /// Starts `config` (with whatever variables the test needs) on a database of its own that
    /// the returned [`Outage`] controls, with 300 ms acquire and probe timeouts, and waits until
    /// it is ready.
    pub async fn spawn(config: TestConfig) -> (TestApp, Outage) {
        let backend = config.backend;
        let config = config
            .var("DATABASE_ACQUIRE_TIMEOUT_MS", "300")
            .var("HEALTH_DB_TIMEOUT_MS", "300");
        let (app, switch) = match backend {
            Backend::Postgres => {
                let relay = TcpRelay::start(postgres_socket_addr()).await;
                let url = via(&fresh_postgres_database().await, relay.addr);
                let app = config.var("DATABASE_URL", url).spawn().await;
                (app, Switch::Relay(relay))
            }
            Backend::Sqlite => {
                let app = config
                    .var("DATABASE_MAX_CONNECTIONS", POOL_SIZE.to_string())
                    .spawn()
                    .await;
                let db = app.db.clone();
                (
                    app,
                    Switch::Pool {
                        db,
                        held: Vec::new(),
                    },
                )
            }
        };
        app.wait_for_readiness("pass", Duration::from_secs(10))
            .await;
        (app, Outage { switch })
    }

    /// The database is gone for the instance.
    pub async fn cut(&mut self) {
        match &mut self.switch {
            Switch::Relay(relay) => relay.cut(),
            Switch::Pool { db, held } => {
                let Database::Sqlite(pool) = db else {
                    unreachable!("a SQLite outage holds a SQLite pool")
                };
                for _ in 0..POOL_SIZE {
                    let connection = tokio::time::timeout(Duration::from_secs(5), pool.acquire())
                        .await
                        .expect("the pool's connections come back within 5 s")
                        .expect("a SQLite connection");
                    held.push(connection);
                }
            }
        }
    }

    /// The database is back.
    pub async fn restore(&mut self) {
        match &mut self.switch {
            Switch::Relay(relay) => relay.restore().await,
            Switch::Pool { held, .. } => held.clear(),
        }
    }
}

impl TestApp {
    /// Stops the instance as a deploy does (the shutdown handle drains like SIGTERM) and waits
    /// until it has: what it held in memory is gone, the database is not.
    pub async fn stop(self) {
        // The client's idle keep-alive connections would hold the drain until its deadline.
        drop(self.client);
        self.shutdown.shutdown();
        tokio::time::timeout(Duration::from_secs(10), self.server)
            .await
            .expect("stopped within 10 s")
            .expect("the server task")
            .expect("a clean stop");
    }
}

/// Makes every connection of `db`'s pool (`pool_size`, its `DATABASE_MAX_CONNECTIONS`) refuse
/// writes, or accept them again, while reads go on: `PRAGMA query_only` on SQLite,
/// `default_transaction_read_only` on PostgreSQL, as on a read-only disk or a standby. All the
/// pool's connections are taken at once (so it opens every one it may) and each is switched.
pub async fn set_read_only(db: &Database, pool_size: u32, on: bool) {
    use sqlx::Executor;
    let flag = if on { "on" } else { "off" };
    match db {
        Database::Sqlite(pool) => {
            let mut held = Vec::new();
            for _ in 0..pool_size {
                let mut connection = pool.acquire().await.expect("a SQLite connection");
                let sql = format!("PRAGMA query_only = {flag}");
                connection
                    .execute(sqlx::AssertSqlSafe(sql))
                    .await
                    .expect("switch query_only");
                held.push(connection);
            }
        }
        Database::Postgres(pool) => {
            let mut held = Vec::new();
            for _ in 0..pool_size {
                let mut connection = pool.acquire().await.expect("a PostgreSQL connection");
                let sql = format!("SET default_transaction_read_only = {flag}");
                connection
                    .execute(sqlx::AssertSqlSafe(sql))
                    .await
                    .expect("switch default_transaction_read_only");
                held.push(connection);
            }
        }
    }
}
