//! The stale fallback shared by every replica, used when hot state is Redis: the last good GET
//! answer one replica kept can be served by another while the upstream's circuit is open.
//!
//! Guarantees:
//! - **Same key, same rules as the in-process cache**: an entry belongs to one route, one path
//!   and query, and one caller (API key, account or client IP: `CallerKey`); only answers
//!   `Resilience::keepable` accepts are stored (entry size cap included); an answer older than
//!   `fallback_max_age` on the gateway's clock is never served.
//! - **Sealed**: status, headers, body and the instants it was stored and expires are
//!   field-encrypted with the keyring (AES-256-GCM under the primary data key), the cache key
//!   bound in as associated data (table `stale_fallback`, column `entry`, row id the
//!   length-prefixed route, target and caller), so Redis holds no plaintext and an entry copied
//!   under another caller's key does not open. Redis key names are hashes
//!   ([`palisade_store::redis_stale::StaleId`]).
//! - **Fails to no fallback**: a Redis error, a value that does not decrypt (tampered, or under a
//!   retired data key) or does not parse is served as if nothing were kept — the ordinary 503
//!   `circuit-open` — counted in `palisade_stale_fallback_errors_total{reason}` and logged
//!   without any of the entry's content.
//! - **Off the request path**: storing is a spawned task, at most `fallback_store_queue` at once;
//!   a store beyond them is dropped (`palisade_stale_fallback_stores_total{result="dropped"}`).
//!   A key this replica stored less than `fallback_refresh` ago is not stored again
//!   (`result="fresh"`), so a hot GET does not write Redis each time; the shared copy is then at
//!   most `fallback_refresh` older than the last good answer this replica saw.
//! - **Bounded in Redis**: at most `fallback_max_entries` entries, each expiring (garbage
//!   collection only) `fallback_max_age` plus the hot state's expiry margin after it was written
//!   (see [`palisade_store::redis_stale`]).

use crate::config::traffic::CircuitBreakerConfig;
use crate::protect::keyring::KeyringService;
use crate::route::resilience::Stored;
use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use palisade_core::clock::SharedClock;
use palisade_core::crypto::field::FieldContext;
use palisade_store::redis_stale::{RedisStale, StaleId};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;

/// What the plaintext of an entry starts with (the layout's version).
const MAGIC: &[u8; 4] = b"psf1";

/// The stale fallback on Redis; see the module documentation.
#[derive(Debug)]
pub struct SharedStale {
    redis: RedisStale,
    keyring: Arc<KeyringService>,
    clock: SharedClock,
    max_age: Duration,
    max_entries: u64,
    refresh_ms: u64,
    writes: Arc<Semaphore>,
    queue: u32,
    /// When this replica last stored each key (ms on the injected clock).
    noted: moka::sync::Cache<StaleId, u64>,
}

/// One cache key: its Redis id and the row id its ciphertext is bound to.
struct Key {
    id: StaleId,
    row: String,
}

impl Key {
    fn new(route: &str, target: &str, caller: &str) -> Key {
        Key {
            id: StaleId::derive(&[route.as_bytes(), target.as_bytes(), caller.as_bytes()]),
            row: format!(
                "{}:{route}|{}:{target}|{}:{caller}",
                route.len(),
                target.len(),
                caller.len()
            ),
        }
    }

    fn context(&self) -> FieldContext<'_> {
        FieldContext::new("stale_fallback", "entry", &self.row)
    }
}

fn failed(reason: &'static str) {
    metrics::counter!("palisade_stale_fallback_errors_total", "reason" => reason).increment(1);
}

fn stored(result: &'static str) {
    metrics::counter!("palisade_stale_fallback_stores_total", "result" => result).increment(1);
}

