//! The real users: whole flows (register, authorize, the login page
//! fetched and submitted, token, one protected MCP call at the RS), driven
//! by the bench's login ([`oauth`]), from an address of their own.

use std::{
    net::{IpAddr, Ipv4Addr},
    time::{Duration, Instant},
};

use anyhow::{Context, Result};
use reqwest::Client;

use crate::bench::{oauth, stats::Samples};

/// Where the real users come from: not the flood's 127.0.0.1, so that a
/// per-source limit the flood earns does not refuse them.
pub const USER_ADDRESS: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 2);

/// Where the attacker's setup comes from (its client, its refresh token,
/// its login page): not 127.0.0.1 either, whose limits an earlier flood may
/// still be paying off.
pub const SETUP_ADDRESS: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 3);

/// A real user starts a flow at most this often: a person signing in
/// again and again, not a flood of their own.
pub const PACE: Duration = Duration::from_secs(1);

/// How long one request of a flow may take before the flow counts as
/// failed. A flood that makes a user wait longer has locked them out.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// The protected call each flow ends with.
const SERVER_TIME: &str = r#"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"server_time","arguments":{}}}"#;

/// A client like [`oauth::http_client`] whose connections leave from
/// `address`.
pub fn client_from(address: Ipv4Addr) -> Result<Client> {
    Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .local_address(IpAddr::V4(address))
        .timeout(REQUEST_TIMEOUT)
        .build()
        .context("cannot build an HTTP client")
}

/// The flows of one flood: how long each that completed took, and how
/// many failed (with the first error).
#[derive(Debug, Clone, Default)]
pub struct Flows {
    pub during_ok: u64,
    pub during_failed: u64,
    pub after_ok: u64,
    pub after_failed: u64,
    pub times: Samples,
    pub first_error: Option<String>,
}

impl Flows {
    pub fn ok(&self) -> u64 {
        self.during_ok + self.after_ok
    }

    pub fn failed(&self) -> u64 {
        self.during_failed + self.after_failed
    }

    /// Runs one flow and records it, as during or after the flood.
    pub async fn run_one(&mut self, http: &Client, issuer: &str, mcp_url: &str, during: bool) {
        let started = Instant::now();
        let result = flow(http, issuer, mcp_url).await;
        let (ok, failed) = if during {
            (&mut self.during_ok, &mut self.during_failed)
        } else {
            (&mut self.after_ok, &mut self.after_failed)
        };
        match result {
            Ok(()) => {
                *ok += 1;
                self.times.push(started.elapsed().as_secs_f64() * 1e6);
            }
            Err(error) => {
                *failed += 1;
                let when = if during { "during" } else { "after" };
                self.first_error
                    .get_or_insert_with(|| format!("{when} the flood: {error:#}"));
            }
        }
    }

    /// Runs flows at [`PACE`] until `done()` says the flood is over.
    pub async fn run_while(
        &mut self,
        http: &Client,
        issuer: &str,
        mcp_url: &str,
        done: impl Fn() -> bool,
    ) {
        while !done() {
            let next = tokio::time::Instant::now() + PACE;
            self.run_one(http, issuer, mcp_url, true).await;
            // Wake early when the flood ends, so the flows after it start
            // as soon as it is over.
            while !done() && tokio::time::Instant::now() < next {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

/// One whole flow: the bench's login, then a protected call.
async fn flow(http: &Client, issuer: &str, mcp_url: &str) -> Result<()> {
    let token = oauth::login(http, issuer, mcp_url).await?;
    let session = oauth::mcp_session(http, mcp_url, Some(&token)).await?;
    oauth::check_call(http, mcp_url, Some(&token), &session, SERVER_TIME).await
}
