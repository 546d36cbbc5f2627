//! The web layer of the resource server: it assembles the router, runs the
//! guards and the authorization middleware in front of the MCP service, and
//! serves the protected-resource metadata.
//!
//! - [`transport`]: Origin/Host guard, CORS, body check (rule TR-01 … TR-03).
//! - [`auth`]: who may call what (rule RS-04 … RS-11).
//! - [`introspection`]: asks the authorization server about a token, with a
//!   bounded cache (rule RS-12, RS-13); [`jwt`]: checks a signed access
//!   token alone, with the published keys (rule P6-04).
//! - [`metadata`]: RFC 9728 protected-resource metadata (rule RS-01 … RS-03).
//! - [`startup`]: the command line, and plain words when start-up fails.

pub mod auth;
pub mod introspection;
pub mod jwt;
pub mod metadata;
pub mod startup;
pub mod transport;

use std::{future::Future, net::SocketAddr, sync::Arc};

use axum::{Router, middleware};
use rmcp::transport::streamable_http_server::{
    StreamableHttpServerConfig, StreamableHttpService, session::local::LocalSessionManager,
};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub use crate::principal::Principal;
pub use transport::MAX_BODY_BYTES;

use crate::{
    limits::Arrival,
    metrics::{KindLabels, Metrics, admin_router, bind_admin, serve_admin},
    settings::{Config, ConfigError},
    tls,
    tools::DemoServer,
};

// ANCHOR: router
/// Builds the application. Requests to `/mcp` pass, outermost first: the
/// Origin/Host guard, CORS, the body check, authorization, then rmcp's
/// Streamable HTTP service. The metadata routes need no token.
///
/// `shutdown` ends every open MCP session and SSE stream when cancelled, so
/// that a graceful shutdown does not wait for clients that never hang up.
pub fn router(config: &Config, shutdown: CancellationToken) -> Result<Router, ConfigError> {
    Ok(build(config, shutdown)?.0)
}

/// [`router`], and the token verifier its authorization middleware uses,
/// when protection is on: the admin listener reads its counts and asks it
/// whether the authorization server's keys are loaded (rule P6-07).
fn build(
    config: &Config,
    shutdown: CancellationToken,
) -> Result<(Router, Option<Arc<introspection::TokenVerifier>>), ConfigError> {
    let guard = Arc::new(transport::TransportGuard::new(config));
    let auth = if config.auth_enabled {
        Some(Arc::new(config.validate()?))
    } else {
        None
    };
    // One server, its tool router built once: rmcp asks the factory for a
    // service on every request of protocol 2026-07-28, which has no
    // sessions, and cloning is cheaper than building the router again.
    let server = DemoServer::new(config.server_name.clone(), auth.clone());
    let mcp_config = StreamableHttpServerConfig::default()
        // 2026-07-28 requests are answered with plain JSON when the answer
        // is one message (an SSE stream when a tool sends notifications
        // first); 2025-11-25 sessions keep their event streams.
        .with_json_response(true)
        .with_allowed_hosts(guard.allowed_hosts.clone())
        .with_cancellation_token(shutdown)
        .with_max_request_body_bytes(MAX_BODY_BYTES);
    let mcp = StreamableHttpService::new(
        move || Ok(server.clone()),
        Arc::new(LocalSessionManager::default()),
        mcp_config,
    );
    let mut mcp_routes = Router::new().nest_service("/mcp", mcp);
    let mut verifier = None;
    if let Some(auth) = &auth {
        let state = auth::AuthState::new(auth.clone())?;
        verifier = Some(state.verifier());
        mcp_routes = mcp_routes.layer(middleware::from_fn_with_state(state, auth::authorize));
    }
    let mcp_routes = mcp_routes
        .layer(middleware::from_fn(transport::reject_malformed_json))
        .layer(transport::cors_layer(guard.clone()))
        .layer(middleware::from_fn_with_state(
            guard,
            transport::transport_guard,
        ));
    let app = match auth {
        Some(auth) => mcp_routes.merge(metadata::routes(auth)),
        None => mcp_routes,
    };
    Ok((app, verifier))
}
// ANCHOR_END: router

// ANCHOR: serve
/// Serves [`router`] on `listener` until `shutdown` completes, then ends
/// the open event streams and lets requests in flight finish. Connections
/// get the timeouts and caps of rule AS-19, and `TCP_NODELAY`: rmcp writes
/// an event stream in more than one piece, and with Nagle's algorithm on,
/// the second piece would wait ~40 ms for the client's delayed ACK.
pub async fn serve(
    listener: TcpListener,
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
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
) -> anyhow::Result<()> {
    let tls = tls::acceptor(
        config.tls_cert.as_ref(),
        config.tls_key.as_ref(),
        &config.public_url,
        "--public-url or RS_PUBLIC_URL",
    )?;
    let cancel = CancellationToken::new();
    let (app, verifier) = build(&config, cancel.clone())?;
    let metrics = Metrics::new();
    let app = app.layer(middleware::from_fn_with_state(
        metrics.clone(),
        Metrics::record,
    ));
    let admin = admin.map(|admin| {
        let ready = verifier.clone();
        let routes = admin_router(
            metrics,
            Arc::new(move || {
                let verifier = ready.clone();
                Box::pin(async move {
                    match verifier {
                        Some(verifier) => verifier.ready().await,
                        None => Ok(()),
                    }
                })
            }),
            Arc::new(move |metrics: &Metrics| {
                if let Some(verifier) = &verifier {
                    let catch_up = |kind, now: u64| {
                        let counter = metrics.as_calls.get_or_create(&KindLabels { kind });
                        counter.inc_by(now.saturating_sub(counter.get()));
                    };
                    catch_up("introspection", verifier.calls());
                    catch_up("jwks", verifier.key_fetches());
                }
            }),
        );
        tokio::spawn(serve_admin(admin, routes, cancel.clone().cancelled_owned()))
    });
    warn_if_public_url_misses(&config, listener.local_addr()?);
    tracing::info!(
        address = %listener.local_addr()?,
        auth = config.auth_enabled,
        "MCP server listening on {}://{}/mcp",
        if tls.is_some() { "https" } else { "http" },
        listener.local_addr()?
    );
    let shutdown = async move {
        shutdown.await;
        cancel.cancel();
    };
    let arrival = Arrival {
        tls,
        balancers: config.trusted_proxies.clone().into(),
    };
    crate::limits::serve(
        listener,
        app,
        config.limits.connections(),
        arrival,
        shutdown,
    )
    .await?;
    if let Some(admin) = admin {
        let _ = admin.await;
    }
    Ok(())
}

/// `RS_PUBLIC_URL` names the port clients reach; on loopback that is the
/// bound port, so a mismatch means the challenge sends clients elsewhere.
fn warn_if_public_url_misses(config: &Config, bound: SocketAddr) {
    let Ok(public) = url::Url::parse(&config.public_url) else {
        return;
    };
    let loopback = matches!(public.host_str(), Some("localhost" | "127.0.0.1" | "[::1]"));
    if config.auth_enabled && loopback && public.port_or_known_default() != Some(bound.port()) {
        tracing::warn!(
            public_url = %config.public_url,
            bound = %bound,
            "RS_PUBLIC_URL names another port than the one bound: clients will be sent there"
        );
    }
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

/// Sets up `tracing` with the configured filter; `RUST_LOG` wins when set.
pub fn init_tracing(filter: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .or_else(|_| tracing_subscriber::EnvFilter::try_new(filter))
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt().with_env_filter(filter).try_init();
}