impl SharedStale {
    /// The shared fallback on `redis`, sealed by `keyring`, with the caps of `config`.
    pub fn new(
        redis: RedisStale,
        keyring: Arc<KeyringService>,
        clock: SharedClock,
        config: &CircuitBreakerConfig,
    ) -> Arc<Self> {
        let queue = config.fallback_store_queue.clamp(1, 4096) as u32;
        Arc::new(Self {
            redis,
            keyring,
            clock,
            max_age: config.fallback_max_age.0,
            max_entries: config.fallback_max_entries,
            refresh_ms: config.fallback_refresh.0.as_millis() as u64,
            writes: Arc::new(Semaphore::new(queue as usize)),
            queue,
            noted: moka::sync::Cache::new(config.fallback_max_entries.max(1)),
        })
    }

    /// Stores `answer` for `route`, `target` and `caller` off the request path, unless this
    /// replica stored it recently or too many stores are in flight.
    pub fn keep(self: &Arc<Self>, route: &str, target: &str, caller: &str, answer: Stored) {
        let key = Key::new(route, target, caller);
        let now = self.clock.now_millis();
        if self
            .noted
            .get(&key.id)
            .is_some_and(|at| now.saturating_sub(at) < self.refresh_ms)
        {
            stored("fresh");
            return;
        }
        let Ok(permit) = self.writes.clone().try_acquire_owned() else {
            stored("dropped");
            return;
        };
        self.noted.insert(key.id, now);
        let this = self.clone();
        tokio::spawn(async move {
            let _permit = permit;
            let expires = answer
                .stored_at_ms
                .saturating_add(this.max_age.as_millis() as u64);
            let sealed = this
                .keyring
                .encrypt(&key.context(), &encode(&answer, expires));
            let put = this.redis.put(
                &key.id,
                sealed.as_bytes(),
                now,
                this.max_age,
                this.max_entries,
            );
            match put.await {
                Ok(evicted) => {
                    stored("stored");
                    if evicted > 0 {
                        metrics::counter!("palisade_stale_fallback_evicted_total")
                            .increment(evicted);
                    }
                }
                Err(e) => {
                    this.noted.invalidate(&key.id);
                    failed("redis_write");
                    tracing::warn!(error = %e, "stale fallback answer not stored in hot state");
                }
            }
        });
    }

    /// The answer kept for `route`, `target` and `caller`, if any replica stored one that is
    /// still young enough and opens under this key; `None` on any failure (see the module).
    pub async fn get(&self, route: &str, target: &str, caller: &str) -> Option<Arc<Stored>> {
        let key = Key::new(route, target, caller);
        let raw = match self.redis.get(&key.id).await {
            Ok(raw) => raw?,
            Err(e) => {
                failed("redis_read");
                tracing::warn!(error = %e, "stale fallback unavailable: hot state did not answer");
                return None;
            }
        };
        let opened = match std::str::from_utf8(&raw) {
            Ok(text) => self.keyring.decrypt(&key.context(), text).await.ok(),
            Err(_) => None,
        };
        let Some(plain) = opened else {
            failed("decrypt");
            tracing::warn!("stale fallback entry in hot state does not decrypt; not served");
            return None;
        };
        let Some((answer, expires)) = decode(&plain) else {
            failed("format");
            tracing::warn!("stale fallback entry in hot state is malformed; not served");
            return None;
        };
        let now = self.clock.now_millis();
        let age = now.saturating_sub(answer.stored_at_ms);
        (now <= expires && age <= self.max_age.as_millis() as u64).then(|| Arc::new(answer))
    }

    /// Waits until every store in flight now has finished (tests wait on it for a store).
    pub async fn settle(&self) {
        if let Ok(all) = self.writes.acquire_many(self.queue).await {
            drop(all);
        }
    }
}

