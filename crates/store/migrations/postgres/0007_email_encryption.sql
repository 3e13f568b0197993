-- E-mail addresses encrypted at rest (see crates/store/src/field_crypto.rs): `email_index` is
-- the blind index (UNIQUE, used for lookups and the uniqueness check), `email_enc` the field
-- ciphertext bound to users/email/<id>; a sealed row keeps `email` NULL. Rows written without
-- field crypto keep their plaintext in `email` until the gateway seals them at start.
ALTER TABLE users ALTER COLUMN email DROP NOT NULL;
ALTER TABLE users ADD COLUMN email_index TEXT COLLATE "C" UNIQUE;
ALTER TABLE users ADD COLUMN email_enc TEXT;
ALTER TABLE users ADD CONSTRAINT users_email_stored
    CHECK (email IS NOT NULL OR (email_index IS NOT NULL AND email_enc IS NOT NULL));
