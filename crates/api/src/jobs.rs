//! Background jobs a serving process runs beside the requests, each ending at shutdown.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::{
    password::PasswordHasher, rate_limit::LoginLimits, revocation, state::AppState, users,
};

/// The account local development creates, with a fresh password printed at start-up.
pub const DEMO_EMAIL: &str = "demo@example.com";

/// Starts every job: the migrations (with the demo login after them, where configured), the
/// sweep of expired revocations and full rate-limit buckets, and, while `/metrics` is on, the
/// periodic readiness probe. Each stops when `shutdown` is cancelled.
pub fn spawn_all(state: &AppState, shutdown: &CancellationToken) {
    tokio::spawn(apply_migrations(state.clone(), shutdown.clone()));
    tokio::spawn(sweep(state.clone(), shutdown.clone()));
    if state.settings.metrics_token.is_some() {
        tokio::spawn(probe_readiness(state.clone(), shutdown.clone()));
    }
    // The dummy hash (unknown emails are verified against it) costs one argon2 run: pay it now.
    tokio::task::spawn_blocking(PasswordHasher::prepare);
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

/// How often the readiness probe runs while `/metrics` is on.
pub const READINESS_PROBE_EVERY: Duration = Duration::from_secs(15);

/// Every [`READINESS_PROBE_EVERY`] (the first at once): the `/api/health` probe, for
/// `release_flow_readiness`, so the gauge is fresh whether or not anyone calls `/api/health`.
/// One database ping per run, bounded by `HEALTH_DB_TIMEOUT_MS`.
async fn probe_readiness(state: AppState, shutdown: CancellationToken) {
    let mut every = tokio::time::interval(READINESS_PROBE_EVERY);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = every.tick() => {}
            () = shutdown.cancelled() => return,
        }
        crate::routes::health::HealthReport::gather(&state).await;
    }
}

/// Every minute: deletes revocations of tokens that have expired and rate-limit buckets that are
/// full again, so both tables hold only what still matters. Every instance sweeps; the deletes
/// are idempotent.
async fn sweep(state: AppState, shutdown: CancellationToken) {
    let mut every = tokio::time::interval(Duration::from_secs(60));
    loop {
        tokio::select! {
            _ = every.tick() => {}
            () = shutdown.cancelled() => return,
        }
        if state.schema.get() != crate::state::Schema::Applied {
            continue;
        }
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        match revocation::forget_expired(&state.db, now).await {
            Ok(n) if n > 0 => tracing::debug!(deleted = n, "expired revocations swept"),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "could not sweep expired revocations"),
        }
        if let Err(e) = LoginLimits::forget_full(&state.db).await {
            tracing::warn!(error = %e, "could not sweep full rate-limit buckets");
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
