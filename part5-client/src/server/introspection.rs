//! Token validation by asking the authorization server (RFC 7662), with a
//! bounded cache so a busy client costs the authorization server one call per
//! token per TTL, not one per request (rule RS-13).
//!
//! The resource server never reads the authorization server's memory: tokens
//! are opaque, and the only way to learn what one means is to ask over HTTP
//! with this server's own client credentials.

use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::Instant,
};

use serde::Deserialize;
use sha2::{Digest, Sha256};
use tokio::sync::OnceCell;

use crate::clock::Clock;
use crate::settings::AuthSettings;

/// At most this many tokens are remembered; beyond it the entries closest to
/// expiry are dropped first.
pub const CACHE_CAPACITY: usize = 10_000;

// ANCHOR: token_info
/// What the authorization server said about an active token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenInfo {
    pub subject: String,
    pub client_id: String,
    pub scopes: Vec<String>,
    pub audiences: Vec<String>,
    /// Unix seconds.
    pub expires_at: Option<u64>,
}

/// The answer about one token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Active(TokenInfo),
    /// Unknown, expired, revoked or malformed: RFC 7662 §2.2 `{"active":false}`.
    Inactive,
}

/// The authorization server could not be asked, or answered nonsense: the
/// caller fails closed (rule RS-12).
#[derive(Debug, Clone, thiserror::Error)]
#[error("the authorization server is unavailable: {0}")]
pub struct Unavailable(pub String);
// ANCHOR_END: token_info

/// The RFC 7662 §2.2 response, as far as we read it.
#[derive(Debug, Deserialize)]
struct IntrospectionResponse {
    active: bool,
    #[serde(default)]
    sub: Option<String>,
    #[serde(default)]
    client_id: Option<String>,
    #[serde(default)]
    scope: Option<String>,
    #[serde(default)]
    aud: Option<Audience>,
    #[serde(default)]
    exp: Option<u64>,
}

/// `aud` is a string or an array of strings (RFC 7519 §4.1.3).
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Audience {
    One(String),
    Many(Vec<String>),
}

type Slot = Arc<OnceCell<(Verdict, Instant)>>;

// ANCHOR: token_verifier
/// Validates tokens through the authorization server's introspection
/// endpoint and remembers the answers for at most min(TTL, token lifetime).
#[derive(Debug)]
pub struct TokenVerifier {
    http: reqwest::Client,
    settings: Arc<AuthSettings>,
    /// Keyed by the SHA-256 of the token: the cache never holds a token.
    cache: Mutex<HashMap<[u8; 32], Slot>>,
    calls: AtomicU64,
    outage: AtomicBool,
}

impl TokenVerifier {
    pub fn new(settings: Arc<AuthSettings>) -> Result<Self, reqwest::Error> {
        let http = reqwest::Client::builder()
            .timeout(settings.timeout)
            .connect_timeout(settings.timeout)
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .build()?;
        Ok(Self {
            http,
            settings,
            cache: Mutex::new(HashMap::new()),
            calls: AtomicU64::new(0),
            outage: AtomicBool::new(false),
        })
    }

    /// What the authorization server says about `token`, from the cache when
    /// a fresh answer is there. Concurrent first requests for the same token
    /// share one introspection call.
    pub async fn verify(&self, token: &str) -> Result<Verdict, Unavailable> {
        if self.settings.cache_ttl.is_zero() {
            return self.introspect(token).await.map(|(verdict, _)| verdict);
        }
        let key: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let slot = self.slot(key);
        match slot.get_or_try_init(|| self.introspect(token)).await {
            Ok((verdict, _)) => Ok(verdict.clone()),
            Err(error) => {
                self.forget(key, &slot);
                Err(error)
            }
        }
    }

    /// How many introspection requests this verifier has sent.
    pub fn calls(&self) -> u64 {
        self.calls.load(Ordering::Relaxed)
    }
    // ANCHOR_END: token_verifier

    /// The cache slot for `key`: the current one while fresh (or still being
    /// filled), else a new empty one.
    fn slot(&self, key: [u8; 32]) -> Slot {
        let now = self.settings.clock.instant();
        let mut cache = self
            .cache
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(slot) = cache.get(&key) {
            let fresh = slot.get().is_none_or(|(_, until)| *until > now);
            if fresh {
                return slot.clone();
            }
        }
        if cache.len() >= CACHE_CAPACITY {
            evict(&mut cache, now);
        }
        let slot = Slot::default();
        cache.insert(key, slot.clone());
        slot
    }

