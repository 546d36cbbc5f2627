//! Client registration (RFC 7591) and client authentication (RFC 6749 §2.3).
//!
//! Any program may register itself as a client (rule AS-06): MCP clients
//! meet servers they have never seen, so there is no one to register them
//! by hand. What a client registers is therefore untrusted, and checked.

use serde::{Deserialize, Serialize};

use super::{
    provider::Provider,
    redirect::check_redirect_uri,
    secret::{Digest, constant_time_eq, new_secret},
    store::{AuthMethod, Client},
};
use crate::{
    authorization_server::error::{DocumentError, OAuthError},
    limits::Source,
};

/// The client metadata this server reads (RFC 7591 §2); other fields are
/// ignored, as §3.1 allows.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct RegistrationRequest {
    pub redirect_uris: Option<Vec<String>>,
    pub token_endpoint_auth_method: Option<String>,
    pub grant_types: Option<Vec<String>>,
    pub response_types: Option<Vec<String>>,
    pub client_name: Option<String>,
}

/// The registration response (RFC 7591 §3.2.1).
#[derive(Debug, Clone, Serialize)]
pub struct RegistrationResponse {
    pub client_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
    pub client_id_issued_at: i64,
    /// 0: the secret does not expire. Present only with a secret.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_secret_expires_at: Option<i64>,
    pub redirect_uris: Vec<String>,
    pub token_endpoint_auth_method: &'static str,
    pub grant_types: Vec<String>,
    pub response_types: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_name: Option<String>,
}

/// The credentials a request presented, as the web layer found them.
#[derive(Clone, PartialEq, Eq)]
pub enum ClientCredentials {
    /// `Authorization: Basic` (RFC 6749 §2.3.1).
    Basic { id: String, secret: String },
    /// `client_id` and `client_secret` in the body (RFC 6749 §2.3.1).
    Post { id: String, secret: String },
    /// Only `client_id`: a public client.
    Public { id: String },
    /// Nothing at all.
    Missing,
}

/// Prints the client id and the method, never the secret.
impl std::fmt::Debug for ClientCredentials {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Basic { id, .. } => write!(formatter, "Basic({id}, ..)"),
            Self::Post { id, .. } => write!(formatter, "Post({id}, ..)"),
            Self::Public { id } => write!(formatter, "Public({id})"),
            Self::Missing => formatter.write_str("Missing"),
        }
    }
}

const MAX_REDIRECT_URIS: usize = 10;
const MAX_NAME_LENGTH: usize = 100;

impl Provider {
    // ANCHOR: register_client
    /// Registers a client after checking its metadata (RFC 7591 §2,
    /// rule AS-06). The server makes the id and the secret; a public
    /// client (`none`) gets no secret.
    pub async fn register(
        &self,
        request: RegistrationRequest,
        source: Source,
    ) -> Result<RegistrationResponse, OAuthError> {
        let checked = check_metadata(&request)?;
        let auth_method = match request.token_endpoint_auth_method.as_deref() {
            Some("none") => AuthMethod::None,
            // RFC 7591 §2: client_secret_basic when omitted.
            Some("client_secret_basic") | None => AuthMethod::ClientSecretBasic,
            Some("client_secret_post") => AuthMethod::ClientSecretPost,
            Some(_) => {
                return Err(OAuthError::InvalidClientMetadata(
                    "token_endpoint_auth_method must be none, client_secret_basic or client_secret_post",
                ));
            }
        };
        let secret = match auth_method {
            AuthMethod::None => None,
            _ => Some(new_secret()?),
        };
        let client = Client {
            id: uuid::Uuid::new_v4().to_string(),
            secret: secret.as_deref().map(Digest::of),
            auth_method,
            redirect_uris: checked.redirect_uris.clone(),
            grant_types: checked.grant_types.clone(),
            name: request.client_name.clone(),
            unused_since: Some((source.to_string(), self.now())),
        };
        let client_id = client.id.clone();
        self.store.insert_client(&client).await?;
        tracing::info!(%client_id, "registered a client");
        Ok(RegistrationResponse {
            client_id,
            client_secret_expires_at: secret.as_ref().map(|_| 0),
            client_secret: secret,
            client_id_issued_at: self.now(),
            redirect_uris: checked.redirect_uris,
            token_endpoint_auth_method: auth_method_name(auth_method),
            grant_types: checked.grant_types,
            response_types: checked.response_types,
            client_name: request.client_name,
        })
    }
    // ANCHOR_END: register_client

