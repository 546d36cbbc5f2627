//! `part6-as`: runs the OAuth 2.1 authorization server of part 3, its state in a
//! database (`AS_DATABASE_URL`; SQLite by default).

use std::process::ExitCode;

use part6_production::{
    authorization_server::{
        rotate_signing_key,
        startup::{exit_code, parse_args, run},
    },
    init_tracing, shutdown_signal,
};

#[tokio::main]
async fn main() -> ExitCode {
    let config = match parse_args() {
        Ok(config) => config,
        Err(error) => return exit_code(Err(error)),
    };
    init_tracing(&config.log_level);
    if config.rotate_signing_key {
        return match rotate_signing_key(&config).await {
            Ok((kid, signs_from)) => {
                println!(
                    "made signing key {kid}: published now, signs from {signs_from} (Unix time)"
                );
                ExitCode::SUCCESS
            }
            Err(error) => exit_code(Err(error)),
        };
    }
    exit_code(run(config, shutdown_signal()).await)
}
