//! All the state of the authorization server, in a database, behind one
//! trait.
//!
//! Part 3 kept this state in memory under one lock, so a restart logged
//! everybody out and a second instance could not share the load. Here the
//! logic layer speaks to a [`Store`], and two implementations answer:
//!
//! - [`sqlite::SqliteStore`]: a file next to the server, the default, with
//!   nothing to install (`AS_DATABASE_URL=sqlite://part6-as.db`);
//! - [`postgres::PostgresStore`]: one PostgreSQL database that several
//!   instances share (`AS_DATABASE_URL=postgres://…`).
//!
//! Each method is one step the logic needs to be atomic, and each
//! implementation makes it atomic in SQL: a transaction, a conditional
//! `UPDATE` whose row count decides, or a `DELETE … RETURNING`. The lock of
//! part 3 made "check, then write" safe inside one process; across
//! processes only the database can. Secrets are stored as their
//! [`Digest`] (rule AS-14), and the bounds of rule AS-16 hold in SQL too.

use std::{collections::HashMap, sync::Mutex};

use async_trait::async_trait;

use super::secret::Digest;
use crate::authorization_server::error::{OAuthError, PageError};

#[cfg(feature = "postgres")]
pub mod postgres;
#[cfg(feature = "sqlite")]
pub mod sqlite;

/// Sign-ins in progress, in all. Past it, the source that holds the most
/// loses its oldest (rule AS-16).
pub const PENDING_CAPACITY: i64 = 10_000;

/// Sign-ins in progress from one source. Past it, that source loses its
/// own oldest: a person has a handful open, a script thousands. There is
/// deliberately no bound per client: a public client's id is public, and a
/// per-client bound could only evict a person's sign-in.
pub const PENDING_PER_SOURCE: i64 = 64;

/// Registered clients, in all. Past it, the source that holds the most
/// clients nobody has used yet loses its oldest such client; when every
/// client has been used, registration answers `temporarily_unavailable`.
pub const CLIENT_CAPACITY: i64 = 100_000;

/// Registered clients nobody has used yet, from one source.
pub const UNUSED_CLIENTS_PER_SOURCE: i64 = 100;

/// Seconds a registered client may go unused before it is removed (rule
/// AS-16). A client that has been used stays.
pub const UNUSED_CLIENT_LIFETIME: i64 = 24 * 60 * 60;

/// Live access tokens per grant: a client refreshing in a loop replaces
/// its own tokens instead of filling the table.
pub const ACCESS_TOKENS_PER_GRANT: i64 = 10;

/// Live grants per client and user. Past it, that pair's oldest grant is
/// revoked.
pub const GRANTS_PER_CLIENT_AND_USER: i64 = 20;

/// Live grants per user, over all clients.
pub const GRANTS_PER_USER: i64 = 200;

/// The most Client ID Metadata Documents cached at once (see
/// [`DocumentCache`]).
const DOCUMENT_CAPACITY: usize = 1_000;

/// A grant's id in the database.
pub type GrantId = i64;

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

impl AuthMethod {
    /// The RFC 7591 name, which is also how the database keeps it.
    pub fn name(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::ClientSecretBasic => "client_secret_basic",
            Self::ClientSecretPost => "client_secret_post",
        }
    }

    /// The method a stored name means.
    pub fn from_name(name: &str) -> Result<Self, StoreError> {
        match name {
            "none" => Ok(Self::None),
            "client_secret_basic" => Ok(Self::ClientSecretBasic),
            "client_secret_post" => Ok(Self::ClientSecretPost),
            _ => Err(StoreError::Corrupt("unknown auth_method")),
        }
    }
}

/// A client: registered (RFC 7591), or read from the Client ID Metadata
/// Document at its `client_id` URL.
#[derive(Debug, Clone)]
pub struct Client {
    pub id: String,
    pub secret: Option<Digest>,
    pub auth_method: AuthMethod,
    pub redirect_uris: Vec<String>,
    pub grant_types: Vec<String>,
    pub name: Option<String>,
    /// The source that registered it and when, while nobody has used it
    /// yet: such a client expires after [`UNUSED_CLIENT_LIFETIME`].
    pub unused_since: Option<(String, i64)>,
}

/// The parts of an authorization request that were found valid.
#[derive(Debug, Clone, PartialEq, Eq)]
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
    /// The source the sign-in is charged to (rule AS-16).
    pub source: String,
}

/// An authorization code and everything it is bound to (rule AS-03).
#[derive(Debug, Clone)]
pub struct CodeRecord {
    pub client_id: String,
    pub redirect_uri: String,
    pub request: ValidRequest,
    pub user: String,
    pub expires_at: i64,
}

