//! The Streamable HTTP transport rules (rule TR-01 … TR-03), in raw HTTP.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::{TestServer, http, initialize_body};

/// No authorization server: the transport rules hold before any token is looked at.
const NO_AS: &str = "http://127.0.0.1:1";

const ACCEPT: &str = "application/json, text/event-stream";

/// Opens a session with a raw `initialize` and returns its id.
async fn open_session(server: &TestServer) -> String {
    open_session_with(&http(), server).await
}

/// [`open_session`] with `client`, whose connections are reused.
async fn open_session_with(client: &reqwest::Client, server: &TestServer) -> String {
    let response = client
        .post(&server.mcp_url)
        .header("accept", ACCEPT)
        .json(&initialize_body())
        .send()
        .await
        .expect("initialize");
    assert_eq!(response.status(), StatusCode::OK);
    response
        .headers()
        .get("mcp-session-id")
        .expect("a session id")
        .to_str()
        .expect("ascii")
        .to_owned()
}

fn tools_list() -> Value {
    json!({ "jsonrpc": "2.0", "id": 2, "method": "tools/list" })
}

/// TR-01: a request from a foreign browser origin is refused before anything else.
#[tokio::test]
async fn tr01_foreign_origin_is_forbidden() {
    let server = TestServer::start(NO_AS).await;
    let response = http()
        .post(&server.mcp_url)
        .header("origin", "http://evil.example")
        .header("accept", ACCEPT)
        .json(&initialize_body())
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert!(
        response
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );

    let preflight = http()
        .request(Method::OPTIONS, &server.mcp_url)
        .header("origin", "http://evil.example")
        .header("access-control-request-method", "POST")
        .send()
        .await
        .expect("preflight");
    assert_eq!(preflight.status(), StatusCode::FORBIDDEN);
}

/// TR-01: a Host that is not this server (DNS rebinding) is refused.
#[tokio::test]
async fn tr01_foreign_host_is_forbidden() {
    let server = TestServer::start(NO_AS).await;
    let response = http()
        .post(&server.mcp_url)
        .header("host", "rebind.evil.example")
        .header("accept", ACCEPT)
        .json(&initialize_body())
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
}

/// TR-01: a loopback origin (a local browser client) is served.
#[tokio::test]
async fn tr01_loopback_origin_is_allowed() {
    let server = TestServer::start(NO_AS).await;
    let response = http()
        .post(&server.mcp_url)
        .header("origin", "http://localhost:6274")
        .header("accept", ACCEPT)
        .json(&initialize_body())
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()["access-control-allow-origin"],
        "http://localhost:6274"
    );
    let exposed = response.headers()["access-control-expose-headers"]
        .to_str()
        .expect("ascii");
    assert!(exposed.contains("mcp-session-id") && exposed.contains("www-authenticate"));
}

/// TR-03: the preflight allows the MCP and auth headers, without credentials.
#[tokio::test]
async fn tr03_preflight_allows_mcp_headers() {
    let server = TestServer::start(NO_AS).await;
    let response = http()
        .request(Method::OPTIONS, &server.mcp_url)
        .header("origin", "http://127.0.0.1:6274")
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "authorization, content-type, mcp-protocol-version, mcp-session-id",
        )
        .send()
        .await
        .expect("preflight");
    assert!(response.status().is_success(), "{}", response.status());
    let allowed = response.headers()["access-control-allow-headers"]
        .to_str()
        .expect("ascii");
    for name in [
        "authorization",
        "content-type",
        "mcp-protocol-version",
        "mcp-session-id",
        "last-event-id",
        "mcp-method",
        "mcp-name",
    ] {
        assert!(allowed.contains(name), "{name} missing from {allowed}");
    }
}

/// TR-02: an unknown session id gets 404, so the client knows to start again.
#[tokio::test]
async fn tr02_unknown_session_is_not_found() {
    let server = TestServer::start(NO_AS).await;
    let response = http()
        .post(&server.mcp_url)
        .header("accept", ACCEPT)
        .header("mcp-session-id", "no-such-session")
        .header("mcp-protocol-version", "2025-11-25")
        .json(&tools_list())
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
}

