//! Redirect URIs at the authorization endpoint (rule AS-04, AS-05, AS-15).

use reqwest::StatusCode;
use serde_json::json;

use crate::support::{
    PASSWORD, Pkce, TestAs, USERNAME, authorize_params, open_login_page, redirect_params,
    register_client, register_public_client, submit_login,
};

/// Asserts an HTML error page that sends the browser nowhere.
fn assert_error_page(page: &crate::support::LoginPage, case: &str) {
    assert_eq!(page.status, StatusCode::BAD_REQUEST, "{case}");
    assert!(
        page.headers.get("location").is_none(),
        "{case}: no redirect"
    );
    assert!(
        page.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html"),
        "{case}"
    );
    assert!(page.csrf.is_empty(), "{case}: no login form");
}

/// AS-04: an unknown client, or no redirect_uri, gets an error page, never a redirect.
#[tokio::test]
async fn as04_unknown_client_gets_a_page() {
    let server = TestAs::start().await;
    let client = register_public_client(&server.issuer).await;
    let pkce = Pkce::new();
    let mut params = authorize_params("no-such-client", &pkce, "s");
    let page = open_login_page(&server.issuer, &params).await;
    assert_error_page(&page, "unknown client");
    params = authorize_params(&client.client_id, &pkce, "s");
    params.retain(|(name, _)| *name != "redirect_uri");
    let page = open_login_page(&server.issuer, &params).await;
    assert_error_page(&page, "no redirect_uri");
    server.shutdown().await.expect("clean shutdown");
}

/// AS-04: a redirect URI that is not exactly a registered one gets an error page.
#[tokio::test]
async fn as04_redirect_tricks_get_a_page() {
    let server = TestAs::start().await;
    let client = register_client(
        &server.issuer,
        json!({ "redirect_uris": ["https://app.example/cb"], "token_endpoint_auth_method": "none" }),
    )
    .await;
    let pkce = Pkce::new();
    for trick in [
        "https://app.example/cb/",
        "https://app.example/cbx",
        "https://app.example/cb?extra=1",
        "https://app.example/cb#fragment",
        "https://evil.example/cb",
        "https://app.example.evil.example/cb",
        "http://app.example/cb",
        "https://app.example:8443/cb",
        "https://APP.EXAMPLE/cb",
    ] {
        let mut params = authorize_params(&client.client_id, &pkce, "s");
        params.retain(|(name, _)| *name != "redirect_uri");
        params.push(("redirect_uri", trick));
        let page = open_login_page(&server.issuer, &params).await;
        assert_error_page(&page, trick);
    }
    server.shutdown().await.expect("clean shutdown");
}

/// AS-04: a loopback IP redirect URI matches on any port (RFC 8252 §7.3), and the code goes to that port.
#[tokio::test]
async fn as04_loopback_redirect_any_port() {
    let server = TestAs::start().await;
    let client = register_client(
        &server.issuer,
        json!({
            "redirect_uris": ["http://127.0.0.1/callback", "http://[::1]/callback"],
            "token_endpoint_auth_method": "none",
        }),
    )
    .await;
    let pkce = Pkce::new();
    for uri in [
        "http://127.0.0.1:53127/callback",
        "http://[::1]:61000/callback",
    ] {
        let mut params = authorize_params(&client.client_id, &pkce, "s");
        params.retain(|(name, _)| *name != "redirect_uri");
        params.push(("redirect_uri", uri));
        let page = open_login_page(&server.issuer, &params).await;
        assert_eq!(page.status, StatusCode::OK, "{uri}");
        let response = submit_login(&server.issuer, &page, USERNAME, PASSWORD, "approve").await;
        let location = response.headers()["location"].to_str().unwrap();
        assert!(location.starts_with(&format!("{uri}?code=")), "{location}");
    }
    let mut params = authorize_params(&client.client_id, &pkce, "s");
    params.retain(|(name, _)| *name != "redirect_uri");
    params.push(("redirect_uri", "http://127.0.0.1:53127/callback/other"));
    assert_error_page(
        &open_login_page(&server.issuer, &params).await,
        "other path",
    );
    server.shutdown().await.expect("clean shutdown");
}

/// AS-15: an otherwise valid request with an error shows the login page; the error reaches the client only after sign-in.
#[tokio::test]
async fn as15_errors_wait_for_sign_in() {
    let server = TestAs::start().await;
    let client = register_public_client(&server.issuer).await;
    let pkce = Pkce::new();
    let cases = [
        ("scope", "unknown:scope", "invalid_scope"),
        ("resource", "https://other.example/mcp", "invalid_target"),
        ("response_type", "token", "unsupported_response_type"),
    ];
    for (name, value, error) in cases {
        let mut params = authorize_params(&client.client_id, &pkce, "s");
        params.retain(|(param, _)| *param != name);
        params.extend([(name, value), ("prompt", "none")]);
        let page = open_login_page(&server.issuer, &params).await;
        assert_eq!(
            page.status,
            StatusCode::OK,
            "{error}: the login page, not a redirect"
        );
        assert!(page.headers.get("location").is_none());
        let wrong = submit_login(&server.issuer, &page, USERNAME, "wrong", "approve").await;
        assert_eq!(
            wrong.status(),
            StatusCode::OK,
            "{error}: no redirect for a failed sign-in"
        );
        let response = submit_login(&server.issuer, &page, USERNAME, PASSWORD, "approve").await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        let redirect = redirect_params(&response);
        assert_eq!(redirect["error"], error);
        assert_eq!(redirect["state"], "s");
        assert_eq!(redirect["iss"], server.issuer);
    }
    server.shutdown().await.expect("clean shutdown");
}
