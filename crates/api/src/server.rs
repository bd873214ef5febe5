//! The accept loop and the drain contract. hyper-util's connection builder with the settings
//! `axum::serve` does not expose: a header-read timeout that closes connections trickling a
//! request head (slowloris) or idle between keep-alive requests, a request-head limit,
//! `TCP_NODELAY` and `ConnectInfo`.
//!
//! **Draining** (from SIGTERM): every request that reaches a connection is served to the end.
//! Every HTTP/1.x response carries `Connection: close`, so the client sends nothing more on that
//! connection and the server closes it after the response (RFC 9112 §9.6); an HTTP/2 connection
//! gets GOAWAY, after which the client opens no new stream on it (RFC 9113 §6.8). A connection
//! that stays idle is never closed by the drain itself: a client may be sending a request on it
//! at that very moment, and would see a reset (RFC 9112 §9.3). It closes when its client closes
//! it, when it sits idle past `HEADER_READ_TIMEOUT_SECS` (the normal idle limit, which a pooling
//! proxy undercuts), or at the shutdown deadline, the bound on the whole drain.

use std::net::SocketAddr;
use std::{
    cell::RefCell,
    convert::Infallible,
    future::Future,
    io,
    pin::Pin,
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    task::{ready, Context, Poll, Waker},
    time::Duration,
};

use axum::{
    body::{Body, Bytes, HttpBody},
    extract::ConnectInfo,
    http::{header, HeaderValue, Request, Response, Version},
    BoxError,
};
use hyper::body::Incoming;
use hyper_util::{
    rt::{TokioExecutor, TokioIo, TokioTimer},
    server::conn::auto,
};
use tokio::{
    net::{TcpListener, TcpStream},
    sync::Notify,
};
use tokio_util::{sync::CancellationToken, task::TaskTracker};
use tower::{util::Oneshot, Service, ServiceExt};

/// The largest request head (request line and headers) read: above it, a 431. Eight times the
/// 8 KiB nginx allows a header line by default, ample for cookies; hyper's own limit would be
/// about 400 KiB.
pub const MAX_REQUEST_HEAD_BYTES: usize = 64 * 1024;

/// Per-connection limits, from [`crate::config::ServerSettings`].
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    /// `HEADER_READ_TIMEOUT_SECS`: bounds a slow request head and an idle keep-alive connection.
    pub header_read_timeout: Duration,
}

/// The three moments of a shutdown, as tokens the caller cancels in order.
#[derive(Debug, Clone, Default)]
pub struct Shutdown {
    /// SIGTERM: mark responses `Connection: close`, send GOAWAY on HTTP/2.
    pub draining: Draining,
    /// After `SHUTDOWN_DRAIN_SECS`: close the listener.
    pub stop_accepting: CancellationToken,
    /// The deadline (`SHUTDOWN_TIMEOUT_SECS`): drop every connection still open.
    pub force_close: CancellationToken,
}

/// The drain's start, as a token that is also read on every response: an atomic load there,
/// where a `CancellationToken` would take its lock to clone, read and drop.
#[derive(Debug, Clone, Default)]
pub struct Draining(Arc<DrainingInner>);

#[derive(Debug, Default)]
struct DrainingInner {
    started: AtomicBool,
    token: CancellationToken,
}

impl Draining {
    /// Starts the drain (once; later calls do nothing more).
    pub fn cancel(&self) {
        self.0.started.store(true, Ordering::Release);
        self.0.token.cancel();
    }

    /// Whether the drain has started.
    pub fn is_cancelled(&self) -> bool {
        self.0.started.load(Ordering::Acquire)
    }

    /// Completes when the drain starts.
    pub async fn cancelled(&self) {
        self.0.token.cancelled().await
    }
}

