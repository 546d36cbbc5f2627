//! Protocol 2026-07-28 has no sessions: part 6's resource server answers
//! each of its requests on its own, with one plain JSON message, while a
//! 2025-11-25 client keeps its session and its event streams.

// Helpers outside `#[test]` functions may fail loudly too: this is test code.
#![allow(clippy::expect_used)]

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::{
    mcp_http::{ACCEPT, open_session, post_mcp, tool_call},
    support::{TestAs, TestServer, http},
};

/// A `tools/call` of protocol 2026-07-28 at `mcp_url`, with no session.
async fn call_2026(mcp_url: &str, token: Option<&str>, tool: &str) -> reqwest::Response {
    let meta = json!({
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": {},
    });
    let body = json!({
        "jsonrpc": "2.0", "id": 3, "method": "tools/call",
        "params": { "name": tool, "arguments": { "name": "Ada" }, "_meta": meta },
    });
    let mut request = http()
        .post(mcp_url)
        .header("accept", ACCEPT)
        .header("mcp-protocol-version", "2026-07-28")
        .header("mcp-method", "tools/call")
        .header("mcp-name", tool)
        .json(&body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.expect("request")
}

fn content_type(response: &reqwest::Response) -> String {
    (response.headers().get("content-type"))
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

/// Without a session, a call is answered with `application/json`, and the
/// protection is the same: the protected tool without a token is a 401.
#[tokio::test]
async fn a_2026_call_is_answered_with_plain_json() {
    let auth = TestAs::start().await;
    let server = TestServer::start(&auth.issuer).await;
    let response = call_2026(&server.mcp_url, None, "greet").await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.headers().get("mcp-session-id").is_none());
    assert!(
        content_type(&response).starts_with("application/json"),
        "{}",
        content_type(&response)
    );
    let answer: Value = response.json().await.expect("one JSON message");
    assert_eq!(
        answer["result"]["structuredContent"]["greeting"],
        "Hello, Ada!"
    );

    let response = call_2026(&server.mcp_url, None, "server_time").await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);

    // A 2025-11-25 session still gets its answer as an event stream.
    let session = open_session(&server.mcp_url, None).await;
    let call = tool_call("greet", json!({"name": "Ada"}));
    let response = post_mcp(&server.mcp_url, Some(&session), None, &call).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        content_type(&response).starts_with("text/event-stream"),
        "{}",
        content_type(&response)
    );
}
