//! The authorization server's metadata (RFC 8414; rule AS-01, AS-13).

use reqwest::StatusCode;
use serde_json::Value;

use crate::support::{TestAs, http};

/// The metadata path of RFC 8414 §3.
const METADATA: &str = "/.well-known/oauth-authorization-server";

/// Replaces the test server's address in snapshots, so they do not depend on the port.
const ISSUER_FILTER: (&str, &str) = (r"http://127\.0\.0\.1:\d+", "[issuer]");

/// AS-01: the metadata lists exactly what this part implements.
#[tokio::test]
async fn as01_metadata_snapshot() {
    let server = TestAs::start().await;
    let response = http()
        .get(server.url(METADATA))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()["content-type"],
        "application/json",
        "metadata is JSON"
    );
    let metadata: Value = response.json().await.expect("JSON");
    insta::with_settings!({ filters => vec![ISSUER_FILTER] }, {
        insta::assert_json_snapshot!("as_metadata", metadata);
    });
    server.shutdown().await.expect("clean shutdown");
}

/// AS-01: `issuer` is the configured string byte for byte, with no slash added or removed.
#[tokio::test]
async fn as01_issuer_is_byte_identical() {
    for issuer in ["https://auth.example.com", "https://auth.example.com/"] {
        let server = TestAs::start_with(|config| config.issuer = issuer.into()).await;
        let metadata: Value = http()
            .get(server.url(METADATA))
            .send()
            .await
            .expect("request")
            .json()
            .await
            .expect("JSON");
        assert_eq!(metadata["issuer"], issuer);
        server.shutdown().await.expect("clean shutdown");
    }
}

/// AS-13: a method the metadata endpoint does not serve gets 405 with `Allow`.
#[tokio::test]
async fn as13_wrong_method_gets_405_with_allow() {
    let server = TestAs::start().await;
    for method in [
        reqwest::Method::POST,
        reqwest::Method::PUT,
        reqwest::Method::DELETE,
    ] {
        let response = http()
            .request(method.clone(), server.url(METADATA))
            .send()
            .await
            .expect("request");
        assert_eq!(
            response.status(),
            StatusCode::METHOD_NOT_ALLOWED,
            "{method}"
        );
        let allow = response.headers()["allow"].to_str().expect("ASCII");
        assert!(allow.contains("GET"), "Allow names GET: {allow}");
    }
    server.shutdown().await.expect("clean shutdown");
}

/// AS-01: a browser-based client can read the metadata from another origin.
#[tokio::test]
async fn as01_metadata_is_readable_cross_origin() {
    let server = TestAs::start().await;
    let response = http()
        .get(server.url(METADATA))
        .header("origin", "http://localhost:6274")
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["access-control-allow-origin"], "*");
    server.shutdown().await.expect("clean shutdown");
}
