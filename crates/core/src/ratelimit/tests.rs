use super::*;
use proptest::prelude::*;

const MIN: u64 = 60_000;
const T0: u64 = 1_700_000_000_000;

fn quota(limit: u32, period_ms: u64, burst: u32) -> Quota {
    Quota::new(limit, period_ms, burst).unwrap()
}

/// Requests at `step_ms` intervals from `T0`; returns how many were admitted.
fn offered(limiter: &MemoryLimiter, alg: Algorithm, q: &Quota, n: u64, step_ms: u64) -> u64 {
    let key = limiter.key("rule", "ann");
    (0..n)
        .filter(|i| limiter.decide(key, alg, q, T0 + i * step_ms).allowed)
        .count() as u64
}

/// Either algorithm's state, stepped through the pure functions.
#[derive(Debug, Clone, Copy)]
enum State {
    Gcra(Option<u64>),
    Sliding(Option<sliding::Window>),
}

impl State {
    fn decide(self, q: &Quota, now_ms: u64) -> (Decision, State) {
        match self {
            State::Gcra(tat) => {
                let (d, tat) = gcra::decide(tat, q, now_ms);
                (d, State::Gcra(Some(tat)))
            }
            State::Sliding(w) => {
                let (d, w) = sliding::decide(w, q, now_ms);
                (d, State::Sliding(Some(w)))
            }
        }
    }
}

#[test]
fn quotas_are_validated_and_scale_by_tier() {
    assert_eq!(Quota::new(0, 1000, 0), Err(QuotaError::ZeroLimit));
    assert_eq!(Quota::new(1, 0, 0), Err(QuotaError::ZeroPeriod));
    assert_eq!(quota(100, MIN, 0).burst, 100, "burst defaults to the limit");
    let pro = quota(100, MIN, 10).scaled(2.5);
    assert_eq!((pro.limit, pro.burst, pro.period_ms), (250, 25, MIN));
    assert_eq!(quota(1, MIN, 1).scaled(0.1).limit, 1, "never below 1");
    assert_eq!(quota(3, MIN, 3).scaled(f64::NAN).limit, 3);
}

#[test]
fn gcra_admits_the_burst_at_once_then_refuses() {
    let q = quota(10, MIN, 5);
    let mut state = None;
    for remaining in (0..5).rev() {
        let (d, s) = gcra::decide(state, &q, T0);
        assert!(d.allowed);
        assert_eq!(d.remaining, remaining);
        state = Some(s);
    }
    let (d, s) = gcra::decide(state, &q, T0);
    assert!(!d.allowed);
    assert_eq!(s, state.unwrap(), "a refusal does not change the state");
    // One emission interval (6 s) after the burst, exactly one more fits.
    assert_eq!(d.retry_after_ms, 6_000);
    assert_eq!(d.retry_after_secs(), 6);
    assert_eq!(
        d.reset_after_secs(),
        30,
        "five intervals until the bucket is full"
    );
}

#[test]
fn gcra_retry_after_is_exact_to_the_millisecond() {
    let q = quota(7, 1_000, 1);
    let (_, s) = gcra::decide(None, &q, T0);
    let (d, _) = gcra::decide(Some(s), &q, T0);
    assert!(!d.allowed);
    assert_eq!(d.retry_after_ms, 143, "1000/7 = 142.857 ms, rounded up");
    assert!(
        !gcra::decide(Some(s), &q, T0 + d.retry_after_ms - 1)
            .0
            .allowed
    );
    assert!(gcra::decide(Some(s), &q, T0 + d.retry_after_ms).0.allowed);
}

#[test]
fn gcra_steady_rate_and_reset_after_idle() {
    let limiter = MemoryLimiter::new(1000);
    let q = quota(60, MIN, 1);
    // One request a second is exactly the rate: all admitted.
    assert_eq!(offered(&limiter, Algorithm::Gcra, &q, 120, 1_000), 120);
    // After idling a full period, a key is as new.
    let key = limiter.key("rule", "ann");
    let later = T0 + 10 * MIN;
    assert!(limiter.decide(key, Algorithm::Gcra, &q, later).allowed);
    assert!(!limiter.decide(key, Algorithm::Gcra, &q, later).allowed);
}

