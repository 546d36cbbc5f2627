//! The tools, called by rmcp's own client over Streamable HTTP.

use rmcp::{
    RoleClient, ServiceExt,
    model::{CallToolRequestParams, CallToolResult, ErrorCode},
    service::RunningService,
    transport::{
        StreamableHttpClientTransport, streamable_http_client::StreamableHttpClientTransportConfig,
    },
};
use serde_json::{Value, json};

use crate::support::{FakeIntrospection, TestServer};

const RESOURCE: &str = "http://localhost:8000/mcp";

/// The resource server, with a stand-in authorization server that knows one token.
async fn start() -> (FakeIntrospection, TestServer) {
    let fake = FakeIntrospection::start().await;
    fake.grant("valid-token", RESOURCE, "mcp:tools", 3600);
    let server = TestServer::start(&fake.url).await;
    (fake, server)
}

async fn connect(server: &TestServer) -> RunningService<RoleClient, ()> {
    ().serve(StreamableHttpClientTransport::from_uri(
        server.mcp_url.clone(),
    ))
    .await
    .expect("MCP handshake")
}

/// An rmcp client that sends `Authorization: Bearer <token>` on every request.
async fn connect_with_token(server: &TestServer, token: &str) -> RunningService<RoleClient, ()> {
    let config =
        StreamableHttpClientTransportConfig::with_uri(server.mcp_url.clone()).auth_header(token);
    ().serve(StreamableHttpClientTransport::from_config(config))
        .await
        .expect("MCP handshake")
}

async fn call(
    client: &RunningService<RoleClient, ()>,
    tool: &'static str,
    arguments: Value,
) -> Result<CallToolResult, rmcp::ServiceError> {
    let mut params = CallToolRequestParams::new(tool);
    if let Value::Object(arguments) = arguments {
        params = params.with_arguments(arguments);
    }
    client.call_tool(params).await
}

fn text_of(result: &CallToolResult) -> String {
    result
        .content
        .iter()
        .filter_map(|block| block.as_text().map(|text| text.text.clone()))
        .collect()
}

/// The server introduces itself by its configured name and lists both tools with their schemas.
#[tokio::test]
async fn initialize_and_list_tools() {
    let (_fake, server) = start().await;
    let client = connect(&server).await;
    let info = client.peer_info().expect("server info");
    let server_info = info.server_info.clone().expect("server info");
    assert_eq!(server_info.name, "mcp-demo-resource-server");

    let tools = client.list_all_tools().await.expect("tools/list");
    insta::assert_json_snapshot!("tools_list", tools);
    client.cancel().await.expect("close");
    server.shutdown().await.expect("clean shutdown");
}

/// `greet` answers in text and in structured content; punctuation defaults to "!".
#[tokio::test]
async fn greet_returns_text_and_structured_content() {
    let (_fake, server) = start().await;
    let client = connect(&server).await;

    let result = call(&client, "greet", json!({ "name": "Ada" }))
        .await
        .expect("greet");
    assert_eq!(text_of(&result), "Hello, Ada!");
    assert_eq!(
        result.structured_content,
        Some(json!({ "greeting": "Hello, Ada!" }))
    );
    assert_ne!(result.is_error, Some(true));

    let result = call(
        &client,
        "greet",
        json!({ "name": "  Grace ", "punctuation": "?" }),
    )
    .await
    .expect("greet");
    assert_eq!(text_of(&result), "Hello, Grace?");

    let result = call(&client, "greet", json!({ "name": "   " }))
        .await
        .expect("greet");
    assert_eq!(text_of(&result), "Hello, there!");
    client.cancel().await.expect("close");
}

/// RS-04 through rmcp: without a token `server_time` fails with the challenge a client acts on.
#[tokio::test]
async fn rs04_server_time_without_token_exposes_challenge() {
    let (_fake, server) = start().await;
    let client = connect(&server).await;
    let error = call(&client, "server_time", json!({}))
        .await
        .expect_err("401");
    assert!(error.is_authorization_required(), "{error:?}");
    let challenge = error.auth_challenge().expect("challenge");
    assert!(challenge.contains("resource_metadata="), "{challenge}");
    client.cancel().await.expect("close");
}

/// `server_time` reports the current instant in UTC, in all four forms, to a caller with a token.
#[tokio::test]
async fn server_time_is_utc_now() {
    let (_fake, server) = start().await;
    let client = connect_with_token(&server, "valid-token").await;
    let before = chrono::Utc::now().timestamp();
    let result = call(&client, "server_time", json!({}))
        .await
        .expect("server_time");
    let after = chrono::Utc::now().timestamp();

    let time = result.structured_content.expect("structured content");
    assert_eq!(time["timezone"], "UTC");
    let timestamp = time["timestamp"].as_i64().expect("timestamp");
    assert!((before..=after).contains(&timestamp));
    let current = time["current_time"].as_str().expect("current_time");
    assert!(current.ends_with('Z'), "RFC 3339 in UTC: {current}");
    let parsed = chrono::DateTime::parse_from_rfc3339(current).expect("RFC 3339");
    assert_eq!(parsed.timestamp(), timestamp);
    assert!(
        time["formatted"]
            .as_str()
            .expect("formatted")
            .ends_with(" UTC")
    );
    client.cancel().await.expect("close");
}

/// An unknown tool is a JSON-RPC error; arguments that do not fit the schema are a
/// tool error the model can read and correct (MCP 2025-11-25, tools: error handling).
#[tokio::test]
async fn bad_tool_calls_are_protocol_errors() {
    let (_fake, server) = start().await;
    let client = connect(&server).await;

    let error = call(&client, "no_such_tool", json!({}))
        .await
        .expect_err("unknown tool");
    assert_mcp_error(&error, ErrorCode::INVALID_PARAMS);

    let result = call(&client, "greet", json!({ "name": 42 }))
        .await
        .expect("a tool error");
    assert_eq!(result.is_error, Some(true));
    assert!(
        text_of(&result).contains("expected a string"),
        "{}",
        text_of(&result)
    );

    let result = call(&client, "greet", json!({}))
        .await
        .expect("a tool error");
    assert_eq!(result.is_error, Some(true));
    assert!(text_of(&result).contains("name"), "{}", text_of(&result));

    // The session survives the errors.
    let result = call(&client, "greet", json!({ "name": "again" }))
        .await
        .expect("greet");
    assert_eq!(text_of(&result), "Hello, again!");
    client.cancel().await.expect("close");
}

fn assert_mcp_error(error: &rmcp::ServiceError, code: ErrorCode) {
    match error {
        rmcp::ServiceError::McpError(data) => assert_eq!(data.code, code, "{data:?}"),
        other => panic!("expected an MCP error {code:?}, got {other:?}"),
    }
}
