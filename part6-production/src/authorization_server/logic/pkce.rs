//! Proof Key for Code Exchange, S256 only (RFC 7636; rule AS-02).
//!
//! The client makes a random `code_verifier`, sends its SHA-256 digest as
//! `code_challenge` with the authorization request, and the verifier itself
//! with the token request. Whoever steals the code from the redirect cannot
//! redeem it without the verifier, which never left the client.

use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use sha2::{Digest as _, Sha256};

use super::secret::constant_time_eq;
use crate::authorization_server::error::OAuthError;

// ANCHOR: check_challenge
/// Checks the PKCE parameters of an authorization request and returns the
/// challenge to bind to the code.
///
/// OAuth 2.1 §4.1.1 requires PKCE, and only `S256` is accepted: `plain`
/// sends the verifier itself through the browser, which defeats the point,
/// and an omitted method means `plain` (RFC 7636 §4.3). A S256 challenge is
/// the base64url form of a 32-byte digest: exactly 43 characters.
pub fn check_challenge(
    challenge: Option<&str>,
    method: Option<&str>,
) -> Result<String, OAuthError> {
    match method {
        Some("S256") => {}
        Some(_) => {
            return Err(OAuthError::InvalidRequest(
                "code_challenge_method must be S256",
            ));
        }
        None => {
            return Err(OAuthError::InvalidRequest(
                "code_challenge_method is required and must be S256",
            ));
        }
    }
    let challenge = challenge.ok_or(OAuthError::InvalidRequest(
        "code_challenge is required (PKCE)",
    ))?;
    if challenge.len() != 43 || !challenge.bytes().all(is_base64url) {
        return Err(OAuthError::InvalidRequest(
            "code_challenge must be 43 base64url characters",
        ));
    }
    Ok(challenge.to_owned())
}
// ANCHOR_END: check_challenge

// ANCHOR: verify_pkce
/// True when `verifier` is a well-formed verifier (RFC 7636 §4.1: 43 to 128
/// unreserved characters) whose S256 digest is `challenge` (§4.6).
pub fn verify(verifier: Option<&str>, challenge: &str) -> bool {
    let Some(verifier) = verifier else {
        return false;
    };
    if !(43..=128).contains(&verifier.len()) || !verifier.bytes().all(is_unreserved) {
        return false;
    }
    let computed = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    constant_time_eq(&computed, challenge)
}
// ANCHOR_END: verify_pkce

fn is_base64url(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_'
}

/// The unreserved characters of RFC 3986 §2.3.
fn is_unreserved(byte: u8) -> bool {
    is_base64url(byte) || byte == b'.' || byte == b'~'
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example of RFC 7636 Appendix B.
    const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

    #[test]
    fn as02_rfc7636_example_verifies() {
        assert!(verify(Some(VERIFIER), CHALLENGE));
        assert!(!verify(Some(CHALLENGE), CHALLENGE));
        assert!(!verify(None, CHALLENGE));
    }

    #[test]
    fn as02_verifier_syntax_is_checked() {
        assert!(!verify(Some("short"), CHALLENGE));
        assert!(!verify(Some(&"a".repeat(129)), CHALLENGE));
        assert!(!verify(Some(&format!("{}!", &VERIFIER[..42])), CHALLENGE));
    }

    #[test]
    fn as02_only_s256_with_a_well_formed_challenge() {
        assert_eq!(
            check_challenge(Some(CHALLENGE), Some("S256")),
            Ok(CHALLENGE.to_owned())
        );
        for (challenge, method) in [
            (Some(CHALLENGE), None),
            (Some(CHALLENGE), Some("plain")),
            (Some(CHALLENGE), Some("s256")),
            (None, Some("S256")),
            (Some("abc"), Some("S256")),
            (Some(&CHALLENGE.replace('-', "+")), Some("S256")),
        ] {
            assert!(check_challenge(challenge, method).is_err(), "{method:?}");
        }
    }
}