#[test]
fn sliding_window_admits_the_limit_then_refuses_with_exact_retry_after() {
    let q = quota(5, 10_000, 0);
    let start = T0 - T0 % 10_000; // a window boundary
    let mut state = None;
    for remaining in (0..5).rev() {
        let (d, w) = sliding::decide(state, &q, start + 1_000);
        assert!(d.allowed);
        assert_eq!(d.remaining, remaining);
        state = Some(w);
    }
    let (d, w) = sliding::decide(state, &q, start + 1_000);
    assert!(!d.allowed);
    // Next window: 5 × (10000 − e)/10000 ≤ 4 → e ≥ 2000.
    assert_eq!(d.retry_after_ms, 9_000 + 2_000);
    let at = start + 1_000 + d.retry_after_ms;
    assert!(!sliding::decide(Some(w), &q, at - 1).0.allowed);
    assert!(sliding::decide(Some(w), &q, at).0.allowed);
    assert_eq!(d.reset_after_ms, 19_000, "both windows must roll off");
}

#[test]
fn sliding_window_retry_after_inside_the_window_is_exact() {
    let q = quota(10, 10_000, 0);
    let start = T0 - T0 % 10_000;
    // 10 requests in one window; 1 s into the next the estimate is 10 × 0.9 = 9, so one more
    // fits and then none until 10 × (1 − e) ≤ 8, at e = 2 s.
    let mut w = None;
    for _ in 0..10 {
        w = Some(sliding::decide(w, &q, start + 100).1);
    }
    let now = start + 10_000 + 1_000;
    let (d, w) = sliding::decide(w, &q, now);
    assert!(d.allowed);
    assert_eq!(d.remaining, 0);
    let (d, w) = sliding::decide(Some(w), &q, now);
    assert!(!d.allowed);
    assert_eq!(d.retry_after_ms, 1_000);
    let at = now + d.retry_after_ms;
    assert!(!sliding::decide(Some(w), &q, at - 1).0.allowed);
    assert!(sliding::decide(Some(w), &q, at).0.allowed);
}

#[test]
fn over_ten_thousand_requests_the_admitted_count_is_within_one_percent() {
    for (alg, burst) in [
        (Algorithm::Gcra, 1),
        (Algorithm::Gcra, 20),
        (Algorithm::SlidingWindow, 0),
    ] {
        let limiter = MemoryLimiter::new(1000);
        // 100 per second offered at 300 per second for 10,000 requests (33.3 s).
        let q = quota(100, 1_000, burst);
        let step = 10.0 / 3.0;
        let key = limiter.key("r", "k");
        let admitted = (0..10_000u64)
            .filter(|i| {
                let t = T0 - T0 % 1000 + (*i as f64 * step) as u64;
                limiter.decide(key, alg, &q, t).allowed
            })
            .count() as f64;
        let elapsed_s = 10_000.0 * step / 1000.0;
        let expected = 100.0 * elapsed_s
            + if alg == Algorithm::Gcra {
                burst as f64
            } else {
                0.0
            };
        let error = (admitted - expected).abs() / expected;
        assert!(
            error <= 0.01,
            "{alg:?} burst {burst}: admitted {admitted}, expected {expected}"
        );
    }
    // Offered below the limit, everything passes.
    for alg in [Algorithm::Gcra, Algorithm::SlidingWindow] {
        let limiter = MemoryLimiter::new(1000);
        assert_eq!(
            offered(&limiter, alg, &quota(100, 1_000, 0), 10_000, 11),
            10_000
        );
    }
}

#[test]
fn idle_keys_are_evicted_and_the_map_stays_bounded() {
    let limiter = MemoryLimiter::new(6_400);
    let q = quota(10, 1_000, 0);
    for i in 0..20_000 {
        let key = limiter.key("r", &i.to_string());
        limiter.decide(key, Algorithm::Gcra, &q, T0);
    }
    assert!(limiter.len() <= 6_400, "{} keys", limiter.len());
    assert_eq!(limiter.evict_idle(T0), 0, "nothing has drained yet");
    let held = limiter.len();
    assert_eq!(limiter.evict_idle(T0 + 1_000), held);
    assert!(limiter.is_empty());
    // A returning key has its whole burst again.
    let key = limiter.key("r", "0");
    let burst = (0..20)
        .take_while(|_| limiter.decide(key, Algorithm::Gcra, &q, T0 + 1_000).allowed)
        .count();
    assert_eq!(burst, 10);
    assert_eq!(limiter.evict_idle(T0 + 2_000), 1);
    // Sliding-window keys drain after two periods.
    let key = limiter.key("s", "ann");
    limiter.decide(key, Algorithm::SlidingWindow, &q, T0);
    assert_eq!(limiter.evict_idle(T0 + 1_000), 0);
    assert_eq!(limiter.evict_idle(T0 + 2_000), 1);
}

