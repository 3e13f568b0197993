//! Measures what 1,000,000 distinct rate-limit keys cost in resident memory (its own test
//! binary, so nothing else allocates meanwhile).

use palisade_core::ratelimit::{Algorithm, MemoryLimiter, Quota};

fn resident_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

#[test]
fn ratelimit_a_million_keys_cost_under_200_mb() {
    let Some(before) = resident_bytes() else {
        eprintln!("skipped: /proc/self/status is not available to measure memory");
        return;
    };
    let limiter = MemoryLimiter::new(2_000_000);
    let quota = Quota::new(100, 60_000, 0).unwrap();
    let now = 1_700_000_000_000;
    for i in 0..1_000_000u32 {
        let key = limiter.key("global", &format!("user:{i}"));
        let alg = if i % 2 == 0 {
            Algorithm::Gcra
        } else {
            Algorithm::SlidingWindow
        };
        assert!(limiter.decide(key, alg, &quota, now).allowed);
    }
    assert_eq!(limiter.len(), 1_000_000);
    let grown = resident_bytes().unwrap().saturating_sub(before);
    eprintln!(
        "1,000,000 keys: {:.1} MB resident growth ({} bytes per key)",
        grown as f64 / 1e6,
        grown / 1_000_000
    );
    assert!(grown < 200_000_000, "{grown} bytes");
    assert_eq!(limiter.evict_idle(now + 120_000), 1_000_000);
    assert!(limiter.is_empty());
}
