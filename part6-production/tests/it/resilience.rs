//! Failing closed and the introspection cache (rule RS-12, RS-13).
//!
//! Every call that should get through is made inside a real MCP session and
//! must come back 200 with the tool's answer: "not 401" would also let a 400
//! or a 500 pass.

use std::{
    sync::atomic::{AtomicU64, Ordering},
    time::{Duration, Instant},
};

use reqwest::StatusCode;
use serde_json::json;
use tokio::net::TcpListener;

use crate::support::{
    FakeIntrospection, Mode, TestServer, open_session, post_mcp, rpc_result, tool_call,
};

const RESOURCE: &str = "http://localhost:8000/mcp";

fn time_call() -> serde_json::Value {
    tool_call("server_time", json!({}))
}

/// Calls the protected `server_time` in `session` with `token` and expects
/// HTTP 200 carrying the tool's result, not a JSON-RPC error.
async fn expect_time(server: &TestServer, session: &str, token: &str) {
    // Requests in flight in one session need distinct JSON-RPC ids.
    static NEXT_ID: AtomicU64 = AtomicU64::new(100);
    let mut call = time_call();
    call["id"] = NEXT_ID.fetch_add(1, Ordering::Relaxed).into();
    let response = post_mcp(&server.mcp_url, Some(session), Some(token), &call).await;
    assert_eq!(response.status(), StatusCode::OK);
    let message = rpc_result(response).await;
    assert!(message["error"].is_null(), "{message}");
    assert_eq!(
        message["result"]["structuredContent"]["timezone"], "UTC",
        "{message}"
    );
}

/// RS-13: 100 calls with one token cost the authorization server one call.
#[tokio::test]
async fn rs13_one_introspection_per_token_per_ttl() {
    let fake = FakeIntrospection::start().await;
    fake.grant("t", RESOURCE, "mcp:tools", 3600);
    let server = TestServer::start(&fake.url).await;
    let session = open_session(&server.mcp_url, None).await;
    for _ in 0..100 {
        expect_time(&server, &session, "t").await;
    }
    assert_eq!(fake.calls(), 1);
}

/// RS-13: concurrent first calls with the same new token share one introspection call.
#[tokio::test]
async fn rs13_concurrent_first_requests_share_one_call() {
    let fake = FakeIntrospection::start().await;
    fake.grant("t", RESOURCE, "mcp:tools", 3600);
    let server = TestServer::start(&fake.url).await;
    let session = open_session(&server.mcp_url, None).await;
    let calls = (0..20).map(|_| expect_time(&server, &session, "t"));
    futures::future::join_all(calls).await;
    assert_eq!(fake.calls(), 1);
}

/// RS-13: with a TTL of 0 every call is introspected.
#[tokio::test]
async fn rs13_ttl_zero_disables_the_cache() {
    let fake = FakeIntrospection::start().await;
    fake.grant("t", RESOURCE, "mcp:tools", 3600);
    let mut config = this_part::Config::for_tests(&fake.url);
    config.introspection_cache_ttl = Duration::ZERO;
    let server = TestServer::start_with(config).await;
    let session = open_session(&server.mcp_url, None).await;
    for _ in 0..5 {
        expect_time(&server, &session, "t").await;
    }
    assert_eq!(fake.calls(), 5);
}

/// RS-13: a cached answer serves the token while it lives, and not past its expiry.
#[tokio::test]
async fn rs13_cache_never_outlives_the_token() {
    let fake = FakeIntrospection::start().await;
    fake.grant("short", RESOURCE, "mcp:tools", 10);
    let config = this_part::Config::for_tests(&fake.url);
    // The server's clock, moved forward below instead of sleeping; the
    // cache's own TTL (60 s) is longer than the token's 10 s.
    let clock = config.clock.clone();
    let server = TestServer::start_with(config).await;
    let session = open_session(&server.mcp_url, None).await;
    expect_time(&server, &session, "short").await;
    clock.advance(Duration::from_secs(5));
    expect_time(&server, &session, "short").await;
    assert_eq!(fake.calls(), 1, "the token still lives: the cache answers");
    clock.advance(Duration::from_secs(6));
    let later = post_mcp(&server.mcp_url, Some(&session), Some("short"), &time_call()).await;
    assert_eq!(later.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        fake.calls(),
        2,
        "the token has expired: the server asks again"
    );
}

/// RS-12: the authorization server down ⇒ 503, then recovery when it is back on the same port.
#[tokio::test]
async fn rs12_as_down_fails_closed_and_recovers() {
    let fake = FakeIntrospection::start().await;
    let address = fake.url.trim_start_matches("http://").to_owned();
    let server = TestServer::start(&fake.url).await;
    let session = open_session(&server.mcp_url, None).await;
    fake.stop();
    tokio::task::yield_now().await;
    let response = post_mcp(&server.mcp_url, Some(&session), Some("t"), &time_call()).await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(response.headers().get("retry-after").is_some());

    let listener = TcpListener::bind(&address).await.expect("same port again");
    let back = FakeIntrospection::start_on(listener).await;
    back.grant("t", RESOURCE, "mcp:tools", 3600);
    expect_time(&server, &session, "t").await;
}

/// RS-12: an answer that is not JSON fails closed, and is not cached.
#[tokio::test]
async fn rs12_garbage_answer_fails_closed() {
    let fake = FakeIntrospection::start().await;
    fake.grant("t", RESOURCE, "mcp:tools", 3600);
    fake.set_mode(Mode::Garbage);
    let server = TestServer::start(&fake.url).await;
    let session = open_session(&server.mcp_url, None).await;
    let response = post_mcp(&server.mcp_url, Some(&session), Some("t"), &time_call()).await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    fake.set_mode(Mode::Normal);
    expect_time(&server, &session, "t").await;
    assert_eq!(fake.calls(), 2);
}

/// RS-12: a slow authorization server fails closed after the configured timeout.
#[tokio::test]
async fn rs12_slow_as_times_out() {
    let fake = FakeIntrospection::start().await;
    fake.set_mode(Mode::Slow);
    let mut config = this_part::Config::for_tests(&fake.url);
    let timeout = Duration::from_millis(200);
    config.introspection_timeout = timeout;
    let server = TestServer::start_with(config).await;
    let session = open_session(&server.mcp_url, None).await;
    let started = Instant::now();
    let response = post_mcp(&server.mcp_url, Some(&session), Some("t"), &time_call()).await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    let waited = started.elapsed();
    assert!(waited >= timeout, "answered before the timeout: {waited:?}");
    assert!(waited < Duration::from_secs(5), "waited {waited:?}");
}
