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
    signing::Keys,
    store::{DocumentCache, Store},
    users::{DemoUser, Throttle},
};
use crate::{
    authorization_server::{Config, error::StartupError},
    clock::Clock,
    metrics::{KindLabels, Metrics},
};

// ANCHOR: provider
/// Everything the authorization server knows and decides.
#[derive(Debug)]
pub struct Provider {
    pub(super) issuer: String,
    /// The resources a token may be for (RFC 8707), e.g. the MCP server URL.
    pub(super) resources: Vec<String>,
    pub(super) scopes: Vec<String>,
    /// Each scope's words for the consent page, where configured.
    pub(super) scope_descriptions: Vec<(String, String)>,
    pub(super) token_lifetime: i64,
    /// Everything the server remembers, in the database (SQLite or
    /// PostgreSQL), shared by every instance on it.
    pub(super) store: Arc<dyn Store>,
    /// Clients read from metadata documents: a per-instance cache.
    pub(super) documents: DocumentCache,
    /// The keys that sign access tokens, as last read from the database.
    pub(super) keys: Keys,
    pub(super) user: Arc<DemoUser>,
    pub(super) throttle: Throttle,
    /// The clients allowed to introspect, one per resource (rule P6-06).
    pub(super) resource_servers: Vec<ResourceServerCredentials>,
    /// Fetches Client ID Metadata Documents; a test may substitute it.
    pub(super) document_fetcher: Arc<dyn FetchDocument>,
    /// Whether a `client_id` may be an `http` URL on a loopback host.
    pub(super) cimd_allow_loopback_http: bool,
    /// What the admin listener's `/metrics` shows (rule P6-07).
    pub(crate) metrics: Metrics,
    /// The time every expiry is read from.
    clock: Clock,
}

/// A client allowed to introspect: a resource server (rule AS-09), and the
/// one resource whose tokens it may read (rule P6-06).
#[derive(Debug)]
pub struct ResourceServerCredentials {
    pub(super) id: String,
    pub(super) secret: Digest,
    pub(super) resource: String,
}

impl Provider {
    /// A provider for `config` on `store` (see [`super::store::open`]). The
    /// issuer is kept exactly as configured; the demo password is hashed
    /// here and the plain text is not kept.
    pub fn new(config: &Config, store: Arc<dyn Store>) -> Result<Self, StartupError> {
        let resources = clean_list(&config.resources);
        let scopes = clean_list(&config.scopes);
        if resources.is_empty() || scopes.is_empty() {
            return Err(StartupError::Config(
                "at least one resource and one scope must be configured",
            ));
        }
        let scope_descriptions = scope_descriptions(config, &scopes)?;
        let token_lifetime = i64::try_from(config.token_lifetime)
            .ok()
            .filter(|lifetime| *lifetime > 0)
            .ok_or(StartupError::Config("the token lifetime must be positive"))?;
        let fetcher = HttpFetcher::new(config.cimd_allow_loopback_http)
            .map_err(|error| StartupError::HttpClient(error.to_string()))?;
        let resource_servers = resource_servers(config, &resources)?;
        Ok(Self {
            issuer: config.issuer.clone(),
            resources,
            scopes,
            scope_descriptions,
            token_lifetime,
            store,
            documents: DocumentCache::default(),
            keys: Keys::default(),
            user: Arc::new(DemoUser::new(&config.demo_username, &config.demo_password)?),
            throttle: Throttle,
            resource_servers,
            document_fetcher: Arc::new(fetcher),
            cimd_allow_loopback_http: config.cimd_allow_loopback_http,
            metrics: Metrics::new(),
            clock: config.clock.clone(),
        })
    }

    /// Readiness (`/readyz`, rule P6-07): the database answers and a key
    /// can sign access tokens; otherwise why not.
    pub async fn ready(&self) -> Result<(), String> {
        (self.store.ping().await).map_err(|_| "the database cannot be reached".to_owned())?;
        (self.key_set().await)
            .map_err(|_| "no access-token signing key can be loaded".to_owned())?;
        Ok(())
    }

