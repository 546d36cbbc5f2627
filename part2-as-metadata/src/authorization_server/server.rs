//! The web layer of the authorization server: routes, extraction and
//! responses.
//!
//! Handlers here translate between HTTP and the [`Provider`]. They never
//! decide whether something is allowed; they ask the provider and render
//! its answer.

use std::sync::Arc;

use axum::{
    Json, Router,
    extract::State,
    http::{HeaderName, Method},
    response::IntoResponse,
    routing::get,
};
use tower_http::cors::{Any, CorsLayer};

use super::provider::Provider;

/// Where RFC 8414 §3 puts the metadata of an issuer without a path.
pub const METADATA_PATH: &str = "/.well-known/oauth-authorization-server";

// ANCHOR: routes
/// The route table. Each route names the methods it serves, so any other
/// method gets 405 with an `Allow` header from axum (rule AS-13).
pub fn routes(provider: Arc<Provider>) -> Router {
    Router::new()
        .route(METADATA_PATH, get(metadata).layer(public_cors()))
        .with_state(provider)
}
// ANCHOR_END: routes

// ANCHOR: metadata_handler
/// `GET /.well-known/oauth-authorization-server` (RFC 8414 §3): the
/// metadata as JSON, readable without authentication.
async fn metadata(State(provider): State<Arc<Provider>>) -> impl IntoResponse {
    Json(provider.metadata())
}
// ANCHOR_END: metadata_handler

/// CORS for the endpoints a browser-based MCP client calls directly.
/// No cookies are involved there, so any origin may read the answers.
fn public_cors() -> CorsLayer {
    CorsLayer::new()
        .allow_origin(Any)
        .allow_methods([Method::GET, Method::POST])
        .allow_headers([
            HeaderName::from_static("authorization"),
            HeaderName::from_static("content-type"),
            HeaderName::from_static("mcp-protocol-version"),
        ])
}