    /// Whether the authorization server's reachability changed with this
    /// answer, so an outage is logged once when it starts and once when it
    /// ends: `Some(false)` when it stopped answering, `Some(true)` when it
    /// answers again, `None` when nothing changed.
    fn reachability_changed(&self, answered: bool) -> Option<bool> {
        let was_down = self.outage.swap(!answered, Ordering::Relaxed);
        (was_down == answered).then_some(answered)
    }

    /// Drops a slot whose filling failed, so the next request asks again.
    fn forget(&self, key: [u8; 32], slot: &Slot) {
        let mut cache = self
            .cache
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if cache
            .get(&key)
            .is_some_and(|current| Arc::ptr_eq(current, slot))
        {
            cache.remove(&key);
        }
    }

    // ANCHOR: introspect
    /// One RFC 7662 request, authenticated with this server's credentials
    /// (`client_secret_basic`, RFC 6749 §2.3.1). The token goes in the body,
    /// never in a URL, and is never logged (rule RS-09).
    async fn introspect(&self, token: &str) -> Result<(Verdict, Instant), Unavailable> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        let result = self.ask(token).await;
        match (self.reachability_changed(result.is_ok()), &result) {
            (Some(true), _) => tracing::info!("authorization server reachable again"),
            (Some(false), Err(error)) => {
                tracing::warn!(%error, "failing closed until the authorization server answers");
            }
            _ => {}
        }
        let verdict = result?;
        let clock = &self.settings.clock;
        let now = clock.instant();
        let mut until = now + self.settings.cache_ttl;
        if let Verdict::Active(TokenInfo {
            expires_at: Some(exp),
            ..
        }) = &verdict
        {
            // To the millisecond: a token that ends at second `exp` is not
            // kept until the end of that second.
            until = until.min(now + clock.until_unix(*exp));
        }
        Ok((verdict, until))
    }

    async fn ask(&self, token: &str) -> Result<Verdict, Unavailable> {
        let response = self
            .http
            .post(&self.settings.introspection_url)
            .basic_auth(&self.settings.client_id, Some(&self.settings.client_secret))
            .form(&[("token", token), ("token_type_hint", "access_token")])
            .send()
            .await
            .map_err(|error| Unavailable(without_url(error)))?;
        let status = response.status();
        if !status.is_success() {
            return Err(Unavailable(format!("introspection answered {status}")));
        }
        let body: IntrospectionResponse = response.json().await.map_err(|error| {
            Unavailable(format!(
                "unreadable introspection response: {}",
                without_url(error)
            ))
        })?;
        Ok(interpret(body, &self.settings.clock))
    }
    // ANCHOR_END: introspect
}

/// Turns the response into a verdict: inactive, or active but already
/// expired, are the same to a caller.
fn interpret(body: IntrospectionResponse, clock: &Clock) -> Verdict {
    if !body.active || body.exp.is_some_and(|exp| clock.until_unix(exp).is_zero()) {
        return Verdict::Inactive;
    }
    let audiences = match body.aud {
        Some(Audience::One(aud)) => vec![aud],
        Some(Audience::Many(auds)) => auds,
        None => Vec::new(),
    };
    Verdict::Active(TokenInfo {
        subject: body.sub.unwrap_or_default(),
        client_id: body.client_id.unwrap_or_default(),
        scopes: body
            .scope
            .unwrap_or_default()
            .split_whitespace()
            .map(str::to_owned)
            .collect(),
        audiences,
        expires_at: body.exp,
    })
}

/// Makes room: drops expired entries, then, if still full, the tenth closest
/// to expiry. Entries still being filled count as expiring now: dropping one
/// only means its answer is not kept (its waiters hold their own handle), and
/// it keeps the bound even under a flood of distinct new tokens.
fn evict(cache: &mut HashMap<[u8; 32], Slot>, now: Instant) {
    cache.retain(|_, slot| slot.get().is_none_or(|(_, until)| *until > now));
    if cache.len() < CACHE_CAPACITY {
        return;
    }
    let mut by_expiry: Vec<([u8; 32], Instant)> = cache
        .iter()
        .map(|(key, slot)| (*key, slot.get().map_or(now, |(_, until)| *until)))
        .collect();
    by_expiry.sort_by_key(|(_, until)| *until);
    for (key, _) in by_expiry.into_iter().take(CACHE_CAPACITY / 10) {
        cache.remove(&key);
    }
}

