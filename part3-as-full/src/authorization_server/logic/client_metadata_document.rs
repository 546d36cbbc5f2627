//! Client ID Metadata Documents (draft-ietf-oauth-client-id-metadata-document,
//! which the MCP 2025-11-25 authorization spec asks servers to support).
//!
//! A client that never registered here may use an https URL as its
//! `client_id`. The URL names a JSON document the client hosts, with the
//! same metadata it would send to `/register`; this server fetches it when
//! it first meets the id, checks it like a registration (rule AS-06),
//! and keeps the result for a while. Trust comes from the URL: whoever
//! controls the document controls the client, so the document must name
//! itself (`client_id` equal to the URL, byte for byte), and the login page
//! shows the URL's host next to the name the document claims.
//!
//! Such clients are public: a document is readable by anyone, so it cannot
//! carry a secret, and `private_key_jwt` (the draft's other option) is not
//! implemented here. PKCE protects their codes, as for any public client.
//!
//! Fetching is the [`super::document_fetch`] module's job; this one decides.

use serde::Deserialize;
use url::Url;

use super::{
    clients::{RegistrationRequest, check_metadata},
    provider::Provider,
    store::{AuthMethod, Client},
};
use crate::authorization_server::error::{DocumentError, OAuthError};

/// A document is kept at least this long, in seconds, whatever its
/// `Cache-Control` says, so one client cannot make the server fetch on
/// every request.
const MIN_CACHE_SECONDS: u64 = 60;
/// Kept at most this long (a day), so a changed document is seen.
const MAX_CACHE_SECONDS: u64 = 24 * 60 * 60;
/// Kept this long when the document's server says nothing.
const DEFAULT_CACHE_SECONDS: u64 = 60 * 60;
/// The longest `client_id` URL considered.
const MAX_URL_LENGTH: usize = 2000;

/// The fields of a metadata document this server reads, besides the
/// registration metadata (draft §4).
#[derive(Debug, Deserialize)]
struct Document {
    client_id: Option<String>,
    /// Forbidden: a document is public (draft §4).
    client_secret: Option<serde_json::Value>,
    client_secret_expires_at: Option<serde_json::Value>,
    #[serde(flatten)]
    metadata: RegistrationRequest,
}

impl Provider {
    // ANCHOR: find_client
    /// The client a `client_id` names: a registered one, or, when the id is
    /// an http(s) URL, the one its metadata document describes, from the
    /// cache or fetched now. `Ok(None)`: no such client.
    ///
    /// The fetch is awaited, never blocking the runtime; the store's lock
    /// is not held across it.
    pub async fn find_client(&self, client_id: &str) -> Result<Option<Client>, DocumentError> {
        let now = self.now();
        {
            let tables = self.store.lock();
            if let Some(client) = tables.clients.get(client_id) {
                return Ok(Some(client.clone()));
            }
            if let Some(cached) =
                (tables.client_documents.get(client_id)).filter(|cached| cached.expires_at > now)
            {
                return Ok(Some(cached.client.clone()));
            }
        }
        if !is_url(client_id) {
            return Ok(None);
        }
        let url = self.check_client_id_url(client_id)?;
        let fetched = self.document_fetcher.fetch(&url).await?;
        let client = read_document(&url, &fetched.body)?;
        let lifetime = (fetched.max_age.unwrap_or(DEFAULT_CACHE_SECONDS))
            .clamp(MIN_CACHE_SECONDS, MAX_CACHE_SECONDS);
        let expires_at = now.saturating_add(i64::try_from(lifetime).unwrap_or(i64::MAX));
        self.store.lock().cache_document(client.clone(), expires_at);
        tracing::info!(client_id, lifetime, "read a client metadata document");
        Ok(Some(client))
    }
    // ANCHOR_END: find_client

    // ANCHOR: check_client_id_url
    /// The rules of draft §3 for a `client_id` URL, checked before anything
    /// is fetched: `https` (or `http` on a loopback host, only when the
    /// server runs with `--cimd-allow-loopback-http`), a path other than
    /// `/`, no user information, no fragment, and written in normal form
    /// (lowercase scheme and host, no default port, no `.` or `..`
    /// segments), so the id the client sends and the URL fetched are the
    /// same string. Where the host may be is [`super::document_fetch`]'s
    /// job: it resolves it.
    fn check_client_id_url(&self, client_id: &str) -> Result<Url, DocumentError> {
        let bad = DocumentError::BadUrl;
        if client_id.len() > MAX_URL_LENGTH {
            return Err(bad("the client_id URL is too long"));
        }
        let url = Url::parse(client_id).map_err(|_| bad("the client_id is not a valid URL"))?;
        if url.as_str() != client_id {
            return Err(bad(
                "the client_id URL is not in normal form (lowercase scheme and host, no default port, no dot segments)",
            ));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(bad("the client_id URL must not carry user information"));
        }
        if url.fragment().is_some() {
            return Err(bad("the client_id URL must not have a fragment"));
        }
        if url.path() == "/" {
            return Err(bad("the client_id URL must have a path"));
        }
        let loopback = matches!(url.host_str(), Some("127.0.0.1" | "[::1]" | "localhost"));
        match url.scheme() {
            "https" => Ok(url),
            "http" if loopback && self.cimd_allow_loopback_http => Ok(url),
            _ => Err(bad("the client_id URL must use https")),
        }
    }
    // ANCHOR_END: check_client_id_url
}

