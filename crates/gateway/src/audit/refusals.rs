//! Sampling of refusal events for the audit trail: a flood of refusals leaves a bounded number
//! of stored events that still say how many refusals there were.
//!
//! A refusal's key is its caller (the actor when known; else the client IP, IPv4 per address
//! and IPv6 per /64, since one host holds a whole /64), its event type, its resource and its
//! `details.reason`. The first refusal of a key is stored at once; the ones after it within
//! `audit.refusal_sample_period` are only counted, and the next stored sample of the key (the
//! next refusal after the period, or the periodic [`RefusalSampler::flush`] once the period has
//! ended) carries in `details.count` every refusal since the previous sample. Overall at most
//! `audit.refusal_max_per_second` samples are stored per second; a sample the cap holds back
//! keeps its count for a later one (and is counted in [`SUPPRESSED_METRIC`]).
//!
//! Guarantees: for every key, the counts of its stored samples add up exactly to its refusals
//! once counts held are flushed (the server flushes ended periods every second and everything
//! at shutdown); memory is bounded by [`MAX_KEYS`] (when full, keys that hold nothing are
//! forgotten, and refusals of new callers are counted under one "overflow" caller per type and
//! reason, without actor or IP). Alert rules never see this sampling: [`AuditLog::record_refusal`]
//! offers every refusal to them first.
//!
//! [`AuditLog::record_refusal`]: crate::audit::AuditLog::record_refusal

use crate::audit::AuditEvent;
use palisade_core::clock::SharedClock;
use std::collections::HashMap;
use std::hash::{BuildHasher, Hash};
use std::net::IpAddr;
use std::sync::Mutex;

/// Every refusal recorded, by event type (sampled or not).
pub const REFUSALS_METRIC: &str = "palisade_audit_refusals_total";
/// Samples due to be stored but held back by `audit.refusal_max_per_second`.
pub const SUPPRESSED_METRIC: &str = "palisade_audit_refusals_suppressed_total";
/// Keys kept at most (all shards together).
pub const MAX_KEYS: usize = 100_000;
const SHARDS: usize = 16;

/// Who a refusal is counted against.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Who {
    Actor(String),
    V4([u8; 4]),
    /// The /64 network of an IPv6 address.
    V6([u8; 8]),
    Unknown,
    /// Callers beyond [`MAX_KEYS`], counted together.
    Overflow,
}

impl Who {
    fn of(event: &AuditEvent) -> Self {
        if let Some(actor) = &event.actor {
            return Who::Actor(actor.clone());
        }
        match event.client_ip.map(canonical_ip) {
            Some(IpAddr::V4(ip)) => Who::V4(ip.octets()),
            Some(IpAddr::V6(ip)) => {
                let mut net = [0u8; 8];
                net.copy_from_slice(&ip.octets()[..8]);
                Who::V6(net)
            }
            None => Who::Unknown,
        }
    }
}

