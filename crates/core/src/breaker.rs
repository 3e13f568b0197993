//! A circuit breaker for one upstream. It goes from closed to open when failures reach a set
//! ratio of the requests in a rolling window, once the window holds a minimum number of
//! requests. It stays open for a set time. Then it goes half-open and lets a few probes
//! through: one failed probe opens it again, and enough successful probes close it.
//!
//! Guarantees:
//! - Time only comes in as `now_ms`. The breaker never reads a clock and never sleeps.
//! - Every state change is returned exactly once, to the caller whose `admit` or `record`
//!   caused it, so the gateway can audit and count each one.
//! - The window is a fixed ring of [`BUCKETS`] time buckets, so memory stays the same however
//!   busy the upstream is.
//! - Half-open, at most `half_open_probes` probe permits are out at once, and fewer as
//!   successes come in: it never hands out more than the successes it still needs.
//! - Results that come in for a state they don't belong to are ignored. While open or
//!   half-open, that means results of ordinary requests (usually ones admitted before the
//!   trip); while closed or open, probe results (stragglers from a half-open spell that has
//!   already ended). A straggler can't reopen a breaker that has just recovered, and an old
//!   request can't count as a probe.
//! - A probe permit whose result never comes back (the request was cancelled) expires after
//!   `open_for_ms` (at least [`MIN_PROBE_PERMIT_MS`]), and the slot is handed out again. So a
//!   lost probe delays recovery but can't wedge the breaker half-open.
//! - Nothing panics, whatever the config or the times. Clocks that step backwards are
//!   tolerated: the window never moves back, and waits are capped at their configured length.
//!
//! Limits: permits are anonymous (the caller only says `was_probe`). So a probe that outlives
//! its permit (slower than the permit lifetime) frees some other permit when its result
//! finally comes in. For a moment, more probes than allowed may then be in flight. The window
//! covers `BUCKETS × (window_ms / BUCKETS)` ms, so `window_ms` is rounded down to a multiple
//! of 10.

use std::collections::VecDeque;
use std::sync::{Mutex, MutexGuard};

/// Buckets in the rolling window; each covers `window_ms / BUCKETS`.
pub const BUCKETS: usize = 10;

/// The shortest life a probe permit gets, however short `open_for_ms` is. Without this floor,
/// a tiny `open_for_ms` would let permits expire while their probes are still in flight, and
/// probes would pile up.
pub const MIN_PROBE_PERMIT_MS: u64 = 1_000;

/// How a breaker behaves. Check it with [`BreakerConfig::validate`]; the breaker does not
/// panic on a bad config, but it won't behave usefully either.
#[derive(Debug, Clone, PartialEq)]
pub struct BreakerConfig {
    /// The share of failed requests in the window that opens the breaker, in (0, 1].
    pub failure_ratio: f64,
    /// The length of the rolling window, in ms (at least [`BUCKETS`]).
    pub window_ms: u64,
    /// The window must hold this many requests before the ratio counts.
    pub min_requests: u32,
    /// How long the breaker stays open before it lets probes through. Also the lifetime of a
    /// probe permit (at least [`MIN_PROBE_PERMIT_MS`]).
    pub open_for_ms: u64,
    /// How many probes may be out at once while half-open. That many successes close it.
    pub half_open_probes: u32,
}

impl Default for BreakerConfig {
    fn default() -> Self {
        Self {
            failure_ratio: 0.5,
            window_ms: 30_000,
            min_requests: 20,
            open_for_ms: 30_000,
            half_open_probes: 3,
        }
    }
}

impl BreakerConfig {
    /// Returns the first problem found, as a sentence.
    pub fn validate(&self) -> Result<(), String> {
        if !(self.failure_ratio > 0.0 && self.failure_ratio <= 1.0) {
            return Err(format!(
                "failure_ratio must be in (0, 1], not {}",
                self.failure_ratio
            ));
        }
        if self.window_ms < BUCKETS as u64 {
            return Err(format!("window_ms must be at least {BUCKETS}"));
        }
        if self.min_requests == 0 {
            return Err("min_requests must be at least 1".into());
        }
        if self.open_for_ms == 0 {
            return Err("open_for_ms must be at least 1".into());
        }
        if self.half_open_probes == 0 {
            return Err("half_open_probes must be at least 1".into());
        }
        Ok(())
    }

    fn bucket_width_ms(&self) -> u64 {
        (self.window_ms / BUCKETS as u64).max(1)
    }

    fn probe_permit_ms(&self) -> u64 {
        self.open_for_ms.max(MIN_PROBE_PERMIT_MS)
    }
}

