//! The logic layer of the authorization server.
//!
//! The [`Provider`] decides; the web layer ([`crate::authorization_server::web::server`]) only carries
//! requests to it and its answers back. Nothing here knows about HTTP, which
//! keeps the security decisions in one place that reads like the RFCs.
//!
//! This file holds the provider itself and its metadata. Its other methods
//! live next to the concern they implement: [`super::clients`]
//! (registration), [`super::authorization`] and [`super::login`] (the
//! authorization request and the sign-in), [`super::tokens`] (the token
//! endpoint), [`super::introspection`] (introspection, revocation) and
//! [`super::client_metadata_document`] (clients known by a URL).

use std::sync::Arc;

use serde::Serialize;

use super::{
    document_fetch::{FetchDocument, HttpFetcher},
    secret::Digest,
    store::Store,
    users::{DemoUser, Throttle},
};
use crate::{
    authorization_server::{Config, error::StartupError},
    clock::Clock,
};

// ANCHOR: provider
/// Everything the authorization server knows and decides.
#[derive(Debug)]
pub struct Provider {
    pub(super) issuer: String,
    /// The resources a token may be for (RFC 8707), e.g. the MCP server URL.
    pub(super) resources: Vec<String>,
    pub(super) scopes: Vec<String>,
    pub(super) token_lifetime: i64,
    pub(super) store: Store,
    pub(super) user: Arc<DemoUser>,
    pub(super) throttle: Throttle,
    pub(super) resource_server: ResourceServerCredentials,
    /// Fetches Client ID Metadata Documents; a test may substitute it.
    pub(super) document_fetcher: Arc<dyn FetchDocument>,
    /// Whether a `client_id` may be an `http` URL on a loopback host.
    pub(super) cimd_allow_loopback_http: bool,
    /// The time every expiry is read from.
    clock: Clock,
}

/// The one client allowed to introspect: the resource server (rule AS-09).
#[derive(Debug)]
pub struct ResourceServerCredentials {
    pub(super) id: String,
    pub(super) secret: Digest,
}

impl Provider {
    /// A provider for `config`. The issuer is kept exactly as configured; the
    /// demo password is hashed here and the plain text is not kept.
    pub fn new(config: &Config) -> Result<Self, StartupError> {
        let resources = clean_list(&config.resources);
        let scopes = clean_list(&config.scopes);
        if resources.is_empty() || scopes.is_empty() {
            return Err(StartupError::Config(
                "at least one resource and one scope must be configured",
            ));
        }
        let token_lifetime = i64::try_from(config.token_lifetime)
            .ok()
            .filter(|lifetime| *lifetime > 0)
            .ok_or(StartupError::Config("the token lifetime must be positive"))?;
        let fetcher = HttpFetcher::new(config.cimd_allow_loopback_http)
            .map_err(|error| StartupError::HttpClient(error.to_string()))?;
        Ok(Self {
            issuer: config.issuer.clone(),
            resources,
            scopes,
            token_lifetime,
            store: Store::default(),
            user: Arc::new(DemoUser::new(&config.demo_username, &config.demo_password)?),
            throttle: Throttle::default(),
            resource_server: ResourceServerCredentials {
                id: config.introspection_client_id.clone(),
                secret: Digest::of(&config.introspection_client_secret),
            },
            document_fetcher: Arc::new(fetcher),
            cimd_allow_loopback_http: config.cimd_allow_loopback_http,
            clock: config.clock.clone(),
        })
    }

    /// The same provider, fetching Client ID Metadata Documents with
    /// `fetcher` instead of over the network (for tests).
    pub fn with_document_fetcher(mut self, fetcher: Arc<dyn FetchDocument>) -> Self {
        self.document_fetcher = fetcher;
        self
    }

    /// The issuer, as configured.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// Seconds since the Unix epoch: the clock of every expiry.
    pub fn now(&self) -> i64 {
        self.clock.unix_seconds()
    }

