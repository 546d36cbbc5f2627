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
    collections::{HashMap, VecDeque},
    sync::{Mutex, MutexGuard, PoisonError},
};

use super::secret::Digest;
use crate::{authorization_server::error::OAuthError, holders::Holders, limits::Source};

/// The most entries one map may hold; past it new requests get
/// `temporarily_unavailable` until the sweeper has made room.
const CAPACITY: usize = 100_000;

/// Sign-ins in progress, in all. Past it, the source that holds the most
/// loses its oldest (rule AS-16).
const PENDING_CAPACITY: usize = 10_000;

/// Sign-ins in progress from one source. Past it, that source loses its
/// own oldest: a person has a handful open, a script thousands.
///
/// There is deliberately no bound per client: a public client's id is
/// public, so a script can start sign-ins with the very client a person
/// uses, and a per-client bound could only evict that person's sign-in.
const PENDING_PER_SOURCE: usize = 64;

/// Registered clients, in all. Past it, the source that holds the most
/// clients nobody has used yet loses its oldest such client.
const CLIENT_CAPACITY: usize = 100_000;

/// Registered clients nobody has used yet, from one source. Past it, that
/// source's oldest unused client goes.
const UNUSED_CLIENTS_PER_SOURCE: usize = 100;

/// Seconds a registered client may go unused before it is removed: a
/// client that never completes an authorization in a day was a script or a
/// mistake (rule AS-16). A client that has been used stays.
pub const UNUSED_CLIENT_LIFETIME: i64 = 24 * 60 * 60;

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
    /// Who registered it and when, while nobody has used it yet: such a
    /// client expires after [`UNUSED_CLIENT_LIFETIME`]. `None` once it has
    /// completed an authorization, and for clients read from a document.
    pub unused_since: Option<(Source, i64)>,
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
    /// Where the request came from, which its share of the table is
    /// charged to (rule AS-16).
    pub source: Source,
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
///
/// A grant is also a refresh-token family (RFC 9700 §4.14.2): every refresh
/// token it issues is `<family>.<secret>`, and the grant keeps the digest of
/// the one current token. A token of the family that is not the current one
/// was rotated away, so presenting it is a replay (rule AS-08), and one
/// record per family is enough to tell, however often it rotated.
#[derive(Debug, Clone)]
pub struct Grant {
    pub client_id: String,
    pub user: String,
    pub scope: Vec<String>,
    pub resource: String,
    pub expires_at: i64,
    /// The digest of the family's id, for clients that may refresh.
    pub family: Option<Digest>,
    /// The digest of the current refresh token of the family.
    pub refresh: Option<Digest>,
    /// The live access tokens issued under the grant, oldest first; at most
    /// [`ACCESS_TOKENS_PER_GRANT`], so a client that refreshes in a loop
    /// replaces its own tokens instead of filling the table.
    pub access: VecDeque<Digest>,
}

/// Live access tokens per grant. A client holds one or two at a time.
pub const ACCESS_TOKENS_PER_GRANT: usize = 10;

/// Live grants per client and user: one per sign-in a person approved.
/// Past it, that client and user's oldest grant is revoked.
pub const GRANTS_PER_CLIENT_AND_USER: usize = 20;