/// Accepts connections until `shutdown.stop_accepting`, then closes the listener and returns once
/// every connection has closed, by its client or at `shutdown.force_close`.
pub async fn serve<S, B>(
    listener: TcpListener,
    service: S,
    limits: ConnectionLimits,
    shutdown: Shutdown,
) where
    S: Service<Request<Body>, Response = Response<B>, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
    B: HttpBody<Data = Bytes, Error: Into<BoxError>> + Send + 'static,
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
    let connections = TaskTracker::new();

    let spawn = |stream: TcpStream, remote: SocketAddr| {
        // Responses are written whole; waiting for Nagle only adds latency.
        let _ = stream.set_nodelay(true);
        let http2 = Arc::new(Http2Seen::default());
        let service = DrainAware {
            inner: RefCell::new(service.clone()),
            draining: shutdown.draining.clone(),
            remote,
            http2: http2.clone(),
        };
        let connection = builder
            .serve_connection_with_upgrades(TokioIo::new(stream), service)
            .into_owned();
        connections.spawn(drive(connection, http2, shutdown.clone(), remote));
    };
    loop {
        let (stream, remote) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    tokio::select! {
                        () = handle_accept_error(e) => continue,
                        () = shutdown.stop_accepting.cancelled() => break,
                    }
                }
            },
            () = shutdown.stop_accepting.cancelled() => break,
        };
        spawn(stream, remote);
    }
    // Connections the kernel has already completed are served, not reset by closing the
    // listener under them: take every one that is ready now, without waiting for more.
    {
        let mut cx = Context::from_waker(Waker::noop());
        while let Poll::Ready(Ok((stream, remote))) = listener.poll_accept(&mut cx) {
            spawn(stream, remote);
        }
    }
    drop(listener);
    connections.close();
    connections.wait().await;
}

/// Whether a connection carries HTTP/2, learnt from its first request.
#[derive(Debug, Default)]
struct Http2Seen {
    yes: AtomicBool,
    notify: Notify,
}

type Connection<S> =
    auto::UpgradeableConnection<'static, TokioIo<TcpStream>, DrainAware<S>, TokioExecutor>;

/// Runs one connection through the drain: GOAWAY as soon as it is both draining and known to be
/// HTTP/2; nothing for HTTP/1 (its responses say `Connection: close`); dropped at the deadline.
async fn drive<S, B>(
    connection: Connection<S>,
    http2: Arc<Http2Seen>,
    shutdown: Shutdown,
    peer: SocketAddr,
) where
    S: Service<Request<Body>, Response = Response<B>, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
    B: HttpBody<Data = Bytes, Error: Into<BoxError>> + Send + 'static,
{
    tokio::pin!(connection);
    let goaway_due = async {
        shutdown.draining.cancelled().await;
        while !http2.yes.load(Ordering::Acquire) {
            http2.notify.notified().await;
        }
    };
    let result = tokio::select! {
        result = connection.as_mut() => Some(result),
        () = goaway_due => {
            connection.as_mut().graceful_shutdown();
            tokio::select! {
                result = connection.as_mut() => Some(result),
                () = shutdown.force_close.cancelled() => None,
            }
        }
        () = shutdown.force_close.cancelled() => None,
    };
    match result {
        // Timeouts and peers that hang up mid-request end up here; not a server fault.
        Some(Err(e)) => tracing::debug!(%peer, error = %e, "connection closed with an error"),
        Some(Ok(())) => {}
        None => tracing::debug!(%peer, "connection still open at the shutdown deadline; dropped"),
    }
}

/// The service as one connection sees it: `ConnectInfo` on each request, HTTP/2 noted, and
/// `Connection: close` on HTTP/1.x responses once draining.
///
/// hyper calls a connection's service through `&self`, one request at a time from the
/// connection's task, where tower's `call` takes `&mut self`; hyper-util's `TowerToHyperService`
/// bridges the two by cloning the whole layer stack for every request and driving it through a
/// `poll_ready`-then-`call` state machine. The stack lives here in a `RefCell` instead, borrowed
/// only for the synchronous `poll_ready` and `call`: no clone, and a smaller future
/// (docs/PERFORMANCE.md, `/health` through the stack).
struct DrainAware<S> {
    inner: RefCell<S>,
    draining: Draining,
    remote: SocketAddr,
    http2: Arc<Http2Seen>,
}

