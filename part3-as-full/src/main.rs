//! `part3-rs`: runs the public MCP server of part 1.

use anyhow::Context;
use clap::Parser;
use part3_as_full::{Config, init_tracing, serve, shutdown_signal};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = Config::parse();
    init_tracing(&config.log_level);
    let address = (config.host.as_str(), config.port);
    let listener = tokio::net::TcpListener::bind(address)
        .await
        .with_context(|| format!("cannot bind {}:{}", config.host, config.port))?;
    serve(listener, config, shutdown_signal()).await?;
    Ok(())
}