/// Where a breaker stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BreakerState {
    /// Requests flow; outcomes are counted.
    Closed,
    /// Requests are refused until `open_for_ms` has passed.
    Open,
    /// A few probes are let through to test the upstream.
    HalfOpen,
}

impl BreakerState {
    /// `"closed"`, `"open"` or `"half_open"`, for logs, audit events and metric labels.
    pub fn as_str(self) -> &'static str {
        match self {
            BreakerState::Closed => "closed",
            BreakerState::Open => "open",
            BreakerState::HalfOpen => "half_open",
        }
    }

    /// For a gauge: 0 closed, 1 open, 2 half-open.
    pub fn gauge(self) -> u8 {
        match self {
            BreakerState::Closed => 0,
            BreakerState::Open => 1,
            BreakerState::HalfOpen => 2,
        }
    }
}

/// A change of state, returned once by the call that caused it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Transition {
    /// The state before.
    pub from: BreakerState,
    /// The state after.
    pub to: BreakerState,
}

/// Whether a request may go to the upstream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Closed: go ahead, and report the result with `was_probe = false`.
    Allowed,
    /// Half-open: this request is a probe; report its result with `was_probe = true`.
    Probe,
    /// Open, or half-open with every probe permit out. `retry_after_ms` is when the breaker
    /// half-opens, or when the oldest permit expires (at least 1).
    Rejected {
        /// Milliseconds until a request may be tried again.
        retry_after_ms: u64,
    },
}

/// How a request to the upstream went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The upstream answered with anything but a 5xx.
    Success,
    /// A 5xx, a timeout or a connection error.
    Failure,
}

/// For metrics: the state and the counts in the current window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BreakerSnapshot {
    /// The breaker's state.
    pub state: BreakerState,
    /// Failures in the current window.
    pub failures: u32,
    /// Requests in the current window.
    pub total: u32,
}

/// Thread-safe breaker for one upstream. Share it behind an `Arc` or in a map.
#[derive(Debug)]
pub struct CircuitBreaker {
    config: BreakerConfig,
    inner: Mutex<Inner>,
}

#[derive(Debug)]
struct Inner {
    phase: Phase,
    window: Window,
}

#[derive(Debug)]
enum Phase {
    Closed,
    Open {
        since_ms: u64,
    },
    HalfOpen {
        /// When each permit still out was handed out, oldest first.
        permits: VecDeque<u64>,
        successes: u32,
    },
}

impl Phase {
    fn state(&self) -> BreakerState {
        match self {
            Phase::Closed => BreakerState::Closed,
            Phase::Open { .. } => BreakerState::Open,
            Phase::HalfOpen { .. } => BreakerState::HalfOpen,
        }
    }

    fn half_open() -> Self {
        Phase::HalfOpen {
            permits: VecDeque::new(),
            successes: 0,
        }
    }
}

impl CircuitBreaker {
    /// A closed breaker with an empty window.
    pub fn new(config: BreakerConfig) -> Self {
        Self {
            config,
            inner: Mutex::new(Inner {
                phase: Phase::Closed,
                window: Window::default(),
            }),
        }
    }

    /// The config it was built with.
    pub fn config(&self) -> &BreakerConfig {
        &self.config
    }

    /// May a request go to the upstream now? An open breaker whose `open_for_ms` has passed
    /// goes half-open here. That change comes back as the transition, and the request that
    /// caused it gets the first probe permit.
    pub fn admit(&self, now_ms: u64) -> (Admission, Option<Transition>) {
        let mut inner = self.lock();
        let mut transition = None;
        if let Phase::Open { since_ms } = inner.phase {
            let reopens_at = since_ms.saturating_add(self.config.open_for_ms);
            if now_ms < reopens_at {
                let retry_after_ms = (reopens_at - now_ms).min(self.config.open_for_ms);
                return (Admission::Rejected { retry_after_ms }, None);
            }
            transition = Some(inner.move_to(Phase::half_open()));
        }
        let admission = match &mut inner.phase {
            Phase::HalfOpen { permits, successes } => {
                self.hand_out_probe(permits, *successes, now_ms)
            }
            _ => Admission::Allowed,
        };
        (admission, transition)
    }

