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

// ANCHOR: rotation
/// Seconds a key signs before the next one is made: a day.
pub const ROTATE_AFTER: i64 = 24 * 60 * 60;

/// Seconds a new key is published before it signs. Longer than a resource
/// server keeps a key set (the JWKS answer's `max-age`, 300 s) plus this
/// server's own reload ([`RELOAD_EVERY`]), so every resource server has
/// fetched the new key before it meets a token signed with it.
pub const PUBLISH_AHEAD: i64 = 10 * 60;

/// Seconds past the longest token lifetime a retired key stays published:
/// the resource servers' clock leeway and a margin.
const RETIRED_MARGIN: i64 = 5 * 60;

/// What to do with the stored keys at `now` (rule P6-09): which signs,
/// which are published, whether to make the next key, and which retired
/// keys can go. A key retires when the next one starts signing, and stays
/// published until every token it signed has expired.
#[derive(Debug, PartialEq, Eq)]
pub struct Plan {
    /// The kid of the newest key whose `signs_from` has come.
    pub active: Option<String>,
    /// The kids published at `jwks_uri`: the active key, the next one, and
    /// the retired ones whose tokens may still be live.
    pub published: Vec<String>,
    /// Make a key that starts signing at this time.
    pub create: Option<i64>,
    /// Retired keys no live token was signed with.
    pub delete: Vec<String>,
}

/// Plans the key set at `now`, for tokens that live `token_lifetime`
/// seconds. `keys` are (kid, signs_from), in any order.
pub fn plan(keys: &[(String, i64)], now: i64, token_lifetime: i64) -> Plan {
    let mut keys: Vec<&(String, i64)> = keys.iter().collect();
    keys.sort_by(|a, b| (a.1, &a.0).cmp(&(b.1, &b.0)));
    let active = keys.iter().rev().find(|(_, from)| *from <= now);
    let next = keys.iter().find(|(_, from)| *from > now);
    let create = match (active, next) {
        (None, _) => Some(now),
        (Some((_, from)), None) if now - from >= ROTATE_AFTER - PUBLISH_AHEAD => {
            Some(now + PUBLISH_AHEAD)
        }
        _ => None,
    };
    let (mut published, mut delete) = (Vec::new(), Vec::new());
    for (index, (kid, from)) in keys.iter().enumerate() {
        // Retired when the key after it started signing.
        let retired = keys
            .get(index + 1)
            .map(|(_, next)| *next)
            .filter(|next| *next <= now);
        match retired {
            Some(at) if now - at > token_lifetime + RETIRED_MARGIN => delete.push(kid.clone()),
            _ if *from > now + PUBLISH_AHEAD => {} // not ours to publish yet
            _ => published.push(kid.clone()),
        }
    }
    Plan {
        active: active.map(|(kid, _)| kid.clone()),
        published,
        create,
        delete,
    }
}
// ANCHOR_END: rotation

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
    pub(super) async fn key_set(&self) -> Result<Arc<KeySet>, OAuthError> {
        let mut loaded = self.keys.loaded.lock().await;
        if let Some((at, keys)) = loaded.as_ref()
            && at.elapsed() < RELOAD_EVERY
        {
            return Ok(keys.clone());
        }
        let now = self.now();
        let mut stored = self.store.signing_keys().await?;
        let mut plan = plan(&kids(&stored), now, self.token_lifetime);
        if let Some(signs_from) = plan.create {
            let key = new_key(now, signs_from)?;
            self.store.insert_signing_key(&key).await?;
            tracing::info!(kid = %key.kid, signs_from, "created an access-token signing key");
            stored = self.store.signing_keys().await?;
            plan = self::plan(&kids(&stored), now, self.token_lifetime);
        }
        for kid in &plan.delete {
            self.store.delete_signing_key(kid).await?;
            tracing::info!(%kid, "deleted a retired signing key");
        }
        let keys = Arc::new(key_set(&stored, &plan)?);
        *loaded = Some((Instant::now(), keys.clone()));
        Ok(keys)
    }

    /// Makes the next signing key now, to start signing after
    /// [`PUBLISH_AHEAD`] (`part6-as --rotate-signing-key`): for a key that
    /// may have leaked, or to rehearse. Tokens signed with the current key
    /// stay valid until they expire.
    pub async fn rotate_signing_key(&self) -> Result<(String, i64), OAuthError> {
        let now = self.now();
        let key = new_key(now, now + PUBLISH_AHEAD)?;
        self.store.insert_signing_key(&key).await?;
        *self.keys.loaded.lock().await = None;
        Ok((key.kid, key.signs_from))
    }
}

