//! API-key verification from the cache: a key Palisade made (the baseline) against an imported
//! key after its first use (migrated to the native keyed hash), in the same run, among 10,000
//! stored keys. Two levels: `verify` (keyed hash + cache lookup) and the whole `authenticate`
//! of a request's headers (plus the revocation flag read and the principal handed out).

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use palisade_gateway::audit::{AuditLog, RequestOrigin};
use palisade_gateway::config::Config;
use palisade_gateway::identity::Identity;
use palisade_gateway::identity::manage::{By, ImportBatch, KeyImport, NewKey};
use palisade_store::identity::{PrincipalKind, UserRecord};
use secrecy::ExposeSecret;
use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

const LEGACY: &str = "acme_3f9a1c2e_0123456789abcdef0123456789abcdef";

fn setup(rt: &tokio::runtime::Runtime, dir: &std::path::Path) -> (Identity, String) {
    rt.block_on(async {
        let mut config = Config::default();
        config.store.url = "memory:".into();
        config.server.data_dir = dir.to_path_buf();
        config.auth.api_keys.prefixes = vec!["pal_".into(), "acme_".into()];
        let clock: palisade_core::clock::SharedClock = Arc::new(palisade_core::clock::SystemClock);
        let store = palisade_store::open_store("memory:", dir).await.unwrap();
        let hot = palisade_gateway::hot::open_hot(&config, clock.clone())
            .await
            .unwrap()
            .hot;
        let id = Identity::start(&config, store, hot, clock, Arc::new(AuditLog::default()))
            .await
            .unwrap();
        let owner = UserRecord {
            id: uuid::Uuid::now_v7(),
            external_id: None,
            email: "bench@example.com".into(),
            name: None,
            password_hash: None,
            roles: vec!["member".into()],
            tier: "free".into(),
            kind: PrincipalKind::Human,
            disabled: false,
            last_login_at: None,
            created_at: 0,
            updated_at: 0,
        };
        id.store.user_insert(&owner).await.unwrap();
        let origin = RequestOrigin::default();
        let by = By {
            actor: "bench".into(),
            origin: &origin,
        };
        let mut native = String::new();
        for i in 0..10_000 {
            let (_, plain) = id
                .create_api_key(
                    NewKey {
                        name: "k",
                        owner: owner.id,
                        roles: vec!["member".into()],
                        scopes: Vec::new(),
                        expires_in: None,
                    },
                    &by,
                )
                .await
                .unwrap();
            if i == 0 {
                native = plain.expose_secret().to_string();
            }
        }
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, LEGACY.as_bytes());
        let row = KeyImport {
            owner: owner.id.to_string(),
            name: "legacy".into(),
            prefix: "acme_3f9a1c2e".into(),
            hash: format!(
                "sha256:{}",
                palisade_core::fingerprint::hex(digest.as_ref())
            ),
            scopes: Vec::new(),
            expires_at: None,
            last_used_at: None,
        };
        id.import_api_keys(&[row], None, false, &mut ImportBatch::default(), &by)
            .await
            .unwrap();
        // The first use: one slow verification, then the key is native.
        let ip = "203.0.113.9".parse().unwrap();
        let mut h = http::HeaderMap::new();
        h.insert("x-api-key", LEGACY.parse().unwrap());
        id.authenticate(&http::Method::GET, &h, ip).await.unwrap();
        assert_eq!(id.legacy.slow_verifications(), 1);
        (id, native)
    })
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (id, native) = setup(&rt, dir.path());
    let ip: std::net::IpAddr = "203.0.113.9".parse().unwrap();
    let mut g = c.benchmark_group("api_key_cached");
    g.throughput(Throughput::Elements(1));
    g.measurement_time(Duration::from_secs(3));
    for (name, key) in [("native", native.as_str()), ("migrated_legacy", LEGACY)] {
        g.bench_function(format!("verify/{name}"), |b| {
            b.iter_custom(|iters| {
                rt.block_on(async {
                    let start = Instant::now();
                    for _ in 0..iters {
                        black_box(id.api_keys.verify(black_box(key), 1).await.unwrap());
                    }
                    start.elapsed()
                })
            })
        });
        let mut h = http::HeaderMap::new();
        h.insert("x-api-key", key.parse().unwrap());
        g.bench_function(format!("authenticate/{name}"), |b| {
            b.iter_custom(|iters| {
                rt.block_on(async {
                    let start = Instant::now();
                    for _ in 0..iters {
                        black_box(id.authenticate(&http::Method::GET, &h, ip).await.unwrap());
                    }
                    start.elapsed()
                })
            })
        });
    }
    g.finish();
    assert_eq!(
        id.legacy.slow_verifications(),
        1,
        "no slow verification after the first"
    );
}

criterion_group!(benches, bench);
criterion_main!(benches);