    /// Reports how an admitted request went. `was_probe` must be true exactly when
    /// [`admit`](Self::admit) said [`Admission::Probe`]. Results that don't belong to the
    /// current state are ignored (see the module docs).
    pub fn record(&self, now_ms: u64, outcome: Outcome, was_probe: bool) -> Option<Transition> {
        let mut inner = self.lock();
        match (&mut inner.phase, was_probe) {
            (Phase::Closed, false) => {
                let epoch = now_ms / self.config.bucket_width_ms();
                inner.window.add(epoch, outcome);
                self.should_trip(&inner.window)
                    .then(|| inner.move_to(Phase::Open { since_ms: now_ms }))
            }
            (Phase::HalfOpen { permits, successes }, true) => {
                // Permits are anonymous; retiring the oldest frees the slot most likely to be
                // this probe's, and an expired one is retired first anyway.
                permits.pop_front();
                match outcome {
                    Outcome::Failure => Some(inner.move_to(Phase::Open { since_ms: now_ms })),
                    Outcome::Success => {
                        *successes = successes.saturating_add(1);
                        (*successes >= self.config.half_open_probes).then(|| {
                            inner.window.clear();
                            inner.move_to(Phase::Closed)
                        })
                    }
                }
            }
            _ => None,
        }
    }

    /// The state as last moved. An open breaker whose `open_for_ms` has passed still says
    /// `Open` until an [`admit`](Self::admit) moves it, so the state always matches the last
    /// transition reported.
    pub fn state(&self) -> BreakerState {
        self.lock().phase.state()
    }

