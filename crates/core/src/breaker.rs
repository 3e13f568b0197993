//! A per-upstream circuit breaker: closed → open when failures reach a ratio of the requests in a
//! rolling window (after a minimum count); open for a set time; then half-open, letting a few
//! probes through: one failure re-opens it, enough successes close it.
//!
//! Guarantees: time only comes in as `now_ms`; every state change is returned exactly once, so
//! the caller can audit and count it; the window is a fixed ring of buckets (constant memory);
//! results of requests that started before a trip are ignored rather than counted against the
//! new state; a probe whose result never arrives (a cancelled request) expires after `open_for`
//! so the breaker cannot wedge half-open. No input makes it panic.

use std::sync::Mutex;

const BUCKETS: usize = 10;

#[derive(Debug, Clone, PartialEq)]
pub struct BreakerConfig {
    /// Failures / requests in the window at which it opens, in (0, 1].
    pub failure_ratio: f64,
    pub window_ms: u64,
    pub min_requests: u32,
    pub open_for_ms: u64,
    /// Probes allowed at once when half-open; that many successes close it.
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
    pub fn validate(&self) -> Result<(), String> {
        if !(self.failure_ratio > 0.0 && self.failure_ratio <= 1.0) {
            return Err("failure_ratio must be in (0, 1]".into());
        }
        if self.window_ms < BUCKETS as u64 || self.min_requests == 0 || self.half_open_probes == 0 {
            return Err("window (≥ 10 ms), min_requests and half_open_probes must be set".into());
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakerState {
    Closed,
    Open,
    HalfOpen,
}

impl BreakerState {
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

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transition {
    pub from: BreakerState,
    pub to: BreakerState,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Closed: go ahead, and report the result.
    Allowed,
    /// Half-open: this request is a probe; report its result with `was_probe = true`.
    Probe,
    Rejected {
        retry_after_ms: u64,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Success,
    Failure,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BreakerSnapshot {
    pub state: BreakerState,
    pub failures: u32,
    pub total: u32,
}

#[derive(Debug, Clone, Copy, Default)]
struct Bucket {
    /// Which slice of time (now / bucket width) the counts belong to.
    epoch: u64,
    total: u32,
    failures: u32,
}

#[derive(Debug)]
struct Inner {
    state: BreakerState,
    buckets: [Bucket; BUCKETS],
    opened_at: u64,
    /// Half-open: probes handed out, when each was handed out, and successes so far.
    probes_out: Vec<u64>,
    probe_successes: u32,
}

#[derive(Debug)]
pub struct CircuitBreaker {
    config: BreakerConfig,
    inner: Mutex<Inner>,
}

impl CircuitBreaker {
    pub fn new(config: BreakerConfig) -> Self {
        Self {
            config,
            inner: Mutex::new(Inner {
                state: BreakerState::Closed,
                buckets: [Bucket::default(); BUCKETS],
                opened_at: 0,
                probes_out: Vec::new(),
                probe_successes: 0,
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn bucket_width(&self) -> u64 {
        (self.config.window_ms / BUCKETS as u64).max(1)
    }

    /// May a request go to the upstream now? Moving from open to half-open happens here and is
    /// returned as a transition.
    pub fn admit(&self, now_ms: u64) -> (Admission, Option<Transition>) {
        let mut inner = self.lock();
        let mut transition = None;
        if inner.state == BreakerState::Open {
            let reopen_at = inner.opened_at.saturating_add(self.config.open_for_ms);
            if now_ms < reopen_at {
                return (
                    Admission::Rejected {
                        retry_after_ms: reopen_at - now_ms,
                    },
                    None,
                );
            }
            inner.state = BreakerState::HalfOpen;
            inner.probes_out.clear();
            inner.probe_successes = 0;
            transition = Some(Transition {
                from: BreakerState::Open,
                to: BreakerState::HalfOpen,
            });
        }
        match inner.state {
            BreakerState::Closed => (Admission::Allowed, transition),
            _ => {
                let expiry = self.config.open_for_ms;
                inner
                    .probes_out
                    .retain(|given| now_ms < given.saturating_add(expiry));
                let wanted = self.config.half_open_probes
                    - inner.probe_successes.min(self.config.half_open_probes);
                if (inner.probes_out.len() as u32) < wanted.max(1) {
                    inner.probes_out.push(now_ms);
                    (Admission::Probe, transition)
                } else {
                    let oldest = inner.probes_out.iter().min().copied().unwrap_or(now_ms);
                    let retry_after_ms =
                        oldest.saturating_add(expiry).saturating_sub(now_ms).max(1);
                    (Admission::Rejected { retry_after_ms }, transition)
                }
            }
        }
    }

    /// Reports a result. Only probes count while half-open; results of requests admitted
    /// before a trip are ignored while open or half-open.
    pub fn record(&self, now_ms: u64, outcome: Outcome, was_probe: bool) -> Option<Transition> {
        let mut inner = self.lock();
        match (inner.state, was_probe) {
            (BreakerState::Closed, false) => self.record_closed(&mut inner, now_ms, outcome),
            (BreakerState::HalfOpen, true) => {
                if !inner.probes_out.is_empty() {
                    inner.probes_out.remove(0);
                }
                match outcome {
                    Outcome::Failure => Some(self.trip(&mut inner, now_ms, BreakerState::HalfOpen)),
                    Outcome::Success => {
                        inner.probe_successes += 1;
                        (inner.probe_successes >= self.config.half_open_probes).then(|| {
                            inner.state = BreakerState::Closed;
                            inner.buckets = [Bucket::default(); BUCKETS];
                            inner.probes_out.clear();
                            Transition {
                                from: BreakerState::HalfOpen,
                                to: BreakerState::Closed,
                            }
                        })
                    }
                }
            }
            _ => None,
        }
    }

    fn record_closed(
        &self,
        inner: &mut Inner,
        now_ms: u64,
        outcome: Outcome,
    ) -> Option<Transition> {
        let epoch = now_ms / self.bucket_width();
        let bucket = &mut inner.buckets[(epoch % BUCKETS as u64) as usize];
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
        let (failures, total) = window_counts(&inner.buckets, epoch);
        let tripped = total >= self.config.min_requests
            && failures as f64 >= self.config.failure_ratio * total as f64;
        tripped.then(|| self.trip(inner, now_ms, BreakerState::Closed))
    }

    fn trip(&self, inner: &mut Inner, now_ms: u64, from: BreakerState) -> Transition {
        inner.state = BreakerState::Open;
        inner.opened_at = now_ms;
        inner.probes_out.clear();
        inner.probe_successes = 0;
        Transition {
            from,
            to: BreakerState::Open,
        }
    }

    /// The state as last moved (an open breaker past `open_for` stays open until `admit`).
    pub fn state(&self) -> BreakerState {
        self.lock().state
    }

    pub fn snapshot(&self, now_ms: u64) -> BreakerSnapshot {
        let inner = self.lock();
        let (failures, total) = window_counts(&inner.buckets, now_ms / self.bucket_width());
        BreakerSnapshot {
            state: inner.state,
            failures,
            total,
        }
    }
}

/// Failures and requests in the buckets still inside the window ending at `epoch`.
fn window_counts(buckets: &[Bucket; BUCKETS], epoch: u64) -> (u32, u32) {
    buckets
        .iter()
        .filter(|b| b.epoch + (BUCKETS as u64) > epoch && b.epoch <= epoch)
        .fold((0, 0), |(f, t), b| {
            (f.saturating_add(b.failures), t.saturating_add(b.total))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: u64 = 1_700_000_000_000;

    fn breaker(min_requests: u32) -> CircuitBreaker {
        CircuitBreaker::new(BreakerConfig {
            failure_ratio: 0.5,
            window_ms: 10_000,
            min_requests,
            open_for_ms: 5_000,
            half_open_probes: 2,
        })
    }

    fn fail(b: &CircuitBreaker, now: u64, n: u32) -> Vec<Transition> {
        (0..n)
            .filter_map(|_| b.record(now, Outcome::Failure, false))
            .collect()
    }

    fn opened() -> Transition {
        Transition {
            from: BreakerState::Closed,
            to: BreakerState::Open,
        }
    }

    #[test]
    fn stays_closed_below_the_minimum_even_at_total_failure() {
        let b = breaker(10);
        assert!(fail(&b, T0, 9).is_empty());
        assert_eq!(b.state(), BreakerState::Closed);
        assert_eq!(b.admit(T0).0, Admission::Allowed);
    }

    #[test]
    fn opens_exactly_at_the_ratio_once() {
        let b = breaker(10);
        for _ in 0..5 {
            assert_eq!(b.record(T0, Outcome::Success, false), None);
        }
        assert!(fail(&b, T0, 4).is_empty(), "4 of 9: below the minimum");
        assert_eq!(fail(&b, T0, 1), vec![opened()], "5 of 10 = 0.5");
        assert!(
            fail(&b, T0, 5).is_empty(),
            "reported once; late results ignored"
        );
        assert_eq!(b.snapshot(T0).state, BreakerState::Open);
    }

    #[test]
    fn old_failures_roll_out_of_the_window() {
        let b = breaker(10);
        assert!(fail(&b, T0, 9).is_empty());
        // 10 s later those nine are outside the window.
        assert!(fail(&b, T0 + 10_000, 1).is_empty());
        assert_eq!(b.snapshot(T0 + 10_000).total, 1);
    }

    #[test]
    fn open_rejects_with_exact_retry_after_then_half_opens_for_n_probes() {
        let b = breaker(2);
        assert_eq!(fail(&b, T0, 2), vec![opened()]);
        assert_eq!(
            b.admit(T0 + 1_000),
            (
                Admission::Rejected {
                    retry_after_ms: 4_000
                },
                None
            )
        );
        let (first, t) = b.admit(T0 + 5_000);
        assert_eq!(first, Admission::Probe);
        assert_eq!(
            t,
            Some(Transition {
                from: BreakerState::Open,
                to: BreakerState::HalfOpen
            })
        );
        assert_eq!(b.admit(T0 + 5_000), (Admission::Probe, None));
        assert!(matches!(b.admit(T0 + 5_000).0, Admission::Rejected { .. }));
    }

    #[test]
    fn a_probe_failure_reopens_and_probe_successes_close_with_a_clean_window() {
        let b = breaker(2);
        fail(&b, T0, 2);
        b.admit(T0 + 5_000);
        assert_eq!(
            b.record(T0 + 5_001, Outcome::Failure, true),
            Some(Transition {
                from: BreakerState::HalfOpen,
                to: BreakerState::Open
            })
        );
        assert!(matches!(b.admit(T0 + 9_000).0, Admission::Rejected { .. }));
        assert_eq!(b.admit(T0 + 10_001).0, Admission::Probe);
        assert_eq!(b.admit(T0 + 10_001).0, Admission::Probe);
        assert_eq!(b.record(T0 + 10_002, Outcome::Success, true), None);
        assert_eq!(
            b.record(T0 + 10_002, Outcome::Success, true),
            Some(Transition {
                from: BreakerState::HalfOpen,
                to: BreakerState::Closed
            })
        );
        assert_eq!(b.snapshot(T0 + 10_002).total, 0, "the window starts clean");
        assert_eq!(b.admit(T0 + 10_003).0, Admission::Allowed);
    }

    #[test]
    fn results_from_before_the_trip_do_not_count_while_half_open() {
        let b = breaker(2);
        fail(&b, T0, 2);
        b.admit(T0 + 5_000);
        assert_eq!(b.record(T0 + 5_000, Outcome::Success, false), None);
        assert_eq!(b.record(T0 + 5_000, Outcome::Failure, false), None);
        assert_eq!(b.state(), BreakerState::HalfOpen);
    }

    #[test]
    fn a_lost_probe_permit_expires() {
        let b = breaker(2);
        fail(&b, T0, 2);
        assert_eq!(b.admit(T0 + 5_000).0, Admission::Probe);
        assert_eq!(b.admit(T0 + 5_000).0, Admission::Probe);
        // Neither probe reports back (their requests were cancelled).
        let (rejected, _) = b.admit(T0 + 6_000);
        assert_eq!(
            rejected,
            Admission::Rejected {
                retry_after_ms: 4_000
            }
        );
        assert_eq!(
            b.admit(T0 + 10_000).0,
            Admission::Probe,
            "expired permits free up"
        );
    }

    #[test]
    fn a_full_cycle() {
        let b = breaker(4);
        let mut seen = Vec::new();
        seen.extend(fail(&b, T0, 4));
        let mut now = T0 + 5_000;
        while seen.len() < 3 {
            let (a, t) = b.admit(now);
            seen.extend(t);
            if a == Admission::Probe {
                seen.extend(b.record(now, Outcome::Success, true));
            }
            now += 1;
        }
        let states: Vec<_> = seen.iter().map(|t| t.to.as_str()).collect();
        assert_eq!(states, ["open", "half_open", "closed"]);
    }

    #[test]
    fn configuration_is_checked() {
        assert!(BreakerConfig::default().validate().is_ok());
        for bad in [
            BreakerConfig {
                failure_ratio: 0.0,
                ..Default::default()
            },
            BreakerConfig {
                failure_ratio: f64::NAN,
                ..Default::default()
            },
            BreakerConfig {
                half_open_probes: 0,
                ..Default::default()
            },
        ] {
            assert!(bad.validate().is_err(), "{bad:?}");
        }
    }
}
