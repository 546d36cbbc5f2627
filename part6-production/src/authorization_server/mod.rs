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

use std::{future::Future, net::IpAddr, sync::Arc, time::Duration};

use axum::Router;
use tokio::net::TcpListener;

use self::{error::StartupError, logic::provider::Provider};
use crate::{
    limits::Arrival,
    metrics::{Metrics, admin_router, bind_admin, serve_admin},
    tls,
};

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
    #[arg(long, env = "AS_TOKEN_LIFETIME", default_value_t = 300)]
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
    /// The scopes a client may ask for, comma-separated. The resource
    /// server's defaults need `time:read` for `server_time` and
    /// `account:read` for `whoami` (rule P6-05).
    #[arg(
        long,
        env = "AS_SCOPES",
        value_delimiter = ',',
        default_value = "mcp:tools,time:read,account:read"
    )]
    pub scopes: Vec<String>,
    /// What each scope lets a client do, in words for the consent page:
    /// `scope=words`, separated by `;`. A scope without words is shown by
    /// its name alone.
    #[arg(
        long,
        env = "AS_SCOPE_DESCRIPTIONS",
        value_delimiter = ';',
        default_value = DEFAULT_SCOPE_DESCRIPTIONS
    )]
    pub scope_descriptions: Vec<String>,
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
    /// More resource servers, each with its own introspection credentials,
    /// comma-separated `CLIENT_ID:SECRET@RESOURCE`. A resource server may
    /// introspect only tokens for its own resource (rule P6-06); the pair
    /// above belongs to the first of `AS_RESOURCES`.
    #[arg(
        long = "resource-server",
        env = "AS_RESOURCE_SERVERS",
        value_delimiter = ',',
        hide_env_values = true
    )]
    pub resource_servers: Vec<String>,
    /// Let a `client_id` be an `http` URL on 127.0.0.1, [::1] or localhost,
    /// and fetch its metadata document from a loopback address. For tests
    /// and local demos only: by default a `client_id` URL must be https and
    /// its host public (draft-ietf-oauth-client-id-metadata-document).
    #[arg(long, env = "AS_CIMD_ALLOW_LOOPBACK_HTTP", default_value_t = false)]
    pub cimd_allow_loopback_http: bool,
    /// Where everything the server remembers is kept: `sqlite://FILE`
    /// (created on first run; one machine) or
    /// `postgres://USER@HOST:PORT/DATABASE` (several instances share it).
    /// The schema is created or upgraded at start. `--help` never shows the
    /// value from the environment: a PostgreSQL URL may hold a password.
    #[arg(
        long,
        env = "AS_DATABASE_URL",
        default_value = "sqlite://part6-as.db",
        hide_env_values = true
    )]
    pub database_url: String,
    /// Make the next access-token signing key in the database and exit: it
    /// is published at once and signs after ten minutes, the instances
    /// pick it up by themselves, and tokens signed with the current key
    /// stay valid until they expire (rule P6-09).
    #[arg(long)]
    pub rotate_signing_key: bool,
    /// Log filter, in `RUST_LOG` syntax (`info`, `debug`, `info,tower_http=debug`).
    #[arg(long, env = "AS_LOG_LEVEL", default_value = "info")]
    pub log_level: String,
    /// Port of the admin listener, on `AS_HOST`: `/metrics` (Prometheus),
    /// `/healthz` and `/readyz` (rule P6-07). Unset: no admin listener.
    #[arg(long, env = "AS_ADMIN_PORT")]
    pub admin_port: Option<u16>,
    /// Serve HTTPS with this certificate chain (a PEM file, the server's
    /// certificate first), with `--tls-key`; the issuer must then be https
    /// (rule P6-10). `cargo xtask dev-cert` makes one for localhost.
    #[arg(long, env = "AS_TLS_CERT", value_parser = tls::cert_chain)]
    pub tls_cert: Option<tls::CertChain>,
    /// The private key of `--tls-cert`'s certificate (a PEM file).
    #[arg(long, env = "AS_TLS_KEY", value_parser = tls::private_key)]
    pub tls_key: Option<tls::PrivateKey>,
    /// Load balancers in front of this server, comma-separated IP
    /// addresses: their connections must begin with a PROXY protocol v2
    /// header naming the client, whose address the limits then count
    /// (rule P6-11). A header from anyone else is never read.
    #[arg(long, env = "AS_TRUSTED_PROXIES", value_delimiter = ',')]
    pub trusted_proxies: Vec<IpAddr>,
    /// Connection and rate limits (rules AS-17, AS-19).
    #[command(flatten)]
    pub limits: web::limits::Limits,
    /// The clock every expiry is read from. Not a setting: the system
    /// clock, which tests move forward instead of sleeping.
    #[arg(skip)]
    pub clock: crate::clock::Clock,
}
// ANCHOR_END: config

