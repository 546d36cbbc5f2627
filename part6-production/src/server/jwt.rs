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
//! A token that passed every check is remembered, by its SHA-256, until it
//! expires, so its signature is checked once and not on every call: an
//! ES256 verification costs more than the rest of a tool call together
//! (measured by `cargo xtask bench`). Nothing a later check could learn is
//! lost by that: the token's bytes, and so its claims, cannot change, and
//! its expiry is still checked on every call. The memory is bounded
//! ([`VERIFIED_CAPACITY`]); when it is full of live tokens a new token is
//! checked every time rather than pushing a live one out.
//!
//! A JWT cannot be revoked before it expires: whatever a resource server
//! checks alone stays valid for its lifetime. That is the trade-off against
//! introspection, which knows about revocation at once; part 6 keeps access
//! tokens short-lived for that reason.

use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex, RwLock,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant, UNIX_EPOCH},
};

use jsonwebtoken::{
    Algorithm, DecodingKey, Validation,
    jwk::{AlgorithmParameters, EllipticCurve, JwkSet, KeyAlgorithm, PublicKeyUse},
};
use serde::Deserialize;
use sha2::{Digest as _, Sha256};

use super::introspection::{TokenInfo, Unavailable, Verdict};
use crate::settings::AuthSettings;

/// The least time between two fetches of the key set caused by unknown key
/// ids.
pub const MIN_REFETCH: Duration = Duration::from_secs(30);

/// Clock tolerance for `exp` and `nbf`, in seconds.
pub const LEEWAY_SECONDS: u64 = 30;

