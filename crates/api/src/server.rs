//! The accept loop: hyper-util's connection builder with the settings `axum::serve` does not
//! expose. A header-read timeout closes connections that trickle a request head (slowloris) or
//! sit idle between keep-alive requests, and graceful shutdown lets in-flight requests finish.
//!
//! Shaped after `axum::serve` 0.8 (same accept-error handling, same HTTP/1 + HTTP/2 builder);
//! the only additions are the timer, the header-read timeout, `TCP_NODELAY` and `ConnectInfo`.

use std::{convert::Infallible, io, time::Duration};

use axum::{
    body::Body,
    extract::ConnectInfo,
    http::{Request, Response},
};
use hyper::body::Incoming;
use hyper_util::{
    rt::{TokioExecutor, TokioIo, TokioTimer},
    server::{conn::auto, graceful::GracefulShutdown},
    service::TowerToHyperService,
};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tower::{Service, ServiceExt as _};

/// The largest request head (request line and headers) read: above it, a 431. Eight times the
/// 8 KiB nginx allows a header line by default, ample for cookies; hyper's own limit would be
/// about 400 KiB.
pub const MAX_REQUEST_HEAD_BYTES: usize = 64 * 1024;

/// Per-connection limits, from [`crate::config::ServerSettings`].
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    pub header_read_timeout: Duration,
}

/// Accepts connections until `stop_accepting` fires, then closes the listener, asks every open
/// connection to finish its current request and close, and returns once all have closed.
/// The caller bounds that wait (`SHUTDOWN_TIMEOUT_SECS`) by dropping this future.
pub async fn serve<S>(
    listener: TcpListener,
    service: S,
    limits: ConnectionLimits,
    stop_accepting: CancellationToken,
) where
    S: Service<Request<Body>, Response = Response<Body>, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .max_buf_size(MAX_REQUEST_HEAD_BYTES);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_header_list_size(MAX_REQUEST_HEAD_BYTES as u32)
        // An HTTP/2 client that stops answering pings is gone; free its connection.
        .keep_alive_interval(Duration::from_secs(30))
        .keep_alive_timeout(Duration::from_secs(20));
    let graceful = GracefulShutdown::new();

    loop {
        let (stream, remote) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    tokio::select! {
                        () = handle_accept_error(e) => continue,
                        () = stop_accepting.cancelled() => break,
                    }
                }
            },
            () = stop_accepting.cancelled() => break,
        };
        // Responses are written whole; waiting for Nagle only adds latency.
        let _ = stream.set_nodelay(true);
        let service = service
            .clone()
            .map_request(move |request: Request<Incoming>| {
                let mut request = request.map(Body::new);
                request.extensions_mut().insert(ConnectInfo(remote));
                request
            });
        let connection = builder
            .serve_connection_with_upgrades(TokioIo::new(stream), TowerToHyperService::new(service))
            .into_owned();
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                // Timeouts and peers that hang up mid-request end up here; not a server fault.
                tracing::debug!(peer = %remote, error = %e, "connection closed with an error");
            }
        });
    }
    drop(listener);
    graceful.shutdown().await;
}

/// As `axum::serve` (and hyper 0.14 before it): a peer that resets during accept is ignored;
/// anything else (EMFILE when out of file descriptors, say) is logged and the loop pauses a
/// moment so that it does not spin while connections close.
async fn handle_accept_error(e: io::Error) {
    if matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    ) {
        return;
    }
    tracing::error!(error = %e, "accept failed; pausing 1 s");
    tokio::time::sleep(Duration::from_secs(1)).await;
}
