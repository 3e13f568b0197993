//! A replica's local read cache in front of a shared hot state (Redis): flag reads — token,
//! session and key revocations, IP blocks, login delays — are answered from memory, so the hot
//! path does not pay a round trip per request, while a flag change holds on every replica by
//! the time the call that made it returns.
//!
//! How it stays correct: a flag set or removed through any replica is published on the hot
//! state's broadcast (`flag` topic, body `key` and a nonce); every replica's listener drops that
//! key from its cache and then acknowledges (increments `ack:<nonce>` in the shared state). The
//! writer drops the key locally, publishes, and waits until as many acknowledgements arrived as
//! the broadcast reached receivers, or at most `ttl`, the age past which no cached verdict is
//! served anyway: either way, when `set_flag` or `remove` returns no replica answers from the
//! old verdict (a request already past its lookup may still finish). Cached verdicts also
//! expire after `ttl` (defence in depth), a cached "set" never outlives the flag's own TTL, and
//! while the listener is not connected (start, a Redis outage, a missed-messages notice) the
//! cache is emptied and bypassed: every read goes to the shared state, and a read that fails
//! fails (the gates then refuse: fail closed). Counters and listings are never cached.
//!
//! IP blocks are the exception that keeps an outage from closing the whole gateway: each
//! replica mirrors the complete block list (loaded every 10 s and kept current by the same
//! notices), and a block lookup the shared state cannot answer is answered from the mirror.
//! The mirror holds every block that existed when the shared state went away (no replica can
//! place a new one without it), so a blocked address stays blocked. Revocation lookups have no
//! such mirror: they fail, and the request is refused with 503. The same holds when Redis lost
//! its memory (a flush: see the epoch in `palisade_store::redis_hot`) until it is primed again
//! from the store (`identity/revocations.rs`); the mirror is not reloaded from a Redis in that
//! state, as its listing fails too.

use async_trait::async_trait;
use palisade_core::clock::SharedClock;
use palisade_store::{HotState, Notice, SharedHotState, StoreResult};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

const TOPIC: &str = "flag";
/// How long an acknowledgement counter lives in the shared state (longer than any wait).
const ACK_TTL: Duration = Duration::from_secs(60);
/// Flags mirrored in full by every replica (see the module doc).
const MIRRORED: &str = crate::identity::brute::BLOCK_PREFIX;

/// Moves after a listener dropped a flag another replica set or removed from its cache (so a
/// read that follows sees the shared state): live WebSocket relays re-check their credential
/// on it. One for the process: a relay of another gateway in the same process re-checks too,
/// against its own hot state, and finds nothing new.
static FLAG_CHANGES: std::sync::LazyLock<tokio::sync::watch::Sender<u64>> =
    std::sync::LazyLock::new(|| tokio::sync::watch::Sender::new(0));

/// A receiver of the process-wide flag-change counter (`FLAG_CHANGES` above).
pub fn flag_changes() -> tokio::sync::watch::Receiver<u64> {
    FLAG_CHANGES.subscribe()
}

/// A cached verdict: the flag's end (ms on the injected clock), or `None` for "not set".
type Verdict = Option<u64>;

/// Hot state behind the per-replica flag cache (see the module).
#[derive(Debug)]
pub struct CachedHotState {
    inner: SharedHotState,
    cache: moka::sync::Cache<String, Verdict>,
    /// How long a verdict is served from memory; also the longest a change waits for replicas.
    ttl: Duration,
    listening: Arc<AtomicBool>,
    /// Bumped by every invalidation: a read that raced with one is not cached.
    generation: AtomicU64,
    /// Every live block: key → end (ms on the injected clock).
    mirror: std::sync::Mutex<std::collections::HashMap<String, u64>>,
    clock: SharedClock,
}

impl CachedHotState {
    /// Wraps `inner` and starts the invalidation listener on the current runtime.
    pub fn start(inner: SharedHotState, clock: SharedClock, ttl: Duration) -> Arc<Self> {
        let this = Arc::new(Self {
            inner,
            cache: moka::sync::Cache::builder()
                .max_capacity(100_000)
                .time_to_live(ttl)
                .build(),
            ttl,
            listening: Arc::new(AtomicBool::new(false)),
            generation: AtomicU64::new(0),
            mirror: Default::default(),
            clock,
        });
        tokio::spawn(listen(Arc::downgrade(&this)));
        tokio::spawn(sync_mirror(Arc::downgrade(&this)));
        this
    }

    fn mirror_set(&self, key: &str, left: Option<Duration>) {
        if !key.starts_with(MIRRORED) {
            return;
        }
        let mut mirror = self.mirror.lock().unwrap_or_else(|e| e.into_inner());
        match left {
            Some(d) => {
                mirror.insert(
                    key.to_owned(),
                    self.clock.now_millis() + d.as_millis() as u64,
                );
            }
            None => {
                mirror.remove(key);
            }
        }
    }

