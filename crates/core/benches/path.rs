//! The path canonicalizer, which runs on every proxied request: an already canonical short path
//! and a long one (~30 segments), both taking the one-scan borrowed fast path, and a path that
//! needs work (dot segments, repeated slashes, encoded unreserved characters, lower-case hex).
//! Baseline in the same run: the least any validator does, one `is_ascii_graphic` test per byte
//! of the long path (read the ratio; absolute figures move with the machine's load).

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use palisade_core::path::{PathPolicy, canonicalize};
use std::hint::black_box;

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("path");
    g.throughput(Throughput::Elements(1));
    let policy = PathPolicy::default();

    let short = "/api/v1/users/42";
    let long = format!(
        "{}/file.json",
        (0..29).map(|i| format!("/seg{i}-x")).collect::<String>()
    );
    let work = "/api/./v1//users/%2e%2E/%61dmin/items/x/../caf%c3%a9/%7Euser/a%2bb/";
    g.bench_function("baseline_ascii_scan_long", |b| {
        b.iter(|| {
            black_box(long.as_str())
                .bytes()
                .all(|c| c.is_ascii_graphic())
        })
    });
    for (name, path) in [
        ("short_canonical", short),
        ("long_canonical", &long),
        ("needs_work", work),
    ] {
        assert!(canonicalize(path, &policy).is_ok(), "{name}");
        g.bench_function(name, |b| {
            b.iter(|| canonicalize(black_box(path), &policy).map(|p| p.len()))
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
