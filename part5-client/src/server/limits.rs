//! The resource server's connection limits as settings (rule AS-19 applies
//! to every listener of the project): the same [`crate::limits::serve`] the
//! authorization server uses, with `RS_*` names.

use std::time::Duration;

use crate::limits::ConnectionLimits;

// ANCHOR: rs_limits
/// Connection limits: flags with environment fallbacks.
#[derive(Debug, Clone, clap::Args)]
pub struct Limits {
    /// Seconds a client has to send a request header; idle keep-alive
    /// connections are closed after as long (an open event stream is not
    /// idle: it is a response being written).
    #[arg(long, env = "RS_HEADER_READ_TIMEOUT", default_value_t = 10)]
    pub header_read_timeout: u64,
    /// Seconds a client has to send a request body.
    #[arg(long, env = "RS_BODY_READ_TIMEOUT", default_value_t = 10)]
    pub body_read_timeout: u64,
    /// Connections open at once, in all.
    #[arg(long, env = "RS_MAX_CONNECTIONS", default_value_t = 4096)]
    pub max_connections: usize,
    /// Connections open at once from one address (IPv6: one /64).
    #[arg(long, env = "RS_MAX_CONNECTIONS_PER_SOURCE", default_value_t = 256)]
    pub max_connections_per_source: usize,
}
// ANCHOR_END: rs_limits

impl Default for Limits {
    fn default() -> Self {
        Self {
            header_read_timeout: 10,
            body_read_timeout: 10,
            max_connections: 4096,
            max_connections_per_source: 256,
        }
    }
}

impl Limits {
    /// What [`crate::limits::serve`] applies to each connection.
    pub fn connections(&self) -> ConnectionLimits {
        ConnectionLimits {
            header_read_timeout: Duration::from_secs(self.header_read_timeout.max(1)),
            body_read_timeout: Duration::from_secs(self.body_read_timeout.max(1)),
            max_connections: self.max_connections.max(1),
            max_connections_per_source: self.max_connections_per_source.max(1),
        }
    }
}
