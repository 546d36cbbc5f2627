//! `part4-rs`: runs the protected MCP server of part 4.

use anyhow::Context;
use clap::Parser;
use part4_protected_rs::{Config, init_tracing, serve, shutdown_signal};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = Config::parse();
    init_tracing(&config.log_level);
    if config.auth_enabled {
        config.validate().context("invalid configuration")?;
    }
    let address = (config.host.as_str(), config.port);
    let listener = tokio::net::TcpListener::bind(address)
        .await
        .with_context(|| format!("cannot bind {}:{}", config.host, config.port))?;
    serve(listener, config, shutdown_signal()).await
}
