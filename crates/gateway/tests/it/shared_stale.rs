//! The stale fallback shared through Redis: two gateways on one Redis (`PALISADE_TEST_REDIS_URL`)
//! and one store (so one keyring), each with its own breakers. What replica A kept, replica B
//! serves to the same caller only; entries are sealed, capped in size, count and age, and an
//! entry that is tampered with or cannot be read is no fallback (503 `circuit-open`, never 500).
//!
//! Skipped (with a message) without `PALISADE_TEST_REDIS_URL`.

use crate::common::{TestGateway, Upstream, assert_problem, client, route, start_clocked};
use palisade_core::clock::ManualClock;
use palisade_gateway::config::traffic::Fallback;
use palisade_gateway::config::units::{ByteSize, HumanDuration};
use redis::AsyncCommands;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

const START_MS: u64 = 1_900_000_000_000;

/// Two replicas, the Redis they share, the upstream behind them and their clock.
struct Pair {
    a: TestGateway,
    b: TestGateway,
    up: Upstream,
    clock: Arc<ManualClock>,
    redis: redis::aio::MultiplexedConnection,
    prefix: String,
    _dir: tempfile::TempDir,
}

async fn pair(upstream: &'static str, edit: fn(&mut palisade_gateway::Config)) -> Option<Pair> {
    let Ok(url) = std::env::var("PALISADE_TEST_REDIS_URL") else {
        println!("skipped: PALISADE_TEST_REDIS_URL not set");
        return None;
    };
    let up = Upstream::start(upstream).await;
    let clock = Arc::new(ManualClock::starting_at(START_MS));
    let prefix = format!("t{}", uuid::Uuid::now_v7().simple());
    let dir = tempfile::tempdir().unwrap();
    let mut replicas = Vec::new();
    for _ in 0..2 {
        let (url, prefix, data_dir) = (url.clone(), prefix.clone(), dir.path().join("shared"));
        let mut r = route("/api/", &up);
        r.fallback = Fallback::Stale;
        let gw = start_clocked(
            move |c| {
                // One SQLite store and one (dev) master key: one keyring for both replicas.
                c.store.url = "sqlite:".into();
                c.server.data_dir = data_dir;
                c.secrets.signing_key = "shared-stale-test-signing-key-0123456789abcdef".into();
                c.secrets.cookie_key = "shared-stale-test-cookie-key-0123456789abcdef0".into();
                c.hot_state.url = Some(url);
                c.hot_state.prefix = prefix;
                c.server.trusted_proxies = vec!["127.0.0.0/8".parse().unwrap()];
                c.circuit_breaker.min_requests = 2;
                c.circuit_breaker.open_for = HumanDuration(Duration::from_secs(3600));
                c.circuit_breaker.fallback_max_age = HumanDuration(Duration::from_secs(10));
                c.circuit_breaker.fallback_refresh = HumanDuration(Duration::from_secs(5));
                edit(c);
            },
            vec![r],
            clock.clone(),
        )
        .await;
        replicas.push(gw);
    }
    let b = replicas.pop().unwrap();
    let a = replicas.pop().unwrap();
    let redis = redis::Client::open(url)
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    Some(Pair {
        a,
        b,
        up,
        clock,
        redis,
        prefix,
        _dir: dir,
    })
}

impl Pair {
    async fn get(&self, gw: &TestGateway, path: &str, ip: &str) -> reqwest::Response {
        client()
            .get(gw.url(path))
            .header("x-forwarded-for", ip)
            .send()
            .await
            .unwrap()
    }

    /// Waits for A's stores in flight to reach Redis.
    async fn settle(&self) {
        let shared = self.a.gateway.state.resilience.shared();
        shared
            .expect("Redis hot state shares the fallback")
            .settle()
            .await;
    }

    /// The fallback entries' Redis keys, sorted.
    async fn entries(&mut self) -> Vec<String> {
        let pattern = format!("{}:sf:{{stale}}:e:*", self.prefix);
        let mut keys: Vec<String> = self.redis.keys(pattern).await.unwrap();
        keys.sort();
        keys
    }

