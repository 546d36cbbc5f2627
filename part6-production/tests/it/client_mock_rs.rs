//! The mock protected MCP server: `greet` is public, `server_time` needs a
//! token with the configured scopes; every presented token is checked.

// Helpers outside `#[test]` functions may fail loudly too: this is test code.
#![allow(clippy::expect_used)]

use std::{borrow::Cow, sync::Arc};

use axum::{
    Json, Router,
    extract::{Request, State},
    http::{StatusCode, header},
    middleware::{self, Next},
    response::{IntoResponse, Response},
    routing::get,
};
use rmcp::{
    ServerHandler,
    handler::server::router::tool::ToolRouter,
    handler::server::wrapper::Parameters,
    model::{Implementation, ProtocolVersion, ServerCapabilities, ServerConfig},
    tool, tool_handler, tool_router,
    transport::streamable_http_server::{
        StreamableHttpServerConfig, StreamableHttpService, session::local::LocalSessionManager,
    },
};
use serde_json::{Value, json};

use crate::client_support::Shared;

#[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
pub struct GreetArgs {
    pub name: String,
}

#[derive(Debug, Clone)]
pub struct MockTools {
    tool_router: ToolRouter<Self>,
    /// Speak MCP 2026-07-28 and nothing older.
    modern_only: bool,
    /// What `greet` says instead of the greeting.
    greeting: Option<String>,
}

#[tool_router]
impl MockTools {
    fn new(modern_only: bool, greeting: Option<String>) -> Self {
        Self {
            tool_router: Self::tool_router(),
            modern_only,
            greeting,
        }
    }

    #[tool(description = "Greets")]
    async fn greet(&self, Parameters(args): Parameters<GreetArgs>) -> String {
        self.greeting
            .clone()
            .unwrap_or_else(|| format!("Hello, {}!", args.name))
    }

    #[tool(description = "The time")]
    async fn server_time(&self) -> String {
        "2026-01-01T00:00:00Z".into()
    }
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for MockTools {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new("mock-protected-rs", "9.9.9"))
    }

    fn supported_protocol_versions(&self) -> Cow<'static, [ProtocolVersion]> {
        if self.modern_only {
            Cow::Borrowed(&[ProtocolVersion::V_2026_07_28])
        } else {
            Cow::Borrowed(ProtocolVersion::KNOWN_VERSIONS)
        }
    }
}

pub fn rs_router(state: Shared) -> Router {
    let (modern_only, greeting) = {
        let state = state.lock().expect("state");
        (
            state.behaviour.modern_only,
            state.behaviour.greeting.clone(),
        )
    };
    let router = Router::new().route("/.well-known/oauth-protected-resource/mcp", get(prm));
    let router = if modern_only {
        // No sessions, and per-request protocol metadata required.
        let mut config = StreamableHttpServerConfig::default();
        config.legacy_session_mode = false;
        config.stateless_protocol_metadata_required = true;
        router.nest_service(
            "/mcp",
            StreamableHttpService::new(
                move || Ok(MockTools::new(true, greeting.clone())),
                Arc::new(LocalSessionManager::default()),
                config,
            ),
        )
    } else {
        router.nest_service(
            "/mcp",
            StreamableHttpService::new(
                move || Ok(MockTools::new(false, greeting.clone())),
                Arc::new(LocalSessionManager::default()),
                StreamableHttpServerConfig::default(),
            ),
        )
    };
    router
        .layer(middleware::from_fn_with_state(state.clone(), rs_guard))
        .with_state(state)
}

async fn prm(State(state): State<Shared>) -> Json<Value> {
    let state = state.lock().expect("state");
    let behaviour = &state.behaviour;
    let authorization_servers = match (
        &behaviour.prm_authorization_servers,
        &behaviour.migrate_to,
        state.migrated,
    ) {
        (Some(servers), _, _) => servers.clone(),
        (None, Some(other), true) => vec![other.lock().expect("other").issuer.clone()],
        _ => vec![state.issuer.clone()],
    };
    Json(json!({
        "resource": state.behaviour.prm_resource.clone().unwrap_or_else(|| state.mcp_url.clone()),
        "authorization_servers": authorization_servers,
        "scopes_supported": ["mcp:tools", "mcp:admin"],
        "bearer_methods_supported": ["header"],
    }))
}

