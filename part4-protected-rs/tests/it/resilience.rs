//! Failing closed and the introspection cache (rule RS-12, RS-13).

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::json;
use tokio::net::TcpListener;

use crate::support::{FakeIntrospection, Mode, TestServer, post_mcp, tool_call};

const RESOURCE: &str = "http://localhost:8000/mcp";

fn time_call() -> serde_json::Value {
    tool_call("server_time", json!({}))
}

/// RS-13: 100 requests with one token cost the authorization server one call.
#[tokio::test]
async fn rs13_one_introspection_per_token_per_ttl() {
    let fake = FakeIntrospection::start().await;
    fake.grant("t", RESOURCE, "mcp:tools", 3600);
    let server = TestServer::start(&fake.url).await;
    for _ in 0..100 {
        let response = post_mcp(&server.mcp_url, None, Some("t"), &time_call()).await;
        assert_ne!(response.status(), StatusCode::UNAUTHORIZED);
    }
    assert_eq!(fake.calls(), 1);
}

/// RS-13: concurrent first requests with the same new token share one introspection call.
#[tokio::test]
async fn rs13_concurrent_first_requests_share_one_call() {
    let fake = FakeIntrospection::start().await;
    fake.grant("t", RESOURCE, "mcp:tools", 3600);
    let server = TestServer::start(&fake.url).await;
    let call = time_call();
    let requests = (0..20).map(|_| post_mcp(&server.mcp_url, None, Some("t"), &call));
    let responses = futures::future::join_all(requests).await;
    assert!(
        responses
            .iter()
            .all(|r| r.status() != StatusCode::UNAUTHORIZED)
    );
    assert_eq!(fake.calls(), 1);
}

/// RS-13: with a TTL of 0 every request is introspected.
#[tokio::test]
async fn rs13_ttl_zero_disables_the_cache() {
    let fake = FakeIntrospection::start().await;
    fake.grant("t", RESOURCE, "mcp:tools", 3600);
    let mut config = this_part::Config::for_tests(&fake.url);
    config.introspection_cache_ttl = 0;
    let server = TestServer::start_with(config).await;
    for _ in 0..5 {
        post_mcp(&server.mcp_url, None, Some("t"), &time_call()).await;
    }
    assert_eq!(fake.calls(), 5);
}

/// RS-13: a cached answer is not used past the token's own expiry.
#[tokio::test]
async fn rs13_cache_never_outlives_the_token() {
    let fake = FakeIntrospection::start().await;
    // Two seconds, so the first call cannot straddle the expiry (the
    // lifetime is counted in whole seconds).
    fake.grant("short", RESOURCE, "mcp:tools", 2);
    let server = TestServer::start(&fake.url).await;
    let first = post_mcp(&server.mcp_url, None, Some("short"), &time_call()).await;
    assert_ne!(first.status(), StatusCode::UNAUTHORIZED);
    // The token's lifetime is the point of this test, so time has to pass.
    tokio::time::sleep(Duration::from_millis(3100)).await;
    let later = post_mcp(&server.mcp_url, None, Some("short"), &time_call()).await;
    assert_eq!(later.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(fake.calls(), 2);
}

/// RS-12: the authorization server down ⇒ 503, then recovery when it is back on the same port.
#[tokio::test]
async fn rs12_as_down_fails_closed_and_recovers() {
    let fake = FakeIntrospection::start().await;
    let address = fake.url.trim_start_matches("http://").to_owned();
    let server = TestServer::start(&fake.url).await;
    fake.stop();
    tokio::task::yield_now().await;
    let response = post_mcp(&server.mcp_url, None, Some("t"), &time_call()).await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(response.headers().get("retry-after").is_some());

    let listener = TcpListener::bind(&address).await.expect("same port again");
    let back = FakeIntrospection::start_on(listener).await;
    back.grant("t", RESOURCE, "mcp:tools", 3600);
    let response = post_mcp(&server.mcp_url, None, Some("t"), &time_call()).await;
    assert_ne!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_ne!(response.status(), StatusCode::UNAUTHORIZED);
}

/// RS-12: an answer that is not JSON fails closed, and is not cached.
#[tokio::test]
async fn rs12_garbage_answer_fails_closed() {
    let fake = FakeIntrospection::start().await;
    fake.grant("t", RESOURCE, "mcp:tools", 3600);
    fake.set_mode(Mode::Garbage);
    let server = TestServer::start(&fake.url).await;
    let response = post_mcp(&server.mcp_url, None, Some("t"), &time_call()).await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    fake.set_mode(Mode::Normal);
    let response = post_mcp(&server.mcp_url, None, Some("t"), &time_call()).await;
    assert_ne!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(fake.calls(), 2);
}

/// RS-12: a slow authorization server fails closed after the configured timeout.
#[tokio::test]
async fn rs12_slow_as_times_out() {
    let fake = FakeIntrospection::start().await;
    fake.set_mode(Mode::Slow);
    let mut config = this_part::Config::for_tests(&fake.url);
    config.introspection_timeout = 1;
    let server = TestServer::start_with(config).await;
    let started = Instant::now();
    let response = post_mcp(&server.mcp_url, None, Some("t"), &time_call()).await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(started.elapsed() < Duration::from_secs(5));
}