    /// Takes the upstream down and opens B's circuit (A's stays closed).
    async fn open_b(&self) {
        self.up.down.store(true, Ordering::SeqCst);
        for _ in 0..2 {
            let res = self.get(&self.b, "/api/other", "203.0.113.9").await;
            assert_eq!(res.status(), 503);
        }
    }

    async fn cleanup(mut self) {
        let keys: Vec<String> = self.redis.keys(format!("{}:*", self.prefix)).await.unwrap();
        if !keys.is_empty() {
            let _: () = self.redis.del(keys).await.unwrap();
        }
    }
}

async fn metric(gw: &TestGateway, line_start: &str) -> u64 {
    let text = client()
        .get(gw.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(line_start))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .map_or(0, |v| v as u64)
}

#[tokio::test]
async fn shared_stale_replica_b_serves_what_a_kept_to_the_same_caller_only_sealed_and_aged() {
    let Some(mut p) = pair("shared-stale-marker", |_| {}).await else {
        return;
    };
    let fresh = p.get(&p.a, "/api/items?page=1", "198.51.100.1").await;
    assert_eq!(fresh.status(), 200);
    let body = fresh.text().await.unwrap();
    assert!(body.contains("shared-stale-marker"));
    p.settle().await;

    let keys = p.entries().await;
    assert_eq!(keys.len(), 1, "one entry: {keys:?}");
    let raw: Vec<u8> = p.redis.get(&keys[0]).await.unwrap();
    let text = String::from_utf8(raw.clone()).unwrap();
    assert!(text.starts_with("pal1."), "a keyring ciphertext");
    assert!(!text.contains("shared-stale-marker") && !text.contains(&body));
    assert!(!keys[0].contains("198.51.100.1") && !keys[0].contains("items"));

    // A fresh copy is not written again: with the entry gone from Redis, a second good answer
    // through A within `fallback_refresh` leaves it gone.
    let _: () = p.redis.del(&keys[0]).await.unwrap();
    let again = p.get(&p.a, "/api/items?page=1", "198.51.100.1").await;
    assert_eq!(again.status(), 200);
    p.settle().await;
    assert!(p.entries().await.is_empty(), "no write within the refresh");
    let _: () = p.redis.set(&keys[0], raw).await.unwrap();

    p.open_b().await;
    let stale = p.get(&p.b, "/api/items?page=1", "198.51.100.1").await;
    assert_eq!(stale.status(), 200);
    assert_eq!(stale.headers()["x-palisade-fallback"], "stale");
    assert_eq!(stale.text().await.unwrap(), body);
    let other = p.get(&p.b, "/api/items?page=1", "198.51.100.2").await;
    assert_problem(other, 503, "circuit-open").await;

    // Past `fallback_max_age` on the gateways' clock, whatever Redis still holds.
    p.clock.advance(Duration::from_secs(11));
    assert_eq!(p.entries().await.len(), 1, "Redis still holds it");
    let old = p.get(&p.b, "/api/items?page=1", "198.51.100.1").await;
    assert_problem(old, 503, "circuit-open").await;
    p.cleanup().await;
}

