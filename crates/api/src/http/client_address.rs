//! The client's address as an extractor: from `X-Forwarded-For` as far as the policy trusts the
//! proxies in front ([`TrustedProxy::client_address`](crate::edge::TrustedProxy::client_address)),
//! else the TCP peer. Never from an entry a client could have written.

use std::{
    convert::Infallible,
    net::{IpAddr, SocketAddr},
    sync::Arc,
};

use axum::{
    extract::{ConnectInfo, FromRef, FromRequestParts},
    http::request::Parts,
};

use crate::edge::Edge;

/// Who is asking; `None` only where the server gave no peer address (an in-process test).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddress(pub Option<IpAddr>);

impl<S> FromRequestParts<S> for ClientAddress
where
    Arc<Edge>: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let edge = Arc::<Edge>::from_ref(state);
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip());
        Ok(ClientAddress(
            edge.proxy.client_address(&parts.headers, peer),
        ))
    }
}
