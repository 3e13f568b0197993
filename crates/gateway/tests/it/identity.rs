//! Identity over HTTP: accounts, login, tokens, refresh rotation, sessions, API keys, the
//! brute-force ladder and IP blocks, cookies with CSRF, CAPTCHA, trusted issuers and the JWT
//! attack suite. Time comes from a `ManualClock` the tests move.

use crate::common::*;
use aws_lc_rs::signature::Ed25519KeyPair;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use palisade_core::clock::ManualClock;
use palisade_core::jwt::{Algorithm, SigningKey};
use palisade_gateway::config::Config;
use palisade_gateway::config::units::ByteSize;
use palisade_store::identity::SigningKeyRecord;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;

pub const PASSWORD: &str = "correct horse battery staple 42";
const START_MS: u64 = 1_900_000_000_000;

pub struct Env {
    pub gw: TestGateway,
    pub clock: Arc<ManualClock>,
    pub up: Upstream,
    pub http: reqwest::Client,
}

impl Env {
    pub async fn start(edit: impl FnOnce(&mut Config)) -> Env {
        let up = Upstream::start("api").await;
        let clock = Arc::new(ManualClock::starting_at(START_MS));
        let gw = start_clocked(edit, vec![route("/api/", &up)], clock.clone()).await;
        Env {
            gw,
            clock,
            up,
            http: client(),
        }
    }

    pub fn url(&self, path: &str) -> String {
        self.gw.url(path)
    }

    pub fn advance(&self, d: Duration) {
        self.clock.advance(d);
    }

    pub fn identity(&self) -> &palisade_gateway::identity::Identity {
        &self.gw.gateway.state.identity
    }