/// reqwest errors name the URL; ours holds no secret, but keep logs short.
fn without_url(error: reqwest::Error) -> String {
    error.without_url().to_string()
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn response(json: serde_json::Value) -> IntrospectionResponse {
        serde_json::from_value(json).expect("valid response")
    }

    #[test]
    fn inactive_and_expired_tokens_are_inactive() {
        let clock = Clock::default();
        assert_eq!(
            interpret(response(serde_json::json!({"active": false})), &clock),
            Verdict::Inactive
        );
        let expired = serde_json::json!({"active": true, "exp": 1, "aud": "x"});
        assert_eq!(interpret(response(expired), &clock), Verdict::Inactive);
    }

    #[test]
    fn audience_may_be_a_string_or_a_list() {
        let clock = Clock::default();
        let exp = chrono::Utc::now().timestamp().unsigned_abs() + 60;
        let one = interpret(
            response(serde_json::json!({
                "active": true, "sub": "u", "client_id": "c", "scope": "a b", "aud": "r", "exp": exp
            })),
            &clock,
        );
        let Verdict::Active(info) = one else {
            panic!("active")
        };
        assert_eq!(info.audiences, vec!["r"]);
        assert_eq!(info.scopes, vec!["a", "b"]);
        let many = interpret(
            response(serde_json::json!({"active": true, "aud": ["r", "s"]})),
            &clock,
        );
        let Verdict::Active(info) = many else {
            panic!("active")
        };
        assert_eq!(info.audiences, vec!["r", "s"]);
    }

    /// A verifier whose authorization server is not there.
    fn verifier(cache_ttl: Duration) -> TokenVerifier {
        let mut config = crate::settings::Config::for_tests("http://127.0.0.1:1");
        config.introspection_cache_ttl = cache_ttl;
        config.introspection_timeout = Duration::from_millis(500);
        let settings = config.validate().expect("valid settings");
        TokenVerifier::new(Arc::new(settings)).expect("a verifier")
    }

    /// RS-13: a flood of distinct tokens cannot grow the cache past its
    /// bound; a full cache drops a tenth of itself, the closest to expiry
    /// (here: answers not yet in, which count as expiring now).
    #[test]
    fn rs13_the_cache_is_bounded() {
        let verifier = verifier(Duration::from_secs(60));
        for n in 0..=CACHE_CAPACITY {
            let key: [u8; 32] = Sha256::digest(n.to_be_bytes()).into();
            verifier.slot(key);
        }
        let len = verifier.cache.lock().map_or(0, |cache| cache.len());
        assert_eq!(len, CACHE_CAPACITY - CACHE_CAPACITY / 10 + 1);
    }

    /// An outage is noticed once when it starts and once when it ends,
    /// however many requests fail or succeed in between.
    #[test]
    fn rs12_an_outage_is_noticed_once_each_way() {
        let verifier = verifier(Duration::ZERO);
        let answers = [true, false, false, true, true, false];
        let changes = answers.map(|answered| verifier.reachability_changed(answered));
        assert_eq!(
            changes,
            [None, Some(false), None, Some(true), None, Some(false)]
        );
    }

    /// An authorization server on loopback that answers `{"active":false}`
    /// while `up` is set, and 503 otherwise.
    async fn switchable_as(up: Arc<AtomicBool>) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("address"));
        let app = axum::Router::new().route(
            "/introspect",
            axum::routing::post(move || {
                let up = up.load(Ordering::SeqCst);
                async move {
                    if up {
                        Ok(axum::Json(serde_json::json!({"active": false})))
                    } else {
                        Err(axum::http::StatusCode::SERVICE_UNAVAILABLE)
                    }
                }
            }),
        );
        tokio::spawn(async move { axum::serve(listener, app).await });
        url
    }

    /// What this test's thread logs.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            (self.0.lock())
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .extend_from_slice(bytes);
            Ok(bytes.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl Captured {
        fn count(&self, text: &str) -> usize {
            let bytes = self.0.lock().map(|bytes| bytes.clone()).unwrap_or_default();
            String::from_utf8_lossy(&bytes).matches(text).count()
        }
    }

    /// The log tells an outage once when it starts and once when it ends.
    #[tokio::test]
    async fn rs12_an_outage_is_logged_once_each_way() {
        let captured = Captured::default();
        let writer = captured.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_max_level(tracing::Level::INFO)
            .finish();
        // The runtime of this test has one thread, whose logs come here.
        let _logs = tracing::subscriber::set_default(subscriber);
        // Another test may log from the same line of code for the first
        // time just as this one starts, and leave that line's interest
        // computed without this subscriber: once it has logged, recompute.
        let _ = verifier(Duration::ZERO).verify("a-token").await;
        tracing::callsite::rebuild_interest_cache();

        let up = Arc::new(AtomicBool::new(false));
        let mut config = crate::settings::Config::for_tests(&switchable_as(up.clone()).await);
        config.introspection_cache_ttl = Duration::ZERO;
        let settings = config.validate().expect("valid settings");
        let verifier = TokenVerifier::new(Arc::new(settings)).expect("a verifier");
        let closed = "failing closed until the authorization server answers";
        let again = "authorization server reachable again";
        let (closed_before, again_before) = (captured.count(closed), captured.count(again));
        for (answering, expected) in [(false, (1, 0)), (true, (1, 1)), (false, (2, 1))] {
            up.store(answering, Ordering::SeqCst);
            for _ in 0..2 {
                assert_eq!(verifier.verify("a-token").await.is_ok(), answering);
            }
            let counts = (
                captured.count(closed) - closed_before,
                captured.count(again) - again_before,
            );
            assert_eq!(counts, expected);
        }
    }

    /// A failed answer is not kept: the next request asks again, and the
    /// cache holds nothing for it.
    #[tokio::test]
    async fn rs12_a_failed_answer_is_not_kept() {
        let verifier = verifier(Duration::from_secs(60));
        for expected in 1..=2 {
            let Err(Unavailable(error)) = verifier.verify("a-token").await else {
                panic!("an answer from nowhere")
            };
            // What failed, for the log: without the URL.
            assert!(error.starts_with("error sending request"), "{error}");
            assert!(!error.contains("127.0.0.1"), "{error}");
            assert_eq!(verifier.calls(), expected);
        }
        let len = verifier
            .cache
            .lock()
            .map_or(usize::MAX, |cache| cache.len());
        assert_eq!(len, 0);
    }

    /// RS-13: a full cache first drops the answers that have expired, and
    /// only if that is not enough a tenth of the live ones.
    #[test]
    fn rs13_a_full_cache_drops_expired_answers_first() {
        let verifier = verifier(Duration::from_secs(60));
        let now = Instant::now();
        let key = |n: usize| -> [u8; 32] { Sha256::digest(n.to_be_bytes()).into() };
        for n in 0..CACHE_CAPACITY {
            // Even: expired a second ago; odd: live for another minute.
            let until = if n % 2 == 0 {
                now.checked_sub(Duration::from_secs(1)).unwrap_or(now)
            } else {
                now + Duration::from_secs(60)
            };
            let filled = verifier.slot(key(n)).set((Verdict::Inactive, until));
            assert!(filled.is_ok());
        }
        verifier.slot(key(CACHE_CAPACITY));
        let cache = verifier.cache.lock().expect("the cache");
        assert_eq!(cache.len(), CACHE_CAPACITY / 2 + 1);
        assert!((0..CACHE_CAPACITY).all(|n| cache.contains_key(&key(n)) == (n % 2 == 1)));
    }

    /// `calls` counts the introspection requests sent, answered or not.
    #[tokio::test]
    async fn rs13_every_introspection_request_is_counted() {
        let verifier = verifier(Duration::ZERO);
        assert_eq!(verifier.calls(), 0);
        for expected in 1..=2 {
            assert!(verifier.verify("a-token").await.is_err());
            assert_eq!(verifier.calls(), expected);
        }
    }
}
