//! The inspect gate's work on a body, without the network: a 1 KB JSON POST body (the
//! `scripts/bench` case) and a 1 MiB adversarial JSON body — nested to the depth bound, then
//! 100,000 short strings — through `InspectPolicy::inspect` at paranoia 2 (the JSON walk with
//! duplicate-key and bound checks, then every detector on every string).

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use palisade_gateway::config::inspect::{InspectConfig, RouteInspect};
use palisade_gateway::protect::inspect::InspectPolicy;
use std::hint::black_box;
use std::time::Duration;

#[path = "support/inspect_request.rs"]
mod request;
use request::{parts, small_body};

fn adversarial_body(depth: usize) -> Vec<u8> {
    let mut s = String::with_capacity(1 << 20);
    s.push_str(&"[".repeat(depth - 2));
    s.push('[');
    let mut i = 0;
    while s.len() < (1 << 20) - depth - 16 {
        if i > 0 {
            s.push(',');
        }
        s.push_str(r#""a'b""#);
        i += 1;
    }
    s.push(']');
    s.push_str(&"]".repeat(depth - 2));
    assert!(i >= 100_000, "{i} strings");
    s.into_bytes()
}

fn bench(c: &mut Criterion) {
    let global = InspectConfig {
        max_elements: 200_000,
        ..InspectConfig::default()
    };
    let policy = InspectPolicy::new(&global, &RouteInspect::default()).unwrap();
    let parts = parts();
    let small = small_body();
    let mut g = c.benchmark_group("inspect");
    g.throughput(Throughput::Bytes(small.len() as u64));
    g.bench_function("json_1kb_paranoia2", |b| {
        b.iter(|| black_box(policy.inspect(&parts, black_box(&small)).unwrap()))
    });
    let big = adversarial_body(global.max_depth);
    g.throughput(Throughput::Bytes(big.len() as u64));
    g.sample_size(10).measurement_time(Duration::from_secs(5));
    g.bench_function("json_1mib_adversarial", |b| {
        b.iter(|| black_box(policy.inspect(&parts, black_box(&big)).unwrap()))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
