//! Measures Redis rate-limit decisions per second with 64 concurrent tasks on one
//! `ConnectionManager` (multiplexed), against a baseline of PINGs measured the same way in the
//! same run. Keys are spread over 10,000 callers; the quota is never reached, so every decision
//! writes. Run once:
//!
//! `PALISADE_TEST_REDIS_URL=redis://127.0.0.1:6379 cargo run --release -p palisade-store --example redis_ratelimit_rate`
//!
//! Optional: `SECONDS` per phase (default 5), `TASKS` (default 64).

use palisade_core::clock::{Clock, SystemClock};
use palisade_core::ratelimit::{Algorithm, Quota};
use palisade_store::HotState;
use palisade_store::redis_hot::{RedisHotState, RedisOptions};
use palisade_store::redis_limiter::RateKey;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

#[derive(Clone, Copy)]
enum Phase {
    Ping,
    Decide(Algorithm),
}

async fn run(hot: Arc<RedisHotState>, phase: Phase, tasks: usize, secs: u64) -> f64 {
    let limiter = Arc::new(hot.limiter());
    let keys: Arc<Vec<RateKey>> = Arc::new(
        (0u32..10_000)
            .map(|i| RateKey::derive("bench", &[&i.to_be_bytes()]))
            .collect(),
    );
    let quota = Quota::new(1_000_000, 1_000, 0).unwrap();
    let done = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let handles: Vec<_> = (0..tasks)
        .map(|t| {
            let (hot, limiter, keys) = (hot.clone(), limiter.clone(), keys.clone());
            let (done, stop) = (done.clone(), stop.clone());
            tokio::spawn(async move {
                let mut i = t;
                while !stop.load(Ordering::Relaxed) {
                    match phase {
                        Phase::Ping => hot.ping().await.expect("ping"),
                        Phase::Decide(algorithm) => {
                            let key = &keys[i % keys.len()];
                            let now = SystemClock.now_millis();
                            let d = limiter
                                .decide(key, algorithm, &quota, now)
                                .await
                                .expect("decide");
                            assert!(d.allowed);
                        }
                    }
                    done.fetch_add(1, Ordering::Relaxed);
                    i += tasks;
                }
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_secs(secs)).await;
    stop.store(true, Ordering::Relaxed);
    for h in handles {
        h.await.unwrap();
    }
    done.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64()
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let url = std::env::var("PALISADE_TEST_REDIS_URL")
        .expect("set PALISADE_TEST_REDIS_URL, e.g. redis://127.0.0.1:6379");
    let env = |name: &str, default: u64| {
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let secs = env("SECONDS", 5);
    let tasks = env("TASKS", 64) as usize;
    let options = RedisOptions {
        prefix: format!("palbench:{}", uuid::Uuid::now_v7().simple()),
        ..RedisOptions::default()
    };
    let hot = Arc::new(RedisHotState::connect(&url, Arc::new(SystemClock), options).unwrap());
    hot.ping().await.expect("Redis answers");

    let ping = run(hot.clone(), Phase::Ping, tasks, secs).await;
    let gcra = run(hot.clone(), Phase::Decide(Algorithm::Gcra), tasks, secs).await;
    let sliding = run(
        hot.clone(),
        Phase::Decide(Algorithm::SlidingWindow),
        tasks,
        secs,
    )
    .await;
    println!("{tasks} tasks, {secs} s per phase, one multiplexed connection");
    println!("PING baseline        {ping:>10.0} /s");
    println!(
        "GCRA decisions       {gcra:>10.0} /s  ({:.2}x PING)",
        gcra / ping
    );
    println!(
        "sliding decisions    {sliding:>10.0} /s  ({:.2}x PING)",
        sliding / ping
    );
    let purged = hot.purge_namespace().await.unwrap();
    println!("deleted {purged} benchmark keys");
}
