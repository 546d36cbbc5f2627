//! The logic layer of the authorization server.
//!
//! The [`Provider`] decides; the web layer ([`super::server`]) only carries
//! requests to it and its answers back. Nothing here knows about HTTP, which
//! keeps the security decisions in one place that reads like the RFCs.
//!
//! In part 2 the provider knows only its configuration: enough to describe
//! the server (RFC 8414). Part 3 gives it clients, codes and tokens.

use serde::Serialize;

use super::Config;

// ANCHOR: provider
/// Everything the authorization server knows and decides.
#[derive(Debug)]
pub struct Provider {
    issuer: String,
}

impl Provider {
    /// A provider for `config`. The issuer is kept exactly as configured.
    pub fn new(config: &Config) -> Self {
        Self {
            issuer: config.issuer.clone(),
        }
    }
}
// ANCHOR_END: provider

// ANCHOR: metadata
/// The Authorization Server Metadata document (RFC 8414 §2).
///
/// It lists only what this server implements (rule AS-01). RFC 8414 makes
/// `response_types_supported` required, so it is present, and empty: there
/// is no authorization endpoint yet. `grant_types_supported` is empty on
/// purpose too, because leaving it out would mean the RFC's default,
/// `["authorization_code", "implicit"]`, a promise this server cannot keep.
#[derive(Debug, Clone, Serialize)]
pub struct Metadata {
    /// The issuer, byte-identical to the configuration (RFC 8414 §3.3).
    pub issuer: String,
    /// The `response_type` values the authorization endpoint accepts.
    pub response_types_supported: Vec<&'static str>,
    /// The grant types the token endpoint accepts.
    pub grant_types_supported: Vec<&'static str>,
}

impl Provider {
    /// The metadata document, built from the configuration on each request
    /// (it is small, and this keeps it in step with the configuration).
    pub fn metadata(&self) -> Metadata {
        Metadata {
            issuer: self.issuer.clone(),
            response_types_supported: Vec::new(),
            grant_types_supported: Vec::new(),
        }
    }
}
// ANCHOR_END: metadata