/// Live grants per user, over all clients. Past it, the user's oldest grant
/// is revoked.
pub const GRANTS_PER_USER: usize = 200;

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
    /// Refresh-token families: the digest of a family id, to its grant.
    pub families: HashMap<Digest, u64>,
    pub next_grant: u64,
    /// Who holds the sign-ins in progress.
    pub pending_holders: Holders,
    /// Who registered the clients nobody has used yet.
    pub unused_clients: Holders,
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

    /// Drops everything that has expired at `now`, and the registered
    /// clients nobody used within [`UNUSED_CLIENT_LIFETIME`].
    pub fn sweep(&self, now: i64) {
        let mut tables = self.lock();
        let tables = &mut *tables;
        let holders = &mut tables.pending_holders;
        tables.pending.retain(|id, pending| {
            let live = pending.expires_at > now;
            if !live {
                holders.remove(pending.source, id);
            }
            live
        });
        let unused = &mut tables.unused_clients;
        tables
            .clients
            .retain(|id, client| match client.unused_since {
                Some((source, since)) if now - since >= UNUSED_CLIENT_LIFETIME => {
                    unused.remove(source, id);
                    false
                }
                _ => true,
            });
        (tables.client_documents).retain(|_, cached| cached.expires_at > now);
        tables.codes.retain(|_, code| code.expires_at > now);
        let expired: Vec<u64> = (tables.grants.iter())
            .filter(|(_, grant)| grant.expires_at <= now)
            .map(|(id, _)| *id)
            .collect();
        for grant in expired {
            tables.revoke_grant(grant);
        }
        tables.access.retain(|_, token| token.expires_at > now);
        let access = &tables.access;
        for grant in tables.grants.values_mut() {
            grant.access.retain(|digest| access.contains_key(digest));
        }
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

    // ANCHOR: insert_pending
    /// Stores a sign-in in progress under `id`, within its source's share
    /// (rule AS-16): a source over [`PENDING_PER_SOURCE`] loses its own
    /// oldest, and a full table takes the oldest of the source that holds
    /// the most. Nobody else's sign-in is ever pushed out.
    pub fn insert_pending(&mut self, id: String, pending: PendingAuthorization) {
        let source = pending.source;
        let victim = if self.pending_holders.count(source) >= PENDING_PER_SOURCE {
            self.pending_holders
                .oldest_of(source)
                .map(|id| (source, id))
        } else if self.pending.len() >= PENDING_CAPACITY {
            self.pending_holders.largest()
        } else {
            None
        };
        if let Some((holder, old)) = victim {
            self.pending.remove(&old);
            self.pending_holders.remove(holder, &old);
        }
        self.pending_holders.add(source, id.clone());
        self.pending.insert(id, pending);
    }
    // ANCHOR_END: insert_pending

    /// Takes a sign-in in progress out of the table (it is answered).
    pub fn take_pending(&mut self, id: &str) -> Option<PendingAuthorization> {
        let pending = self.pending.remove(id)?;
        self.pending_holders.remove(pending.source, id);
        Some(pending)
    }

    /// Stores a newly registered client, within its source's share of the
    /// clients nobody has used yet (rule AS-16). Only when every client in
    /// the table has been used is the table really full.
    pub fn insert_client(&mut self, client: Client) -> Result<(), OAuthError> {
        if let Some((source, _)) = client.unused_since {
            let victim = if self.unused_clients.count(source) >= UNUSED_CLIENTS_PER_SOURCE {
                self.unused_clients.oldest_of(source).map(|id| (source, id))
            } else if self.clients.len() >= CLIENT_CAPACITY {
                self.unused_clients.largest()
            } else {
                None
            };
            if let Some((holder, old)) = victim {
                self.clients.remove(&old);
                self.unused_clients.remove(holder, &old);
            }
            self.unused_clients.add(source, client.id.clone());
        }
        Self::ensure_room(self.clients.len())?;
        self.clients.insert(client.id.clone(), client);
        Ok(())
    }

    /// Marks a client as used: it completed an authorization, so it no
    /// longer expires unused nor counts against its source's share.
    pub fn client_used(&mut self, client_id: &str) {
        if let Some(client) = self.clients.get_mut(client_id)
            && let Some((source, _)) = client.unused_since.take()
        {
            self.unused_clients.remove(source, client_id);
        }
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
        let Some(grant) = self.grants.remove(&grant) else {
            return;
        };
        for digest in &grant.access {
            self.access.remove(digest);
        }
        if let Some(family) = &grant.family {
            self.families.remove(family);
        }
    }

    /// The grant of a refresh token's family, and whether the token is the
    /// family's current one: `None` when no live family has that id.
    pub fn refresh_family(&self, refresh_token: &str) -> Option<(u64, bool)> {
        let (family, _) = refresh_token.split_once('.')?;
        let grant_id = *self.families.get(&Digest::of(family))?;
        let grant = self.grants.get(&grant_id)?;
        let current = grant
            .refresh
            .as_ref()
            .is_some_and(|current| current.matches(&Digest::of(refresh_token)));
        Some((grant_id, current))
    }

    // ANCHOR: insert_grant
    /// Stores a new grant, within the bounds a person's approvals have
    /// (rule AS-16): the oldest grant of the same client and user, or of
    /// the same user, is revoked to make room. Grants come only from
    /// sign-ins, so no anonymous request can push one out.
    pub fn insert_grant(&mut self, grant: Grant) -> u64 {
        let mine = |same_client: bool| {
            let (client, user) = (&grant.client_id, &grant.user);
            move |(id, other): (&u64, &Grant)| {
                (other.user == *user && (!same_client || other.client_id == *client)).then_some(*id)
            }
        };
        for (same_client, cap) in [(true, GRANTS_PER_CLIENT_AND_USER), (false, GRANTS_PER_USER)] {
            let held: Vec<u64> = self.grants.iter().filter_map(mine(same_client)).collect();
            if held.len() >= cap
                && let Some(oldest) = held.into_iter().min()
            {
                self.revoke_grant(oldest);
            }
        }
        let id = self.next_grant;
        self.next_grant += 1;
        if let Some(family) = &grant.family {
            self.families.insert(*family, id);
        }
        self.grants.insert(id, grant);
        id
    }
    // ANCHOR_END: insert_grant

    /// Stores an access token under its grant, dropping the grant's oldest
    /// past [`ACCESS_TOKENS_PER_GRANT`].
    pub fn insert_access(&mut self, digest: Digest, record: AccessRecord) {
        if let Some(grant) = self.grants.get_mut(&record.grant) {
            grant.access.push_back(digest);
            if grant.access.len() > ACCESS_TOKENS_PER_GRANT
                && let Some(oldest) = grant.access.pop_front()
            {
                self.access.remove(&oldest);
            }
        }
        self.access.insert(digest, record);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source(n: u32) -> Source {
        Source::of(std::net::Ipv4Addr::from(0x0a00_0000 + n).into())
    }

    fn pending(from: Source) -> PendingAuthorization {
        PendingAuthorization {
            client_id: "client".into(),
            client_name: None,
            redirect_uri: "http://127.0.0.1/cb".into(),
            state: None,
            request: Err(OAuthError::AccessDenied),
            csrf: Digest::of("csrf"),
            session: Digest::of("session"),
            expires_at: 600,
            source: from,
        }
    }

    fn client(id: &str, from: Source, at: i64) -> Client {
        Client {
            id: id.into(),
            secret: None,
            auth_method: AuthMethod::None,
            redirect_uris: vec!["http://127.0.0.1/cb".into()],
            grant_types: vec!["authorization_code".into()],
            name: None,
            unused_since: Some((from, at)),
        }
    }

    /// A script over its share of sign-ins loses its own oldest; the
    /// person's sign-in stays.
    #[test]
    fn as16_a_source_over_its_share_loses_its_own_oldest_sign_in() {
        let mut tables = Tables::default();
        tables.insert_pending("person".into(), pending(source(1)));
        for n in 0..(PENDING_PER_SOURCE + 500) {
            tables.insert_pending(format!("flood{n}"), pending(source(2)));
        }
        assert!(tables.pending.contains_key("person"));
        assert_eq!(tables.pending_holders.count(source(2)), PENDING_PER_SOURCE);
        assert_eq!(tables.pending.len(), PENDING_PER_SOURCE + 1);
        assert!(
            !tables.pending.contains_key("flood0"),
            "the flood's oldest went"
        );
        assert!(
            tables
                .pending
                .contains_key(&format!("flood{}", PENDING_PER_SOURCE + 499))
        );
    }

    /// A full table takes from the source that holds the most, and a
    /// source with nothing pending always gets in.
    #[test]
    fn as16_a_full_table_evicts_the_largest_holder() {
        let mut tables = Tables::default();
        tables.insert_pending("person".into(), pending(source(0)));
        let mut n = 0;
        while tables.pending.len() < PENDING_CAPACITY {
            let from = source(1 + (n % 200) as u32);
            tables.insert_pending(format!("flood{n}"), pending(from));
            n += 1;
        }
        // One more from a newcomer: somebody must go, and it is not the
        // person (who holds one) but one of the sources holding the most.
        tables.insert_pending("newcomer".into(), pending(source(9_999)));
        assert!(tables.pending.contains_key("person"));
        assert!(tables.pending.contains_key("newcomer"));
        assert_eq!(tables.pending.len(), PENDING_CAPACITY);
        assert_eq!(tables.pending_holders.len(), tables.pending.len());
        // Taken and swept entries leave the holders too.
        assert!(tables.take_pending("person").is_some());
        assert_eq!(tables.pending_holders.count(source(0)), 0);
    }

    /// Unused registrations: a source over its share loses its oldest, they
    /// expire after a day unless used, and a used client never does.
    #[test]
    fn as16_unused_clients_are_bounded_per_source_and_expire() {
        let store = Store::default();
        {
            let mut tables = store.lock();
            tables
                .insert_client(client("person", source(1), 0))
                .expect("room");
            for n in 0..(UNUSED_CLIENTS_PER_SOURCE + 50) {
                let id = format!("flood{n}");
                tables
                    .insert_client(client(&id, source(2), 0))
                    .expect("room");
            }
            assert!(tables.clients.contains_key("person"));
            assert!(!tables.clients.contains_key("flood0"));
            assert_eq!(tables.clients.len(), UNUSED_CLIENTS_PER_SOURCE + 1);
            tables
                .insert_client(client("used", source(1), 0))
                .expect("room");
            tables.client_used("used");
        }
        store.sweep(UNUSED_CLIENT_LIFETIME - 1);
        assert_eq!(store.lock().clients.len(), UNUSED_CLIENTS_PER_SOURCE + 2);
        store.sweep(UNUSED_CLIENT_LIFETIME);
        let tables = store.lock();
        assert_eq!(tables.clients.keys().collect::<Vec<_>>(), ["used"]);
        assert!(tables.unused_clients.is_empty());
    }

    fn grant(user: &str, client: &str, family: Option<&str>) -> Grant {
        Grant {
            client_id: client.into(),
            user: user.into(),
            scope: vec![],
            resource: "r".into(),
            expires_at: 1_000,
            family: family.map(Digest::of),
            refresh: None,
            access: VecDeque::new(),
        }
    }

    fn access(grant: u64) -> AccessRecord {
        AccessRecord {
            grant,
            client_id: "c".into(),
            user: "u".into(),
            scope: vec![],
            resource: "r".into(),
            issued_at: 0,
            expires_at: 100,
        }
    }

    /// One record per family recognises every rotated-away token, not just
    /// the last one (rule AS-08, AS-16).
    #[test]
    fn as16_one_record_per_refresh_family_recognises_every_old_token() {
        let mut tables = Tables::default();
        let id = tables.insert_grant(grant("u", "c", Some("fam")));
        let tokens: Vec<String> = (0..50).map(|n| format!("fam.secret{n}")).collect();
        for token in &tokens {
            tables.grants.get_mut(&id).expect("grant").refresh = Some(Digest::of(token));
        }
        assert_eq!(tables.refresh_family("fam.secret49"), Some((id, true)));
        assert_eq!(tables.refresh_family("fam.secret0"), Some((id, false)));
        assert_eq!(tables.refresh_family("other.secret0"), None);
        assert_eq!(tables.refresh_family("no-dot"), None);
        tables.revoke_grant(id);
        assert_eq!(tables.refresh_family("fam.secret49"), None);
        assert!(tables.families.is_empty());
    }

    /// A client refreshing in a loop replaces its own access tokens.
    #[test]
    fn as16_access_tokens_are_bounded_per_grant() {
        let mut tables = Tables::default();
        let mine = tables.insert_grant(grant("u", "c", None));
        let other = tables.insert_grant(grant("v", "c", None));
        tables.insert_access(Digest::of("other"), access(other));
        for n in 0..1_000 {
            tables.insert_access(Digest::of(&format!("mine{n}")), access(mine));
        }
        assert_eq!(tables.access.len(), ACCESS_TOKENS_PER_GRANT + 1);
        assert!(tables.access.contains_key(&Digest::of("other")));
        assert!(tables.access.contains_key(&Digest::of("mine999")));
        assert!(!tables.access.contains_key(&Digest::of("mine0")));
    }

    /// Grants per client and user, and per user, are bounded; the oldest of
    /// the same holder goes, nobody else's.
    #[test]
    fn as16_grants_are_bounded_per_client_and_user() {
        let mut tables = Tables::default();
        let someone_else = tables.insert_grant(grant("other", "c", None));
        let first = tables.insert_grant(grant("u", "c", None));
        for _ in 0..GRANTS_PER_CLIENT_AND_USER {
            tables.insert_grant(grant("u", "c", None));
        }
        assert!(!tables.grants.contains_key(&first));
        assert!(tables.grants.contains_key(&someone_else));
        let held = tables.grants.values().filter(|g| g.user == "u").count();
        assert_eq!(held, GRANTS_PER_CLIENT_AND_USER);
        for n in 0..GRANTS_PER_USER {
            tables.insert_grant(grant("u", &format!("client{n}"), None));
        }
        let held = tables.grants.values().filter(|g| g.user == "u").count();
        assert_eq!(held, GRANTS_PER_USER);
        assert!(tables.grants.contains_key(&someone_else));
    }
}
