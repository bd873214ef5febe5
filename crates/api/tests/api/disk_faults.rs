//! A real full disk and a real read-only filesystem under an instance on SQLite: the database
//! lives on a 1 MiB tmpfs mounted in a private mount namespace (`unshare`, so no root is needed
//! where unprivileged user namespaces are allowed). The disk is filled under the running server;
//! then the server is started on the filesystem remounted read-only (Linux refuses to remount a
//! filesystem read-only while a process holds a file open for writing). Writes fail with a
//! message that says why, reads go on while the disk is full, requests on the read-only
//! filesystem get a JSON 503 (never a 500), liveness stays 200, nothing
//! already written is lost, the file passes `PRAGMA integrity_check`, and everything works again
//! once the fault is gone, without a restart.
//!
//! Over 400 lines: the namespace set-up (a tiny filesystem the test can fill or remount) is
//! most of it, and only these tests use it.

use std::{
    path::{Path, PathBuf},
    time::Duration,
};

use sqlx::{sqlite::SqliteConnectOptions, ConnectOptions, Row};
use tokio::{
    io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines},
    process::{ChildStdin, ChildStdout, Command},
};

use crate::helpers::{credentials, listening_address, ApiCommand, WrappedApi};

/// Runs inside the namespace: mounts the tmpfs, migrates, starts the server, then executes one
/// command per stdin line and answers each with one stdout line.
///
/// Why the `api` processes here are not started with [`ApiCommand::start`]/[`ApiCommand::run`]:
/// the tmpfs exists only inside the private mount namespace, so every process that opens the
/// database (the server, `migrate`, `user add`) must be started inside it, by this script. For
/// the same reason the script stops the server itself (`kill` is the shell's builtin here) and
/// waits for it, since the filesystem can only be remounted read-only once the server has
/// exited; the server's pid is in a PID namespace of its own, so the test could not signal it
/// by pid anyway. What the launcher does provide: the cleared environment, the working
/// directory, and killing `unshare` (and with it the whole namespace) when the test ends.
const NAMESPACE_SCRIPT: &str = r#"
set -eu
mount -t tmpfs -o size=1m tmpfs "$DIR"
"$API" migrate >/dev/null 2>&1
"$API" serve >"$LOG.1" 2>&1 &
server=$!
echo ready
while read -r cmd arg; do
  case $cmd in
    fill) dd if=/dev/zero of="$DIR/filler" bs=4096 >/dev/null 2>&1 || true
          echo "filled $(df --output=avail -k "$DIR" | tail -n1 | tr -d ' ')k";;
    free) rm -f "$DIR/filler"; echo freed;;
    stop) kill -TERM "$server"; wait "$server" || true; echo stopped;;
    start) "$API" serve >"$LOG.$arg" 2>&1 & server=$!; echo started;;
    copy) for f in "$DIR"/app.db*; do cp "$f" "$arg/"; done; echo copied;;
    ro) mount -o remount,ro "$DIR"; echo ro;;
    rw) mount -o remount,rw "$DIR"; echo rw;;
    add) set +e
         err=$(printf '%s\n' "$PASSWORD" | "$API" user add --email "$arg" 2>&1 >/dev/null)
         status=$?
         set -e
         echo "exit=$status $(printf '%s' "$err" | tr '\n' ' ')";;
  esac
done
"#;

const PASSWORD: &str = "correct horse battery staple";
const LOGIN: &str = "/api/auth/login";

struct Namespaced {
    /// `unshare`, killed (with the namespace and its tmpfs) when the test ends; owns the
    /// working directory, which holds the mount point, the server logs and the copies.
    _namespace: WrappedApi,
    stdin: ChildStdin,
    stdout: Lines<BufReader<ChildStdout>>,
    log: PathBuf,
    client: reqwest::Client,
    address: String,
}

