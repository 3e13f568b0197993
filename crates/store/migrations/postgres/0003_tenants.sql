-- Tenants and memberships. Tenant ids are chosen by administrators (they appear in paths).
-- Text keys that lists are ordered by use the "C" collation: byte order, as in SQLite.
CREATE TABLE tenants (
    id         TEXT COLLATE "C" PRIMARY KEY,
    name       TEXT NOT NULL,
    parent_id  TEXT COLLATE "C",
    created_at BIGINT NOT NULL
);

CREATE TABLE memberships (
    tenant_id  TEXT COLLATE "C" NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    user_id    UUID NOT NULL REFERENCES users(id),
    role       TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, user_id)
);
