//! Part 3: the public MCP server of part 1, plus a complete OAuth 2.1
//! authorization server.
//!
//! Two servers live in this crate, each with its own binary:
//!
//! - `part3-rs` (`src/main.rs`) runs the MCP server, which is unchanged since
//!   part 1 and still lives in this file, read from top to bottom:
//!   - [`Config`]: the command-line flags and their environment fallbacks.
//!   - [`DemoServer`]: the two MCP tools, `greet` and `server_time`.
//!   - [`router`]: the axum application — the MCP endpoint at `/mcp` behind
//!     the transport guards (Origin, Host, CORS; rule TR-01 … TR-03).
//!   - [`serve`]: runs the router on an already-bound listener until a shutdown
//!     future completes, so tests bind `127.0.0.1:0` and spawn it.
//! - `part3-as` (`src/bin/authorization_server.rs`) runs the
//!   [`authorization_server`]: client registration, the login page, codes,
//!   tokens, introspection and revocation. Part 4 makes the MCP server ask it
//!   about every token.
//! - [`limits`] and [`holders`]: what keeps both up under floods and slow
//!   clients (rules AS-16 … AS-19).
//! - [`clock`]: the time token expiry is read from, which tests move forward.
//!
//! Every tool is public here. Part 4 protects `server_time` with OAuth.

pub mod authorization_server;
pub mod clock;
pub mod holders;
pub mod limits;

use std::{future::Future, net::SocketAddr, sync::Arc};

use axum::{
    Router,
    extract::{Request, State},
    http::{HeaderName, HeaderValue, Method, StatusCode, header},
    middleware::{self, Next},
    response::{IntoResponse, Response},
    serve::ListenerExt,
};
use chrono::{SecondsFormat, Utc};
use rmcp::{
    Json, ServerHandler,
    handler::server::{common::schema_for_output, router::tool::ToolRouter, wrapper::Parameters},
    model::{CallToolResult, ContentBlock, Implementation, ServerCapabilities, ServerConfig},
    tool, tool_handler, tool_router,
    transport::streamable_http_server::{
        StreamableHttpServerConfig, StreamableHttpService, session::local::LocalSessionManager,
    },
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tower_http::cors::{AllowOrigin, CorsLayer};

// ANCHOR: config
/// Configuration of the resource server: flags with environment fallbacks.
#[derive(Debug, Clone, clap::Parser)]
#[command(about = "Part 1: a public MCP server (greet, server_time) over Streamable HTTP")]
pub struct Config {
    /// Address to bind. Keep the loopback default unless a proxy in front of
    /// the server checks Origin and Host for you (rule TR-01).
    #[arg(long, env = "RS_HOST", default_value = "127.0.0.1")]
    pub host: String,
    /// Port to bind; 0 picks a free port and the bound address is logged.
    #[arg(long, env = "RS_PORT", default_value_t = 8000)]
    pub port: u16,
    /// Name the server reports in the MCP `initialize` result.
    #[arg(
        long,
        env = "RS_SERVER_NAME",
        default_value = "mcp-demo-resource-server"
    )]
    pub server_name: String,
    /// Log filter, in `RUST_LOG` syntax (`info`, `debug`, `part3_as_full=trace`).
    #[arg(long, env = "RS_LOG_LEVEL", default_value = "info")]
    pub log_level: String,
    /// Extra browser origins allowed to call the endpoint, comma-separated
    /// (`https://app.example.com`). Loopback origins on any port are always allowed.
    #[arg(long, env = "RS_ALLOWED_ORIGINS", value_delimiter = ',')]
    pub allowed_origins: Vec<String>,
}
// ANCHOR_END: config

impl Config {
    /// The defaults, as if no flag and no environment variable were given.
    pub fn for_tests() -> Self {
        Self {
            host: "127.0.0.1".into(),
            port: 0,
            server_name: "mcp-demo-resource-server".into(),
            log_level: "info".into(),
            allowed_origins: Vec::new(),
        }
    }
}

// ANCHOR: tool_types
/// Arguments of the `greet` tool. The doc comments become the JSON Schema
/// descriptions a client shows to its user or model.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct GreetArgs {
    /// Who to greet. A blank name greets "there".
    pub name: String,
    /// What ends the greeting.
    #[serde(default = "default_punctuation")]
    pub punctuation: String,
}

fn default_punctuation() -> String {
    "!".into()
}

/// Structured result of `greet`.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
pub struct Greeting {
    /// The full greeting, `Hello, {name}{punctuation}`.
    pub greeting: String,
}

/// Structured result of `server_time`.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
pub struct ServerTime {
    /// The current time in RFC 3339 form, always in UTC (`...Z`).
    pub current_time: String,
    /// Always `UTC`.
    pub timezone: String,
    /// Seconds since the Unix epoch.
    pub timestamp: i64,
    /// The same instant for people: `Friday, 27 November 2026 03:28:23 UTC`.
    pub formatted: String,
}
// ANCHOR_END: tool_types

// ANCHOR: tools
/// The MCP server: its name and the tools it offers.
#[derive(Debug, Clone)]
pub struct DemoServer {
    name: String,
    tool_router: ToolRouter<Self>,
}