/// Checked tokens remembered at most; a tool call of a remembered token
/// costs a SHA-256 and a map lookup instead of a signature check.
pub const VERIFIED_CAPACITY: usize = 10_000;

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
    /// Tokens that passed every check, by their SHA-256 (never the token
    /// itself), with what they said and their `exp`.
    verified: Mutex<HashMap<[u8; 32], (TokenInfo, u64)>>,
    /// Signatures checked, for the tests.
    signature_checks: AtomicU64,
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
            verified: Mutex::new(HashMap::new()),
            signature_checks: AtomicU64::new(0),
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
        let now = (self.settings.clock.system_time().duration_since(UNIX_EPOCH))
            .map_or(0, |since| since.as_secs());
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        if let Some(info) = self.remembered(&digest, now) {
            return Ok(Verdict::Active(info));
        }
        let verdict = self.check(token, now).await?;
        if let Verdict::Active(info) = &verdict {
            self.remember(digest, info, now);
        }
        Ok(verdict)
    }

    /// A remembered token's verdict while it has not expired.
    fn remembered(&self, digest: &[u8; 32], now: u64) -> Option<TokenInfo> {
        let verified = self.verified.lock().unwrap_or_else(|e| e.into_inner());
        let (info, exp) = verified.get(digest)?;
        (exp.saturating_add(LEEWAY_SECONDS) > now).then(|| info.clone())
    }

    /// Remembers a checked token. A full memory first forgets the expired
    /// ones; if it is still full, the new token is not remembered.
    fn remember(&self, digest: [u8; 32], info: &TokenInfo, now: u64) {
        let Some(exp) = info.expires_at else { return };
        let mut verified = self.verified.lock().unwrap_or_else(|e| e.into_inner());
        if verified.len() >= VERIFIED_CAPACITY {
            verified.retain(|_, (_, exp)| exp.saturating_add(LEEWAY_SECONDS) > now);
        }
        if verified.len() < VERIFIED_CAPACITY {
            verified.insert(digest, (info.clone(), exp));
        }
    }

    /// Every check of a token not remembered: header, key, signature,
    /// claims, time.
    async fn check(&self, token: &str, now: u64) -> Result<Verdict, Unavailable> {
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
        self.signature_checks.fetch_add(1, Ordering::Relaxed);
        let Ok(data) = jsonwebtoken::decode::<Claims>(token, &key, &self.validation) else {
            return Ok(Verdict::Inactive);
        };
        let claims = data.claims;
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

    /// Whether the key set is loaded; fetches it when it is not, at most
    /// once per [`MIN_REFETCH`] (rule P6-07: `/readyz`).
    pub async fn ready(&self) -> Result<(), String> {
        let loaded = |keys: &Keys| !keys.is_empty();
        if loaded(&self.keys()) {
            return Ok(());
        }
        self.refetch_unless(loaded).await.map_err(|error| error.0)?;
        match loaded(&self.keys()) {
            true => Ok(()),
            false => Err("the authorization server's signing keys are not loaded".into()),
        }
    }

    /// How many signatures were checked.
    pub fn signature_checks(&self) -> u64 {
        self.signature_checks.load(Ordering::Relaxed)
    }

    /// The key `kid` names: from memory, or after fetching the set again
    /// if the last fetch is at least [`MIN_REFETCH`] old.
    async fn key(&self, kid: &str) -> Result<Option<DecodingKey>, Unavailable> {
        if let Some(key) = self.known(kid) {
            return Ok(Some(key));
        }
        self.refetch_unless(|keys| keys.contains_key(kid)).await?;
        Ok(self.known(kid))
    }

    /// Fetches the key set again unless `enough` holds for the keys in
    /// memory (another request may have fetched while this one waited for
    /// the lock), or the last fetch is less than [`MIN_REFETCH`] old.
    async fn refetch_unless(&self, enough: impl Fn(&Keys) -> bool) -> Result<(), Unavailable> {
        let mut fetched = self.fetched.lock().await;
        let now = self.settings.clock.instant();
        if enough(&self.keys())
            || fetched.is_some_and(|at| now.saturating_duration_since(at) < MIN_REFETCH)
        {
            return Ok(());
        }
        *fetched = Some(now);
        let keys = self.fetch().await?;
        *self.keys.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(keys);
        Ok(())
    }

    /// The keys in memory.
    fn keys(&self) -> Arc<Keys> {
        self.keys.read().unwrap_or_else(|e| e.into_inner()).clone()
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

    /// A key set of one new P-256 key served at `/jwks.json`; the URL and
    /// a token signer for `claims` (ES256, `typ: at+jwt`, that key's kid).
    async fn key_server() -> (String, impl Fn(serde_json::Value) -> String) {
        use jsonwebtoken::{
            EncodingKey, Header,
            jwk::{Jwk, ThumbprintHash},
        };
        use p256::{ecdsa::SigningKey, pkcs8::EncodePrivateKey as _};
        let signing = SigningKey::from_slice(&[7u8; 32]).expect("a P-256 scalar");
        let der = signing.to_pkcs8_der().expect("PKCS#8").as_bytes().to_vec();
        let encoding = EncodingKey::from_ec_der(&der);
        let mut jwk = Jwk::from_encoding_key(&encoding, Algorithm::ES256).expect("a JWK");
        let kid = jwk
            .thumbprint(ThumbprintHash::SHA256)
            .expect("a thumbprint");
        jwk.common.key_id = Some(kid.clone());
        let set = serde_json::json!({ "keys": [jwk] });
        let app = Router::new().route(
            "/jwks.json",
            get(move || {
                let set = set.clone();
                async move { axum::Json(set) }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("address"));
        tokio::spawn(async move { axum::serve(listener, app).await });
        let sign = move |claims: serde_json::Value| {
            let mut header = Header::new(Algorithm::ES256);
            header.typ = Some("at+jwt".into());
            header.kid = Some(kid.clone());
            jsonwebtoken::encode(&header, &claims, &encoding).expect("signed")
        };
        (url, sign)
    }

    /// A checked token is remembered: its signature is checked once, not
    /// on every call; its expiry still holds on every call; a bad token is
    /// never remembered.
    #[tokio::test]
    async fn p604_a_checked_token_is_remembered_until_it_expires() {
        let (url, sign) = key_server().await;
        let settings = Arc::new(crate::Config::for_tests(&url).validate().expect("settings"));
        let verifier = JwtVerifier::new(reqwest::Client::new(), settings.clone());
        let now = (settings.clock.system_time().duration_since(UNIX_EPOCH))
            .expect("after 1970")
            .as_secs();
        let claims = |aud: &str| {
            serde_json::json!({
                "iss": url, "aud": aud, "sub": "alice", "client_id": "c",
                "scope": "mcp:tools", "exp": now + 60, "iat": now, "jti": "j",
            })
        };
        let token = sign(claims(&settings.resource));
        for _ in 0..5 {
            let verdict = verifier.verify(&token).await.expect("a verdict");
            assert!(matches!(verdict, Verdict::Active(ref info) if info.subject == "alice"));
        }
        assert_eq!(verifier.signature_checks(), 1);

        let foreign = sign(claims("http://other.example/mcp"));
        for _ in 0..3 {
            assert_eq!(
                verifier.verify(&foreign).await.expect("a verdict"),
                Verdict::Inactive
            );
        }
        assert_eq!(
            verifier.signature_checks(),
            4,
            "a refused token is checked each time"
        );

        settings
            .clock
            .advance(Duration::from_secs(60 + LEEWAY_SECONDS));
        assert_eq!(
            verifier.verify(&token).await.expect("a verdict"),
            Verdict::Inactive
        );
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
