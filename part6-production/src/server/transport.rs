//! Transport hygiene for the MCP endpoint (rule TR-01 … TR-03): the
//! Origin/Host guard, CORS, and the body check. Unchanged from part 1 but
//! for [`JsonRpcBody`], which authorization reads.

use std::sync::Arc;

use axum::{
    extract::{Request, State},
    http::{HeaderName, HeaderValue, Method, StatusCode, header},
    middleware::Next,
    response::{IntoResponse, Response},
};
use tower_http::cors::{AllowOrigin, CorsLayer};

use crate::settings::Config;

/// The largest JSON-RPC body accepted; larger ones get 413.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// The parsed JSON-RPC body of a POST, left by [`reject_malformed_json`].
#[derive(Debug, Clone)]
pub struct JsonRpcBody(pub Arc<serde_json::Value>);

/// The headers a browser client may send (rule TR-03).
const CORS_ALLOW_HEADERS: [&str; 7] = [
    "authorization",
    "content-type",
    "mcp-protocol-version",
    "mcp-session-id",
    "last-event-id",
    "mcp-method",
    "mcp-name",
];
/// The response headers a browser client may read (rule TR-03).
const CORS_EXPOSE_HEADERS: [&str; 3] =
    ["www-authenticate", "mcp-session-id", "mcp-protocol-version"];

// ANCHOR: transport_guard
/// The DNS-rebinding defence of rule TR-01: which `Origin` and `Host`
/// values may reach the server.
#[derive(Debug)]
pub(crate) struct TransportGuard {
    pub(crate) allowed_hosts: Vec<String>,
    allowed_origins: Vec<String>,
}

impl TransportGuard {
    pub(crate) fn new(config: &Config) -> Self {
        let mut allowed_hosts: Vec<String> = ["localhost", "127.0.0.1", "::1", "[::1]"]
            .into_iter()
            .map(String::from)
            .collect();
        if !allowed_hosts.contains(&config.host) && config.host != "0.0.0.0" {
            allowed_hosts.push(config.host.clone());
        }
        let allowed_origins = config
            .allowed_origins
            .iter()
            .map(|origin| origin.trim().trim_end_matches('/').to_ascii_lowercase())
            .filter(|origin| !origin.is_empty())
            .collect();
        Self {
            allowed_hosts,
            allowed_origins,
        }
    }

    /// A browser origin is allowed when it is a loopback origin (any port) or
    /// listed in the configuration. `null` (sandboxed frames, file pages) is not.
    fn origin_allowed(&self, origin: &str) -> bool {
        let origin = origin.to_ascii_lowercase();
        if self.allowed_origins.contains(&origin) {
            return true;
        }
        let Some(authority) = origin
            .strip_prefix("http://")
            .or_else(|| origin.strip_prefix("https://"))
        else {
            return false;
        };
        is_loopback_host(host_of(authority))
    }

    /// The `Host` header must name this server, not an attacker's domain
    /// that resolves to 127.0.0.1.
    fn host_allowed(&self, host: &str) -> bool {
        let host = host_of(host);
        self.allowed_hosts
            .iter()
            .any(|allowed| allowed.eq_ignore_ascii_case(host))
    }
}

/// The host part of an authority (`localhost:8000` ⇒ `localhost`,
/// `[::1]:8000` ⇒ `[::1]`).
fn host_of(authority: &str) -> &str {
    if authority.starts_with('[') {
        return authority
            .find(']')
            .map_or(authority, |end| &authority[..=end]);
    }
    authority.split(':').next().unwrap_or(authority)
}

fn is_loopback_host(host: &str) -> bool {
    matches!(host, "localhost" | "127.0.0.1" | "[::1]")
}

/// Runs before everything else, preflights included: a present `Origin`
/// that is not allowed, or a `Host` that is not ours, ends the request with
/// 403 (rule TR-01).
pub(crate) async fn transport_guard(
    State(guard): State<Arc<TransportGuard>>,
    request: Request,
    next: Next,
) -> Response {
    if let Some(origin) = request.headers().get(header::ORIGIN) {
        let allowed = origin
            .to_str()
            .is_ok_and(|origin| guard.origin_allowed(origin));
        if !allowed {
            tracing::warn!(origin = ?origin, "refused a request from a foreign origin");
            return forbidden("Forbidden: origin not allowed");
        }
    }
    let host = request
        .headers()
        .get(header::HOST)
        .and_then(|host| host.to_str().ok())
        .map(str::to_owned)
        .or_else(|| request.uri().authority().map(|a| a.as_str().to_owned()));
    if !host.is_some_and(|host| guard.host_allowed(&host)) {
        tracing::warn!("refused a request for a foreign Host");
        return forbidden("Forbidden: host not allowed");
    }
    next.run(request).await
}

