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
    // Sliding-window keys drain after two periods.
    let key = limiter.key("s", "ann");
    limiter.decide(key, Algorithm::SlidingWindow, &q, T0);
    assert_eq!(limiter.evict_idle(T0 + 1_000), 0);
    assert_eq!(limiter.evict_idle(T0 + 2_000), 1);
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
