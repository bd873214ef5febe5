//! What the per-request session check costs: `revocation::is_current`, the one statement every
//! authenticated request runs (the user's session epoch and whether the session id is revoked),
//! timed against `SELECT 1` on the same pool (the floor of any statement: a pool checkout and a
//! round trip) and against the token's HMAC verification (the in-process part of a session).
//!
//! Sequential calls give the latency a request pays (p50/p99); 16 tasks at once give the
//! throughput one instance's pool sustains. `revoked_sessions` is filled with REVOKED rows of
//! other sessions first (default 10,000), so the lookup is a real index probe.
//!
//! Usage: cargo run --release -p api --example session_check -- DATABASE_URL [CALLS]
//!   DATABASE_URL: sqlite:PATH (created) or postgres://USER@HOST:PORT/DATABASE (an empty one)

use std::{
    future::Future,
    time::{Duration, Instant},
};

use api::{config::Settings, db::Database, migrate, revocation, session::Sessions, users};
use secrecy::SecretString;

const TASKS: usize = 16;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let url = args
        .next()
        .ok_or_else(|| anyhow::anyhow!("usage: session_check DATABASE_URL [CALLS]"))?;
    let calls: usize = args.next().map_or(Ok(20_000), |n| n.parse())?;
    let revoked: usize = std::env::var("REVOKED").map_or(Ok(10_000), |n| n.parse())?;

    let settings = Settings::from_vars([
        ("DATABASE_URL", url.as_str()),
        (
            "SESSION_SECRET",
            "session-check-0123456789-abcdefghijklmnop",
        ),
    ])?;
    let db = Database::connect_lazy(&settings.database)?;
    migrate::run(&db, settings.database.migration_lock_wait).await?;
    let email = "bench@example.com";
    users::upsert(&db, email, &SecretString::from("bench password".to_owned())).await?;
    let user = users::find_by_email(&db, email)
        .await?
        .expect("just created");
    let sessions = Sessions::new(
        settings.session.secret.clone(),
        None,
        settings.session.ttl,
        true,
    );
    for _ in 0..revoked {
        let (_, other) = sessions.issue(user.id, &user.email, user.session_epoch);
        revocation::revoke(&db, &other).await?;
    }
    let (token, claims) = sessions.issue(user.id, &user.email, user.session_epoch);
    assert!(revocation::is_current(&db, &claims).await?);

    println!(
        "backend {}, pool {} connections, {revoked} revoked sessions, {calls} calls each",
        db.backend(),
        settings.database.max_connections
    );
    println!(
        "{:<34} {:>9} {:>9} {:>9} {:>12}",
        "", "mean µs", "p50 µs", "p99 µs", "calls/s ×16"
    );
    let verify = || async {
        sessions
            .verify(&token)
            .map(drop)
            .map_err(anyhow::Error::from)
    };
    let ping = || async { db.ping().await.map_err(anyhow::Error::from) };
    let check = || async {
        anyhow::ensure!(revocation::is_current(&db, &claims).await?);
        Ok(())
    };
    report("token verification (HMAC, no I/O)", calls, verify).await?;
    report("SELECT 1 (pool + round trip)", calls, ping).await?;
    report("revocation::is_current", calls, check).await?;
    db.close().await;
    Ok(())
}

/// Times `calls` sequential calls of `op` (after a warm-up of a tenth as many), then `calls`
/// calls spread over [`TASKS`] concurrent tasks, and prints one line.
async fn report<F, Fut>(name: &str, calls: usize, op: F) -> anyhow::Result<()>
where
    F: Fn() -> Fut,
    Fut: Future<Output = anyhow::Result<()>>,
{
    for _ in 0..calls / 10 {
        op().await?;
    }
    let mut took = Vec::with_capacity(calls);
    let started = Instant::now();
    for _ in 0..calls {
        let one = Instant::now();
        op().await?;
        took.push(one.elapsed());
    }
    let mean = started.elapsed() / u32::try_from(calls)?;
    took.sort_unstable();
    let at = |p: usize| took[(took.len() * p).div_ceil(100).max(1) - 1];

    let started = Instant::now();
    let per_task = calls / TASKS;
    let tasks = (0..TASKS).map(|_| async {
        for _ in 0..per_task {
            op().await?;
        }
        Ok::<_, anyhow::Error>(())
    });
    for result in futures::future::join_all(tasks).await {
        result?;
    }
    let rate = (per_task * TASKS) as f64 / started.elapsed().as_secs_f64();
    println!(
        "{name:<34} {:>9.1} {:>9.1} {:>9.1} {rate:>12.0}",
        micros(mean),
        micros(at(50)),
        micros(at(99))
    );
    Ok(())
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}
