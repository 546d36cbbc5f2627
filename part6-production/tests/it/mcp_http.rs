//! Raw MCP over HTTP, for tests that need to see status codes and headers
//! an MCP client library would hide.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::{http, initialize_body};

/// Accept header every Streamable HTTP POST carries.
pub const ACCEPT: &str = "application/json, text/event-stream";

/// The body of a `tools/call` request.
pub fn tool_call(tool: &str, arguments: Value) -> Value {
    json!({
        "jsonrpc": "2.0",
        "id": 7,
        "method": "tools/call",
        "params": { "name": tool, "arguments": arguments }
    })
}

/// POSTs one JSON-RPC message to the MCP endpoint, in a session or not,
/// with a bearer token or not.
pub async fn post_mcp(
    mcp_url: &str,
    session: Option<&str>,
    token: Option<&str>,
    body: &Value,
) -> reqwest::Response {
    let mut request = http()
        .post(mcp_url)
        .header("accept", ACCEPT)
        .header("mcp-protocol-version", "2025-11-25")
        .json(body);
    if let Some(session) = session {
        request = request.header("mcp-session-id", session);
    }
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.expect("request")
}

/// Opens a session with a raw `initialize` (and `initialized`) and returns its id.
pub async fn open_session(mcp_url: &str, token: Option<&str>) -> String {
    let response = post_mcp(mcp_url, None, token, &initialize_body()).await;
    assert_eq!(response.status(), StatusCode::OK, "initialize");
    let session = response.headers()["mcp-session-id"]
        .to_str()
        .expect("ascii")
        .to_owned();
    let initialized = json!({ "jsonrpc": "2.0", "method": "notifications/initialized" });
    let response = post_mcp(mcp_url, Some(&session), token, &initialized).await;
    assert_eq!(response.status(), StatusCode::ACCEPTED, "initialized");
    session
}

/// The JSON-RPC result carried by a response, SSE-framed or plain JSON.
pub async fn rpc_result(response: reqwest::Response) -> Value {
    let text = response.text().await.expect("body");
    let json = text
        .lines()
        .filter_map(|line| line.strip_prefix("data:"))
        .map(str::trim)
        .find(|data| !data.is_empty())
        .unwrap_or(text.as_str());
    serde_json::from_str(json).expect("JSON-RPC message")
}