impl Namespaced {
    /// `None` where this machine cannot make a private mount namespace.
    async fn start() -> Option<Namespaced> {
        let probe = Command::new("unshare")
            .args(["--map-root-user", "--mount", "--pid", "--fork", "true"])
            .status()
            .await;
        if !probe.is_ok_and(|s| s.success()) {
            assert!(
                std::env::var_os("CI").is_none(),
                "CI must be able to run `unshare --map-root-user --mount --pid`"
            );
            eprintln!("skipped: `unshare --map-root-user --mount --pid` is not allowed here");
            return None;
        }
        let command = ApiCommand::new();
        let db_dir = command.dir().join("db");
        std::fs::create_dir(&db_dir).unwrap();
        let log = command.dir().join("api");
        let secret = format!(
            "{:032x}{:032x}",
            rand::random::<u128>(),
            rand::random::<u128>()
        );
        let mut namespace = command
            .var("DIR", &db_dir)
            .var("LOG", &log)
            .var("PASSWORD", PASSWORD)
            .var("APP_ENV", "staging")
            .var("HOST", "127.0.0.1")
            .var("PORT", "0")
            .var("LOG_FORMAT", "json")
            .var("SHUTDOWN_DRAIN_SECS", "0")
            .var("SESSION_SECRET", secret)
            .var(
                "DATABASE_URL",
                format!("sqlite://{}/app.db", db_dir.display()),
            )
            // A PID namespace too, whose init is the script: when the test drops `unshare`, the
            // kernel takes the server down with it, even if the test failed half-way.
            .spawn_wrapped(
                "unshare",
                &[
                    "--map-root-user",
                    "--mount",
                    "--pid",
                    "--fork",
                    "--kill-child",
                    "sh",
                    "-c",
                    NAMESPACE_SCRIPT,
                ],
            );
        let stdin = namespace.child.stdin.take().unwrap();
        let stdout = BufReader::new(namespace.child.stdout.take().unwrap()).lines();
        let mut ns = Namespaced {
            _namespace: namespace,
            stdin,
            stdout,
            log,
            client: reqwest::Client::new(),
            address: String::new(),
        };
        assert_eq!(ns.answer().await, "ready");
        ns.address = base_url_from_log(&ns.log_of(1)).await;
        ns.wait_until_ready().await;
        Some(ns)
    }

    fn log_of(&self, start: u32) -> PathBuf {
        PathBuf::from(format!("{}.{start}", self.log.display()))
    }

    async fn answer(&mut self) -> String {
        tokio::time::timeout(Duration::from_secs(30), self.stdout.next_line())
            .await
            .expect("the namespace script answers")
            .unwrap()
            .expect("the namespace script is running")
    }

    async fn run(&mut self, command: &str) -> String {
        self.stdin
            .write_all(format!("{command}\n").as_bytes())
            .await
            .unwrap();
        self.answer().await
    }

    async fn login(&self, email: &str) -> (u16, serde_json::Value) {
        let response = self
            .client
            .post(format!("{}{LOGIN}", self.address))
            .json(&credentials(email, PASSWORD))
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.expect("a JSON body"))
    }

    async fn status_of(&self, path: &str) -> u16 {
        self.client
            .get(format!("{}{path}", self.address))
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    }

    async fn wait_until_ready(&self) {
        for _ in 0..100 {
            if self.status_of("/api/health").await == 200 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("readiness did not pass");
    }

    /// Stops the server (so SQLite checkpoints its journal) and copies the database files out of
    /// the namespace, where the test can open them.
    async fn database_copy(&mut self) -> PathBuf {
        assert_eq!(self.run("stop").await, "stopped");
        let out = self.log.with_file_name("copy");
        std::fs::create_dir_all(&out).unwrap();
        assert_eq!(self.run(&format!("copy {}", out.display())).await, "copied");
        out.join("app.db")
    }
}

