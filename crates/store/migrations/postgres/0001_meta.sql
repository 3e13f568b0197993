-- Gateway metadata: instance identity, first start, schema facts later migrations rely on.
-- Every table is created unqualified, in the first schema of the connection's search_path
-- (`PostgresOptions::schema`), so one database can hold several isolated Palisade schemas.
CREATE TABLE IF NOT EXISTS palisade_meta (
    key        TEXT PRIMARY KEY,
    value      TEXT NOT NULL,
    updated_ms BIGINT NOT NULL
);
