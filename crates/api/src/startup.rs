//! Building and running the application: bind first (so tests can ask for port 0), then serve
//! until SIGTERM/SIGINT or [`ShutdownHandle::shutdown`], then drain within the deadline.

use std::{convert::Infallible, net::SocketAddr, sync::Arc, time::Duration};

use anyhow::Context;

use axum::{
    body::Body,
    http::{header, HeaderValue, Method, Request, Response, StatusCode},
    routing::{get, post},
    Router,
};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tower::{Service, ServiceBuilder};
use tower_http::{
    cors::{AllowOrigin, CorsLayer},
    limit::RequestBodyLimitLayer,
    sensitive_headers::SetSensitiveRequestHeadersLayer,
    trace::TraceLayer,
};

use crate::{
    config::{ServerSettings, Settings},
    db::Database,
    error::ApiError,
    http::{
        catch_panic::CatchPanicLayer,
        csrf,
        json_errors::JsonErrorLayer,
        metrics::{self, Metrics},
        request_id::RequestIdLayer,
        security_headers::{SecurityHeaders, SecurityHeadersLayer},
        timeout::RequestTimeoutLayer,
        trace::{LogResponse, RecordRouteLayer, RequestSpan},
    },
    rate_limit::LoginLimits,
    routes::{auth, frontend, health, openapi, warmup, warmup::Warmup},
    server::{self, ConnectionLimits},
    session::Sessions,
    state::{AppState, Lifecycle, SchemaStatus, Shared},
    static_files::StaticFiles,
    users,
};

pub struct Application {
    listener: TcpListener,
    local_addr: SocketAddr,
    router: Router,
    edge: Edge,
    state: AppState,
    shutdown: CancellationToken,
}

/// Lets an embedding program (or a test) stop the server as SIGTERM would.
#[derive(Clone)]
pub struct ShutdownHandle(CancellationToken);

impl ShutdownHandle {
    pub fn shutdown(&self) {
        self.0.cancel();
    }
}

