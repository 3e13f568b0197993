//! The Redis backends against real servers: the shared Redis named by `PALISADE_TEST_REDIS_URL`
//! (conformance, broadcast, limiter equivalence; skipped without it), a closed port (failure is
//! prompt), and a private `redis-server` this test starts, kills and restarts (skipped when
//! `redis-server` is not on PATH). Every test works under its own random key prefix and deletes
//! its keys at the end.

use palisade_core::clock::ManualClock;
use palisade_core::ratelimit::{Algorithm, MemoryLimiter, Quota};
use palisade_store::redis_hot::{RedisHotState, RedisOptions};
use palisade_store::redis_limiter::{RateKey, RedisLimiter};
use palisade_store::{HotState, Notice, StoreError, conformance};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestCaseError, TestRng, TestRunner};
use std::io::BufRead;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn redis_url() -> Option<String> {
    let url = std::env::var("PALISADE_TEST_REDIS_URL").ok();
    if url.is_none() {
        println!("skipped: PALISADE_TEST_REDIS_URL not set");
    }
    url
}

fn options() -> RedisOptions {
    RedisOptions {
        prefix: format!("paltest:{}", uuid::Uuid::now_v7().simple()),
        ..RedisOptions::default()
    }
}

fn clock() -> Arc<ManualClock> {
    Arc::new(ManualClock::starting_at(1_700_000_000_000))
}

#[tokio::test]
async fn redis_hot_state_conforms() {
    let Some(url) = redis_url() else { return };
    let clock = clock();
    let opts = options();
    let hot = RedisHotState::connect(&url, clock.clone(), opts.clone()).unwrap();
    conformance::hot_state_suite(&hot, &|d| clock.advance(d)).await;

    // A second replica (its own connection, same prefix) sees the first one's state.
    let other = RedisHotState::connect(&url, clock.clone(), opts.clone()).unwrap();
    hot.set_flag("rv:jti:abc", Duration::from_secs(30))
        .await
        .unwrap();
    assert!(other.has_flag("rv:jti:abc").await.unwrap());
    assert_eq!(
        other.flag_ttl("rv:jti:abc").await.unwrap(),
        Some(Duration::from_secs(30))
    );

    // Keys that look like globs or hash tags stay what they are.
    for key in ["a*b", "x[1]", "{tag}", "brace}in", r"back\slash"] {
        hot.set_flag(key, Duration::from_secs(5)).await.unwrap();
        assert!(hot.has_flag(key).await.unwrap(), "{key}");
        assert_eq!(
            hot.flags_with_prefix(key).await.unwrap(),
            vec![(key.to_string(), Duration::from_secs(5))],
            "{key}"
        );
    }
    assert!(hot.flags_with_prefix("a").await.unwrap().len() == 1);

    // Redis itself expires what nobody reads again: the TTL plus the margin.
    let raw = ::redis::Client::open(url.as_str()).unwrap();
    let mut c = raw.get_multiplexed_async_connection().await.unwrap();
    let key = format!("{}:h:{{rv:jti:abc}}", opts.prefix);
    let pttl: i64 = ::redis::cmd("PTTL")
        .arg(&key)
        .query_async(&mut c)
        .await
        .unwrap();
    assert!(pttl > 30_000 && pttl <= 40_000, "PTTL {pttl}");
    hot.incr("kept", Duration::from_secs(60)).await.unwrap();
    clock.advance(Duration::from_secs(20));
    hot.incr("kept", Duration::from_secs(60)).await.unwrap();
    let pttl: i64 = ::redis::cmd("PTTL")
        .arg(format!("{}:h:{{kept}}", opts.prefix))
        .query_async(&mut c)
        .await
        .unwrap();
    assert!(
        pttl > 60_000 && pttl <= 70_000,
        "an increment keeps the Redis TTL too: {pttl}"
    );

    assert!(hot.purge_namespace().await.unwrap() > 0);
    let left: Vec<String> = ::redis::cmd("KEYS")
        .arg(format!("{}:*", opts.prefix))
        .query_async(&mut c)
        .await
        .unwrap();
    assert!(left.is_empty(), "{left:?}");
}

