//! Starting the resource server from the command line, and saying plainly
//! why it could not start.
//!
//! The failures a person meets when starting a server — the port is taken, a
//! setting is mistyped — are expected, so each gets two plain lines on
//! stderr: what happened, and what to do. The binary stays thin: it calls
//! [`parse_args`], then [`run`], then [`exit_code`].

use std::{future::Future, io, process::ExitCode};

use clap::{CommandFactory, Parser, error::ErrorKind};
use tokio::net::TcpListener;

use super::serve;
use crate::settings::{Config, ConfigError};

/// Why the resource server did not start (or stopped), in words a person
/// can act on: the first line says what happened, the second what to do.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    /// A flag or environment variable that does not parse; already worded.
    #[error("{0}")]
    Arguments(String),
    /// A setting that parses but cannot work.
    #[error(
        "{0}\nfix this setting (flag or environment variable) and start again; --help lists them all"
    )]
    Config(#[from] ConfigError),
    /// Someone else listens on the port.
    #[error(
        "cannot listen on {0}: the address is already in use\nis another resource server running? stop it, or choose another port with --port or RS_PORT"
    )]
    AddressInUse(String),
    /// Ports below 1024 need privileges on most systems.
    #[error(
        "cannot listen on {0}: permission denied\nchoose a port above 1023 with --port or RS_PORT"
    )]
    PermissionDenied(String),
    /// The host is not an address of this machine, or does not resolve.
    #[error(
        "cannot listen on {0}: {1}\nset --host or RS_HOST to an address of this machine, such as 127.0.0.1"
    )]
    Host(String, String),
    /// The server failed after it started.
    #[error("the server stopped: {0}")]
    Serve(String),
}

impl StartupError {
    /// The exit status: 2 for a command line that does not parse (as clap
    /// does), 1 for everything else.
    pub fn exit_code(&self) -> ExitCode {
        match self {
            Self::Arguments(_) => ExitCode::from(2),
            _ => ExitCode::FAILURE,
        }
    }
}

/// Reads the command line and the environment. `--help` and `--version`
/// print and exit here; a value that does not parse is an
/// [`StartupError::Arguments`] naming both the flag and its variable.
pub fn parse_args() -> Result<Config, StartupError> {
    Config::try_parse().map_err(|error| match error.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => error.exit(),
        _ => StartupError::Arguments(explain(&error)),
    })
}

/// Checks the configuration, binds, and serves until `shutdown` completes.
pub async fn run(
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), StartupError> {
    if config.auth_enabled {
        config.validate()?;
    }
    let listener = bind(&config.host, config.port).await?;
    serve(listener, config, shutdown)
        .await
        .map_err(|error| StartupError::Serve(format!("{error:#}")))
}

/// Prints `result`'s error, if any, on stderr and returns the exit status.
pub fn exit_code(result: Result<(), StartupError>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("{error}");
            error.exit_code()
        }
    }
}

/// Binds `host:port`, turning the usual failures into their explanation.
pub async fn bind(host: &str, port: u16) -> Result<TcpListener, StartupError> {
    let address = if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    };
    TcpListener::bind((host, port))
        .await
        .map_err(|error| match error.kind() {
            io::ErrorKind::AddrInUse => StartupError::AddressInUse(address),
            io::ErrorKind::PermissionDenied => StartupError::PermissionDenied(address),
            io::ErrorKind::AddrNotAvailable => {
                StartupError::Host(address, "no interface of this machine has it".into())
            }
            _ => StartupError::Host(address, plain(&error)),
        })
}

/// The first line of clap's message, with the environment variable named
/// beside the flag (the person may have set either).
fn explain(error: &clap::Error) -> String {
    let rendered = error.render().to_string();
    let first = rendered.lines().next().unwrap_or("invalid arguments");
    let mut what = first.trim_start_matches("error: ").to_owned();
    if let Some(clap::error::ContextValue::String(flag)) =
        error.get(clap::error::ContextKind::InvalidArg)
        && let Some(env) = env_of(flag)
    {
        let quoted = format!("'{flag}'");
        what = what.replacen(&quoted, &format!("{quoted} (or {env})"), 1);
    }
    format!("{what}\nrun with --help to see every setting and its accepted values")
}

/// The environment variable of a flag as clap names it (`--port <PORT>`).
fn env_of(flag: &str) -> Option<String> {
    let long = flag.split_whitespace().next()?.strip_prefix("--")?;
    Config::command()
        .get_arguments()
        .find(|arg| arg.get_long() == Some(long))
        .and_then(|arg| arg.get_env())
        .map(|env| env.to_string_lossy().into_owned())
}

/// An I/O error's message without the `(os error N)` suffix.
fn plain(error: &io::Error) -> String {
    let text = error.to_string();
    match text.find(" (os error") {
        Some(end) => text[..end].to_owned(),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bad_number_names_the_flag_and_its_variable() {
        let error = Config::try_parse_from(["rs", "--port", "abc"]).expect_err("not a number");
        let message = explain(&error);
        assert!(
            message.contains("'--port <PORT>' (or RS_PORT)"),
            "{message}"
        );
        assert_eq!(message.lines().count(), 2, "{message}");
    }
}