    /// The state, and the counts in the window ending at `now_ms`, for metrics. The counts are
    /// those of the closed state: zero from the moment it closes again. While open or
    /// half-open they show the window that tripped it, until those results age out.
    pub fn snapshot(&self, now_ms: u64) -> BreakerSnapshot {
        let inner = self.lock();
        let epoch = now_ms / self.config.bucket_width_ms();
        let (failures, total) = inner.window.counts(epoch);
        BreakerSnapshot {
            state: inner.phase.state(),
            failures,
            total,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn should_trip(&self, window: &Window) -> bool {
        let (failures, total) = window.counts(window.newest_epoch);
        // Dividing rather than multiplying the ratio by `total` means a ratio of exactly
        // `failures / total` trips: 0.28 × 25 > 7 in floating point, but 7 / 25 == 0.28. Requiring a failure means even a
        // zero ratio can't open on successes alone.
        failures > 0
            && total >= self.config.min_requests
            && f64::from(failures) / f64::from(total) >= self.config.failure_ratio
    }

    fn hand_out_probe(
        &self,
        permits: &mut VecDeque<u64>,
        successes: u32,
        now_ms: u64,
    ) -> Admission {
        let lifetime = self.config.probe_permit_ms();
        permits.retain(|&issued| now_ms < issued.saturating_add(lifetime));
        let still_needed = self
            .config
            .half_open_probes
            .saturating_sub(successes)
            .max(1);
        if permits.len() < still_needed as usize {
            permits.push_back(now_ms);
            return Admission::Probe;
        }
        let first_expiry = permits
            .iter()
            .map(|&issued| issued.saturating_add(lifetime))
            .min()
            .unwrap_or(now_ms);
        let retry_after_ms = first_expiry.saturating_sub(now_ms).clamp(1, lifetime);
        Admission::Rejected { retry_after_ms }
    }
}

impl Inner {
    fn move_to(&mut self, next: Phase) -> Transition {
        let from = self.phase.state();
        self.phase = next;
        Transition {
            from,
            to: self.phase.state(),
        }
    }
}

/// A ring of per-bucket counts. A bucket is identified by its epoch (`now_ms / width`); a slot
/// holding an older epoch is stale, and is reset when reused.
#[derive(Debug, Default)]
struct Window {
    buckets: [Bucket; BUCKETS],
    /// The latest epoch recorded. Results stamped earlier (a clock stepping back) count in it,
    /// so the window never moves back and never drops newer counts.
    newest_epoch: u64,
}

#[derive(Debug, Clone, Copy, Default)]
struct Bucket {
    epoch: u64,
    total: u32,
    failures: u32,
}

impl Window {
    fn add(&mut self, epoch: u64, outcome: Outcome) {
        self.newest_epoch = self.newest_epoch.max(epoch);
        let epoch = self.newest_epoch;
        let bucket = &mut self.buckets[(epoch % BUCKETS as u64) as usize];
        if bucket.epoch != epoch {
            *bucket = Bucket {
                epoch,
                ..Bucket::default()
            };
        }
        bucket.total = bucket.total.saturating_add(1);
        if outcome == Outcome::Failure {
            bucket.failures = bucket.failures.saturating_add(1);
        }
    }

    /// Failures and requests in the window ending at `epoch` (or at the newest epoch recorded,
    /// if that is later).
    fn counts(&self, epoch: u64) -> (u32, u32) {
        let end = epoch.max(self.newest_epoch);
        self.buckets
            .iter()
            .filter(|b| b.epoch <= end && b.epoch.saturating_add(BUCKETS as u64) > end)
            .fold((0, 0), |(failures, total), b| {
                (
                    failures.saturating_add(b.failures),
                    total.saturating_add(b.total),
                )
            })
    }

    fn clear(&mut self) {
        self.buckets = [Bucket::default(); BUCKETS];
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashMap;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};

    const T0: u64 = 1_700_000_000_000;
    const OPEN_FOR: u64 = 5_000;
    const PROBES: u32 = 2;

    use BreakerState::{Closed, HalfOpen, Open};

    fn config(min_requests: u32) -> BreakerConfig {
        BreakerConfig {
            failure_ratio: 0.5,
            window_ms: 10_000,
            min_requests,
            open_for_ms: OPEN_FOR,
            half_open_probes: PROBES,
        }
    }

    fn t(from: BreakerState, to: BreakerState) -> Transition {
        Transition { from, to }
    }

    fn rejected(retry_after_ms: u64) -> Admission {
        Admission::Rejected { retry_after_ms }
    }

    /// Drives a breaker and checks that every reported transition starts where the last one
    /// ended and matches `state()`, and that the state never moves unreported.
    struct Driver {
        breaker: CircuitBreaker,
        state: BreakerState,
        seen: Vec<Transition>,
    }

    impl Driver {
        fn new(config: BreakerConfig) -> Self {
            Self {
                breaker: CircuitBreaker::new(config),
                state: Closed,
                seen: Vec::new(),
            }
        }

        fn note(&mut self, transition: Option<Transition>) -> Option<Transition> {
            if let Some(t) = transition {
                assert_eq!(t.from, self.state, "{t:?} does not start where we were");
                assert_ne!(t.from, t.to);
                self.state = t.to;
                self.seen.push(t);
            }
            assert_eq!(self.breaker.state(), self.state, "unreported state change");
            transition
        }

        fn admit(&mut self, now: u64) -> Admission {
            let (admission, transition) = self.breaker.admit(now);
            self.note(transition);
            admission
        }

        fn record(&mut self, now: u64, outcome: Outcome, was_probe: bool) -> Option<Transition> {
            let transition = self.breaker.record(now, outcome, was_probe);
            self.note(transition)
        }

        fn results(&mut self, now: u64, outcome: Outcome, n: u32) -> Vec<Transition> {
            (0..n)
                .filter_map(|_| self.record(now, outcome, false))
                .collect()
        }

        /// Trips a breaker with `min_requests` failures at `now`.
        fn tripped(min_requests: u32, now: u64) -> Self {
            let mut d = Self::new(config(min_requests));
            assert_eq!(
                d.results(now, Outcome::Failure, min_requests),
                [t(Closed, Open)]
            );
            d
        }
    }

    #[test]
    fn stays_closed_below_min_requests_even_at_total_failure() {
        let mut d = Driver::new(config(10));
        assert!(d.results(T0, Outcome::Failure, 9).is_empty());
        assert_eq!(d.admit(T0), Admission::Allowed);
        let snap = d.breaker.snapshot(T0);
        assert_eq!((snap.state, snap.failures, snap.total), (Closed, 9, 9));
    }

    #[test]
    fn opens_exactly_at_the_ratio() {
        let mut d = Driver::new(config(10));
        assert!(d.results(T0, Outcome::Success, 5).is_empty());
        assert!(d.results(T0, Outcome::Failure, 4).is_empty(), "4 of 9");
        assert_eq!(d.results(T0, Outcome::Failure, 1), [t(Closed, Open)]);
    }

    #[test]
    fn opens_exactly_at_a_ratio_that_floats_cannot_hold_exactly() {
        // 0.28 × 25 is 7.000000000000001 in floating point, but 7 / 25 is 0.28.
        let mut d = Driver::new(BreakerConfig {
            failure_ratio: 0.28,
            ..config(25)
        });
        assert!(d.results(T0, Outcome::Success, 18).is_empty());
        assert!(d.results(T0, Outcome::Failure, 6).is_empty());
        assert_eq!(d.results(T0, Outcome::Failure, 1), [t(Closed, Open)]);
    }

    #[test]
    fn just_below_the_ratio_stays_closed() {
        let mut d = Driver::new(config(10));
        assert!(d.results(T0, Outcome::Success, 11).is_empty());
        assert!(d.results(T0, Outcome::Failure, 10).is_empty(), "10 of 21");
        assert_eq!(d.state, Closed);
    }

    #[test]
    fn old_failures_roll_out_of_the_window() {
        let mut d = Driver::new(config(10));
        assert!(d.results(T0, Outcome::Failure, 9).is_empty());
        // Buckets are 1 s wide; 9.999 s later the first bucket is still in the window …
        let later = T0 - T0 % 1_000 + 9_999;
        assert_eq!(d.breaker.snapshot(later).total, 9);
        // … and a full window later it has rolled out, so one more failure is 1 of 1.
        let after = T0 - T0 % 1_000 + 10_000;
        assert_eq!(d.breaker.snapshot(after).total, 0);
        assert!(d.results(after, Outcome::Failure, 1).is_empty());
        let snap = d.breaker.snapshot(after);
        assert_eq!((snap.failures, snap.total), (1, 1));
        assert_eq!(d.state, Closed);
    }

    #[test]
    fn failures_spread_over_the_window_still_count() {
        let mut d = Driver::new(config(10));
        for i in 0..9 {
            assert!(d.results(T0 + i * 1_000, Outcome::Failure, 1).is_empty());
        }
        assert_eq!(
            d.results(T0 + 9_000, Outcome::Failure, 1),
            [t(Closed, Open)]
        );
    }

    #[test]
    fn open_rejects_with_the_exact_retry_after() {
        let mut d = Driver::tripped(2, T0);
        assert_eq!(d.admit(T0), rejected(5_000));
        assert_eq!(d.admit(T0 + 1_234), rejected(3_766));
        assert_eq!(d.admit(T0 + 4_999), rejected(1));
        assert_eq!(d.state, Open);
    }

    #[test]
    fn after_open_for_it_goes_half_open_and_admits_exactly_n_probes() {
        let mut d = Driver::tripped(2, T0);
        assert_eq!(d.admit(T0 + 5_000), Admission::Probe);
        assert_eq!(d.seen.last(), Some(&t(Open, HalfOpen)));
        assert_eq!(d.admit(T0 + 5_000), Admission::Probe);
        // Both permits are out; the next frees when the oldest expires.
        assert_eq!(d.admit(T0 + 5_500), rejected(4_500));
        assert_eq!(d.seen.len(), 2, "half-open is reported once");
    }

    #[test]
    fn a_probe_failure_reopens_for_a_fresh_open_for() {
        let mut d = Driver::tripped(2, T0);
        assert_eq!(d.admit(T0 + 5_000), Admission::Probe);
        assert_eq!(d.admit(T0 + 5_000), Admission::Probe);
        assert_eq!(
            d.record(T0 + 6_000, Outcome::Failure, true),
            Some(t(HalfOpen, Open))
        );
        assert_eq!(d.admit(T0 + 6_000), rejected(5_000));
        // The other probe's success comes in late: ignored, it stays open.
        assert_eq!(d.record(T0 + 6_100, Outcome::Success, true), None);
        assert_eq!(d.admit(T0 + 10_999), rejected(1));
        assert_eq!(d.admit(T0 + 11_000), Admission::Probe);
    }

    #[test]
    fn n_probe_successes_close_and_clear_the_window() {
        let mut d = Driver::tripped(2, T0);
        assert_eq!(d.admit(T0 + 5_000), Admission::Probe);
        assert_eq!(d.admit(T0 + 5_000), Admission::Probe);
        assert_eq!(d.record(T0 + 5_001, Outcome::Success, true), None);
        assert_eq!(
            d.record(T0 + 5_002, Outcome::Success, true),
            Some(t(HalfOpen, Closed))
        );
        let snap = d.breaker.snapshot(T0 + 5_002);
        assert_eq!((snap.state, snap.failures, snap.total), (Closed, 0, 0));
        assert_eq!(d.admit(T0 + 5_003), Admission::Allowed);
        // The failures that tripped it are gone: one more is 1 of 1, below the minimum.
        assert!(d.results(T0 + 5_003, Outcome::Failure, 1).is_empty());
    }

    #[test]
    fn no_more_probes_than_successes_still_needed() {
        let mut d = Driver::new(BreakerConfig {
            half_open_probes: 3,
            ..config(2)
        });
        d.results(T0, Outcome::Failure, 2);
        for _ in 0..3 {
            assert_eq!(d.admit(T0 + 5_000), Admission::Probe);
        }
        assert_eq!(d.record(T0 + 5_001, Outcome::Success, true), None);
        // One success in, two needed, two still out: no new permit.
        assert!(matches!(d.admit(T0 + 5_002), Admission::Rejected { .. }));
        assert_eq!(d.record(T0 + 5_003, Outcome::Success, true), None);
        assert!(matches!(d.admit(T0 + 5_004), Admission::Rejected { .. }));
        assert_eq!(
            d.record(T0 + 5_005, Outcome::Success, true),
            Some(t(HalfOpen, Closed))
        );
    }

    #[test]
    fn results_that_do_not_belong_to_the_state_are_ignored() {
        let mut d = Driver::tripped(2, T0);
        // Open: stragglers admitted before the trip, and stray probe results.
        assert_eq!(d.record(T0 + 1, Outcome::Success, false), None);
        assert_eq!(d.record(T0 + 1, Outcome::Success, true), None);
        assert_eq!(d.record(T0 + 1, Outcome::Failure, true), None);
        // Half-open: only probes count.
        assert_eq!(d.admit(T0 + 5_000), Admission::Probe);
        assert_eq!(d.record(T0 + 5_001, Outcome::Failure, false), None);
        assert_eq!(d.record(T0 + 5_001, Outcome::Success, false), None);
        assert_eq!(d.state, HalfOpen);
        assert_eq!(d.record(T0 + 5_002, Outcome::Success, true), None);
        assert_eq!(d.admit(T0 + 5_002), Admission::Probe);
        assert_eq!(
            d.record(T0 + 5_003, Outcome::Success, true),
            Some(t(HalfOpen, Closed))
        );
        // Closed: a late probe failure does not count in the window.
        assert_eq!(d.record(T0 + 5_004, Outcome::Failure, true), None);
        assert_eq!(d.breaker.snapshot(T0 + 5_004).total, 0);
    }

    #[test]
    fn a_lost_probe_permit_expires() {
        let mut d = Driver::tripped(2, T0);
        assert_eq!(d.admit(T0 + 5_000), Admission::Probe);
        assert_eq!(d.admit(T0 + 5_000), Admission::Probe);
        // Neither probe reports back (their requests were cancelled).
        assert_eq!(d.admit(T0 + 6_000), rejected(4_000));
        assert_eq!(d.admit(T0 + 9_999), rejected(1));
        assert_eq!(
            d.admit(T0 + 10_000),
            Admission::Probe,
            "expired permits free up"
        );
        assert_eq!(d.admit(T0 + 10_000), Admission::Probe);
        assert!(matches!(d.admit(T0 + 10_000), Admission::Rejected { .. }));
        assert_eq!(d.record(T0 + 10_001, Outcome::Success, true), None);
        assert_eq!(
            d.record(T0 + 10_001, Outcome::Success, true),
            Some(t(HalfOpen, Closed))
        );
    }

    #[test]
    fn a_short_open_for_still_gives_probe_permits_a_floor() {
        let mut d = Driver::new(BreakerConfig {
            open_for_ms: 10,
            half_open_probes: 1,
            ..config(2)
        });
        d.results(T0, Outcome::Failure, 2);
        assert_eq!(d.admit(T0 + 5), rejected(5));
        assert_eq!(d.admit(T0 + 10), Admission::Probe);
        assert_eq!(d.admit(T0 + 20), rejected(MIN_PROBE_PERMIT_MS - 10));
        assert_eq!(d.admit(T0 + 10 + MIN_PROBE_PERMIT_MS), Admission::Probe);
    }

    #[test]
    fn every_transition_is_reported_exactly_once() {
        let mut d = Driver::tripped(2, T0);
        // Many callers at the moment it may half-open: exactly one sees the transition.
        let mut now = T0 + 5_000;
        for _ in 0..10 {
            d.admit(now);
        }
        d.record(now, Outcome::Failure, true);
        now += 5_000;
        for _ in 0..10 {
            d.admit(now);
        }
        d.record(now, Outcome::Success, true);
        d.record(now, Outcome::Success, true);
        for _ in 0..5 {
            d.record(now, Outcome::Success, true);
            d.admit(now);
        }
        assert_eq!(
            d.seen,
            [
                t(Closed, Open),
                t(Open, HalfOpen),
                t(HalfOpen, Open),
                t(Open, HalfOpen),
                t(HalfOpen, Closed),
            ]
        );
    }

    #[test]
    fn a_full_cycle_closed_open_half_open_closed() {
        let mut d = Driver::new(config(4));
        let mut now = T0;
        for outcome in [Outcome::Success, Outcome::Failure] {
            for _ in 0..4 {
                assert_eq!(d.admit(now), Admission::Allowed);
                d.record(now + 20, outcome, false);
                now += 100;
            }
        }
        assert_eq!(d.state, Open, "4 of 8 failed");
        while d.state != Closed {
            if d.admit(now) == Admission::Probe {
                d.record(now + 20, Outcome::Success, true);
            }
            now += 100;
        }
        let path: Vec<_> = d.seen.iter().map(|t| t.to.as_str()).collect();
        assert_eq!(path, ["open", "half_open", "closed"]);
        assert!(now >= T0 + 700 + OPEN_FOR, "not before open_for has passed");
    }

    #[test]
    fn concurrent_callers_see_one_consistent_chain_of_transitions() {
        let breaker = Arc::new(CircuitBreaker::new(config(5)));
        let clock = Arc::new(AtomicU64::new(T0));
        let threads: Vec<_> = (0..8u64)
            .map(|seed| {
                let (breaker, clock) = (breaker.clone(), clock.clone());
                std::thread::spawn(move || {
                    let mut seen = Vec::new();
                    for i in 0..2_000u64 {
                        let now = clock.fetch_add(7, Ordering::Relaxed);
                        let (admission, transition) = breaker.admit(now);
                        seen.extend(transition);
                        let failed = (i * 31 + seed * 17) % 5 < 3;
                        let outcome = if failed {
                            Outcome::Failure
                        } else {
                            Outcome::Success
                        };
                        let was_probe = match admission {
                            Admission::Allowed => false,
                            Admission::Probe => true,
                            Admission::Rejected { .. } => continue,
                        };
                        seen.extend(breaker.record(now, outcome, was_probe));
                    }
                    seen
                })
            })
            .collect();
        let seen: Vec<Transition> = threads
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_default())
            .collect();
        // A chain from Closed to the final state enters each state once more than it leaves
        // it if it ends there, once fewer if it started there, as often otherwise.
        let end = breaker.state();
        let mut balance: HashMap<BreakerState, i64> = HashMap::new();
        for t in &seen {
            *balance.entry(t.to).or_default() += 1;
            *balance.entry(t.from).or_default() -= 1;
        }
        for state in [Closed, Open, HalfOpen] {
            let expected = i64::from(state == end) - i64::from(state == Closed);
            assert_eq!(
                balance.get(&state).copied().unwrap_or(0),
                expected,
                "{state:?}"
            );
        }
        assert!(seen.len() >= 3, "the load should trip it: {seen:?}");
    }

    #[test]
    fn a_clock_stepping_back_neither_panics_nor_loses_counts() {
        let mut d = Driver::new(config(10));
        assert!(d.results(T0 + 50_000, Outcome::Failure, 5).is_empty());
        assert!(d.results(T0, Outcome::Failure, 4).is_empty());
        assert_eq!(
            d.breaker.snapshot(T0).total,
            9,
            "counted in the newest bucket"
        );
        assert_eq!(d.results(T0 + 1, Outcome::Failure, 1), [t(Closed, Open)]);
        // Opened at T0 + 1; asked a minute earlier, it waits no longer than open_for.
        assert_eq!(d.admit(T0 - 60_000), rejected(OPEN_FOR));
    }

    #[test]
    fn extreme_times_and_configs_do_not_panic() {
        let configs = [
            BreakerConfig::default(),
            BreakerConfig {
                failure_ratio: f64::NAN,
                window_ms: 0,
                min_requests: 0,
                open_for_ms: 0,
                half_open_probes: 0,
            },
            BreakerConfig {
                failure_ratio: -1.0,
                window_ms: u64::MAX,
                min_requests: u32::MAX,
                open_for_ms: u64::MAX,
                half_open_probes: u32::MAX,
            },
            BreakerConfig {
                failure_ratio: 0.0,
                window_ms: 1,
                min_requests: 1,
                open_for_ms: 1,
                half_open_probes: 1,
            },
        ];
        for config in configs {
            let mut d = Driver::new(config);
            for now in [0, 1, u64::MAX - 1, u64::MAX, 5, u64::MAX / 2] {
                for outcome in [Outcome::Failure, Outcome::Success] {
                    for was_probe in [false, true] {
                        d.admit(now);
                        d.record(now, outcome, was_probe);
                        d.breaker.snapshot(now);
                    }
                }
            }
        }
    }

    #[test]
    fn a_zero_ratio_never_opens_on_successes_alone() {
        let mut d = Driver::new(BreakerConfig {
            failure_ratio: 0.0,
            ..config(1)
        });
        assert!(d.results(T0, Outcome::Success, 100).is_empty());
        assert_eq!(d.results(T0, Outcome::Failure, 1), [t(Closed, Open)]);
    }

    #[test]
    fn a_poisoned_lock_is_recovered() {
        let breaker = Arc::new(CircuitBreaker::new(config(2)));
        let b = breaker.clone();
        let _ = std::thread::spawn(move || {
            let _guard = b.lock();
            panic!("poison the lock");
        })
        .join();
        assert_eq!(breaker.admit(T0), (Admission::Allowed, None));
    }

    #[test]
    fn states_name_and_gauge() {
        let names: Vec<_> = [Closed, Open, HalfOpen]
            .map(|s| (s.as_str(), s.gauge()))
            .into();
        assert_eq!(names, [("closed", 0), ("open", 1), ("half_open", 2)]);
    }

    #[test]
    fn configuration_is_checked() {
        assert_eq!(BreakerConfig::default().validate(), Ok(()));
        assert_eq!(config(1).validate(), Ok(()));
        let ok = BreakerConfig {
            failure_ratio: 1.0,
            window_ms: BUCKETS as u64,
            ..config(1)
        };
        assert_eq!(ok.validate(), Ok(()));
        let bad = [
            BreakerConfig {
                failure_ratio: 0.0,
                ..config(1)
            },
            BreakerConfig {
                failure_ratio: 1.01,
                ..config(1)
            },
            BreakerConfig {
                failure_ratio: f64::NAN,
                ..config(1)
            },
            BreakerConfig {
                window_ms: BUCKETS as u64 - 1,
                ..config(1)
            },
            config(0),
            BreakerConfig {
                open_for_ms: 0,
                ..config(1)
            },
            BreakerConfig {
                half_open_probes: 0,
                ..config(1)
            },
        ];
        for config in bad {
            assert!(config.validate().is_err(), "{config:?}");
        }
    }

    #[derive(Debug, Clone)]
    enum Op {
        Admit,
        /// Report the probe at this index (modulo those held) as it went.
        ReportProbe(usize, bool),
        /// Never report the probe at this index: its request was cancelled.
        LoseProbe(usize),
        ReportPlain(bool),
        Wait(u64),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            4 => Just(Op::Admit),
            3 => (any::<usize>(), any::<bool>()).prop_map(|(i, ok)| Op::ReportProbe(i, ok)),
            1 => any::<usize>().prop_map(Op::LoseProbe),
            3 => any::<bool>().prop_map(Op::ReportPlain),
            2 => (0u64..3_000).prop_map(Op::Wait),
        ]
    }