#[tokio::test]
async fn redis_broadcast_reaches_another_replica() {
    let Some(url) = redis_url() else { return };
    let opts = options();
    let a = RedisHotState::connect(&url, clock(), opts.clone()).unwrap();
    let b = RedisHotState::connect(&url, clock(), opts.clone()).unwrap();
    conformance::broadcast_suite(&a, &b).await;
    // Another prefix is another namespace: its subscribers hear nothing of ours.
    let stranger = RedisHotState::connect(&url, clock(), options()).unwrap();
    let mut theirs = stranger.subscribe().await.unwrap();
    a.publish("rv:sid", "s1").await.unwrap();
    let mut ours = b.subscribe().await.unwrap();
    a.publish("rv:sid", "s2").await.unwrap();
    assert_eq!(
        tokio::time::timeout(Duration::from_secs(5), ours.recv())
            .await
            .unwrap(),
        Some(Notice::Message {
            topic: "rv:sid".into(),
            body: "s2".into()
        })
    );
    assert!(
        tokio::time::timeout(Duration::from_millis(200), theirs.recv())
            .await
            .is_err()
    );
    drop(b);
    assert_eq!(
        ours.recv().await,
        None,
        "a subscription ends with its hot state"
    );
}

/// The epoch: once primed, a hot state that lost its memory (here: the test's namespace
/// purged, what a `FLUSHALL` does to it) answers no flag read and no listing — never "not
/// revoked" — and tells its subscribers; a priming interrupted by a loss does not count; a
/// replica adopts the epoch another replica primed and reads on.
#[tokio::test]
async fn a_primed_hot_state_refuses_flag_reads_after_losing_its_memory() {
    let Some(url) = redis_url() else { return };
    let clock = clock();
    let opts = options();
    let a = RedisHotState::connect(&url, clock.clone(), opts.clone()).unwrap();
    let b = RedisHotState::connect(&url, clock.clone(), opts.clone()).unwrap();
    let minute = Duration::from_secs(60);
    a.set_flag("rv:jti:live", minute).await.unwrap();
    a.purge_namespace().await.unwrap();
    assert!(
        !a.has_flag("rv:jti:live").await.unwrap(),
        "never primed: reads are not guarded"
    );
    assert!(!a.lost_memory().await.unwrap());

    let ticket = a.prime_begin().await.unwrap();
    a.restore_flags(&[
        ("rv:jti:one".to_string(), minute),
        ("fw:block:10.1.1.1".to_string(), minute),
    ])
    .await
    .unwrap();
    assert!(a.prime_end(&ticket).await.unwrap(), "a complete priming");
    let ticket = b.prime_begin().await.unwrap();
    assert!(b.prime_end(&ticket).await.unwrap(), "b adopts a's epoch");
    assert!(a.has_flag("rv:jti:one").await.unwrap());
    assert_eq!(
        b.flag_ttl("fw:block:10.1.1.1").await.unwrap(),
        Some(minute),
        "restored flags live as long as asked"
    );
    assert!(!a.has_flag("rv:jti:two").await.unwrap());
    assert_eq!(a.flags_with_prefix("fw:block:").await.unwrap().len(), 1);

    let mut notices = a.subscribe().await.unwrap();
    a.purge_namespace().await.unwrap();
    for key in ["rv:jti:one", "rv:jti:two"] {
        assert!(
            matches!(a.has_flag(key).await, Err(StoreError::Unavailable(_))),
            "{key}: a read after the loss fails instead of answering"
        );
    }
    assert!(matches!(
        a.flag_ttl("fw:block:10.1.1.1").await,
        Err(StoreError::Unavailable(_))
    ));
    assert!(matches!(
        b.flags_with_prefix("fw:block:").await,
        Err(StoreError::Unavailable(_))
    ));
    assert_eq!(
        tokio::time::timeout(Duration::from_secs(5), notices.recv())
            .await
            .unwrap(),
        Some(Notice::Missed),
        "subscribers are told to re-prime"
    );
    assert!(a.lost_memory().await.unwrap());
    assert!(b.lost_memory().await.unwrap());
    a.incr("counter", minute)
        .await
        .expect("counters are not guarded");

    // A loss during priming: the priming does not count.
    let ticket = b.prime_begin().await.unwrap();
    b.restore_flags(&[("rv:jti:one".to_string(), minute)])
        .await
        .unwrap();
    a.purge_namespace().await.unwrap();
    assert!(!b.prime_end(&ticket).await.unwrap(), "start over");
    assert!(b.has_flag("rv:jti:one").await.is_err());

    // b primes again; a adopts b's new epoch at its next read.
    let ticket = b.prime_begin().await.unwrap();
    b.restore_flags(&[("rv:jti:one".to_string(), minute)])
        .await
        .unwrap();
    assert!(b.prime_end(&ticket).await.unwrap());
    assert!(a.has_flag("rv:jti:one").await.unwrap());
    assert!(!a.has_flag("rv:jti:two").await.unwrap());
    assert!(!a.lost_memory().await.unwrap());
    a.purge_namespace().await.unwrap();
}

