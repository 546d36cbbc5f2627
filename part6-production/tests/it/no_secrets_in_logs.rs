//! rule RS-09 (and the project's logging rule): no token, code or secret ever reaches the
//! logs, whatever the level. The whole flow runs with every log line of
//! every crate and every thread captured, then the capture is searched.
//!
//! The capture is the process's global subscriber, because a subscriber set
//! for one thread misses what other threads log: tokio's workers, and the
//! blocking pool where the authorization server checks passwords. So this
//! file runs in a test binary of its own (`tests/logs/main.rs`).

use std::{
    io::Write,
    sync::{Arc, Mutex},
};

use reqwest::StatusCode;
use serde_json::json;
use this_part::Config;
use tokio::net::TcpListener;
use tracing_subscriber::{fmt::MakeWriter, util::SubscriberInitExt as _};

use crate::support::{
    RS_CLIENT_SECRET, SCOPE, TestAs, TestServer, introspect, obtain_tokens, open_session, post_mcp,
    token_request, tool_call,
};

/// Every log line, in memory.
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("lock").extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Capture {
    type Writer = Capture;

    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

/// RS-09: a login, calls with a good and a bad token, a refresh and an
/// introspection, all logged at `trace` from any thread, leave no token,
/// code or secret in the logs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rs09_no_token_in_logs() {
    let capture = Capture::default();
    // Global, with `log` records turned into events too: every thread of
    // this process writes here from now on.
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(capture.clone())
        .with_ansi(false)
        .finish()
        .try_init()
        .expect("the only subscriber of this test binary");
    // The capture sees other threads: a plain one and tokio's blocking pool.
    std::thread::spawn(|| tracing::info!("marker from a plain thread"))
        .join()
        .expect("thread");
    tokio::task::spawn_blocking(|| tracing::info!("marker from the blocking pool"))
        .await
        .expect("blocking task");

    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let mcp_url = format!("http://{}/mcp", listener.local_addr().expect("address"));
    let resources = vec![mcp_url.clone()];
    let auth = TestAs::start_with(|config| config.resources = resources).await;
    let mut config = Config::for_tests(&auth.issuer);
    config.public_url = mcp_url.clone();
    let server = TestServer::start_on(listener, config).await;

    let obtained = obtain_tokens(&auth.issuer, &mcp_url, SCOPE).await;
    let access = obtained.tokens.access_token.clone();
    let session = open_session(&server.mcp_url, Some(&access)).await;
    let call = tool_call("server_time", json!({}));
    let response = post_mcp(&server.mcp_url, Some(&session), Some(&access), &call).await;
    assert_eq!(response.status(), StatusCode::OK);
    let forged = format!("{access}x");
    let response = post_mcp(&server.mcp_url, None, Some(&forged), &call).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(introspect(&auth.issuer, &access).await["active"], true);
    let mut secrets = vec![access.clone(), forged, RS_CLIENT_SECRET.to_owned()];
    if let Some(refresh) = obtained.tokens.refresh_token.clone() {
        let client_id = obtained.client.client_id.clone();
        let form = [
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh.as_str()),
            ("client_id", client_id.as_str()),
            ("resource", mcp_url.as_str()),
        ];
        let response = token_request(&auth.issuer, &form).await;
        assert_eq!(response.status(), StatusCode::OK);
        let rotated: serde_json::Value = response.json().await.expect("JSON");
        secrets.push(refresh);
        secrets.extend(
            ["access_token", "refresh_token"]
                .into_iter()
                .filter_map(|name| rotated[name].as_str().map(str::to_owned)),
        );
    }

    let logs = String::from_utf8(capture.0.lock().expect("lock").clone()).expect("UTF-8");
    assert!(logs.lines().count() > 10, "the capture works: {logs}");
    for marker in [
        "marker from a plain thread",
        "marker from the blocking pool",
    ] {
        assert!(logs.contains(marker), "the capture misses a thread: {logs}");
    }
    for secret in &secrets {
        assert!(
            !logs.contains(secret.as_str()),
            "a secret reached the logs:\n{}",
            logs.lines()
                .filter(|line| line.contains(secret.as_str()))
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
}
