-- The audit trail: append-only, hash-chained records and signed checkpoints, with the SQLite
-- backend's rules (its migration 0005): UPDATE of a record is refused always; DELETE only inside
-- the retention purge, `palisade_audit_purge(through)`, which opens a transaction-local gate
-- (`SET LOCAL palisade.audit_purge = 'on'`) around its one DELETE and closes it again;
-- checkpoints can be neither updated nor deleted. TRUNCATE is refused on both tables.
-- The triggers are statement-level: one check per statement, not per row.
--
-- `details` is TEXT, not JSONB: the hash chain covers the canonical JSON bytes, and JSONB
-- rewrites numbers (1e2 -> 100, -0.0 -> 0) and refuses \u0000, so a record would not read back
-- byte for byte as written.
--
-- The triggers stop mistakes and ordinary SQL, not the tables' owner (who can drop a trigger) nor
-- anyone able to DELETE (any session may SET the custom setting itself): the signed checkpoints
-- and `palisade audit verify` catch those. In production the gateway's role should therefore not
-- own the tables: an owner role applies the migrations (the gateway then starts without writing
-- DDL, as the schema is up to date), and the gateway's role gets only what it needs. With the
-- tables in schema `palisade`, owner `palisade_owner`, gateway role `palisade_gateway`:
--
--   -- as palisade_owner, after the migrations ran:
--   GRANT USAGE ON SCHEMA palisade TO palisade_gateway;
--   GRANT SELECT ON ALL TABLES IN SCHEMA palisade TO palisade_gateway;
--   GRANT INSERT, UPDATE, DELETE ON palisade_meta, users, sessions, refresh_tokens, api_keys,
--       signing_keys, tenants, memberships, resource_grants TO palisade_gateway;
--   GRANT INSERT ON audit_events, audit_checkpoints TO palisade_gateway;
--   REVOKE UPDATE, DELETE, TRUNCATE ON audit_events, audit_checkpoints FROM palisade_gateway;
--   GRANT EXECUTE ON FUNCTION palisade_audit_purge(bigint) TO palisade_gateway;
--
-- The purge function is SECURITY DEFINER (it runs with its owner's right to DELETE) and its
-- search_path is pinned to this schema; EXECUTE on it is revoked from PUBLIC below.
-- (Exercised by the test `a_non_owner_role_can_append_and_purge_but_not_rewrite`.)
CREATE TABLE audit_events (
    seq           BIGINT PRIMARY KEY,
    id            TEXT NOT NULL UNIQUE,
    ts_ms         BIGINT NOT NULL,
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
    prev_hash     BYTEA NOT NULL CHECK (octet_length(prev_hash) = 32),
    hash          BYTEA NOT NULL CHECK (octet_length(hash) = 32)
);
CREATE INDEX audit_by_time ON audit_events (ts_ms);
CREATE INDEX audit_by_type ON audit_events (event_type, seq);
CREATE INDEX audit_by_actor ON audit_events (actor, seq);

CREATE TABLE audit_checkpoints (
    seq       BIGINT PRIMARY KEY,
    hash      BYTEA NOT NULL CHECK (octet_length(hash) = 32),
    ts_ms     BIGINT NOT NULL,
    kid       TEXT NOT NULL,
    signature BYTEA NOT NULL
);

-- Refuses the statement with the message given as the trigger's argument.
CREATE FUNCTION palisade_audit_refuse() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '%', TG_ARGV[0] USING ERRCODE = 'insufficient_privilege';
END
$$;

-- Lets a DELETE of records through only while the purge holds the gate open.
CREATE FUNCTION palisade_audit_delete_gate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF current_setting('palisade.audit_purge', true) IS DISTINCT FROM 'on' THEN
        RAISE EXCEPTION 'the audit trail is append-only; only the retention purge deletes'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
    FOR EACH STATEMENT EXECUTE FUNCTION palisade_audit_refuse('the audit trail is append-only');
CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
    FOR EACH STATEMENT EXECUTE FUNCTION palisade_audit_delete_gate();
CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events
    FOR EACH STATEMENT EXECUTE FUNCTION palisade_audit_refuse('the audit trail is append-only');
CREATE TRIGGER audit_checkpoints_no_change BEFORE UPDATE OR DELETE OR TRUNCATE ON audit_checkpoints
    FOR EACH STATEMENT EXECUTE FUNCTION palisade_audit_refuse('audit checkpoints are append-only');

-- The retention purge: deletes the records up to and including `through`, returns how many went.
CREATE FUNCTION palisade_audit_purge(through BIGINT) RETURNS BIGINT
LANGUAGE plpgsql SECURITY DEFINER AS $$
DECLARE
    gone BIGINT;
BEGIN
    SET LOCAL palisade.audit_purge = 'on';
    DELETE FROM audit_events WHERE seq <= through;
    GET DIAGNOSTICS gone = ROW_COUNT;
    SET LOCAL palisade.audit_purge = 'off';
    RETURN gone;
END
$$;
REVOKE ALL ON FUNCTION palisade_audit_purge(BIGINT) FROM PUBLIC;
DO $$
BEGIN
    EXECUTE format('ALTER FUNCTION palisade_audit_purge(BIGINT) SET search_path = %I, pg_temp',
                   current_schema());
END
$$;
