-- Gateway metadata: instance identity, first start, schema facts later migrations rely on.
CREATE TABLE IF NOT EXISTS palisade_meta (
    key        TEXT PRIMARY KEY NOT NULL,
    value      TEXT NOT NULL,
    updated_ms INTEGER NOT NULL
);
