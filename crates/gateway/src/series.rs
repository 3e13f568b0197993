//! The console dashboard's per-replica series: the last hour of requests in one-minute buckets,
//! kept in memory and filled by the respond gate from every answer (`GET
//! /admin/dashboard/series` reads it).
//!
//! Each bucket counts requests, answers with 429, refusals by gate and reason, and latencies in
//! a fixed histogram (bounds growing by 1.5x from 0.1 ms to 28.6 s), from which p50 and p99 are
//! read as the upper bound of the bucket they fall in (so within a factor 1.5 of the truth).
//!
//! Cost on the hot path: one clock read, a few relaxed atomic increments in a fixed ring of 60
//! buckets, no allocation; a refusal also takes its bucket's small lock (a fixed table of
//! [`REFUSAL_SLOTS`] gate/reason pairs, the rest counted as `other:other`). The first request of
//! a new minute takes the bucket's lock once to clear what it held an hour before.
//!
//! Guarantees: a bucket only ever holds its own minute (minutes come from the injected clock, so
//! tests move them by hand); a reader sees the last 60 minutes ending with the current one,
//! oldest first, empty minutes as zeros. A request recorded at the very moment its bucket is
//! cleared for a new minute may be lost: the series is a dashboard, not an account.

use http::StatusCode;
use palisade_core::clock::SharedClock;
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::Duration;
use utoipa::ToSchema;

/// Buckets kept: one hour.
pub const BUCKETS: u64 = 60;
/// One bucket's span, in seconds.
pub const BUCKET_SECS: u64 = 60;
/// Distinct gate/reason pairs counted per bucket; more fall under `other:other`.
pub const REFUSAL_SLOTS: usize = 16;
/// Latency histogram bounds, microseconds: 100 µs growing by 1.5x.
const LATENCY_BOUNDS_US: [u64; 32] = latency_bounds();

const fn latency_bounds() -> [u64; 32] {
    let mut b = [100u64; 32];
    let mut i = 1;
    while i < 32 {
        b[i] = b[i - 1] * 3 / 2;
        i += 1;
    }
    b
}

/// Refusals of one minute by gate and reason.
#[derive(Debug)]
struct Refusals {
    slots: [(&'static str, &'static str, u64); REFUSAL_SLOTS],
    used: usize,
    other: u64,
}

impl Refusals {
    const EMPTY: Refusals = Refusals {
        slots: [("", "", 0); REFUSAL_SLOTS],
        used: 0,
        other: 0,
    };

    fn count(&mut self, gate: &'static str, reason: &'static str) {
        let used = &mut self.slots[..self.used];
        if let Some(slot) = used.iter_mut().find(|s| s.0 == gate && s.1 == reason) {
            slot.2 += 1;
        } else if self.used < REFUSAL_SLOTS {
            self.slots[self.used] = (gate, reason, 1);
            self.used += 1;
        } else {
            self.other += 1;
        }
    }
}

/// One minute's counts.
#[derive(Debug)]
struct Bucket {
    /// The minute (Unix minutes + 1) the counts belong to; 0: never used.
    minute: AtomicU64,
    requests: AtomicU64,
    rate_limited: AtomicU64,
    /// One count per bound of [`LATENCY_BOUNDS_US`], and one for slower answers.
    latency: [AtomicU32; 33],
    refusals: Mutex<Refusals>,
}

impl Bucket {
    fn new() -> Self {
        Bucket {
            minute: AtomicU64::new(0),
            requests: AtomicU64::new(0),
            rate_limited: AtomicU64::new(0),
            latency: [const { AtomicU32::new(0) }; 33],
            refusals: Mutex::new(Refusals::EMPTY),
        }
    }

    /// Makes the bucket `tag`'s (clearing an older minute's counts). False when it already
    /// holds a newer minute: the caller's request is older than an hour.
    fn claim(&self, tag: u64) -> bool {
        let held = self.minute.load(Ordering::Acquire);
        if held == tag {
            return true;
        }
        if held > tag {
            return false;
        }
        let mut refusals = self.refusals.lock().unwrap_or_else(|e| e.into_inner());
        let held = self.minute.load(Ordering::Acquire);
        if held < tag {
            self.requests.store(0, Ordering::Relaxed);
            self.rate_limited.store(0, Ordering::Relaxed);
            for c in &self.latency {
                c.store(0, Ordering::Relaxed);
            }
            *refusals = Refusals::EMPTY;
            self.minute.store(tag, Ordering::Release);
        }
        held <= tag
    }
}

