//! The resource server's listener under slow clients (rule AS-19).

use std::time::Duration;

use tokio::{
    io::{AsyncReadExt as _, AsyncWriteExt as _},
    net::TcpStream,
};

use crate::support::TestServer;

/// A client that sends half a request header is dropped once the
/// header-read timeout has passed, and the server still answers others.
#[tokio::test]
async fn as19_rs_drops_a_half_sent_header() {
    let mut config = this_part::Config::for_tests("http://127.0.0.1:1");
    config.limits.header_read_timeout = 1;
    let server = TestServer::start_with(config).await;
    let address = server.base_url.trim_start_matches("http://").to_owned();
    let mut slow = TcpStream::connect(&address).await.expect("connect");
    slow.write_all(b"POST /mcp HTTP/1.1\r\nHost: localhost\r\nX-Slow: ")
        .await
        .expect("write");
    let mut buffer = [0u8; 256];
    let closed = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match slow.read(&mut buffer).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "the server kept a half-sent request open");
    let metadata = reqwest::get(format!(
        "{}/.well-known/oauth-protected-resource/mcp",
        server.base_url
    ))
    .await
    .expect("metadata");
    assert_eq!(metadata.status(), reqwest::StatusCode::OK);
    server.shutdown().await.expect("shutdown");
}
