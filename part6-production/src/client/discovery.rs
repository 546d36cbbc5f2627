//! From a 401 to the authorization server's endpoints (rule CL-01, CL-02).
//! Every URL found on the way must be https or loopback ([`super::tls`]).
//!
//! rmcp's `AuthorizationManager::resolve_metadata_from_challenge` does this
//! too, but more leniently than our rules allow, so this module does it and
//! hands the checked metadata to rmcp with `set_metadata`. rmcp:
//! - accepts a PRM `resource` that is a path prefix of the server URL, and so
//!   do we (the root document of RFC 9728 §3.1 describes the origin), but we
//!   then send that `resource` on authorize, token and refresh requests;
//! - without PRM, falls back to metadata at the MCP server's own origin and
//!   finally to made-up `/authorize` and `/token` endpoints (the 2025-03-26
//!   behaviour); 2025-11-25 requires PRM, so we stop with an error;
//! - proceeds when the AS does not list `code_challenge_methods_supported`;
//!   we refuse an AS that does not advertise S256;
//! - does not tell us which PRM it used, so the transcript could not show it.

use rmcp::transport::auth::AuthorizationMetadata;
use serde::Deserialize;
use url::Url;

use super::{
    ClientError,
    challenge::BearerChallenge,
    error::{failure, plain_reason},
    resource::{resource_covers, same_resource},
    tls::{check_metadata_endpoints, require_tls},
};

/// What the RS says about itself (RFC 9728 §2).
#[derive(Debug, Clone, Deserialize)]
pub struct ResourceMetadata {
    /// The resource identifier: the MCP server URL, or its origin or a path
    /// prefix of it (RFC 9728 §3.3); tokens are requested for this value.
    pub resource: String,
    /// Issuers of the authorization servers it accepts tokens from.
    #[serde(default)]
    pub authorization_servers: Vec<String>,
    /// The scopes a client may ask for (rule CL-05 falls back to these).
    #[serde(default)]
    pub scopes_supported: Vec<String>,
}

// ANCHOR: discovery
/// Everything learned before talking to the authorization server.
#[derive(Debug, Clone)]
pub struct Discovery {
    /// Where the PRM came from.
    pub resource_metadata_url: String,
    /// The checked PRM.
    pub resource_metadata: ResourceMetadata,
    /// The issuer, byte-identical in the PRM and the AS metadata (RFC 8414 §3.3).
    pub issuer: String,
    /// Where the AS metadata came from.
    pub metadata_url: String,
    /// The checked AS metadata, as rmcp wants it.
    pub metadata: AuthorizationMetadata,
}

impl Discovery {
    /// Whether the AS promises `iss` on every authorization response (RFC 9207 §3).
    pub fn issuer_in_response(&self) -> bool {
        self.metadata
            .additional_fields
            .get("authorization_response_iss_parameter_supported")
            .and_then(serde_json::Value::as_bool)
            .unwrap_or(false)
    }

    /// Whether asking for `offline_access` can get us a refresh token
    /// (SEP-2207): the AS lists the scope in `scopes_supported`, and does not
    /// say it never issues refresh tokens (`grant_types_supported` without
    /// `refresh_token`).
    pub fn offers_offline_access(&self) -> bool {
        let listed = self
            .metadata
            .scopes_supported
            .as_ref()
            .is_some_and(|scopes| scopes.iter().any(|scope| scope == "offline_access"));
        let refreshes = match self.metadata.additional_fields.get("grant_types_supported") {
            Some(serde_json::Value::Array(grants)) => grants.iter().any(|g| g == "refresh_token"),
            _ => true,
        };
        listed && refreshes
    }

    /// Whether the AS accepts Client ID Metadata Documents (rule CL-03).
    pub fn client_id_metadata_documents(&self) -> bool {
        self.metadata
            .additional_fields
            .get("client_id_metadata_document_supported")
            .and_then(serde_json::Value::as_bool)
            .unwrap_or(false)
    }
}