    /// Before a scrape: the database pool's connections, by state.
    pub fn before_scrape(&self, metrics: &Metrics) {
        let (size, idle) = self.store.connections();
        let gauge = |kind| metrics.db_connections.get_or_create(&KindLabels { kind });
        gauge("idle").set(i64::from(idle));
        gauge("in_use").set(i64::from(size.saturating_sub(idle)));
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

    /// Deletes expired sign-ins, codes, grants, tokens and unused clients
    /// in the database, and expired cached documents in memory; the server
    /// calls this every minute. Each instance sweeps; deleting what is
    /// already gone costs nothing.
    pub async fn sweep(&self) {
        let now = self.now();
        if let Err(error) = self.store.sweep(now).await {
            tracing::warn!(%error, "the sweep failed; it runs again in a minute");
        }
        self.documents.sweep(now);
    }

    /// The absolute URL of one of this server's endpoints.
    fn endpoint(&self, path: &str) -> String {
        format!("{}{path}", self.issuer.trim_end_matches('/'))
    }
}
// ANCHOR_END: provider

/// The introspection credentials, each bound to its resource: the
/// `AS_INTROSPECTION_CLIENT_*` pair to the first resource, then every
/// `AS_RESOURCE_SERVERS` entry (`CLIENT_ID:SECRET@RESOURCE`) to its own,
/// which must be one of the resources.
fn resource_servers(
    config: &Config,
    resources: &[String],
) -> Result<Vec<ResourceServerCredentials>, StartupError> {
    let first = resources.first().ok_or(StartupError::Config(
        "at least one resource must be configured",
    ))?;
    let mut servers = vec![ResourceServerCredentials {
        id: config.introspection_client_id.clone(),
        secret: Digest::of(&config.introspection_client_secret),
        resource: first.clone(),
    }];
    for entry in clean_list(&config.resource_servers) {
        let refused = StartupError::Config(
            "AS_RESOURCE_SERVERS entries are CLIENT_ID:SECRET@RESOURCE, with RESOURCE one of AS_RESOURCES",
        );
        let (credentials, resource) = entry.split_once("@http").ok_or(refused.clone())?;
        let resource = format!("http{resource}");
        let (id, secret) = credentials.split_once(':').ok_or(refused.clone())?;
        if id.is_empty() || secret.is_empty() || !resources.contains(&resource) {
            return Err(refused);
        }
        if servers.iter().any(|server| server.id == id) {
            return Err(StartupError::Config(
                "two resource servers share a client id",
            ));
        }
        servers.push(ResourceServerCredentials {
            id: id.to_owned(),
            secret: Digest::of(secret),
            resource,
        });
    }
    Ok(servers)
}

/// Trims the entries of a comma-separated setting and drops empty ones.
/// `AS_SCOPE_DESCRIPTIONS`, checked: `scope=words`, a scope this server
/// offers, each once. An empty entry (a trailing `;`) is skipped.
fn scope_descriptions(
    config: &Config,
    scopes: &[String],
) -> Result<Vec<(String, String)>, StartupError> {
    let mut described: Vec<(String, String)> = Vec::new();
    for entry in clean_list(&config.scope_descriptions) {
        let (scope, words) = entry.split_once('=').ok_or(StartupError::Config(
            "AS_SCOPE_DESCRIPTIONS: each entry is `scope=words`",
        ))?;
        let (scope, words) = (scope.trim(), words.trim());
        if !scopes.iter().any(|known| known == scope) {
            return Err(StartupError::Config(
                "AS_SCOPE_DESCRIPTIONS: describes a scope that is not in AS_SCOPES",
            ));
        }
        if words.is_empty() || described.iter().any(|(known, _)| known == scope) {
            return Err(StartupError::Config(
                "AS_SCOPE_DESCRIPTIONS: each scope once, with words",
            ));
        }
        described.push((scope.to_owned(), words.to_owned()));
    }
    Ok(described)
}

impl Provider {
    /// The scopes of a request as the consent page shows them: each name
    /// with its words, where it has some.
    pub fn describe_scopes(&self, scope: &[String]) -> Vec<ScopeText> {
        (scope.iter())
            .map(|name| ScopeText {
                name: name.clone(),
                description: (self.scope_descriptions.iter())
                    .find(|(known, _)| known == name)
                    .map(|(_, words)| words.clone()),
            })
            .collect()
    }
}

/// A scope on the consent page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScopeText {
    pub name: String,
    /// What it lets the client do, in words (`AS_SCOPE_DESCRIPTIONS`).
    pub description: Option<String>,
}

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
    /// The public keys that check access tokens (RFC 8414 §2, RFC 9068).
    pub jwks_uri: String,
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
            jwks_uri: self.endpoint("/jwks.json"),
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
