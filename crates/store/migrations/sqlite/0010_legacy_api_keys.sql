-- API keys imported by the hash another system stored (`palisade key import`, see
-- src/legacy_keys.rs). `legacy_prefix` is the key's visible leading characters, unique and never
-- a prefix of another stored one, so a presented key has at most one candidate: the greatest
-- stored prefix at or below it (one index seek). `legacy_hash` is the other system's hash until
-- the key's first successful use, when it becomes NULL and `hash` (a random placeholder until
-- then) the native HMAC. The prefix stays, so later imports cannot take it.
ALTER TABLE api_keys ADD COLUMN legacy_prefix TEXT;
ALTER TABLE api_keys ADD COLUMN legacy_hash TEXT;
CREATE UNIQUE INDEX api_keys_by_legacy_prefix ON api_keys (legacy_prefix);
