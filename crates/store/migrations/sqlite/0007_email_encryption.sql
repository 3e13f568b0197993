-- E-mail addresses encrypted at rest (see crates/store/src/field_crypto.rs): `email_index` is
-- the blind index (UNIQUE, used for lookups and the uniqueness check), `email_enc` the field
-- ciphertext bound to users/email/<id>; a sealed row keeps `email` NULL. Rows written without
-- field crypto keep their plaintext in `email` until the gateway seals them at start.
--
-- SQLite cannot drop NOT NULL in place: the table is rebuilt as its documentation says
-- (foreign keys off, new table, copy, drop, rename, all in one transaction), so this migration
-- runs outside sqlx's own transaction.
PRAGMA foreign_keys = OFF;
BEGIN;
CREATE TABLE users_new (
    id            TEXT PRIMARY KEY,
    email         TEXT UNIQUE,
    email_index   TEXT UNIQUE,
    email_enc     TEXT,
    name          TEXT,
    password_hash TEXT,
    roles         TEXT NOT NULL DEFAULT '[]',
    tier          TEXT NOT NULL DEFAULT 'free',
    disabled      INTEGER NOT NULL DEFAULT 0,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL,
    kind          TEXT NOT NULL DEFAULT 'human' CHECK (kind IN ('human', 'service')),
    CHECK (email IS NOT NULL OR (email_index IS NOT NULL AND email_enc IS NOT NULL))
);
INSERT INTO users_new (id, email, name, password_hash, roles, tier, disabled, created_at, updated_at, kind)
    SELECT id, email, name, password_hash, roles, tier, disabled, created_at, updated_at, kind FROM users;
DROP TABLE users;
ALTER TABLE users_new RENAME TO users;
COMMIT;
PRAGMA foreign_keys = ON;