/// One minute as the dashboard reads it.
#[derive(Debug, Serialize, ToSchema)]
pub struct BucketView {
    /// Unix seconds of the minute's start.
    pub start: u64,
    /// Answers given.
    pub requests: u64,
    /// Refusals by `"<gate>:<reason>"`.
    pub refusals: BTreeMap<String, u64>,
    /// Answers with 429.
    pub rate_limited: u64,
    /// Median latency, milliseconds (`null` without requests).
    pub p50_ms: Option<f64>,
    /// 99th percentile latency, milliseconds (`null` without requests).
    pub p99_ms: Option<f64>,
}

/// This replica's last hour.
#[derive(Debug)]
pub struct Series {
    clock: SharedClock,
    buckets: Box<[Bucket]>,
}

impl Series {
    /// An empty series reading minutes from `clock`.
    pub fn new(clock: SharedClock) -> Self {
        Series {
            clock,
            buckets: (0..BUCKETS).map(|_| Bucket::new()).collect(),
        }
    }

    /// Counts one answer.
    pub fn record(
        &self,
        status: StatusCode,
        elapsed: Duration,
        refusal: Option<(&'static str, &'static str)>,
    ) {
        let minute = self.clock.now_millis() / 1000 / BUCKET_SECS;
        let bucket = &self.buckets[(minute % BUCKETS) as usize];
        if !bucket.claim(minute + 1) {
            return;
        }
        bucket.requests.fetch_add(1, Ordering::Relaxed);
        if status == StatusCode::TOO_MANY_REQUESTS {
            bucket.rate_limited.fetch_add(1, Ordering::Relaxed);
        }
        let us = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        let slot = LATENCY_BOUNDS_US.partition_point(|&b| b < us);
        bucket.latency[slot].fetch_add(1, Ordering::Relaxed);
        if let Some((gate, reason)) = refusal {
            let mut r = bucket.refusals.lock().unwrap_or_else(|e| e.into_inner());
            // Counted only if the bucket still holds this minute.
            if bucket.minute.load(Ordering::Acquire) == minute + 1 {
                r.count(gate, reason);
            }
        }
    }

    /// The last [`BUCKETS`] minutes ending with the current one, oldest first.
    pub fn snapshot(&self) -> Vec<BucketView> {
        let now = self.clock.now_millis() / 1000 / BUCKET_SECS;
        (now.saturating_sub(BUCKETS - 1)..=now)
            .map(|minute| {
                let bucket = &self.buckets[(minute % BUCKETS) as usize];
                let mut view = BucketView {
                    start: minute * BUCKET_SECS,
                    requests: 0,
                    refusals: BTreeMap::new(),
                    rate_limited: 0,
                    p50_ms: None,
                    p99_ms: None,
                };
                let refusals = bucket.refusals.lock().unwrap_or_else(|e| e.into_inner());
                if bucket.minute.load(Ordering::Acquire) != minute + 1 {
                    return view;
                }
                view.requests = bucket.requests.load(Ordering::Relaxed);
                view.rate_limited = bucket.rate_limited.load(Ordering::Relaxed);
                for (gate, reason, n) in &refusals.slots[..refusals.used] {
                    view.refusals.insert(format!("{gate}:{reason}"), *n);
                }
                if refusals.other > 0 {
                    view.refusals.insert("other:other".into(), refusals.other);
                }
                let counts: Vec<u64> = bucket
                    .latency
                    .iter()
                    .map(|c| u64::from(c.load(Ordering::Relaxed)))
                    .collect();
                view.p50_ms = quantile_ms(&counts, 0.50);
                view.p99_ms = quantile_ms(&counts, 0.99);
                view
            })
            .collect()
    }
}

