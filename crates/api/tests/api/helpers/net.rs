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

/// A response read off the wire: the status, every header line in order (names lower-cased,
/// values as sent) and the body, de-chunked if it came chunked.
#[derive(Debug, Clone)]
pub struct RawResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl RawResponse {
    /// The value of the first `name` line (any case), if any.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Every `name` line's value, in order.
    pub fn header_lines(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// The body as text (lossy), for assertions and messages.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body as JSON (panics, with the body, when it is not).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }
}

/// Parses one HTTP/1.1 response (the whole of what a `Connection: close` exchange returned).
/// `head` says the request was HEAD, whose answer has no body whatever its headers say.
pub fn parse_response(raw: &[u8], head: bool) -> RawResponse {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no end of head in {:?}", String::from_utf8_lossy(raw)));
    let head_text = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head_text.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {head_text:?}"));
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let rest = &raw[split + 4..];
    let chunked = headers
        .iter()
        .any(|(n, v)| n == "transfer-encoding" && v.eq_ignore_ascii_case("chunked"));
    let body = if head || status == 304 || status == 204 {
        Vec::new()
    } else if chunked {
        dechunk(rest)
    } else {
        rest.to_vec()
    };
    RawResponse {
        status,
        headers,
        body,
    }
}

fn dechunk(mut rest: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    loop {
        let end = rest
            .windows(2)
            .position(|w| w == b"\r\n")
            .expect("a chunk size line");
        let size_text = String::from_utf8_lossy(&rest[..end]);
        let size = usize::from_str_radix(size_text.split(';').next().unwrap().trim(), 16)
            .expect("a hexadecimal chunk size");
        rest = &rest[end + 2..];
        if size == 0 {
            return body;
        }
        body.extend_from_slice(&rest[..size]);
        rest = &rest[size + 2..];
    }
}

/// Writes `request` to `addr` byte for byte, reads until the server closes (the request should
/// say `Connection: close`), and parses the answer.
pub async fn exchange(addr: SocketAddr, request: &[u8]) -> RawResponse {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(request).await.unwrap();
    let response = read_until_closed(&mut stream, Duration::from_secs(10)).await;
    parse_response(&response, request.starts_with(b"HEAD "))
}

/// A request head as bytes: `METHOD TARGET HTTP/1.1`, `Host`, each of `headers` on its own line
/// (a name given twice is sent as two field lines), `Connection: close`.
pub fn request_bytes(method: &str, target: &str, headers: &[(&str, &str)]) -> Vec<u8> {
    let mut text = format!("{method} {target} HTTP/1.1\r\nHost: localhost\r\n");
    for (name, value) in headers {
        text.push_str(&format!("{name}: {value}\r\n"));
    }
    text.push_str("Connection: close\r\n\r\n");
    text.into_bytes()
}

impl TestApp {
    /// `method target` with `headers`, written byte for byte (the target is sent exactly as
    /// given; a header named twice goes out as two field lines), parsed.
    pub async fn raw(&self, method: &str, target: &str, headers: &[(&str, &str)]) -> RawResponse {
        exchange(self.socket_addr(), &request_bytes(method, target, headers)).await
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

impl RawResponse {
    /// Whether the server said it closes the connection after this response (RFC 9112 §9.6).
    pub fn closes(&self) -> bool {
        self.header("connection")
            .is_some_and(|v| v.eq_ignore_ascii_case("close"))
    }
}

/// Reads one whole response (status line, fields, and a `Content-Length` body, none for a HEAD
/// request) from a keep-alive connection, leaving the connection open for the next one. Panics if
/// the connection closes or resets before the response is complete, or on a framing this reader
/// does not know (chunked).
pub async fn read_response<R: tokio::io::AsyncBufRead + Unpin>(
    reader: &mut R,
    head_request: bool,
) -> RawResponse {
    use tokio::io::AsyncBufReadExt;
    let mut line = String::new();
    reader.read_line(&mut line).await.expect("a status line");
    assert!(line.ends_with("\r\n"), "no complete status line: {line:?}");
    let status = line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not a status line: {line:?}"));
    let mut headers = Vec::new();
    loop {
        let mut field = String::new();
        reader.read_line(&mut field).await.expect("a header line");
        assert!(field.ends_with("\r\n"), "the head was cut short: {field:?}");
        if field == "\r\n" {
            break;
        }
        let (name, value) = field.trim_end().split_once(':').expect("name: value");
        headers.push((name.to_ascii_lowercase(), value.trim().to_owned()));
    }
    let mut response = RawResponse {
        status,
        headers,
        body: Vec::new(),
    };
    assert!(
        response.header("transfer-encoding").is_none(),
        "chunked responses are not read here: {response:?}"
    );
    if !head_request {
        let length: usize = response
            .header("content-length")
            .map_or(0, |v| v.parse().expect("a numeric Content-Length"));
        response.body = vec![0; length];
        reader
            .read_exact(&mut response.body)
            .await
            .expect("the whole body");
    }
    response
}