impl Application {
    /// Validated settings in, a bound listener out. Does not wait for the database: the pool
    /// connects lazily and migrations are applied in the background, retrying until they succeed.
    pub async fn build(settings: Settings) -> anyhow::Result<Application> {
        let db = Database::connect_lazy(&settings.database)?;
        let addr = SocketAddr::new(settings.server.host, settings.server.port);
        let listener = TcpListener::bind(addr)
            .await
            .with_context(|| format!("cannot listen on {addr} (check HOST and PORT)"))?;
        let local_addr = listener.local_addr()?;

        let environment = settings.policy.environment(settings.env.as_str())?;
        let mut allowed_origins = vec![environment.api_origin.clone()];
        allowed_origins.extend(environment.frontend_origins.iter().cloned());
        let sessions = Sessions::new(
            settings.session.secret.clone(),
            settings.session.ttl,
            !settings.env.is_development(),
        );
        let frontend = StaticFiles::load(&settings.frontend_dir).with_context(|| {
            format!(
                "invalid FRONTEND_DIR: cannot read {}",
                settings.frontend_dir.display()
            )
        })?;
        if frontend.is_empty() {
            tracing::warn!(dir = %settings.frontend_dir.display(), "no frontend build found; / explains how to build it");
        } else {
            tracing::info!(dir = %settings.frontend_dir.display(), files = frontend.len(), "frontend loaded");
        }
        let state = AppState::new(Shared {
            settings: Arc::new(settings),
            db,
            lifecycle: Lifecycle::new(),
            schema: SchemaStatus::default(),
            warmup: Warmup::default(),
            sessions,
            login_limits: LoginLimits::default(),
            allowed_origins,
            frontend,
            metrics: Arc::new(Metrics::new(ROUTES)),
        });
        let edge = Edge::new(&state.settings, &state.frontend)?;
        let shutdown = CancellationToken::new();
        tokio::spawn(apply_migrations(state.clone(), shutdown.clone()));
        tokio::spawn(forget_idle_limits(state.clone(), shutdown.clone()));
        tokio::task::spawn_blocking(users::prepare_dummy_hash);
        let router = router(state.clone());
        Ok(Application {
            edge,
            listener,
            local_addr,
            router,
            state,
            shutdown,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    pub fn port(&self) -> u16 {
        self.local_addr.port()
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    pub fn shutdown_handle(&self) -> ShutdownHandle {
        ShutdownHandle(self.shutdown.clone())
    }

    /// Serves until a stop is requested, then: `/health` turns 503, the listener keeps accepting
    /// for `SHUTDOWN_DRAIN_SECS`, then closes; in-flight requests finish and idle keep-alive
    /// connections close. Whatever is still open at `SHUTDOWN_TIMEOUT_SECS` is dropped, so the
    /// process always exits before Render's SIGKILL.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        let Application {
            listener,
            local_addr,
            router,
            edge,
            state,
            shutdown,
        } = self;
        let server_settings = &state.settings.server;
        let stop_requested = stop_requested(shutdown.clone())?;
        let stop_accepting = CancellationToken::new();
        let service = with_layers(router, server_settings, &edge);
        let limits = ConnectionLimits {
            header_read_timeout: server_settings.header_read_timeout,
        };
        let mut server = tokio::spawn(server::serve(
            listener,
            service,
            limits,
            stop_accepting.clone(),
        ));
        tracing::info!(address = %local_addr, env = state.settings.env.as_str(), "listening");

        tokio::select! {
            result = &mut server => {
                result.context("server task failed")?;
                return Ok(());
            }
            signal = stop_requested => tracing::info!(signal, "shutdown requested; draining"),
        }
        shutdown.cancel();
        state.lifecycle.start_draining();
        let deadline = tokio::time::Instant::now() + server_settings.shutdown_timeout;
        tokio::time::sleep(server_settings.drain).await;
        stop_accepting.cancel();

        match tokio::time::timeout_at(deadline, &mut server).await {
            Ok(result) => result.context("server task failed")?,
            Err(_) => {
                tracing::warn!(
                    timeout_secs = server_settings.shutdown_timeout.as_secs(),
                    "connections still open at the shutdown deadline; closing them"
                );
                server.abort();
            }
        }
        if tokio::time::timeout(Duration::from_secs(1), state.db.close())
            .await
            .is_err()
        {
            tracing::warn!("database pool did not close within 1 s");
        }
        tracing::info!("stopped");
        Ok(())
    }
}

/// Installs the SIGTERM and SIGINT handlers now, so that a signal arriving any time after
/// "listening" is logged drains the server instead of killing it, and returns the future that
/// resolves with the first stop request.
fn stop_requested(
    handle: CancellationToken,
) -> anyhow::Result<impl std::future::Future<Output = &'static str>> {
    #[cfg(unix)]
    let (mut terminate, mut interrupt) = {
        use tokio::signal::unix::{signal, SignalKind};
        (
            signal(SignalKind::terminate()).context("install the SIGTERM handler")?,
            signal(SignalKind::interrupt()).context("install the SIGINT handler")?,
        )
    };
    Ok(async move {
        #[cfg(unix)]
        tokio::select! {
            _ = terminate.recv() => "SIGTERM",
            _ = interrupt.recv() => "SIGINT",
            () = handle.cancelled() => "handle",
        }
        #[cfg(not(unix))]
        tokio::select! {
            _ = tokio::signal::ctrl_c() => "SIGINT",
            () = handle.cancelled() => "handle",
        }
    })
}

/// Forgets idle rate-limit buckets every minute, so their memory stays bounded.
async fn forget_idle_limits(state: AppState, shutdown: CancellationToken) {
    let mut every = tokio::time::interval(Duration::from_secs(60));
    loop {
        tokio::select! {
            _ = every.tick() => state.login_limits.forget_idle(),
            () = shutdown.cancelled() => return,
        }
    }
}

/// Local development only (never on Render, whose Dev environment also runs `development` and
/// whose logs are not a place for a password): (re)creates `demo@example.com` with a fresh random password and prints it
/// to the terminal (stderr, never the log stream), so the README's run command leads straight to
/// a working login.
async fn create_demo_user(state: &AppState) {
    use rand::distr::{Alphanumeric, SampleString};
    let password = Alphanumeric.sample_string(&mut rand::rng(), 16);
    let secret = secrecy::SecretString::from(password.clone());
    match users::upsert(&state.db, DEMO_EMAIL, &secret).await {
        Ok(_) => eprintln!("\n  Demo login (development only): {DEMO_EMAIL} / {password}\n"),
        Err(e) => tracing::warn!(error = %e, "could not create the demo user"),
    }
}

pub const DEMO_EMAIL: &str = "demo@example.com";

/// Applies migrations in the background with capped exponential backoff, so a database that is
/// down at start-up delays readiness, never liveness.
async fn apply_migrations(state: AppState, shutdown: CancellationToken) {
    let mut delay = Duration::from_millis(250);
    loop {
        match state.schema.ensure_applied(&state.db).await {
            Ok(()) => {
                if state.settings.demo_login {
                    create_demo_user(&state).await;
                }
                return;
            }
            Err(e) => {
                tracing::warn!(error = %e, retry_in_ms = delay.as_millis() as u64, "could not apply migrations")
            }
        }
        tokio::select! {
            () = tokio::time::sleep(delay) => {}
            () = shutdown.cancelled() => return,
        }
        delay = (delay * 2).min(Duration::from_secs(30));
    }
}

/// Every route the router matches, as `MatchedPath` names them: the metrics table.
pub const ROUTES: &[&str] = &[
    "/health",
    "/metrics",
    "/api/health",
    "/api/warmup",
    "/api/auth/login",
    "/api/auth/logout",
    "/api/me",
    "/api/session",
    "/api/openapi.json",
];

/// The routes. Every route records its matched path into the request span (see [`RecordRouteLayer`]).
pub fn router(state: AppState) -> Router {
    let mut api = Router::new()
        .route("/health", get(health::readiness))
        .route("/warmup", post(warmup::warmup))
        .route("/auth/login", post(auth::login))
        .route("/auth/logout", post(auth::logout))
        .route("/me", get(auth::me))
        .route("/session", get(auth::session))
        .route("/openapi.json", get(openapi::document))
        .fallback(api_not_found)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            csrf::guard,
        ));
    if let Some(cors) = cors(&state.settings) {
        api = api.layer(cors);
    }
    Router::new()
        .route("/health", get(health::liveness))
        .route("/metrics", get(metrics::endpoint))
        .nest("/api", api)
        .route_layer(RecordRouteLayer::new(state.metrics.clone()))
        .fallback(frontend::fallback)
        .with_state(state)
}