#[tool_router]
impl DemoServer {
    /// A server that reports `name` in its `initialize` result.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            tool_router: Self::tool_router(),
        }
    }

    /// Greet someone by name. The text content is the greeting itself; the
    /// structured content carries the same as [`Greeting`].
    #[tool(
        description = "Greet someone by name: returns \"Hello, {name}{punctuation}\".",
        output_schema = schema_for_output::<Greeting>()
    )]
    pub async fn greet(&self, Parameters(args): Parameters<GreetArgs>) -> CallToolResult {
        let name = match args.name.trim() {
            "" => "there",
            trimmed => trimmed,
        };
        let greeting = format!("Hello, {name}{}", args.punctuation);
        let mut result = CallToolResult::success(vec![ContentBlock::text(greeting.clone())]);
        result.structured_content = Some(serde_json::json!({ "greeting": greeting }));
        result
    }

    /// Tell the current time of the server, in UTC.
    #[tool(description = "The server's current time in UTC.")]
    pub async fn server_time(&self) -> Json<ServerTime> {
        let now = Utc::now();
        Json(ServerTime {
            current_time: now.to_rfc3339_opts(SecondsFormat::Secs, true),
            timezone: "UTC".into(),
            timestamp: now.timestamp(),
            formatted: now.format("%A, %-d %B %Y %H:%M:%S UTC").to_string(),
        })
    }
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for DemoServer {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new(&self.name, env!("CARGO_PKG_VERSION")))
            .with_instructions("Demo tools: greet someone, or ask the server for the time.")
    }
}
// ANCHOR_END: tools

// ANCHOR: router
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

/// Builds the application: `/mcp` served by rmcp's Streamable HTTP service,
/// wrapped in CORS and, outermost, the Origin/Host guard.
///
/// `shutdown` ends every open MCP session and SSE stream when cancelled, so
/// that a graceful shutdown does not wait for clients that never hang up.
pub fn router(config: &Config, shutdown: CancellationToken) -> Router {
    let guard = Arc::new(TransportGuard::new(config));
    let server_name = config.server_name.clone();
    let mcp_config = StreamableHttpServerConfig::default()
        .with_allowed_hosts(guard.allowed_hosts.clone())
        .with_cancellation_token(shutdown)
        .with_max_request_body_bytes(MAX_BODY_BYTES);
    let mcp = StreamableHttpService::new(
        move || Ok(DemoServer::new(server_name.clone())),
        Arc::new(LocalSessionManager::default()),
        mcp_config,
    );
    Router::new()
        .nest_service("/mcp", mcp)
        .layer(middleware::from_fn(reject_malformed_json))
        .layer(cors_layer(guard.clone()))
        .layer(middleware::from_fn_with_state(guard, transport_guard))
}
// ANCHOR_END: router

/// The largest JSON-RPC body accepted; larger ones get 413.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

// ANCHOR: serve
/// Serves [`router`] on `listener` until `shutdown` completes, then lets
/// requests in flight finish.
pub async fn serve(
    listener: TcpListener,
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let cancel = CancellationToken::new();
    let app = router(&config, cancel.clone());
    tracing::info!(
        address = %listener.local_addr()?,
        "MCP server listening on http://{}/mcp",
        listener.local_addr()?
    );
    // Send each response as soon as it is written: rmcp writes an event
    // stream in more than one piece, and with Nagle's algorithm on, the
    // second piece waits ~40 ms for the client's delayed ACK.
    let listener = listener.tap_io(|tcp| {
        if let Err(error) = tcp.set_nodelay(true) {
            tracing::debug!(%error, "cannot set TCP_NODELAY");
        }
    });
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async move {
        shutdown.await;
        cancel.cancel();
    })
    .await
}

/// Completes on Ctrl-C or, on Unix, SIGTERM: the signals a terminal or a
/// process supervisor sends.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::error!(%error, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                tracing::error!(%error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down");
}
// ANCHOR_END: serve

// ANCHOR: transport_guard
/// The DNS-rebinding defence of rule TR-01: which `Origin` and `Host`
/// values may reach the server.
#[derive(Debug)]
struct TransportGuard {
    allowed_hosts: Vec<String>,
    allowed_origins: Vec<String>,
}

impl TransportGuard {
    fn new(config: &Config) -> Self {
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
async fn transport_guard(
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
fn cors_layer(guard: Arc<TransportGuard>) -> CorsLayer {
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

// ANCHOR: reject_malformed_json
/// Reads a POST body (at most [`MAX_BODY_BYTES`], else 413) and answers a body
/// that is not JSON with HTTP 400 and the JSON-RPC parse error `-32700`
/// (JSON-RPC 2.0 §5.1), which is what a client expects. Without this the SDK
/// answers 415, as if the media type were wrong.
async fn reject_malformed_json(request: Request, next: Next) -> Response {
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
    if serde_json::from_slice::<serde::de::IgnoredAny>(&bytes).is_err() {
        let error = serde_json::json!({
            "jsonrpc": "2.0",
            "id": null,
            "error": { "code": -32700, "message": "Parse error: the body is not valid JSON" },
        });
        return (StatusCode::BAD_REQUEST, axum::Json(error)).into_response();
    }
    next.run(Request::from_parts(parts, axum::body::Body::from(bytes)))
        .await
}
// ANCHOR_END: reject_malformed_json

/// Sets up `tracing` with the configured filter; `RUST_LOG` wins when set.
pub fn init_tracing(filter: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .or_else(|_| tracing_subscriber::EnvFilter::try_new(filter))
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt().with_env_filter(filter).try_init();
}

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
            ..Config::for_tests()
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
        let guard = TransportGuard::new(&Config::for_tests());
        assert!(guard.host_allowed("localhost:8000"));
        assert!(guard.host_allowed("[::1]:8000"));
        assert!(!guard.host_allowed("rebind.evil.com:8000"));
    }
}
