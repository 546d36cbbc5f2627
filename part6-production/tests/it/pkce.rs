//! PKCE S256 (RFC 7636; rule AS-02), through the real endpoints.

use reqwest::StatusCode;
use serde_json::Value;

use crate::support::{
    LoginPage, PASSWORD, Pkce, TestAs, USERNAME, authorize_code, authorize_params, exchange_code,
    open_login_page, redirect_params, register_public_client, submit_login,
};

/// Signs in on `page` and returns the redirect's parameters.
async fn sign_in(server: &TestAs, page: &LoginPage) -> std::collections::HashMap<String, String> {
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let response = submit_login(&server.issuer, page, USERNAME, PASSWORD, "approve").await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    redirect_params(&response)
}

/// AS-02: a missing challenge, `plain`, an omitted method or a malformed challenge ⇒ redirect with invalid_request (after sign-in).
#[tokio::test]
async fn as02_authorize_requires_s256() {
    let server = TestAs::start().await;
    let client = register_public_client(&server.issuer).await;
    let pkce = Pkce::new();
    let cases: [(&str, Option<&str>, Option<&str>); 5] = [
        ("missing challenge", None, Some("S256")),
        ("plain", Some(&pkce.verifier), Some("plain")),
        ("omitted method", Some(&pkce.challenge), None),
        ("short challenge", Some("abc"), Some("S256")),
        (
            "not base64url",
            Some("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw+cM"),
            Some("S256"),
        ),
    ];
    for (case, challenge, method) in cases {
        let mut params = authorize_params(&client.client_id, &pkce, "s t&a%te");
        params.retain(|(name, _)| !name.starts_with("code_challenge"));
        params.extend(challenge.map(|c| ("code_challenge", c)));
        params.extend(method.map(|m| ("code_challenge_method", m)));
        let page = open_login_page(&server.issuer, &params).await;
        let redirect = sign_in(&server, &page).await;
        assert_eq!(redirect["error"], "invalid_request", "{case}");
        assert_eq!(redirect["state"], "s t&a%te", "{case}");
        assert_eq!(redirect["iss"], server.issuer, "{case}");
        assert!(!redirect.contains_key("code"), "{case}");
    }
    server.shutdown().await.expect("clean shutdown");
}

/// AS-02: a missing, wrong or malformed verifier ⇒ 400 invalid_grant; the right one still works after.
#[tokio::test]
async fn as02_token_requires_the_right_verifier() {
    let server = TestAs::start().await;
    let client = register_public_client(&server.issuer).await;
    let pkce = Pkce::new();
    let code = authorize_code(&server.issuer, &client, &pkce).await;
    let other = Pkce::new();
    for verifier in [
        String::new(),
        other.verifier.clone(),
        pkce.challenge.clone(),
        pkce.verifier[..42].to_owned(),
        format!("{}!", &pkce.verifier),
        "a".repeat(129),
    ] {
        let wrong = Pkce {
            verifier: verifier.clone(),
            challenge: String::new(),
        };
        let response = exchange_code(&server.issuer, &client, &code, &wrong).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{verifier:?}");
        let body: Value = response.json().await.expect("JSON");
        assert_eq!(body["error"], "invalid_grant", "{verifier:?}");
    }
    let response = exchange_code(&server.issuer, &client, &code, &pkce).await;
    assert_eq!(
        response.status(),
        StatusCode::OK,
        "failed verifiers burn nothing"
    );
    server.shutdown().await.expect("clean shutdown");
}
