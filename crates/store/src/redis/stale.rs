//! The stale-fallback entries on Redis / Valkey: the last good GET answers that every gateway
//! replica can serve while an upstream's circuit is open (routes with `fallback = "stale"`).
//!
//! This module stores opaque values (the gateway hands it ciphertexts; it never sees a body)
//! under an id derived from the cache key, and bounds how many there are.
//!
//! Guarantees:
//! - **Bounded count, exactly.** Every entry is written by one Lua script that also adds its id
//!   to an index (a sorted set scored by the writer's clock) and pops the oldest ids beyond
//!   `max_entries`, deleting their entries. An entry exists only while its id is in the index
//!   (the index's own expiry is renewed to the longest entry expiry at every write), so at most
//!   `max_entries` entries exist at any moment.
//! - **Bounded age.** Each entry carries a real Redis expiry: the logical TTL plus
//!   [`RedisOptions::expiry_margin`], as for every hot-state key. That expiry only collects
//!   garbage: whether an entry is young enough is decided by the gateway against its own clock
//!   from the expiry sealed inside the value.
//! - **One round trip** per write (EVALSHA) and per read (GET), each bounded by the connection's
//!   deadline; an unreachable Redis is [`crate::StoreError::Unavailable`].
//! - **Names reveal nothing**: an entry's id is the first 128 bits of SHA-256 over a domain label
//!   and the cache key's parts (length-prefixed), so neither the caller nor the path appears in
//!   Redis. The same on every replica.
//!
//! Keys (`P` = the hot state's prefix): `P:sf:{stale}:i` (the index, a sorted set of ids) and
//! `P:sf:{stale}:e:<32 hex digits>` (an entry). They share one hash tag so the script that keeps
//! the count touches one Cluster slot; the whole fallback cache therefore lives on one primary.

use crate::StoreResult;
use crate::redis_hot::{Conn, RedisOptions};
use ::redis::{AsyncCommands, Script};
use std::time::Duration;

/// Writes an entry and keeps the count. KEYS[1] the index, KEYS[2] the entry; ARGV: the value,
/// the Redis TTL (ms), the score (now, ms), the id, the most entries, the entries' key head.
/// Returns how many older entries were evicted.
const PUT_LUA: &str = r#"
redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[2])
redis.call('ZADD', KEYS[1], ARGV[3], ARGV[4])
local over = redis.call('ZCARD', KEYS[1]) - tonumber(ARGV[5])
local evicted = 0
if over > 0 then
  local old = redis.call('ZPOPMIN', KEYS[1], over)
  for i = 1, #old, 2 do
    redis.call('DEL', ARGV[6] .. old[i])
    evicted = evicted + 1
  end
end
if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[2]) then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return evicted
"#;

/// The id of one cached answer: see [`StaleId::derive`].
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct StaleId([u8; 16]);

impl std::fmt::Debug for StaleId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "StaleId({})", self.hex())
    }
}

impl StaleId {
    /// The first 128 bits of SHA-256 over `palisade.stale.v1` and each part of the cache key,
    /// every one length-prefixed (different splits never collide).
    pub fn derive(parts: &[&[u8]]) -> StaleId {
        let mut ctx = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
        ctx.update(b"palisade.stale.v1");
        for part in parts {
            ctx.update(&(part.len() as u64).to_be_bytes());
            ctx.update(part);
        }
        let mut id = [0u8; 16];
        id.copy_from_slice(&ctx.finish().as_ref()[..16]);
        StaleId(id)
    }

    /// Lower-case hex, 32 digits.
    pub fn hex(&self) -> String {
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        let mut out = String::with_capacity(32);
        for b in self.0 {
            out.push(DIGITS[usize::from(b >> 4)] as char);
            out.push(DIGITS[usize::from(b & 15)] as char);
        }
        out
    }
}

/// The stale-fallback entries in Redis; see the module documentation.
pub struct RedisStale {
    conn: Conn,
    put: Script,
}

impl std::fmt::Debug for RedisStale {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStale")
            .field("prefix", &self.conn.options.prefix)
            .finish_non_exhaustive()
    }
}

impl RedisStale {
    pub(crate) fn with_conn(conn: Conn) -> RedisStale {
        RedisStale {
            conn,
            put: Script::new(PUT_LUA),
        }
    }

    /// How this store connects (its prefix among others).
    pub fn options(&self) -> &RedisOptions {
        &self.conn.options
    }

    fn index_key(&self) -> String {
        format!("{}:sf:{{stale}}:i", self.conn.options.prefix)
    }

    fn entry_head(&self) -> String {
        format!("{}:sf:{{stale}}:e:", self.conn.options.prefix)
    }

    /// The Redis key of entry `id` (for operators and tests reading Redis directly).
    pub fn entry_key(&self, id: &StaleId) -> String {
        format!("{}{}", self.entry_head(), id.hex())
    }

    /// Stores `value` as entry `id` for `ttl` (plus the expiry margin), at `now_ms` on the
    /// writer's clock, evicting the oldest entries beyond `max_entries`. Returns how many were
    /// evicted.
    pub async fn put(
        &self,
        id: &StaleId,
        value: &[u8],
        now_ms: u64,
        ttl: Duration,
        max_entries: u64,
    ) -> StoreResult<u64> {
        let ttl_ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX);
        let mut call = self.put.key(self.index_key());
        call.key(self.entry_key(id))
            .arg(value)
            .arg(self.conn.options.redis_ttl_ms(ttl_ms))
            .arg(now_ms)
            .arg(id.hex())
            .arg(max_entries)
            .arg(self.entry_head());
        self.conn
            .run(|mut c| async move { call.invoke_async(&mut c).await })
            .await
    }

    /// The value of entry `id`, if Redis still holds it.
    pub async fn get(&self, id: &StaleId) -> StoreResult<Option<Vec<u8>>> {
        let key = self.entry_key(id);
        self.conn.run(|mut c| async move { c.get(key).await }).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_stable_and_splits_do_not_collide() {
        let a = StaleId::derive(&[b"api", b"/x?a=1", b"ip:10.0.0.1"]);
        assert_eq!(a, StaleId::derive(&[b"api", b"/x?a=1", b"ip:10.0.0.1"]));
        assert_ne!(a, StaleId::derive(&[b"api", b"/x?a=1i", b"p:10.0.0.1"]));
        assert_eq!(a.hex().len(), 32);
        assert!(a.hex().bytes().all(|b| b.is_ascii_hexdigit()));
    }
}
