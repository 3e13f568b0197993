-- Service accounts (non-human principals that act through API keys) and resource-level grants:
-- permission grants on one tenant's resources given to a principal without a membership.
ALTER TABLE users ADD COLUMN kind TEXT NOT NULL DEFAULT 'human' CHECK (kind IN ('human', 'service'));

CREATE TABLE resource_grants (
    tenant_id  TEXT COLLATE "C" NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    user_id    UUID NOT NULL REFERENCES users(id),
    grants     TEXT[] NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, user_id)
);