async fn base_url_from_log(log: &Path) -> String {
    for _ in 0..100 {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        if let Some(address) = text.lines().find_map(listening_address) {
            return format!("http://{address}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!(
        "the server did not start: {}",
        std::fs::read_to_string(log).unwrap_or_default()
    );
}

/// A JSON 503 that says the database is unavailable.
fn assert_unavailable((status, body): &(u16, serde_json::Value)) {
    assert_eq!(*status, 503, "{body}");
    assert_eq!(body["error"]["code"], "database_unavailable", "{body}");
}

#[tokio::test]
async fn a_full_or_read_only_disk_loses_nothing_and_recovers_without_a_restart() {
    let Some(mut ns) = Namespaced::start().await else {
        return;
    };
    assert!(ns.run("add ada@example.com").await.starts_with("exit=0"));
    assert_eq!(ns.login("ada@example.com").await.0, 200);

    // Full disk.
    assert_eq!(ns.run("fill").await, "filled 0k");
    let refused = ns.run("add bob@example.com").await;
    assert!(!refused.starts_with("exit=0"), "{refused}");
    assert!(
        refused.contains("cause: the disk holding the SQLite database"),
        "the CLI says why: {refused}"
    );
    // Reading needs no new space: the open connection reads the database and its journal as
    // they are, so logins and the readiness probe (a read) go on.
    assert_eq!(ns.login("ada@example.com").await.0, 200, "reads go on");
    assert_eq!(ns.status_of("/health").await, 200, "liveness is unaffected");
    assert_eq!(
        ns.status_of("/api/health").await,
        200,
        "the probe only reads"
    );

    assert_eq!(ns.run("free").await, "freed");
    assert!(ns.run("add bob@example.com").await.starts_with("exit=0"));
    ns.wait_until_ready().await;
    assert_eq!(ns.login("bob@example.com").await.0, 200);

    // Read-only filesystem, with the server started on it.
    assert_eq!(ns.run("stop").await, "stopped");
    assert_eq!(ns.run("ro").await, "ro");
    assert_eq!(ns.run("start 2").await, "started");
    ns.address = base_url_from_log(&ns.log_of(2)).await;
    let refused = ns.run("add carol@example.com").await;
    assert!(!refused.starts_with("exit=0"), "{refused}");
    assert!(refused.contains("cause: "), "the CLI says why: {refused}");
    // The server stopped cleanly, so SQLite removed the database's WAL index; on a read-only
    // filesystem it cannot be made again, so no connection opens and every query is refused.
    assert_unavailable(&ns.login("bob@example.com").await);
    assert_eq!(ns.status_of("/health").await, 200);
    let readiness: serde_json::Value = ns
        .client
        .get(format!("{}/api/health", ns.address))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(readiness["status"], "fail", "{readiness}");
    let output = readiness["checks"]["database:responseTime"][0]["output"].to_string();
    assert!(
        output.contains("SQLite database"),
        "readiness says why: {output}"
    );

    assert_eq!(ns.run("rw").await, "rw");
    ns.wait_until_ready().await;
    assert!(ns.run("add carol@example.com").await.starts_with("exit=0"));
    assert_eq!(ns.login("carol@example.com").await.0, 200);
    assert_eq!(ns.login("ada@example.com").await.0, 200);

    // Nothing lost, nothing doubled, and SQLite finds the file sound.
    let mut conn = SqliteConnectOptions::new()
        .filename(ns.database_copy().await)
        .connect()
        .await
        .expect("open the copied database");
    let check: String = sqlx::query_scalar("PRAGMA integrity_check")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(check, "ok");
    let emails: Vec<String> = sqlx::query("SELECT email FROM users ORDER BY email")
        .fetch_all(&mut conn)
        .await
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect();
    assert_eq!(
        emails,
        ["ada@example.com", "bob@example.com", "carol@example.com"]
    );
    let log = std::fs::read_to_string(ns.log_of(1)).unwrap()
        + &std::fs::read_to_string(ns.log_of(2)).unwrap();
    assert!(!log.contains("panicked"), "{log}");
    assert!(
        !log.contains("\"database error\"") && !log.contains("\"internal error\""),
        "a storage fault is never logged as a server bug: {log}"
    );
}

/// `api user add` against a database that refuses writes; `(exit code, stderr)`.
async fn cli_add_user(database_url: &str, email: &str) -> (Option<i32>, String) {
    let run = ApiCommand::new()
        .args(["user", "add", "--email", email])
        .var("APP_ENV", "development")
        .var("RENDER", "true")
        .var("LOG_FORMAT", "json")
        .var("DATABASE_URL", database_url)
        .stdin(format!("{PASSWORD}\n"))
        .run()
        .await;
    (run.code(), run.stderr)
}

/// PostgreSQL's read-only mode is real and reachable without touching the server: a database
/// whose new sessions default to read-only transactions (as on a standby, or during a storage
/// emergency) refuses every write with SQLSTATE 25006.
#[tokio::test]
async fn a_read_only_postgres_database_refuses_writes_with_a_cause_and_keeps_serving_reads() {
    use sqlx::{Connection, Executor};
    if !crate::helpers::postgres_available() {
        return;
    }
    let url = crate::helpers::fresh_postgres_database().await;
    let name = url.rsplit('/').next().unwrap().to_owned();
    let app = crate::helpers::TestConfig::new(crate::helpers::Backend::Postgres)
        .var("DATABASE_URL", url.clone())
        .var("RENDER", "true") // no demo account
        .spawn()
        .await;
    app.add_user("ada@example.com", PASSWORD).await;
    assert_eq!(
        app.post_json(LOGIN, &credentials("ada@example.com", PASSWORD))
            .await
            .status(),
        200
    );
    let mut admin = sqlx::PgConnection::connect(&crate::helpers::postgres_url().unwrap())
        .await
        .unwrap();
    let read_only =
        |on: &str| format!(r#"ALTER DATABASE "{name}" SET default_transaction_read_only = {on}"#);

    admin
        .execute(sqlx::AssertSqlSafe(read_only("on")))
        .await
        .unwrap();
    let (code, stderr) = cli_add_user(&url, "bob@example.com").await;
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("cause: the PostgreSQL database is read-only"),
        "the CLI says why: {stderr}"
    );
    // The server's pooled sessions were opened before the switch (it applies to new ones).
    assert_eq!(
        app.get("/api/me").await.status(),
        200,
        "the session check goes on"
    );
    assert_eq!(
        app.post_json(LOGIN, &credentials("ada@example.com", PASSWORD))
            .await
            .status(),
        200,
        "reads go on"
    );

    admin
        .execute(sqlx::AssertSqlSafe(read_only("off")))
        .await
        .unwrap();
    let (code, stderr) = cli_add_user(&url, "bob@example.com").await;
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(
        app.post_json(LOGIN, &credentials("bob@example.com", PASSWORD))
            .await
            .status(),
        200
    );
    let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
    let emails: Vec<String> = sqlx::query_scalar("SELECT email FROM users ORDER BY email")
        .fetch_all(&mut conn)
        .await
        .unwrap();
    assert_eq!(emails, ["ada@example.com", "bob@example.com"]);
}
