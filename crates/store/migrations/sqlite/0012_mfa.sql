-- Assurance levels (issue 18): what the sign-in behind a session proved. Every token the session
-- issues carries them (refreshes too); step-up opens a new session. Sessions opened before this
-- migration have no level: they meet no step-up requirement. `auth_time` is Unix milliseconds,
-- `amr` a JSON list of RFC 8176 values like `roles`.
ALTER TABLE sessions ADD COLUMN amr TEXT NOT NULL DEFAULT '[]';
ALTER TABLE sessions ADD COLUMN acr TEXT CHECK (acr IN ('aal1', 'aal2'));
ALTER TABLE sessions ADD COLUMN auth_time BIGINT;

-- TOTP authenticators: the seed is a keyring ciphertext bound to the row id; `last_used_step`
-- makes each code single-use per credential; unconfirmed until the first valid code.
CREATE TABLE totp_credentials (
    id             TEXT PRIMARY KEY,
    user_id        TEXT NOT NULL REFERENCES users(id),
    name           TEXT NOT NULL,
    seed_enc       TEXT NOT NULL,
    created_at     BIGINT NOT NULL,
    confirmed_at   BIGINT,
    last_used_step BIGINT,
    UNIQUE (user_id, name)
);

-- Recovery codes, SHA-256 only (128 random bits each); a regenerated set replaces the old one.
CREATE TABLE recovery_codes (
    user_id    TEXT NOT NULL REFERENCES users(id),
    hash       BLOB NOT NULL CHECK (length(hash) = 32),
    created_at BIGINT NOT NULL,
    used_at    BIGINT,
    PRIMARY KEY (user_id, hash)
);

-- Password sign-ins waiting for their second factor: SHA-256 of the token, short-lived,
-- deleted when used.
CREATE TABLE mfa_tokens (
    hash       BLOB PRIMARY KEY CHECK (length(hash) = 32),
    user_id    TEXT NOT NULL REFERENCES users(id),
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    binding    TEXT NOT NULL
);
CREATE INDEX mfa_tokens_by_expiry ON mfa_tokens (expires_at);
