//! Authorization codes: single use, bound, and raced (rule AS-03).

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use this_part::clock::Clock;

use crate::support::{
    Pkce, REDIRECT_URI, TestAs, TokenResponse, authorize_code, exchange_code, introspect,
    register_public_client, token_request,
};

async fn error_of(response: reqwest::Response) -> (StatusCode, String) {
    let status = response.status();
    let body: Value = response.json().await.expect("JSON");
    (
        status,
        body["error"].as_str().unwrap_or_default().to_owned(),
    )
}

/// AS-03: a code is 256 random bits, base64url.
#[tokio::test]
async fn as03_codes_are_long_and_random() {
    let server = TestAs::start().await;
    let client = register_public_client(&server.issuer).await;
    let pkce = Pkce::new();
    let first = authorize_code(&server.issuer, &client, &pkce).await;
    let second = authorize_code(&server.issuer, &client, &pkce).await;
    assert_eq!(first.len(), 43);
    assert_ne!(first, second);
    server.shutdown().await.expect("clean shutdown");
}

/// AS-03: a second redemption fails with invalid_grant and revokes the tokens of the first.
#[tokio::test]
async fn as03_code_reuse_revokes_its_tokens() {
    let server = TestAs::start().await;
    let client = register_public_client(&server.issuer).await;
    let pkce = Pkce::new();
    let code = authorize_code(&server.issuer, &client, &pkce).await;
    let first = exchange_code(&server.issuer, &client, &code, &pkce).await;
    assert_eq!(first.status(), StatusCode::OK);
    let tokens: TokenResponse = first.json().await.expect("tokens");
    assert_eq!(
        introspect(&server.issuer, &tokens.access_token).await["active"],
        true
    );

    let replay = exchange_code(&server.issuer, &client, &code, &pkce).await;
    assert_eq!(
        error_of(replay).await,
        (StatusCode::BAD_REQUEST, "invalid_grant".into())
    );
    assert_eq!(
        introspect(&server.issuer, &tokens.access_token).await,
        json!({ "active": false })
    );
    let refresh = token_request(
        &server.issuer,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", tokens.refresh_token.as_deref().unwrap()),
            ("client_id", &client.client_id),
        ],
    )
    .await;
    assert_eq!(error_of(refresh).await.1, "invalid_grant");
    server.shutdown().await.expect("clean shutdown");
}

/// AS-03: a replay that fails PKCE, or comes from another client, revokes nothing.
#[tokio::test]
async fn as03_failed_replay_revokes_nothing() {
    let server = TestAs::start().await;
    let client = register_public_client(&server.issuer).await;
    let thief = register_public_client(&server.issuer).await;
    let pkce = Pkce::new();
    let code = authorize_code(&server.issuer, &client, &pkce).await;
    let tokens: TokenResponse = exchange_code(&server.issuer, &client, &code, &pkce)
        .await
        .json()
        .await
        .expect("tokens");
    let wrong_verifier = exchange_code(&server.issuer, &client, &code, &Pkce::new()).await;
    assert_eq!(error_of(wrong_verifier).await.1, "invalid_grant");
    let other_client = exchange_code(&server.issuer, &thief, &code, &pkce).await;
    assert_eq!(error_of(other_client).await.1, "invalid_grant");
    assert_eq!(
        introspect(&server.issuer, &tokens.access_token).await["active"],
        true
    );
    server.shutdown().await.expect("clean shutdown");
}

/// AS-03: a code is bound to its client and its redirect URI.
#[tokio::test]
async fn as03_code_is_bound_to_client_and_redirect_uri() {
    let server = TestAs::start().await;
    let client = register_public_client(&server.issuer).await;
    let other = register_public_client(&server.issuer).await;
    let pkce = Pkce::new();
    let code = authorize_code(&server.issuer, &client, &pkce).await;
    let as_other = exchange_code(&server.issuer, &other, &code, &pkce).await;
    assert_eq!(
        error_of(as_other).await,
        (StatusCode::BAD_REQUEST, "invalid_grant".into())
    );
    for redirect_uri in [None, Some("http://127.0.0.1:9/other")] {
        let mut form = vec![
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("code_verifier", pkce.verifier.as_str()),
            ("client_id", client.client_id.as_str()),
        ];
        form.extend(redirect_uri.map(|uri| ("redirect_uri", uri)));
        let response = token_request(&server.issuer, &form).await;
        assert_eq!(
            error_of(response).await.1,
            "invalid_grant",
            "{redirect_uri:?}"
        );
    }
    let response = exchange_code(&server.issuer, &client, &code, &pkce).await;
    assert_eq!(
        response.status(),
        StatusCode::OK,
        "the right request still works"
    );
    assert!(REDIRECT_URI.starts_with("http://127.0.0.1"));
    server.shutdown().await.expect("clean shutdown");
}

/// AS-03: ten concurrent redemptions of one code ⇒ exactly one succeeds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn as03_concurrent_redemptions_one_wins() {
    let server = TestAs::start().await;
    let client = register_public_client(&server.issuer).await;
    let pkce = Pkce::new();
    let code = authorize_code(&server.issuer, &client, &pkce).await;
    let attempts = (0..10).map(|_| {
        let (issuer, client, code, pkce) = (
            server.issuer.clone(),
            client.clone(),
            code.clone(),
            pkce.clone(),
        );
        tokio::spawn(async move { exchange_code(&issuer, &client, &code, &pkce).await.status() })
    });
    let mut statuses = Vec::new();
    for attempt in attempts {
        statuses.push(attempt.await.expect("task"));
    }
    let successes = statuses.iter().filter(|s| **s == StatusCode::OK).count();
    assert_eq!(successes, 1, "{statuses:?}");
    assert!(
        statuses
            .iter()
            .all(|s| *s == StatusCode::OK || *s == StatusCode::BAD_REQUEST)
    );
    server.shutdown().await.expect("clean shutdown");
}

/// AS-03: a code lives two minutes: redeemed after 1 min 58 s it gives tokens, at 2 min it is
/// unknown or expired (invalid_grant).
#[tokio::test]
async fn as03_a_code_expires_after_two_minutes() {
    let clock = Clock::default();
    let server_clock = clock.clone();
    let server = TestAs::start_with(|config| config.clock = server_clock).await;
    let client = register_public_client(&server.issuer).await;
    for (after, expected) in [(118, StatusCode::OK), (120, StatusCode::BAD_REQUEST)] {
        let pkce = Pkce::new();
        let code = authorize_code(&server.issuer, &client, &pkce).await;
        clock.advance(Duration::from_secs(after));
        let response = exchange_code(&server.issuer, &client, &code, &pkce).await;
        assert_eq!(response.status(), expected, "after {after} s");
        if expected == StatusCode::BAD_REQUEST {
            assert_eq!(error_of(response).await.1, "invalid_grant");
        }
    }
    server.shutdown().await.expect("clean shutdown");
}
