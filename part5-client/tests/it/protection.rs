//! The resource-server rules (rule RS-04 … RS-11) in raw HTTP, with a
//! stand-in introspection endpoint that says which tokens are valid.

use reqwest::StatusCode;
use serde_json::json;

use crate::support::{
    FakeIntrospection, TestServer, http, open_session, post_mcp, rpc_result, tool_call,
};

const RESOURCE: &str = "http://localhost:8000/mcp";

async fn setup() -> (FakeIntrospection, TestServer) {
    let fake = FakeIntrospection::start().await;
    fake.grant("good-token", RESOURCE, "mcp:tools", 3600);
    let server = TestServer::start(&fake.url).await;
    (fake, server)
}

fn challenge(response: &reqwest::Response) -> String {
    response.headers()["www-authenticate"]
        .to_str()
        .expect("ascii")
        .to_owned()
}

/// RS-04: a protected call without a token gets 401 and the exact challenge.
#[tokio::test]
async fn rs04_missing_token_gets_challenge() {
    let (_fake, server) = setup().await;
    let session = open_session(&server.mcp_url, None).await;
    let response = post_mcp(
        &server.mcp_url,
        Some(&session),
        None,
        &tool_call("server_time", json!({})),
    )
    .await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    insta::assert_snapshot!("rs04_challenge", challenge(&response));
    assert!(
        !challenge(&response).contains("error="),
        "no error code without a token"
    );
}

