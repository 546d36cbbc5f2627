//! `part5-as`: runs the OAuth 2.1 authorization server of part 3 (unchanged).

use anyhow::Context;
use clap::Parser;
use part5_client::{
    authorization_server::{Config, serve},
    init_tracing, shutdown_signal,
};

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
