//! A scope per tool (rule P6-05): each protected tool needs the scope the
//! resource server's configuration gives it, the protected-resource
//! metadata lists them, a token without a tool's scope gets 403 naming the
//! scope, the consent page says in words what each scope allows, and the
//! real client steps up once, asking for the union.

// Helpers outside `#[test]` functions may fail loudly too: this is test code.
#![allow(clippy::expect_used)]

use reqwest::StatusCode;
use serde_json::{Value, json};
use this_part::{
    Config,
    authorization_server::{Config as AsConfig, DEFAULT_SCOPE_DESCRIPTIONS},
};

use crate::{
    client_support::person,
    client_system::{System, cached_tokens, options, run_client},
    mcp_http::{open_session, post_mcp, rpc_result, tool_call},
    support::{
        Pkce, TestServer, authorize_params, http, introspect, obtain_tokens, open_login_page,
        register_public_client,
    },
};

/// The part-6 defaults: `server_time` needs `time:read`, `whoami`
/// `account:read`; the AS offers both, with their words.
fn as_scopes(config: &mut AsConfig) {
    config.scopes = ["mcp:tools", "time:read", "account:read"]
        .map(str::to_owned)
        .to_vec();
    config.scope_descriptions = DEFAULT_SCOPE_DESCRIPTIONS
        .split(';')
        .map(str::to_owned)
        .collect();
}

fn rs_scopes(config: &mut Config) {
    config.require_auth_for_tools = ["server_time=time:read", "whoami=account:read"]
        .map(str::to_owned)
        .to_vec();
}

