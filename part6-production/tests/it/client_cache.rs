//! Tokens kept between runs with `--token-cache`, refreshed by rmcp before
//! they expire or when the server rejects them (rule CL-06).

// Helpers outside `#[test]` functions may fail loudly too: this is test code.
#![allow(clippy::expect_used)]

use rmcp::transport::auth::{CredentialStore as _, OAuthTokenResponse, StoredCredentials};
use this_part::client::{Options, Step, tokens::FileTokenCache};

use crate::client_support::{Behaviour, Issued, Mocks, run_with};

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
