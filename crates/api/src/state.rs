//! The one state object every handler receives, and the process-wide status it carries: the
//! lifecycle (started, draining) and whether the migrations are applied.

use std::{
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc, Mutex,
    },
    time::{Duration, Instant},
};

use axum::extract::FromRef;

use crate::{
    config::Settings, db::Database, edge::Edge, metrics::Metrics, migrate::MigrationError,
    password::PasswordHasher, rate_limit::LoginLimits, session::Sessions,
    static_files::StaticFiles, warmup::Warmup,
};

/// Cheap to clone (one reference count): axum clones the state for every request.
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

/// Everything a request may need, built once by `Application::build`.
pub struct Shared {
    /// The validated configuration.
    pub settings: Arc<Settings>,
    /// The edge policy resolved for this environment; the layers hold the same `Arc`.
    pub edge: Arc<Edge>,
    /// The connection pool (SQLite or PostgreSQL).
    pub db: Database,
    /// Started at, draining or not.
    pub lifecycle: Lifecycle,
    /// Whether this process's migrations are applied.
    pub schema: SchemaStatus,
    /// The last `POST /api/warmup` report, and the lock that serialises warmups.
    pub warmup: Warmup,
    /// Signs and verifies session tokens.
    pub sessions: Sessions,
    /// The login rate limits, kept in the shared database.
    pub login_limits: LoginLimits,
    /// argon2id hashing with a bounded number of slots.
    pub passwords: PasswordHasher,
    /// The built frontend, in memory.
    pub frontend: StaticFiles,
    /// The Prometheus registry `/metrics` encodes.
    pub metrics: Arc<Metrics>,
}

impl AppState {
    /// Wraps the shared parts in the one `Arc` every clone shares.
    pub fn new(shared: Shared) -> Self {
        Self(Arc::new(shared))
    }
}

/// Lets extractors that only need the edge (the client address) take it without the whole state.
impl FromRef<AppState> for Arc<Edge> {
    fn from_ref(state: &AppState) -> Arc<Edge> {
        state.edge.clone()
    }
}

impl std::ops::Deref for AppState {
    type Target = Shared;
    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// Process lifecycle: when it started and whether it is draining after SIGTERM.
#[derive(Debug)]
pub struct Lifecycle {
    /// When the process started (uptime in `/api/health`).
    pub started_at: Instant,
    draining: AtomicBool,
}

impl Lifecycle {
    /// A lifecycle starting now, not draining.
    pub fn new() -> Self {
        Self {
            started_at: Instant::now(),
            draining: AtomicBool::new(false),
        }
    }

    /// Marks the process as draining: `/health` answers 503 from now on. Idempotent.
    pub fn start_draining(&self) {
        self.draining.store(true, Ordering::Release);
    }

    /// Whether SIGTERM (or a shutdown handle) has started the drain.
    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::Acquire)
    }
}

impl Default for Lifecycle {
    fn default() -> Self {
        Self::new()
    }
}

/// Whether this instance's migrations have been applied. Start-up applies them in the background
/// (retrying while the database is down) so that binding the port never waits for the database.
#[derive(Debug, Default)]
pub struct SchemaStatus {
    state: Mutex<Schema>,
    /// Mirrors `Failed { release_fault: true, .. }` for liveness, which reads it on every probe.
    release_fault: AtomicBool,
    /// Set once the first run has ended, whatever its outcome (see [`SchemaStatus::first_verdict`]).
    verdict: tokio::sync::watch::Sender<bool>,
    /// Serialises migration runs within the process (the background job and a warmup may both
    /// try at once); [`crate::migrate`] serialises them between processes.
    running: tokio::sync::Mutex<()>,
}

/// The migrations as this process last saw them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Schema {
    /// No run has finished yet.
    #[default]
    Pending,
    /// Every migration this binary knows is applied.
    Applied,
    /// The last run failed: `cause` is public (no driver detail); `release_fault` says the
    /// release itself cannot run on this database (see [`MigrationError::is_release_fault`]).
    Failed {
        /// Why, fit for a public page.
        cause: String,
        /// The release itself cannot run on this database (no retry will help).
        release_fault: bool,
    },
}

impl SchemaStatus {
    /// The current status (a clone; the lock is held only to copy it).
    pub fn get(&self) -> Schema {
        self.state.lock().expect("schema status lock").clone()
    }

    /// Whether the last run failed in a way this release cannot recover from by waiting.
    pub fn release_fault(&self) -> bool {
        self.release_fault.load(Ordering::Acquire)
    }

    fn set(&self, schema: Schema) {
        let fault = matches!(
            schema,
            Schema::Failed {
                release_fault: true,
                ..
            }
        );
        *self.state.lock().expect("schema status lock") = schema;
        self.release_fault.store(fault, Ordering::Release);
        // After the fault flag, so a probe woken by the verdict reads the flag it goes with.
        self.verdict.send_replace(true);
    }

    /// Resolves once the first migration run of this process has ended (applied, or failed either
    /// way), at once if it has. Liveness waits for it, briefly, so that a new instance never
    /// answers 200 in the moment between listening and the database refusing its migrations.
    pub async fn first_verdict(&self) {
        let mut verdict = self.verdict.subscribe();
        // The sender lives as long as `self`, so this cannot fail while borrowed.
        let _ = verdict.wait_for(|ended| *ended).await;
    }

    /// Whether the first migration run of this process has ended.
    pub fn has_verdict(&self) -> bool {
        *self.verdict.borrow()
    }

    /// Applies pending migrations unless this process already has, one run at a time, waiting
    /// at most `lock_wait` for another process's run.
    ///
    /// # Errors
    /// The run's [`MigrationError`], also logged with its cause and kept for `/api/health`.
    pub async fn ensure_applied(
        &self,
        db: &Database,
        lock_wait: Duration,
    ) -> Result<(), MigrationError> {
        let _running = self.running.lock().await;
        if self.get() == Schema::Applied {
            return Ok(());
        }
        match crate::migrate::run(db, lock_wait).await {
            Ok(()) => {
                self.set(Schema::Applied);
                tracing::info!(version = crate::migrate::latest_version(), backend = %db.backend(), "migrations applied");
                Ok(())
            }
            Err(e) => {
                let release_fault = e.is_release_fault();
                tracing::error!(error = %e, cause = e.cause(false), release_fault, "migrations failed");
                self.set(Schema::Failed {
                    cause: e.cause(true),
                    release_fault,
                });
                Err(e)
            }
        }
    }
}
