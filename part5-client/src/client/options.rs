//! The command line of the client binary.

use std::{path::PathBuf, time::Duration};

use super::registration::ClientIdentity;

// ANCHOR: options
/// Flags of the client, each with an environment fallback.
#[derive(Debug, Clone, clap::Parser)]
#[command(
    about = concat!(
        env!("CARGO_PKG_NAME"),
        ": an MCP client that logs in with OAuth 2.1 when the server asks for it"
    ),
    long_about = "Connects to an MCP server, lists its tools and calls those of `--call` in \
                  order, by default `greet` without a token and then `server_time`. When the \
                  server answers 401 it discovers the authorization server, registers, opens the login page in your browser and retries with the token.\n\n\
                  Exit codes: 0 success, 1 error, 2 authorization failed or denied, 130 interrupted."
)]
pub struct Options {
    /// The MCP endpoint (the canonical resource URL; rule CL-04).
    #[arg(
        long,
        env = "MCP_SERVER_URL",
        default_value = "http://localhost:8000/mcp"
    )]
    pub server_url: String,
    /// A client id registered with the authorization server beforehand; used
    /// before any other registration method (rule CL-03).
    #[arg(long, env = "MCP_CLIENT_ID")]
    pub client_id: Option<String>,
    /// The secret of `--client-id`, for a confidential client.
    #[arg(
        long,
        env = "MCP_CLIENT_SECRET",
        requires = "client_id",
        hide_env_values = true
    )]
    pub client_secret: Option<String>,
    /// The https URL of this client's Client ID Metadata Document; used when
    /// the authorization server advertises `client_id_metadata_document_supported`.
    #[arg(long, env = "MCP_CLIENT_METADATA_URL")]
    pub client_metadata_url: Option<String>,
    /// The `client_name` sent with Dynamic Client Registration.
    #[arg(long, env = "MCP_CLIENT_NAME", default_value = env!("CARGO_PKG_NAME"))]
    pub client_name: String,
    /// Port of the loopback redirect listener on 127.0.0.1; 0 picks a free one.
    #[arg(long, env = "MCP_CALLBACK_PORT", default_value_t = 0)]
    pub callback_port: u16,
    /// Print the login URL instead of opening a browser.
    #[arg(long)]
    pub no_browser: bool,
    /// Seconds to wait for the login in the browser.
    #[arg(
        long,
        env = "MCP_LOGIN_TIMEOUT",
        default_value_t = 300,
        value_name = "SECONDS"
    )]
    pub login_timeout: u64,
    /// Keep tokens in this file between runs (created 0600). Without it tokens
    /// live only in memory.
    #[arg(long, env = "MCP_TOKEN_CACHE", value_name = "FILE")]
    pub token_cache: Option<PathBuf>,
    /// The name `greet` greets.
    #[arg(long, default_value = "world")]
    pub name: String,
    /// The tools to call, in order, comma-separated. `greet` is given
    /// `--name`; every other tool is called without arguments. A tool the
    /// server does not list is called all the same, and if the server
    /// refuses it the error names the tools it lists.
    #[arg(
        long,
        env = "MCP_CALL",
        value_delimiter = ',',
        default_value = "greet,server_time"
    )]
    pub call: Vec<String>,
    /// Print the results as one JSON document on stdout.
    #[arg(long)]
    pub json: bool,
    /// Which MCP lifecycle to use: `auto` probes with `server/discover`
    /// (2026-07-28) and falls back to `initialize` (2025-11-25); a version
    /// forces that one.
    #[arg(long, env = "MCP_PROTOCOL", value_enum, default_value_t = Protocol::Auto)]
    pub protocol: Protocol,
    /// Log filter, in `RUST_LOG` syntax; logs go to stderr. The default
    /// silences rmcp's transport worker, whose failures the client reports
    /// itself in plain words.
    #[arg(long, env = "MCP_CLIENT_LOG", default_value = DEFAULT_LOG_FILTER)]
    pub log_level: String,
}

/// The default `--log-level`: warnings, but not from rmcp's transport
/// worker, which logs every failed connection at ERROR with a debug dump of
/// its types, nor rmcp's warnings about its OAuth steps (a refused refresh
/// token, say), which the client acts on and reports in its transcript;
/// nor rmcp's service loop, which can log "fail to close sink" at ERROR
/// when the process ends while a session closes.
pub const DEFAULT_LOG_FILTER: &str =
    "warn,rmcp::transport::worker=off,rmcp::transport::auth=error,rmcp::service=off";

/// `--protocol`: the MCP protocol versions this client speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Protocol {
    /// `server/discover` first, `initialize` when the server does not know it.
    Auto,
    /// Only the `initialize` handshake of MCP 2025-11-25 (sessions).
    #[value(name = "2025-11-25")]
    V2025_11_25,
    /// Only `server/discover` of MCP 2026-07-28 (no sessions, no `initialize`).
    #[value(name = "2026-07-28")]
    V2026_07_28,
}
// ANCHOR_END: options

impl Options {
    /// The defaults for `server_url`, as if no other flag were given.
    pub fn for_tests(server_url: impl Into<String>) -> Self {
        Self {
            server_url: server_url.into(),
            client_id: None,
            client_secret: None,
            client_metadata_url: None,
            client_name: env!("CARGO_PKG_NAME").into(),
            callback_port: 0,
            no_browser: false,
            login_timeout: 300,
            token_cache: None,
            name: "world".into(),
            call: vec!["greet".into(), "server_time".into()],
            json: false,
            protocol: Protocol::Auto,
            log_level: DEFAULT_LOG_FILTER.into(),
        }
    }

    /// `--login-timeout` as a duration.
    pub fn login_timeout(&self) -> Duration {
        Duration::from_secs(self.login_timeout)
    }

    /// The client-identity flags.
    pub fn identity(&self) -> ClientIdentity {
        ClientIdentity {
            client_id: self.client_id.clone(),
            client_secret: self.client_secret.clone(),
            client_metadata_url: self.client_metadata_url.clone(),
            client_name: self.client_name.clone(),
        }
    }
}
