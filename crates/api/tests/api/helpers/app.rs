//! The application in this process, on port 0: `spawn_app` for the defaults, `TestConfig` to set
//! variables first, and `TestApp` to talk to it.

use std::{collections::HashMap, net::SocketAddr, sync::LazyLock, time::Duration};

use api::{config::Settings, Application, ShutdownHandle};
use reqwest::Method;
use tokio::task::JoinHandle;

use super::{fresh_postgres_database, refusing_address, Backend};

/// The variables of one instance, on one backend; [`TestConfig::spawn`] fills in the rest.
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

    /// Builds and starts the application in this process: port 0, a fixed session secret, no
    /// frontend build, and a database of its own (a SQLite file in a temporary directory, or a
    /// fresh PostgreSQL database), unless the test set those variables itself.
    pub async fn spawn(self) -> TestApp {
        LazyLock::force(&TRACING);
        let dir = tempfile::tempdir().expect("temp dir");
        let mut vars = self.vars;
        vars.entry("PORT".into()).or_insert_with(|| "0".into());
        vars.entry("SESSION_SECRET".into())
            .or_insert_with(|| "test-secret-0123456789-abcdefghijklmnopqrstuvwxyz".into());
        // No frontend build unless the test gives one, whatever the working directory holds.
        vars.entry("FRONTEND_DIR".into()).or_insert_with(|| {
            dir.path()
                .join("no-frontend-build")
                .to_string_lossy()
                .into_owned()
        });
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

/// An instance with the test defaults.
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

/// A running instance and the ways to reach it.
pub struct TestApp {
    /// `http://HOST:PORT`, as bound.
    pub address: String,
    pub db: api::db::Database,
    /// Keeps cookies and does not follow redirects.
    pub client: reqwest::Client,
    pub shutdown: ShutdownHandle,
    /// The server task: it ends after a shutdown has drained.
    pub server: JoinHandle<anyhow::Result<()>>,
    _dir: tempfile::TempDir,
}

impl TestApp {
    pub fn socket_addr(&self) -> SocketAddr {
        self.address.trim_start_matches("http://").parse().unwrap()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    /// A request to `path` with the app's client (which keeps cookies and does not follow
    /// redirects), for a test that adds headers or a body of its own.
    pub fn request(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        self.client.request(method, self.url(path))
    }

    /// `GET path`.
    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.request(Method::GET, path)
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {path}: {e}"))
    }

    /// `POST path` with an empty body.
    pub async fn post(&self, path: &str) -> reqwest::Response {
        self.request(Method::POST, path)
            .send()
            .await
            .unwrap_or_else(|e| panic!("POST {path}: {e}"))
    }

    /// `POST path` with `body` as JSON.
    pub async fn post_json(&self, path: &str, body: &serde_json::Value) -> reqwest::Response {
        self.request(Method::POST, path)
            .json(body)
            .send()
            .await
            .unwrap_or_else(|e| panic!("POST {path}: {e}"))
    }

    /// Logs in as `email` (and asserts that it worked): the app's client keeps the session, and
    /// the cookie's `name=value` is returned for requests made from elsewhere.
    pub async fn log_in(&self, email: &str, password: &str) -> String {
        let response = self
            .post_json("/api/auth/login", &credentials(email, password))
            .await;
        assert_eq!(response.status(), 200, "log in as {email}");
        session_cookie(&response)
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
            let body: serde_json::Value = self.get("/api/health").await.json().await.unwrap();
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

/// The body of `POST /api/auth/login`.
pub fn credentials(email: &str, password: &str) -> serde_json::Value {
    serde_json::json!({ "email": email, "password": password })
}

/// `name=value` of the session cookie a login response set.
fn session_cookie(response: &reqwest::Response) -> String {
    let set_cookie = response.headers()["set-cookie"].to_str().unwrap();
    set_cookie.split(';').next().unwrap().to_owned()
}

/// Logs from the application in this process go to stdout when `TEST_LOG` is set.
static TRACING: LazyLock<()> = LazyLock::new(|| {
    if std::env::var_os("TEST_LOG").is_some() {
        let log = api::config::LogSettings {
            format: api::config::LogFormat::Pretty,
            filter: std::env::var("RUST_LOG").unwrap_or_else(|_| "debug".into()),
        };
        api::telemetry::init_subscriber(api::telemetry::get_subscriber(&log, std::io::stdout));
    }
});
