-- OAuth connections (see src/connections.rs): a provider's tokens a user or service account
-- connected for the upstream's use. Tokens only as keyring ciphertexts bound to the row
-- (never plaintext); updated_at is the compare-and-set value of a refresh. Times: Unix ms.
CREATE TABLE connections (
    id                TEXT PRIMARY KEY,
    owner_id          TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    provider          TEXT NOT NULL,
    access_token_enc  TEXT NOT NULL,
    refresh_token_enc TEXT,
    expires_at        INTEGER,
    scopes            TEXT NOT NULL,
    created_at        INTEGER NOT NULL,
    updated_at        INTEGER NOT NULL
);
CREATE INDEX connections_by_owner ON connections (owner_id, created_at);
