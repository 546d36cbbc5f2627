//! Introspection (RFC 7662; rule AS-09), audiences (AS-05) and
//! revocation (RFC 7009).

use std::collections::HashMap;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::{
    RESOURCE, RS_CLIENT_ID, RS_CLIENT_SECRET, TestAs, http, introspect, obtain_tokens,
    token_request,
};

/// AS-09: introspection without resource-server credentials ⇒ 401 invalid_client.
#[tokio::test]
async fn as09_unauthenticated_introspection_is_401() {
    let server = TestAs::start().await;
    let obtained = obtain_tokens(&server.issuer, RESOURCE, "mcp:tools").await;
    let token = obtained.tokens.access_token.as_str();
    let url = server.url("/introspect");
    let requests = [
        ("none", http().post(&url).form(&[("token", token)])),
        (
            "wrong secret",
            http()
                .post(&url)
                .basic_auth(RS_CLIENT_ID, Some("wrong"))
                .form(&[("token", token)]),
        ),
        (
            "a registered client",
            http()
                .post(&url)
                .form(&[("token", token), ("client_id", &obtained.client.client_id)]),
        ),
        (
            "not Basic",
            http()
                .post(&url)
                .bearer_auth(token)
                .form(&[("token", token)]),
        ),
    ];
    for (case, request) in requests {
        let response = request.send().await.expect("introspect");
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{case}");
        assert_eq!(response.headers()["cache-control"], "no-store", "{case}");
        let body: Value = response.json().await.expect("JSON");
        assert_eq!(body["error"], "invalid_client", "{case}");
    }
    server.shutdown().await.expect("clean shutdown");
}

/// AS-09: the resource server may also authenticate with its secret in the body.
#[tokio::test]
async fn as09_client_secret_post_is_accepted() {
    let server = TestAs::start().await;
    let obtained = obtain_tokens(&server.issuer, RESOURCE, "mcp:tools").await;
    let response = http()
        .post(server.url("/introspect"))
        .form(&[
            ("token", obtained.tokens.access_token.as_str()),
            ("client_id", RS_CLIENT_ID),
            ("client_secret", RS_CLIENT_SECRET),
        ])
        .send()
        .await
        .expect("introspect");
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.expect("JSON");
    assert_eq!(body["active"], true);
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["sub"], "demo_user");
    assert_eq!(body["iss"], server.issuer);
    assert_eq!(body["client_id"], obtained.client.client_id);
    server.shutdown().await.expect("clean shutdown");
}

/// AS-09: unknown, refresh and revoked tokens are all exactly `{"active":false}`.
#[tokio::test]
async fn as09_inactive_is_exactly_active_false() {
    let server = TestAs::start().await;
    let obtained = obtain_tokens(&server.issuer, RESOURCE, "mcp:tools").await;
    let refresh = obtained.tokens.refresh_token.clone().unwrap();
    for token in ["unknown-token", refresh.as_str()] {
        assert_eq!(
            introspect(&server.issuer, token).await,
            json!({ "active": false })
        );
    }
    // Revoking the refresh token (RFC 7009 §2.1) takes the access token with it.
    let response = http()
        .post(server.url("/revoke"))
        .form(&[
            ("token", refresh.as_str()),
            ("client_id", &obtained.client.client_id),
        ])
        .send()
        .await
        .expect("revoke");
    assert_eq!(response.status(), StatusCode::OK);
    let inactive = introspect(&server.issuer, &obtained.tokens.access_token).await;
    assert_eq!(
        serde_json::to_string(&inactive).unwrap(),
        r#"{"active":false}"#
    );
    server.shutdown().await.expect("clean shutdown");
}

/// AS-05: a token for another configured resource is reported with its own `aud`, which that other resource server checks.
#[tokio::test]
async fn as05_token_for_another_resource_keeps_its_aud() {
    let other = "http://localhost:8001/mcp";
    let server = TestAs::start_with(|config| {
        config.resources = vec![RESOURCE.into(), other.into()];
    })
    .await;
    let obtained = obtain_tokens(&server.issuer, other, "mcp:tools").await;
    let body = introspect(&server.issuer, &obtained.tokens.access_token).await;
    assert_eq!(body["active"], true);
    assert_eq!(body["aud"], other);
    assert_ne!(
        body["aud"], RESOURCE,
        "the RS at RESOURCE must refuse it (RS-07)"
    );
    server.shutdown().await.expect("clean shutdown");
}

