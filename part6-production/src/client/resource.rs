//! The canonical MCP server URL: the `resource` of RFC 8707.
//!
//! The same string is compared with the PRM's `resource` (rule CL-01) and
//! sent as `resource` on the authorization, token and refresh requests
//! (rule CL-04), so the token's audience is exactly this server.

use url::Url;

use super::ClientError;

// ANCHOR: canonical_server_url
/// Parses `--server-url` into the canonical form of MCP 2025-11-25
/// §"Canonical Server URI": absolute http(s), lower-case scheme and host, no
/// fragment, default port dropped, no trailing slash after a path.
pub fn canonical_server_url(input: &str) -> Result<Url, ClientError> {
    let invalid = |reason: &str| ClientError::InvalidServerUrl {
        url: input.to_owned(),
        reason: reason.to_owned(),
    };
    let mut url = Url::parse(input.trim()).map_err(|error| invalid(&error.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(invalid("expected an http:// or https:// URL"));
    }
    if url.fragment().is_some() {
        return Err(invalid(
            "a resource identifier has no #fragment (RFC 8707 §2)",
        ));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(invalid("credentials do not belong in the URL"));
    }
    let trimmed = url.path().trim_end_matches('/').to_owned();
    if !trimmed.is_empty() {
        url.set_path(&trimmed);
    }
    Ok(url)
}
// ANCHOR_END: canonical_server_url

// ANCHOR: resource_covers
/// Whether a protected-resource metadata document about `resource` may speak
/// for the MCP server at `server_url` (rule CL-01): the same URL, or a
/// same-origin URL whose path is a whole-segment prefix of the server's
/// (`http://host` or `http://host/api` for `http://host/api/mcp`). The root
/// well-known document of RFC 9728 §3.1 describes the origin, so a server
/// that only has that one legitimately names its origin; anything on another
/// origin, or a sibling path, is refused.
pub fn resource_covers(resource: &str, server_url: &str) -> bool {
    let (Ok(resource), Ok(server)) = (
        canonical_server_url(resource),
        canonical_server_url(server_url),
    ) else {
        return false;
    };
    if resource == server {
        return true;
    }
    let same_origin = resource.scheme() == server.scheme()
        && resource.host_str() == server.host_str()
        && resource.port_or_known_default() == server.port_or_known_default();
    let prefix = resource.path().trim_end_matches('/');
    same_origin
        && (prefix.is_empty()
            || server
                .path()
                .strip_prefix(prefix)
                .is_some_and(|rest| rest.starts_with('/')))
}
// ANCHOR_END: resource_covers

/// Whether two resource identifiers name the same resource after
/// canonicalization: `http://LOCALHOST:80/mcp/` and `http://localhost/mcp`
/// do, `http://localhost/` and `http://localhost/mcp` do not.
pub fn same_resource(a: &str, b: &str) -> bool {
    match (canonical_server_url(a), canonical_server_url(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_form() {
        let canonical = |input| canonical_server_url(input).map(String::from);
        assert_eq!(
            canonical("HTTP://LocalHost:8000/mcp/").ok().as_deref(),
            Some("http://localhost:8000/mcp")
        );
        assert_eq!(
            canonical("https://example.com:443/mcp").ok().as_deref(),
            Some("https://example.com/mcp")
        );
        assert!(canonical("http://localhost:8000/mcp#x").is_err());
        assert!(canonical("ftp://localhost/mcp").is_err());
        assert!(canonical("localhost:8000/mcp").is_err());
        assert!(canonical("http://user:pw@localhost/mcp").is_err());
    }

    #[test]
    fn cl01_resource_must_be_the_same_url_not_a_prefix() {
        assert!(same_resource(
            "http://localhost:8000/mcp",
            "http://localhost:8000/mcp/"
        ));
        assert!(!same_resource(
            "http://localhost:8000/",
            "http://localhost:8000/mcp"
        ));
        assert!(!same_resource(
            "http://localhost:8001/mcp",
            "http://localhost:8000/mcp"
        ));
        assert!(!same_resource(
            "https://localhost:8000/mcp",
            "http://localhost:8000/mcp"
        ));
        assert!(!same_resource("not a url", "http://localhost:8000/mcp"));
    }

    #[test]
    fn cl01_metadata_may_name_the_origin_or_a_path_prefix() {
        let server = "http://localhost:8000/api/mcp";
        assert!(resource_covers("http://localhost:8000/api/mcp", server));
        assert!(resource_covers("http://localhost:8000", server));
        assert!(resource_covers("http://localhost:8000/api", server));
        assert!(!resource_covers("http://localhost:8000/ap", server));
        assert!(!resource_covers("http://localhost:8000/other", server));
        assert!(!resource_covers("http://localhost:8001", server));
        assert!(!resource_covers("https://localhost:8000", server));
        assert!(!resource_covers("http://evil.example/api/mcp", server));
    }
}
