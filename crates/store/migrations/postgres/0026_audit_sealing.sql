-- Sealing of the audit trail's personal fields (issue 20; crates/store/src/seal_keys.rs): one
-- key per subject (an account id) or per UTC day of anonymous callers (`day:YYYY-MM-DD`), held
-- wrapped by the gateway. Erasure deletes the row; the records sealed under it are unchanged
-- and their sealed fields no longer open. The runtime role needs SELECT, INSERT and DELETE on
-- it (see 0005's role split); the deleted tuple's bytes leave the heap once VACUUM reuses it.
CREATE TABLE audit_seal_keys (
    key_id     TEXT PRIMARY KEY,
    subject    TEXT NOT NULL UNIQUE,
    created_ms BIGINT NOT NULL,
    wrapped    BYTEA NOT NULL
);
-- Finding the records of one client address by the blind index its sealed form starts with
-- (`sealed:v1:<index>:`, 54 characters; crates/store/src/sql/audit.rs uses the same expression).
CREATE INDEX audit_by_client_ip ON audit_events ((substr(client_ip, 1, 54)), seq);
