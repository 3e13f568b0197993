-- Data keys (wrapped by the master key) and versioned secrets (field ciphertexts only).
CREATE TABLE data_keys (
    id         TEXT PRIMARY KEY,
    created_at INTEGER NOT NULL,
    state      TEXT NOT NULL CHECK (state IN ('primary', 'decrypt_only', 'retired')),
    wrapped    BLOB NOT NULL
);
-- At most one primary key, whatever the writers do.
CREATE UNIQUE INDEX data_keys_one_primary ON data_keys (state) WHERE state = 'primary';

CREATE TABLE secret_versions (
    path       TEXT NOT NULL,
    version    INTEGER NOT NULL CHECK (version > 0),
    ciphertext TEXT NOT NULL,
    metadata   TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    created_by TEXT,
    deleted_at INTEGER,
    PRIMARY KEY (path, version)
);