/// Random quotas and time sequences: Redis decides exactly as the in-memory limiter does,
/// field by field. A fixed seed and 1,000 cases (about 5 s in a debug build against a local Redis).
#[test]
fn redis_limiter_matches_memory_limiter() {
    let Some(url) = redis_url() else { return };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let opts = options();
    let hot = rt.block_on(async {
        RedisHotState::connect(&url, Arc::new(ManualClock::default()), opts).unwrap()
    });
    let limiter = hot.limiter();

    let quota = (
        prop_oneof![1u32..=5, 1u32..=100, 1u32..=100_000],
        prop_oneof![
            Just(1u64),
            1u64..=50,
            Just(1_000u64),
            Just(60_000),
            1u64..=3_600_000
        ],
        0u32..=3,
    )
        .prop_map(|(limit, period_ms, burst_factor)| Quota {
            limit,
            period_ms,
            // 0 = the limit; else up to twice the limit.
            burst: match burst_factor {
                0 => 0,
                1 => 1,
                2 => limit,
                _ => limit.saturating_mul(2),
            },
        });
    let start = prop_oneof![0u64..=10_000, 1_600_000_000_000u64..=1_900_000_000_000];
    // (time step, use the second quota, switch algorithm)
    let step = (
        prop_oneof![
            4 => 0i64..=3,
            4 => 0i64..=2_000,
            2 => 0i64..=200_000,
            2 => -50i64..=0,
        ],
        prop::bool::weighted(0.15),
        prop::bool::weighted(0.05),
    );
    let case = (
        quota.clone(),
        quota,
        start,
        prop::bool::ANY,
        prop::collection::vec(step, 1..60),
    );

    let config = Config {
        cases: 1000,
        failure_persistence: None,
        rng_algorithm: RngAlgorithm::ChaCha,
        ..Config::default()
    };
    let mut runner =
        TestRunner::new_with_rng(config, TestRng::deterministic_rng(RngAlgorithm::ChaCha));
    let counter = std::sync::atomic::AtomicU64::new(0);
    let result = runner.run(&case, |(q1, q2, start, sliding, steps)| {
        let n = counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let key = RateKey::derive("prop", &[&n.to_be_bytes()]);
        let memory = MemoryLimiter::new(16);
        let mkey = memory.key("prop", "x");
        let mut now = start;
        let mut algorithm = if sliding {
            Algorithm::SlidingWindow
        } else {
            Algorithm::Gcra
        };
        rt.block_on(async {
            for (i, (delta, second, switch)) in steps.iter().enumerate() {
                now = now.saturating_add_signed(*delta);
                if *switch {
                    algorithm = match algorithm {
                        Algorithm::Gcra => Algorithm::SlidingWindow,
                        Algorithm::SlidingWindow => Algorithm::Gcra,
                    };
                }
                let quota = if *second { &q2 } else { &q1 };
                let want = memory.decide(mkey, algorithm, quota, now);
                let got = limiter
                    .decide(&key, algorithm, quota, now)
                    .await
                    .map_err(|e| TestCaseError::fail(format!("step {i}: {e}")))?;
                prop_assert_eq!(
                    got,
                    want,
                    "step {} at {} ms, {:?} {:?}",
                    i,
                    now,
                    algorithm,
                    quota
                );
            }
            limiter.reset(&key).await.unwrap();
            Ok(())
        })
    });
    rt.block_on(async { hot.purge_namespace().await.unwrap() });
    if let Err(e) = result {
        panic!("{e}");
    }
}

