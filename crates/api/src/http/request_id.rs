//! `x-request-id`: kept when the proxy or client sent a sensible one, generated otherwise, set on
//! the request (so the access log and handlers see it) and echoed on the response.
//!
//! Generated ids are `<process prefix>-<counter in hex>`: unique per process (the random prefix
//! tells instances apart) and far cheaper than a v4 UUID, which costs a `getrandom` call. One
//! layer does what tower-http's `SetRequestId` + `PropagateRequestId` pair does, without the
//! request extension those two insert (a map allocation per request on the hot path).

use std::{
    future::Future,
    pin::Pin,
    sync::{
        atomic::{AtomicU64, Ordering},
        OnceLock,
    },
    task::{ready, Context, Poll},
};

use axum::{
    body::Bytes,
    http::{HeaderName, HeaderValue, Request, Response},
};
use tower::{Layer, Service};

/// `x-request-id`: the de-facto header Render's proxy and most others use for a request id.
pub static X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Longer incoming ids are replaced, so a client cannot stuff the logs.
const MAX_INCOMING_LEN: usize = 128;

static COUNTER: AtomicU64 = AtomicU64::new(0);

fn prefix() -> &'static [u8; 8] {
    static PREFIX: OnceLock<[u8; 8]> = OnceLock::new();
    PREFIX.get_or_init(|| {
        let mut out = [0u8; 8];
        hex(rand::random::<u32>() as u64, &mut out);
        out
    })
}

/// Writes `n` as fixed-width lowercase hex into `out`.
fn hex(mut n: u64, out: &mut [u8]) {
    for slot in out.iter_mut().rev() {
        *slot = b"0123456789abcdef"[(n & 0xf) as usize];
        n >>= 4;
    }
}

/// A new id, `<8 random hex digits>-<12 hex digits of a process-wide counter>`: 21 bytes,
/// unique per process, cheap (no `getrandom` per call).
pub fn generate() -> HeaderValue {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let mut buf = [0u8; 8 + 1 + 12];
    buf[..8].copy_from_slice(prefix());
    buf[8] = b'-';
    hex(n, &mut buf[9..]);
    // Owned by a reference-counted `Bytes` from the start: the id is cloned once (request and
    // response), and cloning a vector-backed `Bytes` would allocate again to share it.
    HeaderValue::from_maybe_shared(Bytes::from_owner(buf))
        .expect("hex and '-' are valid header bytes")
}

fn acceptable(value: &HeaderValue) -> bool {
    let bytes = value.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= MAX_INCOMING_LEN
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(b))
}

/// Keeps or generates the request's `x-request-id` and echoes it on the response.
#[derive(Clone, Copy, Debug, Default)]
pub struct RequestIdLayer;

impl<S> Layer<S> for RequestIdLayer {
    type Service = RequestId<S>;
    fn layer(&self, inner: S) -> Self::Service {
        RequestId { inner }
    }
}

/// The service [`RequestIdLayer`] makes.
#[derive(Clone, Debug)]
pub struct RequestId<S> {
    inner: S,
}

impl<S, B, ResBody> Service<Request<B>> for RequestId<S>
where
    S: Service<Request<B>, Response = Response<ResBody>>,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = RequestIdFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<B>) -> Self::Future {
        let id = match request.headers().get(&X_REQUEST_ID) {
            Some(value) if acceptable(value) => value.clone(),
            _ => {
                let id = generate();
                request
                    .headers_mut()
                    .insert(X_REQUEST_ID.clone(), id.clone());
                id
            }
        };
        RequestIdFuture {
            inner: self.inner.call(request),
            id: Some(id),
        }
    }
}

pin_project_lite::pin_project! {
    /// The response future of [`RequestId`]: copies the id onto the response.
    pub struct RequestIdFuture<F> {
        #[pin]
        inner: F,
        id: Option<HeaderValue>,
    }
}

impl<F, E, ResBody> Future for RequestIdFuture<F>
where
    F: Future<Output = Result<Response<ResBody>, E>>,
{
    type Output = Result<Response<ResBody>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let mut response = ready!(this.inner.poll(cx))?;
        if let Some(id) = this.id.take() {
            response.headers_mut().insert(X_REQUEST_ID.clone(), id);
        }
        Poll::Ready(Ok(response))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_are_distinct_and_share_the_process_prefix() {
        let (a, b) = (generate(), generate());
        let (a, b) = (a.to_str().unwrap(), b.to_str().unwrap());
        assert_ne!(a, b);
        assert_eq!(a.len(), 21);
        assert_eq!(a.split('-').next(), b.split('-').next());
    }

    #[test]
    fn sensible_incoming_ids_are_kept_and_others_replaced() {
        assert!(acceptable(&HeaderValue::from_static("edge-7f3a_9.1:2")));
        assert!(!acceptable(&HeaderValue::from_static("")));
        assert!(!acceptable(&HeaderValue::from_static("has space")));
        assert!(!acceptable(
            &HeaderValue::from_str(&"a".repeat(129)).unwrap()
        ));
    }
}
