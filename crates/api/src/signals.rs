//! Stop requests: SIGTERM (Render, before it moves on to SIGKILL), SIGINT (a terminal), or a
//! [`ShutdownHandle`] (an embedding program or a test).

use anyhow::Context;
use tokio_util::sync::CancellationToken;

/// Lets an embedding program (or a test) stop the server as SIGTERM would.
#[derive(Clone, Debug)]
pub struct ShutdownHandle(pub(crate) CancellationToken);

impl ShutdownHandle {
    /// Starts the drain, exactly as SIGTERM does.
    pub fn shutdown(&self) {
        self.0.cancel();
    }
}

/// Installs the SIGTERM and SIGINT handlers now, so that a signal arriving any time after
/// "listening" is logged drains the server instead of killing it, and returns the future that
/// resolves with the name of the first stop request.
///
/// # Errors
/// If a signal handler cannot be installed.
pub fn stop_requested(
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
