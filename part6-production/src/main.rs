//! `part6-rs`: runs the protected MCP server of part 4.

use std::process::ExitCode;

use part6_production::{
    init_tracing,
    server::startup::{exit_code, parse_args, run},
    shutdown_signal,
};

#[tokio::main]
async fn main() -> ExitCode {
    let config = match parse_args() {
        Ok(config) => config,
        Err(error) => return exit_code(Err(error)),
    };
    init_tracing(&config.log_level);
    exit_code(run(config, shutdown_signal()).await)
}
