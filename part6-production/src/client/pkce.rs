//! PKCE S256 (RFC 7636) and a check of the authorization request rmcp built.
//!
//! rmcp makes the verifier, the S256 challenge and the `state`
//! (`AuthorizationManager::get_authorization_url`, through the `oauth2`
//! crate) and keeps them until the code comes back; that part is right and
//! we use it. Before a browser sees the URL, [`check_authorization_request`]
//! verifies it says what rule CL-04 requires, and returns the `state` the
//! loopback listener must see again. [`s256_challenge`] is the RFC 7636 §4.2
//! transform, used by that check's tests and by the test authorization server.

use base64::Engine as _;
use sha2::{Digest as _, Sha256};
use url::Url;

use super::ClientError;

// ANCHOR: s256_challenge
/// `BASE64URL-ENCODE(SHA256(ASCII(code_verifier)))` without padding
/// (RFC 7636 §4.2).
pub fn s256_challenge(verifier: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}
// ANCHOR_END: s256_challenge

/// A verifier is 43–128 characters of `[A-Za-z0-9-._~]` (RFC 7636 §4.1).
pub fn is_valid_verifier(verifier: &str) -> bool {
    (43..=128).contains(&verifier.len())
        && verifier
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b))
}

// ANCHOR: check_authorization_request
/// What the authorization URL must carry (rule CL-04): the endpoint from
/// the checked metadata, `response_type=code`, our `client_id` and loopback
/// `redirect_uri`, an S256 challenge of 43 base64url characters, a `state`
/// of at least 128 bits, and `resource` = the canonical MCP URL. Returns
/// the `state`.
pub fn check_authorization_request(
    url: &str,
    authorization_endpoint: &str,
    client_id: &str,
    redirect_uri: &str,
    resource: &str,
) -> Result<String, ClientError> {
    let unsafe_request = |reason: String| ClientError::UnsafeAuthorizationRequest(reason);
    let parsed = Url::parse(url).map_err(|error| unsafe_request(error.to_string()))?;
    let endpoint =
        Url::parse(authorization_endpoint).map_err(|error| unsafe_request(error.to_string()))?;
    if parsed.origin() != endpoint.origin() || parsed.path() != endpoint.path() {
        return Err(unsafe_request(format!(
            "not the authorization endpoint {endpoint}"
        )));
    }
    let single = |name: &str| -> Result<String, ClientError> {
        let mut values = parsed.query_pairs().filter(|(key, _)| key == name);
        match (values.next(), values.next()) {
            (Some((_, value)), None) => Ok(value.into_owned()),
            _ => Err(unsafe_request(format!("needs exactly one `{name}`"))),
        }
    };
    let expect = |name: &str, expected: &str| -> Result<(), ClientError> {
        let value = single(name)?;
        if value == expected {
            Ok(())
        } else {
            Err(unsafe_request(format!(
                "`{name}` is `{value}`, expected `{expected}`"
            )))
        }
    };
    expect("response_type", "code")?;
    expect("client_id", client_id)?;
    expect("redirect_uri", redirect_uri)?;
    expect("code_challenge_method", "S256")?;
    // rmcp writes an origin-only resource with the `/` of an empty path
    // (`http://host/`); that names the same resource as `http://host`.
    let sent = single("resource")?;
    if !super::resource::same_resource(&sent, resource) {
        return Err(unsafe_request(format!(
            "`resource` is `{sent}`, expected `{resource}`"
        )));
    }
    let challenge = single("code_challenge")?;
    let base64url = |s: &str| {
        s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_".contains(&b))
    };
    if challenge.len() != 43 || !base64url(&challenge) {
        return Err(unsafe_request(
            "the code_challenge is not an S256 value".into(),
        ));
    }
    let state = single("state")?;
    // 22 base64url characters are 16 bytes: 128 bits, as rmcp makes them.
    if state.len() < 22 {
        return Err(unsafe_request(
            "the state is too short to be unguessable".into(),
        ));
    }
    Ok(state)
}
// ANCHOR_END: check_authorization_request

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc7636_appendix_b_test_vector() {
        let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        assert!(is_valid_verifier(verifier));
        assert_eq!(
            s256_challenge(verifier),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }

    #[test]
    fn verifier_syntax() {
        assert!(!is_valid_verifier("short"));
        assert!(!is_valid_verifier(&"a".repeat(129)));
        assert!(!is_valid_verifier(&format!("{}+", "a".repeat(43))));
        assert!(is_valid_verifier(&"a~._-".repeat(9)));
    }

    const ENDPOINT: &str = "http://localhost:9000/authorize";
    const REDIRECT: &str = "http://127.0.0.1:5555/callback";
    const RESOURCE: &str = "http://localhost:8000/mcp";

    fn url_with(overrides: &[(&str, &str)]) -> String {
        let mut params = vec![
            ("response_type", "code"),
            ("client_id", "c1"),
            ("redirect_uri", REDIRECT),
            (
                "code_challenge",
                "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
            ),
            ("code_challenge_method", "S256"),
            ("state", "abcdefghijklmnopqrstuv"),
            ("resource", RESOURCE),
            ("scope", "mcp:tools"),
        ];
        for (name, value) in overrides {
            params.retain(|(key, _)| key != name);
            if !value.is_empty() {
                params.push((name, value));
            }
        }
        let query = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(params)
            .finish();
        format!("{ENDPOINT}?{query}")
    }

    fn check(url: &str) -> Result<String, ClientError> {
        check_authorization_request(url, ENDPOINT, "c1", REDIRECT, RESOURCE)
    }

    #[test]
    fn cl04_accepts_a_complete_request_and_returns_the_state() {
        assert_eq!(
            check(&url_with(&[])).ok().as_deref(),
            Some("abcdefghijklmnopqrstuv")
        );
    }

    #[test]
    fn cl04_refuses_plain_missing_resource_short_state_or_another_endpoint() {
        assert!(check(&url_with(&[("code_challenge_method", "plain")])).is_err());
        assert!(check(&url_with(&[("resource", "")])).is_err());
        assert!(check(&url_with(&[("resource", "http://localhost:8000/")])).is_err());
        assert!(check(&url_with(&[("state", "short")])).is_err());
        assert!(check(&url_with(&[("code_challenge", "abc")])).is_err());
        assert!(check(&url_with(&[]).replace("localhost:9000", "evil.example")).is_err());
        assert!(check(&format!("{}&state=again", url_with(&[]))).is_err());
    }
}
