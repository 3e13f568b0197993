//! Revocations and blocks are kept by the store, not by hot state: a logout, a "revoke all
//! sessions", an API-key revocation and an IP block each still hold
//! - on the embedded default (SQLite in the data dir, hot state in process memory) after the
//!   gateway is stopped and started again on the same data dir, and an unblock stays lifted;
//! - on the scale-out backends (PostgreSQL at `PALISADE_TEST_DATABASE_URL` in a schema of its
//!   own, a private `redis-server` on a free port) after `FLUSHALL`, on a replica that had
//!   verified the token and the key before and whose flag cache is off: every answer after
//!   the flush is a refusal (503 until the hot state is primed again, then 401), never a pass.
//!
//! The scale-out test is skipped (with a message) without `PALISADE_TEST_DATABASE_URL` or
//! without `redis-server`.

use crate::common::{TestGateway, Upstream, client, route, start_clocked};
use crate::identity::PASSWORD;
use crate::scale_out::{PrivateRedis, free_port};
use palisade_core::clock::ManualClock;
use palisade_gateway::config::Config;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;

const START_MS: u64 = 1_900_000_000_000;
const BLOCKED: &str = "10.7.7.7";

/// A gateway with the shared parts of both tests; `edit` picks the backends.
pub(crate) async fn gateway(
    up: &Upstream,
    clock: Arc<ManualClock>,
    data_dir: &std::path::Path,
    edit: impl FnOnce(&mut Config) + Send + 'static,
) -> TestGateway {
    let data_dir = data_dir.to_owned();
    start_clocked(
        move |c| {
            c.server.data_dir = data_dir;
            c.store.url = "sqlite:".into();
            c.server.trusted_proxies = vec!["127.0.0.0/8".parse().unwrap()];
            edit(c);
        },
        vec![route("/api/", up)],
        clock,
    )
    .await
}

pub(crate) async fn stop(gw: TestGateway) {
    let TestGateway { gateway, _dir } = gw;
    gateway.shutdown();
    gateway.wait().await;
}

/// Status of `GET path` with a bearer credential (token or API key) or from an address.
async fn status(gw: &TestGateway, path: &str, bearer: Option<&str>, from: Option<&str>) -> u16 {
    let mut req = client().get(gw.url(path));
    if let Some(b) = bearer {
        req = req.bearer_auth(b);
    }
    if let Some(ip) = from {
        req = req.header("x-forwarded-for", ip);
    }
    req.send().await.unwrap().status().as_u16()
}

async fn post(gw: &TestGateway, path: &str, bearer: Option<&str>, body: Value) -> Value {
    let mut req = client().post(gw.url(path)).json(&body);
    if let Some(b) = bearer {
        req = req.bearer_auth(b);
    }
    let res = req.send().await.unwrap();
    assert!(res.status().is_success(), "{path}: {}", res.status());
    res.json().await.unwrap_or(Value::Null)
}

async fn login(gw: &TestGateway, email: &str) -> String {
    let body = json!({"email": email, "password": PASSWORD});
    post(gw, "/auth/login", None, body).await["access_token"]
        .as_str()
        .unwrap()
        .to_string()
}

/// The credentials of the scenario: four that are revoked, one that is not.
struct Credentials {
    /// Logged out (its own token only: no refresh token given).
    logged_out: String,
    /// The caller of "revoke all sessions", and another session of the same account.
    revoker: String,
    other_session: String,
    /// An API key, and its id.
    key: String,
    key_id: String,
    /// Another account's token: never revoked.
    valid: String,
}

