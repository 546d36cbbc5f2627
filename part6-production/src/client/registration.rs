//! Getting a client id (rule CL-03).
//!
//! rmcp's `AuthorizationSession::new` picks the method in the right order
//! (pre-registered, then Client ID Metadata Document, then Dynamic Client
//! Registration), but it takes the `AuthorizationManager` by value, and ours
//! lives inside the transport's `AuthClient` behind a mutex. So this module
//! makes the same decision and calls the same manager methods rmcp would:
//! `configure_client` for the first two, `register_client` (RFC 7591,
//! public client, `token_endpoint_auth_method=none`) for the third.

use rmcp::transport::auth::{AuthorizationManager, OAuthClientConfig};
use url::Url;

use super::{ClientError, discovery::Discovery};

/// The client id this run uses, and how it was obtained.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registration {
    /// The authorization server this client id belongs to; it is never sent
    /// to another one (SEP-2352).
    pub issuer: String,
    /// The `client_id` sent to the AS.
    pub client_id: String,
    /// A secret, for confidential pre-registered or DCR clients; never printed.
    pub client_secret: Option<String>,
    /// How the id was obtained.
    pub method: RegistrationMethod,
}

/// The three ways of rule CL-03, plus reusing a cached registration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegistrationMethod {
    /// `--client-id` (and maybe `--client-secret`).
    PreRegistered,
    /// `--client-metadata-url`: the URL is the client id.
    MetadataDocument,
    /// RFC 7591 at this registration endpoint.
    Dynamic { endpoint: String },
    /// The client id from `--token-cache`, registered in an earlier run.
    Cached,
}

impl std::fmt::Display for RegistrationMethod {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::PreRegistered => write!(f, "pre-registered"),
            Self::MetadataDocument => write!(f, "Client ID Metadata Document"),
            Self::Dynamic { endpoint } => write!(f, "registered dynamically at {endpoint}"),
            Self::Cached => write!(f, "registered in an earlier run"),
        }
    }
}

/// What the person told us about the client.
#[derive(Debug, Clone, Default)]
pub struct ClientIdentity {
    /// `--client-id`.
    pub client_id: Option<String>,
    /// `--client-secret`.
    pub client_secret: Option<String>,
    /// `--client-metadata-url`.
    pub client_metadata_url: Option<String>,
    /// `client_name` for DCR, shown on the login page.
    pub client_name: String,
}

// ANCHOR: register
/// Configures `manager` with a client id, in the order of rule CL-03.
/// `cached` is a client id from the token cache for this same issuer.
pub async fn register(
    manager: &mut AuthorizationManager,
    identity: &ClientIdentity,
    discovery: &Discovery,
    cached: Option<&str>,
    redirect_uri: &str,
    scopes: &[String],
) -> Result<Registration, ClientError> {
    let registration = if let Some(client_id) = &identity.client_id {
        Registration {
            issuer: discovery.issuer.clone(),
            client_id: client_id.clone(),
            client_secret: identity.client_secret.clone(),
            method: RegistrationMethod::PreRegistered,
        }
    } else if let Some(url) = identity
        .client_metadata_url
        .as_deref()
        .filter(|_| discovery.client_id_metadata_documents())
    {
        check_metadata_document_url(url)?;
        Registration {
            issuer: discovery.issuer.clone(),
            client_id: url.to_owned(),
            client_secret: None,
            method: RegistrationMethod::MetadataDocument,
        }
    } else if let Some(client_id) = cached {
        Registration {
            issuer: discovery.issuer.clone(),
            client_id: client_id.to_owned(),
            client_secret: None,
            method: RegistrationMethod::Cached,
        }
    } else {
        let Some(endpoint) = discovery.metadata.registration_endpoint.clone() else {
            return Err(ClientError::Registration(format!(
                "{} offers no registration endpoint; pass --client-id",
                discovery.issuer
            )));
        };
        let scope_refs: Vec<&str> = scopes.iter().map(String::as_str).collect();
        let config = manager
            .register_client(&identity.client_name, redirect_uri, &scope_refs)
            .await
            .map_err(|error| ClientError::Registration(error.to_string()))?;
        Registration {
            issuer: discovery.issuer.clone(),
            client_id: config.client_id,
            client_secret: config.client_secret,
            method: RegistrationMethod::Dynamic { endpoint },
        }
    };
    configure(manager, &registration, redirect_uri)?;
    Ok(registration)
}
// ANCHOR_END: register

/// Points the manager's OAuth client at `redirect_uri` with this client id.
pub fn configure(
    manager: &mut AuthorizationManager,
    registration: &Registration,
    redirect_uri: &str,
) -> Result<(), ClientError> {
    let mut config = OAuthClientConfig::new(registration.client_id.clone(), redirect_uri);
    if let Some(secret) = &registration.client_secret {
        config = config.with_client_secret(secret.clone());
    }
    manager
        .configure_client(config)
        .map_err(|error| ClientError::Registration(error.to_string()))
}

/// A Client ID Metadata Document URL is https with a path (it is the
/// client's identity; the AS fetches it).
fn check_metadata_document_url(url: &str) -> Result<(), ClientError> {
    let parsed =
        Url::parse(url).map_err(|error| ClientError::Registration(format!("{url}: {error}")))?;
    if parsed.scheme() != "https" || parsed.path() == "/" || parsed.fragment().is_some() {
        return Err(ClientError::Registration(format!(
            "--client-metadata-url must be an https URL with a path, got {url}"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cl03_metadata_document_url_is_https_with_a_path() {
        assert!(check_metadata_document_url("https://app.example.com/client.json").is_ok());
        assert!(check_metadata_document_url("https://app.example.com/").is_err());
        assert!(check_metadata_document_url("http://app.example.com/client.json").is_err());
    }
}
