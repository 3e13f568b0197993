-- The audit trail: append-only, hash-chained records and signed checkpoints. UPDATE is refused
-- always; DELETE only while the retention purge holds the gate open (inside its transaction).
-- Someone with write access to the file can still open the gate: that is what the signed
-- checkpoints (and `palisade audit verify`) are for.
CREATE TABLE audit_events (
    seq           INTEGER PRIMARY KEY,
    id            TEXT NOT NULL UNIQUE,
    ts_ms         INTEGER NOT NULL,
    event_type    TEXT NOT NULL,
    risk          TEXT NOT NULL,
    actor         TEXT,
    action        TEXT,
    resource_type TEXT,
    resource_id   TEXT,
    tenant        TEXT,
    result        TEXT NOT NULL,
    client_ip     TEXT,
    user_agent    TEXT,
    request_id    TEXT,
    details       TEXT NOT NULL,
    prev_hash     BLOB NOT NULL CHECK (length(prev_hash) = 32),
    hash          BLOB NOT NULL CHECK (length(hash) = 32)
);
CREATE INDEX audit_by_time ON audit_events (ts_ms);
CREATE INDEX audit_by_type ON audit_events (event_type, seq);
CREATE INDEX audit_by_actor ON audit_events (actor, seq);

CREATE TABLE audit_checkpoints (
    seq       INTEGER PRIMARY KEY,
    hash      BLOB NOT NULL CHECK (length(hash) = 32),
    ts_ms     INTEGER NOT NULL,
    kid       TEXT NOT NULL,
    signature BLOB NOT NULL
);

CREATE TABLE audit_purge_gate (
    id   INTEGER PRIMARY KEY CHECK (id = 1),
    open INTEGER NOT NULL DEFAULT 0
);
INSERT INTO audit_purge_gate (id, open) VALUES (1, 0);

CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
BEGIN
    SELECT RAISE(ABORT, 'the audit trail is append-only');
END;
CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
WHEN (SELECT open FROM audit_purge_gate WHERE id = 1) = 0
BEGIN
    SELECT RAISE(ABORT, 'the audit trail is append-only; only the retention purge deletes');
END;
CREATE TRIGGER audit_checkpoints_no_update BEFORE UPDATE ON audit_checkpoints
BEGIN
    SELECT RAISE(ABORT, 'audit checkpoints are append-only');
END;
CREATE TRIGGER audit_checkpoints_no_delete BEFORE DELETE ON audit_checkpoints
BEGIN
    SELECT RAISE(ABORT, 'audit checkpoints are append-only');
END;
