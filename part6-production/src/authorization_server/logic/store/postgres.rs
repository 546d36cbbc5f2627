//! The [`Store`] on PostgreSQL: one database that several instances of
//! the authorization server share.
//!
//! Each step is a transaction at PostgreSQL's default isolation (read
//! committed). What must happen once happens in one conditional `UPDATE`:
//! the row lock makes a second instance wait for the first to commit, then
//! re-check the condition, which no longer holds, so exactly one wins
//! (see [`Store::redeem_code`] and [`Store::rotate_refresh`]).

use std::{str::FromStr, time::Duration};

use async_trait::async_trait;
use sqlx::{
    PgPool,
    postgres::{PgConnectOptions, PgPoolOptions},
};

use super::{
    ACCESS_TOKENS_PER_GRANT, AccessRecord, AuthMethod, CLIENT_CAPACITY, Client, CodeRecord,
    GRANTS_PER_CLIENT_AND_USER, GRANTS_PER_USER, Grant, GrantId, NewTokens, OpenError,
    PENDING_CAPACITY, PENDING_PER_SOURCE, PendingAuthorization, Redemption, Rotation,
    SigningKeyRecord, Store, StoreError, UNUSED_CLIENT_LIFETIME, UNUSED_CLIENTS_PER_SOURCE,
    ValidRequest, digest, from_json_list, join, json_list, pending_request, request_columns, split,
};
use crate::authorization_server::logic::secret::Digest;

/// The schema, embedded in the binary and applied at start. Several
/// instances starting at once are safe: sqlx takes an advisory lock while
/// it migrates.
static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// How long a request waits for a connection before the store reports the
/// database unavailable (503), rather than hanging.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);

/// The most rows the throttle keeps (rule AS-11, AS-16); see the SQLite
/// store.
const THROTTLE_CAPACITY: i64 = 30_000;

/// The PostgreSQL store.
#[derive(Clone)]
pub struct PostgresStore {
    pool: PgPool,
}

/// Never prints the pool: its options hold the database URL, and a
/// PostgreSQL URL may hold a password (the rule of RS-09 for secrets in
/// logs).
impl std::fmt::Debug for PostgresStore {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("PostgresStore")
            .finish_non_exhaustive()
    }
}

impl PostgresStore {
    /// Connects to the database at `url` and migrates it.
    pub async fn open(url: &str) -> Result<Self, OpenError> {
        let options = PgConnectOptions::from_str(url).map_err(OpenError::connect)?;
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(options)
            .await
            .map_err(OpenError::connect)?;
        let known = MIGRATOR.iter().map(|m| m.version).max().unwrap_or(0);
        MIGRATOR
            .run(&pool)
            .await
            .map_err(|error| OpenError::from_migrate(error, known))?;
        Ok(Self { pool })
    }
}

/// The keys of the transaction-level advisory locks that serialize the
/// steps which count rows and then write (rule AS-16's shares, rule
/// AS-11's windows). Read committed lets two instances count the same rows
/// at once and both write, overshooting a share; with the lock, the second
/// counts after the first has committed, exactly as SQLite's
/// `BEGIN IMMEDIATE` does. The lock ends with the transaction.
const CLIENTS_LOCK: i64 = 0x7061_7274_3601;
const PENDING_LOCK: i64 = 0x7061_7274_3602;
const THROTTLE_LOCK: i64 = 0x7061_7274_3603;

/// Waits for the advisory lock `key` inside `tx`.
async fn serialize(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    key: i64,
) -> Result<(), StoreError> {
    sqlx::query_scalar!(
        r#"SELECT 1 AS "locked!" FROM pg_advisory_xact_lock($1)"#,
        key
    )
    .fetch_one(&mut **tx)
    .await?;
    Ok(())
}

#[async_trait]
impl Store for PostgresStore {
    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    fn connections(&self) -> (u32, u32) {
        let idle = u32::try_from(self.pool.num_idle()).unwrap_or(u32::MAX);
        (self.pool.size(), idle)
    }