/// Finds and checks the PRM of `server_url`, then the metadata of the first
/// authorization server it names that answers.
pub async fn discover(
    http: &reqwest::Client,
    server_url: &Url,
    challenge: Option<&BearerChallenge>,
) -> Result<Discovery, ClientError> {
    let (resource_metadata_url, resource_metadata) =
        fetch_resource_metadata(http, server_url, challenge).await?;
    let mut last_error = ClientError::ResourceMetadata(format!(
        "{resource_metadata_url} names no authorization server"
    ));
    for issuer in resource_metadata.authorization_servers.clone() {
        match fetch_authorization_metadata(http, &issuer).await {
            Ok((metadata_url, metadata)) => {
                return Ok(Discovery {
                    resource_metadata_url,
                    resource_metadata,
                    issuer,
                    metadata_url,
                    metadata,
                });
            }
            Err(error) => last_error = error,
        }
    }
    Err(last_error)
}
// ANCHOR_END: discovery

// ANCHOR: fetch_resource_metadata
/// rule CL-01: the challenge's `resource_metadata` if there is one (and
/// nothing else: the server told us where it is); otherwise the path-inserted
/// well-known URL, then the root one (RFC 9728 §3.1).
async fn fetch_resource_metadata(
    http: &reqwest::Client,
    server_url: &Url,
    challenge: Option<&BearerChallenge>,
) -> Result<(String, ResourceMetadata), ClientError> {
    let candidates = match challenge.and_then(|c| c.resource_metadata.as_deref()) {
        Some(advertised) => vec![advertised_url(server_url, advertised)?],
        None => well_known_urls(server_url, "oauth-protected-resource"),
    };
    for url in &candidates {
        let Some(metadata) = get_json::<ResourceMetadata>(http, url, "resource metadata").await?
        else {
            continue;
        };
        // RFC 9728 §3.3: a document found at the URL made from the server URL
        // (or named by the server) must be about that URL exactly; only the
        // root document, which describes the origin, may name the origin or a
        // path prefix of the server URL.
        let root = url.path() == "/.well-known/oauth-protected-resource";
        let acceptable = if root {
            resource_covers(&metadata.resource, server_url.as_str())
        } else {
            same_resource(&metadata.resource, server_url.as_str())
        };
        if !acceptable {
            return Err(ClientError::ResourceMetadata(format!(
                "{url} is about `{}`, not {server_url} (RFC 9728 §3.3)",
                metadata.resource
            )));
        }
        return Ok((url.to_string(), metadata));
    }
    Err(ClientError::ResourceMetadata(format!(
        "none at {}",
        candidates
            .iter()
            .map(Url::as_str)
            .collect::<Vec<_>>()
            .join(" or ")
    )))
}
// ANCHOR_END: fetch_resource_metadata

/// The `resource_metadata` URL, resolved against the server URL; an https
/// server may not send us to plain http.
fn advertised_url(server_url: &Url, advertised: &str) -> Result<Url, ClientError> {
    let url = server_url.join(advertised).map_err(|error| {
        ClientError::ResourceMetadata(format!("bad URL `{advertised}`: {error}"))
    })?;
    let downgrade = server_url.scheme() == "https" && url.scheme() != "https";
    if !matches!(url.scheme(), "http" | "https") || downgrade {
        return Err(ClientError::ResourceMetadata(format!(
            "refusing resource_metadata URL `{url}`"
        )));
    }
    require_tls("the resource_metadata URL", &url)?;
    Ok(url)
}

// ANCHOR: well_known_urls
/// `https://host/a/b` ⇒ `https://host/.well-known/{name}/a/b`, then
/// `https://host/.well-known/{name}` (RFC 9728 §3.1, RFC 8414 §3.1).
pub fn well_known_urls(base: &Url, name: &str) -> Vec<Url> {
    let path = base.path().trim_end_matches('/');
    let mut urls = Vec::new();
    let mut push = |path: String| {
        let mut url = base.clone();
        url.set_path(&path);
        url.set_query(None);
        url.set_fragment(None);
        if !urls.contains(&url) {
            urls.push(url);
        }
    };
    if !path.is_empty() {
        push(format!("/.well-known/{name}{path}"));
    }
    push(format!("/.well-known/{name}"));
    urls
}
// ANCHOR_END: well_known_urls