/// AS-05: a resource other than the authorized one at the token endpoint ⇒ invalid_target.
#[tokio::test]
async fn as05_token_request_for_another_resource_is_invalid_target() {
    let server = TestAs::start().await;
    let client = crate::support::register_public_client(&server.issuer).await;
    let pkce = crate::support::Pkce::new();
    let code = crate::support::authorize_code(&server.issuer, &client, &pkce).await;
    let response = token_request(
        &server.issuer,
        &[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", crate::support::REDIRECT_URI),
            ("code_verifier", pkce.verifier.as_str()),
            ("client_id", client.client_id.as_str()),
            ("resource", "https://other.example/mcp"),
        ],
    )
    .await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body: Value = response.json().await.expect("JSON");
    assert_eq!(body["error"], "invalid_target");
    server.shutdown().await.expect("clean shutdown");
}

/// AS-05: a request that names no resource is for the server's only one; when it serves
/// two, it cannot guess: invalid_target, after the sign-in.
#[tokio::test]
async fn as05_without_a_resource_only_a_single_one_is_implied() {
    use crate::support::{
        PASSWORD, Pkce, REDIRECT_URI, USERNAME, authorize_params, open_login_page, redirect_params,
        register_public_client, submit_login,
    };
    /// Authorize without `resource`, sign in, and read the redirect.
    async fn sign_in_without_resource(issuer: &str) -> (HashMap<String, String>, String, Pkce) {
        let client = register_public_client(issuer).await;
        let pkce = Pkce::new();
        let params: Vec<_> = authorize_params(&client.client_id, &pkce, "r")
            .into_iter()
            .filter(|(name, _)| *name != "resource")
            .collect();
        let page = open_login_page(issuer, &params).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        let response = submit_login(issuer, &page, USERNAME, PASSWORD, "approve").await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        (redirect_params(&response), client.client_id, pkce)
    }

    let server = TestAs::start().await;
    let (redirect, client_id, pkce) = sign_in_without_resource(&server.issuer).await;
    let response = token_request(
        &server.issuer,
        &[
            ("grant_type", "authorization_code"),
            ("code", redirect["code"].as_str()),
            ("redirect_uri", REDIRECT_URI),
            ("code_verifier", pkce.verifier.as_str()),
            ("client_id", client_id.as_str()),
        ],
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    let tokens: Value = response.json().await.expect("JSON");
    let token = tokens["access_token"].as_str().expect("an access token");
    assert_eq!(introspect(&server.issuer, token).await["aud"], RESOURCE);
    server.shutdown().await.expect("clean shutdown");

    let other = "http://localhost:8001/mcp";
    let server = TestAs::start_with(|config| {
        config.resources = vec![RESOURCE.into(), other.into()];
    })
    .await;
    let (redirect, _, _) = sign_in_without_resource(&server.issuer).await;
    assert_eq!(redirect["error"], "invalid_target");
    assert!(!redirect.contains_key("code"));
    server.shutdown().await.expect("clean shutdown");
}

/// RFC 7009: a client cannot revoke another client's token, and the answer does not tell.
#[tokio::test]
async fn revocation_is_limited_to_the_owner() {
    let server = TestAs::start().await;
    let victim = obtain_tokens(&server.issuer, RESOURCE, "mcp:tools").await;
    let other = obtain_tokens(&server.issuer, RESOURCE, "mcp:tools").await;
    let response = http()
        .post(server.url("/revoke"))
        .form(&[
            ("token", victim.tokens.access_token.as_str()),
            ("client_id", &other.client.client_id),
        ])
        .send()
        .await
        .expect("revoke");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["cache-control"], "no-store");
    assert_eq!(
        introspect(&server.issuer, &victim.tokens.access_token).await["active"],
        true
    );
    server.shutdown().await.expect("clean shutdown");
}
