//! Input caps and the login form's origin (rules AS-18, AS-20): what a
//! request may carry, and where a login form may come from.

use reqwest::StatusCode;
use serde_json::json;

use crate::support::{
    PASSWORD, Pkce, REDIRECT_URI, TestAs, USERNAME, authorize_params, http, open_login_page,
    redirect_params, register_public_client, submit_login, submit_login_with_headers,
};

/// A `state` over 1 KiB is an error page: never stored, never redirected.
#[tokio::test]
async fn as18_state_over_one_kib_gets_an_error_page() {
    let server = TestAs::start().await;
    let client = register_public_client(&server.issuer).await;
    let pkce = Pkce::new();
    let long_state = "s".repeat(1025);
    let page = open_login_page(
        &server.issuer,
        &authorize_params(&client.client_id, &pkce, &long_state),
    )
    .await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST);
    assert!(page.headers.get("location").is_none());
    assert!(page.body.contains("state parameter is longer than 1 KiB"));
    let fits = "s".repeat(1024);
    let page = open_login_page(
        &server.issuer,
        &authorize_params(&client.client_id, &pkce, &fits),
    )
    .await;
    assert_eq!(page.status, StatusCode::OK, "1 KiB exactly is fine");
    server.shutdown().await.expect("shutdown");
}

/// A repeated scope value is `invalid_request`, sent to the client after
/// the sign-in (rule AS-15).
#[tokio::test]
async fn as18_repeated_scope_is_invalid_request() {
    let server = TestAs::start().await;
    let client = register_public_client(&server.issuer).await;
    let pkce = Pkce::new();
    let mut params = authorize_params(&client.client_id, &pkce, "st");
    for param in &mut params {
        if param.0 == "scope" {
            param.1 = "mcp:tools mcp:tools";
        }
    }
    let page = open_login_page(&server.issuer, &params).await;
    assert_eq!(page.status, StatusCode::OK);
    let response = submit_login(&server.issuer, &page, USERNAME, PASSWORD, "approve").await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let params = redirect_params(&response);
    assert_eq!(params["error"], "invalid_request");
    assert!(!params.contains_key("code"));
    server.shutdown().await.expect("shutdown");
}

/// Registration refuses wildcard and pattern redirect URIs, and repeated
/// values in its lists.
#[tokio::test]
async fn as18_registration_refuses_patterns_and_repeats() {
    let server = TestAs::start().await;
    let cases = [
        (
            json!({"redirect_uris": ["https://*.example.com/cb"]}),
            "invalid_redirect_uri",
        ),
        (
            json!({"redirect_uris": ["https://app.example.com/{path}"]}),
            "invalid_redirect_uri",
        ),
        (
            json!({"redirect_uris": ["https://app.example.com/*"]}),
            "invalid_redirect_uri",
        ),
        (
            json!({"redirect_uris": ["http://app.example.com/cb"], "token_endpoint_auth_method": "none"}),
            "invalid_redirect_uri",
        ),
        (
            json!({"redirect_uris": [REDIRECT_URI, REDIRECT_URI]}),
            "invalid_client_metadata",
        ),
        (
            json!({"redirect_uris": [REDIRECT_URI], "grant_types": ["authorization_code", "authorization_code"]}),
            "invalid_client_metadata",
        ),
    ];
    for (metadata, error) in cases {
        let response = http()
            .post(server.url("/register"))
            .json(&metadata)
            .send()
            .await
            .expect("register");
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{metadata}");
        let body: serde_json::Value = response.json().await.expect("json");
        assert_eq!(body["error"], error, "{metadata}");
    }
    server.shutdown().await.expect("shutdown");
}

/// A login form posted cross-site — by Fetch Metadata or by a foreign
/// `Origin` — is refused with 403 and no code; the AS's own origin passes.
#[tokio::test]
async fn as20_cross_site_login_posts_are_forbidden() {
    let server = TestAs::start().await;
    let client = register_public_client(&server.issuer).await;
    let pkce = Pkce::new();
    let page = open_login_page(
        &server.issuer,
        &authorize_params(&client.client_id, &pkce, "st"),
    )
    .await;
    for headers in [
        &[("sec-fetch-site", "cross-site")][..],
        &[("origin", "https://evil.example")][..],
        &[("origin", "null"), ("sec-fetch-site", "cross-site")][..],
    ] {
        let response = submit_login_with_headers(
            &server.issuer,
            &page,
            USERNAME,
            PASSWORD,
            "approve",
            headers,
        )
        .await;
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "{headers:?}");
        assert!(response.headers().get("location").is_none(), "{headers:?}");
    }
    let response = submit_login_with_headers(
        &server.issuer,
        &page,
        USERNAME,
        PASSWORD,
        "approve",
        &[
            ("origin", &server.issuer),
            ("sec-fetch-site", "same-origin"),
        ],
    )
    .await;
    assert_eq!(
        response.status(),
        StatusCode::SEE_OTHER,
        "the real form still works"
    );
    assert!(redirect_params(&response).contains_key("code"));
    // A browser posts its own form with `Origin: null` when the page's
    // referrer policy is no-referrer, as the login page's is.
    let page = open_login_page(
        &server.issuer,
        &authorize_params(&client.client_id, &pkce, "st2"),
    )
    .await;
    let response = submit_login_with_headers(
        &server.issuer,
        &page,
        USERNAME,
        PASSWORD,
        "approve",
        &[("origin", "null"), ("sec-fetch-site", "same-origin")],
    )
    .await;
    assert_eq!(
        response.status(),
        StatusCode::SEE_OTHER,
        "Origin: null, same-origin"
    );
    server.shutdown().await.expect("shutdown");
}

/// The consent page says so when the redirect goes to this computer.
#[tokio::test]
async fn as20_loopback_redirect_is_flagged_on_the_consent_page() {
    let server = TestAs::start().await;
    let client = register_public_client(&server.issuer).await;
    let pkce = Pkce::new();
    let page = open_login_page(
        &server.issuer,
        &authorize_params(&client.client_id, &pkce, "st"),
    )
    .await;
    assert!(REDIRECT_URI.starts_with("http://127.0.0.1"));
    assert!(
        page.body.contains("That address is on this computer"),
        "{}",
        page.body
    );

    let https = crate::support::register_client(
        &server.issuer,
        json!({"redirect_uris": ["https://app.example.com/cb"], "token_endpoint_auth_method": "none"}),
    )
    .await;
    let mut params = authorize_params(&https.client_id, &pkce, "st");
    for param in &mut params {
        if param.0 == "redirect_uri" {
            param.1 = "https://app.example.com/cb";
        }
    }
    let page = open_login_page(&server.issuer, &params).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(!page.body.contains("That address is on this computer"));
    server.shutdown().await.expect("shutdown");
}
