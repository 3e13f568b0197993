//! One in-memory limiter decision (limit never reached) against a baseline in the same run: a
//! lookup of the same keys in a plain `HashMap`. Keys cycle through 10,000 identities.

use criterion::{Criterion, criterion_group, criterion_main};
use palisade_core::ratelimit::{Algorithm, MemoryLimiter, Quota};
use std::collections::HashMap;
use std::hint::black_box;

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("ratelimit");
    let limiter = MemoryLimiter::new(1_000_000);
    let keys: Vec<u128> = (0..10_000)
        .map(|i| limiter.key("global", &format!("user:{i}")))
        .collect();
    let quota = Quota::new(u32::MAX, 1_000, 0).unwrap();
    let now = 1_700_000_000_000u64;

    let plain: HashMap<u128, u64> = keys.iter().map(|k| (*k, 0)).collect();
    let mut i = 0usize;
    g.bench_function("baseline_hashmap_lookup", |b| {
        b.iter(|| {
            i = (i + 1) % keys.len();
            black_box(plain.get(&keys[i]))
        })
    });
    for (name, alg) in [
        ("decide_gcra", Algorithm::Gcra),
        ("decide_sliding_window", Algorithm::SlidingWindow),
    ] {
        let mut i = 0usize;
        g.bench_function(name, |b| {
            b.iter(|| {
                i = (i + 1) % keys.len();
                black_box(limiter.decide(keys[i], alg, &quota, now))
            })
        });
    }
    let mut i = 0u64;
    g.bench_function("key_derivation", |b| {
        b.iter(|| {
            i += 1;
            black_box(limiter.key("global", black_box("user:1234")))
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
