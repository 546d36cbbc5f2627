//! The token endpoint's rules (rule AS-07) and refresh tokens (AS-08).

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use this_part::clock::Clock;

use crate::support::{
    Pkce, REDIRECT_URI, RESOURCE, TestAs, TokenResponse, authorize_code, exchange_code, http,
    introspect, obtain_tokens, register_client, token_request,
};

async fn error_of(response: reqwest::Response) -> (StatusCode, String) {
    let status = response.status();
    assert_eq!(response.headers()["cache-control"], "no-store", "{status}");
    let body: Value = response.json().await.expect("JSON");
    (
        status,
        body["error"].as_str().unwrap_or_default().to_owned(),
    )
}

/// `POST /token` with the `refresh_token` grant, as the public client `client_id`.
async fn refresh_request(issuer: &str, client_id: &str, token: String) -> reqwest::Response {
    token_request(
        issuer,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &token),
            ("client_id", client_id),
        ],
    )
    .await
}

/// AS-07: a parameter sent twice ⇒ 400 invalid_request.
#[tokio::test]
async fn as07_duplicated_parameters() {
    let server = TestAs::start().await;
    let obtained = obtain_tokens(&server.issuer, RESOURCE, "mcp:tools").await;
    let refresh = obtained.tokens.refresh_token.unwrap();
    let client_id = obtained.client.client_id.as_str();
    let body = format!(
        "grant_type=refresh_token&grant_type=refresh_token&refresh_token={refresh}&client_id={client_id}"
    );
    let response = http()
        .post(server.url("/token"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .expect("token");
    assert_eq!(
        error_of(response).await,
        (StatusCode::BAD_REQUEST, "invalid_request".into())
    );
    server.shutdown().await.expect("clean shutdown");
}

/// AS-07: Basic and a body secret at once ⇒ 400 invalid_request.
#[tokio::test]
async fn as07_two_client_auth_methods() {
    let server = TestAs::start().await;
    let client = register_client(&server.issuer, json!({ "redirect_uris": [REDIRECT_URI] })).await;
    let secret = client.client_secret.clone().unwrap();
    let response = http()
        .post(server.url("/token"))
        .basic_auth(&client.client_id, Some(&secret))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", "x"),
            ("client_id", client.client_id.as_str()),
            ("client_secret", secret.as_str()),
        ])
        .send()
        .await
        .expect("token");
    assert_eq!(
        error_of(response).await,
        (StatusCode::BAD_REQUEST, "invalid_request".into())
    );
    server.shutdown().await.expect("clean shutdown");
}

/// AS-07: failed client authentication ⇒ 401 invalid_client, with `WWW-Authenticate: Basic` when Basic was tried.
#[tokio::test]
async fn as07_client_auth_failure_is_401() {
    let server = TestAs::start().await;
    let client = register_client(&server.issuer, json!({ "redirect_uris": [REDIRECT_URI] })).await;
    let form = [("grant_type", "authorization_code"), ("code", "x")];
    let basic = http()
        .post(server.url("/token"))
        .basic_auth(&client.client_id, Some("wrong"))
        .form(&form)
        .send()
        .await
        .expect("token");
    let challenge = basic.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(challenge.starts_with("Basic"), "{challenge}");
    assert_eq!(
        error_of(basic).await,
        (StatusCode::UNAUTHORIZED, "invalid_client".into())
    );
    let cases: [&[(&str, &str)]; 3] = [
        &[("client_id", &client.client_id), ("client_secret", "wrong")],
        &[("client_id", &client.client_id)],
        &[],
    ];
    for credentials in cases {
        let mut body = form.to_vec();
        body.extend_from_slice(credentials);
        let response = token_request(&server.issuer, &body).await;
        assert!(response.headers().get("www-authenticate").is_none());
        assert_eq!(
            error_of(response).await,
            (StatusCode::UNAUTHORIZED, "invalid_client".into())
        );
    }
    server.shutdown().await.expect("clean shutdown");
}

/// AS-07: any grant type but authorization_code and refresh_token ⇒ unsupported_grant_type.
#[tokio::test]
async fn as07_unsupported_grants() {
    let server = TestAs::start().await;
    let obtained = obtain_tokens(&server.issuer, RESOURCE, "mcp:tools").await;
    let client_id = obtained.client.client_id.as_str();
    for grant in [
        "password",
        "client_credentials",
        "implicit",
        "urn:ietf:params:oauth:grant-type:device_code",
    ] {
        let response = token_request(
            &server.issuer,
            &[("grant_type", grant), ("client_id", client_id)],
        )
        .await;
        assert_eq!(
            error_of(response).await,
            (StatusCode::BAD_REQUEST, "unsupported_grant_type".into()),
            "{grant}"
        );
    }
    let response = token_request(&server.issuer, &[("client_id", client_id)]).await;
    assert_eq!(error_of(response).await.1, "invalid_request");
    server.shutdown().await.expect("clean shutdown");
}

/// AS-07: only form-encoded POST: JSON ⇒ 400; GET/PUT ⇒ 405 `Allow: POST`, all with `no-store`.
#[tokio::test]
async fn as07_form_encoded_post_only() {
    let server = TestAs::start().await;
    let response = http()
        .post(server.url("/token"))
        .json(&json!({ "grant_type": "authorization_code" }))
        .send()
        .await
        .expect("token");
    assert_eq!(
        error_of(response).await,
        (StatusCode::BAD_REQUEST, "invalid_request".into())
    );
    for method in [Method::GET, Method::PUT, Method::DELETE] {
        let response = http()
            .request(method.clone(), server.url("/token"))
            .send()
            .await
            .expect("token");
        assert_eq!(
            response.status(),
            StatusCode::METHOD_NOT_ALLOWED,
            "{method}"
        );
        assert_eq!(response.headers()["allow"], "POST", "{method}");
        assert_eq!(response.headers()["cache-control"], "no-store", "{method}");
    }
    server.shutdown().await.expect("clean shutdown");
}