/// The upper bound (ms) of the histogram bucket holding quantile `q`; `None` when empty.
fn quantile_ms(counts: &[u64], q: f64) -> Option<f64> {
    let total: u64 = counts.iter().sum();
    if total == 0 {
        return None;
    }
    let rank = ((q * total as f64).ceil() as u64).max(1);
    let mut seen = 0;
    for (i, n) in counts.iter().enumerate() {
        seen += n;
        if seen >= rank {
            let bound = LATENCY_BOUNDS_US[i.min(LATENCY_BOUNDS_US.len() - 1)];
            return Some(bound as f64 / 1000.0);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use palisade_core::clock::ManualClock;
    use std::sync::Arc;

    const START_MS: u64 = 1_900_000_020_000; // 20 s into a minute

    fn series() -> (Arc<ManualClock>, Series) {
        let clock = Arc::new(ManualClock::starting_at(START_MS));
        (clock.clone(), Series::new(clock))
    }

    #[test]
    fn counts_land_in_the_current_minute_and_roll_as_the_clock_moves() {
        let (clock, s) = series();
        let ms = Duration::from_millis;
        s.record(StatusCode::OK, ms(3), None);
        s.record(
            StatusCode::TOO_MANY_REQUESTS,
            ms(1),
            Some(("throttle", "rate-limited")),
        );
        s.record(
            StatusCode::FORBIDDEN,
            ms(1),
            Some(("firewall", "ip-blocked")),
        );
        s.record(
            StatusCode::FORBIDDEN,
            ms(1),
            Some(("firewall", "ip-blocked")),
        );
        let snap = s.snapshot();
        assert_eq!(snap.len(), 60);
        let now = snap.last().unwrap();
        assert_eq!(now.start, START_MS / 1000 / 60 * 60);
        assert_eq!(now.requests, 4);
        assert_eq!(now.rate_limited, 1);
        assert_eq!(now.refusals["firewall:ip-blocked"], 2);
        assert_eq!(now.refusals["throttle:rate-limited"], 1);
        assert!(
            snap[..59]
                .iter()
                .all(|b| b.requests == 0 && b.p50_ms.is_none())
        );

        clock.advance(Duration::from_secs(60));
        s.record(StatusCode::OK, ms(1), None);
        let snap = s.snapshot();
        assert_eq!(snap[58].requests, 4, "the previous minute");
        assert_eq!(snap[59].requests, 1);
        assert!(snap[59].refusals.is_empty());

        // An hour later the ring has come round: the old minute is gone, not added to.
        clock.advance(Duration::from_secs(59 * 60));
        s.record(StatusCode::OK, ms(1), None);
        let snap = s.snapshot();
        assert_eq!(snap[59].requests, 1, "cleared before reuse");
        assert_eq!(snap[58].requests, 0);
        assert_eq!(snap[0].requests, 1, "59 minutes ago");
    }

    #[test]
    fn quantiles_come_from_the_histogram() {
        let (_, s) = series();
        for _ in 0..98 {
            s.record(StatusCode::OK, Duration::from_micros(900), None);
        }
        s.record(StatusCode::OK, Duration::from_millis(40), None);
        s.record(StatusCode::OK, Duration::from_millis(40), None);
        let now = s.snapshot().pop().unwrap();
        let (p50, p99) = (now.p50_ms.unwrap(), now.p99_ms.unwrap());
        assert!((0.9..=1.35).contains(&p50), "{p50}");
        assert!((40.0..=60.0).contains(&p99), "{p99}");
    }

    #[test]
    fn more_refusal_kinds_than_slots_are_counted_as_other() {
        let (_, s) = series();
        const GATES: [&str; 20] = [
            "g0", "g1", "g2", "g3", "g4", "g5", "g6", "g7", "g8", "g9", "g10", "g11", "g12", "g13",
            "g14", "g15", "g16", "g17", "g18", "g19",
        ];
        for g in GATES {
            s.record(StatusCode::FORBIDDEN, Duration::ZERO, Some((g, "r")));
        }
        let now = s.snapshot().pop().unwrap();
        assert_eq!(now.refusals.len(), REFUSAL_SLOTS + 1);
        assert_eq!(now.refusals["other:other"], 4);
    }
}
