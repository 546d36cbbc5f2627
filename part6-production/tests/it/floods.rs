//! Floods and slow clients (rules AS-16, AS-17, AS-19): a script from one
//! address is refused early and cheaply, and a person at another address is
//! still served.

use std::{net::SocketAddr, time::Duration};

use reqwest::StatusCode;
use serde_json::json;
use tokio::{
    io::{AsyncReadExt as _, AsyncWriteExt as _},
    net::{TcpSocket, TcpStream},
};

use crate::support::{REDIRECT_URI, TestAs, http};

/// A client whose requests leave from `local` (any 127.x.y.z reaches the
/// server over loopback): another source, as far as the limits know.
fn http_from(local: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .local_address(local.parse::<std::net::IpAddr>().expect("ip"))
        .build()
        .expect("client")
}

async fn connect_from(local: &str, server: SocketAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().expect("socket");
    socket
        .bind(format!("{local}:0").parse().expect("address"))
        .expect("bind");
    socket.connect(server).await.expect("connect")
}

fn address_of(server: &TestAs) -> SocketAddr {
    server
        .issuer
        .trim_start_matches("http://")
        .parse()
        .expect("address")
}

/// Reads until the server closes the connection, or `within` runs out.
async fn closed_within(stream: &mut TcpStream, within: Duration) -> bool {
    let mut buffer = [0u8; 1024];
    tokio::time::timeout(within, async {
        loop {
            match stream.read(&mut buffer).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await
    .is_ok()
}

fn registration() -> serde_json::Value {
    json!({ "redirect_uris": [REDIRECT_URI], "token_endpoint_auth_method": "none" })
}

/// Over the per-source limit, `/register` answers 429 with `Retry-After`;
/// another address still registers.
#[tokio::test]
async fn as17_register_is_rate_limited_per_source() {
    let server = TestAs::start_with(|config| config.limits.rate_register = 2).await;
    let client = http();
    for _ in 0..2 {
        let response = client
            .post(server.url("/register"))
            .json(&registration())
            .send()
            .await
            .expect("register");
        assert_eq!(response.status(), StatusCode::CREATED);
    }
    let refused = client
        .post(server.url("/register"))
        .json(&registration())
        .send()
        .await
        .expect("register");
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry_after: u64 = refused.headers()["retry-after"]
        .to_str()
        .expect("ascii")
        .parse()
        .expect("seconds");
    assert!((1..=60).contains(&retry_after), "{retry_after}");
    let body: serde_json::Value = refused.json().await.expect("json");
    assert_eq!(body["error"], "slow_down");

    let other = http_from("127.0.0.2")
        .post(server.url("/register"))
        .json(&registration())
        .send()
        .await
        .expect("register");
    assert_eq!(
        other.status(),
        StatusCode::CREATED,
        "another source is served"
    );
    server.shutdown().await.expect("shutdown");
}

/// Every floodable route has its limit: `/token`, `/authorize`, `/login`,
/// `/introspect` and `/revoke` answer 429 once their source is over it.
#[tokio::test]
async fn as17_every_floodable_route_is_limited() {
    let server = TestAs::start_with(|config| {
        let limits = &mut config.limits;
        limits.rate_authorize = 1;
        limits.rate_login = 1;
        limits.rate_token = 1;
        limits.rate_introspect = 1;
        limits.rate_revoke = 1;
    })
    .await;
    let client = http();
    for (method, path) in [
        ("GET", "/authorize"),
        ("POST", "/login"),
        ("POST", "/token"),
        ("POST", "/introspect"),
        ("POST", "/revoke"),
    ] {
        let send = || async {
            let request = match method {
                "GET" => client.get(server.url(path)),
                _ => client.post(server.url(path)).body("a=b"),
            };
            request.send().await.expect("send").status()
        };
        assert_ne!(send().await, StatusCode::TOO_MANY_REQUESTS, "{path}: first");
        assert_eq!(
            send().await,
            StatusCode::TOO_MANY_REQUESTS,
            "{path}: second"
        );
    }
    server.shutdown().await.expect("shutdown");
}

/// A client that sends half a request header is dropped once the
/// header-read timeout has passed.
#[tokio::test]
async fn as19_half_sent_header_is_dropped() {
    let server = TestAs::start_with(|config| config.limits.header_read_timeout = 1).await;
    let mut slow = TcpStream::connect(address_of(&server))
        .await
        .expect("connect");
    slow.write_all(b"GET /authorize HTTP/1.1\r\nHost: localhost\r\nX-Slow: ")
        .await
        .expect("write");
    assert!(
        closed_within(&mut slow, Duration::from_secs(5)).await,
        "the server kept a half-sent request open"
    );
    server.shutdown().await.expect("shutdown");
}

/// Connections over the per-source cap are closed at once; a connection
/// from another address is still served.
#[tokio::test]
async fn as19_connection_cap_is_per_source() {
    let server = TestAs::start_with(|config| config.limits.max_connections_per_source = 2).await;
    let address = address_of(&server);
    let held = [
        connect_from("127.0.0.1", address).await,
        connect_from("127.0.0.1", address).await,
    ];
    // Let the server accept both before the third arrives.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut third = connect_from("127.0.0.1", address).await;
    assert!(
        closed_within(&mut third, Duration::from_secs(2)).await,
        "a third connection from the same source was kept"
    );
    let metadata = http_from("127.0.0.2")
        .get(server.url("/.well-known/oauth-authorization-server"))
        .send()
        .await
        .expect("metadata");
    assert_eq!(
        metadata.status(),
        StatusCode::OK,
        "another source is served"
    );
    drop(held);
    server.shutdown().await.expect("shutdown");
}