    proptest! {
        /// Probes the caller still holds (not reported, not expired, from the current
        /// half-open spell) never exceed `half_open_probes`, admissions match the state, and
        /// every transition chains on from the last.
        #[test]
        fn never_more_than_half_open_probes_out(
            probes in 1u32..5,
            min_requests in 1u32..6,
            ops in proptest::collection::vec(op(), 1..300),
        ) {
            let config = BreakerConfig {
                failure_ratio: 0.5,
                window_ms: 2_000,
                min_requests,
                open_for_ms: 1_500,
                half_open_probes: probes,
            };
            let lifetime = config.probe_permit_ms();
            let mut d = Driver::new(config);
            let mut held: Vec<u64> = Vec::new();
            let mut now = T0;
            for op in ops {
                let before = d.seen.len();
                match op {
                    Op::Admit => match d.admit(now) {
                        Admission::Probe => {
                            prop_assert_eq!(d.state, HalfOpen);
                            held.retain(|&issued| now < issued + lifetime);
                            held.push(now);
                            prop_assert!(held.len() <= probes as usize, "{held:?}");
                        }
                        Admission::Allowed => prop_assert_eq!(d.state, Closed),
                        Admission::Rejected { retry_after_ms } => {
                            prop_assert!(d.state != Closed);
                            prop_assert!((1..=lifetime.max(1_500)).contains(&retry_after_ms));
                        }
                    },
                    Op::ReportProbe(i, ok) => {
                        held.retain(|&issued| now < issued + lifetime);
                        if !held.is_empty() {
                            held.remove(i % held.len());
                            let outcome = if ok { Outcome::Success } else { Outcome::Failure };
                            d.record(now, outcome, true);
                        }
                    }
                    Op::LoseProbe(i) => {
                        if !held.is_empty() {
                            held.remove(i % held.len());
                        }
                    }
                    Op::ReportPlain(ok) => {
                        let outcome = if ok { Outcome::Success } else { Outcome::Failure };
                        d.record(now, outcome, false);
                    }
                    Op::Wait(ms) => now += ms,
                }
                if d.seen.len() > before {
                    // The spell the held probes belong to is over; never report them.
                    held.clear();
                }
            }
        }

        #[test]
        fn arbitrary_inputs_never_panic(
            ratio in any::<f64>(),
            window_ms in any::<u64>(),
            min_requests in any::<u32>(),
            open_for_ms in any::<u64>(),
            half_open_probes in 0u32..4,
            calls in proptest::collection::vec(
                (any::<u64>(), any::<bool>(), any::<bool>(), any::<bool>()),
                1..100,
            ),
        ) {
            let mut d = Driver::new(BreakerConfig {
                failure_ratio: ratio,
                window_ms,
                min_requests,
                open_for_ms,
                half_open_probes,
            });
            for (now, admit, failed, was_probe) in calls {
                if admit {
                    d.admit(now);
                } else {
                    let outcome = if failed { Outcome::Failure } else { Outcome::Success };
                    d.record(now, outcome, was_probe);
                }
                let snap = d.breaker.snapshot(now);
                prop_assert!(snap.failures <= snap.total);
            }
        }
    }
}
