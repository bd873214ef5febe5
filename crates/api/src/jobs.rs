//! Background jobs a serving process runs beside the requests, each ending at shutdown.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::{state::AppState, users};

/// The account local development creates, with a fresh password printed at start-up.
pub const DEMO_EMAIL: &str = "demo@example.com";

/// Starts every job: the migrations (with the demo login after them, where configured) and the
/// rate-limit sweep. Each stops when `shutdown` is cancelled.
pub fn spawn_all(state: &AppState, shutdown: &CancellationToken) {
    tokio::spawn(apply_migrations(state.clone(), shutdown.clone()));
    tokio::spawn(forget_idle_limits(state.clone(), shutdown.clone()));
    // The dummy hash (unknown emails are verified against it) costs one argon2 run: pay it now.
    tokio::task::spawn_blocking(users::prepare_dummy_hash);
}

/// Applies migrations with capped exponential backoff (250 ms doubling to 30 s), so a database
/// that is down at start-up delays readiness, never liveness. A migration the database refuses
/// is retried too: an operator may repair the database by hand, and the instance then recovers
/// without a restart.
async fn apply_migrations(state: AppState, shutdown: CancellationToken) {
    let mut delay = Duration::from_millis(250);
    loop {
        let lock_wait = state.settings.database.migration_lock_wait;
        // A failure is logged (with its cause) and kept for /api/health by `ensure_applied`.
        if state
            .schema
            .ensure_applied(&state.db, lock_wait)
            .await
            .is_ok()
        {
            if state.settings.demo_login {
                create_demo_user(&state).await;
            }
            return;
        }
        tracing::info!(
            retry_in_ms = delay.as_millis() as u64,
            "migrations will be retried"
        );
        tokio::select! {
            () = tokio::time::sleep(delay) => {}
            () = shutdown.cancelled() => return,
        }
        delay = (delay * 2).min(Duration::from_secs(30));
    }
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
/// whose logs are not a place for a password): (re)creates [`DEMO_EMAIL`] with a fresh random
/// password and prints it to the terminal (stderr, never the log stream), so the README's run
/// command leads straight to a working login.
async fn create_demo_user(state: &AppState) {
    use rand::distr::{Alphanumeric, SampleString};
    let password = Alphanumeric.sample_string(&mut rand::rng(), 16);
    let secret = secrecy::SecretString::from(password.clone());
    match users::upsert(&state.db, DEMO_EMAIL, &secret).await {
        Ok(_) => eprintln!("\n  Demo login (development only): {DEMO_EMAIL} / {password}\n"),
        Err(e) => tracing::warn!(error = %e, "could not create the demo user"),
    }
}
