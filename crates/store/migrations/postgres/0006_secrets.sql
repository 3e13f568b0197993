-- Data keys (wrapped by the master key) and versioned secrets (field ciphertexts only).
-- Text keys that lists are ordered by use the "C" collation: byte order, as in SQLite.
CREATE TABLE data_keys (
    id         TEXT COLLATE "C" PRIMARY KEY,
    created_at BIGINT NOT NULL,
    state      TEXT NOT NULL CHECK (state IN ('primary', 'decrypt_only', 'retired')),
    wrapped    BYTEA NOT NULL
);
-- At most one primary key, whatever the writers do.
CREATE UNIQUE INDEX data_keys_one_primary ON data_keys (state) WHERE state = 'primary';

CREATE TABLE secret_versions (
    path       TEXT COLLATE "C" NOT NULL,
    version    BIGINT NOT NULL CHECK (version > 0),
    ciphertext TEXT COLLATE "C" NOT NULL,
    metadata   TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    created_by TEXT,
    deleted_at BIGINT,
    PRIMARY KEY (path, version)
);
