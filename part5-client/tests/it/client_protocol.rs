//! The two MCP lifecycles: the client against the real part-4 resource
//! server in each protocol version it serves, and against a stand-in that
//! speaks 2026-07-28 only; and what binds a client id and tokens to the
//! authorization server that issued them (SEP-2352).

// Helpers outside `#[test]` functions may fail loudly too: this is test code.
#![allow(clippy::expect_used)]

use serde_json::json;
use this_part::client::{ClientError, Options, Step, options::Protocol};

use crate::{
    client_support::{Behaviour, Mocks, person, run_with},
    client_system::{System, cached, cached_tokens, count, options, run_client, text},
    support::{TestAs, introspect},
};

/// The `Connected` step of a transcript: (protocol version, lifecycle).
fn connected(steps: &[Step]) -> Vec<(String, String)> {
    steps
        .iter()
        .filter_map(|step| match step {
            Step::Connected {
                protocol_version,
                lifecycle,
                ..
            } => Some((protocol_version.clone(), lifecycle.clone())),
            _ => None,
        })
        .collect()
}

/// Runs the whole flow against the real AS and RS with `--protocol`; returns
/// the negotiated version and lifecycle of every connection.
async fn full_flow(protocol: Protocol) -> Vec<(String, String)> {
    let system = System::start(|_| {}, |_| {}).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let options = Options {
        protocol,
        ..options(&system.mcp_url, &dir.path().join("tokens.json"))
    };
    let (result, steps) = run_client(&options, person(false)).await;
    let outcome = result.expect("the run succeeds");
    assert_eq!(outcome.logins, 1);
    assert_eq!(outcome.tools, crate::TOOLS);
    assert!(!text(&outcome, "server_time").is_empty());
    let sessions = connected(&steps);
    assert!(
        sessions
            .iter()
            .all(|(version, _)| *version == outcome.protocol_version),
        "{sessions:?}"
    );
    sessions
}

/// The whole flow against the real servers with `--protocol 2025-11-25`: `initialize`, sessions.
#[tokio::test]
async fn full_flow_with_the_2025_11_25_lifecycle() {
    let sessions = full_flow(Protocol::V2025_11_25).await;
    assert!(!sessions.is_empty());
    for session in sessions {
        assert_eq!(session, ("2025-11-25".into(), "initialize".into()));
    }
}

/// The whole flow against the real servers with `--protocol 2026-07-28`: `server/discover`, no sessions.
#[tokio::test]
async fn full_flow_with_the_2026_07_28_lifecycle() {
    let sessions = full_flow(Protocol::V2026_07_28).await;
    assert!(!sessions.is_empty());
    for session in sessions {
        assert_eq!(session, ("2026-07-28".into(), "server/discover".into()));
    }
}

/// `--protocol auto` against the real RS, which serves both, settles on the newer one.
#[tokio::test]
async fn auto_prefers_2026_07_28_when_the_server_has_it() {
    let sessions = full_flow(Protocol::Auto).await;
    assert_eq!(
        sessions.last(),
        Some(&("2026-07-28".to_owned(), "server/discover".to_owned()))
    );
}

/// A server that speaks 2026-07-28 only: `auto` never sends `initialize` and every request carries `MCP-Protocol-Version: 2026-07-28`.
#[tokio::test]
async fn auto_against_a_2026_07_28_only_server() {
    let mocks = Mocks::start(Behaviour {
        modern_only: true,
        ..Behaviour::default()
    })
    .await;
    let (result, steps) = run_with(&Options::for_tests(&mocks.mcp_url), false).await;
    let outcome = result.expect("the run succeeds");
    assert_eq!(outcome.protocol_version, "2026-07-28");
    assert_eq!(outcome.logins, 1);
    assert_eq!(
        connected(&steps).last(),
        Some(&("2026-07-28".to_owned(), "server/discover".to_owned()))
    );
    let methods = mocks.with(|state| state.rs_methods.clone());
    assert!(
        methods
            .iter()
            .any(|(method, _)| method == "server/discover")
    );
    assert!(methods.iter().any(|(method, _)| method == "tools/call"));
    for (method, version) in &methods {
        assert_ne!(method, "initialize");
        assert_eq!(version.as_deref(), Some("2026-07-28"), "{method}");
    }
}

/// Forcing 2025-11-25 on a 2026-07-28-only server fails with a plain message, exit 1, no login.
#[tokio::test]
async fn forced_2025_11_25_against_a_2026_07_28_only_server_is_a_plain_error() {
    let mocks = Mocks::start(Behaviour {
        modern_only: true,
        ..Behaviour::default()
    })
    .await;
    let options = Options {
        protocol: Protocol::V2025_11_25,
        ..Options::for_tests(&mocks.mcp_url)
    };
    let (result, steps) = run_with(&options, false).await;
    let error = result.expect_err("the server refuses initialize");
    assert!(matches!(error, ClientError::Connect { .. }), "{error}");
    assert_eq!(error.exit_code(), 1);
    let message = error.to_string();
    assert!(
        !message.contains("rmcp::") && !message.contains('<'),
        "{message}"
    );
    assert_eq!(
        count(&steps, |s| matches!(s, Step::BrowserOpened { .. })),
        0
    );
}

