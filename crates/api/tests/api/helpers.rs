use std::{
    collections::HashMap,
    net::SocketAddr,
    sync::{Arc, LazyLock},
    time::Duration,
};

use api::{config::Settings, Application, ShutdownHandle};
use tokio::{net::TcpListener, task::JoinHandle};
use tokio_util::sync::CancellationToken;

static TRACING: LazyLock<()> = LazyLock::new(|| {
    if std::env::var_os("TEST_LOG").is_some() {
        let log = api::config::LogSettings {
            format: api::config::LogFormat::Pretty,
            filter: std::env::var("RUST_LOG").unwrap_or_else(|_| "debug".into()),
        };
        api::telemetry::init_subscriber(api::telemetry::get_subscriber(&log, std::io::stdout));
    }
});

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Runs an async test body once per backend: `backend_tests!(name)` expands to
/// `name::sqlite` and `name::postgres` tests calling `name(Backend)`.
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
                if $crate::helpers::postgres_url().is_none() {
                    eprintln!("skipped: TEST_DATABASE_URL is not set");
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

/// Creates a fresh database on the test server and returns its URL.
pub async fn fresh_postgres_database() -> String {
    use sqlx::Executor;
    let base = postgres_url().expect("TEST_DATABASE_URL");
    let name = format!("rf_test_{:016x}", rand_u64());
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

fn rand_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos(),
    );
    h.finish()
}

pub struct TestApp {
    pub address: String,
    pub db: api::db::Database,
    pub client: reqwest::Client,
    pub shutdown: ShutdownHandle,
    pub server: JoinHandle<anyhow::Result<()>>,
    _dir: tempfile::TempDir,
}

pub struct TestConfig {
    pub backend: Backend,
    pub vars: HashMap<String, String>,
}

impl TestConfig {
    pub fn new(backend: Backend) -> Self {
        Self {
            backend,
            vars: HashMap::new(),
        }
    }

    pub fn var(mut self, key: &str, value: impl Into<String>) -> Self {
        self.vars.insert(key.to_owned(), value.into());
        self
    }
}

pub async fn spawn_app(backend: Backend) -> TestApp {
    TestConfig::new(backend).spawn().await
}

/// An instance configured as production (behind Render's proxy, `X-Forwarded-Proto` trusted),
/// on SQLite, ready to serve.
pub async fn spawn_production_app() -> TestApp {
    let app = TestConfig::new(Backend::Sqlite)
        .var("APP_ENV", "production")
        .spawn()
        .await;
    app.wait_for_readiness("pass", Duration::from_secs(10))
        .await;
    app
}

impl TestConfig {
    pub async fn spawn(self) -> TestApp {
        LazyLock::force(&TRACING);
        let dir = tempfile::tempdir().expect("temp dir");
        let mut vars = self.vars;
        vars.entry("PORT".into()).or_insert_with(|| "0".into());
        vars.entry("SESSION_SECRET".into())
            .or_insert_with(|| "test-secret-0123456789-abcdefghijklmnopqrstuvwxyz".into());
        if !vars.contains_key("DATABASE_URL") {
            let url = match self.backend {
                Backend::Sqlite => format!("sqlite://{}/app.db", dir.path().display()),
                Backend::Postgres => fresh_postgres_database().await,
            };
            vars.insert("DATABASE_URL".into(), url);
        }
        let settings = Settings::from_vars(&vars).expect("valid test settings");
        let app = Application::build(settings.clone())
            .await
            .expect("build the application");
        let addr = app.local_addr();
        let db = app.state().db.clone();
        let shutdown = app.shutdown_handle();
        let server = tokio::spawn(app.run_until_stopped());
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .cookie_store(true)
            .build()
            .unwrap();
        TestApp {
            address: format!("http://{addr}"),
            db,
            client,
            shutdown,
            server,
            _dir: dir,
        }
    }
}

/// Reads until the server closes the connection (panics if it has not within `within`).
pub async fn read_until_closed(stream: &mut tokio::net::TcpStream, within: Duration) -> Vec<u8> {
    use tokio::io::AsyncReadExt;
    let mut received = Vec::new();
    let read = tokio::time::timeout(within, stream.read_to_end(&mut received))
        .await
        .expect("the server should have closed the connection");
    // A reset after the answer (the server closing with unread input) still leaves the answer.
    if let Err(e) = read {
        assert_eq!(e.kind(), std::io::ErrorKind::ConnectionReset, "{e}");
    }
    received
}

/// The address in the API's JSON "listening" log line, if `line` is that line.
pub fn listening_address(line: &str) -> Option<String> {
    let entry: serde_json::Value = serde_json::from_str(line).ok()?;
    (entry["message"] == "listening").then(|| entry["address"].as_str().unwrap().to_owned())
}

impl TestApp {
    /// Bytes as a client wrote them, no HTTP library in between; reads until the server closes.
    /// Returns the status (0 if the server answered nothing) and the whole response as text.
    pub async fn raw_request(&self, request: &[u8]) -> (u16, String) {
        use tokio::io::AsyncWriteExt;
        let mut stream = tokio::net::TcpStream::connect(self.socket_addr())
            .await
            .unwrap();
        // The server may answer (431, say) and close before it has read everything we send.
        if let Err(e) = stream.write_all(request).await {
            assert!(
                matches!(
                    e.kind(),
                    std::io::ErrorKind::BrokenPipe | std::io::ErrorKind::ConnectionReset
                ),
                "{e}"
            );
        }
        let response = read_until_closed(&mut stream, Duration::from_secs(10)).await;
        let text = String::from_utf8_lossy(&response).into_owned();
        let status = text
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        (status, text)
    }

