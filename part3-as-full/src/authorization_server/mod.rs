//! The OAuth 2.1 authorization server (AS) that will protect the MCP server.
//!
//! In part 3 the AS runs the whole authorization-code flow of OAuth 2.1:
//! a client registers (RFC 7591), sends the user to `/authorize`, the user
//! signs in and approves, the client trades the code for tokens with PKCE,
//! refreshes them, and revokes them; the resource server asks about a token
//! at `/introspect` (RFC 7662).
//!
//! The module is split in two layers, one folder each, kept apart in every
//! part:
//!
//! - this file: [`Config`] (flags with environment fallbacks), [`router`] and
//!   [`serve`], the entry points a binary or a test calls.
//! - [`web`], the web layer, routes requests, extracts their inputs and turns
//!   results into HTTP responses; it never decides policy.
//! - [`logic`], the logic layer, decides everything an authorization server
//!   decides and never sees an HTTP type, so it can be read (and tested)
//!   without axum.
//! - Between the two: [`error`] (every error, mapped to OAuth and HTTP codes
//!   in one place) and [`form`] (the strict parser of form-encoded
//!   parameters the logic reads).
//! - [`startup`]: the command line of the binary, and plain words when
//!   start-up fails.

pub mod error;
pub mod form;
pub mod logic;
pub mod startup;
pub mod web;

use std::{future::Future, sync::Arc, time::Duration};

use axum::Router;
use tokio::net::TcpListener;

use self::logic::provider::Provider;

// ANCHOR: config
/// Configuration of the authorization server: flags with environment
/// fallbacks, so the same binary runs from a terminal or a container.
#[derive(Debug, Clone, clap::Parser)]
#[command(about = concat!(
    env!("CARGO_PKG_NAME"),
    ": the OAuth 2.1 authorization server (registration, login, PKCE, tokens, introspection, revocation)"
))]
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
    /// The one user who can sign in on the login page.
    #[arg(long, env = "AS_DEMO_USERNAME", default_value = "demo_user")]
    pub demo_username: String,
    /// That user's password. Only an Argon2 hash of it is kept once the
    /// server runs.
    #[arg(
        long,
        env = "AS_DEMO_PASSWORD",
        default_value = "demo_password",
        hide_env_values = true
    )]
    pub demo_password: String,
    /// How long an access token lives, in seconds.
    #[arg(long, env = "AS_TOKEN_LIFETIME", default_value_t = 3600)]
    pub token_lifetime: u64,
    /// The resources tokens may be for, comma-separated: the canonical URLs
    /// of the MCP servers this AS protects (RFC 8707). A token's audience is
    /// the one the client asked for.
    #[arg(
        long,
        env = "AS_RESOURCES",
        value_delimiter = ',',
        default_value = "http://localhost:8000/mcp"
    )]
    pub resources: Vec<String>,
    /// The scopes a client may ask for, comma-separated.
    #[arg(
        long,
        env = "AS_SCOPES",
        value_delimiter = ',',
        default_value = "mcp:tools"
    )]
    pub scopes: Vec<String>,
    /// The client id the resource server uses at `/introspect` (RFC 7662 §2.1).
    #[arg(
        long,
        env = "AS_INTROSPECTION_CLIENT_ID",
        default_value = "mcp-resource-server"
    )]
    pub introspection_client_id: String,
    /// The resource server's secret at `/introspect`. Change it outside a demo.
    #[arg(
        long,
        env = "AS_INTROSPECTION_CLIENT_SECRET",
        default_value = "demo-resource-server-secret",
        hide_env_values = true
    )]
    pub introspection_client_secret: String,
    /// Let a `client_id` be an `http` URL on 127.0.0.1, [::1] or localhost,
    /// and fetch its metadata document from a loopback address. For tests
    /// and local demos only: by default a `client_id` URL must be https and
    /// its host public (draft-ietf-oauth-client-id-metadata-document).
    #[arg(long, env = "AS_CIMD_ALLOW_LOOPBACK_HTTP", default_value_t = false)]
    pub cimd_allow_loopback_http: bool,
    /// Log filter, in `RUST_LOG` syntax (`info`, `debug`, `info,tower_http=debug`).
    #[arg(long, env = "AS_LOG_LEVEL", default_value = "info")]
    pub log_level: String,
    /// Connection and rate limits (rules AS-17, AS-19).
    #[command(flatten)]
    pub limits: web::limits::Limits,
    /// The clock every expiry is read from. Not a setting: the system
    /// clock, which tests move forward instead of sleeping.
    #[arg(skip)]
    pub clock: crate::clock::Clock,
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
            resources: vec!["http://localhost:8000/mcp".into()],
            scopes: vec!["mcp:tools".into()],
            introspection_client_id: "mcp-resource-server".into(),
            introspection_client_secret: "demo-resource-server-secret".into(),
            cimd_allow_loopback_http: false,
            log_level: "info".into(),
            limits: web::limits::Limits::default(),
            clock: crate::clock::Clock::default(),
        }
    }
}

// ANCHOR: router
/// Builds the application of the authorization server around one
/// [`Provider`], which holds everything the server knows, with the rate
/// limits of `limits`.
pub fn router(provider: Arc<Provider>, limits: &web::limits::RateLimits) -> Router {
    web::server::routes(provider, limits)
}
// ANCHOR_END: router

// ANCHOR: serve
/// Serves the authorization server on `listener` until `shutdown` completes,
/// then lets requests in flight finish. A configuration the provider refuses
/// is an `InvalidInput` error before anything is served.
pub async fn serve(
    listener: TcpListener,
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let provider = Provider::new(&config)
        .map_err(|error| std::io::Error::new(std::io::ErrorKind::InvalidInput, error))?;
    let provider = Arc::new(provider);
    let rate_limits = config.limits.rate_limits();
    let sweeper = tokio::spawn(sweep_every(
        SWEEP_INTERVAL,
        provider.clone(),
        rate_limits.clone(),
    ));
    let app = router(provider, &rate_limits);
    tracing::info!(
        address = %listener.local_addr()?,
        issuer = %config.issuer,
        "authorization server listening"
    );
    let served = crate::limits::serve(listener, app, config.limits.connections(), shutdown).await;
    sweeper.abort();
    served
}

/// How often expired state is dropped.
const SWEEP_INTERVAL: Duration = Duration::from_secs(60);

/// Drops expired codes, tokens and sign-ins, and the rate-limit state of
/// quiet sources, every `interval`, so memory stays bounded however long
/// the server runs.
async fn sweep_every(
    interval: Duration,
    provider: Arc<Provider>,
    rate_limits: web::limits::RateLimits,
) {
    let mut ticks = tokio::time::interval(interval);
    loop {
        ticks.tick().await;
        provider.sweep();
        rate_limits.sweep();
    }
}
// ANCHOR_END: serve
