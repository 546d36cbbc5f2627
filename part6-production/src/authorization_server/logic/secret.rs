//! Random secrets and their digests (rule AS-14).
//!
//! Every code, token, client secret, CSRF token and session cookie is 256
//! bits from the operating system's CSPRNG. The server hands out the secret
//! and keeps only its SHA-256 digest, so a leaked store leaks nothing a
//! client could present.

use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use rand::{TryRng as _, rngs::SysRng};
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq as _;

use crate::authorization_server::error::OAuthError;

/// 256 bits: twice the 128 bits RFC 6749 §10.10 and rule AS-03 ask for.
const SECRET_BYTES: usize = 32;

// ANCHOR: new_secret
/// A fresh secret, base64url without padding (43 characters), read from the
/// operating system (`getrandom`), not from a user-space generator.
pub fn new_secret() -> Result<String, OAuthError> {
    let mut bytes = [0u8; SECRET_BYTES];
    SysRng.try_fill_bytes(&mut bytes).map_err(|error| {
        tracing::error!(%error, "the operating system's random number generator failed");
        OAuthError::TemporarilyUnavailable
    })?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

/// The SHA-256 digest of a secret: what the store keeps instead of it.
///
/// The store finds a record by this digest through a database index. The
/// time such a lookup takes can only tell an attacker about digests, which do not help
/// to guess a secret; the final comparison is constant-time all the same.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Digest([u8; 32]);

impl Digest {
    /// The digest of `secret`.
    pub fn of(secret: &str) -> Self {
        Self(Sha256::digest(secret.as_bytes()).into())
    }

    /// The 32 bytes, as the database keeps them.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The digest a database column holds; `None` unless it is 32 bytes.
    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        Some(Self(bytes.try_into().ok()?))
    }

    /// Compares two digests in constant time.
    pub fn matches(&self, other: &Digest) -> bool {
        self.0.ct_eq(&other.0).into()
    }
}
// ANCHOR_END: new_secret

/// Never prints the bytes: a digest in a log line is noise at best.
impl std::fmt::Debug for Digest {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str("Digest(..)")
    }
}

/// Compares two strings in constant time (for equal lengths).
pub fn constant_time_eq(a: &str, b: &str) -> bool {
    a.as_bytes().ct_eq(b.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn as14_secrets_are_long_unique_and_url_safe() {
        let a = new_secret().unwrap_or_default();
        let b = new_secret().unwrap_or_default();
        assert_eq!(a.len(), 43);
        assert_ne!(a, b);
        assert!(
            a.bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
        );
    }

    #[test]
    fn as14_digest_matches_only_its_secret() {
        assert!(Digest::of("a").matches(&Digest::of("a")));
        assert!(!Digest::of("a").matches(&Digest::of("b")));
        assert_eq!(format!("{:?}", Digest::of("a")), "Digest(..)");
    }
}