/// AS-08: a refresh token works once; replaying it revokes the whole grant, rotated tokens included.
#[tokio::test]
async fn as08_refresh_replay_revokes_the_grant() {
    let server = TestAs::start().await;
    let obtained = obtain_tokens(&server.issuer, RESOURCE, "mcp:tools").await;
    let client_id = obtained.client.client_id.as_str();
    let first = obtained.tokens.refresh_token.unwrap();
    let refresh = |token: String| refresh_request(&server.issuer, client_id, token);
    let rotated: TokenResponse = refresh(first.clone()).await.json().await.expect("tokens");
    let second = rotated.refresh_token.clone().unwrap();
    assert_ne!(first, second);
    assert_eq!(
        introspect(&server.issuer, &rotated.access_token).await["active"],
        true
    );

    assert_eq!(
        error_of(refresh(first).await).await,
        (StatusCode::BAD_REQUEST, "invalid_grant".into())
    );
    assert_eq!(
        introspect(&server.issuer, &rotated.access_token).await,
        json!({ "active": false })
    );
    assert_eq!(
        introspect(&server.issuer, &obtained.tokens.access_token).await["active"],
        false
    );
    assert_eq!(error_of(refresh(second).await).await.1, "invalid_grant");
    server.shutdown().await.expect("clean shutdown");
}

/// AS-08: a refresh may narrow the scope but never widen it, and is bound to its client.
#[tokio::test]
async fn as08_refresh_cannot_widen_scope() {
    let server = TestAs::start_with(|config| {
        config.scopes = vec!["mcp:tools".into(), "mcp:admin".into()];
    })
    .await;
    let obtained = obtain_tokens(&server.issuer, RESOURCE, "mcp:tools").await;
    let client_id = obtained.client.client_id.as_str();
    let refresh = obtained.tokens.refresh_token.unwrap();
    let other = obtain_tokens(&server.issuer, RESOURCE, "mcp:tools").await;
    let stolen = token_request(
        &server.issuer,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &refresh),
            ("client_id", &other.client.client_id),
        ],
    )
    .await;
    assert_eq!(
        error_of(stolen).await.1,
        "invalid_grant",
        "bound to its client"
    );
    let wider = token_request(
        &server.issuer,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &refresh),
            ("client_id", client_id),
            ("scope", "mcp:tools mcp:admin"),
        ],
    )
    .await;
    assert_eq!(
        error_of(wider).await,
        (StatusCode::BAD_REQUEST, "invalid_scope".into())
    );
    let same = token_request(
        &server.issuer,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &refresh),
            ("client_id", client_id),
            ("scope", "mcp:tools"),
        ],
    )
    .await;
    assert_eq!(
        same.status(),
        StatusCode::OK,
        "a refused widening does not burn the token"
    );
    server.shutdown().await.expect("clean shutdown");
}

/// AS-07: every token response, success or error, carries `Cache-Control: no-store`.
#[tokio::test]
async fn as07_every_token_response_is_no_store() {
    let server = TestAs::start().await;
    let client = crate::support::register_public_client(&server.issuer).await;
    let pkce = Pkce::new();
    let code = authorize_code(&server.issuer, &client, &pkce).await;
    let ok = exchange_code(&server.issuer, &client, &code, &pkce).await;
    assert_eq!(ok.status(), StatusCode::OK);
    assert_eq!(ok.headers()["cache-control"], "no-store");
    assert_eq!(ok.headers()["content-type"], "application/json");
    let again = exchange_code(&server.issuer, &client, &code, &pkce).await;
    assert_eq!(error_of(again).await.1, "invalid_grant");
    server.shutdown().await.expect("clean shutdown");
}

/// AS-08: a grant's refresh tokens last fourteen days from the code's redemption, rotation
/// included: one refreshes two seconds before, the next is refused at the end (invalid_grant).
#[tokio::test]
async fn as08_refresh_tokens_last_fourteen_days() {
    const FOURTEEN_DAYS: u64 = 14 * 24 * 60 * 60;
    let clock = Clock::default();
    let server_clock = clock.clone();
    let server = TestAs::start_with(|config| config.clock = server_clock).await;
    let obtained = obtain_tokens(&server.issuer, RESOURCE, "mcp:tools").await;
    let client_id = obtained.client.client_id.as_str();
    let refresh = |token: String| refresh_request(&server.issuer, client_id, token);
    clock.advance(Duration::from_secs(FOURTEEN_DAYS - 2));
    let response = refresh(obtained.tokens.refresh_token.expect("a refresh token")).await;
    assert_eq!(response.status(), StatusCode::OK);
    let rotated: TokenResponse = response.json().await.expect("tokens");
    clock.advance(Duration::from_secs(2));
    let refused = refresh(rotated.refresh_token.expect("a rotated refresh token")).await;
    assert_eq!(
        error_of(refused).await,
        (StatusCode::BAD_REQUEST, "invalid_grant".into())
    );
    server.shutdown().await.expect("clean shutdown");
}
