//! The client run in-process against the mock AS and RS of `client_support`,
//! with the scripted browser as the person.

// Helpers outside `#[test]` functions may fail loudly too: this is test code.
#![allow(clippy::expect_used)]

use std::sync::Arc;

use part5_client::client::{
    ClientError, NoBrowser, Options, Outcome, RecordingTranscript, Step, callback::CallbackError,
    run, scripted_browser::ScriptedBrowser, tokens::FileTokenCache,
};
use rmcp::transport::auth::{CredentialStore as _, OAuthTokenResponse, StoredCredentials};

use crate::client_support::{Behaviour, Issued, Mocks};

fn person(deny: bool) -> Arc<ScriptedBrowser> {
    Arc::new(ScriptedBrowser {
        username: "demo_user".into(),
        password: "demo_password".into(),
        deny,
    })
}

async fn run_with(options: &Options, deny: bool) -> (Result<Outcome, ClientError>, Vec<Step>) {
    let transcript = Arc::new(RecordingTranscript::default());
    let result = run(options, transcript.clone(), person(deny)).await;
    (result, transcript.steps())
}

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
        program: "scripted browser".into()
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

/// Deny on the login page ⇒ error=access_denied ⇒ exit code 2, and no token is requested.
#[tokio::test]
async fn denied_login_exits_2_without_a_token() {
    let mocks = Mocks::start(Behaviour::default()).await;
    let (result, _) = run_with(&Options::for_tests(&mocks.mcp_url), true).await;
    let error = result.expect_err("denied");
    assert!(
        matches!(&error, ClientError::Callback(CallbackError::Denied { error, .. }) if error == "access_denied"),
        "{error}"
    );
    assert_eq!(error.exit_code(), 2);
    mocks.with(|state| assert!(state.token_requests.is_empty()));
}

/// CL-04: a redirect with another `state` is refused before the code is used.
#[tokio::test]
async fn cl04_wrong_state_is_refused() {
    let behaviour = Behaviour {
        state_override: Some("forged-state-forged-state".into()),
        ..Behaviour::default()
    };
    let mocks = Mocks::start(behaviour).await;
    let (result, _) = run_with(&Options::for_tests(&mocks.mcp_url), false).await;
    let error = result.expect_err("refused");
    assert!(
        matches!(error, ClientError::Callback(CallbackError::StateMismatch)),
        "{error}"
    );
    assert_eq!(error.exit_code(), 2);
    mocks.with(|state| assert!(state.token_requests.is_empty()));
}

