//! Per-request domain work on the hot path, each against a trivial baseline measured in the same
//! run: request-id validation, client-IP resolution, and log redaction (clean and dirty lines).

use criterion::{Criterion, criterion_group, criterion_main};
use palisade_core::client_ip::TrustedProxies;
use palisade_core::redact::{RedactOptions, Redactor};
use palisade_core::request_id;
use std::hint::black_box;
use std::net::IpAddr;

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("hot_path");
    g.bench_function("baseline_len", |b| {
        b.iter(|| black_box("0193a5c2-7d1e-7c3a-9f00-1234567890ab").len())
    });
    g.bench_function("request_id_is_well_formed", |b| {
        b.iter(|| request_id::is_well_formed(black_box(b"0193a5c2-7d1e-7c3a-9f00-1234567890ab")))
    });

    let trusted = TrustedProxies::new(vec![
        "10.0.0.0/8".parse().unwrap(),
        "192.168.0.0/16".parse().unwrap(),
    ]);
    let untrusted_peer: IpAddr = "203.0.113.9".parse().unwrap();
    let proxy_peer: IpAddr = "10.1.2.3".parse().unwrap();
    g.bench_function("client_ip_untrusted_peer", |b| {
        b.iter(|| trusted.resolve(black_box(untrusted_peer), ["1.2.3.4"].into_iter()))
    });
    g.bench_function("client_ip_through_two_proxies", |b| {
        b.iter(|| {
            trusted.resolve(
                black_box(proxy_peer),
                ["198.51.100.7, 192.168.1.1"].into_iter(),
            )
        })
    });

    let redactor = Redactor::new(RedactOptions::default());
    let clean = "2026-11-23T01:47:34Z INFO palisade::access: request request_id=01a2 method=GET path=/api/items status=200 duration_ms=1.5";
    let dirty = r#"DEBUG request received headers={"authorization": "Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhIn0.c2ln", "x-api-key": "pk_1"} uri=/login?email=a@b.io"#;
    g.bench_function("redact_clean_line", |b| {
        b.iter(|| redactor.redact(black_box(clean)).len())
    });
    g.bench_function("redact_dirty_line", |b| {
        b.iter(|| redactor.redact(black_box(dirty)).len())
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