    fn mirror_get(&self, key: &str) -> Option<Duration> {
        let now = self.clock.now_millis();
        let mirror = self.mirror.lock().unwrap_or_else(|e| e.into_inner());
        mirror
            .get(key)
            .filter(|until| **until > now)
            .map(|until| Duration::from_millis(until - now))
    }

    /// True while invalidations are being received (the cache is in use).
    pub fn is_listening(&self) -> bool {
        self.listening.load(Ordering::SeqCst)
    }

    fn cached(&self, key: &str) -> Option<Verdict> {
        if !self.is_listening() {
            return None;
        }
        let verdict = self.cache.get(key)?;
        match verdict {
            Some(until) if until <= self.clock.now_millis() => {
                self.cache.invalidate(key);
                None
            }
            v => Some(v),
        }
    }

    fn forget(&self, key: &str) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        self.cache.invalidate(key);
    }

    fn forget_all(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        self.cache.invalidate_all();
    }

    fn remember(&self, key: &str, left: Option<Duration>, read_at_generation: u64) {
        if self.is_listening() && self.generation.load(Ordering::SeqCst) == read_at_generation {
            let until = left.map(|d| self.clock.now_millis() + d.as_millis() as u64);
            self.cache.insert(key.to_owned(), until);
        }
    }

    /// Drops `key` here, tells every replica, and returns once each has dropped it (see the
    /// module doc).
    async fn changed(&self, key: &str) -> StoreResult<()> {
        self.forget(key);
        let nonce = uuid::Uuid::now_v7().simple().to_string();
        let receivers = match self.inner.publish(TOPIC, &format!("{key}\n{nonce}")).await {
            Ok(n) => n,
            Err(e) => {
                // Other replicas may now serve a stale verdict until their entries expire.
                tracing::warn!(error = %e, "flag change not broadcast; other replicas' caches expire it");
                return Err(e);
            }
        };
        self.await_acks(&nonce, receivers).await;
        Ok(())
    }

    /// Waits until `receivers` listeners acknowledged the change `nonce`, or `ttl` passed (by
    /// then a silent replica's cached verdict has expired as well).
    async fn await_acks(&self, nonce: &str, receivers: u64) {
        let key = ack_key(nonce);
        let deadline = tokio::time::Instant::now() + self.ttl;
        let mut pause = Duration::from_millis(1);
        if receivers == 0 {
            return;
        }
        loop {
            if matches!(self.inner.counter(&key).await, Ok(n) if n >= receivers) {
                return;
            }
            if tokio::time::Instant::now() + pause > deadline {
                metrics::counter!("palisade_hot_state_unacknowledged_changes_total").increment(1);
                tracing::warn!(
                    receivers,
                    "a flag change was not acknowledged by every replica; waited out the cache TTL"
                );
                tokio::time::sleep_until(deadline).await;
                return;
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_millis(50));
        }
    }
}

fn ack_key(nonce: &str) -> String {
    format!("ack:{nonce}")
}

async fn listen(this: std::sync::Weak<CachedHotState>) {
    loop {
        let Some(me) = this.upgrade() else { return };
        let subscribed = me.inner.subscribe().await;
        drop(me);
        let mut sub = match subscribed {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, "hot-state broadcast unavailable; flag cache bypassed");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        if let Some(me) = this.upgrade() {
            me.forget_all();
            me.listening.store(true, Ordering::SeqCst);
        }
        loop {
            let notice = sub.recv().await;
            let Some(me) = this.upgrade() else { return };
            match notice {
                Some(Notice::Message { topic, body }) if topic == TOPIC => {
                    let (key, nonce) = body.split_once('\n').unwrap_or((&body, ""));
                    me.forget(key);
                    if !nonce.is_empty()
                        && let Err(e) = me.inner.incr(&ack_key(nonce), ACK_TTL).await
                    {
                        tracing::warn!(error = %e, "cannot acknowledge a flag change");
                    }
                    FLAG_CHANGES.send_modify(|n| *n = n.wrapping_add(1));
                    if key.starts_with(MIRRORED)
                        && let Ok(left) = me.inner.flag_ttl(key).await
                    {
                        me.mirror_set(key, left);
                    }
                }
                Some(Notice::Message { .. }) => {}
                Some(Notice::Missed) => me.forget_all(),
                None => {
                    me.listening.store(false, Ordering::SeqCst);
                    me.forget_all();
                    break;
                }
            }
        }
    }
}

/// Reloads the whole block mirror now and every 10 s (while the shared state answers).
async fn sync_mirror(this: std::sync::Weak<CachedHotState>) {
    let mut every = tokio::time::interval(Duration::from_secs(10));
    loop {
        every.tick().await;
        let Some(me) = this.upgrade() else { return };
        if let Ok(blocks) = me.inner.flags_with_prefix(MIRRORED).await {
            let now = me.clock.now_millis();
            let fresh = blocks
                .into_iter()
                .map(|(k, left)| (k, now + left.as_millis() as u64))
                .collect();
            *me.mirror.lock().unwrap_or_else(|e| e.into_inner()) = fresh;
        }
    }
}

