-- Passkeys (WebAuthn credentials, see src/passkeys.rs): several per account; the credential id
-- unique across accounts; `credential` the library's JSON (public key and flags, no secret);
-- `sign_count` the last counter seen, updated by compare-and-set at each sign-in.
CREATE TABLE passkeys (
    id UUID PRIMARY KEY,
    user_id UUID NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    credential_id BYTEA NOT NULL UNIQUE,
    name TEXT NOT NULL,
    credential TEXT NOT NULL,
    sign_count BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    last_used_at BIGINT
);
CREATE INDEX passkeys_by_user ON passkeys (user_id, created_at);
