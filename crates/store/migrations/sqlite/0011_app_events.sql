-- Application events in the audit trail (`POST /admin/audit/events`): who wrote each record
-- (`palisade` or `app`), and the idempotency keys of app events, per posting principal, so a
-- retried batch is stored once. A key row is written in the same transaction as its record
-- (never one without the other); rows older than `audit.app_idempotency_retention` no longer
-- count and are removed by the daily purge. Adding a column with a constant default rewrites
-- no row, so the append-only triggers of 0005 are not involved.
ALTER TABLE audit_events ADD COLUMN source TEXT NOT NULL DEFAULT 'palisade';
CREATE INDEX audit_by_source ON audit_events (source, seq);

CREATE TABLE audit_app_keys (
    principal  TEXT NOT NULL,
    idem_key   TEXT NOT NULL,
    event_id   TEXT NOT NULL,
    created_ms INTEGER NOT NULL,
    PRIMARY KEY (principal, idem_key)
);
CREATE INDEX audit_app_keys_by_time ON audit_app_keys (created_ms);