/// RS-04 … RS-06 in miniature: every presented token is checked; `server_time` needs one.
async fn rs_guard(State(state): State<Shared>, request: Request, next: Next) -> Response {
    let authorization = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(String::from);
    let (parts, body) = request.into_parts();
    let bytes = axum::body::to_bytes(body, 1 << 20)
        .await
        .unwrap_or_default();
    let message: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    let protected = message["method"] == "tools/call" && message["params"]["name"] == "server_time";
    let version = parts
        .headers
        .get("mcp-protocol-version")
        .and_then(|v| v.to_str().ok())
        .map(String::from);
    let refusal = {
        let mut state = state.lock().expect("state");
        if let Some(method) = message["method"].as_str() {
            state.rs_methods.push((method.to_owned(), version.clone()));
            // A 2026-07-28 server has no `initialize` and wants the version
            // header on every request.
            let modern = state.behaviour.modern_only;
            if modern && (method == "initialize" || version.as_deref() != Some("2026-07-28")) {
                let error = json!({"jsonrpc": "2.0", "id": message["id"], "error": {
                    "code": -32600, "message": "this server speaks MCP 2026-07-28 only"}});
                return (StatusCode::BAD_REQUEST, Json(error)).into_response();
            }
        }
        state.rs_requests.push((
            parts.method.to_string(),
            parts.uri.to_string(),
            authorization.clone(),
        ));
        let prm_url = state
            .mcp_url
            .replace("/mcp", "/.well-known/oauth-protected-resource/mcp");
        let token = authorization
            .as_deref()
            .and_then(|value| value.strip_prefix("Bearer "));
        let issued = match (&state.behaviour.migrate_to, state.migrated) {
            (Some(other), true) => token.and_then(|token| {
                other
                    .lock()
                    .expect("other")
                    .access_tokens
                    .get(token)
                    .cloned()
            }),
            _ => token.and_then(|token| state.access_tokens.get(token).cloned()),
        };
        if issued.is_some() && state.behaviour.migrate_to.is_some() {
            // The first token of the first AS is the last one it accepts.
            state.migrated = true;
        }
        let behaviour = &state.behaviour;
        match (token, issued) {
            (Some(_), None) => Some((
                401,
                format!(r#"Bearer error="invalid_token", resource_metadata="{prm_url}""#),
            )),
            (Some(_), Some(issued)) if issued.resource != state.mcp_url => Some((
                401,
                format!(r#"Bearer error="invalid_token", resource_metadata="{prm_url}""#),
            )),
            (None, _) if protected => {
                let scope = behaviour
                    .challenge_scope
                    .as_ref()
                    .map(|s| format!(r#", scope="{s}""#))
                    .unwrap_or_default();
                Some((
                    401,
                    format!(r#"Bearer resource_metadata="{prm_url}"{scope}"#),
                ))
            }
            (Some(_), Some(issued))
                if protected
                    && !behaviour
                        .required_scopes
                        .iter()
                        .all(|s| issued.scopes.contains(s)) =>
            {
                let scope = behaviour.required_scopes.join(" ");
                Some((
                    403,
                    format!(
                        r#"Bearer error="insufficient_scope", scope="{scope}", resource_metadata="{prm_url}""#
                    ),
                ))
            }
            _ => None,
        }
    };
    if let Some((status, challenge)) = refusal {
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::UNAUTHORIZED);
        return (status, [(header::WWW_AUTHENTICATE, challenge)]).into_response();
    }
    next.run(Request::from_parts(parts, axum::body::Body::from(bytes)))
        .await
}