// ANCHOR: fetch_authorization_metadata
/// rule CL-02: RFC 8414 metadata first, then OpenID discovery (the order
/// of MCP 2025-11-25 §"Authorization Server Metadata Discovery"); the
/// `issuer` must be byte-identical to the one the PRM named, and S256 must
/// be advertised.
async fn fetch_authorization_metadata(
    http: &reqwest::Client,
    issuer: &str,
) -> Result<(String, AuthorizationMetadata), ClientError> {
    let issuer_url = Url::parse(issuer).map_err(|error| {
        ClientError::AuthServerMetadata(format!("bad issuer `{issuer}`: {error}"))
    })?;
    require_tls("the authorization server", &issuer_url)?;
    let mut candidates = Vec::new();
    let path = issuer_url.path().trim_end_matches('/');
    if path.is_empty() {
        candidates.extend(well_known_urls(&issuer_url, "oauth-authorization-server"));
        candidates.extend(well_known_urls(&issuer_url, "openid-configuration"));
    } else {
        candidates.push(well_known_urls(&issuer_url, "oauth-authorization-server").remove(0));
        candidates.push(well_known_urls(&issuer_url, "openid-configuration").remove(0));
        let mut appended = issuer_url.clone();
        appended.set_path(&format!("{path}/.well-known/openid-configuration"));
        candidates.push(appended);
    }
    for url in candidates {
        let Some(metadata) =
            get_json::<AuthorizationMetadata>(http, &url, "authorization server metadata").await?
        else {
            continue;
        };
        check_authorization_metadata(issuer, &metadata)?;
        return Ok((url.to_string(), metadata));
    }
    Err(ClientError::AuthServerMetadata(format!(
        "no RFC 8414 or OpenID metadata for {issuer}"
    )))
}
// ANCHOR_END: fetch_authorization_metadata

// ANCHOR: check_authorization_metadata
/// The checks of rule CL-02 on a parsed document: the issuer, S256, and
/// no endpoint in clear off this machine (OAuth 2.1 §1.5).
pub fn check_authorization_metadata(
    issuer: &str,
    metadata: &AuthorizationMetadata,
) -> Result<(), ClientError> {
    if metadata.issuer.as_deref() != Some(issuer) {
        return Err(ClientError::AuthServerMetadata(format!(
            "issuer is `{}`, expected `{issuer}` (RFC 8414 §3.3)",
            metadata.issuer.as_deref().unwrap_or("(missing)")
        )));
    }
    let s256 = metadata
        .code_challenge_methods_supported
        .as_ref()
        .is_some_and(|methods| methods.iter().any(|method| method == "S256"));
    if !s256 {
        return Err(ClientError::AuthServerMetadata(format!(
            "{issuer} does not advertise PKCE S256 (code_challenge_methods_supported)"
        )));
    }
    check_metadata_endpoints(metadata)
}
// ANCHOR_END: check_authorization_metadata

/// GETs a JSON document: `Ok(None)` for 404 and the other "not here"
/// statuses (try the next candidate), an
/// error for anything else that is not a 200 with the expected JSON.
async fn get_json<T: serde::de::DeserializeOwned>(
    http: &reqwest::Client,
    url: &Url,
    what: &'static str,
) -> Result<Option<T>, ClientError> {
    let hint = match what {
        "authorization server metadata" => {
            "is the authorization server running? (cargo run -p part3-as-full)"
        }
        _ => "is the resource server running? (cargo run -p part4-protected-rs)",
    };
    let fetch_error = |reason: String, unreachable: bool| ClientError::Fetch {
        what,
        url: url.to_string(),
        reason,
        hint: unreachable.then_some(hint),
    };
    let response = http
        .get(url.clone())
        .header("accept", "application/json")
        .send()
        .await
        .map_err(|error| {
            let (unreachable, reason) = failure(&error);
            fetch_error(reason, unreachable)
        })?;
    match response.status().as_u16() {
        200 => {}
        404 | 405 | 401 | 403 => return Ok(None),
        status => return Err(fetch_error(format!("HTTP {status}"), false)),
    }
    let body = response
        .bytes()
        .await
        .map_err(|error| fetch_error(plain_reason(&error), false))?;
    serde_json::from_slice(&body)
        .map(Some)
        .map_err(|error| fetch_error(format!("not the expected JSON: {error}"), false))
}