impl Credentials {
    fn revoked(&self) -> [(&'static str, &str); 4] {
        [
            ("logged-out token", &self.logged_out),
            ("revoke-all caller", &self.revoker),
            ("revoke-all victim", &self.other_session),
            ("revoked API key", &self.key),
        ]
    }
}

/// Registers two accounts and issues the scenario's credentials, each used once.
async fn issue(gw: &TestGateway) -> Credentials {
    for email in ["ann@example.com", "bob@example.com"] {
        let body = json!({"email": email, "password": PASSWORD});
        post(gw, "/auth/register", None, body).await;
    }
    let valid = login(gw, "bob@example.com").await;
    let created = post(gw, "/auth/api-keys", Some(&valid), json!({"name": "ci"})).await;
    let c = Credentials {
        logged_out: login(gw, "ann@example.com").await,
        revoker: login(gw, "ann@example.com").await,
        other_session: login(gw, "ann@example.com").await,
        key: created["key"].as_str().unwrap().to_string(),
        key_id: created["id"].as_str().unwrap().to_string(),
        valid,
    };
    assert_all(gw, &c, 200, "before revocation").await;
    c
}

/// Logout, revoke-all, key revocation (each over the HTTP API) and a block (the alert action's
/// function), then checks each is refused.
async fn revoke(gw: &TestGateway, c: &Credentials) {
    post(gw, "/auth/logout", Some(&c.logged_out), json!({})).await;
    post(gw, "/auth/sessions/revoke-all", Some(&c.revoker), json!({})).await;
    let res = client()
        .delete(gw.url(&format!("/auth/api-keys/{}", c.key_id)))
        .bearer_auth(&c.valid)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    let placed = gw
        .gateway
        .state
        .identity
        .brute
        .block(BLOCKED.parse().unwrap(), Duration::from_secs(3600), "alert")
        .await
        .unwrap();
    assert!(placed);
    for (what, credential) in c.revoked() {
        assert_eq!(
            status(gw, "/auth/me", Some(credential), None).await,
            401,
            "{what}"
        );
    }
    assert_eq!(status(gw, "/api/x", None, Some(BLOCKED)).await, 403);
}

/// Every revoked credential gets `revoked`, the valid one 200, the blocked address 403.
async fn assert_all(gw: &TestGateway, c: &Credentials, revoked: u16, when: &str) {
    for (what, credential) in c.revoked() {
        assert_eq!(
            status(gw, "/auth/me", Some(credential), None).await,
            revoked,
            "{what} {when}"
        );
    }
    assert_eq!(
        status(gw, "/auth/me", Some(&c.valid), None).await,
        200,
        "{when}"
    );
    let blocked = if revoked == 200 { 200 } else { 403 };
    assert_eq!(
        status(gw, "/api/x", None, Some(BLOCKED)).await,
        blocked,
        "{when}"
    );
}

#[tokio::test]
async fn revocations_and_blocks_survive_a_restart_on_the_embedded_default() {
    let up = Upstream::start("api").await;
    let clock = Arc::new(ManualClock::starting_at(START_MS));
    let data = tempfile::tempdir().unwrap();
    let start = || gateway(&up, clock.clone(), data.path(), |_| {});

    let first = start().await;
    assert_eq!(first.gateway.state.hot.backend(), "memory");
    let c = issue(&first).await;
    revoke(&first, &c).await;
    stop(first).await;

    clock.advance(Duration::from_secs(1));
    let second = start().await;
    assert_all(&second, &c, 401, "after a restart").await;
    // An unblock removes the record: the address stays unblocked across the next restart.
    assert!(
        second
            .gateway
            .state
            .identity
            .brute
            .unblock(BLOCKED.parse().unwrap())
            .await
            .unwrap()
    );
    assert_eq!(status(&second, "/api/x", None, Some(BLOCKED)).await, 200);
    stop(second).await;

    clock.advance(Duration::from_secs(1));
    let third = start().await;
    assert_eq!(status(&third, "/api/x", None, Some(BLOCKED)).await, 200);
    for (what, credential) in c.revoked() {
        assert_eq!(
            status(&third, "/auth/me", Some(credential), None).await,
            401,
            "{what} after a second restart"
        );
    }

    // Ended records are pruned by the retention job, `retention.expired_revocations` (1d) after
    // they ended; records in force are kept.
    let state = &third.gateway.state;
    let store = &state.store;
    state
        .identity
        .brute
        .block(
            "10.8.8.8".parse().unwrap(),
            Duration::from_secs(60),
            "alert",
        )
        .await
        .unwrap();
    state.identity.sync().await;
    assert_eq!(store.revoked_tokens_active(0).await.unwrap().len(), 2);
    assert_eq!(store.ip_blocks_active(0).await.unwrap().len(), 1);
    let origin = palisade_gateway::audit::RequestOrigin::default();
    let by = palisade_gateway::identity::manage::By {
        actor: "test".into(),
        origin: &origin,
    };
    let retention = &state.config.retention;
    clock.advance(Duration::from_secs(2 * 3600));
    palisade_gateway::retention::run(&state.identity, None, retention, None, false, &by)
        .await
        .unwrap();
    assert_eq!(
        store.revoked_tokens_active(0).await.unwrap().len(),
        2,
        "ended less than a day ago: kept"
    );
    clock.advance(Duration::from_secs(86_400));
    palisade_gateway::retention::run(&state.identity, None, retention, None, false, &by)
        .await
        .unwrap();
    assert!(
        store.revoked_tokens_active(0).await.unwrap().is_empty(),
        "ended token records pruned"
    );
    assert!(store.ip_blocks_active(0).await.unwrap().is_empty());
}

/// A PostgreSQL schema of the test's own, dropped when the test ends (failed or not).
pub(crate) struct Schema {
    pub(crate) url: String,
    pub(crate) name: String,
}

impl Drop for Schema {
    fn drop(&mut self) {
        let (url, name) = (self.url.clone(), self.name.clone());
        // Dropped from inside the test's runtime: clean up on a thread of its own.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                use sqlx::{Connection, Executor};
                // A lock a stopped gateway still held would block this drop for good (the
                // test's runtime, which could end that gateway's transaction, is blocked here):
                // give up after a while instead, leaving the schema behind.
                if let Ok(mut conn) = sqlx::PgConnection::connect(&url).await {
                    let _ = conn.execute("SET lock_timeout = '20s'").await;
                    let dropped = conn
                        .execute(sqlx::AssertSqlSafe(format!(
                            "DROP SCHEMA IF EXISTS {name} CASCADE"
                        )))
                        .await;
                    if let Err(e) = dropped {
                        eprintln!("schema {name} left behind: {e}");
                    }
                }
            });
        })
        .join();
    }
}

