//! The one state object every handler receives.

use std::{
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc, Mutex,
    },
    time::Instant,
};

use axum::extract::FromRef;

use crate::{config::Settings, db::Database, routes::warmup::Warmup};

#[derive(Clone)]
pub struct AppState {
    pub settings: Arc<Settings>,
    pub db: Database,
    pub lifecycle: Arc<Lifecycle>,
    pub schema: Arc<SchemaStatus>,
    pub warmup: Arc<Warmup>,
}

impl FromRef<AppState> for Arc<Lifecycle> {
    fn from_ref(state: &AppState) -> Self {
        state.lifecycle.clone()
    }
}

/// Process lifecycle: when it started and whether it is draining after SIGTERM.
#[derive(Debug)]
pub struct Lifecycle {
    pub started_at: Instant,
    draining: AtomicBool,
}

impl Lifecycle {
    pub fn new() -> Self {
        Self { started_at: Instant::now(), draining: AtomicBool::new(false) }
    }

    pub fn start_draining(&self) {
        self.draining.store(true, Ordering::Release);
    }

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
pub struct SchemaStatus(Mutex<Schema>);

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Schema {
    #[default]
    Pending,
    Applied,
    Failed(String),
}

impl SchemaStatus {
    pub fn get(&self) -> Schema {
        self.0.lock().expect("schema status lock").clone()
    }

    pub fn set(&self, schema: Schema) {
        *self.0.lock().expect("schema status lock") = schema;
    }
}
