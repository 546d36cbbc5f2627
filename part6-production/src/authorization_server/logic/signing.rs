//! Signed access tokens (RFC 9068): the keys, the JWKS, and the token.
//!
//! An access token is a JWT a resource server can check alone, with the
//! public keys this server publishes at `jwks_uri`: header `typ: at+jwt`
//! and `kid`, signed with ES256 (ECDSA on P-256). RFC 9068 §2.1 asks
//! servers to support RS256 as well; this one signs with ES256 only, the
//! algorithm FAPI 2.0 also lists, because its keys and signatures are small
//! and the pure-Rust stack has no RSA private-key operation to protect.
//!
//! The keys live in the database, so every instance signs with the same
//! key and publishes the same set, and a restart keeps them. The first
//! instance that needs a key and finds none creates it; two that race both
//! insert one, and both keys are published, so either's tokens check.
//! The server still keeps each access token's digest, as in part 3, so
//! introspection and revocation keep working for tokens it issued.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use jsonwebtoken::{
    Algorithm, EncodingKey, Header,
    jwk::{Jwk, JwkSet, PublicKeyUse, ThumbprintHash},
};
use p256::{ecdsa::SigningKey, pkcs8::EncodePrivateKey as _};
use rand::{TryRng as _, rngs::SysRng};
use serde::Serialize;

use super::{
    provider::Provider,
    store::{SigningKeyRecord, StoreError},
};
use crate::authorization_server::error::OAuthError;

/// How long an instance uses the key set it read before reading it again,
/// so that a key another instance created is picked up without a database
/// read per token.
const RELOAD_EVERY: Duration = Duration::from_secs(60);

/// The keys an instance signs with and publishes.
pub struct KeySet {
    /// The newest key whose `signs_from` has come: (kid, key).
    active: (String, EncodingKey),
    /// Every stored key's public half, for `jwks_uri`.
    published: JwkSet,
}

/// Never prints a key.
impl std::fmt::Debug for KeySet {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("KeySet")
            .field("active", &self.active.0)
            .finish_non_exhaustive()
    }
}

/// The key set an instance read last, and when.
#[derive(Debug, Default)]
pub struct Keys {
    loaded: tokio::sync::Mutex<Option<(Instant, Arc<KeySet>)>>,
}

// ANCHOR: claims
/// The claims of an access token (RFC 9068 §2.2).
#[derive(Debug, Serialize)]
pub struct AccessClaims<'a> {
    pub iss: &'a str,
    /// The user who approved the grant.
    pub sub: &'a str,
    /// The resource the token is for (RFC 8707), the RS's canonical URL.
    pub aud: &'a str,
    pub exp: i64,
    pub iat: i64,
    /// A fresh random id, so every token differs.
    pub jti: &'a str,
    pub client_id: &'a str,
    /// Space-separated, as granted.
    pub scope: &'a str,
}
// ANCHOR_END: claims

impl Provider {
    /// Signs an access token with the active key.
    pub(super) async fn sign(&self, claims: &AccessClaims<'_>) -> Result<String, OAuthError> {
        let keys = self.key_set().await?;
        let mut header = Header::new(Algorithm::ES256);
        // `Header::new` says `typ: JWT`; an access token says what it is, so
        // a resource server can refuse an ID token or any other JWT.
        header.typ = Some("at+jwt".into());
        header.kid = Some(keys.active.0.clone());
        jsonwebtoken::encode(&header, claims, &keys.active.1).map_err(|error| {
            tracing::error!(%error, "cannot sign an access token");
            OAuthError::TemporarilyUnavailable
        })
    }

    /// The JSON Web Key Set published at `jwks_uri` (RFC 7517 §5).
    pub async fn jwks(&self) -> Result<JwkSet, OAuthError> {
        Ok(self.key_set().await?.published.clone())
    }

    /// The key set, read from the database at most every
    /// [`RELOAD_EVERY`]; a key is created when none can sign.
    async fn key_set(&self) -> Result<Arc<KeySet>, OAuthError> {
        let mut loaded = self.keys.loaded.lock().await;
        if let Some((at, keys)) = loaded.as_ref()
            && at.elapsed() < RELOAD_EVERY
        {
            return Ok(keys.clone());
        }
        let now = self.now();
        let mut stored = self.store.signing_keys().await?;
        if !stored.iter().any(|key| key.signs_from <= now) {
            let key = new_key(now)?;
            self.store.insert_signing_key(&key).await?;
            tracing::info!(kid = %key.kid, "created an access-token signing key");
            stored = self.store.signing_keys().await?;
        }
        let keys = Arc::new(key_set(&stored, now)?);
        *loaded = Some((Instant::now(), keys.clone()));
        Ok(keys)
    }
}

/// A fresh ES256 key: 32 bytes from the operating system, the private key
/// as PKCS#8, the public one as a JWK whose `kid` is its RFC 7638
/// thumbprint.
fn new_key(now: i64) -> Result<SigningKeyRecord, OAuthError> {
    let unavailable = |what: &str| {
        tracing::error!("cannot make a signing key: {what}");
        OAuthError::TemporarilyUnavailable
    };
    let signing = loop {
        let mut seed = [0u8; 32];
        SysRng
            .try_fill_bytes(&mut seed)
            .map_err(|_| unavailable("the random number generator failed"))?;
        // About 2^-32 of 32-byte strings are not a P-256 scalar: draw again.
        if let Ok(key) = SigningKey::from_slice(&seed) {
            break key;
        }
    };
    let der = signing
        .to_pkcs8_der()
        .map_err(|_| unavailable("PKCS#8 encoding failed"))?;
    let private_key = der.as_bytes().to_vec();
    let mut jwk = Jwk::from_encoding_key(&EncodingKey::from_ec_der(&private_key), Algorithm::ES256)
        .map_err(|_| unavailable("the public key cannot be written as a JWK"))?;
    let kid = jwk
        .thumbprint(ThumbprintHash::SHA256)
        .map_err(|_| unavailable("the thumbprint failed"))?;
    jwk.common.key_id = Some(kid.clone());
    jwk.common.public_key_use = Some(PublicKeyUse::Signature);
    let public_jwk =
        serde_json::to_string(&jwk).map_err(|_| unavailable("the JWK cannot be written"))?;
    Ok(SigningKeyRecord {
        kid,
        private_key,
        public_jwk,
        created_at: now,
        signs_from: now,
    })
}

/// The active key and the published set, from the stored keys.
fn key_set(stored: &[SigningKeyRecord], now: i64) -> Result<KeySet, StoreError> {
    let active = (stored.iter())
        .filter(|key| key.signs_from <= now)
        .max_by_key(|key| (key.signs_from, key.created_at, key.kid.clone()))
        .ok_or(StoreError::Corrupt("no signing key"))?;
    let published = (stored.iter())
        .map(|key| serde_json::from_str::<Jwk>(&key.public_jwk))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| StoreError::Corrupt("a stored JWK does not parse"))?;
    Ok(KeySet {
        active: (
            active.kid.clone(),
            EncodingKey::from_ec_der(&active.private_key),
        ),
        published: JwkSet { keys: published },
    })
}