/// An IPv4-mapped IPv6 address is the IPv4 address it maps.
fn canonical_ip(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Key {
    caller: Who,
    event_type: &'static str,
    resource: Option<String>,
    reason: Option<String>,
}

impl Key {
    fn of(event: &AuditEvent) -> Self {
        Self {
            caller: Who::of(event),
            event_type: event.event_type,
            resource: event.resource.clone(),
            reason: event
                .details
                .get("reason")
                .map(|r| r.as_str().map_or_else(|| r.to_string(), str::to_owned)),
        }
    }
}

#[derive(Debug, Default)]
struct Entry {
    /// Refusals since the last stored sample.
    pending: u64,
    last_stored_ms: Option<u64>,
    /// The latest refusal not stored: what a flushed sample looks like.
    held: Option<AuditEvent>,
}

impl Entry {
    fn due(&self, now: u64, period_ms: u64) -> bool {
        self.last_stored_ms
            .is_none_or(|t| now.saturating_sub(t) >= period_ms)
    }
}

/// The per-process sampler (replicas sample apart; alert counts are shared in hot state).
#[derive(Debug)]
pub struct RefusalSampler {
    period_ms: u64,
    max_per_second: u64,
    clock: SharedClock,
    shards: Vec<Mutex<HashMap<Key, Entry>>>,
    per_shard: usize,
    hasher: std::collections::hash_map::RandomState,
    /// (second, samples stored in it).
    budget: Mutex<(u64, u64)>,
}

/// The event with `details.count` set (details that are not an object are kept under `value`).
pub fn with_count(mut event: AuditEvent, count: u64) -> AuditEvent {
    let mut details = match std::mem::take(&mut event.details) {
        serde_json::Value::Object(map) => map,
        serde_json::Value::Null => serde_json::Map::new(),
        other => serde_json::Map::from_iter([("value".to_string(), other)]),
    };
    details.insert("count".into(), count.into());
    event.details = serde_json::Value::Object(details);
    event
}

impl RefusalSampler {
    /// A sampler with `audit.refusal_sample_period` and `audit.refusal_max_per_second`.
    pub fn new(config: &crate::config::audit::AuditConfig, clock: SharedClock) -> Self {
        Self::with_limits(
            config.refusal_sample_period.0.as_millis() as u64,
            config.refusal_max_per_second,
            MAX_KEYS,
            clock,
        )
    }

    fn with_limits(
        period_ms: u64,
        max_per_second: u64,
        max_keys: usize,
        clock: SharedClock,
    ) -> Self {
        metrics::describe_counter!(
            REFUSALS_METRIC,
            "Refusals recorded for the audit trail (every one, before sampling)"
        );
        metrics::describe_counter!(
            SUPPRESSED_METRIC,
            "Refusal samples held back by audit.refusal_max_per_second (their counts go into a later sample)"
        );
        metrics::counter!(SUPPRESSED_METRIC).increment(0);
        Self {
            period_ms: period_ms.max(1),
            max_per_second: max_per_second.max(1),
            clock,
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
            per_shard: max_keys.div_ceil(SHARDS).max(1),
            hasher: Default::default(),
            budget: Mutex::new((0, 0)),
        }
    }

    /// Counts one refusal; returns the sample to store now, if one is due.
    pub fn admit(&self, event: AuditEvent) -> Option<AuditEvent> {
        let now = self.clock.now_millis();
        let mut key = Key::of(&event);
        let mut shard = self.shards[self.hasher.hash_one(&key) as usize % SHARDS]
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if shard.len() >= self.per_shard && !shard.contains_key(&key) {
            let period = self.period_ms;
            shard.retain(|_, e| e.pending > 0 || !e.due(now, period));
            if shard.len() >= self.per_shard {
                key.caller = Who::Overflow;
            }
        }
        let overflow = key.caller == Who::Overflow;
        let entry = shard.entry(key).or_default();
        entry.pending += 1;
        if entry.due(now, self.period_ms) {
            if self.take_slot(now) {
                let count = std::mem::take(&mut entry.pending);
                entry.last_stored_ms = Some(now);
                entry.held = None;
                return Some(sample(event, count, overflow));
            }
            metrics::counter!(SUPPRESSED_METRIC).increment(1);
        }
        entry.held = Some(event);
        None
    }

    /// The samples of keys whose period has ended with refusals still uncounted (within the
    /// per-second cap), or with `all` every held count whatever the period and the cap (at
    /// shutdown). Keys that hold nothing and whose period has ended are forgotten.
    pub fn flush(&self, all: bool) -> Vec<AuditEvent> {
        let now = self.clock.now_millis();
        let period = self.period_ms;
        let mut out = Vec::new();
        for shard in &self.shards {
            let mut shard = shard.lock().unwrap_or_else(|e| e.into_inner());
            shard.retain(|key, e| {
                if e.pending > 0 && (all || e.due(now, period)) {
                    if all || self.take_slot(now) {
                        let count = std::mem::take(&mut e.pending);
                        e.last_stored_ms = Some(now);
                        if let Some(held) = e.held.take() {
                            out.push(sample(held, count, key.caller == Who::Overflow));
                        }
                    } else {
                        metrics::counter!(SUPPRESSED_METRIC).increment(1);
                    }
                }
                !all && (e.pending > 0 || !e.due(now, period))
            });
        }
        out
    }

    /// Keys held (for tests and metrics).
    pub fn keys(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.lock().unwrap_or_else(|e| e.into_inner()).len())
            .sum()
    }

    /// One more stored sample in this second, if the cap allows.
    fn take_slot(&self, now: u64) -> bool {
        let mut budget = self.budget.lock().unwrap_or_else(|e| e.into_inner());
        let second = now / 1000;
        if budget.0 != second {
            *budget = (second, 0);
        }
        if budget.1 < self.max_per_second {
            budget.1 += 1;
            true
        } else {
            false
        }
    }
}

