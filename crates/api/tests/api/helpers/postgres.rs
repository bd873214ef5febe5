//! The two database backends, and PostgreSQL's side of them: the server from
//! `TEST_DATABASE_URL`, a fresh database per test, and `backend_tests!`, which runs one test body
//! on each backend.

use std::net::SocketAddr;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Runs an async test body once per backend: `backend_tests!(name)` expands to
/// `name::sqlite` and `name::postgres` tests calling `name(Backend)`. The PostgreSQL one needs
/// `TEST_DATABASE_URL` (see [`postgres_available`]).
#[macro_export]
macro_rules! backend_tests {
    ($($name:ident),+ $(,)?) => {$(
        mod $name {
            #[tokio::test]
            async fn sqlite() {
                super::$name($crate::helpers::Backend::Sqlite).await
            }
            #[tokio::test]
            async fn postgres() {
                if !$crate::helpers::postgres_available() {
                    return;
                }
                super::$name($crate::helpers::Backend::Postgres).await
            }
        }
    )+};
}

/// The PostgreSQL server the tests may use, from `TEST_DATABASE_URL`.
pub fn postgres_url() -> Option<String> {
    std::env::var("TEST_DATABASE_URL")
        .ok()
        .filter(|u| !u.is_empty())
}

/// Whether a PostgreSQL test can run: true when `TEST_DATABASE_URL` is set. Without it, the
/// test is skipped (and says so), except under CI (`CI` set), where that is a failure: CI must
/// run the PostgreSQL half of the suite, not report it green having skipped it.
pub fn postgres_available() -> bool {
    if postgres_url().is_some() {
        return true;
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "TEST_DATABASE_URL is not set, but CI is: the PostgreSQL tests must run in CI. Set it to \
         postgres://USER@HOST:PORT/DATABASE on a server where USER may create databases (.ci/run \
         sets one up)"
    );
    eprintln!("skipped: TEST_DATABASE_URL is not set");
    false
}

/// Creates a fresh database on the test server and returns its URL. Its name starts with
/// `TEST_DATABASE_PREFIX` (default `rf_test_`): scripts/test.sh sets one per run, so that it
/// drops only the databases its own run created.
pub async fn fresh_postgres_database() -> String {
    use sqlx::Executor;
    let base = postgres_url().expect("TEST_DATABASE_URL");
    let prefix = std::env::var("TEST_DATABASE_PREFIX").unwrap_or_else(|_| "rf_test_".into());
    assert!(
        !prefix.is_empty()
            && prefix
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'),
        "TEST_DATABASE_PREFIX {prefix:?}: expected lower-case letters, digits and `_`"
    );
    let name = format!("{prefix}{:016x}", rand::random::<u64>());
    let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&base)
        .await
        .expect("connect to TEST_DATABASE_URL");
    conn.execute(sqlx::AssertSqlSafe(format!(r#"CREATE DATABASE "{name}""#)))
        .await
        .expect("create test database");
    // TEST_DATABASE_URL names a database (postgres://USER@HOST:PORT/DB); swap in the new one.
    let (server, _) = base
        .rsplit_once('/')
        .expect("TEST_DATABASE_URL ends with /DATABASE");
    format!("{server}/{name}")
}

/// The host:port of `TEST_DATABASE_URL`'s server.
pub fn postgres_socket_addr() -> SocketAddr {
    let url = postgres_url().expect("TEST_DATABASE_URL");
    let after_scheme = url.split("://").nth(1).unwrap();
    let host_port = after_scheme
        .rsplit('@')
        .next()
        .unwrap()
        .split('/')
        .next()
        .unwrap();
    let host_port = if host_port.contains(':') {
        host_port.to_owned()
    } else {
        format!("{host_port}:5432")
    };
    use std::net::ToSocketAddrs;
    host_port.to_socket_addrs().unwrap().next().unwrap()
}

/// Rewrites a Postgres URL to go through `addr` instead of its own host:port.
pub fn via(url: &str, addr: SocketAddr) -> String {
    let (scheme, rest) = url.split_once("://").unwrap();
    let (auth, rest) = match rest.rsplit_once('@') {
        Some((auth, rest)) => (format!("{auth}@"), rest),
        None => (String::new(), rest),
    };
    let path = rest.split_once('/').map(|(_, p)| p).unwrap_or("");
    format!("{scheme}://{auth}{addr}/{path}")
}