/// What one approval allows: the tokens issued from one code, and their
/// refreshes, belong to one grant and are revoked together. It is also a
/// refresh-token family (RFC 9700 §4.14.2, rule AS-08).
#[derive(Debug, Clone)]
pub struct Grant {
    pub client_id: String,
    pub user: String,
    pub scope: Vec<String>,
    pub resource: String,
    pub expires_at: i64,
    /// The digest of the family's id, for clients that may refresh.
    pub family: Option<Digest>,
}

/// An access token, known only by its digest.
#[derive(Debug, Clone)]
pub struct AccessRecord {
    pub grant: GrantId,
    pub client_id: String,
    pub user: String,
    pub scope: Vec<String>,
    pub resource: String,
    pub issued_at: i64,
    pub expires_at: i64,
}

/// The tokens one step issues: an access token, and the family's next
/// refresh token when the grant has a family.
#[derive(Debug, Clone)]
pub struct NewTokens {
    pub access: Digest,
    pub scope: Vec<String>,
    pub issued_at: i64,
    pub expires_at: i64,
    pub refresh: Option<Digest>,
}

/// A key that signs access tokens, as stored (see
/// [`super::signing`]): the private key as PKCS#8, the public one as a JWK.
#[derive(Clone)]
pub struct SigningKeyRecord {
    pub kid: String,
    pub private_key: Vec<u8>,
    pub public_jwk: String,
    pub created_at: i64,
    /// When it starts signing; it is published from when it is stored.
    pub signs_from: i64,
}

/// Never prints the private key.
impl std::fmt::Debug for SigningKeyRecord {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("SigningKeyRecord")
            .field("kid", &self.kid)
            .field("signs_from", &self.signs_from)
            .finish_non_exhaustive()
    }
}

// ANCHOR: outcomes
/// What redeeming a code did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Redemption {
    /// This redemption won: the grant and its first tokens are stored.
    Issued(GrantId),
    /// Another redemption won first, here or at another instance; the
    /// grant it made is now revoked (RFC 6749 §4.1.2, rule AS-03).
    AlreadyUsed,
    /// The code expired or was swept meanwhile.
    Gone,
}

/// What presenting a refresh token did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rotation {
    /// It was the family's current token: it is retired, the new tokens
    /// are stored.
    Rotated,
    /// It was not (any more) the current one: a replay, so the whole grant
    /// is revoked (rule AS-08).
    Replayed,
}
// ANCHOR_END: outcomes

