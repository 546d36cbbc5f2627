//! The OAuth 2.1 authorization server (AS) that will protect the MCP server.
//!
//! In part 2 the AS does one thing: it describes itself at
//! `/.well-known/oauth-authorization-server` (RFC 8414), so that a client can
//! learn where everything is before it asks for anything. Part 3 adds the
//! endpoints of the authorization-code flow, in the same files.
//!
//! The module is split in two layers, kept apart in every part:
//!
//! - this file: [`Config`] (flags with environment fallbacks), [`router`] and
//!   [`serve`], the entry points a binary or a test calls.
//! - [`server`]: the web layer. It routes requests, extracts their inputs and
//!   turns results into HTTP responses; it never decides policy.
//! - [`provider`]: the logic layer. It decides everything an authorization
//!   server decides and never sees an HTTP type, so it can be read (and
//!   tested) without knowing axum.

pub mod provider;
pub mod server;

use axum::serve::ListenerExt;
use std::{future::Future, net::SocketAddr, sync::Arc};

use axum::Router;
use tokio::net::TcpListener;

use self::provider::Provider;

// ANCHOR: config
/// Configuration of the authorization server: flags with environment
/// fallbacks, so the same binary runs from a terminal or a container.
#[derive(Debug, Clone, clap::Parser)]
#[command(
    name = "part2-as",
    about = "Part 2: an OAuth 2.1 authorization server that publishes its RFC 8414 metadata"
)]
pub struct Config {
    /// Address to bind. The loopback default keeps the demo off the network.
    #[arg(long, env = "AS_HOST", default_value = "127.0.0.1")]
    pub host: String,
    /// Port to bind; 0 picks a free port and the bound address is logged.
    #[arg(long, env = "AS_SERVER_PORT", default_value_t = 9000)]
    pub port: u16,
    /// The issuer identifier: the URL clients use to reach this server.
    /// It is published byte for byte (no slash is added or removed), because
    /// clients compare it with the URL they fetched the metadata from
    /// (RFC 8414 §3.3).
    #[arg(long, env = "AS_ISSUER", default_value = "http://localhost:9000")]
    pub issuer: String,
    /// The one user who can sign in (the login page arrives in part 3).
    #[arg(long, env = "AS_DEMO_USERNAME", default_value = "demo_user")]
    pub demo_username: String,
    /// That user's password (used from part 3 on, which keeps only a hash of it).
    #[arg(
        long,
        env = "AS_DEMO_PASSWORD",
        default_value = "demo_password",
        hide_env_values = true
    )]
    pub demo_password: String,
    /// How long an access token lives, in seconds (used from part 3 on).
    #[arg(long, env = "AS_TOKEN_LIFETIME", default_value_t = 3600)]
    pub token_lifetime: u64,
    /// Log filter, in `RUST_LOG` syntax (`info`, `debug`, `part2_as_metadata=trace`).
    #[arg(long, env = "AS_LOG_LEVEL", default_value = "info")]
    pub log_level: String,
}
// ANCHOR_END: config

impl Config {
    /// The defaults, with `issuer` set to the URL of a listener a test has
    /// already bound (`http://127.0.0.1:<port>`), so the metadata a test
    /// fetches names the server it fetched it from.
    pub fn for_tests(issuer: &str) -> Self {
        Self {
            host: "127.0.0.1".into(),
            port: 0,
            issuer: issuer.into(),
            demo_username: "demo_user".into(),
            demo_password: "demo_password".into(),
            token_lifetime: 3600,
            log_level: "info".into(),
        }
    }
}

// ANCHOR: router
/// Builds the application of the authorization server around one
/// [`Provider`], which holds everything the server knows.
pub fn router(provider: Arc<Provider>) -> Router {
    server::routes(provider)
}
// ANCHOR_END: router

// ANCHOR: serve
/// Serves the authorization server on `listener` until `shutdown` completes,
/// then lets requests in flight finish.
pub async fn serve(
    listener: TcpListener,
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let provider = Arc::new(Provider::new(&config));
    let app = router(provider);
    tracing::info!(
        address = %listener.local_addr()?,
        issuer = %config.issuer,
        "authorization server listening"
    );
    // Send each response as soon as it is written: with Nagle's algorithm
    // on, a response written in two pieces waits ~40 ms for the client's
    // delayed ACK before its second piece leaves.
    let listener = listener.tap_io(|tcp| {
        if let Err(error) = tcp.set_nodelay(true) {
            tracing::debug!(%error, "cannot set TCP_NODELAY");
        }
    });
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
}
// ANCHOR_END: serve