/// TR-02: a request that needs a session but names none gets 400.
#[tokio::test]
async fn tr02_missing_session_is_bad_request() {
    let server = TestServer::start(NO_AS).await;
    let _session = open_session(&server).await;
    let response = http()
        .post(&server.mcp_url)
        .header("accept", ACCEPT)
        .header("mcp-protocol-version", "2025-11-25")
        .json(&tools_list())
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
}

/// TR-02: an unsupported `MCP-Protocol-Version` gets 400.
#[tokio::test]
async fn tr02_bad_protocol_version_is_bad_request() {
    let server = TestServer::start(NO_AS).await;
    let session = open_session(&server).await;
    let response = http()
        .post(&server.mcp_url)
        .header("accept", ACCEPT)
        .header("mcp-session-id", &session)
        .header("mcp-protocol-version", "1999-01-01")
        .json(&tools_list())
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
}

/// TR-02: a session ended with DELETE is gone (404 afterwards).
#[tokio::test]
async fn tr02_ended_session_is_not_found() {
    let server = TestServer::start(NO_AS).await;
    let session = open_session(&server).await;
    let deleted = http()
        .delete(&server.mcp_url)
        .header("mcp-session-id", &session)
        .header("mcp-protocol-version", "2025-11-25")
        .send()
        .await
        .expect("delete");
    assert!(deleted.status().is_success(), "{}", deleted.status());
    let response = http()
        .post(&server.mcp_url)
        .header("accept", ACCEPT)
        .header("mcp-session-id", &session)
        .header("mcp-protocol-version", "2025-11-25")
        .json(&tools_list())
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
}

/// AS-16: a session ended with DELETE gives its place back. A source may hold 256
/// sessions; after ending one of two, it opens 255 more and keeps its first.
#[tokio::test]
async fn as16_an_ended_session_gives_its_place_back() {
    let server = TestServer::start(NO_AS).await;
    let first = open_session(&server).await;
    let ended = open_session(&server).await;
    let deleted = http()
        .delete(&server.mcp_url)
        .header("mcp-session-id", &ended)
        .header("mcp-protocol-version", "2025-11-25")
        .send()
        .await
        .expect("delete");
    assert!(deleted.status().is_success(), "{}", deleted.status());
    let client = http();
    for _ in 0..255 {
        open_session_with(&client, &server).await;
    }
    let response = http()
        .post(&server.mcp_url)
        .header("accept", ACCEPT)
        .header("mcp-session-id", &first)
        .header("mcp-protocol-version", "2025-11-25")
        .json(&tools_list())
        .send()
        .await
        .expect("request");
    assert_eq!(
        response.status(),
        StatusCode::OK,
        "the first session was ended"
    );
}

/// Malformed JSON is a 400 with a JSON-RPC parse error, not a crash.
#[tokio::test]
async fn malformed_json_is_a_parse_error() {
    let server = TestServer::start(NO_AS).await;
    let response = http()
        .post(&server.mcp_url)
        .header("accept", ACCEPT)
        .header("content-type", "application/json")
        .body("{\"jsonrpc\": \"2.0\", \"id\": 1, \"method\": ")
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body = response.text().await.expect("body");
    assert!(body.contains("-32700"), "a JSON-RPC parse error: {body}");
}

/// A body over the limit gets 413 and the server keeps serving.
#[tokio::test]
async fn oversized_body_is_rejected() {
    let server = TestServer::start(NO_AS).await;
    let padding = "x".repeat(this_part::server::MAX_BODY_BYTES + 1);
    let response = http()
        .post(&server.mcp_url)
        .header("accept", ACCEPT)
        .json(&json!({ "jsonrpc": "2.0", "id": 1, "method": "ping", "params": { "p": padding } }))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    open_session(&server).await;
}

/// Shutdown completes even while a client holds a session open.
#[tokio::test]
async fn graceful_shutdown_with_open_session() {
    let server = TestServer::start(NO_AS).await;
    let _session = open_session(&server).await;
    tokio::time::timeout(std::time::Duration::from_secs(10), server.shutdown())
        .await
        .expect("shutdown in time")
        .expect("clean shutdown");
}
