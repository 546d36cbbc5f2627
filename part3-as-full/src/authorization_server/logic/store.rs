//! All the state of the authorization server, in memory, behind one type.
//!
//! Everything the server remembers goes through [`Store`]: registered
//! clients, the clients read from metadata documents, sign-ins in progress,
//! codes, grants and tokens. It lives in
//! memory, so a restart forgets every client and token. That is a
//! simplification a real server would not make: to persist, replace this
//! type, and turn each place that takes [`Store::lock`] (one atomic step:
//! redeem a code, rotate a refresh token, revoke a grant) into a database
//! transaction. Secrets are keyed by their [`Digest`] (rule AS-14). Every
//! map is bounded, and [`Store::sweep`] drops what has expired, so memory
//! stays bounded too.

use std::{
    collections::HashMap,
    sync::{Mutex, MutexGuard, PoisonError},
};

use super::secret::Digest;
use crate::authorization_server::error::OAuthError;

/// The most entries one map may hold; past it new requests get
/// `temporarily_unavailable` until the sweeper has made room.
const CAPACITY: usize = 100_000;

/// The most Client ID Metadata Documents kept at once. Anyone can make the
/// server fetch one (any https URL is a `client_id`), so this cache stays
/// small, and a new entry pushes out the one closest to expiry.
const DOCUMENT_CAPACITY: usize = 1_000;

/// How a client authenticates at the token endpoint (RFC 7591 §2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMethod {
    /// A public client: no secret, PKCE alone protects the code.
    None,
    /// A secret in the `Authorization: Basic` header (RFC 6749 §2.3.1).
    ClientSecretBasic,
    /// A secret in the form body (RFC 6749 §2.3.1).
    ClientSecretPost,
}

/// A client: registered (RFC 7591), or read from the Client ID Metadata
/// Document at its `client_id` URL (draft-ietf-oauth-client-id-metadata-document).
#[derive(Debug, Clone)]
pub struct Client {
    pub id: String,
    pub secret: Option<Digest>,
    pub auth_method: AuthMethod,
    pub redirect_uris: Vec<String>,
    pub grant_types: Vec<String>,
    pub name: Option<String>,
}

/// A client read from its metadata document, kept until `expires_at`.
#[derive(Debug, Clone)]
pub struct CachedClient {
    pub client: Client,
    pub expires_at: i64,
}

/// The parts of an authorization request that were found valid.
#[derive(Debug, Clone)]
pub struct ValidRequest {
    pub code_challenge: String,
    pub resource: String,
    pub scope: Vec<String>,
}

/// A sign-in in progress, keyed by a server-made id (never by `state`).
#[derive(Debug, Clone)]
pub struct PendingAuthorization {
    pub client_id: String,
    pub client_name: Option<String>,
    pub redirect_uri: String,
    pub state: Option<String>,
    /// The request, or the error to send back once the user has signed in
    /// (rule AS-15).
    pub request: Result<ValidRequest, OAuthError>,
    pub csrf: Digest,
    pub session: Digest,
    pub expires_at: i64,
}

/// An authorization code and everything it is bound to (rule AS-03).
#[derive(Debug, Clone)]
pub struct CodeRecord {
    pub client_id: String,
    pub redirect_uri: String,
    pub request: ValidRequest,
    pub user: String,
    pub expires_at: i64,
    /// The grant it was redeemed for: set on first use, so that a second
    /// use can revoke the tokens of the first.
    pub redeemed: Option<u64>,
}

/// What one approval allows: the tokens issued from one code, and their
/// refreshes, belong to one grant and are revoked together.
#[derive(Debug, Clone)]
pub struct Grant {
    pub client_id: String,
    pub user: String,
    pub scope: Vec<String>,
    pub resource: String,
    pub expires_at: i64,
}

/// An access token, known only by its digest.
#[derive(Debug, Clone)]
pub struct AccessRecord {
    pub grant: u64,
    pub client_id: String,
    pub user: String,
    pub scope: Vec<String>,
    pub resource: String,
    pub issued_at: i64,
    pub expires_at: i64,
}

/// A refresh token, known only by its digest. Used ones are kept until they
/// expire, to recognise a replay (rule AS-08).
#[derive(Debug, Clone)]
pub struct RefreshRecord {
    pub grant: u64,
    pub used: bool,
    pub expires_at: i64,
}

/// The maps themselves. Only the store's methods (here and in the logic
/// modules that need an atomic step) touch them, under one lock.
#[derive(Debug, Default)]
pub struct Tables {
    pub clients: HashMap<String, Client>,
    /// Clients read from metadata documents, by `client_id` URL.
    pub client_documents: HashMap<String, CachedClient>,
    pub pending: HashMap<String, PendingAuthorization>,
    pub codes: HashMap<Digest, CodeRecord>,
    pub grants: HashMap<u64, Grant>,
    pub access: HashMap<Digest, AccessRecord>,
    pub refresh: HashMap<Digest, RefreshRecord>,
    pub next_grant: u64,
}

// ANCHOR: store
/// The in-memory store. One mutex makes each step atomic: ten concurrent
/// redemptions of one code are ten turns at the lock, and only the first
/// finds the code unused (rule AS-03). The lock is never held across an
/// `.await`.
#[derive(Debug, Default)]
pub struct Store {
    tables: Mutex<Tables>,
}

impl Store {
    /// Locks the tables. A panic while locked cannot leave them half
    /// updated (every step checks, then writes), so a poisoned lock is used
    /// as is rather than taking the whole server down.
    pub fn lock(&self) -> MutexGuard<'_, Tables> {
        self.tables.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Drops everything that has expired at `now`.
    pub fn sweep(&self, now: i64) {
        let mut tables = self.lock();
        tables.pending.retain(|_, pending| pending.expires_at > now);
        (tables.client_documents).retain(|_, cached| cached.expires_at > now);
        tables.codes.retain(|_, code| code.expires_at > now);
        tables.grants.retain(|_, grant| grant.expires_at > now);
        tables.access.retain(|_, token| token.expires_at > now);
        tables.refresh.retain(|_, token| token.expires_at > now);
    }
}
// ANCHOR_END: store

impl Tables {
    /// Refuses to grow a map past [`CAPACITY`].
    pub fn ensure_room(len: usize) -> Result<(), OAuthError> {
        if len >= CAPACITY {
            tracing::warn!("a store map is full; refusing new entries until the next sweep");
            return Err(OAuthError::TemporarilyUnavailable);
        }
        Ok(())
    }

    /// Caches a client read from its metadata document until `expires_at`.
    /// When the cache is full, the entry closest to expiry makes room, so a
    /// flood of documents can slow clients down (they are fetched again)
    /// but never grow memory.
    pub fn cache_document(&mut self, client: Client, expires_at: i64) {
        let documents = &mut self.client_documents;
        if documents.len() >= DOCUMENT_CAPACITY && !documents.contains_key(&client.id) {
            let soonest = (documents.iter())
                .min_by_key(|(_, cached)| cached.expires_at)
                .map(|(id, _)| id.clone());
            if let Some(soonest) = soonest {
                documents.remove(&soonest);
            }
        }
        let cached = CachedClient { client, expires_at };
        documents.insert(cached.client.id.clone(), cached);
    }

    /// Revokes a grant: the grant and every token issued under it go.
    pub fn revoke_grant(&mut self, grant: u64) {
        self.grants.remove(&grant);
        self.access.retain(|_, token| token.grant != grant);
        self.refresh.retain(|_, token| token.grant != grant);
    }
}
