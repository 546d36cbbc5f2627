-- The keys that sign access tokens (RFC 9068), shared by every instance on
-- this database. `signs_from` is when a key starts signing: a new key is
-- published at `jwks_uri` before that, so resource servers that cache the
-- key set know it before they meet a token it signed.
--
-- The private key is the one secret this database keeps in clear: whoever
-- copies it can sign access tokens until the key is rotated away. Protect
-- the database as you would a private key.
CREATE TABLE signing_keys (
    kid TEXT PRIMARY KEY NOT NULL,
    private_key BLOB NOT NULL,
    public_jwk TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    signs_from INTEGER NOT NULL
);