#[tokio::test]
async fn redis_limiter_counts_across_replicas_and_refuses_inexact_quotas() {
    let Some(url) = redis_url() else { return };
    let opts = options();
    let a = RedisLimiter::connect(&url, opts.clone()).unwrap();
    let b = RedisLimiter::connect(&url, opts.clone()).unwrap();
    let quota = Quota::new(3, 60_000, 0).unwrap();
    let key = RateKey::derive("login", &[b"10.0.0.9"]);
    let now = 1_700_000_000_000;
    for (limiter, allowed) in [(&a, true), (&b, true), (&a, true), (&b, false)] {
        let d = limiter
            .decide(&key, Algorithm::Gcra, &quota, now)
            .await
            .unwrap();
        assert_eq!(d.allowed, allowed);
    }
    let d = a
        .decide(&key, Algorithm::Gcra, &quota, now + 20_000)
        .await
        .unwrap();
    assert!(d.allowed, "one more after T = 20 s");

    let huge = Quota::new(1, 86_400_000 * 365, u32::MAX).unwrap();
    assert!(matches!(
        a.decide(&key, Algorithm::Gcra, &huge, now).await,
        Err(StoreError::Query(_))
    ));
    a.reset(&key).await.unwrap();
    let d = b.decide(&key, Algorithm::Gcra, &quota, now).await.unwrap();
    assert_eq!(
        (d.allowed, d.remaining),
        (true, 2),
        "reset forgets the state"
    );
    a.reset(&key).await.unwrap();
}

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

fn quick() -> RedisOptions {
    RedisOptions {
        connect_timeout: Duration::from_millis(300),
        response_timeout: Duration::from_millis(300),
        subscriber_ping: Duration::from_millis(200),
        ..options()
    }
}