    pub async fn post(&self, path: &str, body: Value) -> reqwest::Response {
        self.http
            .post(self.url(path))
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    pub async fn register(&self, email: &str) -> Value {
        let res = self
            .post(
                "/auth/register",
                json!({"email": email, "password": PASSWORD}),
            )
            .await;
        assert_eq!(res.status(), 201, "{}", res.text().await.unwrap());
        res.json().await.unwrap()
    }

    pub async fn login(&self, email: &str) -> Value {
        let res = self
            .post("/auth/login", json!({"email": email, "password": PASSWORD}))
            .await;
        assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
        res.json().await.unwrap()
    }

    /// An account with the admin role, signed in.
    pub async fn admin(&self, email: &str) -> String {
        let user = self.register(email).await;
        let id = user["id"].as_str().unwrap().parse().unwrap();
        self.identity()
            .store
            .user_set_roles(id, &["admin".into()], 0)
            .await
            .unwrap();
        self.login(email).await["access_token"]
            .as_str()
            .unwrap()
            .to_string()
    }

    pub async fn jwks(&self) -> Value {
        let res = self.http.get(self.url("/.well-known/jwks.json")).send();
        res.await.unwrap().json().await.unwrap()
    }

    pub async fn get_with(&self, path: &str, token: &str) -> reqwest::Response {
        self.http
            .get(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
    }

    /// Makes a freshly generated key the signer and returns it, so a test can forge tokens
    /// with a valid signature.
    pub async fn own_signing_key(&self) -> SigningKey {
        let id = self.identity();
        let key = SigningKey::generate(Algorithm::EdDSA, "test-kid".into()).unwrap();
        let wrap = palisade_gateway::identity::signing::KeyWrap::new(
            &self.gw.gateway.state.config.secrets.signing_key,
        );
        id.store
            .signing_key_insert(&SigningKeyRecord {
                kid: "test-kid".into(),
                alg: "EdDSA".into(),
                wrapped_private: wrap.wrap("test-kid", &key.private_bytes()),
                created_at: i64::MAX / 2,
                retired_at: None,
            })
            .await
            .unwrap();
        id.reload_keys().await.unwrap();
        key
    }
}

pub fn b64(bytes: &[u8]) -> String {
    B64.encode(bytes)
}

/// A JWS over any header and claims, signed with an Ed25519 PKCS#8 key.
pub fn forge_eddsa(header: &Value, claims: &Value, key: &SigningKey) -> String {
    let input = format!(
        "{}.{}",
        b64(header.to_string().as_bytes()),
        b64(claims.to_string().as_bytes())
    );
    let pair = Ed25519KeyPair::from_pkcs8(&key.private_bytes()).unwrap();
    format!("{input}.{}", b64(pair.sign(input.as_bytes()).as_ref()))
}

pub fn forge_hs256(header: &Value, claims: &Value, secret: &[u8]) -> String {
    let input = format!(
        "{}.{}",
        b64(header.to_string().as_bytes()),
        b64(claims.to_string().as_bytes())
    );
    let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, secret);
    let tag = aws_lc_rs::hmac::sign(&key, input.as_bytes());
    format!("{input}.{}", b64(tag.as_ref()))
}

/// `base` with the members of `patch` set.
fn patched(base: &Value, patch: Value) -> Value {
    let mut out = base.clone();
    for (k, v) in patch.as_object().unwrap() {
        out[k] = v.clone();
    }
    out
}

fn now_s() -> u64 {
    START_MS / 1000
}

#[tokio::test]
async fn register_login_me_refresh_logout() {
    let env = Env::start(|_| {}).await;
    let user = env.register("Alice@Example.com").await;
    assert_eq!(user["email"], "alice@example.com", "normalized");
    assert_eq!(user["roles"], json!(["member"]));
    assert!(user.get("password_hash").is_none());

    let tokens = env.login("alice@example.com").await;
    assert_eq!(tokens["token_type"], "Bearer");
    assert_eq!(tokens["expires_in"], 1800);
    let access = tokens["access_token"].as_str().unwrap();
    let refresh = tokens["refresh_token"].as_str().unwrap();

    let me: Value = env.get_with("/auth/me", access).await.json().await.unwrap();
    assert_eq!(me["user"]["email"], "alice@example.com");
    assert_eq!(me["method"], "jwt");

    // The token works in front of the upstream.
    assert_eq!(env.get_with("/api/x", access).await.status(), 200);

    let res = env
        .post("/auth/refresh", json!({"refresh_token": refresh}))
        .await;
    assert_eq!(res.status(), 200);
    let renewed: Value = res.json().await.unwrap();
    assert_ne!(renewed["refresh_token"], tokens["refresh_token"], "rotated");
    let access2 = renewed["access_token"].as_str().unwrap();

    let res = env
        .http
        .post(env.url("/auth/logout"))
        .bearer_auth(access2)
        .json(&json!({"refresh_token": renewed["refresh_token"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    let refused = env.get_with("/auth/me", access2).await;
    assert!(refused.headers().contains_key("www-authenticate"));
    assert_problem(refused, 401, "revoked").await;
    // The whole session is gone: its other access token and the refresh token too.
    assert_problem(env.get_with("/api/x", access).await, 401, "revoked").await;
    let res = env
        .post(
            "/auth/refresh",
            json!({"refresh_token": renewed["refresh_token"]}),
        )
        .await;
    assert_problem(res, 401, "invalid_grant").await;
}

#[tokio::test]
async fn register_refuses_bad_input_naming_the_problem() {
    let env = Env::start(|_| {}).await;
    let res = env
        .post(
            "/auth/register",
            json!({"email": "bob@example.com", "password": "Password123!"}),
        )
        .await;
    let body = assert_problem(res, 422, "weak-password").await;
    let codes: Vec<&str> = body["violations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["code"].as_str().unwrap())
        .collect();
    assert!(
        codes.contains(&"common") || codes.contains(&"too_weak"),
        "{codes:?}"
    );
    assert!(body["violations"][0]["message"].as_str().is_some());

    let res = env
        .post(
            "/auth/register",
            json!({"email": "bob@example.com", "password": "bob@example.com and more words 9"}),
        )
        .await;
    let body = assert_problem(res, 422, "weak-password").await;
    assert!(body.to_string().contains("contains_email"), "{body}");

    let res = env
        .post(
            "/auth/register",
            json!({"email": "not-an-address", "password": PASSWORD}),
        )
        .await;
    assert_problem(res, 422, "invalid-email").await;

    let res = env
        .post(
            "/auth/register",
            json!({"email": "bob@example.com", "password": PASSWORD, "roles": ["admin"]}),
        )
        .await;
    let body = assert_problem(res, 422, "invalid-body").await;
    assert!(body["detail"].as_str().unwrap().contains("roles"), "{body}");

    let res = env
        .http
        .post(env.url("/auth/register"))
        .body("email=bob")
        .send()
        .await
        .unwrap();
    assert_problem(res, 415, "unsupported-media-type").await;

    env.register("bob@example.com").await;
    let res = env
        .post(
            "/auth/register",
            json!({"email": "BOB@example.com", "password": PASSWORD}),
        )
        .await;
    assert_problem(res, 409, "email-taken").await;
}

#[tokio::test]
async fn registration_can_be_closed_or_invite_only() {
    let env = Env::start(|c| {
        c.auth.registration = palisade_gateway::config::auth::Registration::Disabled
    })
    .await;
    let res = env
        .post(
            "/auth/register",
            json!({"email": "x@example.com", "password": PASSWORD}),
        )
        .await;
    assert_problem(res, 403, "registration-closed").await;

    let env =
        Env::start(|c| c.auth.registration = palisade_gateway::config::auth::Registration::Invite)
            .await;
    let res = env
        .post(
            "/auth/register",
            json!({"email": "x@example.com", "password": PASSWORD}),
        )
        .await;
    assert_problem(res, 403, "invite-required").await;
    let now = env.identity().now_ms() / 1000;
    let invite = env.identity().invites.issue("x@example.com", now + 60);
    let res = env
        .post(
            "/auth/register",
            json!({"email": "y@example.com", "password": PASSWORD, "invite": invite}),
        )
        .await;
    assert_problem(res, 403, "invite-required").await;
    let res = env
        .post(
            "/auth/register",
            json!({"email": "x@example.com", "password": PASSWORD, "invite": invite}),
        )
        .await;
    assert_eq!(res.status(), 201);
}

#[tokio::test]
async fn unknown_email_and_wrong_password_get_the_same_answer() {
    let env = Env::start(|_| {}).await;
    env.register("carol@example.com").await;
    let a = env
        .post(
            "/auth/login",
            json!({"email": "carol@example.com", "password": "wrong password entirely"}),
        )
        .await;
    // Forget the IP's run of failures so both attempts start from the same place.
    let ip = "127.0.0.1".parse().unwrap();
    env.identity().brute.unblock(ip).await.unwrap();
    let b = env
        .post(
            "/auth/login",
            json!({"email": "nobody@example.com", "password": "wrong password entirely"}),
        )
        .await;
    let (ra, rb) = (
        a.headers().get("retry-after").cloned(),
        b.headers().get("retry-after").cloned(),
    );
    let a = assert_problem(a, 401, "invalid-credentials").await;
    let b = assert_problem(b, 401, "invalid-credentials").await;
    assert_eq!(a["detail"], b["detail"]);
    assert_eq!(ra, rb);
}

#[tokio::test]
async fn refresh_reuse_inside_the_grace_window_serves_both_outside_kills_the_family() {
    let env = Env::start(|_| {}).await;
    env.register("dave@example.com").await;
    let tokens = env.login("dave@example.com").await;
    let first = tokens["refresh_token"].clone();

    let a = env
        .post("/auth/refresh", json!({"refresh_token": first}))
        .await;
    assert_eq!(a.status(), 200);
    env.advance(Duration::from_secs(4));
    let b = env
        .post("/auth/refresh", json!({"refresh_token": first}))
        .await;
    assert_eq!(b.status(), 200, "a concurrent refresh within 5 s succeeds");
    let b: Value = b.json().await.unwrap();

    env.advance(Duration::from_secs(2));
    let late = env
        .post("/auth/refresh", json!({"refresh_token": first}))
        .await;
    assert_problem(late, 401, "invalid_grant").await;
    // The family is revoked: the tokens issued from it no longer work.
    let res = env
        .post(
            "/auth/refresh",
            json!({"refresh_token": b["refresh_token"]}),
        )
        .await;
    assert_problem(res, 401, "invalid_grant").await;
    let res = env
        .get_with("/auth/me", b["access_token"].as_str().unwrap())
        .await;
    assert_problem(res, 401, "revoked").await;
    let events = env.gw.gateway.state.audit.recent();
    let reuse = events
        .iter()
        .find(|e| e.event_type == "auth.refresh_reuse_detected")
        .expect("audit event");
    assert_eq!(reuse.risk, palisade_gateway::audit::Risk::High);
}

#[tokio::test]
async fn access_tokens_expire_with_the_clock() {
    let env = Env::start(|_| {}).await;
    env.register("erin@example.com").await;
    let access = env.login("erin@example.com").await["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    env.advance(Duration::from_secs(30 * 60 + 29));
    assert_eq!(
        env.get_with("/auth/me", &access).await.status(),
        200,
        "leeway"
    );
    env.advance(Duration::from_secs(2));
    assert_problem(env.get_with("/auth/me", &access).await, 401, "expired").await;
}

/// Attempts a login with a wrong password and returns (status, Retry-After).
async fn fail_login(env: &Env, email: &str) -> (u16, Option<u64>) {
    let res = env
        .post(
            "/auth/login",
            json!({"email": email, "password": "not the password at all"}),
        )
        .await;
    let retry = res
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().parse().unwrap());
    (res.status().as_u16(), retry)
}

#[tokio::test]
async fn every_ladder_step_is_enforced_with_retry_after() {
    let env = Env::start(|c| {
        let bf = &mut c.auth.brute_force;
        (bf.medium_failures, bf.high_failures, bf.critical_failures) = (100, 200, 300);
    })
    .await;
    env.register("frank@example.com").await;
    let ladder = [1, 2, 5, 10, 30, 60, 300, 900, 900];
    for (i, wait) in ladder.iter().enumerate() {
        assert_eq!(
            fail_login(&env, "frank@example.com").await,
            (401, Some(*wait)),
            "failure {}",
            i + 1
        );
        // Trying again before the wait is over is refused without checking the password.
        let early = env
            .post(
                "/auth/login",
                json!({"email": "frank@example.com", "password": PASSWORD}),
            )
            .await;
        assert_eq!(early.headers()["retry-after"], wait.to_string().as_str());
        assert_problem(early, 429, "login-delayed").await;
        env.advance(Duration::from_secs(*wait));
    }
    // After the wait, the right password gets in and resets the ladder.
    env.login("frank@example.com").await;
    assert_eq!(fail_login(&env, "frank@example.com").await, (401, Some(1)));
}

#[tokio::test]
async fn ip_threat_levels_block_and_expire() {
    let env = Env::start(|_| {}).await;
    let admin = env.admin("root@example.com").await;
    let ip: std::net::IpAddr = "127.0.0.1".parse().unwrap();
    let brute = &env.identity().brute;
    for n in 1..=4 {
        let (status, retry) = fail_login(&env, &format!("a{n}@example.com")).await;
        assert_eq!(status, 401);
        env.advance(Duration::from_secs(retry.unwrap()));
    }
    assert!(brute.blocked(ip).await.unwrap().is_none(), "LOW below 5");
    let (status, _) = fail_login(&env, "a5@example.com").await;
    assert_eq!(status, 401);
    let res = env.get_with("/api/x", &admin).await;
    assert_eq!(res.headers()["retry-after"], "900");
    assert_problem(res, 403, "ip-blocked").await;
    // The block is listed for administrators (read here through the same code path).
    let blocks = brute.blocks().await.unwrap();
    assert_eq!(blocks.len(), 1);
    assert_eq!(blocks[0].level, "MEDIUM");
    env.advance(Duration::from_secs(900));
    assert_eq!(
        env.get_with("/api/x", &admin).await.status(),
        200,
        "expired"
    );

    for n in 6..=10 {
        let (status, retry) = fail_login(&env, &format!("b{n}@example.com")).await;
        assert_eq!(status, 401, "failure {n}");
        if n < 10 {
            // Each failure from 5 on re-blocks for 15 minutes; wait it out.
            env.advance(Duration::from_secs(900.max(retry.unwrap_or(0))));
        }
    }
    assert_eq!(
        brute.blocked(ip).await.unwrap(),
        Some(Duration::from_secs(3600)),
        "HIGH"
    );
    for n in 11..=20 {
        env.advance(Duration::from_secs(3600));
        let (status, _) = fail_login(&env, &format!("c{n}@example.com")).await;
        assert_eq!(status, 401, "failure {n}");
    }
    assert_eq!(
        brute.blocked(ip).await.unwrap(),
        Some(Duration::from_secs(86400)),
        "CRITICAL"
    );
    assert_eq!(brute.blocks().await.unwrap()[0].level, "CRITICAL");
    assert!(brute.unblock(ip).await.unwrap());
    let admin = env.login("root@example.com").await["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        env.get_with("/api/x", &admin).await.status(),
        200,
        "unblocked"
    );
}

#[tokio::test]
async fn admin_lists_and_lifts_ip_blocks() {
    let env = Env::start(|_| {}).await;
    let admin = env.admin("root@example.com").await;
    let member = {
        env.register("m@example.com").await;
        env.login("m@example.com").await["access_token"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let ip: std::net::IpAddr = "203.0.113.9".parse().unwrap();
    let brute = &env.identity().brute;
    for i in 0..5 {
        brute
            .record_failure(&format!("x{i}@example.com"), ip)
            .await
            .unwrap();
    }
    let res = env.get_with("/admin/ip-blocks", &member).await;
    assert_problem(res, 403, "forbidden").await;
    let list: Value = env
        .get_with("/admin/ip-blocks", &admin)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list["blocks"][0]["ip"], "203.0.113.9");
    assert_eq!(list["blocks"][0]["level"], "MEDIUM");
    assert_eq!(list["blocks"][0]["remaining_seconds"], 900);
    let res = env
        .http
        .delete(env.url("/admin/ip-blocks/203.0.113.9"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    assert!(brute.blocked(ip).await.unwrap().is_none());
    let res = env
        .http
        .delete(env.url("/admin/ip-blocks/203.0.113.9"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_problem(res, 404, "not-found").await;
}

#[tokio::test]
async fn a_bcrypt_hash_from_another_stack_logs_in_and_is_upgraded() {
    let env = Env::start(|_| {}).await;
    let id = env.identity();
    let legacy = bcrypt::hash(PASSWORD, 6)
        .unwrap()
        .replacen("$2b$", "$2y$", 1);
    let user = palisade_store::identity::UserRecord {
        id: uuid::Uuid::now_v7(),
        external_id: None,
        email: "legacy@example.com".into(),
        name: None,
        password_hash: Some(legacy),
        roles: vec!["member".into()],
        tier: "free".into(),
        kind: palisade_store::identity::PrincipalKind::Human,
        disabled: false,
        last_login_at: None,
        created_at: 0,
        updated_at: 0,
    };
    id.store.user_insert(&user).await.unwrap();
    env.login("legacy@example.com").await;
    let stored = id.store.user_by_id(user.id).await.unwrap().unwrap();
    let hash = stored.password_hash.unwrap();
    assert!(
        hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
        "{hash}"
    );
    env.login("legacy@example.com").await;
}

/// One hash per legacy format from the reference implementations (palisade-core's known-answer
/// fixtures, made by scripts/gen-hash-fixtures), with its password.
fn legacy_fixtures() -> Vec<(String, String, String)> {
    let doc: Value = serde_json::from_str(include_str!(
        "../../../core/tests/fixtures/legacy_hashes.json"
    ))
    .unwrap();
    let mut seen = std::collections::HashSet::new();
    doc["hashes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|row| row["format"] != "argon2" && seen.insert(row["format"].clone()))
        .map(|row| {
            let field = |k: &str| row[k].as_str().unwrap().to_string();
            (field("format"), field("password"), field("hash"))
        })
        .collect()
}

/// An account imported through the import use case, as `palisade user import` does, with its
/// hash stored as given and an external id.
async fn insert_with_hash(env: &Env, email: &str, hash: &str) -> uuid::Uuid {
    let origin = palisade_gateway::audit::RequestOrigin::default();
    let by = palisade_gateway::identity::manage::By {
        actor: "cli".into(),
        origin: &origin,
    };
    let account = palisade_gateway::identity::import::ImportedAccount {
        external_id: Some(format!("ext-{email}")),
        email: email.into(),
        roles: vec!["member".into()],
        password_hash: Some(hash.into()),
        ..Default::default()
    };
    let user = env
        .identity()
        .import_user(account, &|r: &str| r == "member", &by)
        .await
        .unwrap();
    assert_eq!(user.password_hash.as_deref(), Some(hash), "stored as given");
    user.id
}

async fn login_status(env: &Env, email: &str, password: &str) -> u16 {
    env.post("/auth/login", json!({"email": email, "password": password}))
        .await
        .status()
        .as_u16()
}

#[tokio::test]
async fn every_legacy_format_signs_in_once_then_as_argon2id() {
    let env = Env::start(|_| {}).await;
    let rows = legacy_fixtures();
    assert_eq!(rows.len(), 9, "every legacy format: {rows:?}");
    for (i, (format, password, hash)) in rows.iter().enumerate() {
        let email = format!("legacy{i}@example.com");
        let id = insert_with_hash(&env, &email, hash).await;
        assert_eq!(login_status(&env, &email, password).await, 200, "{format}");
        let stored = env.identity().store.user_by_id(id).await.unwrap().unwrap();
        let stored = stored.password_hash.unwrap();
        assert!(
            stored.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{format}: rehashed at the first sign-in, got {stored}"
        );
        assert_eq!(login_status(&env, &email, password).await, 200, "{format}");
    }
}

#[tokio::test]
async fn rehash_legacy_false_keeps_the_imported_hash() {
    let env = Env::start(|c| c.auth.rehash_legacy = false).await;
    for (i, (format, password, hash)) in legacy_fixtures().iter().enumerate() {
        let email = format!("kept{i}@example.com");
        let id = insert_with_hash(&env, &email, hash).await;
        for _ in 0..2 {
            assert_eq!(login_status(&env, &email, password).await, 200, "{format}");
            let stored = env.identity().store.user_by_id(id).await.unwrap().unwrap();
            assert_eq!(
                stored.password_hash.as_deref(),
                Some(hash.as_str()),
                "{format}"
            );
        }
    }
    // An argon2 hash with other parameters is not legacy: it still moves to the current ones.
    let weak = palisade_core::password::PasswordHasher::new(palisade_core::password::HashParams {
        memory_kib: 64,
        iterations: 1,
        parallelism: 1,
    })
    .unwrap()
    .hash(PASSWORD)
    .unwrap();
    let id = insert_with_hash(&env, "weak@example.com", &weak).await;
    env.login("weak@example.com").await;
    let stored = env.identity().store.user_by_id(id).await.unwrap().unwrap();
    let stored = stored.password_hash.unwrap();
    assert!(
        stored.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
        "{stored}"
    );
}

#[tokio::test]
async fn sessions_are_listed_and_revoked_one_or_all() {
    let env = Env::start(|_| {}).await;
    env.register("gina@example.com").await;
    let phone = env.login("gina@example.com").await;
    let laptop = env.login("gina@example.com").await;
    let laptop_access = laptop["access_token"].as_str().unwrap();
    let list: Value = env
        .get_with("/auth/sessions", laptop_access)
        .await
        .json()
        .await
        .unwrap();
    let sessions = list["sessions"].as_array().unwrap();
    assert_eq!(sessions.len(), 2);
    let phone_session = sessions.iter().find(|s| s["current"] == false).unwrap();
    let res = env
        .http
        .delete(env.url(&format!(
            "/auth/sessions/{}",
            phone_session["id"].as_str().unwrap()
        )))
        .bearer_auth(laptop_access)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    let phone_access = phone["access_token"].as_str().unwrap();
    assert_problem(env.get_with("/auth/me", phone_access).await, 401, "revoked").await;
    assert_eq!(env.get_with("/auth/me", laptop_access).await.status(), 200);

    // Another user cannot touch these sessions.
    env.register("hank@example.com").await;
    let hank = env.login("hank@example.com").await;
    let res = env
        .http
        .delete(env.url(&format!(
            "/auth/sessions/{}",
            sessions[0]["id"].as_str().unwrap()
        )))
        .bearer_auth(hank["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_problem(res, 404, "not-found").await;

    let res = env
        .http
        .post(env.url("/auth/sessions/revoke-all"))
        .bearer_auth(laptop_access)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_problem(
        env.get_with("/auth/me", laptop_access).await,
        401,
        "revoked",
    )
    .await;
    let res = env
        .post(
            "/auth/refresh",
            json!({"refresh_token": laptop["refresh_token"]}),
        )
        .await;
    assert_problem(res, 401, "invalid_grant").await;
}

#[tokio::test]
async fn disabling_a_user_revokes_their_sessions() {
    let env = Env::start(|_| {}).await;
    let user = env.register("ivy@example.com").await;
    let tokens = env.login("ivy@example.com").await;
    let id = env.identity();
    let uid = user["id"].as_str().unwrap().parse().unwrap();
    id.store.user_set_disabled(uid, true, 0).await.unwrap();
    id.revoke_user_sessions(uid, palisade_store::identity::RevocationReason::Admin)
        .await
        .unwrap();
    let access = tokens["access_token"].as_str().unwrap();
    assert_problem(env.get_with("/auth/me", access).await, 401, "revoked").await;
    let res = env
        .post(
            "/auth/login",
            json!({"email": "ivy@example.com", "password": PASSWORD}),
        )
        .await;
    assert_problem(res, 401, "invalid-credentials").await;
}

#[tokio::test]
async fn api_keys_are_shown_once_verified_rotated_and_revoked() {
    let env = Env::start(|_| {}).await;
    env.register("jack@example.com").await;
    let access = env.login("jack@example.com").await["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let res = env
        .http
        .post(env.url("/auth/api-keys"))
        .bearer_auth(&access)
        .json(&json!({"name": "ci", "roles": ["admin"]}))
        .send()
        .await
        .unwrap();
    assert_problem(res, 403, "role-not-held").await;
    let res = env
        .http
        .post(env.url("/auth/api-keys"))
        .bearer_auth(&access)
        .json(&json!({"name": "ci"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let created: Value = res.json().await.unwrap();
    let key = created["key"].as_str().unwrap().to_string();
    assert!(key.starts_with("pal_") && key.len() == 68, "{key}");
    assert!(key.starts_with(created["prefix"].as_str().unwrap()));

    let by_header = env
        .http
        .get(env.url("/auth/me"))
        .header("x-api-key", &key)
        .send()
        .await
        .unwrap();
    let me: Value = by_header.json().await.unwrap();
    assert_eq!(me["method"], "api_key");
    assert_eq!(me["roles"], json!(["member"]));
    assert_eq!(
        env.get_with("/api/x", &key).await.status(),
        200,
        "as Bearer"
    );
    let key_id: uuid::Uuid = created["id"].as_str().unwrap().parse().unwrap();
    let store = &env.identity().store;
    let last_used = || async {
        store
            .api_key_get(key_id)
            .await
            .unwrap()
            .unwrap()
            .last_used_at
    };
    assert_eq!(
        last_used().await,
        None,
        "use is batched, not written per request"
    );
    env.identity().api_keys.flush_last_used().await;
    assert_eq!(last_used().await, Some(START_MS as i64));

    let list: Value = env
        .get_with("/auth/api-keys", &access)
        .await
        .json()
        .await
        .unwrap();
    assert!(
        list["api_keys"][0].get("key").is_none(),
        "never shown again"
    );
    assert!(!list.to_string().contains(&key));

    // A key cannot mint keys.
    let res = env
        .http
        .post(env.url("/auth/api-keys"))
        .bearer_auth(&key)
        .json(&json!({"name": "child"}))
        .send()
        .await
        .unwrap();
    assert_problem(res, 403, "keys-need-a-user").await;

    let id = created["id"].as_str().unwrap();
    let res = env
        .http
        .post(env.url(&format!("/auth/api-keys/{id}/rotate")))
        .bearer_auth(&access)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let rotated: Value = res.json().await.unwrap();
    let new_key = rotated["key"].as_str().unwrap().to_string();
    assert_ne!(new_key, key);
    assert_eq!(env.get_with("/api/x", &key).await.status(), 200, "overlap");
    env.advance(Duration::from_secs(86400));
    assert_problem(env.get_with("/api/x", &key).await, 401, "invalid_api_key").await;
    assert_eq!(env.get_with("/api/x", &new_key).await.status(), 200);

    let access = env.login("jack@example.com").await["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let res = env
        .http
        .delete(env.url(&format!(
            "/auth/api-keys/{}",
            rotated["id"].as_str().unwrap()
        )))
        .bearer_auth(&access)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    let res = env.get_with("/api/x", &new_key).await;
    assert_problem(res, 401, "invalid_api_key").await;
    let bogus = format!("pal_{}", "0".repeat(64));
    assert_problem(env.get_with("/api/x", &bogus).await, 401, "invalid_api_key").await;
    assert_problem(
        env.get_with("/api/x", "pal_short").await,
        401,
        "invalid_api_key",
    )
    .await;
}

#[tokio::test]
async fn browser_sessions_need_csrf_for_state_changes() {
    let env = Env::start(|_| {}).await;
    env.register("kim@example.com").await;
    let res = env
        .post(
            "/auth/browser-session",
            json!({"email": "kim@example.com", "password": PASSWORD}),
        )
        .await;
    assert_eq!(res.status(), 200);
    let set_cookie = res.headers()["set-cookie"].to_str().unwrap().to_string();
    for attr in [
        "__Host-palisade=",
        "Secure",
        "HttpOnly",
        "SameSite=Lax",
        "Path=/",
    ] {
        assert!(set_cookie.contains(attr), "{set_cookie}");
    }
    let body: Value = res.json().await.unwrap();
    let csrf = body["csrf_token"].as_str().unwrap();
    let cookie = set_cookie.split(';').next().unwrap().to_string();

    let me = env
        .http
        .get(env.url("/auth/me"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    let me: Value = me.json().await.unwrap();
    assert_eq!(me["method"], "session");

    let res = env
        .http
        .post(env.url("/api/change"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_problem(res, 403, "csrf").await;
    let res = env
        .http
        .post(env.url("/api/change"))
        .header("cookie", &cookie)
        .header("x-csrf-token", "forged")
        .send()
        .await
        .unwrap();
    assert_problem(res, 403, "csrf").await;
    let res = env
        .http
        .post(env.url("/api/change"))
        .header("cookie", &cookie)
        .header("x-csrf-token", csrf)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);

    let res = env
        .http
        .delete(env.url("/auth/browser-session"))
        .header("cookie", &cookie)
        .header("x-csrf-token", csrf)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    assert!(
        res.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .contains("Max-Age=0")
    );
    let res = env
        .http
        .get(env.url("/auth/me"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_problem(res, 401, "revoked").await;
}

/// Signs in a browser with `cookie` (and its CSRF token) presented, if any; the new cookie and
/// CSRF token.
async fn browser_sign_in(
    env: &Env,
    email: &str,
    current: Option<(&str, &str)>,
) -> (String, String) {
    let mut req = env
        .http
        .post(env.url("/auth/browser-session"))
        .json(&json!({"email": email, "password": PASSWORD}));
    if let Some((cookie, csrf)) = current {
        req = req.header("cookie", cookie).header("x-csrf-token", csrf);
    }
    let res = req.send().await.unwrap();
    assert_eq!(res.status(), 200);
    let cookie = res.headers()["set-cookie"].to_str().unwrap();
    let cookie = cookie.split(';').next().unwrap().to_string();
    let csrf = res.json::<Value>().await.unwrap()["csrf_token"]
        .as_str()
        .unwrap()
        .to_string();
    (cookie, csrf)
}

#[tokio::test]
async fn signing_in_again_in_the_same_browser_ends_its_previous_session() {
    let env = Env::start(|_| {}).await;
    env.register("kit@example.com").await;
    let me = |cookie: String| {
        let env = &env;
        async move {
            env.http
                .get(env.url("/auth/me"))
                .header("cookie", cookie)
                .send()
                .await
                .unwrap()
        }
    };
    let (first, first_csrf) = browser_sign_in(&env, "kit@example.com", None).await;
    // Another browser's session is not this one's to end.
    let (elsewhere, _) = browser_sign_in(&env, "kit@example.com", None).await;
    let (second, _) = browser_sign_in(&env, "kit@example.com", Some((&first, &first_csrf))).await;
    assert_ne!(first, second);
    assert_problem(me(first).await, 401, "revoked").await;
    assert_eq!(me(second).await.status(), 200);
    assert_eq!(me(elsewhere).await.status(), 200);
}

#[tokio::test]
async fn device_binding_refuses_a_token_from_another_device() {
    let env = Env::start(|c| c.auth.device_binding = true).await;
    env.register("lee@example.com").await;
    let res = env
        .http
        .post(env.url("/auth/login"))
        .header("user-agent", "Phone/1")
        .json(&json!({"email": "lee@example.com", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    let tokens: Value = res.json().await.unwrap();
    let access = tokens["access_token"].as_str().unwrap();
    let from = |ua: &'static str| {
        env.http
            .get(env.url("/auth/me"))
            .bearer_auth(access)
            .header("user-agent", ua)
            .send()
    };
    assert_eq!(from("Phone/1").await.unwrap().status(), 200);
    assert_problem(from("Laptop/2").await.unwrap(), 401, "device_mismatch").await;
    let res = env
        .http
        .post(env.url("/auth/refresh"))
        .header("user-agent", "Laptop/2")
        .json(&json!({"refresh_token": tokens["refresh_token"]}))
        .send()
        .await
        .unwrap();
    assert_problem(res, 401, "invalid_grant").await;
}

#[tokio::test]
async fn jwks_publishes_the_signing_keys_and_rotation_keeps_old_tokens_valid() {
    let env = Env::start(|_| {}).await;
    env.register("max@example.com").await;
    let old = env.login("max@example.com").await["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let jwks: Value = env.jwks().await;
    assert_eq!(jwks["keys"].as_array().unwrap().len(), 1);
    assert_eq!(jwks["keys"][0]["alg"], "EdDSA");
    assert!(jwks["keys"][0].get("d").is_none(), "no private part");

    let new_kid = env.identity().rotate_signing_key().await.unwrap();
    let jwks: Value = env.jwks().await;
    assert_eq!(
        jwks["keys"].as_array().unwrap().len(),
        2,
        "old key still published"
    );
    let fresh = env.login("max@example.com").await["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let header: Value =
        serde_json::from_slice(&B64.decode(fresh.split('.').next().unwrap()).unwrap()).unwrap();
    assert_eq!(header["kid"], new_kid.as_str());
    assert_eq!(env.get_with("/auth/me", &old).await.status(), 200);

    // Once every token of the old key has expired, it leaves the JWKS.
    env.advance(Duration::from_secs(31 * 60));
    env.identity().reload_keys().await.unwrap();
    let jwks: Value = env.jwks().await;
    assert_eq!(jwks["keys"].as_array().unwrap().len(), 1);
}

/// The attack suite against Palisade's own tokens: each refused with 401.
#[tokio::test]
async fn jwt_attacks_on_our_own_tokens_are_refused() {
    // Headers may be large enough for the oversized token to reach the identify gate.
    let env = Env::start(|c| c.limits.max_header_bytes = ByteSize(64 << 10)).await;
    let key = env.own_signing_key().await;
    let now = now_s();
    let claims = json!({
        "sub": uuid::Uuid::now_v7().to_string(), "iss": "palisade", "aud": "palisade",
        "exp": now + 600, "iat": now, "nbf": now, "jti": "j1", "sid": "s1", "roles": ["admin"],
    });
    let header = json!({"alg": "EdDSA", "typ": "JWT", "kid": "test-kid"});
    let good = forge_eddsa(&header, &claims, &key);
    assert_eq!(env.get_with("/api/x", &good).await.status(), 200, "control");

    let with = |patch: Value| patched(&claims, patch);
    let with_header = |patch: Value| patched(&header, patch);
    let public_x = key.public_jwk().unwrap()["x"].as_str().unwrap().to_string();
    let public_raw = B64.decode(&public_x).unwrap();
    let (signing_input, _) = good.rsplit_once('.').unwrap();
    let mut tampered_claims = claims.clone();
    tampered_claims["roles"] = json!(["owner"]);
    let tampered = format!(
        "{}.{}.{}",
        signing_input.split('.').next().unwrap(),
        b64(tampered_claims.to_string().as_bytes()),
        good.rsplit('.').next().unwrap()
    );
    let mut attacks: Vec<(&str, String)> = Vec::new();
    for none in ["none", "None", "NONE", "nOnE"] {
        let h = b64(json!({"alg": none, "typ": "JWT", "kid": "test-kid"})
            .to_string()
            .as_bytes());
        let c = b64(claims.to_string().as_bytes());
        attacks.push(("alg none", format!("{h}.{c}.")));
    }
    attacks.extend([
        (
            "HS256 keyed with the public key (raw)",
            forge_hs256(&with_header(json!({"alg": "HS256"})), &claims, &public_raw),
        ),
        (
            "HS256 keyed with the public key (JWK x)",
            forge_hs256(
                &with_header(json!({"alg": "HS256"})),
                &claims,
                public_x.as_bytes(),
            ),
        ),
        ("tampered payload", tampered),
        ("stripped signature", format!("{signing_input}.")),
        ("no signature part", signing_input.to_string()),
        (
            "expired",
            forge_eddsa(&header, &with(json!({"exp": now - 120})), &key),
        ),
        (
            "nbf in the future",
            forge_eddsa(&header, &with(json!({"nbf": now + 600})), &key),
        ),
        (
            "wrong iss",
            forge_eddsa(&header, &with(json!({"iss": "evil"})), &key),
        ),
        (
            "wrong aud",
            forge_eddsa(&header, &with(json!({"aud": "other-api"})), &key),
        ),
        (
            "unknown kid",
            forge_eddsa(&with_header(json!({"kid": "nope"})), &claims, &key),
        ),
        (
            "kid with a path",
            forge_eddsa(
                &with_header(json!({"kid": "../../../../etc/passwd"})),
                &claims,
                &key,
            ),
        ),
        (
            "kid with SQL",
            forge_eddsa(&with_header(json!({"kid": "x' OR '1'='1"})), &claims, &key),
        ),
        (
            "jku header",
            forge_eddsa(
                &with_header(json!({"jku": "https://evil.example/jwks"})),
                &claims,
                &key,
            ),
        ),
        (
            "x5u header",
            forge_eddsa(
                &with_header(json!({"x5u": "https://evil.example/cert"})),
                &claims,
                &key,
            ),
        ),
        (
            "embedded jwk header",
            forge_eddsa(
                &with_header(json!({"jwk": key.public_jwk().unwrap()})),
                &claims,
                &key,
            ),
        ),
        ("oversized token", format!("{good}{}", "A".repeat(9000))),
        ("garbage", "not.a.jwt".into()),
    ]);
    // A token signed by a key Palisade never had.
    let stranger = SigningKey::generate(Algorithm::EdDSA, "test-kid".into()).unwrap();
    attacks.push((
        "foreign key, our kid",
        forge_eddsa(&header, &claims, &stranger),
    ));
    let mut missing_exp = claims.clone();
    missing_exp.as_object_mut().unwrap().remove("exp");
    attacks.push(("missing exp", forge_eddsa(&header, &missing_exp, &key)));

    for (name, token) in attacks {
        let res = env.get_with("/api/x", &token).await;
        assert_eq!(res.status(), 401, "{name}");
        assert!(res.headers().contains_key("www-authenticate"), "{name}");
    }
    assert_eq!(
        env.up.count(),
        1,
        "only the control request reached the upstream"
    );
}

/// The same suite against a trusted issuer's tokens.
#[tokio::test]
async fn jwt_attacks_on_a_trusted_issuers_tokens_are_refused() {
    let idp = SigningKey::generate(Algorithm::EdDSA, "idp-1".into()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let jwks_path = dir.path().join("jwks.json");
    std::fs::write(
        &jwks_path,
        json!({"keys": [idp.public_jwk().unwrap()]}).to_string(),
    )
    .unwrap();
    let env = Env::start(|c| {
        c.limits.max_header_bytes = ByteSize(64 << 10);
        c.auth
            .trusted_issuers
            .push(palisade_gateway::config::auth::TrustedIssuerConfig {
                issuer: "https://idp.example".into(),
                audiences: vec!["orders-api".into()],
                algorithms: vec![Algorithm::EdDSA],
                jwks_file: Some(jwks_path.clone()),
                roles_claim: Some("realm_access.roles".into()),
                ..Default::default()
            });
    })
    .await;
    let now = now_s();
    let claims = json!({
        "sub": "ext-user-7", "iss": "https://idp.example", "aud": "orders-api",
        "exp": now + 600, "iat": now, "nbf": now, "realm_access": {"roles": ["viewer"]},
    });
    let header = json!({"alg": "EdDSA", "typ": "JWT", "kid": "idp-1"});
    let good = forge_eddsa(&header, &claims, &idp);
    let me: Value = env.get_with("/auth/me", &good).await.json().await.unwrap();
    assert_eq!(me["method"], "external");
    assert_eq!(me["subject"], "ext-user-7");
    assert_eq!(me["roles"], json!(["viewer"]));

    let with = |patch: Value| patched(&claims, patch);
    let public_x = idp.public_jwk().unwrap()["x"].as_str().unwrap().to_string();
    let (signing_input, _) = good.rsplit_once('.').unwrap();
    let attacks = vec![
        ("alg none", {
            let h = b64(json!({"alg": "none", "kid": "idp-1"})
                .to_string()
                .as_bytes());
            format!("{h}.{}.", b64(claims.to_string().as_bytes()))
        }),
        (
            "HS256 with the public key",
            forge_hs256(
                &json!({"alg": "HS256", "kid": "idp-1"}),
                &claims,
                public_x.as_bytes(),
            ),
        ),
        ("stripped signature", format!("{signing_input}.")),
        (
            "expired",
            forge_eddsa(&header, &with(json!({"exp": now - 120})), &idp),
        ),
        (
            "nbf in the future",
            forge_eddsa(&header, &with(json!({"nbf": now + 600})), &idp),
        ),
        (
            "wrong aud",
            forge_eddsa(&header, &with(json!({"aud": "palisade"})), &idp),
        ),
        (
            "untrusted iss",
            forge_eddsa(&header, &with(json!({"iss": "https://evil.example"})), &idp),
        ),
        (
            "unknown kid",
            forge_eddsa(
                &json!({"alg": "EdDSA", "kid": "../../etc/passwd"}),
                &claims,
                &idp,
            ),
        ),
        (
            "jku header",
            forge_eddsa(
                &json!({"alg": "EdDSA", "kid": "idp-1", "jku": "https://evil.example/k"}),
                &claims,
                &idp,
            ),
        ),
        ("oversized", format!("{good}{}", "A".repeat(9000))),
    ];
    for (name, token) in attacks {
        let res = env.get_with("/api/x", &token).await;
        assert_eq!(res.status(), 401, "{name}");
    }
    // Palisade's own key cannot mint tokens for the trusted issuer's name.
    let own = env.own_signing_key().await;
    let forged = forge_eddsa(&json!({"alg": "EdDSA", "kid": "test-kid"}), &claims, &own);
    assert_eq!(env.get_with("/api/x", &forged).await.status(), 401);
}

/// A local siteverify server: success only for the response token "solved".
async fn siteverify() -> String {
    use axum::routing::post;
    async fn verify(body: String) -> axum::Json<Value> {
        let ok = body.split('&').any(|kv| kv == "response=solved")
            && body.split('&').any(|kv| kv == "secret=captcha-secret");
        axum::Json(json!({"success": ok}))
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = axum::Router::new().route("/siteverify", post(verify));
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}/siteverify")
}

/// A gateway asking a local siteverify server, at login after 2 failures.
async fn captcha_env(edit: impl FnOnce(&mut Config) + Send + 'static) -> Env {
    let url = siteverify().await;
    Env::start(move |c| {
        let cap = &mut c.auth.captcha;
        cap.enabled = true;
        cap.verify_url = url;
        cap.secret = "captcha-secret".into();
        cap.login_after_failures = 2;
        edit(c);
    })
    .await
}

#[tokio::test]
async fn captcha_guards_register_and_login_after_failures() {
    let env = captcha_env(|c| c.auth.brute_force.enabled = false).await;
    let res = env
        .post(
            "/auth/register",
            json!({"email": "nia@example.com", "password": PASSWORD}),
        )
        .await;
    assert_problem(res, 400, "captcha-failed").await;
    let res = env
        .post(
            "/auth/register",
            json!({"email": "nia@example.com", "password": PASSWORD, "captcha_token": "wrong"}),
        )
        .await;
    assert_problem(res, 400, "captcha-failed").await;
    let res = env
        .post(
            "/auth/register",
            json!({"email": "nia@example.com", "password": PASSWORD, "captcha_token": "solved"}),
        )
        .await;
    assert_eq!(res.status(), 201);
    env.login("nia@example.com").await;
}

#[tokio::test]
async fn captcha_is_asked_for_at_login_after_n_failures() {
    let env = captcha_env(|c| c.auth.captcha.on_register = false).await;
    env.register("oz@example.com").await;
    for _ in 0..2 {
        let (status, retry) = fail_login(&env, "oz@example.com").await;
        assert_eq!(status, 401);
        env.advance(Duration::from_secs(retry.unwrap()));
    }
    let res = env
        .post(
            "/auth/login",
            json!({"email": "oz@example.com", "password": PASSWORD}),
        )
        .await;
    assert_problem(res, 401, "captcha-required").await;
    let res = env
        .post(
            "/auth/login",
            json!({"email": "oz@example.com", "password": PASSWORD, "captcha_token": "solved"}),
        )
        .await;
    assert_eq!(res.status(), 200);
}

#[tokio::test]
async fn requests_without_credentials_pass_anonymous_and_bad_schemes_are_refused() {
    let env = Env::start(|_| {}).await;
    let res = env.http.get(env.url("/api/x")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let res = env
        .http
        .get(env.url("/api/x"))
        .header("authorization", "Basic dXNlcjpwYXNz")
        .send()
        .await
        .unwrap();
    assert_problem(res, 401, "not_bearer").await;
    let res = env.http.get(env.url("/auth/me")).send().await.unwrap();
    assert_eq!(
        res.headers()["www-authenticate"],
        "Bearer realm=\"palisade\""
    );
    assert_problem(res, 401, "missing").await;
}

/// A JWKS server whose key set the test swaps, counting fetches.
struct JwksServer {
    url: String,
    keys: Arc<std::sync::Mutex<Vec<Value>>>,
    fetches: Arc<std::sync::atomic::AtomicUsize>,
}

async fn jwks_server(initial: Vec<Value>) -> JwksServer {
    use axum::routing::get;
    let keys = Arc::new(std::sync::Mutex::new(initial));
    let fetches = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let (k, f) = (keys.clone(), fetches.clone());
    let app = axum::Router::new().route(
        "/jwks",
        get(move || {
            let (k, f) = (k.clone(), f.clone());
            async move {
                f.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                axum::Json(json!({"keys": k.lock().unwrap().clone()}))
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/jwks", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    JwksServer { url, keys, fetches }
}

#[tokio::test]
async fn a_jwks_url_is_refetched_on_an_unknown_kid_at_most_once_a_minute() {
    let first = SigningKey::generate(Algorithm::ES256, "k1".into()).unwrap();
    let second = SigningKey::generate(Algorithm::ES256, "k2".into()).unwrap();
    let jwks = jwks_server(vec![first.public_jwk().unwrap()]).await;
    let url = jwks.url.clone();
    let env = Env::start(move |c| {
        c.auth
            .trusted_issuers
            .push(palisade_gateway::config::auth::TrustedIssuerConfig {
                issuer: "https://idp.example".into(),
                audiences: vec!["orders-api".into()],
                algorithms: vec![Algorithm::ES256],
                jwks_url: Some(url),
                ..Default::default()
            });
    })
    .await;
    let fetches = || jwks.fetches.load(std::sync::atomic::Ordering::SeqCst);
    assert_eq!(fetches(), 1, "fetched at start");
    let token = |key: &SigningKey| {
        let now = env.identity().now_ms() / 1000;
        let claims = AccessLike {
            sub: "ext".into(),
            iss: "https://idp.example".into(),
            aud: "orders-api".into(),
            exp: now + 600,
            iat: now,
            nbf: now,
        };
        sign_es256(key, &claims)
    };
    assert_eq!(env.get_with("/api/x", &token(&first)).await.status(), 200);

    // The issuer rotates: the new kid is unknown until the JWKS is fetched again.
    jwks.keys.lock().unwrap().push(second.public_jwk().unwrap());
    let rotated = token(&second);
    assert_eq!(
        env.get_with("/api/x", &rotated).await.status(),
        401,
        "refetch too soon"
    );
    assert_eq!(fetches(), 1);
    env.advance(Duration::from_secs(61));
    assert_eq!(env.get_with("/api/x", &token(&second)).await.status(), 200);
    assert_eq!(fetches(), 2, "one refetch for the unknown kid");

    // A flood of made-up kids cannot make Palisade hammer the issuer.
    let stranger = SigningKey::generate(Algorithm::ES256, "made-up".into()).unwrap();
    for _ in 0..5 {
        assert_eq!(
            env.get_with("/api/x", &token(&stranger)).await.status(),
            401
        );
    }
    assert_eq!(fetches(), 2);
    env.advance(Duration::from_secs(61));
    for _ in 0..5 {
        assert_eq!(
            env.get_with("/api/x", &token(&stranger)).await.status(),
            401
        );
    }
    assert_eq!(fetches(), 3, "at most one refetch a minute");
}

#[derive(serde::Serialize)]
struct AccessLike {
    sub: String,
    iss: String,
    aud: String,
    exp: u64,
    iat: u64,
    nbf: u64,
}

/// Signs with an ES256 key through Palisade's own signer type (a foreign issuer's key here).
fn sign_es256(key: &SigningKey, claims: &AccessLike) -> String {
    let tokens = palisade_core::jwt::OwnTokens::new(
        "unused".into(),
        "unused".into(),
        0,
        Arc::new(
            SigningKey::from_private_bytes(
                Algorithm::ES256,
                key.kid().into(),
                &key.private_bytes(),
            )
            .unwrap(),
        ),
        Vec::new(),
    );
    tokens.sign_claims(claims).unwrap()
}

/// A hot state that cannot answer: every security lookup must fail closed.
#[derive(Debug)]
struct DownHotState;

#[async_trait::async_trait]
impl palisade_store::HotState for DownHotState {
    fn backend(&self) -> &'static str {
        "down"
    }
    async fn ping(&self) -> palisade_store::StoreResult<()> {
        Err(down())
    }
    async fn incr(&self, _: &str, _: Duration) -> palisade_store::StoreResult<u64> {
        Err(down())
    }
    async fn counter(&self, _: &str) -> palisade_store::StoreResult<u64> {
        Err(down())
    }
    async fn set_flag(&self, _: &str, _: Duration) -> palisade_store::StoreResult<()> {
        Err(down())
    }
    async fn has_flag(&self, _: &str) -> palisade_store::StoreResult<bool> {
        Err(down())
    }
    async fn flag_ttl(&self, _: &str) -> palisade_store::StoreResult<Option<Duration>> {
        Err(down())
    }
    async fn flags_with_prefix(
        &self,
        _: &str,
    ) -> palisade_store::StoreResult<Vec<(String, Duration)>> {
        Err(down())
    }
    async fn remove(&self, _: &str) -> palisade_store::StoreResult<()> {
        Err(down())
    }
}

fn down() -> palisade_store::StoreError {
    palisade_store::StoreError::Unavailable("connection refused".into())
}

#[tokio::test]
async fn revocation_and_block_lookups_that_cannot_be_answered_refuse() {
    use palisade_gateway::identity::Identity;
    use palisade_gateway::identity::sessions::ClientInfo;
    let dir = tempfile::tempdir().unwrap();
    let mut config = config(dir.path(), Vec::new());
    config.secrets.signing_key = "a signing secret that is long enough".into();
    config.secrets.cookie_key = "a cookie secret that is long enough too".into();
    let store = palisade_store::open_store("memory:", dir.path())
        .await
        .unwrap();
    let clock: palisade_core::clock::SharedClock = Arc::new(ManualClock::starting_at(START_MS));
    let identity = Identity::start(
        &config,
        store.clone(),
        Arc::new(DownHotState),
        clock,
        Arc::new(Default::default()),
    )
    .await
    .unwrap();
    let user = palisade_store::identity::UserRecord {
        id: uuid::Uuid::now_v7(),
        external_id: None,
        email: "pat@example.com".into(),
        name: None,
        password_hash: None,
        roles: vec!["member".into()],
        tier: "free".into(),
        kind: palisade_store::identity::PrincipalKind::Human,
        disabled: false,
        last_login_at: None,
        created_at: 0,
        updated_at: 0,
    };
    store.user_insert(&user).await.unwrap();
    let headers = http::HeaderMap::new();
    let tokens = identity
        .login(&user, &ClientInfo::from_headers(&headers))
        .await
        .unwrap();
    let mut headers = http::HeaderMap::new();
    headers.insert(
        "authorization",
        format!("Bearer {}", tokens.access_token).parse().unwrap(),
    );
    let outcome = identity
        .authenticate(&http::Method::GET, &headers, "192.0.2.9".parse().unwrap())
        .await;
    assert_eq!(
        outcome.unwrap_err(),
        palisade_gateway::identity::AuthFailure::Unavailable,
        "a valid token is refused when its revocation cannot be checked"
    );
    let ip = "192.0.2.1".parse().unwrap();
    assert!(
        identity.brute.blocked(ip).await.is_err(),
        "the firewall sees an error, not 'not blocked'"
    );
    assert!(
        identity
            .brute
            .wait_left("pat@example.com", ip)
            .await
            .is_err()
    );
}

#[tokio::test]
async fn logout_without_a_body_revokes_the_access_token_only() {
    let env = Env::start(|_| {}).await;
    env.register("quinn@example.com").await;
    let tokens = env.login("quinn@example.com").await;
    let access = tokens["access_token"].as_str().unwrap();
    let res = env
        .http
        .post(env.url("/auth/logout"))
        .bearer_auth(access)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    assert_problem(env.get_with("/auth/me", access).await, 401, "revoked").await;
    let res = env
        .post(
            "/auth/refresh",
            json!({"refresh_token": tokens["refresh_token"]}),
        )
        .await;
    assert_eq!(
        res.status(),
        200,
        "the session lives on without the refresh token"
    );
    let res = env.http.post(env.url("/auth/logout")).send().await.unwrap();
    assert_problem(res, 401, "missing").await;
}

#[tokio::test]
async fn every_selectable_algorithm_signs_tokens_the_gateway_accepts() {
    for alg in [Algorithm::ES256, Algorithm::RS256, Algorithm::HS256] {
        let env = Env::start(|c| c.auth.algorithm = alg).await;
        env.register("rae@example.com").await;
        let access = env.login("rae@example.com").await["access_token"]
            .as_str()
            .unwrap()
            .to_string();
        let header: Value =
            serde_json::from_slice(&B64.decode(access.split('.').next().unwrap()).unwrap())
                .unwrap();
        assert_eq!(header["alg"], alg.as_str());
        assert_eq!(
            env.get_with("/auth/me", &access).await.status(),
            200,
            "{alg}"
        );
        let jwks: Value = env
            .http
            .get(env.url("/.well-known/jwks.json"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let published = jwks["keys"].as_array().unwrap().len();
        assert_eq!(
            published,
            usize::from(alg != Algorithm::HS256),
            "{alg}: HS256 secrets are never published"
        );
    }
}

/// Verifies an EdDSA JWS against a JWKS document; returns its claims.
pub fn verify_with_jwks(token: &str, jwks: &Value) -> Value {
    let header: Value =
        serde_json::from_slice(&B64.decode(token.split('.').next().unwrap()).unwrap()).unwrap();
    assert_eq!(header["alg"], "EdDSA");
    let jwk = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == header["kid"])
        .expect("the assertion's kid is published");
    let public = B64.decode(jwk["x"].as_str().unwrap()).unwrap();
    let (input, sig) = token.rsplit_once('.').unwrap();
    aws_lc_rs::signature::UnparsedPublicKey::new(&aws_lc_rs::signature::ED25519, &public)
        .verify(input.as_bytes(), &B64.decode(sig).unwrap())
        .expect("signature verifies against the JWKS");
    serde_json::from_slice(&B64.decode(input.split('.').nth(1).unwrap()).unwrap()).unwrap()
}

#[tokio::test]
async fn upstreams_get_a_verifiable_identity_assertion_and_never_a_client_supplied_one() {
    let env = Env::start(|_| {}).await;
    let user = env.register("sam@example.com").await;
    let access = env.login("sam@example.com").await["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let forged = "eyJhbGciOiJub25lIn0.eyJzdWIiOiJhZG1pbiJ9.";
    let res = env
        .http
        .get(env.url("/api/orders"))
        .bearer_auth(&access)
        .header("x-palisade-identity", forged)
        .header("x-palisade-user", "admin")
        .header("x-palisade-roles", "owner")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let seen = env.up.last();
    assert_eq!(seen.header("x-palisade-user"), user["id"].as_str());
    assert_eq!(seen.header("x-palisade-roles"), Some("member"));
    assert_eq!(
        seen.headers["x-palisade-identity"].len(),
        1,
        "one assertion, ours"
    );
    let assertion = seen.header("x-palisade-identity").unwrap();
    assert_ne!(assertion, forged);
    let claims = verify_with_jwks(assertion, &env.jwks().await);
    assert_eq!(claims["sub"], user["id"]);
    assert_eq!(claims["aud"], "/api/", "audience is the route");
    assert_eq!(claims["iss"], "palisade");
    assert_eq!(claims["roles"], json!(["member"]));
    assert_eq!(
        claims["exp"].as_u64().unwrap() - claims["iat"].as_u64().unwrap(),
        60
    );

    // Anonymous: no identity at all, and the spoofed headers are still gone.
    env.http
        .get(env.url("/api/orders"))
        .header("x-palisade-identity", forged)
        .header("x-palisade-user", "admin")
        .send()
        .await
        .unwrap();
    let seen = env.up.last();
    assert!(seen.header("x-palisade-identity").is_none());
    assert!(seen.header("x-palisade-user").is_none());
}
