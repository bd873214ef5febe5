//! Migrations with the real binary: a migration the database refuses (and the repair), the lock
//! between migrators (waited for, logged, bounded), and processes racing on a new database.

use std::{
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use sqlx::{Connection, Executor};

use crate::{
    backend_tests,
    helpers::{
        black_hole, fresh_postgres_database, spawn_app_with_unreachable_database, ApiCommand,
        Backend, Finished, RunningApi, TestConfig,
    },
};

backend_tests!(
    a_refused_migration_fails_fast_and_the_repair_recovers_the_running_server,
    a_refused_release_never_answers_liveness_ok_not_even_at_start,
    a_migrator_waits_for_the_lock_holder_and_says_so,
    a_migrator_gives_up_on_a_lock_never_released_and_names_it,
    concurrent_user_adds_for_one_new_email_all_succeed_with_one_account
);

/// The newest migration, which the conflicting table below makes fail.
const SESSIONS_MIGRATION: &str = "20261206000001";
/// The advisory lock key every release's migrator agrees on (`migrate.rs`). It is a contract
/// between releases, like the schema: an old and a new release migrating the same database must
/// exclude each other, so this test pins the value rather than importing it.
const POSTGRES_LOCK_KEY: i64 = 0x7266_6d69_6772_6174;

/// A database for one test: a SQLite file in a directory of its own, or a fresh PostgreSQL one.
struct TestDb {
    url: String,
    /// Keeps the SQLite file's directory.
    dir: tempfile::TempDir,
}

impl TestDb {
    async fn new(backend: Backend) -> TestDb {
        let dir = tempfile::tempdir().unwrap();
        let url = match backend {
            Backend::Sqlite => format!("sqlite://{}", dir.path().join("app.db").display()),
            Backend::Postgres => fresh_postgres_database().await,
        };
        TestDb { url, dir }
    }

    fn sqlite_file(&self) -> PathBuf {
        self.dir.path().join("app.db")
    }

    /// Runs `sql` on a connection of the test's own (creating the SQLite file if needed).
    async fn execute(&self, sql: &str) {
        let sql = sqlx::AssertSqlSafe(sql.to_owned());
        if self.url.starts_with("sqlite:") {
            let url = format!("{}?mode=rwc", self.url);
            let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
            conn.execute(sql).await.unwrap();
            conn.close().await.unwrap();
        } else {
            let mut conn = sqlx::PgConnection::connect(&self.url).await.unwrap();
            conn.execute(sql).await.unwrap();
            conn.close().await.unwrap();
        }
    }

    /// The first column of the first row of `sql`, an integer.
    async fn scalar(&self, sql: &str) -> i64 {
        let sql = sqlx::AssertSqlSafe(sql.to_owned());
        if self.url.starts_with("sqlite:") {
            let mut conn = sqlx::SqliteConnection::connect(&self.url).await.unwrap();
            sqlx::query_scalar(sql).fetch_one(&mut conn).await.unwrap()
        } else {
            let mut conn = sqlx::PgConnection::connect(&self.url).await.unwrap();
            sqlx::query_scalar(sql).fetch_one(&mut conn).await.unwrap()
        }
    }

    /// `api ARGS…` against this database, to completion.
    fn api(&self, args: &[&str]) -> ApiCommand {
        ApiCommand::new().var("DATABASE_URL", &self.url).args(args)
    }

    /// `api migrate`, which must finish within `within` (a hang is the failure).
    async fn migrate(&self, within: Duration) -> Finished {
        tokio::time::timeout(within, self.api(&["migrate"]).run())
            .await
            .unwrap_or_else(|_| panic!("api migrate still running after {within:?}"))
    }
}

/// The `cause:` line of a failed command.
fn cause_line(finished: &Finished) -> &str {
    finished
        .stderr
        .lines()
        .find(|l| l.starts_with("cause: "))
        .unwrap_or_else(|| panic!("no cause line: {}", finished.stderr))
}

/// `GET path` on a fresh connection: status and body.
async fn get(api: &RunningApi, path: &str) -> (u16, String) {
    let response = reqwest::Client::new()
        .get(api.url(path))
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

/// Polls `GET path` until `done(status, body)`, or panics after `within`.
async fn wait_for(
    api: &RunningApi,
    path: &str,
    within: Duration,
    done: impl Fn(u16, &str) -> bool,
) -> (u16, String) {
    let deadline = Instant::now() + within;
    loop {
        let (status, body) = get(api, path).await;
        if done(status, &body) {
            return (status, body);
        }
        assert!(
            Instant::now() < deadline,
            "{path} is still {status} {body}:\n{}",
            api.output()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn a_refused_migration_fails_fast_and_the_repair_recovers_the_running_server(
    backend: Backend,
) {
    // Arrange: a table by the name the newest migration creates, so the database refuses it.
    let db = TestDb::new(backend).await;
    db.execute("CREATE TABLE login_limits (bucket TEXT PRIMARY KEY)")
        .await;

    // Act + Assert: `api migrate` fails at once, with the database's reason.
    let started = Instant::now();
    let refused = db.migrate(Duration::from_secs(15)).await;
    assert_eq!(refused.code(), Some(1), "{}", refused.stderr);
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    assert!(refused.stderr.contains("error: "), "{}", refused.stderr);
    let cause = cause_line(&refused);
    assert!(
        cause.starts_with(&format!("cause: migration {SESSIONS_MIGRATION} failed: "))
            && cause.contains("already exists")
            && cause.ends_with("fix the cause, then run `api migrate` again"),
        "{cause}"
    );

    // A server started on it fails the same migration in the background: liveness says the
    // release cannot run here, readiness gives the public cause.
    let server = ApiCommand::new().var("DATABASE_URL", &db.url).start().await;
    let (_, liveness) =
        wait_for(&server, "/health", Duration::from_secs(10), |s, _| s == 503).await;
    assert_eq!(liveness, "migrations failed\n");
    let (status, readiness) = get(&server, "/api/health").await;
    assert_eq!(status, 503);
    let readiness: serde_json::Value = serde_json::from_str(&readiness).unwrap();
    let check = &readiness["checks"]["database:migrations"][0];
    assert_eq!(check["status"], "fail", "{readiness}");
    assert_eq!(
        check["output"],
        format!("migration {SESSIONS_MIGRATION} failed; the service log has the database's message. Each migration is one transaction, so the database is as it was before it; fix the cause, then run `api migrate` again")
    );

    // The next `api migrate` is not blocked by the server's failed run (its lock was released
    // with the run: before, the server's pooled connection kept it and this waited forever).
    let started = Instant::now();
    let again = db.migrate(Duration::from_secs(15)).await;
    assert_eq!(again.code(), Some(1), "{}", again.stderr);
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );

    // The repair: drop the conflicting table, migrate.
    db.execute("DROP TABLE login_limits").await;
    let fixed = db.migrate(Duration::from_secs(15)).await;
    assert_eq!(fixed.code(), Some(0), "{}", fixed.stderr);

    // The running server recovers on its own, without a restart.
    wait_for(
        &server,
        "/api/health",
        Duration::from_secs(40),
        |s, body| s == 200 && body.contains(r#""status":"pass""#),
    )
    .await;
    assert_eq!(get(&server, "/health").await, (200, "ok\n".to_owned()));
}

async fn a_refused_release_never_answers_liveness_ok_not_even_at_start(backend: Backend) {
    // Arrange: the database will refuse the newest migration.
    let db = TestDb::new(backend).await;
    db.execute("CREATE TABLE login_limits (bucket TEXT PRIMARY KEY)")
        .await;

    // Act: the first probe, the moment the server listens (as a health-gated deploy probes it),
    // before its first migration run has had time to fail.
    let server = ApiCommand::new().var("DATABASE_URL", &db.url).start().await;
    let first = get(&server, "/health").await;

    // Assert: already the verdict, never a passing `ok` that would let traffic in.
    assert_eq!(first, (503, "migrations failed\n".to_owned()));
}

#[tokio::test]
async fn an_unreachable_database_never_fails_liveness() {
    // Arrange: PostgreSQL refusing connections; migrations fail and are retried.
    let app = spawn_app_with_unreachable_database().await;

    // Act: wait until at least one migration run has failed on it.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let body: serde_json::Value = app.get("/api/health").await.json().await.unwrap();
        if body["checks"]["database:migrations"][0]["output"]
            == "the database is unavailable; retrying"
        {
            break;
        }
        assert!(Instant::now() < deadline, "{body}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Assert: that is the database's availability, not the release's fault: liveness stays
    // 200 through several retries.
    for _ in 0..10 {
        let response = app.get("/health").await;
        assert_eq!(response.status(), 200);
        assert_eq!(response.text().await.unwrap(), "ok\n");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn a_hung_database_is_retried_not_waited_on_forever() {
    // Arrange: a "database" that accepts connections and never says a word.
    let hung = black_hole().await;
    let app = TestConfig::new(Backend::Postgres)
        .var("DATABASE_URL", format!("postgres://app@{hung}/app"))
        .var("DATABASE_ACQUIRE_TIMEOUT_MS", "300")
        .var("HEALTH_DB_TIMEOUT_MS", "200")
        .spawn()
        .await;

    // Act + Assert: the migration run gives up within the acquire timeout and says the database
    // is unavailable (it is retried), instead of waiting on the silent connection for ever.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let body: serde_json::Value = app.get("/api/health").await.json().await.unwrap();
        let output = &body["checks"]["database:migrations"][0]["output"];
        if output == "the database is unavailable; retrying" {
            break;
        }
        assert!(Instant::now() < deadline, "still {output}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(app.get("/health").await.status(), 200);
}

/// Holds the migration lock the way another migrator would, until dropped.
enum LockHolder {
    Postgres(sqlx::PgConnection),
    Sqlite(std::fs::File),
}

impl LockHolder {
    async fn take(backend: Backend, db: &TestDb) -> LockHolder {
        match backend {
            Backend::Postgres => {
                let mut conn = sqlx::PgConnection::connect(&db.url).await.unwrap();
                sqlx::query("SELECT pg_advisory_lock($1)")
                    .bind(POSTGRES_LOCK_KEY)
                    .execute(&mut conn)
                    .await
                    .unwrap();
                LockHolder::Postgres(conn)
            }
            Backend::Sqlite => {
                let file = std::fs::File::options()
                    .create(true)
                    .truncate(false)
                    .write(true)
                    .open(lock_path(&db.sqlite_file()))
                    .unwrap();
                file.lock().unwrap();
                LockHolder::Sqlite(file)
            }
        }
    }

    async fn release(self) {
        match self {
            LockHolder::Postgres(conn) => conn.close().await.unwrap(),
            LockHolder::Sqlite(file) => drop(file),
        }
    }
}

/// `<database>-migrate.lock`, beside the SQLite file: where every migrator of it looks.
fn lock_path(database: &Path) -> PathBuf {
    let mut name = database.as_os_str().to_owned();
    name.push("-migrate.lock");
    PathBuf::from(name)
}

async fn a_migrator_waits_for_the_lock_holder_and_says_so(backend: Backend) {
    // Arrange
    let db = TestDb::new(backend).await;
    let holder = LockHolder::take(backend, &db).await;

    // Act: a migrator starts while another process holds the lock for 8 s (it logs the wait
    // every 5 s).
    let migrate = tokio::spawn(
        db.api(&["migrate"])
            .var("MIGRATION_LOCK_WAIT_SECS", "30")
            .run(),
    );
    tokio::time::sleep(Duration::from_secs(8)).await;
    assert!(!migrate.is_finished(), "it waits for the holder");
    holder.release().await;

    // Assert: it finishes soon after the release, having said why it waited.
    let finished = tokio::time::timeout(Duration::from_secs(10), migrate)
        .await
        .expect("finished after the release")
        .unwrap();
    assert_eq!(finished.code(), Some(0), "{}", finished.stderr);
    // One-off commands log to stderr (stdout is for their answer).
    assert!(
        finished
            .stderr
            .contains("another process is applying migrations; waiting for it"),
        "{}",
        finished.stderr
    );
    assert_eq!(db.scalar("SELECT COUNT(*) FROM users").await, 0);
}

async fn a_migrator_gives_up_on_a_lock_never_released_and_names_it(backend: Backend) {
    // Arrange
    let db = TestDb::new(backend).await;
    let _holder = LockHolder::take(backend, &db).await;

    // Act
    let started = Instant::now();
    let finished = db
        .api(&["migrate"])
        .var("MIGRATION_LOCK_WAIT_SECS", "1")
        .run()
        .await;

    // Assert
    assert_eq!(finished.code(), Some(1), "{}", finished.stderr);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert!(
        finished
            .stderr
            .contains("error: another process held the migration lock for 1 s"),
        "{}",
        finished.stderr
    );
    assert_eq!(
        cause_line(&finished),
        "cause: another process held the migration lock for 1 s; it may still be migrating, or be stuck: see MIGRATION_LOCK_WAIT_SECS"
    );
}

#[tokio::test]
async fn concurrent_migrators_on_a_new_sqlite_file_all_succeed() {
    for round in 0..20 {
        let db = TestDb::new(Backend::Sqlite).await;
        let runs = (0..3).map(|_| db.migrate(Duration::from_secs(30)));
        for finished in futures::future::join_all(runs).await {
            assert_eq!(
                finished.code(),
                Some(0),
                "round {round}: {}",
                finished.stderr
            );
        }
        assert_eq!(
            db.scalar("SELECT COUNT(*) FROM _sqlx_migrations").await,
            2,
            "round {round}"
        );
    }
}

#[tokio::test]
async fn a_server_and_a_user_add_starting_together_on_a_new_sqlite_file_both_succeed() {
    for round in 0..5 {
        let db = TestDb::new(Backend::Sqlite).await;
        let (server, added) = tokio::join!(
            ApiCommand::new().var("DATABASE_URL", &db.url).start(),
            db.api(&["user", "add", "--email", "ada@example.com"])
                .stdin("correct horse battery")
                .run()
        );
        assert_eq!(added.code(), Some(0), "round {round}: {}", added.stderr);
        wait_for(&server, "/api/health", Duration::from_secs(10), |s, _| {
            s == 200
        })
        .await;
        let ada = "SELECT COUNT(*) FROM users WHERE email = 'ada@example.com'";
        assert_eq!(db.scalar(ada).await, 1, "round {round}");
    }
}

/// Whether `password` is the account's current one.
async fn password_works(db: &TestDb, email: &str, password: &str) -> bool {
    let sql = format!("SELECT password_hash FROM users WHERE email = '{email}'");
    let sql = sqlx::AssertSqlSafe(sql);
    let hash: String = if db.url.starts_with("sqlite:") {
        let mut conn = sqlx::SqliteConnection::connect(&db.url).await.unwrap();
        sqlx::query_scalar(sql).fetch_one(&mut conn).await.unwrap()
    } else {
        let mut conn = sqlx::PgConnection::connect(&db.url).await.unwrap();
        sqlx::query_scalar(sql).fetch_one(&mut conn).await.unwrap()
    };
    api::password::PasswordHasher::new(1)
        .verify(secrecy::SecretString::from(password.to_owned()), Some(hash))
        .await
        .unwrap()
}

async fn concurrent_user_adds_for_one_new_email_all_succeed_with_one_account(backend: Backend) {
    const EMAIL: &str = "ada@example.com";
    for round in 0..3 {
        // Arrange: a new database each round, so migrations race as well.
        let db = TestDb::new(backend).await;
        let passwords: Vec<String> = (0..5).map(|i| format!("password number {i}")).collect();

        // Act: five `api user add` for the same new email at once.
        let adds = passwords.iter().map(|p| {
            db.api(&["user", "add", "--email", EMAIL])
                .stdin(p.clone())
                .run()
        });
        let finished = futures::future::join_all(adds).await;

        // Assert: all succeed; one created the account, the others replaced its password, each
        // replacement counted (no update lost); the password is whichever was written last.
        for f in &finished {
            assert_eq!(f.code(), Some(0), "round {round}: {}", f.stderr);
        }
        let created = finished
            .iter()
            .filter(|f| f.stdout.lines().any(|l| l.starts_with("created ")))
            .count();
        let outputs: Vec<_> = finished.iter().map(|f| &f.stdout).collect();
        assert_eq!(created, 1, "round {round}: {outputs:#?}");
        assert_eq!(db.scalar("SELECT COUNT(*) FROM users").await, 1);
        assert_eq!(
            db.scalar("SELECT session_epoch FROM users").await,
            4,
            "round {round}: one epoch step per replacement"
        );
        let mut working = 0;
        for p in &passwords {
            working += usize::from(password_works(&db, EMAIL, p).await);
        }
        assert_eq!(working, 1, "round {round}: exactly the last one written");

        // And a later change is the one that counts.
        let last = db
            .api(&["user", "add", "--email", EMAIL])
            .stdin("the final password")
            .run()
            .await;
        assert_eq!(last.code(), Some(0), "{}", last.stderr);
        assert!(password_works(&db, EMAIL, "the final password").await);
        for p in &passwords {
            assert!(!password_works(&db, EMAIL, p).await);
        }
    }
}