#[test]
fn sliding_window_steady_rate_and_reset_after_idle() {
    let limiter = MemoryLimiter::new(1000);
    let q = quota(60, MIN, 0);
    // Just under the rate, all are admitted, window after window. (Exactly at the rate a few
    // are not: the estimate weighs the previous window as if its requests were spread evenly,
    // which puts evenly spaced arrivals right on the limit.)
    assert_eq!(
        offered(&limiter, Algorithm::SlidingWindow, &q, 300, 1_100),
        300
    );
    let key = limiter.key("rule", "ann");
    let later = T0 + 10 * MIN;
    let d = limiter.decide(key, Algorithm::SlidingWindow, &q, later);
    assert!(d.allowed);
    assert_eq!(d.remaining, 59, "after idling two windows a key is as new");
    let start = later - later % MIN;
    assert_eq!(d.reset_after_ms, start + 2 * MIN - later);
}

#[test]
fn an_earlier_time_is_never_more_lenient() {
    // Callers race for a shard: one that read the clock a moment earlier may come second.
    let q = quota(4, 1_000, 0);
    let start = T0 - T0 % 1_000;
    let mut w = None;
    for _ in 0..4 {
        w = Some(sliding::decide(w, &q, start + 1_000).1);
    }
    let (late, _) = sliding::decide(w, &q, start + 999);
    assert!(!late.allowed, "the counts of the new window still apply");
    // The next window must be a quarter gone (4 × ¾ + 1 ≤ 4): 1 ms + 1 s + 250 ms from then.
    assert_eq!(
        late.retry_after_ms,
        1 + 1_000 + 250,
        "counted from the time asked"
    );

    let q = quota(4, 1_000, 4);
    let mut tat = None;
    for _ in 0..4 {
        tat = Some(gcra::decide(tat, &q, T0).1);
    }
    assert!(!gcra::decide(tat, &q, T0 - 1).0.allowed);
}

#[test]
fn quotas_built_field_by_field_never_panic() {
    let zero = Quota {
        limit: 0,
        period_ms: 0,
        burst: 0,
    };
    for alg in [Algorithm::Gcra, Algorithm::SlidingWindow] {
        let limiter = MemoryLimiter::new(10);
        let key = limiter.key("r", "k");
        for now in [0, 1, T0, T0, T0, u64::MAX] {
            limiter.decide(key, alg, &zero, now);
        }
    }
    // Burst 0 means the limit, whichever way the quota was built.
    let q = Quota {
        limit: 3,
        period_ms: MIN,
        burst: 0,
    };
    assert_eq!(gcra::decide(None, &q, T0).0.remaining, 2);
    assert_eq!(q.scaled(2.0).capacity(), 6);
}

#[test]
fn the_bound_is_exact_for_any_max_keys() {
    let q = quota(10, MIN, 0);
    for max_keys in [0, 1, 10, 63, 65, 100, 1_000] {
        let limiter = MemoryLimiter::new(max_keys);
        for i in 0..5_000 {
            let key = limiter.key("r", &i.to_string());
            assert!(limiter.decide(key, Algorithm::Gcra, &q, T0).allowed);
            assert!(limiter.len() <= max_keys.max(1), "max_keys {max_keys}");
        }
    }
}

#[test]
fn a_flood_of_new_keys_does_not_forgive_a_heavy_key() {
    let limiter = MemoryLimiter::new(6_400);
    let q = quota(100, MIN, 0);
    let heavy = limiter.key("r", "heavy");
    while limiter.decide(heavy, Algorithm::Gcra, &q, T0).allowed {}
    for i in 0..100_000 {
        let key = limiter.key("r", &format!("flood:{i}"));
        assert!(limiter.decide(key, Algorithm::Gcra, &q, T0).allowed);
    }
    assert!(limiter.len() <= 6_400);
    assert!(
        !limiter.decide(heavy, Algorithm::Gcra, &q, T0).allowed,
        "the keys nearest to draining are evicted first"
    );
}

#[test]
fn a_full_limiter_keeps_deciding_new_keys() {
    let limiter = MemoryLimiter::new(64);
    let q = quota(1, MIN, 0);
    for i in 0..10_000 {
        let key = limiter.key("r", &i.to_string());
        assert!(limiter.decide(key, Algorithm::Gcra, &q, T0).allowed);
    }
    assert!(limiter.len() <= 64);
}