    /// Drops expired sign-ins, codes, tokens and throttle windows, so
    /// memory stays bounded; the server calls this every minute.
    pub fn sweep(&self) {
        let now = self.now();
        self.store.sweep(now);
        self.throttle.sweep(now);
    }

    /// The absolute URL of one of this server's endpoints.
    fn endpoint(&self, path: &str) -> String {
        format!("{}{path}", self.issuer.trim_end_matches('/'))
    }
}
// ANCHOR_END: provider

/// Trims the entries of a comma-separated setting and drops empty ones.
fn clean_list(items: &[String]) -> Vec<String> {
    items
        .iter()
        .map(|item| item.trim().to_owned())
        .filter(|item| !item.is_empty())
        .collect()
}

// ANCHOR: metadata
/// The Authorization Server Metadata document (RFC 8414 §2).
///
/// It lists only what this server implements (rule AS-01): every
/// endpoint of the authorization-code flow, S256 as the only PKCE method,
/// the `iss` authorization response parameter of RFC 9207, and Client ID
/// Metadata Documents.
#[derive(Debug, Clone, Serialize)]
pub struct Metadata {
    /// The issuer, byte-identical to the configuration (RFC 8414 §3.3).
    pub issuer: String,
    pub authorization_endpoint: String,
    pub token_endpoint: String,
    /// Dynamic Client Registration (RFC 7591).
    pub registration_endpoint: String,
    /// Token introspection, for resource servers (RFC 7662).
    pub introspection_endpoint: String,
    /// Token revocation (RFC 7009).
    pub revocation_endpoint: String,
    pub scopes_supported: Vec<String>,
    /// The `response_type` values the authorization endpoint accepts.
    pub response_types_supported: Vec<&'static str>,
    pub response_modes_supported: Vec<&'static str>,
    /// The grant types the token endpoint accepts.
    pub grant_types_supported: Vec<&'static str>,
    pub token_endpoint_auth_methods_supported: Vec<&'static str>,
    pub introspection_endpoint_auth_methods_supported: Vec<&'static str>,
    pub revocation_endpoint_auth_methods_supported: Vec<&'static str>,
    /// Only S256 (OAuth 2.1 §4.1.1; rule AS-02).
    pub code_challenge_methods_supported: Vec<&'static str>,
    /// Every authorization response carries `iss` (RFC 9207 §3).
    pub authorization_response_iss_parameter_supported: bool,
    /// A `client_id` may be the https URL of the client's metadata
    /// document (draft-ietf-oauth-client-id-metadata-document; MCP
    /// 2025-11-25 asks servers to support it).
    pub client_id_metadata_document_supported: bool,
}

impl Provider {
    /// The metadata document, built from the configuration on each request
    /// (it is small, and this keeps it in step with the configuration).
    pub fn metadata(&self) -> Metadata {
        let client_methods = vec!["client_secret_basic", "client_secret_post", "none"];
        Metadata {
            issuer: self.issuer.clone(),
            authorization_endpoint: self.endpoint("/authorize"),
            token_endpoint: self.endpoint("/token"),
            registration_endpoint: self.endpoint("/register"),
            introspection_endpoint: self.endpoint("/introspect"),
            revocation_endpoint: self.endpoint("/revoke"),
            scopes_supported: self.scopes.clone(),
            response_types_supported: vec!["code"],
            response_modes_supported: vec!["query"],
            grant_types_supported: vec!["authorization_code", "refresh_token"],
            token_endpoint_auth_methods_supported: client_methods.clone(),
            introspection_endpoint_auth_methods_supported: vec![
                "client_secret_basic",
                "client_secret_post",
            ],
            revocation_endpoint_auth_methods_supported: client_methods,
            code_challenge_methods_supported: vec!["S256"],
            authorization_response_iss_parameter_supported: true,
            client_id_metadata_document_supported: true,
        }
    }
}
// ANCHOR_END: metadata