/// Wraps `service` (the router) once in the stack every response passes through, outermost
/// first: sensitive-header marking, request id and its echo, JSON errors, access log, timeout,
/// panic recovery, body limit. Wrapping the router from outside, rather than with
/// `Router::layer`, builds the stack once instead of cloning it into every route's call.
pub fn with_layers<S>(
    service: S,
    server: &ServerSettings,
    edge: &Edge,
) -> impl Service<Request<Body>, Response = Response<Body>, Error = Infallible, Future: Send + 'static>
       + Clone
       + Send
       + Sync
       + 'static
where
    S: Service<
            Request<tower_http::body::Limited<Body>>,
            Response = Response<Body>,
            Error = Infallible,
        > + Clone
        + Send
        + Sync
        + 'static,
    S::Future: Send + 'static,
{
    ServiceBuilder::new()
        .layer(SetSensitiveRequestHeadersLayer::new([
            header::AUTHORIZATION,
            header::COOKIE,
        ]))
        .layer(RequestIdLayer)
        .layer(JsonErrorLayer)
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(RequestSpan::new(&edge.assets_prefix))
                .on_request(())
                .on_response(LogResponse)
                .on_failure(()),
        )
        .layer(SecurityHeadersLayer::new(edge.security.clone()))
        .layer(RequestTimeoutLayer::new(server.request_timeout))
        .layer(CatchPanicLayer)
        // axum's extractors also stop at 2 MiB, the ceiling of BODY_LIMIT_BYTES.
        .layer(RequestBodyLimitLayer::new(server.body_limit))
        .service(service)
}

