-- The durable record of revocations and blocks (see src/revocations.rs): the hot state's flags
-- are primed from it when the hot state starts empty. Revoked sessions and API keys are already
-- recorded (their revoked_at); revoked access tokens and IP blocks get tables of their own,
-- pruned once expired. Times are Unix milliseconds. Listed keys use the "C" collation (byte
-- order, as in SQLite).
CREATE TABLE revoked_tokens (
    jti        TEXT COLLATE "C" PRIMARY KEY,
    expires_at BIGINT NOT NULL,
    revoked_at BIGINT NOT NULL
);
CREATE INDEX revoked_tokens_by_expiry ON revoked_tokens (expires_at);

CREATE TABLE ip_blocks (
    ip            TEXT COLLATE "C" PRIMARY KEY,
    blocked_until BIGINT NOT NULL,
    created_at    BIGINT NOT NULL,
    reason        TEXT NOT NULL
);
CREATE INDEX ip_blocks_by_end ON ip_blocks (blocked_until);

-- Priming reads the recently revoked sessions and keys.
CREATE INDEX sessions_by_revocation ON sessions (revoked_at) WHERE revoked_at IS NOT NULL;
CREATE INDEX api_keys_by_revocation ON api_keys (revoked_at) WHERE revoked_at IS NOT NULL;

-- With the role split of migration 0005, the gateway's role also needs:
--   GRANT INSERT, UPDATE, DELETE ON revoked_tokens, ip_blocks TO palisade_gateway;
