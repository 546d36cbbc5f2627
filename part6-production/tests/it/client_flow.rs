//! The client run in-process against the mock AS and RS, with the scripted
//! browser as the person: the flows that end in tool results.

// Helpers outside `#[test]` functions may fail loudly too: this is test code.
#![allow(clippy::expect_used)]

use this_part::client::{ClientError, Options, Outcome, Step};

use crate::client_support::{Behaviour, Mocks, run_with};

fn text(outcome: &Outcome, tool: &str) -> String {
    let call = outcome
        .calls
        .iter()
        .find(|call| call.tool == tool)
        .expect("call");
    call.result
        .content
        .iter()
        .filter_map(|block| block.as_text().map(|text| text.text.clone()))
        .collect()
}
/// CL-01…CL-07: 401 ⇒ PRM ⇒ AS metadata ⇒ DCR ⇒ PKCE S256 + state + resource ⇒ login ⇒ token ⇒ retry with Bearer.
#[tokio::test]
async fn cl_full_flow_with_dynamic_registration() {
    let mocks = Mocks::start(Behaviour::default()).await;
    let (result, steps) = run_with(&Options::for_tests(&mocks.mcp_url), false).await;
    let outcome = result.expect("the run succeeds");
    assert_eq!(outcome.server_name, "mock-protected-rs");
    assert_eq!(outcome.tools, ["greet", "server_time"]);
    assert_eq!(text(&outcome, "greet"), "Hello, world!");
    assert_eq!(text(&outcome, "server_time"), "2026-01-01T00:00:00Z");
    assert_eq!(outcome.logins, 1);

    mocks.with(|state| {
        assert_eq!(state.registrations.len(), 1, "one DCR");
        let redirect = state.registrations[0]["redirect_uris"][0]
            .as_str()
            .unwrap_or_default();
        assert!(redirect.starts_with("http://127.0.0.1:"), "{redirect}");
        let query = &state.authorize_queries[0];
        assert_eq!(query["code_challenge_method"], "S256");
        assert_eq!(query["resource"], mocks.mcp_url);
        assert_eq!(query["scope"], "mcp:tools");
        assert!(query["state"].len() >= 22);
        let exchange = &state.token_requests[0];
        assert_eq!(exchange["grant_type"], "authorization_code");
        assert_eq!(exchange["resource"], mocks.mcp_url);
        // CL-07: the token travels in the header only, never in a URL.
        for (_, uri, _) in &state.rs_requests {
            assert!(
                !uri.contains("access_token") && !uri.contains("at-"),
                "{uri}"
            );
        }
        let with_token = state
            .rs_requests
            .iter()
            .filter(|(_, _, auth)| auth.is_some())
            .count();
        assert!(
            with_token >= 2,
            "initialize and server_time carry the token"
        );
    });
    assert!(steps.contains(&Step::BrowserOpened {
        program: crate::SCRIPTED_BROWSER.into()
    }));
    assert!(steps.iter().any(|step| matches!(step, Step::Registered { method, .. } if method.starts_with("registered dynamically"))));
}

/// CL-03: a pre-registered client id is used and nothing is registered.
#[tokio::test]
async fn cl03_pre_registered_client_skips_registration() {
    let mocks = Mocks::start(Behaviour::default()).await;
    let options = Options {
        client_id: Some("pre-registered".into()),
        ..Options::for_tests(&mocks.mcp_url)
    };
    let (result, _) = run_with(&options, false).await;
    result.expect("the run succeeds");
    mocks.with(|state| {
        assert!(state.registrations.is_empty());
        assert_eq!(state.authorize_queries[0]["client_id"], "pre-registered");
    });
}

/// CL-05: 403 insufficient_scope ⇒ one re-authorization for the union of scopes.
#[tokio::test]
async fn cl05_insufficient_scope_reauthorizes_once_with_the_union() {
    let behaviour = Behaviour {
        required_scopes: vec!["mcp:tools".into(), "mcp:admin".into()],
        ..Behaviour::default()
    };
    let mocks = Mocks::start(behaviour).await;
    let (result, _) = run_with(&Options::for_tests(&mocks.mcp_url), false).await;
    let outcome = result.expect("the run succeeds after the upgrade");
    assert_eq!(outcome.logins, 2);
    mocks.with(|state| {
        assert_eq!(state.authorize_queries.len(), 2);
        assert_eq!(state.authorize_queries[1]["scope"], "mcp:tools mcp:admin");
        assert_eq!(state.registrations.len(), 1, "the client registers once");
    });
}

/// CL-05: when the AS will not grant the scope, the client stops after one upgrade (exit 2).
#[tokio::test]
async fn cl05_gives_up_after_one_upgrade() {
    let behaviour = Behaviour {
        required_scopes: vec!["mcp:admin".into()],
        grantable: Some(vec!["mcp:tools".into()]),
        ..Behaviour::default()
    };
    let mocks = Mocks::start(behaviour).await;
    let (result, _) = run_with(&Options::for_tests(&mocks.mcp_url), false).await;
    let error = result.expect_err("still refused");
    assert!(
        matches!(error, ClientError::StillUnauthorized(_)),
        "{error}"
    );
    assert_eq!(error.exit_code(), 2);
    mocks.with(|state| assert_eq!(state.authorize_queries.len(), 2));
}

/// `--call` picks the tools and their order: `server_time` first logs in
/// at once, and `greet` then goes out with the token.
#[tokio::test]
async fn call_option_sets_the_tools_and_their_order() {
    let mocks = Mocks::start(Behaviour::default()).await;
    let options = Options {
        call: vec!["server_time".into(), "greet".into()],
        ..Options::for_tests(&mocks.mcp_url)
    };
    let (result, _) = run_with(&options, false).await;
    let outcome = result.expect("the run succeeds");
    let called: Vec<&str> = (outcome.calls.iter()).map(|c| c.tool.as_str()).collect();
    assert_eq!(called, ["server_time", "greet"]);
    assert_eq!(text(&outcome, "greet"), "Hello, world!");
    assert_eq!(outcome.logins, 1);
}
