//! Sustained audit events per second into SQLite through the trail's single writer (group
//! commit), against a baseline in the same run: the same events only queued and flushed to the
//! in-memory store. Each iteration submits 10,000 events and waits until all are committed.
//!
//! Every event carries a client address and user agent, which the writer seals under its
//! actor's key. `*_group_commit` gives each event an actor of its own (every event a subject
//! seen for the first time: the worst case, a key made per event); `sqlite_100_subjects` cycles
//! through 100 actors (keys made once, then from memory: steady traffic).

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use palisade_core::audit::{Outcome, Risk};
use palisade_gateway::audit::trail::{AuditTrail, Draft};
use palisade_gateway::config::audit::AuditConfig;
use std::sync::Arc;
use std::time::{Duration, Instant};

const BATCH: u64 = 10_000;

fn draft(i: u64, subjects: u64) -> Draft {
    Draft {
        event_type: "auth.login_failure".into(),
        risk: Risk::Medium,
        result: Outcome::Failure,
        actor: Some(format!("0193a5c2-7d1e-7c3a-9f00-{:012}", i % subjects)),
        action: Some("POST /auth/login".into()),
        resource_type: Some("account".into()),
        resource_id: None,
        tenant: None,
        client_ip: Some("203.0.113.9".into()),
        user_agent: Some("Mozilla/5.0 (X11; Linux x86_64)".into()),
        request_id: Some(format!("0193a5c2-7d1e-7c3a-9f00-{i:012}")),
        details: serde_json::json!({"threat_level": "low"}),
        source: Default::default(),
    }
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut g = c.benchmark_group("audit");
    g.throughput(Throughput::Elements(BATCH));
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(10));
    for (name, url, subjects) in [
        ("memory_store", "memory:", u64::MAX),
        ("sqlite_group_commit", "sqlite:", u64::MAX),
        ("sqlite_100_subjects", "sqlite:", 100),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let trail: Arc<AuditTrail> = rt.block_on(async {
            let store = palisade_store::open_store(url, dir.path()).await.unwrap();
            AuditTrail::start(
                store,
                &palisade_gateway::config::SecretsConfig {
                    signing_key: "a bench secret that is long enough for key derivation".into(),
                    ..Default::default()
                },
                Arc::new(palisade_core::clock::SystemClock),
                &AuditConfig::default(),
                palisade_gateway::config::retention::RetentionConfig::default()
                    .audit_periods(&AuditConfig::default()),
            )
            .await
            .unwrap()
        });
        let mut i = 0u64;
        g.bench_function(name, |b| {
            b.iter_custom(|iters| {
                rt.block_on(async {
                    let started = Instant::now();
                    for _ in 0..iters {
                        for _ in 0..BATCH {
                            i += 1;
                            trail.submit(draft(i, subjects));
                        }
                        trail.flush().await;
                    }
                    started.elapsed()
                })
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
