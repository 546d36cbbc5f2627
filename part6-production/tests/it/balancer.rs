//! The client's address from a trusted load balancer (rule P6-11), through
//! the real authorization server: connections that begin with a PROXY
//! protocol v2 header, as HAProxy's `send-proxy-v2` sends them, written by
//! hand on a TCP socket, followed by a plain HTTP/1.1 request.

// Helpers outside `#[test]` functions may fail loudly too: this is test code.
#![allow(clippy::expect_used)]

use std::net::{IpAddr, SocketAddr};

use ppp::v2;
use this_part::authorization_server;
use tokio::{
    io::{AsyncReadExt as _, AsyncWriteExt as _},
    net::{TcpListener, TcpStream},
};

/// The authorization server on `127.0.0.1:0`, trusting `balancers`, with
/// two registrations a minute per source.
async fn server(balancers: &[&str]) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let address = listener.local_addr().expect("address");
    let mut config = authorization_server::Config::for_tests(&format!("http://{address}"));
    config.trusted_proxies = (balancers.iter())
        .map(|ip| ip.parse::<IpAddr>().expect("IP"))
        .collect();
    config.limits.rate_register = 2;
    tokio::spawn(authorization_server::serve(
        listener,
        config,
        std::future::pending(),
    ));
    address
}

/// A PROXY v2 header for a TCP connection from `client`.
fn header(client: &str) -> Vec<u8> {
    let client: SocketAddr = client.parse().expect("address");
    let server: SocketAddr = "192.0.2.1:443".parse().expect("address");
    v2::Builder::with_addresses(
        v2::Version::Two | v2::Command::Proxy,
        v2::Protocol::Stream,
        (client, server),
    )
    .build()
    .expect("header")
}

/// `POST /register` on a new connection from `from` (a loopback address),
/// beginning with `prefix`; the response's status, or `None` when the
/// server closed the connection without one.
async fn register(server: SocketAddr, from: &str, prefix: &[u8]) -> Option<u16> {
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    socket
        .bind(SocketAddr::new(from.parse().expect("IP"), 0))
        .expect("bind the source address");
    let mut stream: TcpStream = socket.connect(server).await.expect("connect");
    let body =
        r#"{"redirect_uris":["http://127.0.0.1:9/callback"],"token_endpoint_auth_method":"none"}"#;
    let request = format!(
        "POST /register HTTP/1.1\r\nHost: {server}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let mut bytes = prefix.to_vec();
    bytes.extend_from_slice(request.as_bytes());
    // The server may close before reading everything: that is an answer too.
    let _ = stream.write_all(&bytes).await;
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response).await;
    let response = String::from_utf8_lossy(&response);
    let status = response.strip_prefix("HTTP/1.1 ")?.get(..3)?;
    status.parse().ok()
}

/// Behind a trusted balancer each client is its own source: the client
/// that spends its two registrations is refused, another one is not,
/// although every connection comes from the balancer's address.
#[tokio::test]
async fn p611_a_trusted_balancer_names_each_client() {
    let server = server(&["127.0.0.1"]).await;
    let (a, b) = (header("203.0.113.7:40000"), header("198.51.100.9:40000"));
    assert_eq!(register(server, "127.0.0.1", &a).await, Some(201));
    assert_eq!(register(server, "127.0.0.1", &a).await, Some(201));
    assert_eq!(register(server, "127.0.0.1", &a).await, Some(429));
    assert_eq!(register(server, "127.0.0.1", &b).await, Some(201));
    // The balancer's own connections (health checks) are the balancer's.
    let local = v2::Builder::new(
        v2::Version::Two | v2::Command::Local,
        v2::AddressFamily::Unspecified | v2::Protocol::Unspecified,
    )
    .build()
    .expect("header");
    assert_eq!(register(server, "127.0.0.1", &local).await, Some(201));
}

/// A trusted balancer's connection without a header is closed unanswered.
#[tokio::test]
async fn p611_a_trusted_balancer_must_send_the_header() {
    let server = server(&["127.0.0.1"]).await;
    assert_eq!(register(server, "127.0.0.1", b"").await, None);
    let mut garbled = header("203.0.113.7:40000");
    garbled[0] = b'X';
    assert_eq!(register(server, "127.0.0.1", &garbled).await, None);
}

/// Anyone else's header is never read: it cannot choose its source. The
/// header reaches hyper as the start of the request, which it refuses; the
/// same client without a header is served, and its registrations count
/// against its real address whatever the headers it sent claimed.
#[tokio::test]
async fn p611_an_untrusted_peer_cannot_name_its_address() {
    let server = server(&["127.0.0.2"]).await;
    let claimed = header("203.0.113.7:40000");
    let answered = register(server, "127.0.0.1", &claimed).await;
    assert!(
        !matches!(answered, Some(201 | 429)),
        "the header was read: {answered:?}"
    );
    assert_eq!(register(server, "127.0.0.1", b"").await, Some(201));
    assert_eq!(register(server, "127.0.0.1", b"").await, Some(201));
    assert_eq!(register(server, "127.0.0.1", b"").await, Some(429));
}