/// SEP-2207: `offline_access` is asked for when the AS lists it, and not otherwise.
#[tokio::test]
async fn offline_access_only_when_the_authorization_server_lists_it() {
    for (listed, expected) in [
        (
            Some(vec!["mcp:tools".to_owned(), "offline_access".to_owned()]),
            true,
        ),
        (Some(vec!["mcp:tools".to_owned()]), false),
        (None, false),
    ] {
        let mocks = Mocks::start(Behaviour {
            as_scopes_supported: listed.clone(),
            ..Behaviour::default()
        })
        .await;
        let (result, _) = run_with(&Options::for_tests(&mocks.mcp_url), false).await;
        result.expect("the run succeeds");
        let scopes: Vec<String> = mocks.with(|state| {
            state
                .authorize_queries
                .iter()
                .map(|query| query.get("scope").cloned().unwrap_or_default())
                .collect()
        });
        assert_eq!(scopes.len(), 1, "{listed:?}");
        let asked: Vec<&str> = scopes[0].split(' ').collect();
        assert!(asked.contains(&"mcp:tools"), "{listed:?}: {asked:?}");
        assert_eq!(
            asked.contains(&"offline_access"),
            expected,
            "{listed:?}: {asked:?}"
        );
    }
}

/// SEP-2352: cached tokens and client id of one AS are not used when the resource moves to another; the client registers at the new one.
#[tokio::test]
async fn cached_registration_is_not_reused_at_a_new_authorization_server() {
    let system = System::start(|_| {}, |_| {}).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let cache = dir.path().join("tokens.json");
    let options = options(&system.mcp_url, &cache);
    let (first, _) = run_client(&options, person(false)).await;
    assert_eq!(first.expect("the first run logs in").logins, 1);
    let old = cached(&cache, &system.mcp_url).await.expect("cached");
    assert_eq!(old.issuer.as_deref(), Some(system.auth.issuer.as_str()));

    // The resource now trusts a second authorization server.
    let resources = vec![system.mcp_url.clone()];
    let second = TestAs::start_with(|config| config.resources = resources).await;
    let second_issuer = second.issuer.clone();
    let system = system
        .restart_rs(|config| config.auth_server_url = second_issuer.clone())
        .await;

    let (run, steps) = run_client(&options, person(false)).await;
    let outcome = run.expect("the run logs in at the new server");
    assert_eq!(outcome.logins, 1);
    assert_eq!(count(&steps, |s| matches!(s, Step::CachedTokens { .. })), 0);
    assert!(
        steps.iter().any(|step| matches!(step,
            Step::Registered { method, client_id }
                if method.starts_with("registered dynamically") && *client_id != old.client_id)),
        "{steps:#?}"
    );
    let new = cached(&cache, &system.mcp_url).await.expect("cached");
    assert_eq!(new.issuer.as_deref(), Some(second.issuer.as_str()));
    assert_ne!(new.client_id, old.client_id);
    let (access, _) = cached_tokens(&cache, &system.mcp_url).await;
    let info = introspect(&second.issuer, &access).await;
    assert_eq!(info["active"], true);
    assert_eq!(info["client_id"], json!(new.client_id));
}

/// SEP-2352 within one run: when the resource moves to another AS after the first login, the client registers there and never shows it the first AS's client id or tokens.
#[tokio::test]
async fn a_new_authorization_server_mid_run_gets_a_new_registration() {
    let second = Mocks::start(Behaviour::default()).await;
    // Two real servers would not hand out the same ids; the mocks count from 1.
    second.with(|state| {
        for _ in 0..100 {
            state.next("skip");
        }
    });
    let first = Mocks::start(Behaviour {
        migrate_to: Some(second.state.clone()),
        ..Behaviour::default()
    })
    .await;
    let (result, steps) = run_with(&Options::for_tests(&first.mcp_url), false).await;
    let outcome = result.expect("the run succeeds at the second AS");
    assert_eq!(outcome.logins, 2);
    assert!(
        steps.contains(&Step::IssuerChanged {
            from: first.issuer.clone(),
            to: second.issuer.clone(),
        }),
        "{steps:#?}"
    );
    let (old_client, old_tokens) = first.with(|state| {
        let client = state.authorize_queries[0]["client_id"].clone();
        let tokens: Vec<String> = state
            .access_tokens
            .keys()
            .chain(state.refresh_tokens.keys())
            .cloned()
            .collect();
        (client, tokens)
    });
    second.with(|state| {
        assert_eq!(state.registrations.len(), 1, "registered at the second AS");
        assert_eq!(state.authorize_queries.len(), 1);
        assert_ne!(state.authorize_queries[0]["client_id"], old_client);
        for request in &state.token_requests {
            assert_ne!(request.get("client_id"), Some(&old_client));
            for value in request.values() {
                assert!(!old_tokens.contains(value), "{request:?}");
            }
        }
    });
}