    // ANCHOR: authenticate_client
    /// Authenticates a client at the token and revocation endpoints.
    ///
    /// A client must use the method it registered: a confidential client
    /// cannot fall back to sending no secret, and a public one cannot send
    /// a secret it never got. Any failure is one `invalid_client`, with a
    /// Basic challenge when Basic was tried (RFC 6749 §5.2).
    ///
    /// The client may be registered or, when its id is a URL, read from its
    /// metadata document; such clients are public (`none`).
    pub async fn authenticate_client(
        &self,
        credentials: &ClientCredentials,
    ) -> Result<Client, OAuthError> {
        let basic_attempted = matches!(credentials, ClientCredentials::Basic { .. });
        let failure = OAuthError::InvalidClient { basic_attempted };
        let (id, secret, method) = match credentials {
            ClientCredentials::Basic { id, secret } => {
                (id, Some(secret), AuthMethod::ClientSecretBasic)
            }
            ClientCredentials::Post { id, secret } => {
                (id, Some(secret), AuthMethod::ClientSecretPost)
            }
            ClientCredentials::Public { id } => (id, None, AuthMethod::None),
            ClientCredentials::Missing => return Err(failure),
        };
        let client = match self.find_client(id).await {
            Ok(Some(client)) => client,
            Err(DocumentError::Unavailable) => return Err(OAuthError::TemporarilyUnavailable),
            Ok(None) | Err(_) => return Err(failure),
        };
        let secret_ok = match (secret, &client.secret) {
            (Some(secret), Some(digest)) => digest.matches(&Digest::of(secret)),
            (None, None) => true,
            _ => false,
        };
        if client.auth_method != method || !secret_ok {
            return Err(failure);
        }
        Ok(client)
    }
    // ANCHOR_END: authenticate_client

    /// Authenticates the resource server at the introspection endpoint
    /// (rule AS-09): only the configured id and secret, by Basic or post.
    /// Returns the resource whose tokens that server may read (rule P6-06).
    /// Every configured pair is compared, in constant time, so the time
    /// taken does not tell which id exists.
    pub fn authenticate_resource_server(
        &self,
        credentials: &ClientCredentials,
    ) -> Result<&str, OAuthError> {
        let basic_attempted = matches!(credentials, ClientCredentials::Basic { .. });
        let (ClientCredentials::Basic { id, secret } | ClientCredentials::Post { id, secret }) =
            credentials
        else {
            return Err(OAuthError::InvalidClient { basic_attempted });
        };
        let presented = Digest::of(secret);
        let mut found = None;
        for server in &self.resource_servers {
            if constant_time_eq(id, &server.id) & server.secret.matches(&presented) {
                found = Some(server.resource.as_str());
            }
        }
        found.ok_or(OAuthError::InvalidClient { basic_attempted })
    }
}

/// Client metadata that passed the checks both registration and metadata
/// documents apply, with the RFC 7591 §2 defaults filled in.
#[derive(Debug, Clone)]
pub struct CheckedMetadata {
    pub redirect_uris: Vec<String>,
    pub grant_types: Vec<String>,
    pub response_types: Vec<String>,
}