/// Asserts `call` fails with `Unavailable` within `bound`.
async fn unavailable<T: std::fmt::Debug>(
    what: &str,
    bound: Duration,
    call: impl std::future::Future<Output = Result<T, StoreError>>,
) {
    let started = Instant::now();
    let result = tokio::time::timeout(bound * 4, call)
        .await
        .unwrap_or_else(|_| panic!("{what} hung"));
    assert!(
        matches!(result, Err(StoreError::Unavailable(_))),
        "{what}: {result:?}"
    );
    assert!(
        started.elapsed() <= bound,
        "{what} took {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn an_unreachable_redis_fails_every_call_promptly() {
    let url = format!("redis://127.0.0.1:{}", free_port());
    let opts = quick();
    // The deadline (connect + response = 600 ms) plus scheduling slack.
    let bound = Duration::from_millis(1_500);
    let hot = RedisHotState::connect(&url, clock(), opts.clone()).unwrap();
    let ttl = Duration::from_secs(1);
    unavailable("ping", bound, hot.ping()).await;
    unavailable("incr", bound, hot.incr("c", ttl)).await;
    unavailable("counter", bound, hot.counter("c")).await;
    unavailable("set_flag", bound, hot.set_flag("f", ttl)).await;
    unavailable("has_flag", bound, hot.has_flag("f")).await;
    unavailable("flag_ttl", bound, hot.flag_ttl("f")).await;
    unavailable("flags_with_prefix", bound, hot.flags_with_prefix("f")).await;
    unavailable(
        "counter_sum",
        bound,
        hot.counter_sum(&["a".into(), "b".into()]),
    )
    .await;
    unavailable("remove", bound, hot.remove("f")).await;
    unavailable("publish", bound, hot.publish("t", "m")).await;
    unavailable("subscribe", bound * 2, hot.subscribe()).await;
    let quota = Quota::new(1, 1_000, 0).unwrap();
    let key = RateKey::derive("r", &[b"x"]);
    unavailable(
        "decide",
        bound,
        hot.limiter().decide(&key, Algorithm::Gcra, &quota, 1),
    )
    .await;
}

/// A private `redis-server`; `None` when it is not installed.
struct Server {
    child: Child,
}

impl Server {
    /// On `port` with a password.
    fn start(port: u16) -> Option<Server> {
        let port = port.to_string();
        Self::start_with(&["--port", &port, "--requirepass", "test-pass-9"])
    }

    fn start_with(args: &[&str]) -> Option<Server> {
        let spawned = Command::new("redis-server")
            .args(args)
            .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn();
        let mut child = match spawned {
            Ok(c) => c,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
            Err(e) => panic!("redis-server: {e}"),
        };
        let stdout = child.stdout.take().unwrap();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        // Reads the log until the server is ready, then drains it so the pipe never fills.
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if line.contains("Ready to accept connections") {
                    let _ = ready_tx.send(());
                }
            }
        });
        ready_rx
            .recv_timeout(Duration::from_secs(20))
            .expect("redis-server did not become ready");
        Some(Server { child })
    }

    fn stop(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Waits (bounded) until `hot` answers again; the connection manager reconnects on its own.
async fn until_back(hot: &RedisHotState) {
    for _ in 0..40 {
        if hot.ping().await.is_ok() {
            return;
        }
    }
    panic!("Redis did not come back");
}

#[tokio::test]
async fn the_connection_resumes_after_redis_restarts() {
    let port = free_port();
    let Some(server) = Server::start(port) else {
        println!("skipped: redis-server not on PATH");
        return;
    };
    let url = format!("redis://:test-pass-9@127.0.0.1:{port}");
    let opts = quick();
    let a = RedisHotState::connect(&url, clock(), opts.clone()).unwrap();
    let b = RedisHotState::connect(&url, clock(), opts.clone()).unwrap();
    let ttl = Duration::from_secs(60);
    assert_eq!(a.incr("c", ttl).await.unwrap(), 1, "AUTH from the URL");
    let shown = format!("{a:?} {:?}", a.options());
    assert!(!shown.contains("test-pass-9"), "{shown}");
    let mut sub = b.subscribe().await.unwrap();

    let wrong = format!("redis://:not-it@127.0.0.1:{port}");
    let intruder = RedisHotState::connect(&wrong, clock(), opts.clone()).unwrap();
    match intruder.ping().await {
        Err(StoreError::Unavailable(msg)) => assert!(!msg.contains("not-it"), "{msg}"),
        other => panic!("a wrong password: {other:?}"),
    }

    server.stop();
    let bound = Duration::from_millis(1_500);
    unavailable("incr while down", bound, a.incr("c", ttl)).await;
    unavailable("ping while down", bound, a.ping()).await;
    // The subscriber hears that it may have missed messages.
    let notice = tokio::time::timeout(Duration::from_secs(5), sub.recv())
        .await
        .expect("a notice when the connection drops");
    assert_eq!(notice, Some(Notice::Missed));

    let server = Server::start(port).unwrap();
    until_back(&a).await;
    assert_eq!(
        a.incr("c", ttl).await.unwrap(),
        1,
        "the restarted server kept nothing"
    );
    // The subscription comes back by itself: publish until it is heard.
    let mut heard = false;
    for _ in 0..50 {
        if a.publish("rv:key", "k1").await.is_err() {
            continue;
        }
        match tokio::time::timeout(Duration::from_millis(200), sub.recv()).await {
            Ok(Some(Notice::Message { topic, body })) => {
                assert_eq!((topic.as_str(), body.as_str()), ("rv:key", "k1"));
                heard = true;
                break;
            }
            Ok(Some(Notice::Missed)) | Err(_) => {}
            Ok(None) => panic!("subscription closed"),
        }
    }
    assert!(heard, "the subscriber resubscribed after the restart");
    server.stop();
}

#[tokio::test]
async fn rediss_speaks_tls_and_checks_the_server_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let cert = rcgen::generate_simple_self_signed(vec!["127.0.0.1".into()]).unwrap();
    let cert_pem = cert.cert.pem();
    let cert_file = dir.path().join("cert.pem");
    let key_file = dir.path().join("key.pem");
    std::fs::write(&cert_file, &cert_pem).unwrap();
    std::fs::write(&key_file, cert.signing_key.serialize_pem()).unwrap();
    let port = free_port();
    let port_arg = port.to_string();
    let Some(server) = Server::start_with(&[
        "--port",
        "0",
        "--tls-port",
        &port_arg,
        "--tls-cert-file",
        cert_file.to_str().unwrap(),
        "--tls-key-file",
        key_file.to_str().unwrap(),
        "--tls-ca-cert-file",
        cert_file.to_str().unwrap(),
        "--tls-auth-clients",
        "no",
    ]) else {
        println!("skipped: redis-server not on PATH");
        return;
    };
    let url = format!("rediss://127.0.0.1:{port}");
    let trusting = RedisOptions {
        tls_root_ca_pem: Some(cert_pem.into_bytes()),
        ..quick()
    };
    let hot = RedisHotState::connect(&url, clock(), trusting.clone()).unwrap();
    assert_eq!(hot.incr("c", Duration::from_secs(5)).await.unwrap(), 1);
    let mut sub = hot.subscribe().await.unwrap();
    hot.publish("t", "over tls").await.unwrap();
    assert_eq!(
        tokio::time::timeout(Duration::from_secs(5), sub.recv())
            .await
            .unwrap(),
        Some(Notice::Message {
            topic: "t".into(),
            body: "over tls".into()
        })
    );
    // The system's roots do not know this certificate: no connection.
    let doubting = RedisHotState::connect(&url, clock(), quick()).unwrap();
    unavailable(
        "untrusted certificate",
        Duration::from_millis(1_500),
        doubting.ping(),
    )
    .await;
    // Plain text to a TLS port gets nothing either.
    let plain =
        RedisHotState::connect(&format!("redis://127.0.0.1:{port}"), clock(), quick()).unwrap();
    unavailable(
        "plain text to TLS",
        Duration::from_millis(1_500),
        plain.ping(),
    )
    .await;
    server.stop();
}