    async fn insert_client(&self, client: &Client) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        serialize(&mut tx, CLIENTS_LOCK).await?;
        let (source, since) = match &client.unused_since {
            Some((source, since)) => (Some(source.as_str()), Some(*since)),
            None => (None, None),
        };
        let mut total =
            sqlx::query_scalar!(r#"SELECT n AS "n!: i64" FROM row_counts WHERE name = 'clients'"#)
                .fetch_one(&mut *tx)
                .await?;
        if let Some(source) = source {
            let held = sqlx::query_scalar!(
                r#"SELECT count(*) AS "n!: i64" FROM clients WHERE unused_source = $1"#,
                source
            )
            .fetch_one(&mut *tx)
            .await?;
            if held >= UNUSED_CLIENTS_PER_SOURCE {
                let removed = sqlx::query!(
                    "DELETE FROM clients WHERE id = (SELECT id FROM clients WHERE unused_source = $1 ORDER BY unused_since, id LIMIT 1)",
                    source
                )
                .execute(&mut *tx)
                .await?;
                total -= i64::try_from(removed.rows_affected()).unwrap_or(0);
            } else if total >= CLIENT_CAPACITY {
                let removed = sqlx::query!(
                    "DELETE FROM clients WHERE id = (SELECT id FROM clients WHERE unused_source = (SELECT unused_source FROM clients WHERE unused_source IS NOT NULL GROUP BY unused_source ORDER BY count(*) DESC LIMIT 1) ORDER BY unused_since, id LIMIT 1)"
                )
                .execute(&mut *tx)
                .await?;
                total -= i64::try_from(removed.rows_affected()).unwrap_or(0);
            }
        }
        if total >= CLIENT_CAPACITY {
            return Err(StoreError::Full("clients"));
        }
        let secret = client.secret.as_ref().map(|d| d.as_bytes().to_vec());
        let (redirect_uris, grant_types) = (
            json_list(&client.redirect_uris),
            json_list(&client.grant_types),
        );
        let method = client.auth_method.name();
        sqlx::query!(
            "INSERT INTO clients (id, secret, auth_method, redirect_uris, grant_types, name, unused_source, unused_since) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            client.id,
            secret,
            method,
            redirect_uris,
            grant_types,
            client.name,
            source,
            since
        )
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn client(&self, id: &str) -> Result<Option<Client>, StoreError> {
        let row = sqlx::query!(
            r#"SELECT id AS "id!", secret, auth_method, redirect_uris, grant_types, name, unused_source, unused_since FROM clients WHERE id = $1"#,
            id
        )
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        Ok(Some(Client {
            id: row.id,
            secret: row.secret.as_deref().map(digest).transpose()?,
            auth_method: AuthMethod::from_name(&row.auth_method)?,
            redirect_uris: from_json_list(&row.redirect_uris)?,
            grant_types: from_json_list(&row.grant_types)?,
            name: row.name,
            unused_since: row.unused_source.zip(row.unused_since),
        }))
    }

    // ANCHOR: insert_pending
    async fn insert_pending(
        &self,
        id: &str,
        pending: &PendingAuthorization,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        serialize(&mut tx, PENDING_LOCK).await?;
        let source = pending.source.as_str();
        // Two rows the triggers keep (migration 0003), not two counts.
        let counts = sqlx::query!(
            r#"SELECT (SELECT held FROM pending_sources WHERE source = $1) AS "held: i64", (SELECT n FROM row_counts WHERE name = 'pending') AS "total!: i64""#,
            source
        )
        .fetch_one(&mut *tx)
        .await?;
        let (held, total) = (counts.held.unwrap_or(0), counts.total);
        if held >= PENDING_PER_SOURCE {
            // The source over its share loses its own oldest.
            sqlx::query!(
                "DELETE FROM pending WHERE seq = (SELECT min(seq) FROM pending WHERE source = $1)",
                source
            )
            .execute(&mut *tx)
            .await?;
        } else if total >= PENDING_CAPACITY {
            // A full table: the source that holds the most loses its oldest.
            sqlx::query!(
                "DELETE FROM pending WHERE seq = (SELECT min(seq) FROM pending WHERE source = (SELECT source FROM pending_sources ORDER BY held DESC LIMIT 1))"
            )
            .execute(&mut *tx)
            .await?;
        }
        let (error, challenge, resource, scope) = request_columns(&pending.request);
        let (csrf, session) = (
            pending.csrf.as_bytes().to_vec(),
            pending.session.as_bytes().to_vec(),
        );
        sqlx::query!(
            "INSERT INTO pending (id, client_id, client_name, redirect_uri, state, code_challenge, resource, scope, error, csrf, session, expires_at, source) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
            id,
            pending.client_id,
            pending.client_name,
            pending.redirect_uri,
            pending.state,
            challenge,
            resource,
            scope,
            error,
            csrf,
            session,
            pending.expires_at,
            source
        )
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }
    // ANCHOR_END: insert_pending

    async fn pending(
        &self,
        id: &str,
        now: i64,
    ) -> Result<Option<PendingAuthorization>, StoreError> {
        let row = sqlx::query!(
            "SELECT client_id, client_name, redirect_uri, state, code_challenge, resource, scope, error, csrf, session, expires_at, source FROM pending WHERE id = $1 AND expires_at > $2",
            id,
            now
        )
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        Ok(Some(PendingAuthorization {
            request: pending_request(row.error, row.code_challenge, row.resource, row.scope)?,
            client_id: row.client_id,
            client_name: row.client_name,
            redirect_uri: row.redirect_uri,
            state: row.state,
            csrf: digest(&row.csrf)?,
            session: digest(&row.session)?,
            expires_at: row.expires_at,
            source: row.source,
        }))
    }

    async fn take_pending(
        &self,
        id: &str,
        now: i64,
    ) -> Result<Option<PendingAuthorization>, StoreError> {
        let row = sqlx::query!(
            r#"DELETE FROM pending WHERE id = $1 AND expires_at > $2 RETURNING client_id AS "client_id!", client_name, redirect_uri AS "redirect_uri!", state, code_challenge, resource, scope, error, csrf AS "csrf!", session AS "session!", expires_at AS "expires_at!", source AS "source!""#,
            id,
            now
        )
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        Ok(Some(PendingAuthorization {
            request: pending_request(row.error, row.code_challenge, row.resource, row.scope)?,
            client_id: row.client_id,
            client_name: row.client_name,
            redirect_uri: row.redirect_uri,
            state: row.state,
            csrf: digest(&row.csrf)?,
            session: digest(&row.session)?,
            expires_at: row.expires_at,
            source: row.source,
        }))
    }

    async fn insert_code(&self, code: &Digest, record: &CodeRecord) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        let code = code.as_bytes().to_vec();
        let scope = join(&record.request.scope);
        sqlx::query!(
            "INSERT INTO codes (digest, client_id, redirect_uri, code_challenge, resource, scope, user_name, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            code,
            record.client_id,
            record.redirect_uri,
            record.request.code_challenge,
            record.request.resource,
            scope,
            record.user,
            record.expires_at
        )
        .execute(&mut *tx)
        .await?;
        // A person approved this client: it no longer expires unused.
        sqlx::query!(
            "UPDATE clients SET unused_source = NULL, unused_since = NULL WHERE id = $1",
            record.client_id
        )
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn code(&self, code: &Digest, now: i64) -> Result<Option<CodeRecord>, StoreError> {
        let code = code.as_bytes().to_vec();
        let row = sqlx::query!(
            "SELECT client_id, redirect_uri, code_challenge, resource, scope, user_name, expires_at FROM codes WHERE digest = $1 AND expires_at > $2",
            code,
            now
        )
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|row| CodeRecord {
            client_id: row.client_id,
            redirect_uri: row.redirect_uri,
            request: ValidRequest {
                code_challenge: row.code_challenge,
                resource: row.resource,
                scope: split(&row.scope),
            },
            user: row.user_name,
            expires_at: row.expires_at,
        }))
    }

    // ANCHOR: redeem_code
    async fn redeem_code(
        &self,
        code: &Digest,
        grant: &Grant,
        tokens: &NewTokens,
        now: i64,
    ) -> Result<Redemption, StoreError> {
        let code = code.as_bytes().to_vec();
        let mut tx = self.pool.begin().await?;
        let grant_id = insert_grant(&mut tx, grant).await?;
        // The one statement that decides: it marks the code only if no
        // redemption has marked it yet.
        let won = sqlx::query!(
            "UPDATE codes SET grant_id = $1 WHERE digest = $2 AND grant_id IS NULL AND expires_at > $3",
            grant_id,
            code,
            now
        )
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        if !won {
            tx.rollback().await?;
            // Used before: revoke what the first redemption got.
            let first = sqlx::query_scalar!("SELECT grant_id FROM codes WHERE digest = $1", code)
                .fetch_optional(&self.pool)
                .await?;
            return Ok(match first {
                Some(Some(first)) => {
                    self.revoke_grant(first).await?;
                    Redemption::AlreadyUsed
                }
                _ => Redemption::Gone,
            });
        }
        insert_tokens(&mut tx, grant_id, grant, tokens).await?;
        tx.commit().await?;
        Ok(Redemption::Issued(grant_id))
    }
    // ANCHOR_END: redeem_code

    async fn refresh_family(
        &self,
        family: &Digest,
        presented: &Digest,
        now: i64,
    ) -> Result<Option<(GrantId, Grant, bool)>, StoreError> {
        let family = family.as_bytes().to_vec();
        let row = sqlx::query!(
            r#"SELECT id AS "id!", client_id, user_name, scope, resource, expires_at, family, refresh FROM grants WHERE family = $1 AND expires_at > $2"#,
            family,
            now
        )
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let current = match row.refresh.as_deref() {
            Some(refresh) => digest(refresh)?.matches(presented),
            None => false,
        };
        let grant = Grant {
            client_id: row.client_id,
            user: row.user_name,
            scope: split(&row.scope),
            resource: row.resource,
            expires_at: row.expires_at,
            family: row.family.as_deref().map(digest).transpose()?,
        };
        Ok(Some((row.id, grant, current)))
    }

    // ANCHOR: rotate_refresh
    async fn rotate_refresh(
        &self,
        grant_id: GrantId,
        presented: &Digest,
        tokens: &NewTokens,
    ) -> Result<Rotation, StoreError> {
        let presented = presented.as_bytes().to_vec();
        let next = tokens.refresh.as_ref().map(|d| d.as_bytes().to_vec());
        let mut tx = self.pool.begin().await?;
        let won = sqlx::query!(
            "UPDATE grants SET refresh = $1 WHERE id = $2 AND refresh = $3",
            next,
            grant_id,
            presented
        )
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        if !won {
            sqlx::query!("DELETE FROM grants WHERE id = $1", grant_id)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            return Ok(Rotation::Replayed);
        }
        let row = sqlx::query!(
            "SELECT client_id, user_name, resource FROM grants WHERE id = $1",
            grant_id
        )
        .fetch_one(&mut *tx)
        .await?;
        insert_access(
            &mut tx,
            grant_id,
            &row.client_id,
            &row.user_name,
            &row.resource,
            tokens,
        )
        .await?;
        tx.commit().await?;
        Ok(Rotation::Rotated)
    }
    // ANCHOR_END: rotate_refresh

    async fn access_token(
        &self,
        token: &Digest,
        now: i64,
    ) -> Result<Option<AccessRecord>, StoreError> {
        let token = token.as_bytes().to_vec();
        let row = sqlx::query!(
            "SELECT grant_id, client_id, user_name, scope, resource, issued_at, expires_at FROM access_tokens WHERE digest = $1 AND expires_at > $2",
            token,
            now
        )
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|row| AccessRecord {
            grant: row.grant_id,
            client_id: row.client_id,
            user: row.user_name,
            scope: split(&row.scope),
            resource: row.resource,
            issued_at: row.issued_at,
            expires_at: row.expires_at,
        }))
    }

    async fn revoke_access_token(&self, token: &Digest, client_id: &str) -> Result<(), StoreError> {
        let token = token.as_bytes().to_vec();
        sqlx::query!(
            "DELETE FROM access_tokens WHERE digest = $1 AND client_id = $2",
            token,
            client_id
        )
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn revoke_grant(&self, grant: GrantId) -> Result<(), StoreError> {
        sqlx::query!("DELETE FROM grants WHERE id = $1", grant)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn throttle_begin(
        &self,
        keys: &[(String, i64)],
        window: i64,
        now: i64,
    ) -> Result<bool, StoreError> {
        let start = now - window;
        let mut tx = self.pool.begin().await?;
        serialize(&mut tx, THROTTLE_LOCK).await?;
        for (key, limit) in keys {
            let count = sqlx::query_scalar!(
                "SELECT count FROM throttle WHERE key = $1 AND window_start > $2",
                key,
                start
            )
            .fetch_optional(&mut *tx)
            .await?
            .unwrap_or(0);
            if count >= *limit {
                return Ok(false);
            }
        }
        for (key, _) in keys {
            let known = sqlx::query_scalar!("SELECT count FROM throttle WHERE key = $1", key)
                .fetch_optional(&mut *tx)
                .await?
                .is_some();
            if !known {
                let rows = sqlx::query_scalar!(
                    r#"SELECT n AS "n!: i64" FROM row_counts WHERE name = 'throttle'"#
                )
                .fetch_one(&mut *tx)
                .await?;
                if rows >= THROTTLE_CAPACITY {
                    sqlx::query!("DELETE FROM throttle WHERE window_start <= $1", start)
                        .execute(&mut *tx)
                        .await?;
                    let rows = sqlx::query_scalar!(
                        r#"SELECT n AS "n!: i64" FROM row_counts WHERE name = 'throttle'"#
                    )
                    .fetch_one(&mut *tx)
                    .await?;
                    if rows >= THROTTLE_CAPACITY {
                        // Full of live windows: not counted by this key.
                        continue;
                    }
                }
            }
            // A window that ended starts again at one; a live one counts on.
            sqlx::query!(
                "INSERT INTO throttle (key, window_start, count) VALUES ($1, $2, 1) ON CONFLICT (key) DO UPDATE SET count = CASE WHEN throttle.window_start > $3 THEN throttle.count + 1 ELSE 1 END, window_start = CASE WHEN throttle.window_start > $4 THEN throttle.window_start ELSE excluded.window_start END",
                key,
                now,
                start,
                start
            )
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    async fn throttle_succeeded(&self, reset: &str, give_back: &str) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query!("DELETE FROM throttle WHERE key = $1", reset)
            .execute(&mut *tx)
            .await?;
        sqlx::query!(
            "UPDATE throttle SET count = GREATEST(count - 1, 0) WHERE key = $1",
            give_back
        )
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn signing_keys(&self) -> Result<Vec<SigningKeyRecord>, StoreError> {
        let rows = sqlx::query!(
            "SELECT kid, private_key, public_jwk, created_at, signs_from FROM signing_keys ORDER BY signs_from, created_at"
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|row| SigningKeyRecord {
                kid: row.kid,
                private_key: row.private_key,
                public_jwk: row.public_jwk,
                created_at: row.created_at,
                signs_from: row.signs_from,
            })
            .collect())
    }

    async fn insert_signing_key(&self, key: &SigningKeyRecord) -> Result<(), StoreError> {
        sqlx::query!(
            "INSERT INTO signing_keys (kid, private_key, public_jwk, created_at, signs_from) VALUES ($1, $2, $3, $4, $5)",
            key.kid,
            key.private_key,
            key.public_jwk,
            key.created_at,
            key.signs_from
        )
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn delete_signing_key(&self, kid: &str) -> Result<(), StoreError> {
        sqlx::query!("DELETE FROM signing_keys WHERE kid = $1", kid)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn sweep(&self, now: i64) -> Result<(), StoreError> {
        let unused_before = now - UNUSED_CLIENT_LIFETIME;
        let mut tx = self.pool.begin().await?;
        sqlx::query!("DELETE FROM pending WHERE expires_at <= $1", now)
            .execute(&mut *tx)
            .await?;
        sqlx::query!("DELETE FROM codes WHERE expires_at <= $1", now)
            .execute(&mut *tx)
            .await?;
        sqlx::query!("DELETE FROM grants WHERE expires_at <= $1", now)
            .execute(&mut *tx)
            .await?;
        sqlx::query!("DELETE FROM access_tokens WHERE expires_at <= $1", now)
            .execute(&mut *tx)
            .await?;
        sqlx::query!(
            "DELETE FROM clients WHERE unused_since IS NOT NULL AND unused_since <= $1",
            unused_before
        )
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }
}

/// Stores a grant within the bounds a person's approvals have (rule
/// AS-16): the oldest grant of the same client and user, or of the same
/// user, is revoked to make room. Grants come only from sign-ins.
async fn insert_grant(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    grant: &Grant,
) -> Result<GrantId, StoreError> {
    let held = sqlx::query_scalar!(
        r#"SELECT count(*) AS "n!: i64" FROM grants WHERE user_name = $1 AND client_id = $2"#,
        grant.user,
        grant.client_id
    )
    .fetch_one(&mut **tx)
    .await?;
    if held >= GRANTS_PER_CLIENT_AND_USER {
        sqlx::query!(
            "DELETE FROM grants WHERE id = (SELECT min(id) FROM grants WHERE user_name = $1 AND client_id = $2)",
            grant.user,
            grant.client_id
        )
        .execute(&mut **tx)
        .await?;
    }
    let held = sqlx::query_scalar!(
        r#"SELECT count(*) AS "n!: i64" FROM grants WHERE user_name = $1"#,
        grant.user
    )
    .fetch_one(&mut **tx)
    .await?;
    if held >= GRANTS_PER_USER {
        sqlx::query!(
            "DELETE FROM grants WHERE id = (SELECT min(id) FROM grants WHERE user_name = $1)",
            grant.user
        )
        .execute(&mut **tx)
        .await?;
    }
    let scope = join(&grant.scope);
    let family = grant.family.as_ref().map(|d| d.as_bytes().to_vec());
    let id = sqlx::query_scalar!(
        r#"INSERT INTO grants (client_id, user_name, scope, resource, expires_at, family) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id AS "id!: i64""#,
        grant.client_id,
        grant.user,
        scope,
        grant.resource,
        grant.expires_at,
        family
    )
    .fetch_one(&mut **tx)
    .await?;
    Ok(id)
}

/// Stores a new grant's first tokens.
async fn insert_tokens(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    grant_id: GrantId,
    grant: &Grant,
    tokens: &NewTokens,
) -> Result<(), StoreError> {
    let refresh = tokens.refresh.as_ref().map(|d| d.as_bytes().to_vec());
    sqlx::query!(
        "UPDATE grants SET refresh = $1 WHERE id = $2",
        refresh,
        grant_id
    )
    .execute(&mut **tx)
    .await?;
    insert_access(
        tx,
        grant_id,
        &grant.client_id,
        &grant.user,
        &grant.resource,
        tokens,
    )
    .await
}

/// Stores an access token under its grant, dropping the grant's oldest
/// past [`ACCESS_TOKENS_PER_GRANT`].
async fn insert_access(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    grant_id: GrantId,
    client_id: &str,
    user: &str,
    resource: &str,
    tokens: &NewTokens,
) -> Result<(), StoreError> {
    let access = tokens.access.as_bytes().to_vec();
    let scope = join(&tokens.scope);
    sqlx::query!(
        "INSERT INTO access_tokens (digest, grant_id, client_id, user_name, scope, resource, issued_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        access,
        grant_id,
        client_id,
        user,
        scope,
        resource,
        tokens.issued_at,
        tokens.expires_at
    )
    .execute(&mut **tx)
    .await?;
    sqlx::query!(
        "DELETE FROM access_tokens WHERE grant_id = $1 AND seq NOT IN (SELECT seq FROM access_tokens WHERE grant_id = $2 ORDER BY seq DESC LIMIT $3)",
        grant_id,
        grant_id,
        ACCESS_TOKENS_PER_GRANT
    )
    .execute(&mut **tx)
    .await?;
    Ok(())
}