/// A store that cannot answer: the database is unreachable, or holds what
/// this server did not write. The web layer turns it into 503 with
/// `Retry-After`, never a 500, and never a half-done step: each step is one
/// transaction.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("the database is unavailable: {0}")]
    Unavailable(String),
    #[error("the database holds a value this server cannot read: {0}")]
    Corrupt(&'static str),
    /// A table at its bound that nobody may be evicted from (rule AS-16).
    #[error("the {0} table is full")]
    Full(&'static str),
}

impl From<StoreError> for OAuthError {
    fn from(error: StoreError) -> Self {
        tracing::error!(%error, "store step failed");
        OAuthError::TemporarilyUnavailable
    }
}

/// The same, to the person at the browser: the busy page, 503 with
/// `Retry-After`.
impl From<StoreError> for PageError {
    fn from(error: StoreError) -> Self {
        tracing::error!(%error, "store step failed");
        PageError::Busy
    }
}

#[cfg(any(feature = "sqlite", feature = "postgres"))]
impl From<sqlx::Error> for StoreError {
    fn from(error: sqlx::Error) -> Self {
        Self::Unavailable(error.to_string())
    }
}

// ANCHOR: store_trait
/// Everything the authorization server remembers, one atomic step per
/// method. `now` is passed in (seconds since the Unix epoch) so that every
/// instance and every test decides expiry the same way.
#[async_trait]
pub trait Store: Send + Sync + std::fmt::Debug {
    /// One round trip to the database, for `/readyz` (rule P6-07).
    async fn ping(&self) -> Result<(), StoreError>;

    /// The pool's connections: (open, idle), for `/metrics`.
    fn connections(&self) -> (u32, u32);

    /// Stores a newly registered client, within its source's share of the
    /// clients nobody has used yet (rule AS-16).
    async fn insert_client(&self, client: &Client) -> Result<(), StoreError>;

    /// The registered client with this id.
    async fn client(&self, id: &str) -> Result<Option<Client>, StoreError>;

    /// Stores a sign-in in progress within its source's share (rule
    /// AS-16): a source over [`PENDING_PER_SOURCE`] loses its own oldest,
    /// and a full table the oldest of the source that holds the most.
    async fn insert_pending(
        &self,
        id: &str,
        pending: &PendingAuthorization,
    ) -> Result<(), StoreError>;

    /// The live sign-in in progress with this id.
    async fn pending(&self, id: &str, now: i64)
    -> Result<Option<PendingAuthorization>, StoreError>;

    /// Takes the live sign-in out (`DELETE … RETURNING`): of two answers to
    /// one form, at one instance or two, exactly one gets it.
    async fn take_pending(
        &self,
        id: &str,
        now: i64,
    ) -> Result<Option<PendingAuthorization>, StoreError>;

    /// Stores a code, and marks its client as used: a person approved it,
    /// so it no longer expires unused.
    async fn insert_code(&self, code: &Digest, record: &CodeRecord) -> Result<(), StoreError>;

    /// The live code with this digest, for the checks that come before
    /// [`Store::redeem_code`]; a code already redeemed is still returned.
    async fn code(&self, code: &Digest, now: i64) -> Result<Option<CodeRecord>, StoreError>;

    /// Redeems a code atomically: the grant and its first tokens are stored
    /// only if this is the code's first redemption; otherwise the grant of
    /// the first one is revoked (rule AS-03).
    async fn redeem_code(
        &self,
        code: &Digest,
        grant: &Grant,
        tokens: &NewTokens,
        now: i64,
    ) -> Result<Redemption, StoreError>;

    /// The live grant of a refresh-token family, and whether `presented` is
    /// its current refresh token.
    async fn refresh_family(
        &self,
        family: &Digest,
        presented: &Digest,
        now: i64,
    ) -> Result<Option<(GrantId, Grant, bool)>, StoreError>;

    /// Rotates a grant's refresh token atomically: only if `presented` is
    /// still the current one are the new tokens stored; if it is not, the
    /// grant is revoked (rule AS-08).
    async fn rotate_refresh(
        &self,
        grant: GrantId,
        presented: &Digest,
        tokens: &NewTokens,
    ) -> Result<Rotation, StoreError>;

    /// The live access token with this digest.
    async fn access_token(
        &self,
        token: &Digest,
        now: i64,
    ) -> Result<Option<AccessRecord>, StoreError>;

    /// Revokes one access token, if `client_id` holds it (RFC 7009 §2.1).
    async fn revoke_access_token(&self, token: &Digest, client_id: &str) -> Result<(), StoreError>;

    /// Revokes a grant and every token issued under it.
    async fn revoke_grant(&self, grant: GrantId) -> Result<(), StoreError>;

    /// Counts a sign-in attempt in the throttle window `key` (rule AS-11):
    /// `false`, counting nothing, when the window already holds `limit`.
    async fn throttle_begin(
        &self,
        keys: &[(String, i64)],
        window: i64,
        now: i64,
    ) -> Result<bool, StoreError>;

    /// Forgets the failures counted under `reset`, and gives one back to
    /// `give_back`: the attempt succeeded.
    async fn throttle_succeeded(&self, reset: &str, give_back: &str) -> Result<(), StoreError>;

    /// Every stored signing key, oldest first.
    async fn signing_keys(&self) -> Result<Vec<SigningKeyRecord>, StoreError>;

    /// Stores a new signing key.
    async fn insert_signing_key(&self, key: &SigningKeyRecord) -> Result<(), StoreError>;

    /// Deletes a retired signing key.
    async fn delete_signing_key(&self, kid: &str) -> Result<(), StoreError>;

    /// Deletes everything that expired at `now` (each with an index on its
    /// expiry), and the registered clients nobody used in a day.
    async fn sweep(&self, now: i64) -> Result<(), StoreError>;
}
// ANCHOR_END: store_trait

// ANCHOR: open
/// Opens the store a `database_url` names, creating an SQLite file if it
/// does not exist, and brings its schema up to date (migrations embedded in
/// the binary). A schema newer than this server knows is refused: running
/// old code on a newer schema could lose what the newer code wrote.
pub async fn open(database_url: &str) -> Result<std::sync::Arc<dyn Store>, OpenError> {
    let scheme = database_url.split(':').next().unwrap_or_default();
    match scheme {
        #[cfg(feature = "sqlite")]
        "sqlite" => Ok(std::sync::Arc::new(
            sqlite::SqliteStore::open(database_url).await?,
        )),
        #[cfg(feature = "postgres")]
        "postgres" | "postgresql" => Ok(std::sync::Arc::new(
            postgres::PostgresStore::open(database_url).await?,
        )),
        _ => Err(OpenError::Scheme(scheme.to_owned())),
    }
}

/// Why [`open`] failed; each names what to do.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error(
        "AS_DATABASE_URL has the scheme \"{0}\", which this server does not speak\nuse sqlite://FILE (the default) or postgres://USER@HOST:PORT/DATABASE"
    )]
    Scheme(String),
    #[error(
        "cannot open the database: {0}\ncheck that it runs and that AS_DATABASE_URL names it; the server retries nothing at start"
    )]
    Connect(String),
    #[error(
        "the database's schema is version {found}, newer than this server knows ({known})\nrun the newer authorization server, or point AS_DATABASE_URL at another database"
    )]
    NewerSchema { found: i64, known: i64 },
    #[error("cannot bring the database's schema up to date: {0}")]
    Migrate(String),
}
// ANCHOR_END: open

