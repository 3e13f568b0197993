//! The in-memory limiter: rate-limit states in a sharded map, bounded in size.
//!
//! Keys are 128-bit digests of (rule, identity) under a per-process random key, so clients can
//! neither predict nor collide them. Each of the shards is a small mutex-guarded map held only
//! for one lookup and a few integer operations. A state that has drained is equivalent to an
//! absent one, so idle keys can be evicted at any time without changing a decision; when a
//! shard is still full, the entry nearest to draining is evicted (the one whose loss frees the
//! least budget). Memory per key is under 100 bytes.

use super::sliding::Window;
use super::{Algorithm, Decision, Quota, gcra, sliding};
use std::collections::HashMap;
use std::hash::{BuildHasher, BuildHasherDefault, Hasher, RandomState};
use std::sync::Mutex;

const SHARDS: usize = 64;
/// Entries looked at when a full shard must drop one that is still active.
const EVICTION_SAMPLE: usize = 8;

/// Keys are already uniformly random: their low 64 bits are the map hash.
#[derive(Default)]
struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut b = [0u8; 8];
            b[..chunk.len()].copy_from_slice(chunk);
            self.0 ^= u64::from_le_bytes(b);
        }
    }
    fn write_u128(&mut self, n: u128) {
        self.0 = n as u64;
    }
}

/// One key's state: a GCRA TAT (µs), or a sliding window; with when it drains (ms).
#[derive(Debug, Clone, Copy)]
enum Slot {
    Gcra { tat_us: u64 },
    Sliding { window: Window, period_ms: u64 },
}

impl Slot {
    fn idle_at_ms(&self) -> u64 {
        match self {
            Slot::Gcra { tat_us } => tat_us.div_ceil(1000),
            Slot::Sliding { window, period_ms } => window.expires_at_ms(*period_ms),
        }
    }
}

type Map = HashMap<u128, Slot, BuildHasherDefault<KeyHasher>>;

#[derive(Default)]
struct Shard {
    map: Map,
    /// A full shard sweeps out drained keys at most once a second; in between it drops a
    /// sampled entry, so a flood of new keys costs O(1) per key.
    last_sweep_ms: u64,
}

pub struct MemoryLimiter {
    shards: Vec<Mutex<Shard>>,
    per_shard: usize,
    keyer: RandomState,
}

impl std::fmt::Debug for MemoryLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryLimiter")
            .field("keys", &self.len())
            .finish()
    }
}

impl MemoryLimiter {
    /// A limiter that keeps at most about `max_keys` states.
    pub fn new(max_keys: usize) -> Self {
        Self {
            shards: (0..SHARDS).map(|_| Mutex::new(Shard::default())).collect(),
            per_shard: max_keys.div_ceil(SHARDS).max(1),
            keyer: RandomState::new(),
        }
    }

    /// The key of `identity` under `rule`.
    pub fn key(&self, rule: &str, identity: &str) -> u128 {
        self.key_of(rule, &[identity.as_bytes()])
    }

    /// The key of an identity given in parts (no allocation on the hot path); each part is
    /// length-prefixed, so different splits never collide.
    pub fn key_of(&self, rule: &str, parts: &[&[u8]]) -> u128 {
        let half = |domain: u8| {
            let mut h = self.keyer.build_hasher();
            h.write_u8(domain);
            h.write_usize(rule.len());
            h.write(rule.as_bytes());
            for part in parts {
                h.write_usize(part.len());
                h.write(part);
            }
            h.finish()
        };
        ((half(1) as u128) << 64) | half(2) as u128
    }

    fn shard(&self, key: u128) -> std::sync::MutexGuard<'_, Shard> {
        self.shards[((key >> 64) as usize) % SHARDS]
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    pub fn decide(&self, key: u128, algorithm: Algorithm, quota: &Quota, now_ms: u64) -> Decision {
        let mut shard = self.shard(key);
        let existing = shard.map.get(&key).copied();
        let (decision, slot) = match (algorithm, existing) {
            (Algorithm::Gcra, prior) => {
                let tat = match prior {
                    Some(Slot::Gcra { tat_us }) => Some(tat_us),
                    _ => None,
                };
                let (d, tat_us) = gcra::decide(tat, quota, now_ms);
                (d, Slot::Gcra { tat_us })
            }
            (Algorithm::SlidingWindow, prior) => {
                let window = match prior {
                    Some(Slot::Sliding { window, .. }) => Some(window),
                    _ => None,
                };
                let (d, window) = sliding::decide(window, quota, now_ms);
                let period_ms = quota.period_ms;
                (d, Slot::Sliding { window, period_ms })
            }
        };
        if !decision.allowed && existing.is_none() {
            return decision;
        }
        if existing.is_none() && shard.map.len() >= self.per_shard {
            shard.make_room(now_ms);
        }
        shard.map.insert(key, slot);
        decision
    }

    /// Keys held.
    pub fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.lock().unwrap_or_else(|e| e.into_inner()).map.len())
            .sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Forgets every drained key; returns how many. Decisions are unchanged by it.
    pub fn evict_idle(&self, now_ms: u64) -> usize {
        self.shards
            .iter()
            .map(|s| {
                let mut shard = s.lock().unwrap_or_else(|e| e.into_inner());
                let before = shard.map.len();
                shard.map.retain(|_, slot| slot.idle_at_ms() > now_ms);
                if shard.map.capacity() > 4 * shard.map.len().max(64) {
                    let keep = 2 * shard.map.len();
                    shard.map.shrink_to(keep);
                }
                before - shard.map.len()
            })
            .sum()
    }
}

impl Shard {
    /// Drops drained keys (at most once a second); if none, the sampled key nearest to
    /// draining.
    fn make_room(&mut self, now_ms: u64) {
        if now_ms >= self.last_sweep_ms.saturating_add(1000) {
            self.last_sweep_ms = now_ms;
            let before = self.map.len();
            self.map.retain(|_, slot| slot.idle_at_ms() > now_ms);
            if self.map.len() < before {
                return;
            }
        }
        let victim = self
            .map
            .iter()
            .take(EVICTION_SAMPLE)
            .min_by_key(|(_, slot)| slot.idle_at_ms())
            .map(|(k, _)| *k);
        if let Some(k) = victim {
            self.map.remove(&k);
        }
    }
}