fn sample(event: AuditEvent, count: u64, overflow: bool) -> AuditEvent {
    let mut event = with_count(event, count);
    if overflow {
        event.actor = None;
        event.client_ip = None;
        event.request_id = None;
        event.user_agent = None;
        if let Some(map) = event.details.as_object_mut() {
            map.insert("callers".into(), "overflow".into());
        }
    }
    event
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::{Outcome, Risk};
    use palisade_core::clock::ManualClock;
    use std::sync::Arc;
    use std::time::Duration;

    fn refusal(ip: &str, reason: &str) -> AuditEvent {
        AuditEvent {
            client_ip: Some(ip.parse().unwrap()),
            ..AuditEvent::new("auth.credential_rejected", Risk::Medium, Outcome::Denied)
        }
        .details(serde_json::json!({ "reason": reason, "credential": "bearer" }))
    }

    fn count(e: &AuditEvent) -> u64 {
        e.details["count"].as_u64().unwrap()
    }

    fn sampler(max_per_second: u64, max_keys: usize) -> (RefusalSampler, Arc<ManualClock>) {
        let clock = Arc::new(ManualClock::starting_at(1_000_000));
        (
            RefusalSampler::with_limits(10_000, max_per_second, max_keys, clock.clone()),
            clock,
        )
    }

    #[test]
    fn one_sample_per_key_and_period_and_the_counts_add_up() {
        let (s, clock) = sampler(100, 1000);
        let mut stored = Vec::new();
        let mut sent = 0;
        for round in 0..5 {
            for _ in 0..7 {
                for (ip, reason) in [
                    ("203.0.113.1", "expired"),
                    ("203.0.113.1", "bad-signature"),
                    ("2001:db8::1", "expired"),
                    ("2001:db8::2", "expired"),
                    ("2001:db8:0:1::1", "expired"),
                ] {
                    stored.extend(s.admit(refusal(ip, reason)));
                    sent += 1;
                }
            }
            assert_eq!(stored.len(), 4 * (round + 1), "one per key and period");
            stored.extend(s.flush(false));
            clock.advance(Duration::from_secs(10));
        }
        stored.extend(s.flush(false));
        assert_eq!(stored.iter().map(count).sum::<u64>(), sent);
        // The two addresses of 2001:db8::/64 share a key: 14 refusals per period between them.
        let v6: Vec<u64> = stored
            .iter()
            .filter(|e| e.client_ip.unwrap().to_string().starts_with("2001:db8::"))
            .map(count)
            .collect();
        assert_eq!(
            v6,
            [1, 14, 14, 14, 14, 13],
            "the first at once, then each period's count, then the flushed tail"
        );
        clock.advance(Duration::from_secs(10));
        assert!(s.flush(false).is_empty());
        assert_eq!(
            s.keys(),
            0,
            "keys holding nothing are forgotten after their period"
        );
    }

    #[test]
    fn a_lone_refusal_is_stored_and_the_held_tail_is_flushed_when_the_period_ends() {
        let (s, clock) = sampler(100, 1000);
        assert_eq!(
            count(&s.admit(refusal("198.51.100.7", "revoked")).unwrap()),
            1
        );
        for _ in 0..3 {
            assert!(s.admit(refusal("198.51.100.7", "revoked")).is_none());
        }
        assert!(s.flush(false).is_empty(), "the period has not ended");
        clock.advance(Duration::from_millis(9_999));
        assert!(s.flush(false).is_empty());
        clock.advance(Duration::from_millis(1));
        let tail = s.flush(false);
        assert_eq!(tail.iter().map(count).collect::<Vec<_>>(), [3]);
        assert!(
            s.admit(refusal("198.51.100.7", "revoked")).is_none(),
            "flushed just now"
        );
        let at_shutdown = s.flush(true);
        assert_eq!(at_shutdown.iter().map(count).collect::<Vec<_>>(), [1]);
        assert_eq!(s.keys(), 0);
    }

    #[test]
    fn the_cap_holds_samples_back_without_losing_their_counts() {
        let (s, clock) = sampler(2, 1000);
        let ips: Vec<String> = (1..=5).map(|i| format!("192.0.2.{i}")).collect();
        let mut stored: Vec<AuditEvent> = ips
            .iter()
            .filter_map(|ip| s.admit(refusal(ip, "malformed")))
            .collect();
        assert_eq!(stored.len(), 2, "two per second");
        clock.advance(Duration::from_secs(1));
        stored.extend(s.flush(false));
        assert_eq!(
            stored.len(),
            4,
            "held keys are due at once; the cap allows two more"
        );
        clock.advance(Duration::from_secs(1));
        stored.extend(s.flush(false));
        assert_eq!(stored.len(), 5);
        assert_eq!(stored.iter().map(count).sum::<u64>(), 5);
    }

    #[test]
    fn past_the_key_limit_new_callers_share_one_overflow_key() {
        let (s, clock) = sampler(1_000, SHARDS);
        let mut stored = Vec::new();
        for i in 0..200u32 {
            let ip = std::net::Ipv4Addr::from(0x0a00_0000 + i).to_string();
            stored.extend(s.admit(refusal(&ip, "expired")));
        }
        assert!(s.keys() <= 2 * SHARDS, "bounded: {}", s.keys());
        clock.advance(Duration::from_secs(10));
        stored.extend(s.flush(true));
        assert_eq!(stored.iter().map(count).sum::<u64>(), 200);
        let overflow: Vec<&AuditEvent> = stored
            .iter()
            .filter(|e| e.details.get("callers").is_some())
            .collect();
        assert!(!overflow.is_empty());
        assert!(overflow.iter().all(|e| e.client_ip.is_none()));
    }

    #[test]
    fn actors_are_keyed_by_actor_and_mapped_ipv4_by_its_address() {
        let (s, _) = sampler(100, 1000);
        assert!(s.admit(refusal("192.0.2.9", "expired")).is_some());
        assert!(s.admit(refusal("::ffff:192.0.2.9", "expired")).is_none());
        let by_actor = |ip| refusal(ip, "revoked").actor("user-1");
        assert!(s.admit(by_actor("192.0.2.1")).is_some());
        assert!(
            s.admit(by_actor("192.0.2.2")).is_none(),
            "one actor, any address"
        );
    }
}