/// (kid, signs_from) of each stored key, for [`plan`].
fn kids(stored: &[SigningKeyRecord]) -> Vec<(String, i64)> {
    (stored.iter())
        .map(|key| (key.kid.clone(), key.signs_from))
        .collect()
}

/// A fresh ES256 key that signs from `signs_from`: 32 bytes from the
/// operating system, the private key as PKCS#8, the public one as a JWK
/// whose `kid` is its RFC 7638 thumbprint.
fn new_key(now: i64, signs_from: i64) -> Result<SigningKeyRecord, OAuthError> {
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
        signs_from,
    })
}

/// The active key and the published set, as `plan` says.
fn key_set(stored: &[SigningKeyRecord], plan: &Plan) -> Result<KeySet, StoreError> {
    let active = (plan.active.as_ref())
        .and_then(|kid| stored.iter().find(|key| key.kid == *kid))
        .ok_or(StoreError::Corrupt("no signing key"))?;
    let published = (stored.iter())
        .filter(|key| plan.published.contains(&key.kid))
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

#[cfg(test)]
mod tests {
    use super::*;

    const LIFETIME: i64 = 300;

    fn keys(list: &[(&str, i64)]) -> Vec<(String, i64)> {
        list.iter()
            .map(|(kid, from)| ((*kid).to_owned(), *from))
            .collect()
    }

    /// No key: one is made to sign now.
    #[test]
    fn p609_an_empty_store_makes_a_key_that_signs_at_once() {
        let plan = plan(&[], 1_000, LIFETIME);
        assert_eq!(plan.create, Some(1_000));
        assert_eq!(plan.active, None);
    }

    /// The next key is made ahead of time, published at once, and signs
    /// only after PUBLISH_AHEAD; meanwhile the current key signs.
    #[test]
    fn p609_the_next_key_is_published_before_it_signs() {
        let young = plan(
            &keys(&[("a", 0)]),
            ROTATE_AFTER - PUBLISH_AHEAD - 1,
            LIFETIME,
        );
        assert_eq!(
            (young.create, young.published),
            (None, vec!["a".to_owned()])
        );
        let due = ROTATE_AFTER - PUBLISH_AHEAD;
        assert_eq!(
            plan(&keys(&[("a", 0)]), due, LIFETIME).create,
            Some(ROTATE_AFTER)
        );
        let both = plan(&keys(&[("b", ROTATE_AFTER), ("a", 0)]), due, LIFETIME);
        assert_eq!(both.active.as_deref(), Some("a"));
        assert_eq!(both.published, ["a", "b"]);
        assert_eq!(both.create, None);
    }

    /// A retired key stays published while a token it signed may live, and
    /// goes after; the new key signs.
    #[test]
    fn p609_a_retired_key_stays_published_until_its_tokens_expired() {
        let stored = keys(&[("a", 0), ("b", ROTATE_AFTER)]);
        let just_after = plan(&stored, ROTATE_AFTER, LIFETIME);
        assert_eq!(just_after.active.as_deref(), Some("b"));
        assert_eq!(just_after.published, ["a", "b"]);
        let last = ROTATE_AFTER + LIFETIME + RETIRED_MARGIN;
        assert_eq!(plan(&stored, last, LIFETIME).published, ["a", "b"]);
        let gone = plan(&stored, last + 1, LIFETIME);
        assert_eq!(
            (gone.published, gone.delete),
            (vec!["b".to_owned()], vec!["a".to_owned()])
        );
    }
}
