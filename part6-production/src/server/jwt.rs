//! Checking a signed access token alone (RFC 9068 §4), with the
//! authorization server's public keys, so a tool call costs the
//! authorization server nothing (rule P6-04).
//!
//! The keys come from the authorization server's `jwks_uri` and are kept in
//! memory. A token whose `kid` is not among them makes the set be fetched
//! again, but at most once per [`MIN_REFETCH`]: a flood of tokens with
//! made-up key ids costs the authorization server one request per interval,
//! not one per token. Everything else is checked here, and any failure is
//! the same "inactive" answer introspection would give:
//!
//! - the algorithm is pinned to ES256 (the algorithm of the published key,
//!   never the token's own `alg`): `none`, HS256 signed with the public key
//!   as a secret, or any other algorithm is refused;
//! - `typ` is `at+jwt` (or `application/at+jwt`), so an ID token or any
//!   other JWT from the same issuer is refused;
//! - `iss` is the authorization server byte for byte, `aud` this server's
//!   canonical URL (rule RS-03), `exp` and `nbf` against this server's clock
//!   with [`LEEWAY_SECONDS`] of tolerance.
//!
//! A JWT cannot be revoked before it expires: whatever a resource server
//! checks alone stays valid for its lifetime. That is the trade-off against
//! introspection, which knows about revocation at once; part 6 keeps access
//! tokens short-lived for that reason.

use std::{
    collections::HashMap,
    sync::{
        Arc, RwLock,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant, UNIX_EPOCH},
};

use jsonwebtoken::{
    Algorithm, DecodingKey, Validation,
    jwk::{AlgorithmParameters, EllipticCurve, JwkSet, KeyAlgorithm, PublicKeyUse},
};
use serde::Deserialize;

use super::introspection::{TokenInfo, Unavailable, Verdict};
use crate::settings::AuthSettings;

/// The least time between two fetches of the key set caused by unknown key
/// ids.
pub const MIN_REFETCH: Duration = Duration::from_secs(30);

/// Clock tolerance for `exp` and `nbf`, in seconds.
pub const LEEWAY_SECONDS: u64 = 30;

/// The largest key set read; a bigger answer is refused unread.
const MAX_JWKS_BYTES: usize = 64 * 1024;

/// The claims this server reads (RFC 9068 §2.2). A token without one of
/// the non-optional ones does not parse, and is refused.
#[derive(Debug, Deserialize)]
struct Claims {
    sub: String,
    client_id: String,
    #[serde(default)]
    scope: String,
    exp: u64,
    #[serde(default)]
    nbf: Option<u64>,
}

/// The published keys, by `kid`.
type Keys = HashMap<String, DecodingKey>;

// ANCHOR: jwt_verifier
/// Checks signed access tokens with the authorization server's keys.
pub struct JwtVerifier {
    http: reqwest::Client,
    settings: Arc<AuthSettings>,
    /// The checks every token gets, built once from the settings.
    validation: Validation,
    keys: RwLock<Arc<Keys>>,
    /// When the set was last fetched; held during a fetch, so concurrent
    /// misses wait for one fetch instead of each making their own.
    fetched: tokio::sync::Mutex<Option<Instant>>,
    fetches: AtomicU64,
}

impl std::fmt::Debug for JwtVerifier {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("JwtVerifier")
            .field("fetches", &self.fetches)
            .finish_non_exhaustive()
    }
}

