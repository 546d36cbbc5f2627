//! The authorization server of this part and the protected MCP server
//! together, with tokens from a real login (rule RS-05, RS-07, RS-12).

use reqwest::StatusCode;
use rmcp::{
    ServiceExt,
    model::CallToolRequestParams,
    transport::{
        StreamableHttpClientTransport, streamable_http_client::StreamableHttpClientTransportConfig,
    },
};
use serde_json::json;
use this_part::Config;
use tokio::net::TcpListener;

use crate::support::{
    SCOPE, TestAs, TestServer, http, obtain_tokens, open_session, post_mcp, tool_call,
};

/// Starts the resource server on a port it knows, and an authorization server
/// that issues tokens for it (`extra_resources` too).
async fn system(extra_resources: &[&str]) -> (TestAs, TestServer, String) {
    system_with(extra_resources, |_| {}).await
}

/// [`system`], with the resource server's configuration changed by
/// `configure` first.
async fn system_with(
    extra_resources: &[&str],
    configure: impl FnOnce(&mut Config),
) -> (TestAs, TestServer, String) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let mcp_url = format!("http://{}/mcp", listener.local_addr().expect("address"));
    let resources: Vec<String> = std::iter::once(mcp_url.clone())
        .chain(extra_resources.iter().map(|r| r.to_string()))
        .collect();
    let auth = TestAs::start_with(|config| config.resources = resources).await;
    let mut config = Config::for_tests(&auth.issuer);
    config.public_url = mcp_url.clone();
    configure(&mut config);
    let server = TestServer::start_on(listener, config).await;
    (auth, server, mcp_url)
}

/// An rmcp client with a bearer token from a real login calls both tools.
#[tokio::test]
async fn rmcp_client_with_real_token_calls_both_tools() {
    let (auth, server, mcp_url) = system(&[]).await;
    let token = obtain_tokens(&auth.issuer, &mcp_url, SCOPE)
        .await
        .tokens
        .access_token;
    let config =
        StreamableHttpClientTransportConfig::with_uri(server.mcp_url.clone()).auth_header(token);
    let client =
        ().serve(StreamableHttpClientTransport::from_config(config))
            .await
            .expect("handshake");
    let greet = client
        .call_tool(
            CallToolRequestParams::new("greet")
                .with_arguments(json!({"name": "Ada"}).as_object().cloned().expect("object")),
        )
        .await
        .expect("greet");
    assert_eq!(
        greet.structured_content,
        Some(json!({"greeting": "Hello, Ada!"}))
    );
    let time = client
        .call_tool(CallToolRequestParams::new("server_time"))
        .await
        .expect("server_time");
    assert_eq!(
        time.structured_content.expect("structured")["timezone"],
        "UTC"
    );
    client.cancel().await.expect("close");
}

/// RS-05: a token revoked at the authorization server is refused (first use
/// after revocation) by a tool whose calls are introspected
/// (`RS_INTROSPECT_TOOLS`): a signed token checked locally would live until
/// it expires (rule P6-04).
#[tokio::test]
async fn rs05_revoked_token_refused() {
    let introspected = |config: &mut Config| config.introspect_tools = vec!["server_time".into()];
    let (auth, server, mcp_url) = system_with(&[], introspected).await;
    let obtained = obtain_tokens(&auth.issuer, &mcp_url, SCOPE).await;
    let token = obtained.tokens.access_token;
    let revoked = http()
        .post(auth.url("/revoke"))
        .form(&[
            ("token", token.as_str()),
            ("client_id", obtained.client.client_id.as_str()),
        ])
        .send()
        .await
        .expect("revoke");
    assert_eq!(revoked.status(), StatusCode::OK);
    let response = post_mcp(
        &server.mcp_url,
        None,
        Some(&token),
        &tool_call("server_time", json!({})),
    )
    .await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
}

/// RS-07: a real token issued for another resource is refused by this one.
#[tokio::test]
async fn rs07_real_token_for_other_resource_refused() {
    let other = "http://localhost:8001/mcp";
    let (auth, server, _mcp_url) = system(&[other]).await;
    let token = obtain_tokens(&auth.issuer, other, SCOPE)
        .await
        .tokens
        .access_token;
    let response = post_mcp(
        &server.mcp_url,
        None,
        Some(&token),
        &tool_call("server_time", json!({})),
    )
    .await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let challenge = response.headers()["www-authenticate"]
        .to_str()
        .expect("ascii");
    assert!(
        challenge.contains(r#"error="invalid_token""#),
        "{challenge}"
    );
}

/// RS-12: the authorization server stopped mid-test ⇒ 503; started again on its port ⇒ served again.
#[tokio::test]
async fn rs12_as_stopped_then_restarted() {
    let (auth, server, mcp_url) = system(&[]).await;
    let issuer = auth.issuer.clone();
    auth.shutdown().await.expect("stopped");
    let response = post_mcp(
        &server.mcp_url,
        None,
        Some("any-token"),
        &tool_call("server_time", json!({})),
    )
    .await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);

    let address = issuer.trim_start_matches("http://").to_owned();
    let listener = TcpListener::bind(&address)
        .await
        .expect("the same port again");
    let mut config = this_part::authorization_server::Config::for_tests(&issuer);
    config.resources = vec![mcp_url.clone()];
    let (_stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(this_part::authorization_server::serve(
        listener,
        config,
        async {
            let _ = stopped.await;
        },
    ));
    let token = obtain_tokens(&issuer, &mcp_url, SCOPE)
        .await
        .tokens
        .access_token;
    let session = open_session(&server.mcp_url, Some(&token)).await;
    let response = post_mcp(
        &server.mcp_url,
        Some(&session),
        Some(&token),
        &tool_call("server_time", json!({})),
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
}