/// CL-04, RFC 9207: a redirect naming another issuer is refused (mix-up defence).
#[tokio::test]
async fn cl04_wrong_iss_is_refused() {
    let behaviour = Behaviour {
        iss_override: Some("http://evil.example".into()),
        ..Behaviour::default()
    };
    let mocks = Mocks::start(behaviour).await;
    let (result, _) = run_with(&Options::for_tests(&mocks.mcp_url), false).await;
    let error = result.expect_err("refused");
    assert!(
        matches!(
            error,
            ClientError::Callback(CallbackError::IssuerMismatch { .. })
        ),
        "{error}"
    );
    mocks.with(|state| assert!(state.token_requests.is_empty()));
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

/// Writes a cache file holding `access` (received `age` seconds ago, valid 60 s) and `refresh`.
async fn seed_cache(mocks: &Mocks, path: &std::path::Path, age: u64, revoke_access: bool) {
    let (access, refresh) = mocks.with(|state| {
        let issued = Issued {
            scopes: vec!["mcp:tools".into()],
            resource: mocks.mcp_url.clone(),
            client_id: "cached-client".into(),
        };
        let (access, refresh) = state.issue(issued);
        if revoke_access {
            state.access_tokens.remove(&access);
        }
        (access, refresh)
    });
    let response: OAuthTokenResponse = serde_json::from_value(serde_json::json!({
        "access_token": access, "token_type": "bearer", "expires_in": 60, "refresh_token": refresh,
    }))
    .expect("token response");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    let stored = StoredCredentials::new(
        "cached-client".into(),
        Some(response),
        vec!["mcp:tools".into()],
        Some(now - age),
    )
    .with_issuer(Some(mocks.issuer.clone()));
    FileTokenCache::new(path, mocks.mcp_url.as_str())
        .save(stored)
        .await
        .expect("seed");
}

/// CL-06: an expired cached access token is refreshed (with `resource`), no login needed.
#[tokio::test]
async fn cl06_expired_cached_token_is_refreshed() {
    let mocks = Mocks::start(Behaviour::default()).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("tokens.json");
    seed_cache(&mocks, &path, 3600, false).await;
    let options = Options {
        token_cache: Some(path),
        ..Options::for_tests(&mocks.mcp_url)
    };
    let (result, steps) = run_with(&options, false).await;
    let outcome = result.expect("the run succeeds");
    assert_eq!(outcome.logins, 0);
    assert!(
        steps
            .iter()
            .any(|step| matches!(step, Step::CachedTokens { .. }))
    );
    mocks.with(|state| {
        let refresh = state
            .token_requests
            .iter()
            .find(|r| r["grant_type"] == "refresh_token")
            .expect("a refresh");
        assert_eq!(refresh["resource"], mocks.mcp_url);
        assert!(state.authorize_queries.is_empty());
    });
}

/// A cached token the RS rejects (401 invalid_token) is refreshed once and the call retried.
#[tokio::test]
async fn rejected_cached_token_is_refreshed_once() {
    let mocks = Mocks::start(Behaviour::default()).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("tokens.json");
    seed_cache(&mocks, &path, 0, true).await;
    let options = Options {
        token_cache: Some(path.clone()),
        ..Options::for_tests(&mocks.mcp_url)
    };
    let (result, _) = run_with(&options, false).await;
    assert_eq!(result.expect("the run succeeds").logins, 0);
    mocks.with(|state| {
        let refreshes = state
            .token_requests
            .iter()
            .filter(|r| r["grant_type"] == "refresh_token")
            .count();
        assert_eq!(refreshes, 1);
    });
    let cached = std::fs::read_to_string(&path).expect("cache");
    assert!(cached.contains("cached-client"));
}

/// CL-02: metadata whose `issuer` is not the one the PRM named is refused (exit 1).
#[tokio::test]
async fn cl02_issuer_mismatch_is_refused() {
    let behaviour = Behaviour {
        metadata_issuer: Some("http://evil.example".into()),
        ..Behaviour::default()
    };
    let mocks = Mocks::start(behaviour).await;
    let (result, _) = run_with(&Options::for_tests(&mocks.mcp_url), false).await;
    let error = result.expect_err("refused");
    assert!(
        matches!(error, ClientError::AuthServerMetadata(_)),
        "{error}"
    );
    assert_eq!(error.exit_code(), 1);
}

/// CL-02: an AS that does not advertise S256 is refused.
#[tokio::test]
async fn cl02_as_without_s256_is_refused() {
    let behaviour = Behaviour {
        challenge_methods: vec!["plain".into()],
        ..Behaviour::default()
    };
    let mocks = Mocks::start(behaviour).await;
    let (result, _) = run_with(&Options::for_tests(&mocks.mcp_url), false).await;
    assert!(matches!(result, Err(ClientError::AuthServerMetadata(_))));
}

/// CL-01: PRM about another resource is refused.
#[tokio::test]
async fn cl01_prm_for_another_resource_is_refused() {
    let mocks = Mocks::start(Behaviour::default()).await;
    let root = mocks.mcp_url.trim_end_matches("/mcp").to_owned();
    mocks.with(|state| state.behaviour.prm_resource = Some(format!("{root}/")));
    let (result, _) = run_with(&Options::for_tests(&mocks.mcp_url), false).await;
    assert!(matches!(result, Err(ClientError::ResourceMetadata(_))));
}

/// CL-06: without a browser the URL is printed, and an unfinished login times out (exit 2).
#[tokio::test]
async fn cl06_no_browser_prints_the_url_and_times_out() {
    let mocks = Mocks::start(Behaviour::default()).await;
    let options = Options {
        login_timeout: 1,
        ..Options::for_tests(&mocks.mcp_url)
    };
    let transcript = Arc::new(RecordingTranscript::default());
    let result = run(&options, transcript.clone(), Arc::new(NoBrowser)).await;
    let error = result.expect_err("times out");
    assert!(matches!(error, ClientError::LoginTimeout(_)), "{error}");
    assert_eq!(error.exit_code(), 2);
    let printed = transcript.steps().into_iter().find_map(|step| match step {
        Step::OpenThisUrl { url, .. } => Some(url),
        _ => None,
    });
    assert!(printed.is_some_and(|url| url.contains("code_challenge_method=S256")));
}

/// An unreachable RS is a clear error with exit code 1.
#[tokio::test]
async fn unreachable_server_exits_1() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let address = listener.local_addr().expect("address");
    drop(listener);
    let (result, _) = run_with(&Options::for_tests(format!("http://{address}/mcp")), false).await;
    let error = result.expect_err("unreachable");
    assert!(matches!(error, ClientError::Connect { .. }), "{error}");
    assert_eq!(error.exit_code(), 1);
}
