//! Below HTTP libraries: requests written byte for byte, and TCP stand-ins for a database server
//! (an address that refuses, a listener that never answers, a relay a test can cut).

use std::{
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::Duration,
};

use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
};
use tokio_util::sync::CancellationToken;

use super::TestApp;

/// Reads until the server closes the connection (panics if it has not within `within`).
pub async fn read_until_closed(stream: &mut TcpStream, within: Duration) -> Vec<u8> {
    let mut received = Vec::new();
    let read = tokio::time::timeout(within, stream.read_to_end(&mut received))
        .await
        .expect("the server should have closed the connection");
    // A reset after the answer (the server closing with unread input) still leaves the answer.
    if let Err(e) = read {
        assert_eq!(e.kind(), std::io::ErrorKind::ConnectionReset, "{e}");
    }
    received
}

impl TestApp {
    /// Bytes as a client wrote them, no HTTP library in between; reads until the server closes.
    /// Returns the status (0 if the server answered nothing) and the whole response as text.
    pub async fn raw_request(&self, request: &[u8]) -> (u16, String) {
        let mut stream = TcpStream::connect(self.socket_addr()).await.unwrap();
        // The server may answer (431, say) and close before it has read everything we send.
        if let Err(e) = stream.write_all(request).await {
            assert!(
                matches!(
                    e.kind(),
                    std::io::ErrorKind::BrokenPipe | std::io::ErrorKind::ConnectionReset
                ),
                "{e}"
            );
        }
        let response = read_until_closed(&mut stream, Duration::from_secs(10)).await;
        let text = String::from_utf8_lossy(&response).into_owned();
        let status = text
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        (status, text)
    }

    /// `GET path` written byte for byte (so `..` and bad escapes reach the server as they are).
    pub async fn raw_get(&self, path: &str) -> (u16, String) {
        self.raw_request(
            format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes(),
        )
        .await
    }
}

/// An address where nothing listens: connections to it are refused at once.
pub fn refusing_address() -> SocketAddr {
    // Bind and drop a listener, so the port is known to be free.
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

/// A TCP listener that accepts connections and never answers: a hung database.
pub async fn black_hole() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    addr
}

/// A TCP relay in front of a real server, which a test can cut and restore to take the
/// database "down" and bring it back without touching the server itself.
pub struct TcpRelay {
    pub addr: SocketAddr,
    upstream: SocketAddr,
    running: Arc<Mutex<CancellationToken>>,
}

impl TcpRelay {
    pub async fn start(upstream: SocketAddr) -> TcpRelay {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let token = CancellationToken::new();
        tokio::spawn(relay(listener, upstream, token.clone()));
        TcpRelay {
            addr,
            upstream,
            running: Arc::new(Mutex::new(token)),
        }
    }

    /// Closes the listener and every relayed connection: the database is unreachable.
    pub fn cut(&self) {
        self.running.lock().unwrap().cancel();
    }

    /// Listens again on the same port.
    pub async fn restore(&self) {
        let listener = TcpListener::bind(self.addr)
            .await
            .expect("rebind the relay port");
        let token = CancellationToken::new();
        *self.running.lock().unwrap() = token.clone();
        tokio::spawn(relay(listener, self.upstream, token));
    }
}

async fn relay(listener: TcpListener, upstream: SocketAddr, token: CancellationToken) {
    loop {
        let (mut inbound, _) = tokio::select! {
            accepted = listener.accept() => match accepted { Ok(a) => a, Err(_) => return },
            () = token.cancelled() => return,
        };
        let token = token.clone();
        tokio::spawn(async move {
            let Ok(mut outbound) = TcpStream::connect(upstream).await else {
                return;
            };
            tokio::select! {
                _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                () = token.cancelled() => {}
            }
        });
    }
}