// ANCHOR: read_document
/// Reads a fetched document into a client (draft §4): a JSON object whose
/// `client_id` is the URL it came from, byte for byte; no secret; the
/// authentication method `none` (or absent, meaning `none` here); and
/// metadata that passes the registration checks of rule AS-06, so its
/// redirect URIs obey the same rules as registered ones (AS-04).
fn read_document(url: &Url, body: &[u8]) -> Result<Client, DocumentError> {
    let invalid = DocumentError::Invalid;
    let value: serde_json::Value =
        serde_json::from_slice(body).map_err(|_| DocumentError::NotJson)?;
    if !value.is_object() {
        return Err(DocumentError::NotJson);
    }
    let document: Document = serde_json::from_value(value)
        .map_err(|_| invalid("a field of the document has the wrong type"))?;
    if document.client_id.as_deref() != Some(url.as_str()) {
        return Err(invalid("its client_id is not the URL it was fetched from"));
    }
    if document.client_secret.is_some() || document.client_secret_expires_at.is_some() {
        return Err(invalid(
            "a metadata document must not contain a client_secret",
        ));
    }
    match document.metadata.token_endpoint_auth_method.as_deref() {
        None | Some("none") => {}
        Some("private_key_jwt") => {
            return Err(invalid(
                "token_endpoint_auth_method private_key_jwt is not supported here; use none",
            ));
        }
        Some(_) => return Err(invalid("token_endpoint_auth_method must be none")),
    }
    let checked = check_metadata(&document.metadata).map_err(|error| match error {
        OAuthError::InvalidRedirectUri(reason) | OAuthError::InvalidClientMetadata(reason) => {
            invalid(reason)
        }
        _ => invalid("the client metadata is invalid"),
    })?;
    let host = url.host_str().unwrap_or_default();
    Ok(Client {
        id: url.as_str().to_owned(),
        secret: None,
        auth_method: AuthMethod::None,
        redirect_uris: checked.redirect_uris,
        grant_types: checked.grant_types,
        // The name is the document's claim; the host is what was verified.
        name: Some(match document.metadata.client_name {
            Some(name) => format!("{name} ({host})"),
            None => host.to_owned(),
        }),
        unused_since: None,
    })
}
// ANCHOR_END: read_document

/// True when `client_id` looks like an http(s) URL: such an id is a
/// metadata document's, never one this server made (those are UUIDs).
fn is_url(client_id: &str) -> bool {
    let scheme = client_id.split_once("://").map(|(scheme, _)| scheme);
    scheme.is_some_and(|s| s.eq_ignore_ascii_case("https") || s.eq_ignore_ascii_case("http"))
}

#[cfg(test)]
mod tests {
    use std::{sync::Arc, time::Duration};

    use serde_json::json;

    use super::*;
    use crate::{
        authorization_server::{
            Config,
            logic::document_fetch::{FetchDocument, FetchFuture, FetchedDocument},
        },
        clock::Clock,
    };

    const URL: &str = "https://app.example/client.json";

    /// Answers every fetch with the same body and `max-age`, and counts
    /// the fetches.
    #[derive(Debug)]
    struct Fixed(Vec<u8>, std::sync::atomic::AtomicUsize, Option<u64>);

    impl Fixed {
        fn fetches(&self) -> usize {
            self.1.load(std::sync::atomic::Ordering::SeqCst)
        }
    }

    impl FetchDocument for Fixed {
        fn fetch<'a>(&'a self, _url: &'a Url) -> FetchFuture<'a> {
            self.1.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let body = self.0.clone();
            let max_age = self.2;
            Box::pin(async move { Ok(FetchedDocument { body, max_age }) })
        }
    }

    fn provider_with(document: serde_json::Value) -> (Provider, Arc<Fixed>) {
        provider_at(document, None, Clock::default())
    }

