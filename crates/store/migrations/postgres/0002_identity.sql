-- Identity: users, sessions (refresh-token families), refresh tokens, API keys, signing keys.
-- Times are Unix milliseconds (UTC) as BIGINT. Secrets are never stored: tokens and keys as
-- 32-byte hashes, signing keys wrapped (encrypted) by the gateway. Role and scope lists are
-- TEXT[] (order kept, as the SQLite backend's JSON lists).
CREATE TABLE users (
    id            UUID PRIMARY KEY,
    email         TEXT NOT NULL UNIQUE,
    name          TEXT,
    password_hash TEXT,
    roles         TEXT[] NOT NULL DEFAULT '{}',
    tier          TEXT NOT NULL DEFAULT 'free',
    disabled      BOOLEAN NOT NULL DEFAULT FALSE,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL
);

CREATE TABLE sessions (
    id           UUID PRIMARY KEY,
    user_id      UUID NOT NULL REFERENCES users(id),
    kind         TEXT NOT NULL CHECK (kind IN ('token', 'cookie')),
    created_at   BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL,
    user_agent   TEXT,
    fingerprint  TEXT NOT NULL,
    revoked_at   BIGINT
);
CREATE INDEX sessions_by_user ON sessions (user_id, created_at);

CREATE TABLE refresh_tokens (
    hash       BYTEA PRIMARY KEY CHECK (octet_length(hash) = 32),
    session_id UUID NOT NULL REFERENCES sessions(id),
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    rotated_at BIGINT
);
CREATE INDEX refresh_by_session ON refresh_tokens (session_id);

CREATE TABLE api_keys (
    id           UUID PRIMARY KEY,
    hash         BYTEA NOT NULL UNIQUE CHECK (octet_length(hash) = 32),
    prefix       TEXT NOT NULL,
    name         TEXT NOT NULL,
    owner_id     UUID NOT NULL REFERENCES users(id),
    roles        TEXT[] NOT NULL DEFAULT '{}',
    scopes       TEXT[] NOT NULL DEFAULT '{}',
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT,
    last_used_at BIGINT,
    revoked_at   BIGINT
);
CREATE INDEX api_keys_by_owner ON api_keys (owner_id, created_at);

CREATE TABLE signing_keys (
    kid             TEXT COLLATE "C" PRIMARY KEY,
    alg             TEXT NOT NULL,
    wrapped_private BYTEA NOT NULL,
    created_at      BIGINT NOT NULL,
    retired_at      BIGINT
);
