-- E-mail flows (see src/email_flows.rs): when the account's current address was verified
-- (NULL: not verified; a change of address clears it), and the single-use tokens of address
-- verification and password reset, stored only as SHA-256 hex digests. Times are Unix
-- milliseconds.
ALTER TABLE users ADD COLUMN email_verified_at BIGINT;
CREATE TABLE email_tokens (
    token_hash TEXT COLLATE "C" PRIMARY KEY,
    user_id UUID NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    purpose TEXT NOT NULL CHECK (purpose IN ('verify', 'reset')),
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at BIGINT
);
CREATE INDEX email_tokens_by_user ON email_tokens (user_id, purpose);
CREATE INDEX email_tokens_by_expiry ON email_tokens (expires_at);

-- With the role split of migration 0005, the gateway's role also needs:
--   GRANT SELECT, INSERT, UPDATE, DELETE ON email_tokens TO palisade_gateway;
