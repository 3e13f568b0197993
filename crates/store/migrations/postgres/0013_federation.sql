-- Identities at other providers linked to users (federated sign-in, see src/federation.rs).
-- The account key is (issuer, subject), never the e-mail; a user may hold several identities,
-- two from one provider included. `provider` is the configured provider's id (for listings);
-- `email` is what the provider reported when linked, for display only. Times: Unix ms.
CREATE TABLE federated_identities (
    id        UUID PRIMARY KEY,
    user_id   UUID NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    provider  TEXT NOT NULL,
    issuer    TEXT NOT NULL,
    subject   TEXT NOT NULL,
    email     TEXT,
    linked_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX federated_identities_by_key ON federated_identities (issuer, subject);
CREATE INDEX federated_identities_by_user ON federated_identities (user_id, linked_at);
