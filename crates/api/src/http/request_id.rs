//! Request ids: `<process prefix>-<counter>`. Unique per process (the random prefix separates
//! instances) and far cheaper than a v4 UUID, which costs a `getrandom` call per request.

use std::sync::{
    atomic::{AtomicU64, Ordering},
    OnceLock,
};

use axum::http::{HeaderValue, Request};
use tower_http::request_id::{MakeRequestId, RequestId};

#[derive(Clone, Copy, Debug, Default)]
pub struct MakeProcessRequestId;

static COUNTER: AtomicU64 = AtomicU64::new(0);

fn prefix() -> &'static str {
    static PREFIX: OnceLock<String> = OnceLock::new();
    PREFIX.get_or_init(|| format!("{:08x}", rand::random::<u32>()))
}

impl MakeRequestId for MakeProcessRequestId {
    fn make_request_id<B>(&mut self, _request: &Request<B>) -> Option<RequestId> {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let id = format!("{}-{n:x}", prefix());
        Some(RequestId::new(
            HeaderValue::try_from(id).expect("hex and '-' are valid header bytes"),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_distinct_and_share_the_process_prefix() {
        let request = Request::new(());
        let mut make = MakeProcessRequestId;
        let a = make.make_request_id(&request).unwrap();
        let b = make.make_request_id(&request).unwrap();
        let (a, b) = (
            a.header_value().to_str().unwrap(),
            b.header_value().to_str().unwrap(),
        );
        assert_ne!(a, b);
        assert_eq!(a.split('-').next(), b.split('-').next());
    }
}