#[cfg(any(feature = "sqlite", feature = "postgres"))]
impl OpenError {
    /// A connection failure, said plainly: without the `(os error N)`
    /// that only repeats the words before it.
    fn connect(error: sqlx::Error) -> Self {
        let text = error.to_string();
        let plain = text.split(" (os error ").next().unwrap_or(&text);
        Self::Connect(plain.to_owned())
    }

    /// Sorts a migration failure: a version this binary does not have
    /// means the schema is newer.
    fn from_migrate(error: sqlx::migrate::MigrateError, known: i64) -> Self {
        match error {
            sqlx::migrate::MigrateError::VersionMissing(found) => {
                Self::NewerSchema { found, known }
            }
            other => Self::Migrate(other.to_string()),
        }
    }
}

/// Space-separated scope list, as stored.
fn join(items: &[String]) -> String {
    items.join(" ")
}

/// The scope list a stored string means.
fn split(items: &str) -> Vec<String> {
    items
        .split(' ')
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// A JSON array of strings, as stored for redirect URIs and grant types.
fn json_list(items: &[String]) -> String {
    serde_json::to_string(items).unwrap_or_else(|_| "[]".into())
}

fn from_json_list(text: &str) -> Result<Vec<String>, StoreError> {
    serde_json::from_str(text).map_err(|_| StoreError::Corrupt("a list is not a JSON array"))
}

/// The digest stored in a column.
fn digest(bytes: &[u8]) -> Result<Digest, StoreError> {
    Digest::from_bytes(bytes).ok_or(StoreError::Corrupt("a digest is not 32 bytes"))
}

/// The request of a pending sign-in, from its columns: a stored error
/// code, or the three parts of a valid request.
fn pending_request(
    error: Option<String>,
    code_challenge: Option<String>,
    resource: Option<String>,
    scope: Option<String>,
) -> Result<Result<ValidRequest, OAuthError>, StoreError> {
    match (error, code_challenge, resource, scope) {
        (Some(error), _, _, _) => Ok(Err(OAuthError::from_code(&error))),
        (None, Some(code_challenge), Some(resource), Some(scope)) => Ok(Ok(ValidRequest {
            code_challenge,
            resource,
            scope: split(&scope),
        })),
        _ => Err(StoreError::Corrupt("a pending request is incomplete")),
    }
}

/// The columns of a pending request: (error, challenge, resource, scope).
type RequestColumns = (
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
);

fn request_columns(request: &Result<ValidRequest, OAuthError>) -> RequestColumns {
    match request {
        Ok(valid) => (
            None,
            Some(valid.code_challenge.clone()),
            Some(valid.resource.clone()),
            Some(join(&valid.scope)),
        ),
        Err(error) => (Some(error.code().to_owned()), None, None, None),
    }
}

/// Clients read from metadata documents, kept in this process's memory
/// until their `expires_at`: a cache of documents anyone can fetch, not
/// state, so each instance keeps its own. When full, the entry closest to
/// expiry makes room, so a flood of documents can slow clients down (they
/// are fetched again) but never grow memory.
#[derive(Debug, Default)]
pub struct DocumentCache {
    entries: Mutex<HashMap<String, (Client, i64)>>,
}

impl DocumentCache {
    /// The cached client with this `client_id` URL, while fresh.
    pub fn get(&self, client_id: &str, now: i64) -> Option<Client> {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let (client, expires_at) = entries.get(client_id)?;
        (*expires_at > now).then(|| client.clone())
    }

    /// Caches `client` until `expires_at`.
    pub fn put(&self, client: Client, expires_at: i64) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= DOCUMENT_CAPACITY && !entries.contains_key(&client.id) {
            let soonest = (entries.iter())
                .min_by_key(|(_, (_, expires_at))| *expires_at)
                .map(|(id, _)| id.clone());
            if let Some(soonest) = soonest {
                entries.remove(&soonest);
            }
        }
        entries.insert(client.id.clone(), (client, expires_at));
    }

    /// Drops the entries that expired at `now`.
    pub fn sweep(&self, now: i64) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries.retain(|_, (_, expires_at)| *expires_at > now);
    }
}

