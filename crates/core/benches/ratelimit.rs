//! One in-memory limiter decision against a baseline in the same run: a lookup of the same keys
//! in a plain `HashMap`. Keys cycle through 10,000 identities already in the limiter, with a
//! limit that is never reached; then a flood of new keys into a full limiter (every decision
//! must make room), and the cost of deriving a key.

use criterion::{Criterion, criterion_group, criterion_main};
use palisade_core::ratelimit::{Algorithm, MemoryLimiter, Quota};
use std::collections::HashMap;
use std::hint::black_box;

const KEYS: usize = 10_000;
const NOW: u64 = 1_700_000_000_000;

fn populated(alg: Algorithm, quota: &Quota) -> (MemoryLimiter, Vec<u128>) {
    let limiter = MemoryLimiter::new(1_000_000);
    let keys: Vec<u128> = (0..KEYS)
        .map(|i| limiter.key("global", &format!("user:{i}")))
        .collect();
    for key in &keys {
        limiter.decide(*key, alg, quota, NOW);
    }
    (limiter, keys)
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("ratelimit");
    let quota = Quota::new(u32::MAX, 1_000, 0).expect("a valid quota");

    let (_, keys) = populated(Algorithm::Gcra, &quota);
    let plain: HashMap<u128, u64> = keys.iter().map(|k| (*k, 0)).collect();
    let mut i = 0usize;
    g.bench_function("baseline_hashmap_lookup", |b| {
        b.iter(|| {
            i = (i + 1) % KEYS;
            black_box(plain.get(&keys[i]))
        })
    });

    for (name, alg) in [
        ("decide_gcra", Algorithm::Gcra),
        ("decide_sliding_window", Algorithm::SlidingWindow),
    ] {
        let (limiter, keys) = populated(alg, &quota);
        let mut i = 0usize;
        g.bench_function(name, |b| {
            b.iter(|| {
                i = (i + 1) % KEYS;
                black_box(limiter.decide(keys[i], alg, &quota, NOW))
            })
        });
        assert_eq!(limiter.len(), KEYS);
    }

    // Every key is new to a full limiter, so each decision evicts (amortized) one entry.
    let full = MemoryLimiter::new(KEYS);
    let fresh: Vec<u128> = (0..200 * KEYS)
        .map(|i| full.key("global", &format!("ip:{i}")))
        .collect();
    for key in &fresh[..KEYS] {
        full.decide(*key, Algorithm::Gcra, &quota, NOW);
    }
    let mut i = 0usize;
    g.bench_function("decide_gcra_new_key_full_limiter", |b| {
        b.iter(|| {
            i = (i + 1) % fresh.len();
            black_box(full.decide(fresh[i], Algorithm::Gcra, &quota, NOW))
        })
    });
    assert!(full.len() <= KEYS);

    let limiter = MemoryLimiter::new(KEYS);
    g.bench_function("key_derivation", |b| {
        b.iter(|| black_box(limiter.key("global", black_box("user:1234"))))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
