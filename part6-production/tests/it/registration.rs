//! Dynamic Client Registration (RFC 7591; rule AS-06).

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::{REDIRECT_URI, TestAs, http};

async fn register(server: &TestAs, body: Value) -> (StatusCode, Option<String>, Value) {
    let response = http()
        .post(server.url("/register"))
        .json(&body)
        .send()
        .await
        .expect("register");
    let status = response.status();
    let cache = response
        .headers()
        .get("cache-control")
        .map(|value| value.to_str().unwrap().to_owned());
    (status, cache, response.json().await.expect("JSON"))
}

/// AS-06: the server assigns the id (a proposed one is ignored), answers 201 with `no-store`.
#[tokio::test]
async fn as06_server_assigns_ids() {
    let server = TestAs::start().await;
    let (status, cache, body) = register(
        &server,
        json!({
            "client_id": "i-choose-my-id",
            "redirect_uris": [REDIRECT_URI],
            "token_endpoint_auth_method": "none",
        }),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(cache.as_deref(), Some("no-store"));
    assert_ne!(body["client_id"], "i-choose-my-id");
    assert!(
        body.get("client_secret").is_none(),
        "a public client has no secret"
    );
    assert_eq!(
        body["grant_types"],
        json!(["authorization_code"]),
        "RFC 7591 default"
    );
    server.shutdown().await.expect("clean shutdown");
}

/// AS-06: confidential clients default to `client_secret_basic` and get a 256-bit secret.
#[tokio::test]
async fn as06_confidential_client_gets_a_secret() {
    let server = TestAs::start().await;
    let (status, _, body) = register(&server, json!({ "redirect_uris": [REDIRECT_URI] })).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(body["token_endpoint_auth_method"], "client_secret_basic");
    assert_eq!(body["client_secret"].as_str().unwrap().len(), 43);
    assert_eq!(body["client_secret_expires_at"], 0);
    server.shutdown().await.expect("clean shutdown");
}

/// AS-06: fragments, script schemes, plain http off loopback and relative URIs are refused.
#[tokio::test]
async fn as06_bad_redirect_uris_are_refused() {
    let server = TestAs::start().await;
    for uri in [
        "https://app.example/cb#fragment",
        "javascript:alert(1)",
        "data:text/html,<script>alert(1)</script>",
        "http://app.example/cb",
        "/cb",
        "com.example.app:/callback",
    ] {
        let (status, cache, body) = register(&server, json!({ "redirect_uris": [uri] })).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{uri}");
        assert_eq!(cache.as_deref(), Some("no-store"));
        assert_eq!(body["error"], "invalid_redirect_uri", "{uri}");
    }
    let (_, _, body) = register(&server, json!({ "client_name": "no uris" })).await;
    assert_eq!(body["error"], "invalid_redirect_uri");
    server.shutdown().await.expect("clean shutdown");
}

/// AS-06: unsupported grant types, response types or auth methods, and non-JSON, are refused.
#[tokio::test]
async fn as06_bad_metadata_is_refused() {
    let server = TestAs::start().await;
    for metadata in [
        json!({ "redirect_uris": [REDIRECT_URI], "grant_types": ["implicit"] }),
        json!({ "redirect_uris": [REDIRECT_URI], "grant_types": ["client_credentials"] }),
        json!({ "redirect_uris": [REDIRECT_URI], "response_types": ["token"] }),
        json!({ "redirect_uris": [REDIRECT_URI], "token_endpoint_auth_method": "private_key_jwt" }),
        json!({ "redirect_uris": REDIRECT_URI }),
    ] {
        let (status, _, body) = register(&server, metadata.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{metadata}");
        assert_eq!(body["error"], "invalid_client_metadata", "{metadata}");
    }
    let response = http()
        .post(server.url("/register"))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .expect("register");
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    server.shutdown().await.expect("clean shutdown");
}
