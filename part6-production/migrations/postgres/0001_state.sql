-- The authorization server's state (part 6), PostgreSQL dialect. The SQLite
-- migration of the same number creates the same tables.
--
-- Every secret is kept as its SHA-256 digest (rule AS-14): codes, access
-- and refresh tokens, client secrets, CSRF tokens and browser sessions. A
-- copy of this database lets nobody sign in or call a tool.

-- Registered clients (RFC 7591). `unused_source` and `unused_since` are set
-- while nobody has completed an authorization with the client: such a
-- client counts against its source's share and expires (rule AS-16).
CREATE TABLE clients (
    id TEXT PRIMARY KEY NOT NULL,
    secret BYTEA,
    auth_method TEXT NOT NULL,
    redirect_uris TEXT NOT NULL,
    grant_types TEXT NOT NULL,
    name TEXT,
    unused_source TEXT,
    unused_since BIGINT
);
CREATE INDEX clients_unused ON clients (unused_source, unused_since);

-- Sign-ins in progress, charged to their source (rule AS-16). The request
-- is either valid (challenge, resource, scope) or the error to send back
-- once the user has signed in (rule AS-15).
CREATE TABLE pending (
    seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    client_id TEXT NOT NULL,
    client_name TEXT,
    redirect_uri TEXT NOT NULL,
    state TEXT,
    code_challenge TEXT,
    resource TEXT,
    scope TEXT,
    error TEXT,
    csrf BYTEA NOT NULL,
    session BYTEA NOT NULL,
    expires_at BIGINT NOT NULL,
    source TEXT NOT NULL
);
CREATE INDEX pending_source ON pending (source, seq);
CREATE INDEX pending_expiry ON pending (expires_at);

-- Authorization codes (rule AS-03). `grant_id` is set by the one
-- redemption that wins; a second one finds it set and revokes that grant.
CREATE TABLE codes (
    digest BYTEA PRIMARY KEY NOT NULL,
    client_id TEXT NOT NULL,
    redirect_uri TEXT NOT NULL,
    code_challenge TEXT NOT NULL,
    resource TEXT NOT NULL,
    scope TEXT NOT NULL,
    user_name TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    grant_id BIGINT
);
CREATE INDEX codes_expiry ON codes (expires_at);

-- Grants: what one approval allows. A grant is also a refresh-token family
-- (rule AS-08): `family` is the digest of the family id, `refresh` the
-- digest of the one current refresh token.
CREATE TABLE grants (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    client_id TEXT NOT NULL,
    user_name TEXT NOT NULL,
    scope TEXT NOT NULL,
    resource TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    family BYTEA UNIQUE,
    refresh BYTEA
);
CREATE INDEX grants_user ON grants (user_name, client_id, id);
CREATE INDEX grants_expiry ON grants (expires_at);

-- Access tokens, each under its grant: revoking the grant deletes them.
CREATE TABLE access_tokens (
    seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    digest BYTEA NOT NULL UNIQUE,
    grant_id BIGINT NOT NULL REFERENCES grants (id) ON DELETE CASCADE,
    client_id TEXT NOT NULL,
    user_name TEXT NOT NULL,
    scope TEXT NOT NULL,
    resource TEXT NOT NULL,
    issued_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX access_tokens_grant ON access_tokens (grant_id, seq);
CREATE INDEX access_tokens_expiry ON access_tokens (expires_at);

-- Failed sign-ins per user-name bucket and per source (rule AS-11), so
-- the throttle holds across restarts and instances.
CREATE TABLE throttle (
    key TEXT PRIMARY KEY NOT NULL,
    window_start BIGINT NOT NULL,
    count BIGINT NOT NULL
);
CREATE INDEX throttle_window ON throttle (window_start);