// ANCHOR: check_metadata
/// The checks of rule AS-06 on client metadata, whether it was sent to
/// `/register` or read from a Client ID Metadata Document: 1 to 10 valid
/// redirect URIs, the authorization-code grant (refresh allowed), the
/// `code` response type, a name of reasonable length. The authentication
/// method is left to the caller: its default differs between the two.
pub fn check_metadata(request: &RegistrationRequest) -> Result<CheckedMetadata, OAuthError> {
    let redirect_uris = request.redirect_uris.clone().unwrap_or_default();
    if redirect_uris.is_empty() || redirect_uris.len() > MAX_REDIRECT_URIS {
        return Err(OAuthError::InvalidRedirectUri(
            "between 1 and 10 redirect_uris are required",
        ));
    }
    redirect_uris
        .iter()
        .try_for_each(|uri| check_redirect_uri(uri))?;
    if repeats(&redirect_uris) {
        return Err(OAuthError::InvalidClientMetadata(
            "redirect_uris repeats a value",
        ));
    }
    let grant_types =
        (request.grant_types.clone()).unwrap_or_else(|| vec!["authorization_code".into()]);
    if repeats(&grant_types) {
        return Err(OAuthError::InvalidClientMetadata(
            "grant_types repeats a value",
        ));
    }
    if !grant_types.iter().any(|g| g == "authorization_code")
        || !grant_types
            .iter()
            .all(|g| g == "authorization_code" || g == "refresh_token")
    {
        return Err(OAuthError::InvalidClientMetadata(
            "grant_types must include authorization_code and may add refresh_token",
        ));
    }
    let response_types = (request.response_types.clone()).unwrap_or_else(|| vec!["code".into()]);
    if response_types != ["code"] {
        return Err(OAuthError::InvalidClientMetadata(
            "response_types must be [\"code\"]",
        ));
    }
    if request
        .client_name
        .as_ref()
        .is_some_and(|name| name.chars().count() > MAX_NAME_LENGTH)
    {
        return Err(OAuthError::InvalidClientMetadata("client_name is too long"));
    }
    Ok(CheckedMetadata {
        redirect_uris,
        grant_types,
        response_types,
    })
}
// ANCHOR_END: check_metadata

/// True when a value appears twice (rule AS-18): a list the server stores
/// and matches against holds each value once.
fn repeats(values: &[String]) -> bool {
    (1..values.len()).any(|i| values[..i].contains(&values[i]))
}

/// The RFC 7591 name of an authentication method.
pub fn auth_method_name(method: AuthMethod) -> &'static str {
    match method {
        AuthMethod::None => "none",
        AuthMethod::ClientSecretBasic => "client_secret_basic",
        AuthMethod::ClientSecretPost => "client_secret_post",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The credentials a request presented are logged by their id and
    /// method; the secret never reaches a log line.
    #[test]
    fn as14_credentials_print_their_id_never_their_secret() {
        let secret = "s3cr3t-value";
        let printed = [
            ClientCredentials::Basic {
                id: "app".into(),
                secret: secret.into(),
            },
            ClientCredentials::Post {
                id: "app".into(),
                secret: secret.into(),
            },
            ClientCredentials::Public { id: "app".into() },
            ClientCredentials::Missing,
        ]
        .map(|credentials| format!("{credentials:?}"));
        assert_eq!(
            printed,
            ["Basic(app, ..)", "Post(app, ..)", "Public(app)", "Missing"]
        );
    }

    /// The rules on metadata, at their edges: 10 redirect URIs are
    /// registered and 11 are not; a name of 100 characters (not bytes) is
    /// kept and one of 101 is not; the grant types.
    #[test]
    fn as06_metadata_rules_hold_at_their_edges() {
        let with = |uris: usize, name: usize| RegistrationRequest {
            redirect_uris: Some(
                (0..uris)
                    .map(|n| format!("http://127.0.0.1/callback/{n}"))
                    .collect(),
            ),
            client_name: Some("é".repeat(name)),
            ..RegistrationRequest::default()
        };
        assert!(check_metadata(&with(MAX_REDIRECT_URIS, MAX_NAME_LENGTH)).is_ok());
        assert!(matches!(
            check_metadata(&with(MAX_REDIRECT_URIS + 1, 1)),
            Err(OAuthError::InvalidRedirectUri(_))
        ));
        assert!(matches!(
            check_metadata(&with(1, MAX_NAME_LENGTH + 1)),
            Err(OAuthError::InvalidClientMetadata("client_name is too long"))
        ));
        assert!(matches!(
            check_metadata(&with(0, 1)),
            Err(OAuthError::InvalidRedirectUri(_))
        ));
        // The grant types: the code grant is required, and refresh is the
        // only one that may come with it; each condition alone refuses.
        let grants = |grants: &[&str]| RegistrationRequest {
            grant_types: Some(grants.iter().map(|&g| g.to_owned()).collect()),
            ..with(1, 1)
        };
        assert!(check_metadata(&grants(&["authorization_code", "refresh_token"])).is_ok());
        for refused in [
            &["refresh_token"][..],
            &["authorization_code", "client_credentials"],
        ] {
            assert!(
                matches!(
                    check_metadata(&grants(refused)),
                    Err(OAuthError::InvalidClientMetadata(_))
                ),
                "{refused:?}"
            );
        }
    }
}