/// The scale-out backends of a test: a PostgreSQL schema of its own (at
/// `PALISADE_TEST_DATABASE_URL`) and a private Redis; `None` (with a message) without either.
pub(crate) struct ScaleOut {
    pub(crate) port: u16,
    // Dropped in this order: the schema, then Redis, then its directory.
    schema: Schema,
    _redis: PrivateRedis,
    pub(crate) dir: tempfile::TempDir,
}

impl ScaleOut {
    pub(crate) fn start() -> Option<ScaleOut> {
        let Ok(pg) = std::env::var("PALISADE_TEST_DATABASE_URL") else {
            println!("skipped: PALISADE_TEST_DATABASE_URL not set");
            return None;
        };
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let redis = PrivateRedis::start(port, dir.path())?;
        let schema = Schema {
            url: pg,
            name: format!("pal_test_{}", uuid::Uuid::now_v7().simple()),
        };
        Some(ScaleOut {
            port,
            schema,
            _redis: redis,
            dir,
        })
    }

    /// A replica's backends (store, hot state under `prefix`) and the secrets replicas share.
    pub(crate) fn config(&self, prefix: &str) -> impl FnOnce(&mut Config) + Send + 'static {
        let (pg, schema) = (self.schema.url.clone(), self.schema.name.clone());
        let (redis, prefix) = (
            format!("redis://127.0.0.1:{}", self.port),
            prefix.to_owned(),
        );
        move |c: &mut Config| {
            c.store.url = pg;
            c.store.schema = Some(schema);
            c.hot_state.url = Some(redis);
            c.hot_state.prefix = prefix;
            c.secrets.signing_key = "revocation-test-signing-key-0123456789abcdef".into();
            c.secrets.cookie_key = "revocation-test-cookie-key-0123456789abcdef0".into();
        }
    }
}

/// `FLUSHALL` on the private Redis at `port` (RESP over a plain socket).
fn flushall(port: u16) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.write_all(b"*1\r\n$8\r\nFLUSHALL\r\n").unwrap();
    let mut answer = [0u8; 5];
    s.read_exact(&mut answer).unwrap();
    assert_eq!(&answer, b"+OK\r\n");
}

#[tokio::test]
async fn revocations_and_blocks_survive_a_redis_flushall_on_the_scale_out_backends() {
    let Some(backends) = ScaleOut::start() else {
        return;
    };
    let up = Upstream::start("api").await;
    let clock = Arc::new(ManualClock::starting_at(START_MS));
    let shared = backends.dir.path().join("replicas");
    let port = backends.port;
    let replica = |cache_ttl: Duration| {
        let shared_backends = backends.config("revocations");
        gateway(&up, clock.clone(), &shared, move |c| {
            shared_backends(c);
            c.hot_state.local_cache_ttl.0 = cache_ttl;
        })
    };
    // `writer` revokes; `reader` verified everything before and then only reads, with its
    // flag cache off so every revocation lookup asks Redis.
    let writer = replica(Duration::from_secs(5)).await;
    let reader = replica(Duration::ZERO).await;
    assert_eq!(reader.gateway.state.store.backend(), "postgres");
    assert_eq!(reader.gateway.state.hot.backend(), "redis");
    let c = issue(&writer).await;
    assert_all(&reader, &c, 200, "on the reader before revocation").await;
    revoke(&writer, &c).await;

    flushall(port);
    // Never a pass: refused until primed again (503), or as revoked (401).
    for gw in [&reader, &writer] {
        for (what, credential) in c.revoked() {
            let code = status(gw, "/auth/me", Some(credential), None).await;
            assert!(code == 503 || code == 401, "{what} after FLUSHALL: {code}");
        }
        assert_eq!(status(gw, "/api/x", None, Some(BLOCKED)).await, 403);
    }
    // Primed again from the store: each refused as revoked, and service resumes.
    let mut primed = false;
    for _ in 0..2_000 {
        let mut all = true;
        for gw in [&reader, &writer] {
            all &= status(gw, "/auth/me", Some(&c.valid), None).await == 200;
            for (_, credential) in c.revoked() {
                all &= status(gw, "/auth/me", Some(credential), None).await == 401;
            }
        }
        if all {
            primed = true;
            break;
        }
        tokio::task::yield_now().await;
    }
    assert!(primed, "both replicas primed again after FLUSHALL");
    for gw in [&reader, &writer] {
        assert_all(gw, &c, 401, "after FLUSHALL").await;
    }
    // A second flush, with the reader's local cache now holding nothing either.
    flushall(port);
    for (what, credential) in c.revoked() {
        let code = status(&reader, "/auth/me", Some(credential), None).await;
        assert!(
            code == 503 || code == 401,
            "{what} after a second FLUSHALL: {code}"
        );
    }
    stop(reader).await;
    stop(writer).await;
}
