-- Account deletion (issue 20, see src/deletion.rs). `users.deleted_at`: when deletion was asked
-- (the account is disabled from then on and purged `retention.accounts_deleted` later; NULL: not
-- deleted). `erasures`: the tombstones of purged accounts (an id and a time, no personal data),
-- which a backup restore re-applies. `deletion_outbox`: the deletion webhooks still to deliver,
-- written in the purge's transaction and marked once delivered. Times are Unix milliseconds.
ALTER TABLE users ADD COLUMN deleted_at BIGINT;
CREATE INDEX users_by_deleted_at ON users (deleted_at) WHERE deleted_at IS NOT NULL;
CREATE TABLE erasures (
    user_id   UUID PRIMARY KEY,
    erased_at BIGINT NOT NULL
);
CREATE INDEX erasures_by_time ON erasures (erased_at);
CREATE TABLE deletion_outbox (
    id              UUID PRIMARY KEY,
    user_id         UUID NOT NULL,
    event           TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    attempts        BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    delivered_at    BIGINT,
    last_error      TEXT
);
CREATE INDEX deletion_outbox_due ON deletion_outbox (next_attempt_at) WHERE delivered_at IS NULL;