/// What the edge policy gives this process: the security headers (computed once, including the
/// CSP hashes of the served index.html's inline scripts) and the HTTPS redirect.
#[derive(Clone)]
pub struct Edge {
    security: Arc<SecurityHeaders>,
    assets_prefix: String,
}

impl Edge {
    /// The CSP hashes come from the `index.html` that `frontend` serves, as loaded at start-up.
    pub fn new(settings: &Settings, frontend: &StaticFiles) -> anyhow::Result<Edge> {
        let env = settings.env.as_str();
        let script_hashes = match frontend.index_html() {
            Some(html) => edge_policy::csp::inline_script_hashes(&String::from_utf8_lossy(html))
                .map_err(|e| {
                    anyhow::anyhow!("{}/index.html: {e}", settings.frontend_dir.display())
                })?,
            None => Vec::new(),
        };
        Ok(Edge {
            assets_prefix: settings.policy.assets.prefix.clone(),
            security: Arc::new(SecurityHeaders::from_policy(
                &settings.policy,
                env,
                &script_hashes,
            )?),
        })
    }
}

/// CORS for the policy's frontend origins: exact origins, with credentials (the session cookie).
/// None when the frontend is only ever served from the API's own origin.
fn cors(settings: &Settings) -> Option<CorsLayer> {
    let environment = settings.policy.environment(settings.env.as_str()).ok()?;
    let origins: Vec<HeaderValue> = environment
        .frontend_origins
        .iter()
        .filter_map(|o| HeaderValue::from_str(o).ok())
        .collect();
    if origins.is_empty() {
        return None;
    }
    Some(
        CorsLayer::new()
            .allow_origin(AllowOrigin::list(origins))
            .allow_credentials(true)
            .allow_methods([Method::GET, Method::POST])
            .allow_headers([header::CONTENT_TYPE])
            .max_age(Duration::from_secs(600)),
    )
}

async fn api_not_found() -> ApiError {
    ApiError::client(StatusCode::NOT_FOUND, "not_found", "no such API endpoint")
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::{body::Body, http::Request};
    use tower::ServiceExt;

    fn server() -> ServerSettings {
        Settings::from_vars([("", ""); 0]).unwrap().server
    }

    async fn call(
        router: Router,
        server: &ServerSettings,
        path: &str,
    ) -> (StatusCode, serde_json::Value) {
        let settings = Settings::from_vars([("", ""); 0]).unwrap();
        let edge = Edge::new(&settings, &StaticFiles::default()).unwrap();
        let response = with_layers(router, server, &edge)
            .oneshot(Request::get(path).body(Body::empty()).unwrap())
            .await
            .unwrap();
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 16)
            .await
            .unwrap();
        (status, serde_json::from_slice(&bytes).unwrap())
    }

    #[tokio::test]
    async fn a_panicking_handler_becomes_a_json_500() {
        async fn boom() -> &'static str {
            panic!("the detail stays in the log")
        }
        let routes = Router::new().route("/boom", get(boom));
        let (status, body) = call(routes, &server(), "/boom").await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(body["error"]["code"], "internal");
        assert!(!body.to_string().contains("detail"));
    }

    #[tokio::test(start_paused = true)]
    async fn a_handler_slower_than_the_request_timeout_becomes_a_json_503() {
        let mut server = server();
        server.request_timeout = Duration::from_secs(1);
        let routes =
            Router::new().route("/slow", get(|| tokio::time::sleep(Duration::from_secs(5))));
        let (status, body) = call(routes, &server, "/slow").await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(body["error"]["code"], "timeout");
    }
}
