//! In-process backends: the embedded default for hot state, and a durable-store stand-in for
//! tests and `store.url = "memory:"` (nothing survives a restart; say so in the docs).

use crate::{HotState, Store, StoreResult};
use async_trait::async_trait;
use palisade_core::clock::SharedClock;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

/// A `Store` held in memory.
#[derive(Debug, Default)]
pub struct MemoryStore {
    meta: Mutex<HashMap<String, String>>,
}

#[async_trait]
impl Store for MemoryStore {
    fn backend(&self) -> &'static str {
        "memory"
    }

    async fn ping(&self) -> StoreResult<()> {
        Ok(())
    }

    async fn meta_get(&self, key: &str) -> StoreResult<Option<String>> {
        Ok(lock(&self.meta).get(key).cloned())
    }

    async fn meta_put(&self, key: &str, value: &str) -> StoreResult<()> {
        lock(&self.meta).insert(key.to_string(), value.to_string());
        Ok(())
    }
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    value: u64,
    expires_ms: u64,
}

/// A `HotState` held in memory, with expiry read from the injected clock.
#[derive(Debug)]
pub struct MemoryHotState {
    clock: SharedClock,
    entries: Mutex<HashMap<String, Entry>>,
    writes: std::sync::atomic::AtomicUsize,
}

/// Expired entries are swept once the map has grown by this many inserts.
const SWEEP_EVERY: usize = 4096;

impl MemoryHotState {
    pub fn new(clock: SharedClock) -> Self {
        Self {
            clock,
            entries: Mutex::new(HashMap::new()),
            writes: Default::default(),
        }
    }

    fn live(&self, key: &str) -> Option<Entry> {
        let now = self.clock.now_millis();
        lock(&self.entries)
            .get(key)
            .copied()
            .filter(|e| e.expires_ms > now)
    }

    /// Locks the map for a write, first dropping expired entries every `SWEEP_EVERY` writes so
    /// that keys nobody reads again cannot grow the map without bound.
    fn write_lock(&self, now: u64) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
        let mut entries = lock(&self.entries);
        let writes = self
            .writes
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        if writes % SWEEP_EVERY == SWEEP_EVERY - 1 {
            entries.retain(|_, e| e.expires_ms > now);
        }
        entries
    }
}

fn ttl_ms(ttl: Duration) -> u64 {
    u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX)
}

#[async_trait]
impl HotState for MemoryHotState {
    fn backend(&self) -> &'static str {
        "memory"
    }

    async fn ping(&self) -> StoreResult<()> {
        Ok(())
    }

    async fn incr(&self, key: &str, ttl: Duration) -> StoreResult<u64> {
        let now = self.clock.now_millis();
        let mut entries = self.write_lock(now);
        let entry = entries
            .entry(key.to_string())
            .and_modify(|e| {
                if e.expires_ms <= now {
                    *e = Entry {
                        value: 0,
                        expires_ms: now.saturating_add(ttl_ms(ttl)),
                    };
                }
            })
            .or_insert(Entry {
                value: 0,
                expires_ms: now.saturating_add(ttl_ms(ttl)),
            });
        entry.value += 1;
        Ok(entry.value)
    }

    async fn counter(&self, key: &str) -> StoreResult<u64> {
        Ok(self.live(key).map_or(0, |e| e.value))
    }

    async fn set_flag(&self, key: &str, ttl: Duration) -> StoreResult<()> {
        let now = self.clock.now_millis();
        let expires_ms = now.saturating_add(ttl_ms(ttl));
        self.write_lock(now).insert(
            key.to_string(),
            Entry {
                value: 1,
                expires_ms,
            },
        );
        Ok(())
    }

    async fn has_flag(&self, key: &str) -> StoreResult<bool> {
        Ok(self.live(key).is_some())
    }

    async fn remove(&self, key: &str) -> StoreResult<()> {
        lock(&self.entries).remove(key);
        Ok(())
    }
}

/// A poisoned lock only means another thread panicked mid-update of a plain map; the map itself
/// is still usable, so keep serving rather than cascading the panic.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conformance;
    use palisade_core::clock::ManualClock;
    use std::sync::Arc;

    #[tokio::test]
    async fn memory_store_conforms() {
        conformance::store_suite(&MemoryStore::default()).await;
    }

    #[tokio::test]
    async fn memory_hot_state_conforms() {
        let clock = Arc::new(ManualClock::starting_at(1_700_000_000_000));
        let hot = MemoryHotState::new(clock.clone());
        conformance::hot_state_suite(&hot, &|d| clock.advance(d)).await;
    }
}