#[async_trait]
impl HotState for CachedHotState {
    fn backend(&self) -> &'static str {
        self.inner.backend()
    }

    async fn ping(&self) -> StoreResult<()> {
        self.inner.ping().await
    }

    async fn incr(&self, key: &str, ttl: Duration) -> StoreResult<u64> {
        self.inner.incr(key, ttl).await
    }

    async fn counter(&self, key: &str) -> StoreResult<u64> {
        self.inner.counter(key).await
    }

    async fn counter_sum(&self, keys: &[String]) -> StoreResult<u64> {
        self.inner.counter_sum(keys).await
    }

    async fn set_flag(&self, key: &str, ttl: Duration) -> StoreResult<()> {
        self.inner.set_flag(key, ttl).await?;
        self.mirror_set(key, Some(ttl));
        self.changed(key).await
    }

    async fn has_flag(&self, key: &str) -> StoreResult<bool> {
        Ok(self.flag_ttl(key).await?.is_some())
    }

    async fn flag_ttl(&self, key: &str) -> StoreResult<Option<Duration>> {
        if let Some(verdict) = self.cached(key) {
            let now = self.clock.now_millis();
            return Ok(verdict.map(|until| Duration::from_millis(until.saturating_sub(now))));
        }
        let generation = self.generation.load(Ordering::SeqCst);
        let left = match self.inner.flag_ttl(key).await {
            Ok(left) => left,
            Err(e) if key.starts_with(MIRRORED) => {
                metrics::counter!("palisade_hot_state_mirror_answers_total").increment(1);
                tracing::debug!(error = %e, "block lookup answered from the replica's mirror");
                return Ok(self.mirror_get(key));
            }
            Err(e) => return Err(e),
        };
        self.mirror_set(key, left);
        self.remember(key, left, generation);
        Ok(left)
    }

    async fn flags_with_prefix(&self, prefix: &str) -> StoreResult<Vec<(String, Duration)>> {
        self.inner.flags_with_prefix(prefix).await
    }

    async fn remove(&self, key: &str) -> StoreResult<()> {
        self.inner.remove(key).await?;
        self.mirror_set(key, None);
        self.changed(key).await
    }

    /// Priming writes through (no broadcast: see the trait) and keeps the block mirror current.
    async fn restore_flags(&self, flags: &[(String, Duration)]) -> StoreResult<()> {
        self.inner.restore_flags(flags).await?;
        for (key, ttl) in flags {
            self.mirror_set(key, Some(*ttl));
            self.forget(key);
        }
        Ok(())
    }

    async fn prime_begin(&self) -> StoreResult<String> {
        self.inner.prime_begin().await
    }

    async fn prime_end(&self, ticket: &str) -> StoreResult<bool> {
        let primed = self.inner.prime_end(ticket).await?;
        if primed {
            self.forget_all();
        }
        Ok(primed)
    }

    async fn lost_memory(&self) -> StoreResult<bool> {
        self.inner.lost_memory().await
    }

    async fn publish(&self, topic: &str, body: &str) -> StoreResult<u64> {
        self.inner.publish(topic, body).await
    }

    async fn subscribe(&self) -> StoreResult<palisade_store::Subscription> {
        self.inner.subscribe().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use palisade_core::clock::SystemClock;
    use palisade_store::memory::MemoryHotState;

    /// Two replicas over one shared state: once `set_flag` returns on one, the other no longer
    /// answers from the "not set" it cached. A single-threaded runtime runs the other replica's
    /// listener only when the writer yields, so without the wait for acknowledgements the stale
    /// verdict would be served here every time.
    #[tokio::test(flavor = "current_thread")]
    async fn a_change_holds_on_every_replica_when_the_call_returns() {
        let clock: SharedClock = Arc::new(SystemClock);
        let shared: SharedHotState = Arc::new(MemoryHotState::new(clock.clone()));
        let ttl = Duration::from_secs(30);
        let (a, b) = (
            CachedHotState::start(shared.clone(), clock.clone(), ttl),
            CachedHotState::start(shared, clock, ttl),
        );
        while !(a.is_listening() && b.is_listening()) {
            tokio::task::yield_now().await;
        }
        let key = "rv:key:k1";
        assert_eq!(b.flag_ttl(key).await.unwrap(), None);
        assert_eq!(b.cached(key), Some(None), "b caches the verdict");

        a.set_flag(key, Duration::from_secs(600)).await.unwrap();
        assert!(
            b.flag_ttl(key).await.unwrap().is_some(),
            "b sees the new flag"
        );
        assert!(a.flag_ttl(key).await.unwrap().is_some());

        b.remove(key).await.unwrap();
        assert_eq!(a.flag_ttl(key).await.unwrap(), None, "a sees the removal");
    }
}