/// RS-11: without a token a client initializes, lists tools and calls the public tool.
#[tokio::test]
async fn rs11_public_tools_need_no_token() {
    let (fake, server) = setup().await;
    let session = open_session(&server.mcp_url, None).await;
    let list = json!({ "jsonrpc": "2.0", "id": 2, "method": "tools/list" });
    let response = post_mcp(&server.mcp_url, Some(&session), None, &list).await;
    assert_eq!(response.status(), StatusCode::OK);
    let tools = rpc_result(response).await;
    assert_eq!(
        tools["result"]["tools"].as_array().map(Vec::len),
        Some(crate::TOOLS.len())
    );
    let response = post_mcp(
        &server.mcp_url,
        Some(&session),
        None,
        &tool_call("greet", json!({"name": "Ada"})),
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    let result = rpc_result(response).await;
    assert_eq!(
        result["result"]["structuredContent"]["greeting"],
        "Hello, Ada!"
    );
    assert_eq!(fake.calls(), 0, "no token, no introspection");
}

/// RS-11: the protected tool works with a valid token, in the same session.
#[tokio::test]
async fn rs11_valid_token_calls_protected_tool() {
    let (_fake, server) = setup().await;
    let session = open_session(&server.mcp_url, None).await;
    let response = post_mcp(
        &server.mcp_url,
        Some(&session),
        Some("good-token"),
        &tool_call("server_time", json!({})),
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    let result = rpc_result(response).await;
    assert_eq!(result["result"]["structuredContent"]["timezone"], "UTC");
}

/// RS-11: a batch that hides a protected call behind a public one still needs a token.
#[tokio::test]
async fn rs11_batch_with_protected_call_needs_token() {
    let (_fake, server) = setup().await;
    let session = open_session(&server.mcp_url, None).await;
    let batch = json!([
        tool_call("greet", json!({"name": "x"})),
        tool_call("server_time", json!({}))
    ]);
    let response = post_mcp(&server.mcp_url, Some(&session), None, &batch).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
}

/// RS-11: the body decides, not the `Mcp-Method`/`Mcp-Name` hints of protocol 2026-07-28.
#[tokio::test]
async fn rs11_headers_cannot_hide_a_protected_call() {
    let (_fake, server) = setup().await;
    let response = http()
        .post(&server.mcp_url)
        .header("accept", crate::support::ACCEPT)
        .header("mcp-protocol-version", "2026-07-28")
        .header("mcp-method", "tools/call")
        .header("mcp-name", "greet")
        .json(&tool_call("server_time", json!({})))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert!(challenge(&response).contains("resource_metadata="));
}

/// RS-11: `*` protects the whole endpoint, `initialize` included.
#[tokio::test]
async fn rs11_require_everything_protects_initialize() {
    let fake = FakeIntrospection::start().await;
    let mut config = this_part::Config::for_tests(&fake.url);
    config.require_auth_for_tools = vec!["*".into()];
    let server = TestServer::start_with(config).await;
    let response = post_mcp(
        &server.mcp_url,
        None,
        None,
        &crate::support::initialize_body(),
    )
    .await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
}

/// RS-05: an unknown token is refused with invalid_token, even for a public tool.
#[tokio::test]
async fn rs05_bad_token_refused_even_for_public_tool() {
    let (_fake, server) = setup().await;
    let session = open_session(&server.mcp_url, None).await;
    for tool in ["greet", "server_time"] {
        let response = post_mcp(
            &server.mcp_url,
            Some(&session),
            Some("garbage"),
            &tool_call(tool, json!({"name": "x"})),
        )
        .await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{tool}");
        assert!(challenge(&response).starts_with(r#"Bearer error="invalid_token""#));
    }
}

/// RS-05: an expired token is refused (the introspection says active but `exp` has passed).
#[tokio::test]
async fn rs05_expired_token_refused() {
    let (fake, server) = setup().await;
    fake.grant("stale", RESOURCE, "mcp:tools", 0);
    let response = post_mcp(
        &server.mcp_url,
        None,
        Some("stale"),
        &tool_call("server_time", json!({})),
    )
    .await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert!(challenge(&response).contains(r#"error="invalid_token""#));
}

/// RS-07: a token issued for another resource is refused as invalid_token.
#[tokio::test]
async fn rs07_token_for_other_resource_refused() {
    let (fake, server) = setup().await;
    fake.grant("elsewhere", "http://localhost:8001/mcp", "mcp:tools", 3600);
    let response = post_mcp(
        &server.mcp_url,
        None,
        Some("elsewhere"),
        &tool_call("server_time", json!({})),
    )
    .await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert!(challenge(&response).contains(r#"error="invalid_token""#));
}

/// RS-06: a valid token without the required scope gets 403 insufficient_scope.
#[tokio::test]
async fn rs06_missing_scope_is_forbidden() {
    let (fake, server) = setup().await;
    fake.grant("narrow", RESOURCE, "profile", 3600);
    let response = post_mcp(
        &server.mcp_url,
        None,
        Some("narrow"),
        &tool_call("server_time", json!({})),
    )
    .await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    insta::assert_snapshot!("rs06_challenge", challenge(&response));
}

/// RS-08: two Authorization headers, or `Bearer` with no token, are 400 invalid_request.
#[tokio::test]
async fn rs08_malformed_authorization_is_bad_request() {
    let (_fake, server) = setup().await;
    let response = http()
        .post(&server.mcp_url)
        .header("accept", crate::support::ACCEPT)
        .header("authorization", "Bearer good-token")
        .header("authorization", "Bearer other")
        .json(&tool_call("server_time", json!({})))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert!(challenge(&response).contains(r#"error="invalid_request""#));
    let response = http()
        .post(&server.mcp_url)
        .header("accept", crate::support::ACCEPT)
        .header("authorization", "Bearer ")
        .json(&tool_call("server_time", json!({})))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
}

/// RS-08: a token in the query string is ignored: the call is treated as unauthenticated.
#[tokio::test]
async fn rs08_query_token_is_ignored() {
    let (fake, server) = setup().await;
    let url = format!("{}?access_token=good-token", server.mcp_url);
    let response = post_mcp(&url, None, None, &tool_call("server_time", json!({}))).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert!(!challenge(&response).contains("error="));
    assert_eq!(fake.calls(), 0);
}

/// RS-08: the scheme name is case-insensitive.
#[tokio::test]
async fn rs08_scheme_is_case_insensitive() {
    let (_fake, server) = setup().await;
    let response = http()
        .post(&server.mcp_url)
        .header("accept", crate::support::ACCEPT)
        .header("mcp-protocol-version", "2025-11-25")
        .header("authorization", "bearer good-token")
        .json(&crate::support::initialize_body())
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), StatusCode::OK);
}

/// RS-10: a session begun by one user is refused to another user's token.
#[tokio::test]
async fn rs10_session_of_one_user_refused_to_another() {
    let (fake, server) = setup().await;
    fake.grant("bobs-token", RESOURCE, "mcp:tools", 3600);
    let session = open_session(&server.mcp_url, Some("good-token")).await;
    let call = tool_call("server_time", json!({}));
    let response = post_mcp(&server.mcp_url, Some(&session), Some("good-token"), &call).await;
    assert_eq!(response.status(), StatusCode::OK);
    let response = post_mcp(&server.mcp_url, Some(&session), Some("bobs-token"), &call).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let response = post_mcp(
        &server.mcp_url,
        Some(&session),
        None,
        &tool_call("greet", json!({"name": "x"})),
    )
    .await;
    assert_eq!(
        response.status(),
        StatusCode::FORBIDDEN,
        "not anonymously either"
    );
}

/// TR-01 before RS-04: a foreign origin is refused with 403 before authorization runs.
#[tokio::test]
async fn tr01_origin_checked_before_auth() {
    let (fake, server) = setup().await;
    let response = http()
        .post(&server.mcp_url)
        .header("origin", "http://evil.example")
        .header("accept", crate::support::ACCEPT)
        .bearer_auth("good-token")
        .json(&tool_call("server_time", json!({})))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(fake.calls(), 0, "the token was never looked at");
}

/// TR-03: a preflight needs no token.
#[tokio::test]
async fn tr03_preflight_needs_no_token() {
    let (_fake, server) = setup().await;
    let response = http()
        .request(reqwest::Method::OPTIONS, &server.mcp_url)
        .header("origin", "http://localhost:6274")
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "authorization, content-type",
        )
        .send()
        .await
        .expect("preflight");
    assert!(response.status().is_success());
}

/// With `RS_AUTH_ENABLED=false` every tool is public and no metadata is served.
#[tokio::test]
async fn auth_disabled_makes_everything_public() {
    let mut config = this_part::Config::for_tests("http://127.0.0.1:1");
    config.auth_enabled = false;
    let server = TestServer::start_with(config).await;
    let session = open_session(&server.mcp_url, None).await;
    let response = post_mcp(
        &server.mcp_url,
        Some(&session),
        None,
        &tool_call("server_time", json!({})),
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        rpc_result(response).await["result"]["structuredContent"]["timezone"],
        "UTC"
    );
    let metadata = http()
        .get(format!(
            "{}/.well-known/oauth-protected-resource/mcp",
            server.base_url
        ))
        .send()
        .await
        .expect("request");
    assert_eq!(metadata.status(), StatusCode::NOT_FOUND);
}