impl JwtVerifier {
    pub fn new(http: reqwest::Client, settings: Arc<AuthSettings>) -> Self {
        let mut validation = Validation::new(Algorithm::ES256);
        validation.set_issuer(&[settings.authorization_server.as_str()]);
        validation.set_audience(&[settings.resource.as_str()]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        // Time is checked in `verify` against this server's clock, which
        // tests can move; the library would read the system clock.
        validation.validate_exp = false;
        validation.validate_nbf = false;
        Self {
            http,
            settings,
            validation,
            keys: RwLock::new(Arc::default()),
            fetched: tokio::sync::Mutex::new(None),
            fetches: AtomicU64::new(0),
        }
    }

    /// Whether `token` is shaped like a JWT (three base64url parts); any
    /// other token is left to introspection.
    pub fn is_jwt(token: &str) -> bool {
        token.split('.').count() == 3
    }

    /// The verdict on a signed access token, from the token alone. Only a
    /// key set that cannot be fetched, for a key id not known yet, is
    /// `Unavailable` (the caller fails closed, rule RS-12).
    pub async fn verify(&self, token: &str) -> Result<Verdict, Unavailable> {
        let Ok(header) = jsonwebtoken::decode_header(token) else {
            return Ok(Verdict::Inactive);
        };
        let typ_ok = header.typ.as_deref().is_some_and(|typ| {
            typ.eq_ignore_ascii_case("at+jwt") || typ.eq_ignore_ascii_case("application/at+jwt")
        });
        let (true, Algorithm::ES256, Some(kid)) = (typ_ok, header.alg, header.kid) else {
            return Ok(Verdict::Inactive);
        };
        let Some(key) = self.key(&kid).await? else {
            return Ok(Verdict::Inactive);
        };
        let settings = &self.settings;
        let Ok(data) = jsonwebtoken::decode::<Claims>(token, &key, &self.validation) else {
            return Ok(Verdict::Inactive);
        };
        let claims = data.claims;
        let now = (settings.clock.system_time().duration_since(UNIX_EPOCH))
            .map_or(0, |since| since.as_secs());
        if claims.exp.saturating_add(LEEWAY_SECONDS) <= now
            || claims
                .nbf
                .is_some_and(|nbf| nbf > now.saturating_add(LEEWAY_SECONDS))
        {
            return Ok(Verdict::Inactive);
        }
        Ok(Verdict::Active(TokenInfo {
            subject: claims.sub,
            client_id: claims.client_id,
            scopes: claims.scope.split_whitespace().map(str::to_owned).collect(),
            audiences: vec![settings.resource.clone()],
            expires_at: Some(claims.exp),
        }))
    }

    /// How many times the key set was fetched.
    pub fn fetches(&self) -> u64 {
        self.fetches.load(Ordering::Relaxed)
    }

    /// The key `kid` names: from memory, or after fetching the set again
    /// if the last fetch is at least [`MIN_REFETCH`] old.
    async fn key(&self, kid: &str) -> Result<Option<DecodingKey>, Unavailable> {
        if let Some(key) = self.known(kid) {
            return Ok(Some(key));
        }
        let mut fetched = self.fetched.lock().await;
        // Another request may have fetched while this one waited.
        if let Some(key) = self.known(kid) {
            return Ok(Some(key));
        }
        let now = self.settings.clock.instant();
        if fetched.is_some_and(|at| now.saturating_duration_since(at) < MIN_REFETCH) {
            return Ok(None);
        }
        *fetched = Some(now);
        let keys = self.fetch().await?;
        let key = keys.get(kid).cloned();
        *self.keys.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(keys);
        Ok(key)
    }

    fn known(&self, kid: &str) -> Option<DecodingKey> {
        let keys = self.keys.read().unwrap_or_else(|e| e.into_inner());
        keys.get(kid).cloned()
    }

    /// Fetches the key set and keeps the keys this server can use: EC P-256
    /// keys for ES256 signatures. `from_jwk` alone would take any key.
    async fn fetch(&self) -> Result<Keys, Unavailable> {
        self.fetches.fetch_add(1, Ordering::Relaxed);
        let unavailable = |what: String| Unavailable(format!("the key set: {what}"));
        let response = (self.http.get(&self.settings.jwks_url).send().await)
            .map_err(|error| unavailable(error.without_url().to_string()))?;
        if !response.status().is_success() {
            return Err(unavailable(format!("answered {}", response.status())));
        }
        if response
            .content_length()
            .is_some_and(|n| n > MAX_JWKS_BYTES as u64)
        {
            return Err(unavailable("is too large".into()));
        }
        let body = (response.bytes().await)
            .map_err(|error| unavailable(error.without_url().to_string()))?;
        if body.len() > MAX_JWKS_BYTES {
            return Err(unavailable("is too large".into()));
        }
        let set: JwkSet =
            serde_json::from_slice(&body).map_err(|_| unavailable("is not a JWK set".into()))?;
        let mut keys = Keys::new();
        for jwk in &set.keys {
            let usable = jwk
                .common
                .public_key_use
                .as_ref()
                .is_none_or(|u| *u == PublicKeyUse::Signature)
                && jwk
                    .common
                    .key_algorithm
                    .is_none_or(|alg| alg == KeyAlgorithm::ES256)
                && matches!(&jwk.algorithm, AlgorithmParameters::EllipticCurve(ec) if ec.curve == EllipticCurve::P256);
            if let (true, Some(kid)) = (usable, &jwk.common.key_id)
                && let Ok(key) = DecodingKey::from_jwk(jwk)
            {
                keys.insert(kid.clone(), key);
            }
        }
        Ok(keys)
    }
}
// ANCHOR_END: jwt_verifier

#[cfg(test)]
#[allow(clippy::expect_used)] // A failed `expect` is how a test reports an unexpected state.
mod tests {
    use std::sync::atomic::AtomicUsize;

    use axum::{Router, routing::get};
    use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};

    use super::*;

    /// A token whose header names `kid`; its signature is never reached.
    fn token_with_kid(kid: &str) -> String {
        let header = serde_json::json!({"alg": "ES256", "typ": "at+jwt", "kid": kid});
        let part = URL_SAFE_NO_PAD.encode(header.to_string());
        format!("{part}.e30.AAAA")
    }

    /// A flood of tokens with made-up key ids costs the authorization
    /// server one key-set fetch per interval, not one per token.
    #[tokio::test]
    async fn p604_unknown_key_ids_fetch_the_key_set_at_most_once_per_interval() {
        let served = Arc::new(AtomicUsize::new(0));
        let counter = served.clone();
        let app = Router::new().route(
            "/jwks.json",
            get(move || {
                counter.fetch_add(1, Ordering::SeqCst);
                async { axum::Json(serde_json::json!({"keys": []})) }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("address"));
        tokio::spawn(async move { axum::serve(listener, app).await });
        let config = crate::Config::for_tests(&url);
        let settings = Arc::new(config.validate().expect("settings"));
        let verifier = JwtVerifier::new(reqwest::Client::new(), settings.clone());
        for n in 0..50 {
            let verdict = verifier
                .verify(&token_with_kid(&format!("made-up-{n}")))
                .await;
            assert_eq!(verdict.expect("a verdict"), Verdict::Inactive);
        }
        assert_eq!(served.load(Ordering::SeqCst), 1);
        settings.clock.advance(MIN_REFETCH);
        let verdict = verifier.verify(&token_with_kid("one-more")).await;
        assert_eq!(verdict.expect("a verdict"), Verdict::Inactive);
        assert_eq!(served.load(Ordering::SeqCst), 2);
        assert_eq!(verifier.fetches(), 2);
    }
}