    /// A provider on `clock` whose documents come with `max_age`.
    fn provider_at(
        document: serde_json::Value,
        max_age: Option<u64>,
        clock: Clock,
    ) -> (Provider, Arc<Fixed>) {
        let fetcher = Arc::new(Fixed(document.to_string().into_bytes(), 0.into(), max_age));
        let config = Config {
            clock,
            ..Config::for_tests("https://as.example")
        };
        let provider = Provider::new(&config)
            .expect("provider")
            .with_document_fetcher(fetcher.clone());
        (provider, fetcher)
    }

    fn good() -> serde_json::Value {
        json!({
            "client_id": URL,
            "client_name": "App",
            "redirect_uris": ["https://app.example/cb"],
        })
    }

    #[tokio::test]
    async fn cimd_document_gives_a_public_client_and_is_cached() {
        let (provider, fetcher) = provider_with(good());
        for _ in 0..2 {
            let client = provider.find_client(URL).await;
            let client = client.ok().flatten().map(|c| (c.id, c.auth_method, c.name));
            assert_eq!(
                client,
                Some((
                    URL.into(),
                    AuthMethod::None,
                    Some("App (app.example)".into())
                ))
            );
        }
        assert_eq!(fetcher.fetches(), 1);
        assert!(matches!(provider.find_client("not-a-url").await, Ok(None)));
    }

    /// A document is kept for its `max-age`, at least a minute and at most
    /// a day, and for an hour when its server says nothing; then fetched
    /// again.
    #[tokio::test]
    async fn cimd_a_document_is_kept_between_a_minute_and_a_day() {
        let cases = [
            (None, 60 * 60),
            (Some(10), 60),
            (Some(300), 300),
            (Some(2 * 24 * 60 * 60), 24 * 60 * 60),
        ];
        for (max_age, kept) in cases {
            let clock = Clock::default();
            let (provider, fetcher) = provider_at(good(), max_age, clock.clone());
            assert!(matches!(provider.find_client(URL).await, Ok(Some(_))));
            // Two seconds early: a second boundary crossed during the test
            // cannot make it look due.
            clock.advance(Duration::from_secs(kept - 2));
            assert!(matches!(provider.find_client(URL).await, Ok(Some(_))));
            assert_eq!(fetcher.fetches(), 1, "max-age {max_age:?}: kept {kept} s");
            clock.advance(Duration::from_secs(2));
            assert!(matches!(provider.find_client(URL).await, Ok(Some(_))));
            assert_eq!(
                fetcher.fetches(),
                2,
                "max-age {max_age:?}: due after {kept} s"
            );
        }
    }

    #[tokio::test]
    async fn cimd_document_rules() {
        let with = |field: &str, value: serde_json::Value| {
            let mut document = good();
            document[field] = value;
            document
        };
        for (document, why) in [
            (
                with("client_id", json!("https://app.example/other.json")),
                "client_id",
            ),
            (with("client_secret", json!("s3cret")), "client_secret"),
            (
                with("token_endpoint_auth_method", json!("private_key_jwt")),
                "private_key_jwt",
            ),
            (
                with("token_endpoint_auth_method", json!("client_secret_basic")),
                "must be none",
            ),
            (
                with("redirect_uris", json!(["http://app.example/cb"])),
                "redirect URI",
            ),
            (with("redirect_uris", json!([])), "redirect_uris"),
            (with("grant_types", json!(["implicit"])), "grant_types"),
            (json!(["not", "an", "object"]), "JSON object"),
        ] {
            let (provider, _) = provider_with(document);
            let refused = provider.find_client(URL).await;
            let reason = refused
                .err()
                .map(|error| error.to_string())
                .unwrap_or_default();
            assert!(reason.contains(why), "{why}: {reason}");
        }
    }

    #[tokio::test]
    async fn cimd_url_rules() {
        let (provider, fetcher) = provider_with(good());
        for url in [
            "http://app.example/client.json",
            "http://127.0.0.1:8080/client.json",
            "https://app.example/",
            "https://app.example",
            "https://user@app.example/client.json",
            "https://app.example/client.json#x",
            "https://APP.example/client.json",
            "https://app.example:443/client.json",
            "https://app.example/a/../client.json",
            "HTTPS://app.example/client.json",
        ] {
            let refused = provider.find_client(url).await;
            assert!(
                matches!(refused, Err(DocumentError::BadUrl(_))),
                "{url}: {refused:?}"
            );
        }
        assert_eq!(fetcher.fetches(), 0);
        // The length bound, at its edge: 2,000 characters are read, 2,001 are not.
        let longest = format!("https://app.example/{}", "a".repeat(MAX_URL_LENGTH - 20));
        assert_eq!(longest.len(), MAX_URL_LENGTH);
        assert!(provider.check_client_id_url(&longest).is_ok());
        let too_long = format!("{longest}a");
        assert!(matches!(
            provider.check_client_id_url(&too_long),
            Err(DocumentError::BadUrl("the client_id URL is too long"))
        ));
    }
}
