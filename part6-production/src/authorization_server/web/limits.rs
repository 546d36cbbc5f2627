//! The flood limits of the authorization server as settings (rules AS-17,
//! AS-19), and the rate limits per route group built from them.
//!
//! Every default is far above what a person, the demo, the tests or the
//! interop runs do from one address, and far below what a script does.
//! `0` turns a rate limit off (a benchmark that drives thousands of sign-ins
//! a second from one address does that).

use std::time::Duration;

use crate::limits::{ConnectionLimits, RateLimit};

// ANCHOR: limits
/// Connection and rate limits: flags with environment fallbacks.
#[derive(Debug, Clone, clap::Args)]
pub struct Limits {
    /// Seconds a client has to send a request header; idle keep-alive
    /// connections are closed after as long.
    #[arg(long, env = "AS_HEADER_READ_TIMEOUT", default_value_t = 10)]
    pub header_read_timeout: u64,
    /// Seconds a client has to send a request body.
    #[arg(long, env = "AS_BODY_READ_TIMEOUT", default_value_t = 10)]
    pub body_read_timeout: u64,
    /// Connections open at once, in all.
    #[arg(long, env = "AS_MAX_CONNECTIONS", default_value_t = 4096)]
    pub max_connections: usize,
    /// Connections open at once from one address (IPv6: one /64).
    #[arg(long, env = "AS_MAX_CONNECTIONS_PER_SOURCE", default_value_t = 256)]
    pub max_connections_per_source: usize,
    /// `POST /register` requests a minute from one address.
    #[arg(long, env = "AS_RATE_REGISTER", default_value_t = 120)]
    pub rate_register: u32,
    /// `GET /authorize` requests a minute from one address.
    #[arg(long, env = "AS_RATE_AUTHORIZE", default_value_t = 600)]
    pub rate_authorize: u32,
    /// `POST /login` requests a minute from one address (the failed-login
    /// throttle counts failures on top of this).
    #[arg(long, env = "AS_RATE_LOGIN", default_value_t = 300)]
    pub rate_login: u32,
    /// `POST /token` requests a minute from one address.
    #[arg(long, env = "AS_RATE_TOKEN", default_value_t = 1200)]
    pub rate_token: u32,
    /// `POST /introspect` requests a minute from one address. Resource
    /// servers ask once per new token, all from their own address.
    #[arg(long, env = "AS_RATE_INTROSPECT", default_value_t = 60_000)]
    pub rate_introspect: u32,
    /// `POST /revoke` requests a minute from one address.
    #[arg(long, env = "AS_RATE_REVOKE", default_value_t = 600)]
    pub rate_revoke: u32,
}
// ANCHOR_END: limits

impl Default for Limits {
    fn default() -> Self {
        Self {
            header_read_timeout: 10,
            body_read_timeout: 10,
            max_connections: 4096,
            max_connections_per_source: 256,
            rate_register: 120,
            rate_authorize: 600,
            rate_login: 300,
            rate_token: 1200,
            rate_introspect: 60_000,
            rate_revoke: 600,
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

    /// One limiter per route group (`None` where the limit is 0).
    pub fn rate_limits(&self) -> RateLimits {
        RateLimits {
            register: RateLimit::per_minute("register", self.rate_register),
            authorize: RateLimit::per_minute("authorize", self.rate_authorize),
            login: RateLimit::per_minute("login", self.rate_login),
            token: RateLimit::per_minute("token", self.rate_token),
            introspect: RateLimit::per_minute("introspect", self.rate_introspect),
            revoke: RateLimit::per_minute("revoke", self.rate_revoke),
        }
    }
}

/// The rate limiters of the routes that can be flooded.
#[derive(Debug, Clone, Default)]
pub struct RateLimits {
    pub register: Option<RateLimit>,
    pub authorize: Option<RateLimit>,
    pub login: Option<RateLimit>,
    pub token: Option<RateLimit>,
    pub introspect: Option<RateLimit>,
    pub revoke: Option<RateLimit>,
}

impl RateLimits {
    /// Forgets the sources that have been quiet for a while.
    pub fn sweep(&self) {
        let all = [
            &self.register,
            &self.authorize,
            &self.login,
            &self.token,
            &self.introspect,
            &self.revoke,
        ];
        for limit in all.into_iter().flatten() {
            limit.sweep();
        }
    }
}