fn forbidden(message: &'static str) -> Response {
    (StatusCode::FORBIDDEN, message).into_response()
}

/// CORS for browser-based MCP clients (rule TR-03). Preflights are
/// answered here and never reach authentication.
pub(crate) fn cors_layer(guard: Arc<TransportGuard>) -> CorsLayer {
    CorsLayer::new()
        .allow_origin(AllowOrigin::predicate(
            move |origin: &HeaderValue, _: &http::request::Parts| {
                origin
                    .to_str()
                    .is_ok_and(|origin| guard.origin_allowed(origin))
            },
        ))
        .allow_methods([Method::GET, Method::POST, Method::DELETE, Method::OPTIONS])
        .allow_headers(CORS_ALLOW_HEADERS.map(HeaderName::from_static))
        .expose_headers(CORS_EXPOSE_HEADERS.map(HeaderName::from_static))
}
// ANCHOR_END: transport_guard

/// Request bodies parsed at once (rule AS-19's "under a concurrency limit").
static JSON_PARSES: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(16);

// ANCHOR: reject_malformed_json
/// Reads a POST body (at most [`MAX_BODY_BYTES`], else 413) and answers a body
/// that is not JSON with HTTP 400 and the JSON-RPC parse error `-32700`
/// (JSON-RPC 2.0 §5.1), which is what a client expects. Without this the SDK
/// answers 415, as if the media type were wrong.
///
/// The parsed body is kept in the request's extensions as [`JsonRpcBody`], so
/// that authorization can see which tool is called without reading it again.
pub(crate) async fn reject_malformed_json(request: Request, next: Next) -> Response {
    if request.method() != Method::POST {
        return next.run(request).await;
    }
    let (parts, body) = request.into_parts();
    let bytes = match axum::body::to_bytes(body, MAX_BODY_BYTES).await {
        Ok(bytes) => bytes,
        Err(_) => {
            return (
                StatusCode::PAYLOAD_TOO_LARGE,
                "Payload Too Large: body over the limit",
            )
                .into_response();
        }
    };
    // Parsing takes CPU in proportion to the body: a few at a time, so a
    // burst of large bodies queues here instead of starving the rest.
    let parsed = match JSON_PARSES.acquire().await {
        Ok(_permit) => serde_json::from_slice::<serde_json::Value>(&bytes),
        Err(_) => return StatusCode::SERVICE_UNAVAILABLE.into_response(),
    };
    let Ok(parsed) = parsed else {
        let error = serde_json::json!({
            "jsonrpc": "2.0",
            "id": null,
            "error": { "code": -32700, "message": "Parse error: the body is not valid JSON" },
        });
        return (StatusCode::BAD_REQUEST, axum::Json(error)).into_response();
    };
    let mut request = Request::from_parts(parts, axum::body::Body::from(bytes));
    request
        .extensions_mut()
        .insert(JsonRpcBody(Arc::new(parsed)));
    next.run(request).await
}
// ANCHOR_END: reject_malformed_json

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_of_strips_the_port() {
        assert_eq!(host_of("localhost:8000"), "localhost");
        assert_eq!(host_of("[::1]:8000"), "[::1]");
        assert_eq!(host_of("127.0.0.1"), "127.0.0.1");
    }

    #[test]
    fn tr01_origin_allow_list() {
        let guard = TransportGuard::new(&Config {
            allowed_origins: vec!["https://app.example.com/".into()],
            ..Config::for_tests("http://localhost:9000")
        });
        assert!(guard.origin_allowed("http://localhost:6274"));
        assert!(guard.origin_allowed("http://127.0.0.1"));
        assert!(guard.origin_allowed("https://APP.example.com"));
        assert!(!guard.origin_allowed("http://localhost.evil.com"));
        assert!(!guard.origin_allowed("http://evil.com"));
        assert!(!guard.origin_allowed("null"));
    }

    #[test]
    fn tr01_host_allow_list() {
        let guard = TransportGuard::new(&Config::for_tests("http://localhost:9000"));
        assert!(guard.host_allowed("localhost:8000"));
        assert!(guard.host_allowed("[::1]:8000"));
        assert!(!guard.host_allowed("rebind.evil.com:8000"));
    }
}
