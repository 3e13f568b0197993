-- Device authorization grants (RFC 8628, see src/device_grants.rs). Both codes are stored only as
-- SHA-256 hex digests. Times are Unix milliseconds; rows are pruned once expired.
CREATE TABLE device_grants (
    device_code_hash TEXT COLLATE "C" PRIMARY KEY,
    user_code_hash   TEXT COLLATE "C" NOT NULL UNIQUE,
    client_id        TEXT NOT NULL,
    client_ip        TEXT NOT NULL,
    created_at       BIGINT NOT NULL,
    expires_at       BIGINT NOT NULL,
    interval_secs    BIGINT NOT NULL,
    last_poll_at     BIGINT,
    status           TEXT NOT NULL,
    user_id          TEXT
);
CREATE INDEX device_grants_by_expiry ON device_grants (expires_at);

-- With the role split of migration 0005, the gateway's role also needs:
--   GRANT SELECT, INSERT, UPDATE, DELETE ON device_grants TO palisade_gateway;