/// A Redis that may evict keys is named at start (its evicted flags would go unnoticed); one
/// that never evicts, or that keeps its configuration to itself, is not.
#[tokio::test]
async fn an_evicting_redis_is_recognised() {
    let port = free_port();
    let p = port.to_string();
    let Some(_server) = Server::start_with(&[
        "--port",
        &p,
        "--maxmemory",
        "64mb",
        "--maxmemory-policy",
        "allkeys-lru",
    ]) else {
        println!("skipped: redis-server not on PATH");
        return;
    };
    let url = format!("redis://127.0.0.1:{port}");
    let hot = RedisHotState::connect(&url, clock(), options()).unwrap();
    assert_eq!(hot.evicting_policy().await.as_deref(), Some("allkeys-lru"));

    let port = free_port();
    let p = port.to_string();
    let Some(_plain) = Server::start_with(&["--port", &p]) else {
        return;
    };
    let url = format!("redis://127.0.0.1:{port}");
    let hot = RedisHotState::connect(&url, clock(), options()).unwrap();
    assert_eq!(
        hot.evicting_policy().await,
        None,
        "no maxmemory: no eviction"
    );

    let port = free_port();
    let p = port.to_string();
    let Some(_locked) = Server::start_with(&[
        "--port",
        &p,
        "--maxmemory",
        "64mb",
        "--maxmemory-policy",
        "volatile-lru",
        "--rename-command",
        "CONFIG",
        "\"\"",
    ]) else {
        return;
    };
    let url = format!("redis://127.0.0.1:{port}");
    let hot = RedisHotState::connect(&url, clock(), options()).unwrap();
    hot.ping().await.unwrap();
    assert_eq!(
        hot.evicting_policy().await,
        None,
        "CONFIG refused: nothing to say"
    );
}