impl<S, B> hyper::service::Service<Request<Incoming>> for DrainAware<S>
where
    S: Service<Request<Body>, Response = Response<B>, Error = Infallible> + Clone,
{
    type Response = Response<B>;
    type Error = Infallible;
    type Future = DrainAwareFuture<S::Future, Oneshot<S, Request<Body>>>;

    fn call(&self, request: Request<Incoming>) -> Self::Future {
        let http1 = request.version() < Version::HTTP_2;
        if !http1 && !self.http2.yes.swap(true, Ordering::AcqRel) {
            self.http2.notify.notify_one();
        }
        let mut request = request.map(Body::new);
        request.extensions_mut().insert(ConnectInfo(self.remote));
        let draining = http1.then(|| self.draining.clone());
        // tower's contract: `call` only after `poll_ready` said ready. Every layer of the stack
        // and axum's router are always ready, so one poll without a waker settles it; were one
        // ever not, that request waits on a clone of the stack, as `TowerToHyperService` does.
        let mut inner = self.inner.borrow_mut();
        match inner.poll_ready(&mut Context::from_waker(Waker::noop())) {
            Poll::Ready(Ok(())) => DrainAwareFuture::Ready {
                inner: inner.call(request),
                draining,
            },
            Poll::Ready(Err(never)) => match never {},
            Poll::Pending => DrainAwareFuture::Waiting {
                inner: inner.clone().oneshot(request),
                draining,
            },
        }
    }
}

pin_project_lite::pin_project! {
    #[project = DrainAwareFutureProj]
    enum DrainAwareFuture<F, W> {
        Ready {
            #[pin]
            inner: F,
            // Only for HTTP/1.x, where `Connection` is a field (HTTP/2 forbids it, RFC 9113
            // §8.2.2).
            draining: Option<Draining>,
        },
        Waiting {
            #[pin]
            inner: W,
            draining: Option<Draining>,
        },
    }
}

impl<F, W, B> Future for DrainAwareFuture<F, W>
where
    F: Future<Output = Result<Response<B>, Infallible>>,
    W: Future<Output = Result<Response<B>, Infallible>>,
{
    type Output = Result<Response<B>, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let (mut response, draining) = match self.project() {
            DrainAwareFutureProj::Ready { inner, draining } => (ready!(inner.poll(cx))?, draining),
            DrainAwareFutureProj::Waiting { inner, draining } => {
                (ready!(inner.poll(cx))?, draining)
            }
        };
        // Decided when the response is ready, so a request accepted before SIGTERM and answered
        // after it closes its connection too. hyper sees the field and closes after writing.
        if draining.as_ref().is_some_and(Draining::is_cancelled) {
            response
                .headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        Poll::Ready(Ok(response))
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A service that is not ready on its first `poll_ready` (it wakes its caller at once), then
    /// answers 200: the path of a stack that is not always ready.
    #[derive(Clone, Default)]
    struct ReadyOnSecondPoll {
        polled: Arc<AtomicBool>,
        ready: Arc<AtomicBool>,
    }

    impl Service<Request<Body>> for ReadyOnSecondPoll {
        type Response = Response<Body>;
        type Error = Infallible;
        type Future = std::future::Ready<Result<Response<Body>, Infallible>>;

        fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
            if self.polled.swap(true, Ordering::AcqRel) {
                self.ready.store(true, Ordering::Release);
                Poll::Ready(Ok(()))
            } else {
                cx.waker().wake_by_ref();
                Poll::Pending
            }
        }

        fn call(&mut self, _: Request<Body>) -> Self::Future {
            assert!(self.ready.load(Ordering::Acquire), "called before ready");
            std::future::ready(Ok(Response::new(Body::from("ready\n"))))
        }
    }

    #[tokio::test]
    async fn a_service_not_ready_at_once_is_waited_for_not_called_early() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let limits = ConnectionLimits {
            header_read_timeout: Duration::from_secs(5),
        };
        let shutdown = Shutdown::default();
        let server = tokio::spawn(serve(
            listener,
            ReadyOnSecondPoll::default(),
            limits,
            shutdown.clone(),
        ));
        let answer = tokio::time::timeout(
            Duration::from_secs(5),
            reqwest::get(format!("http://{address}/")),
        )
        .await
        .expect("answered, not left waiting")
        .unwrap();
        assert_eq!(answer.status(), 200);
        assert_eq!(answer.text().await.unwrap(), "ready\n");
        shutdown.stop_accepting.cancel();
        shutdown.force_close.cancel();
        server.await.unwrap();
    }
}
