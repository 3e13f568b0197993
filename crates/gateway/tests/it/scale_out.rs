//! The gateway on a shared Redis: what an outage does. A private `redis-server` (persisting to
//! an append-only file, as a production Redis would) is started, killed mid-run and restarted
//! on the same port. While it is gone: revoked (and all other) tokens are refused with 503,
//! never accepted; blocked addresses stay blocked (the replica's block mirror); rate limiting
//! follows `on_backend_error` (`local`, `deny`, `allow`). When it is back, service resumes.
//!
//! Skipped (with a message) when `redis-server` is not installed; `.ci/run` installs it.

use crate::common::{TestGateway, Upstream, assert_problem, client, route, start_clocked};
use crate::identity::PASSWORD;
use palisade_core::clock::ManualClock;
use palisade_gateway::config::traffic::{BackendErrorMode, LimitAlgorithm, RuleConfig};
use palisade_gateway::config::units::HumanDuration;
use serde_json::{Value, json};
use std::io::BufRead;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

const START_MS: u64 = 1_900_000_000_000;

/// A private Redis persisting to `dir`, on `port` (also used by `revocation_restart`).
pub(crate) struct PrivateRedis {
    child: Child,
}

impl PrivateRedis {
    pub(crate) fn start(port: u16, dir: &std::path::Path) -> Option<PrivateRedis> {
        let spawned = Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
            ])
            .args(["--appendonly", "yes", "--appendfsync", "always"])
            .arg("--dir")
            .arg(dir)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn();
        let mut child = match spawned {
            Ok(c) => c,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                println!("skipped: redis-server is not installed");
                return None;
            }
            Err(e) => panic!("redis-server: {e}"),
        };
        let stdout = child.stdout.take().unwrap();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
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
            .expect("redis-server became ready");
        Some(PrivateRedis { child })
    }

    fn kill(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn gateway(
    redis: &str,
    prefix: &str,
    data_dir: &std::path::Path,
    mode: BackendErrorMode,
    up: &Upstream,
    clock: Arc<ManualClock>,
) -> TestGateway {
    let (redis, prefix, data_dir) = (redis.to_string(), prefix.to_string(), data_dir.to_owned());
    start_clocked(
        move |c| {
            // One data dir: one SQLite store and one (dev) master key for the replicas.
            c.store.url = "sqlite:".into();
            c.server.data_dir = data_dir;
            // Replicas share their secrets, as they share their store.
            c.secrets.signing_key = "scale-out-test-signing-key-0123456789abcdef".into();
            c.secrets.cookie_key = "scale-out-test-cookie-key-0123456789abcdef0".into();
            c.hot_state.url = Some(redis);
            c.hot_state.prefix = prefix;
            c.server.trusted_proxies = vec!["127.0.0.0/8".parse().unwrap()];
            c.rate_limit.enabled = true;
            c.rate_limit.on_backend_error = mode;
            c.rate_limit.rules = [(
                "global".to_string(),
                RuleConfig {
                    limit: 10,
                    period: HumanDuration(Duration::from_secs(60)),
                    burst: None,
                    algorithm: Some(LimitAlgorithm::SlidingWindow),
                },
            )]
            .into();
        },
        vec![route("/api/", up)],
        clock,
    )
    .await
}

async fn status(gw: &TestGateway, path: &str, token: Option<&str>, xff: Option<&str>) -> u16 {
    let mut req = client().get(gw.url(path));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some(ip) = xff {
        req = req.header("x-forwarded-for", ip);
    }
    req.send().await.unwrap().status().as_u16()
}

async fn token(gw: &TestGateway, email: &str) -> String {
    let http = client();
    let login: Value = http
        .post(gw.url("/auth/login"))
        .json(&json!({"email": email, "password": PASSWORD}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    login["access_token"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn a_redis_outage_never_lets_a_revoked_token_through_and_rate_limits_follow_the_mode() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let Some(redis) = PrivateRedis::start(port, dir.path()) else {
        return;
    };
    let url = format!("redis://127.0.0.1:{port}");
    let up = Upstream::start("api").await;
    let clock = Arc::new(ManualClock::starting_at(START_MS));
    // Three replicas on one Redis namespace and one store.
    let prefix = format!("t{}", uuid::Uuid::now_v7().simple());
    let shared = dir.path().join("replicas");
    let replica = |mode| gateway(&url, &prefix, &shared, mode, &up, clock.clone());
    let local = replica(BackendErrorMode::Local).await;
    let deny = replica(BackendErrorMode::Deny).await;
    let allow = replica(BackendErrorMode::Allow).await;

    let http = client();
    let res = http
        .post(local.url("/auth/register"))
        .json(&json!({"email": "ann@example.com", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let revoked = token(&local, "ann@example.com").await;
    let valid = token(&local, "ann@example.com").await;
    let unseen = token(&local, "ann@example.com").await;
    let res = http
        .post(local.url("/auth/logout"))
        .bearer_auth(&revoked)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    assert_eq!(status(&local, "/auth/me", Some(&revoked), None).await, 401);
    assert_eq!(status(&local, "/auth/me", Some(&valid), None).await, 200);
    let blocked_ip: std::net::IpAddr = "10.9.9.9".parse().unwrap();
    let state = &local.gateway.state;
    state
        .identity
        .brute
        .block(blocked_ip, Duration::from_secs(3600), "test")
        .await
        .unwrap();
    assert_eq!(status(&deny, "/api/x", None, Some("10.9.9.9")).await, 403);
    // A fresh rate-limit window for what follows.
    clock.advance(Duration::from_secs(120));

    redis.kill();

    for gw in [&local, &deny, &allow] {
        // A revoked token is never accepted: refused from the replica's cached verdict (401) or
        // because revocation cannot be checked (503).
        let code = status(gw, "/auth/me", Some(&revoked), None).await;
        assert!(code == 401 || code == 503, "revoked token got {code}");
        // A token whose revocation state no replica has cached cannot be checked: 503.
        let res = client()
            .get(gw.url("/auth/me"))
            .bearer_auth(&unseen)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 503, "{}", res.text().await.unwrap());
        // The block placed before the outage holds on every replica (their mirrors).
        assert_eq!(status(gw, "/api/x", None, Some("10.9.9.9")).await, 403);
    }
    // local: this replica's own limiter takes over: 10 per minute, then 429.
    let mut local_codes = Vec::new();
    for _ in 0..12 {
        local_codes.push(status(&local, "/api/x", None, None).await);
    }
    assert_eq!(local_codes[..10], [200; 10], "{local_codes:?}");
    assert_eq!(local_codes[10..], [429; 2], "{local_codes:?}");
    // deny: 503 with Retry-After.
    let res = http.get(deny.url("/api/x")).send().await.unwrap();
    assert!(res.headers().contains_key("retry-after"));
    assert_problem(res, 503, "ratelimit-unavailable").await;
    // allow: unlimited.
    for _ in 0..12 {
        assert_eq!(status(&allow, "/api/x", None, None).await, 200);
    }

    let _redis = PrivateRedis::start(port, dir.path()).expect("redis-server restarts");
    // Service resumes once the connection manager reconnects (bounded retries, no sleeps).
    let mut resumed = false;
    for _ in 0..400 {
        if status(&deny, "/auth/me", Some(&valid), None).await == 200 {
            resumed = true;
            break;
        }
        tokio::task::yield_now().await;
    }
    assert!(resumed, "service resumed after Redis came back");
    for gw in [&local, &deny, &allow] {
        let mut ok = false;
        for _ in 0..400 {
            if status(gw, "/auth/me", Some(&valid), None).await == 200 {
                ok = true;
                break;
            }
        }
        assert!(ok);
        assert_eq!(
            status(gw, "/auth/me", Some(&revoked), None).await,
            401,
            "still revoked"
        );
    }
    // Shared limits again: the deny replica limits instead of refusing, once each worker's own
    // limiter connection has noticed the restart (its first call after it may still fail).
    let mut limited_again = false;
    for _ in 0..400 {
        if status(&deny, "/api/x", None, None).await == 200 {
            limited_again = true;
            break;
        }
        tokio::task::yield_now().await;
    }
    assert!(limited_again, "the deny replica decides on Redis again");
}