/// `psf1`, stored and expiry instants (u64 ms), status (u16), header count (u16), each header
/// as name (u16 length) and value (u32 length), then the body. Big-endian throughout.
fn encode(answer: &Stored, expires_ms: u64) -> Vec<u8> {
    let headers: usize = answer
        .headers
        .iter()
        .map(|(n, v)| 6 + n.as_str().len() + v.len())
        .sum();
    let mut out = Vec::with_capacity(24 + headers + answer.body.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&answer.stored_at_ms.to_be_bytes());
    out.extend_from_slice(&expires_ms.to_be_bytes());
    out.extend_from_slice(&answer.status.as_u16().to_be_bytes());
    let kept: Vec<_> = answer
        .headers
        .iter()
        .filter(|(n, v)| n.as_str().len() <= usize::from(u16::MAX) && v.len() <= u32::MAX as usize)
        .take(usize::from(u16::MAX))
        .collect();
    out.extend_from_slice(&(kept.len() as u16).to_be_bytes());
    for (name, value) in kept {
        out.extend_from_slice(&(name.as_str().len() as u16).to_be_bytes());
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(&(value.len() as u32).to_be_bytes());
        out.extend_from_slice(value.as_bytes());
    }
    out.extend_from_slice(&answer.body);
    out
}

/// Reads [`encode`]'s layout back: the answer and its expiry, or `None` for anything else.
fn decode(bytes: &[u8]) -> Option<(Stored, u64)> {
    let mut r = Reader(bytes);
    if r.take(4)? != MAGIC {
        return None;
    }
    let stored_at_ms = u64::from_be_bytes(r.take(8)?.try_into().ok()?);
    let expires_ms = u64::from_be_bytes(r.take(8)?.try_into().ok()?);
    let status = StatusCode::from_u16(r.u16()?).ok()?;
    let count = r.u16()?;
    let mut headers = HeaderMap::with_capacity(usize::from(count));
    for _ in 0..count {
        let len = usize::from(r.u16()?);
        let name = HeaderName::from_bytes(r.take(len)?).ok()?;
        let len = u32::from_be_bytes(r.take(4)?.try_into().ok()?) as usize;
        let value = HeaderValue::from_bytes(r.take(len)?).ok()?;
        headers.append(name, value);
    }
    let answer = Stored {
        status,
        headers,
        body: Bytes::copy_from_slice(r.0),
        stored_at_ms,
    };
    Some((answer, expires_ms))
}

/// A cursor over a byte slice that fails instead of panicking.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Some(head)
    }

    fn u16(&mut self) -> Option<u16> {
        Some(u16::from_be_bytes(self.take(2)?.try_into().ok()?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer() -> Stored {
        let mut headers = HeaderMap::new();
        headers.insert("content-type", HeaderValue::from_static("application/json"));
        headers.append("vary", HeaderValue::from_static("accept"));
        headers.append("vary", HeaderValue::from_static("origin"));
        Stored {
            status: StatusCode::OK,
            headers,
            body: Bytes::from_static(b"{\"items\":[1,2,3]}"),
            stored_at_ms: 1_700_000_000_000,
        }
    }

    #[test]
    fn entries_round_trip_with_every_header_and_their_expiry() {
        let a = answer();
        let (back, expires) = decode(&encode(&a, 1_700_000_060_000)).unwrap();
        assert_eq!(expires, 1_700_000_060_000);
        assert_eq!(back.status, a.status);
        assert_eq!(back.headers, a.headers);
        assert_eq!(back.body, a.body);
        assert_eq!(back.stored_at_ms, a.stored_at_ms);
    }

    #[test]
    fn truncated_or_foreign_bytes_are_refused_without_panicking() {
        let bytes = encode(&answer(), 1);
        let body = answer().body.len();
        for cut in 0..bytes.len() - body {
            assert!(decode(&bytes[..cut]).is_none(), "cut at {cut}");
        }
        let mut foreign = bytes.clone();
        foreign[0] = b'x';
        assert!(decode(&foreign).is_none());
        let mut bad_status = bytes;
        bad_status[20..22].copy_from_slice(&1u16.to_be_bytes());
        assert!(decode(&bad_status).is_none());
    }

    #[test]
    fn keys_bind_route_target_and_caller_unambiguously() {
        let a = Key::new("api", "/x", "ip:10.0.0.1");
        let b = Key::new("api", "/x", "ip:10.0.0.2");
        let c = Key::new("api", "/xip:10.0.0.1", "");
        assert_ne!(a.id, b.id);
        assert_ne!(a.row, b.row);
        assert_ne!(a.row, c.row);
        assert_ne!(a.id, c.id);
    }
}