/// The bounds of rule AS-16 and the single-use steps of rules AS-03 and
/// AS-08, held by the SQL of each store. They run on SQLite here, and on
/// PostgreSQL too when `PART6_POSTGRES_URL` names a server (`cargo xtask
/// test` starts one).
#[cfg(all(test, feature = "sqlite", feature = "postgres"))]
#[allow(clippy::expect_used)] // A failed `expect` is how a test reports an unexpected state.
mod tests {
    use std::sync::Arc;

    use super::*;

    /// The stores under test: SQLite in memory, and a fresh PostgreSQL
    /// database when one is available.
    async fn stores() -> Vec<Arc<dyn Store>> {
        let mut stores = vec![open("sqlite::memory:").await.expect("SQLite")];
        if let Some(url) = postgres_database().await {
            stores.push(open(&url).await.expect("PostgreSQL"));
        }
        stores
    }

    /// The URL of a fresh PostgreSQL database, when a server is available.
    async fn postgres_database() -> Option<String> {
        let Ok(admin) = std::env::var("PART6_POSTGRES_URL") else {
            assert!(
                std::env::var_os("CI").is_none(),
                "CI runs these on PostgreSQL too"
            );
            return None;
        };
        use sqlx::Connection as _;
        let name = format!("part6_unit_{}", uuid::Uuid::new_v4().simple());
        let mut connection = (sqlx::PgConnection::connect(&admin).await).expect("connect");
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut connection)
            .await
            .expect("create database");
        let mut url = url::Url::parse(&admin).expect("a URL");
        url.set_path(&name);
        Some(url.into())
    }

    /// The counts the triggers keep (migration 0003) against the tables
    /// they count, read through a connection of the test's own.
    async fn kept_counts_are_true(url: &str) {
        macro_rules! read {
            ($pool:expr) => {{
                let pool = $pool.expect("connect");
                let mut kept = Vec::new();
                for table in ["pending", "clients", "throttle"] {
                    let query = format!(
                        "SELECT (SELECT n FROM row_counts WHERE name = '{table}'), count(*) FROM {table}"
                    );
                    let counts: (i64, i64) = sqlx::query_as(sqlx::AssertSqlSafe(query))
                        .fetch_one(&pool)
                        .await
                        .expect("counts");
                    kept.push((table.to_owned(), counts.0, counts.1));
                }
                let holders: Vec<(String, i64)> =
                    sqlx::query_as("SELECT source, held FROM pending_sources ORDER BY source")
                        .fetch_all(&pool)
                        .await
                        .expect("kept holders");
                let counted: Vec<(String, i64)> = sqlx::query_as(
                    "SELECT source, count(*) FROM pending GROUP BY source ORDER BY source",
                )
                .fetch_all(&pool)
                .await
                .expect("holders");
                pool.close().await;
                (kept, holders, counted)
            }};
        }
        let (kept, holders, counted) = if url.starts_with("sqlite:") {
            read!(sqlx::SqlitePool::connect(url).await)
        } else {
            read!(sqlx::PgPool::connect(url).await)
        };
        for (table, kept, counted) in kept {
            assert_eq!(kept, counted, "{table} in {url}");
        }
        assert_eq!(holders, counted, "pending sources in {url}");
    }

    /// Fresh databases for the tests that also look into the tables with
    /// a connection of their own: a SQLite file in `dir` (an in-memory
    /// database is private to its one connection) and, when a server is
    /// available, a PostgreSQL database.
    async fn databases(dir: &std::path::Path) -> Vec<String> {
        let sqlite = format!("sqlite:{}", dir.join("store.db").display());
        [Some(sqlite), postgres_database().await]
            .into_iter()
            .flatten()
            .collect()
    }

    /// A flood of `n` sign-ins (`flood1`, `flood2`, …) from 200 sources
    /// (`10.1.0.{n % 200}`), written in one statement. Through
    /// `insert_pending` a flood to the table's capacity is 10,000
    /// transactions one after another, most of a minute on a busy 2-core
    /// machine; the triggers count these rows as they count any, which
    /// `as16_the_kept_counts_stay_true_in_sql` proves.
    async fn flood_pending(url: &str, n: i64) {
        let (csrf, session) = (
            Digest::of("csrf").as_bytes().to_vec(),
            Digest::of("session").as_bytes().to_vec(),
        );
        let error = OAuthError::AccessDenied.code();
        macro_rules! flood {
            ($pool:expr, $sql:expr) => {{
                let pool = $pool.expect("connect");
                sqlx::query($sql)
                    .bind(n)
                    .bind(error)
                    .bind(csrf)
                    .bind(session)
                    .execute(&pool)
                    .await
                    .expect("flood");
                pool.close().await;
            }};
        }
        if url.starts_with("sqlite:") {
            flood!(
                sqlx::SqlitePool::connect(url).await,
                "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?) \
                 INSERT INTO pending (id, client_id, redirect_uri, state, error, csrf, session, expires_at, source) \
                 SELECT 'flood' || i, 'client', 'http://127.0.0.1/cb', 'xyz', ?, ?, ?, 600, '10.1.0.' || (i % 200) FROM n"
            );
        } else {
            flood!(
                sqlx::PgPool::connect(url).await,
                "INSERT INTO pending (id, client_id, redirect_uri, state, error, csrf, session, expires_at, source) \
                 SELECT 'flood' || i, 'client', 'http://127.0.0.1/cb', 'xyz', $2, $3, $4, 600, '10.1.0.' || (i % 200) \
                 FROM generate_series(1, $1) AS i ORDER BY i"
            );
        }
    }

    fn pending(source: &str) -> PendingAuthorization {
        PendingAuthorization {
            client_id: "client".into(),
            client_name: None,
            redirect_uri: "http://127.0.0.1/cb".into(),
            state: Some("xyz".into()),
            request: Err(OAuthError::AccessDenied),
            csrf: Digest::of("csrf"),
            session: Digest::of("session"),
            expires_at: 600,
            source: source.into(),
        }
    }

    fn client(id: &str, source: &str, at: i64) -> Client {
        Client {
            id: id.into(),
            secret: None,
            auth_method: AuthMethod::None,
            redirect_uris: vec!["http://127.0.0.1/cb".into()],
            grant_types: vec!["authorization_code".into(), "refresh_token".into()],
            name: Some("App".into()),
            unused_since: Some((source.into(), at)),
        }
    }

    fn tokens(access: &str, refresh: Option<&str>) -> NewTokens {
        NewTokens {
            access: Digest::of(access),
            scope: vec!["mcp:tools".into()],
            issued_at: 0,
            expires_at: 3_600,
            refresh: refresh.map(Digest::of),
        }
    }

    /// Stores a code for `user` at `client_id` and redeems it; the grant.
    async fn grant(store: &dyn Store, code: &str, user: &str, client_id: &str) -> Redemption {
        let request = ValidRequest {
            code_challenge: "challenge".into(),
            resource: "http://localhost:8000/mcp".into(),
            scope: vec!["mcp:tools".into()],
        };
        let record = CodeRecord {
            client_id: client_id.into(),
            redirect_uri: "http://127.0.0.1/cb".into(),
            request: request.clone(),
            user: user.into(),
            expires_at: 120,
        };
        store
            .insert_code(&Digest::of(code), &record)
            .await
            .expect("code");
        redeem(store, code, user, client_id, &format!("family-{code}")).await
    }

    /// Redeems the stored `code` for `user` at `client_id`, with a new
    /// refresh-token family `family` (each redemption makes its own).
    async fn redeem(
        store: &dyn Store,
        code: &str,
        user: &str,
        client_id: &str,
        family: &str,
    ) -> Redemption {
        let request = ValidRequest {
            code_challenge: "challenge".into(),
            resource: "http://localhost:8000/mcp".into(),
            scope: vec!["mcp:tools".into()],
        };
        let grant = Grant {
            client_id: client_id.into(),
            user: user.into(),
            scope: request.scope,
            resource: request.resource,
            expires_at: 10_000,
            family: Some(Digest::of(family)),
        };
        let issued = tokens(&format!("access-{code}"), Some(&format!("{family}.1")));
        (store.redeem_code(&Digest::of(code), &grant, &issued, 0))
            .await
            .expect("redeem")
    }

    async fn live(store: &dyn Store, access: &str) -> bool {
        (store
            .access_token(&Digest::of(access), 0)
            .await
            .expect("read"))
        .is_some()
    }

    /// A script over its share of sign-ins loses its own oldest; the
    /// person's sign-in stays; a sign-in is taken once.
    #[tokio::test]
    async fn as16_a_source_over_its_share_loses_its_own_oldest_sign_in_in_sql() {
        for store in stores().await {
            store
                .insert_pending("person", &pending("10.0.0.1"))
                .await
                .expect("insert");
            for n in 0..(PENDING_PER_SOURCE + 10) {
                let id = format!("flood{n}");
                store
                    .insert_pending(&id, &pending("10.0.0.2"))
                    .await
                    .expect("insert");
            }
            assert!(store.pending("person", 0).await.expect("read").is_some());
            assert!(store.pending("flood9", 0).await.expect("read").is_none());
            assert!(store.pending("flood10", 0).await.expect("read").is_some());
            let taken = store.take_pending("person", 0).await.expect("take");
            assert_eq!(taken.expect("taken").state.as_deref(), Some("xyz"));
            assert!(
                store
                    .take_pending("person", 0)
                    .await
                    .expect("take")
                    .is_none()
            );
            assert!(
                store.pending("flood10", 600).await.expect("read").is_none(),
                "expired"
            );
        }
    }

    /// A full table takes from the source that holds the most; a source
    /// with one sign-in keeps it, and a newcomer always gets in.
    #[tokio::test]
    async fn as16_a_full_pending_table_evicts_the_largest_holder_in_sql() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        for url in databases(dir.path()).await {
            let store = open(&url).await.expect("open");
            store
                .insert_pending("person", &pending("10.0.0.1"))
                .await
                .expect("insert");
            flood_pending(&url, PENDING_CAPACITY - 1).await;
            kept_counts_are_true(&url).await;
            store
                .insert_pending("newcomer", &pending("10.9.9.9"))
                .await
                .expect("insert");
            assert!(store.pending("person", 0).await.expect("read").is_some());
            assert!(store.pending("newcomer", 0).await.expect("read").is_some());
            // 9,999 floods over 200 sources: .0 holds 49, .1 to .199 hold
            // 50 each; the oldest sign-in (flood1 … flood199) of exactly
            // one of the largest made room, and .0's oldest stayed.
            let mut gone = 0;
            for n in 1..200 {
                let id = format!("flood{n}");
                gone += usize::from(store.pending(&id, 0).await.expect("read").is_none());
            }
            assert_eq!(gone, 1);
            assert!(store.pending("flood200", 0).await.expect("read").is_some());
            kept_counts_are_true(&url).await;
        }
    }

    /// The counts that the bounds read are kept by triggers; whatever
    /// path adds or removes a row (an insert, an eviction, a sign-in
    /// taken, a throttle reset, a sweep), they stay the tables' own.
    #[tokio::test]
    async fn as16_the_kept_counts_stay_true_in_sql() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        for url in databases(dir.path()).await {
            let store = open(&url).await.expect("open");
            kept_counts_are_true(&url).await;
            for n in 0..(PENDING_PER_SOURCE + 3) {
                let id = format!("flood{n}");
                store
                    .insert_pending(&id, &pending("10.0.0.2"))
                    .await
                    .expect("insert");
            }
            let mut early = pending("10.0.0.1");
            early.expires_at = 100;
            store.insert_pending("early", &early).await.expect("insert");
            store
                .insert_pending("person", &pending("10.0.0.3"))
                .await
                .expect("insert");
            kept_counts_are_true(&url).await;
            assert!(
                store
                    .take_pending("person", 0)
                    .await
                    .expect("take")
                    .is_some()
            );
            for n in 0..(UNUSED_CLIENTS_PER_SOURCE + 2) {
                let id = format!("app{n}");
                store
                    .insert_client(&client(&id, "10.0.0.2", n))
                    .await
                    .expect("insert");
            }
            let keys = [("user:a".to_owned(), 5), ("source:10.0.0.2".to_owned(), 5)];
            for _ in 0..3 {
                assert!(store.throttle_begin(&keys, 900, 0).await.expect("throttle"));
            }
            store
                .throttle_succeeded("user:a", "source:10.0.0.2")
                .await
                .expect("reset");
            kept_counts_are_true(&url).await;
            // The early sign-in and the throttle window end; the clients
            // stay unused a day.
            store.sweep(1_000).await.expect("sweep");
            kept_counts_are_true(&url).await;
            store
                .sweep(UNUSED_CLIENT_LIFETIME + 1_000)
                .await
                .expect("sweep");
            kept_counts_are_true(&url).await;
        }
    }

    /// Unused registrations: a source over its share loses its oldest,
    /// they expire after a day unless used, and a used client never does.
    #[tokio::test]
    async fn as16_unused_clients_are_bounded_per_source_and_expire_in_sql() {
        for store in stores().await {
            store
                .insert_client(&client("person", "10.0.0.1", 0))
                .await
                .expect("insert");
            for n in 0..(UNUSED_CLIENTS_PER_SOURCE + 5) {
                let id = format!("flood{n}");
                store
                    .insert_client(&client(&id, "10.0.0.2", n))
                    .await
                    .expect("insert");
            }
            assert!(store.client("person").await.expect("read").is_some());
            assert!(store.client("flood4").await.expect("read").is_none());
            assert!(store.client("flood5").await.expect("read").is_some());
            store
                .insert_client(&client("used", "10.0.0.1", 0))
                .await
                .expect("insert");
            assert!(matches!(
                grant(&*store, "code", "user", "used").await,
                Redemption::Issued(_)
            ));
            store
                .sweep(UNUSED_CLIENT_LIFETIME + 200)
                .await
                .expect("sweep");
            assert!(store.client("person").await.expect("read").is_none());
            let used = store.client("used").await.expect("read").expect("kept");
            assert_eq!(used.unused_since, None);
            assert_eq!(used.redirect_uris, ["http://127.0.0.1/cb"]);
        }
    }

    /// A code redeems once; the second redemption revokes the first one's
    /// tokens (rule AS-03).
    #[tokio::test]
    async fn as03_a_second_redemption_revokes_the_first_in_sql() {
        for store in stores().await {
            assert!(matches!(
                grant(&*store, "c1", "u", "app").await,
                Redemption::Issued(_)
            ));
            assert!(live(&*store, "access-c1").await);
            let again = redeem(&*store, "c1", "u", "app", "another-family").await;
            assert_eq!(again, Redemption::AlreadyUsed);
            assert!(!live(&*store, "access-c1").await);
        }
    }

    /// Rotation retires the presented token; a retired one revokes the
    /// grant (rule AS-08); a grant keeps at most its newest access tokens
    /// (rule AS-16).
    #[tokio::test]
    async fn as08_a_retired_refresh_token_revokes_its_grant_in_sql() {
        for store in stores().await {
            let Redemption::Issued(id) = grant(&*store, "c1", "u", "app").await else {
                panic!("issued");
            };
            let family = Digest::of("family-c1");
            let mut current = "family-c1.1".to_owned();
            for n in 2..(ACCESS_TOKENS_PER_GRANT + 5) {
                let next = format!("family-c1.{n}");
                let found = store
                    .refresh_family(&family, &Digest::of(&current), 0)
                    .await;
                let (found_id, _, is_current) = found.expect("read").expect("live");
                assert_eq!((found_id, is_current), (id, true));
                let issued = tokens(&format!("access{n}"), Some(&next));
                let rotation = store
                    .rotate_refresh(id, &Digest::of(&current), &issued)
                    .await;
                assert_eq!(rotation.expect("rotate"), Rotation::Rotated);
                current = next;
            }
            assert!(!live(&*store, "access-c1").await, "the oldest went");
            assert!(!live(&*store, "access4").await);
            assert!(live(&*store, "access5").await);
            let old = store
                .refresh_family(&family, &Digest::of("family-c1.1"), 0)
                .await;
            assert!(!old.expect("read").expect("live").2, "a retired token");
            let (retired, next) = (Digest::of("family-c1.1"), tokens("x", None));
            let replay = store.rotate_refresh(id, &retired, &next).await;
            assert_eq!(replay.expect("rotate"), Rotation::Replayed);
            assert!(
                store
                    .refresh_family(&family, &Digest::of(&current), 0)
                    .await
                    .expect("read")
                    .is_none()
            );
            assert!(!live(&*store, "access5").await, "the grant's tokens went");
        }
    }

    /// Grants per client and user are bounded; the oldest of the same
    /// holder goes, nobody else's (rule AS-16).
    #[tokio::test]
    async fn as16_grants_are_bounded_per_client_and_user_in_sql() {
        for store in stores().await {
            assert!(matches!(
                grant(&*store, "other", "someone", "app").await,
                Redemption::Issued(_)
            ));
            for n in 0..=GRANTS_PER_CLIENT_AND_USER {
                let code = format!("c{n}");
                assert!(matches!(
                    grant(&*store, &code, "u", "app").await,
                    Redemption::Issued(_)
                ));
            }
            assert!(
                !live(&*store, "access-c0").await,
                "the oldest grant of u at app went"
            );
            assert!(live(&*store, "access-c1").await);
            assert!(live(&*store, "access-other").await, "nobody else's");
        }
    }
}
