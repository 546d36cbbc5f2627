//! Which URLs the client talks to at all: https, or plain http to this
//! machine (OAuth 2.1 §1.5; rule CL-02).
//!
//! OAuth 2.1 §1.5 asks for TLS on every endpoint, because codes, tokens and
//! client secrets cross them; loopback is the development exception, where
//! nothing leaves the machine. rmcp does not check this: it talks to whatever
//! the metadata names. So every URL the client is given or discovers passes
//! [`require_tls`] before the first request to it: the MCP server URL, a
//! `resource_metadata` URL from a challenge, each authorization server named
//! in the protected resource metadata, and every endpoint in the
//! authorization server's metadata (see [`check_metadata_endpoints`]).

use std::net::IpAddr;

use rmcp::transport::auth::AuthorizationMetadata;
use url::{Host, Url};

use super::ClientError;

// ANCHOR: require_tls
/// `url` if it is https, or http to a loopback host (`localhost`, `127.0.0.0/8`,
/// `[::1]`); otherwise [`ClientError::InsecureEndpoint`] naming `what` it is.
/// A URL that does not parse is left to the caller's own check.
pub fn require_tls(what: &str, url: &Url) -> Result<(), ClientError> {
    match url.scheme() {
        "https" => Ok(()),
        "http" if is_loopback(url) => Ok(()),
        _ => Err(ClientError::InsecureEndpoint {
            what: what.to_owned(),
            url: url.to_string(),
        }),
    }
}

/// Whether `url`'s host is this machine: the name `localhost` or a loopback
/// IP literal. Other names are not resolved, so `localhost.example.com` or a
/// name that happens to resolve to 127.0.0.1 do not count.
pub fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        Some(Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
        None => false,
    }
}
// ANCHOR_END: require_tls

// ANCHOR: check_metadata_endpoints
/// [`require_tls`] on every endpoint of an authorization server's metadata:
/// the ones rmcp uses (authorization, token, registration), `jwks_uri`, and
/// any other `…_endpoint` (revocation, introspection, device authorization,
/// pushed authorization requests, …), so none can later be used in clear.
pub fn check_metadata_endpoints(metadata: &AuthorizationMetadata) -> Result<(), ClientError> {
    let mut endpoints: Vec<(&str, &str)> = vec![
        ("authorization_endpoint", &metadata.authorization_endpoint),
        ("token_endpoint", &metadata.token_endpoint),
    ];
    let optional = [
        ("registration_endpoint", &metadata.registration_endpoint),
        ("jwks_uri", &metadata.jwks_uri),
    ];
    for (name, value) in optional {
        if let Some(value) = value {
            endpoints.push((name, value));
        }
    }
    let mut others: Vec<(&str, &str)> = metadata
        .additional_fields
        .iter()
        .filter(|(name, _)| name.ends_with("_endpoint"))
        .filter_map(|(name, value)| Some((name.as_str(), value.as_str()?)))
        .collect();
    others.sort_unstable();
    endpoints.extend(others);
    for (name, value) in endpoints {
        let url = Url::parse(value).map_err(|error| {
            ClientError::AuthServerMetadata(format!("{name} `{value}` is not a URL: {error}"))
        })?;
        require_tls(&format!("the {name}"), &url)?;
    }
    Ok(())
}
// ANCHOR_END: check_metadata_endpoints

#[cfg(test)]
mod tests {
    use super::*;

    fn allowed(url: &str) -> bool {
        require_tls("test", &Url::parse(url).expect("a URL")).is_ok()
    }

    #[test]
    fn cl02_http_is_allowed_to_loopback_only() {
        for url in [
            "https://example.com/mcp",
            "http://localhost:8000/mcp",
            "http://LOCALHOST/mcp",
            "http://127.0.0.1:9000",
            "http://127.1.2.3/",
            "http://[::1]:9000/token",
        ] {
            assert!(allowed(url), "{url}");
        }
        for url in [
            "http://example.com/mcp",
            "http://localhost.example.com/mcp",
            "http://10.0.0.1/token",
            "http://[::2]/token",
            "http://0.0.0.0:8000/mcp",
            "ftp://localhost/",
        ] {
            assert!(!allowed(url), "{url}");
        }
    }

    #[test]
    fn cl02_every_endpoint_of_the_metadata_is_checked() {
        let metadata = |extra: serde_json::Value| -> AuthorizationMetadata {
            let mut document = serde_json::json!({
                "issuer": "http://localhost:9000",
                "authorization_endpoint": "http://localhost:9000/authorize",
                "token_endpoint": "http://localhost:9000/token",
                "registration_endpoint": "https://as.example.com/register",
            });
            if let (Some(document), Some(extra)) = (document.as_object_mut(), extra.as_object()) {
                document.extend(extra.clone());
            }
            serde_json::from_value(document).expect("metadata")
        };
        assert!(check_metadata_endpoints(&metadata(serde_json::json!({}))).is_ok());
        for (name, value) in [
            ("token_endpoint", "http://as.example.com/token"),
            ("authorization_endpoint", "http://as.example.com/authorize"),
            ("registration_endpoint", "http://as.example.com/register"),
            ("revocation_endpoint", "http://as.example.com/revoke"),
            ("introspection_endpoint", "http://as.example.com/introspect"),
            ("jwks_uri", "http://as.example.com/jwks"),
        ] {
            let error = check_metadata_endpoints(&metadata(serde_json::json!({ name: value })))
                .expect_err(name);
            let message = error.to_string();
            assert!(
                message.contains(name) && message.contains(value),
                "{message}"
            );
        }
    }
}
