-- External ids: the id an account had in the system it was imported from (`palisade user
-- import`). Nullable (accounts made here have none), unique when present (NULLs do not collide),
-- immutable once stored (no statement updates it). Tokens and the audit trail name an account by
-- it when `auth.subject = "external_id"`.
ALTER TABLE users ADD COLUMN external_id TEXT;
CREATE UNIQUE INDEX users_by_external_id ON users (external_id);
