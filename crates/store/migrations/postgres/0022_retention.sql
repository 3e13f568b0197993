-- Retention (issue 20): why each session and API key was revoked, each account's last sign-in
-- (written in batches, read by the inactive-account policy), and the indexes the retention job
-- finds ended records by. Refresh tokens have no revocation of their own: they end with their
-- session (its reason is theirs) or at their expiry.
ALTER TABLE sessions ADD COLUMN revoked_reason TEXT;
ALTER TABLE api_keys ADD COLUMN revoked_reason TEXT;
ALTER TABLE users ADD COLUMN last_login_at BIGINT;
CREATE INDEX sessions_by_expiry ON sessions (expires_at);
CREATE INDEX refresh_by_expiry ON refresh_tokens (expires_at);
CREATE INDEX api_keys_by_expiry ON api_keys (expires_at) WHERE expires_at IS NOT NULL;
