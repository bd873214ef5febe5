//! The application's lifecycle: [`Application::build`] binds first (so tests can ask for port 0)
//! and assembles the state; [`Application::run_until_stopped`] serves until a stop request, then
//! drains within the deadline.

use std::{net::SocketAddr, sync::Arc, time::Duration};

use anyhow::Context;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::{
    config::Settings,
    db::Database,
    edge::Edge,
    http::stack::with_layers,
    jobs,
    metrics::Metrics,
    password::PasswordHasher,
    rate_limit::LoginLimits,
    router::{router, ROUTES},
    server::{self, ConnectionLimits},
    session::Sessions,
    signals::{stop_requested, ShutdownHandle},
    state::{AppState, Lifecycle, SchemaStatus, Shared},
    static_files::StaticFiles,
    warmup::Warmup,
};

/// A bound, ready-to-serve application.
pub struct Application {
    listener: TcpListener,
    local_addr: SocketAddr,
    state: AppState,
    shutdown: CancellationToken,
}

impl Application {
    /// Validated settings in, a bound listener out. Loads the frontend, resolves the edge policy
    /// (hashing the served index.html's inline scripts into the CSP) and starts the background
    /// jobs. Does not wait for the database: the pool connects lazily and migrations are applied
    /// in the background, retrying until they succeed.
    ///
    /// # Errors
    /// If the address cannot be bound (named with `HOST`/`PORT`), `FRONTEND_DIR` cannot be read,
    /// or its index.html cannot be parsed.
    pub async fn build(settings: Settings) -> anyhow::Result<Application> {
        let db = Database::connect_lazy(&settings.database)?;
        let addr = SocketAddr::new(settings.server.host, settings.server.port);
        let listener = TcpListener::bind(addr)
            .await
            .with_context(|| format!("cannot listen on {addr} (check HOST and PORT)"))?;
        let local_addr = listener.local_addr()?;

        let frontend_dir = &settings.frontend_dir;
        let frontend = StaticFiles::load(frontend_dir).with_context(|| {
            format!(
                "invalid FRONTEND_DIR: cannot read {}",
                frontend_dir.display()
            )
        })?;
        if frontend.is_empty() {
            tracing::warn!(dir = %frontend_dir.display(), "no frontend build found; / explains how to build it");
        } else {
            tracing::info!(dir = %frontend_dir.display(), files = frontend.len(), "frontend loaded");
        }
        let script_hashes = match frontend.index_html() {
            Some(html) => edge_policy::csp::inline_script_hashes(&String::from_utf8_lossy(html))
                .map_err(|e| anyhow::anyhow!("{}/index.html: {e}", frontend_dir.display()))?,
            None => Vec::new(),
        };
        let edge = Arc::new(Edge::resolve(
            &settings.policy,
            settings.env,
            &script_hashes,
        )?);
        let sessions = Sessions::new(
            settings.session.secret.clone(),
            settings.session.previous.clone(),
            settings.session.ttl,
            !settings.env.is_development(),
        );
        let passwords = PasswordHasher::new(settings.session.hash_concurrency);
        let metrics = Metrics::new(ROUTES);
        metrics.set_build_info(
            settings.release.version,
            settings.release.release_id.as_deref(),
        );
        let state = AppState::new(Shared {
            settings: Arc::new(settings),
            edge,
            db,
            lifecycle: Lifecycle::new(),
            schema: SchemaStatus::default(),
            warmup: Warmup::default(),
            sessions,
            login_limits: LoginLimits::default(),
            passwords,
            frontend,
            metrics: Arc::new(metrics),
        });
        let shutdown = CancellationToken::new();
        jobs::spawn_all(&state, &shutdown);
        Ok(Application {
            listener,
            local_addr,
            state,
            shutdown,
        })
    }

    /// The address the listener is bound to (with the real port when `PORT=0`).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The bound port.
    pub fn port(&self) -> u16 {
        self.local_addr.port()
    }

    /// The shared state the handlers receive.
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// A handle that starts the drain, as SIGTERM does (tests and embedders).
    pub fn shutdown_handle(&self) -> ShutdownHandle {
        ShutdownHandle(self.shutdown.clone())
    }

    /// Serves until a stop is requested, then drains (see [`crate::server`]): `/health` turns
    /// 503, every request that arrives is still answered (HTTP/1.x responses with
    /// `Connection: close`, HTTP/2 connections get GOAWAY), the listener keeps accepting for
    /// `SHUTDOWN_DRAIN_SECS` and then closes, and the process exits once every connection has
    /// closed — at the latest at `SHUTDOWN_TIMEOUT_SECS`, before Render's SIGKILL.
    ///
    /// # Errors
    /// If the signal handlers cannot be installed or the server task fails.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        let Application {
            listener,
            local_addr,
            state,
            shutdown,
        } = self;
        let server_settings = &state.settings.server;
        let stop_requested = stop_requested(shutdown.clone())?;
        let connections = server::Shutdown::default();
        let service = with_layers(router(state.clone()), server_settings, &state.edge);
        let limits = ConnectionLimits {
            header_read_timeout: server_settings.header_read_timeout,
        };
        let mut server = tokio::spawn(server::serve(
            listener,
            service,
            limits,
            connections.clone(),
        ));
        tracing::info!(address = %local_addr, env = %state.settings.env, "listening");

        tokio::select! {
            result = &mut server => {
                result.context("server task failed")?;
                return Ok(());
            }
            signal = stop_requested => tracing::info!(signal, "shutdown requested; draining"),
        }
        let deadline = tokio::time::Instant::now() + server_settings.shutdown_timeout;
        shutdown.cancel();
        state.lifecycle.start_draining();
        connections.draining.cancel();
        // The listener stays open this long, for a balancer that still routes here.
        tokio::select! {
            () = tokio::time::sleep(server_settings.drain) => {}
            result = &mut server => return result.context("server task failed"),
        }
        connections.stop_accepting.cancel();

        if tokio::time::timeout_at(deadline, &mut server)
            .await
            .is_err()
        {
            tracing::warn!(
                timeout_secs = server_settings.shutdown_timeout.as_secs(),
                "connections still open at the shutdown deadline; closing them"
            );
            connections.force_close.cancel();
            server.await.context("server task failed")?;
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