#[test]
fn keys_differ_by_rule_and_identity_and_between_limiters() {
    let a = MemoryLimiter::new(10);
    let b = MemoryLimiter::new(10);
    assert_ne!(a.key("login", "1.2.3.4"), a.key("global", "1.2.3.4"));
    assert_ne!(a.key("login", "1.2.3.4"), a.key("login", "1.2.3.5"));
    assert_ne!(a.key("ab", "c"), a.key("a", "bc"));
    assert_ne!(
        a.key("x", "y"),
        b.key("x", "y"),
        "keys are secret per process"
    );
}

#[test]
fn huge_quotas_and_times_do_not_overflow() {
    let q = quota(u32::MAX, u64::MAX, u32::MAX);
    for alg in [Algorithm::Gcra, Algorithm::SlidingWindow] {
        let limiter = MemoryLimiter::new(10);
        let key = limiter.key("r", "k");
        limiter.decide(key, alg, &q, u64::MAX);
        limiter.decide(key, alg, &q, 0);
        limiter.decide(key, alg, &quota(1, 1, 1), u64::MAX);
    }
}

proptest! {
    /// GCRA never admits more than burst + limit × elapsed / period (+1 for the partial
    /// interval) over any prefix of any arrival sequence.
    #[test]
    fn gcra_never_exceeds_its_envelope(
        limit in 1u32..50,
        period_ms in 1u64..100_000,
        burst in 1u32..20,
        gaps in proptest::collection::vec(0u64..5_000, 1..300),
    ) {
        let q = quota(limit, period_ms, burst);
        let mut state = None;
        let mut now = T0;
        let mut admitted = 0u64;
        for gap in gaps {
            now += gap;
            let (d, s) = gcra::decide(state, &q, now);
            state = Some(s);
            if d.allowed {
                admitted += 1;
            }
            let elapsed = (now - T0) as f64;
            let envelope = burst as f64 + limit as f64 * elapsed / period_ms as f64 + 1.0;
            prop_assert!(admitted as f64 <= envelope, "{} > {}", admitted, envelope);
        }
    }

    /// For both algorithms and any history: a refused request is admitted exactly
    /// `retry_after_ms` later and not a millisecond sooner; an admitted one leaves exactly
    /// `remaining` admissions at the same instant; `reset_after_ms` later the key is full again.
    #[test]
    fn headers_are_exact(
        sliding_window in any::<bool>(),
        limit in 1u32..20,
        period_ms in 1u64..20_000,
        burst in 0u32..20,
        gaps in proptest::collection::vec(0u64..3_000, 1..100),
    ) {
        let q = quota(limit, period_ms, burst);
        let (mut state, capacity) = if sliding_window {
            (State::Sliding(None), limit)
        } else {
            (State::Gcra(None), q.capacity())
        };
        let mut now = T0;
        for gap in gaps {
            now += gap;
            let (d, next) = state.decide(&q, now);
            if d.allowed {
                prop_assert_eq!(d.retry_after_ms, 0);
                let mut probe = next;
                let further = (0..=capacity)
                    .take_while(|_| {
                        let (d, s) = probe.decide(&q, now);
                        probe = s;
                        d.allowed
                    })
                    .count();
                prop_assert_eq!(further, d.remaining as usize);
            } else {
                prop_assert!(d.retry_after_ms > 0);
                prop_assert!(next.decide(&q, now + d.retry_after_ms).0.allowed);
                prop_assert!(!next.decide(&q, now + d.retry_after_ms - 1).0.allowed);
            }
            let full = next.decide(&q, now + d.reset_after_ms).0;
            prop_assert!(full.allowed);
            prop_assert_eq!(full.remaining, capacity - 1);
            state = next;
        }
    }

    /// The sliding window never admits more than `limit` within one aligned window.
    #[test]
    fn sliding_window_never_exceeds_the_limit_in_a_window(
        limit in 1u32..30,
        period_ms in 10u64..10_000,
        gaps in proptest::collection::vec(0u64..500, 1..300),
    ) {
        let q = quota(limit, period_ms, 0);
        let mut state = None;
        let mut now = T0;
        let mut per_window = std::collections::HashMap::new();
        for gap in gaps {
            now += gap;
            let (d, w) = sliding::decide(state, &q, now);
            state = Some(w);
            if d.allowed {
                *per_window.entry(now / period_ms).or_insert(0u32) += 1;
            }
        }
        prop_assert!(per_window.values().all(|n| *n <= limit));
    }
}