/// The words the consent page shows for the default scopes.
pub const DEFAULT_SCOPE_DESCRIPTIONS: &str = "mcp:tools=Use the MCP server's protected tools;\
     time:read=Read the server's clock;\
     account:read=See your user name, this client's id and what it may do";

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
            scope_descriptions: Vec::new(),
            introspection_client_id: "mcp-resource-server".into(),
            introspection_client_secret: "demo-resource-server-secret".into(),
            cimd_allow_loopback_http: false,
            // A private in-memory database per server: tests that need a
            // file or PostgreSQL set their own.
            database_url: "sqlite::memory:".into(),
            rotate_signing_key: false,
            resource_servers: Vec::new(),
            log_level: "info".into(),
            admin_port: None,
            tls_cert: None,
            tls_key: None,
            trusted_proxies: Vec::new(),
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
    let admin = bind_admin(&config.host, config.admin_port).await?;
    serve_with_admin(listener, admin, config, shutdown).await
}

/// [`serve`], with the admin listener (`/metrics`, `/healthz`, `/readyz`;
/// rule P6-07) on `admin` when there is one.
pub async fn serve_with_admin(
    listener: TcpListener,
    admin: Option<TcpListener>,
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let refused = |error| std::io::Error::new(std::io::ErrorKind::InvalidInput, error);
    let tls = tls::acceptor(
        config.tls_cert.as_ref(),
        config.tls_key.as_ref(),
        &config.issuer,
        "--issuer or AS_ISSUER",
    )
    .map_err(|refusal| {
        refused(StartupError::Setting {
            problem: refusal.problem,
            fix: refusal.fix,
        })
    })?;
    let store = (logic::store::open(&config.database_url).await)
        .map_err(|error| refused(StartupError::Database(error.to_string())))?;
    let provider = Provider::new(&config, store).map_err(refused)?;
    let provider = Arc::new(provider);
    let rate_limits = config.limits.rate_limits();
    let sweeper = tokio::spawn(sweep_every(
        SWEEP_INTERVAL,
        provider.clone(),
        rate_limits.clone(),
    ));
    let metrics = provider.metrics.clone();
    let app = router(provider.clone(), &rate_limits).layer(axum::middleware::from_fn_with_state(
        metrics.clone(),
        Metrics::record,
    ));
    tracing::info!(
        address = %listener.local_addr()?,
        issuer = %config.issuer,
        "authorization server listening"
    );
    let stop = tokio_util::sync::CancellationToken::new();
    let admin = admin.map(|admin| {
        let (ready, scraped) = (provider.clone(), provider.clone());
        let routes = admin_router(
            metrics,
            Arc::new(move || {
                let provider = ready.clone();
                Box::pin(async move { provider.ready().await })
            }),
            Arc::new(move |metrics: &Metrics| scraped.before_scrape(metrics)),
        );
        tokio::spawn(serve_admin(admin, routes, stop.clone().cancelled_owned()))
    });
    let stopping = stop.clone();
    let shutdown = async move {
        shutdown.await;
        stopping.cancel();
    };
    let served = crate::limits::serve(
        listener,
        app,
        config.limits.connections(),
        Arrival {
            tls,
            balancers: config.trusted_proxies.clone().into(),
        },
        shutdown,
    )
    .await;
    stop.cancel();
    if let Some(admin) = admin {
        let _ = admin.await;
    }
    sweeper.abort();
    served
}

/// `part6-as --rotate-signing-key`: makes the next signing key in the
/// database `config` names; its kid and when it starts signing.
pub async fn rotate_signing_key(config: &Config) -> Result<(String, i64), StartupError> {
    let store = (logic::store::open(&config.database_url).await)
        .map_err(|error| StartupError::Database(error.to_string()))?;
    let provider = Provider::new(config, store)?;
    (provider.rotate_signing_key().await).map_err(|error| {
        StartupError::Database(format!(
            "cannot store the new signing key: {error}\ncheck that the database is reachable and try again"
        ))
    })
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
        provider.sweep().await;
        rate_limits.sweep();
    }
}
// ANCHOR_END: serve