fn challenge(response: &reqwest::Response) -> String {
    (response.headers().get("www-authenticate"))
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

/// Where `server` serves its protected-resource metadata (RFC 9728 §3.1).
fn metadata_url(server: &TestServer) -> String {
    format!(
        "{}/.well-known/oauth-protected-resource/mcp",
        server.base_url
    )
}

/// Calls `tool` in a new session with `token`.
async fn call(server: &TestServer, token: Option<&str>, tool: &str) -> reqwest::Response {
    let session = open_session(&server.mcp_url, token).await;
    post_mcp(
        &server.mcp_url,
        Some(&session),
        token,
        &tool_call(tool, json!({})),
    )
    .await
}

// ANCHOR: p605_scope_per_tool
/// A token for `time:read` calls `server_time` and nothing more: `whoami`
/// answers 403 with `insufficient_scope` and the one scope it needs, a
/// batch calling both names both, and no token at all gets 401 naming the
/// tool's scope.
#[tokio::test]
async fn p605_each_tool_needs_its_own_scope() {
    let system = System::start(as_scopes, rs_scopes).await;
    let (issuer, server) = (&system.auth.issuer, &system.server);
    let token = obtain_tokens(issuer, &system.mcp_url, "time:read").await;
    let token = token.tokens.access_token.as_str();
    let metadata = &metadata_url(server);

    let response = call(server, Some(token), "server_time").await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(rpc_result(response).await["result"]["structuredContent"]["timestamp"].is_i64());

    let response = call(server, Some(token), "whoami").await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        challenge(&response),
        format!(
            r#"Bearer error="insufficient_scope", scope="account:read", resource_metadata="{metadata}", error_description="the access token lacks the scope account:read""#
        )
    );
    let body: Value = response.json().await.expect("JSON");
    assert_eq!(body["error"], "insufficient_scope");

    let session = open_session(&server.mcp_url, Some(token)).await;
    let batch = json!([
        tool_call("server_time", json!({})),
        tool_call("whoami", json!({}))
    ]);
    let response = post_mcp(&server.mcp_url, Some(&session), Some(token), &batch).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert!(
        challenge(&response).contains(r#"scope="time:read account:read""#),
        "{}",
        challenge(&response)
    );

    let response = call(server, None, "whoami").await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        challenge(&response),
        format!(r#"Bearer resource_metadata="{metadata}", scope="account:read""#)
    );
    // The public tool needs no scope, with a token or without.
    let response = call(server, Some(token), "greet").await;
    assert_eq!(response.status(), StatusCode::OK);
}
// ANCHOR_END: p605_scope_per_tool

/// With both scopes, `whoami` answers with what the token says of its
/// holder; the metadata lists each scope a tool needs, once.
#[tokio::test]
async fn p605_whoami_with_its_scope_and_the_metadata_lists_the_scopes() {
    let system = System::start(as_scopes, rs_scopes).await;
    let obtained = obtain_tokens(
        &system.auth.issuer,
        &system.mcp_url,
        "time:read account:read",
    )
    .await;
    let token = obtained.tokens.access_token.as_str();
    let response = call(&system.server, Some(token), "whoami").await;
    assert_eq!(response.status(), StatusCode::OK);
    let caller = &rpc_result(response).await["result"]["structuredContent"];
    assert_eq!(
        caller,
        &json!({
            "subject": "demo_user",
            "client_id": obtained.client.client_id,
            "scopes": ["time:read", "account:read"],
        })
    );

    let metadata: Value = (http().get(metadata_url(&system.server)).send().await)
        .expect("metadata")
        .json()
        .await
        .expect("JSON");
    assert_eq!(
        metadata["scopes_supported"],
        json!(["time:read", "account:read"])
    );
}

/// The consent page lists each scope asked for with its words, escaped
/// like everything else on the page; a scope without words shows its name.
#[tokio::test]
async fn p605_the_consent_page_describes_each_scope() {
    let system = System::start(
        |config| {
            as_scopes(config);
            config.scope_descriptions[1] = "time:read=Read <b>the</b> clock & more".into();
        },
        rs_scopes,
    )
    .await;
    let issuer = &system.auth.issuer;
    let client = register_public_client(issuer).await;
    let pkce = Pkce::new();
    let mut params = authorize_params(&client.client_id, &pkce, "state");
    params.retain(|(name, _)| *name != "resource" && *name != "scope");
    params.extend([
        ("resource", system.mcp_url.as_str()),
        ("scope", "time:read account:read mcp:tools"),
    ]);
    let page = open_login_page(issuer, &params).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(
        page.body.contains(
            "<li>Read &lt;b&gt;the&lt;/b&gt; clock &amp; more <code>time:read</code></li>"
        ),
        "{}",
        page.body
    );
    for shown in [
        "<li>See your user name, this client's id and what it may do <code>account:read</code></li>",
        "<li>Use the MCP server's protected tools <code>mcp:tools</code></li>",
    ] {
        assert!(page.body.contains(shown), "{shown} in {}", page.body);
    }
}

/// Descriptions of scopes the server does not offer, or malformed ones,
/// stop start-up with a message naming the setting.
#[tokio::test]
async fn p605_bad_scope_descriptions_stop_start_up() {
    for descriptions in [
        vec!["admin=Do anything"],
        vec!["time:read"],
        vec!["time:read=a", "time:read=b"],
    ] {
        let mut config = AsConfig::for_tests("http://localhost:9000");
        as_scopes(&mut config);
        config.scope_descriptions = descriptions.iter().map(|d| (*d).to_owned()).collect();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let served =
            this_part::authorization_server::serve(listener, config, std::future::pending());
        let error = served.await.expect_err("refused");
        assert!(
            error.to_string().contains("AS_SCOPE_DESCRIPTIONS"),
            "{descriptions:?}: {error}"
        );
    }
}

// ANCHOR: p605_step_up
/// The real client against the real servers: the 401 of `server_time`
/// makes it log in for `time:read`; the 403 of `whoami` makes it log in
/// once more for the union, `time:read account:read` (rule CL-05); a second
/// run uses the cached tokens and logs in no more.
#[tokio::test]
async fn p605_the_client_steps_up_once_for_the_union() {
    let system = System::start(as_scopes, rs_scopes).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let cache = dir.path().join("tokens.json");
    let mut options = options(&system.mcp_url, &cache);
    options.call = ["greet", "server_time", "whoami"]
        .map(str::to_owned)
        .to_vec();

    let (result, _) = run_client(&options, person(false)).await;
    let outcome = result.expect("the run succeeds");
    assert_eq!(outcome.logins, 2, "one login, one step-up");
    let whoami = (outcome.calls.iter())
        .find(|call| call.tool == "whoami")
        .expect("called");
    let scopes = &whoami
        .result
        .structured_content
        .as_ref()
        .expect("structured")["scopes"];
    assert_eq!(scopes, &json!(["time:read", "account:read"]));
    let (access, _) = cached_tokens(&cache, &system.mcp_url).await;
    let info = introspect(&system.auth.issuer, &access).await;
    assert_eq!(info["scope"], "time:read account:read");

    let (result, _) = run_client(&options, person(false)).await;
    assert_eq!(result.expect("the second run succeeds").logins, 0);
}
// ANCHOR_END: p605_step_up