#[tokio::test]
async fn shared_stale_tampered_replayed_or_unreadable_entries_are_no_fallback_never_500() {
    let Some(mut p) = pair("shared-stale-tamper", |_| {}).await else {
        return;
    };
    for ip in ["198.51.100.1", "198.51.100.2", "198.51.100.3"] {
        assert_eq!(p.get(&p.a, "/api/t", ip).await.status(), 200);
        p.settle().await;
        // One second apart, so each entry's place in the index is its own.
        p.clock.advance(Duration::from_secs(1));
    }
    let keys = p.entries().await;
    assert_eq!(keys.len(), 3);
    // Which key is whose: each caller's answer opens only under its own key, so find them by
    // what B serves once the circuit is open. First, all three are served.
    p.open_b().await;
    for ip in ["198.51.100.1", "198.51.100.2", "198.51.100.3"] {
        let res = p.get(&p.b, "/api/t", ip).await;
        assert_eq!(res.headers()["x-palisade-fallback"], "stale", "{ip}");
    }

    let decrypt = "palisade_stale_fallback_errors_total{reason=\"decrypt\"} ";
    let before = metric(&p.b, decrypt).await;
    // Flip one character of every ciphertext's sealed part to another base64url character.
    let mut originals = Vec::new();
    for key in &keys {
        let raw: Vec<u8> = p.redis.get(key).await.unwrap();
        let mut bad = raw.clone();
        let at = bad.len() - 10;
        bad[at] = if bad[at] == b'A' { b'B' } else { b'A' };
        let _: () = p.redis.set(key, bad).await.unwrap();
        originals.push(raw);
    }
    for ip in ["198.51.100.1", "198.51.100.2", "198.51.100.3"] {
        let res = p.get(&p.b, "/api/t", ip).await;
        assert_problem(res, 503, "circuit-open").await;
    }
    assert!(metric(&p.b, decrypt).await >= before + 3, "counted");

    // Replayed under another caller's key: every entry moved one key along opens for nobody.
    for (i, key) in keys.iter().enumerate() {
        let moved = originals[(i + 1) % keys.len()].clone();
        let _: () = p.redis.set(key, moved).await.unwrap();
    }
    for ip in ["198.51.100.1", "198.51.100.2", "198.51.100.3"] {
        let res = p.get(&p.b, "/api/t", ip).await;
        assert_problem(res, 503, "circuit-open").await;
    }

    // A Redis error (the key holds another type: WRONGTYPE) is no fallback either.
    let redis_read = "palisade_stale_fallback_errors_total{reason=\"redis_read\"} ";
    let before = metric(&p.b, redis_read).await;
    for key in &keys {
        let _: () = p.redis.del(key).await.unwrap();
        let _: () = p.redis.rpush(key, "x").await.unwrap();
    }
    let res = p.get(&p.b, "/api/t", "198.51.100.1").await;
    assert_problem(res, 503, "circuit-open").await;
    assert!(metric(&p.b, redis_read).await > before, "counted");

    // Restored, each entry is served again to its own caller.
    for (key, raw) in keys.iter().zip(originals) {
        let _: () = p.redis.del(key).await.unwrap();
        let _: () = p.redis.set(key, raw).await.unwrap();
    }
    let res = p.get(&p.b, "/api/t", "198.51.100.2").await;
    assert_eq!(res.headers()["x-palisade-fallback"], "stale");
    p.cleanup().await;
}

#[tokio::test]
async fn shared_stale_entries_are_capped_in_size_and_count() {
    let Some(mut p) = pair("shared-stale-caps", |c| {
        c.circuit_breaker.fallback_max_entries = 2;
        // The upstream's answer to a bodiless GET is 45 bytes (`"body_len":0`).
        c.circuit_breaker.fallback_max_entry_bytes = ByteSize(48);
    })
    .await
    else {
        return;
    };
    for path in ["/api/1", "/api/2", "/api/3"] {
        assert_eq!(p.get(&p.a, path, "198.51.100.1").await.status(), 200);
        p.settle().await;
        p.clock.advance(Duration::from_secs(1));
    }
    assert_eq!(
        p.entries().await.len(),
        2,
        "trimmed to fallback_max_entries"
    );
    let index = format!("{}:sf:{{stale}}:i", p.prefix);
    let members: u64 = p.redis.zcard(&index).await.unwrap();
    assert_eq!(members, 2);

    // Over the size cap: the upstream's answer names the length of the request's body, so a
    // GET with a 100,000-byte body gets a 50-byte answer, over the 48-byte cap.
    let large = client()
        .get(p.a.url("/api/4"))
        .header("x-forwarded-for", "198.51.100.1")
        .body(vec![b'x'; 100_000])
        .send()
        .await
        .unwrap();
    assert_eq!(large.status(), 200);
    assert_eq!(large.bytes().await.unwrap().len(), 50);
    p.settle().await;
    assert_eq!(p.entries().await.len(), 2, "nothing more stored");
    assert_eq!(p.redis.zcard::<_, u64>(&index).await.unwrap(), 2);

    p.open_b().await;
    for (path, served) in [("/api/1", false), ("/api/2", true), ("/api/3", true)] {
        let res = p.get(&p.b, path, "198.51.100.1").await;
        if served {
            assert_eq!(res.headers()["x-palisade-fallback"], "stale", "{path}");
        } else {
            assert_problem(res, 503, "circuit-open").await;
        }
    }
    p.cleanup().await;
}
