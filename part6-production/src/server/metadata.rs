//! Protected Resource Metadata (RFC 9728): how a client that got a 401 finds
//! out which authorization server to ask, for which resource and scopes.

use std::sync::Arc;

use axum::{Json, Router, extract::State, http::header, response::IntoResponse, routing::get};
use serde::Serialize;
use tower_http::cors::{Any, CorsLayer};

use crate::settings::AuthSettings;

// ANCHOR: protected_resource_metadata
/// The document of RFC 9728 §2 (rule RS-01).
#[derive(Debug, Serialize)]
pub struct ProtectedResourceMetadata {
    /// The canonical MCP URL, exactly as configured (rule RS-03): never
    /// derived from the `Host` header, which a client controls.
    pub resource: String,
    pub authorization_servers: Vec<String>,
    pub scopes_supported: Vec<String>,
    /// Tokens only in the `Authorization` header (rule RS-08).
    pub bearer_methods_supported: Vec<&'static str>,
    pub resource_name: &'static str,
}

/// Serves the metadata at the path-inserted location of RFC 9728 §3.1 and at
/// the root form, without authentication, readable from any origin
/// (rule RS-02): it holds nothing secret.
pub fn routes(settings: Arc<AuthSettings>) -> Router {
    let path = url::Url::parse(&settings.resource)
        .map(|url| url.path().trim_end_matches('/').to_owned())
        .unwrap_or_default();
    let metadata = ProtectedResourceMetadata {
        resource: settings.resource.clone(),
        authorization_servers: vec![settings.authorization_server.clone()],
        scopes_supported: settings.scopes_supported(),
        bearer_methods_supported: vec!["header"],
        resource_name: "MCP demo resource server",
    };
    let metadata = Arc::new(serde_json::to_value(metadata).unwrap_or_default());
    let mut router = Router::new().route(
        "/.well-known/oauth-protected-resource",
        get(protected_resource_metadata),
    );
    if !path.is_empty() {
        router = router.route(
            &format!("/.well-known/oauth-protected-resource{path}"),
            get(protected_resource_metadata),
        );
    }
    router
        .with_state(metadata)
        .layer(CorsLayer::new().allow_origin(Any).allow_methods(Any))
}

async fn protected_resource_metadata(
    State(metadata): State<Arc<serde_json::Value>>,
) -> impl IntoResponse {
    (
        [(header::CACHE_CONTROL, "public, max-age=3600")],
        Json(metadata.as_ref().clone()),
    )
}
// ANCHOR_END: protected_resource_metadata
