//! Protected Resource Metadata (rule RS-01 … RS-03).

use reqwest::StatusCode;

use crate::support::{TestServer, http};

/// RS-01, RS-02: the metadata is served at the path-inserted and the root URL, without a token.
#[tokio::test]
async fn rs01_rs02_metadata_at_both_paths() {
    let server = TestServer::start("http://localhost:9000").await;
    for path in [
        "/.well-known/oauth-protected-resource/mcp",
        "/.well-known/oauth-protected-resource",
    ] {
        let response = http()
            .get(format!("{}{path}", server.base_url))
            .send()
            .await
            .expect("request");
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        let metadata: serde_json::Value = response.json().await.expect("JSON");
        insta::assert_json_snapshot!("protected_resource_metadata", metadata);
    }
}

/// RS-02: the metadata is readable from a browser on any origin.
#[tokio::test]
async fn rs02_metadata_is_cors_enabled() {
    let server = TestServer::start("http://localhost:9000").await;
    let response = http()
        .get(format!(
            "{}/.well-known/oauth-protected-resource/mcp",
            server.base_url
        ))
        .header("origin", "https://inspector.example")
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["access-control-allow-origin"], "*");
}

/// RS-03: `resource` is the configured URL, whatever the `Host` header says.
#[tokio::test]
async fn rs03_resource_never_from_host_header() {
    let server = TestServer::start("http://localhost:9000").await;
    let response = http()
        .get(format!(
            "{}/.well-known/oauth-protected-resource/mcp",
            server.base_url
        ))
        .header("host", "attacker.example")
        .send()
        .await
        .expect("request");
    let metadata: serde_json::Value = response.json().await.expect("JSON");
    assert_eq!(metadata["resource"], "http://localhost:8000/mcp");
}