    pub async fn raw_get(&self, path: &str) -> (u16, String) {
        self.raw_request(
            format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes(),
        )
        .await
    }

    pub fn socket_addr(&self) -> SocketAddr {
        self.address.trim_start_matches("http://").parse().unwrap()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    pub async fn get_health(&self) -> reqwest::Response {
        self.client
            .get(self.url("/health"))
            .send()
            .await
            .expect("GET /health")
    }

    pub async fn get_api_health(&self) -> reqwest::Response {
        self.client
            .get(self.url("/api/health"))
            .send()
            .await
            .expect("GET /api/health")
    }

    pub async fn post_warmup(&self) -> reqwest::Response {
        self.client
            .post(self.url("/api/warmup"))
            .send()
            .await
            .expect("POST /api/warmup")
    }

    pub async fn post_login(&self, email: &str, password: &str) -> reqwest::Response {
        self.client
            .post(self.url("/api/auth/login"))
            .json(&serde_json::json!({ "email": email, "password": password }))
            .send()
            .await
            .expect("POST /api/auth/login")
    }

    pub async fn post_logout(&self) -> reqwest::Response {
        self.client
            .post(self.url("/api/auth/logout"))
            .send()
            .await
            .expect("POST /api/auth/logout")
    }

    pub async fn get_session(&self) -> serde_json::Value {
        let response = self
            .client
            .get(self.url("/api/session"))
            .send()
            .await
            .expect("GET /api/session");
        response.json().await.expect("a JSON body")
    }

    pub async fn get_me(&self) -> reqwest::Response {
        self.client
            .get(self.url("/api/me"))
            .send()
            .await
            .expect("GET /api/me")
    }

    /// Creates an account directly in the database (after the schema is in place).
    pub async fn add_user(&self, email: &str, password: &str) {
        self.wait_for_readiness("pass", Duration::from_secs(10))
            .await;
        let secret = secrecy::SecretString::from(password.to_owned());
        api::users::upsert(&self.db, email, &secret)
            .await
            .expect("create the test user");
    }

    /// Polls `/api/health` until it reports `status`, or panics after `within`.
    pub async fn wait_for_readiness(&self, status: &str, within: Duration) -> serde_json::Value {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let body: serde_json::Value = self.get_api_health().await.json().await.unwrap();
            if body["status"] == status {
                return body;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "readiness never became {status}: {body}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// `name=value` of the session cookie a login response set.
pub fn session_cookie(response: &reqwest::Response) -> String {
    let set_cookie = response.headers()["set-cookie"].to_str().unwrap();
    set_cookie.split(';').next().unwrap().to_owned()
}

/// An address where nothing listens: connections to it are refused at once.
pub fn refusing_address() -> SocketAddr {
    // Bind and drop a listener, so the port is known to be free.
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

/// The application configured with a PostgreSQL database that refuses connections, and short
/// timeouts so a test sees the failure quickly.
pub async fn spawn_app_with_unreachable_database() -> TestApp {
    TestConfig::new(Backend::Postgres)
        .var(
            "DATABASE_URL",
            format!("postgres://app@{}/app", refusing_address()),
        )
        .var("DATABASE_ACQUIRE_TIMEOUT_MS", "300")
        .spawn()
        .await
}

/// A TCP listener that accepts connections and never answers: a hung database.
pub async fn black_hole() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    addr
}

/// A TCP relay in front of a real server, which a test can cut and restore to take the
/// database "down" and bring it back without touching the server itself.
pub struct TcpRelay {
    pub addr: SocketAddr,
    upstream: SocketAddr,
    running: Arc<std::sync::Mutex<CancellationToken>>,
}

impl TcpRelay {
    pub async fn start(upstream: SocketAddr) -> TcpRelay {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let token = CancellationToken::new();
        tokio::spawn(relay(listener, upstream, token.clone()));
        TcpRelay {
            addr,
            upstream,
            running: Arc::new(std::sync::Mutex::new(token)),
        }
    }

    /// Closes the listener and every relayed connection: the database is unreachable.
    pub fn cut(&self) {
        self.running.lock().unwrap().cancel();
    }

    /// Listens again on the same port.
    pub async fn restore(&self) {
        let listener = TcpListener::bind(self.addr)
            .await
            .expect("rebind the relay port");
        let token = CancellationToken::new();
        *self.running.lock().unwrap() = token.clone();
        tokio::spawn(relay(listener, self.upstream, token));
    }
}

async fn relay(listener: TcpListener, upstream: SocketAddr, token: CancellationToken) {
    loop {
        let (mut inbound, _) = tokio::select! {
            accepted = listener.accept() => match accepted { Ok(a) => a, Err(_) => return },
            () = token.cancelled() => return,
        };
        let token = token.clone();
        tokio::spawn(async move {
            let Ok(mut outbound) = tokio::net::TcpStream::connect(upstream).await else {
                return;
            };
            tokio::select! {
                _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                () = token.cancelled() => {}
            }
        });
    }
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
