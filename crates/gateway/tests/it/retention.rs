//! The retention job on the test clock, on SQLite through the running gateway: every data type
//! goes one second after its period and not one second before, the audit chain verifies after
//! the purge, a dry run deletes nothing, a purge larger than a batch takes several
//! transactions, revocation reasons show in listings and the trail, `last_login_at` is recorded
//! and the inactive-account policy disables (reason `expired`).

use crate::audit::verified;
use crate::identity::{Env, PASSWORD};
use palisade_gateway::audit::RequestOrigin;
use palisade_gateway::config::Config;
use palisade_gateway::config::units::HumanDuration;
use palisade_gateway::identity::manage::{By, NewKey};
use palisade_gateway::retention::RunReport;
use palisade_store::identity::RevocationReason;
use palisade_store::revocations::RevokedToken;
use palisade_store::secrets::SecretVersion;
use serde_json::{Value, json};
use std::sync::LazyLock;
use std::time::Duration;
use uuid::Uuid;

static ORIGIN: LazyLock<RequestOrigin> = LazyLock::new(RequestOrigin::default);
const SECOND: Duration = Duration::from_secs(1);
const DAY: Duration = Duration::from_secs(86_400);

pub fn by() -> By<'static> {
    By {
        actor: "test".into(),
        origin: &ORIGIN,
    }
}

pub fn on_sqlite(c: &mut Config) {
    c.store.url = "sqlite:".into();
    c.auth.brute_force.enabled = false;
}

pub async fn run(env: &Env, dry_run: bool) -> RunReport {
    let state = &env.gw.gateway.state;
    let trail = state.audit.trail().map(|t| t.as_ref());
    palisade_gateway::retention::run(
        &state.identity,
        trail,
        &state.config.retention,
        None,
        dry_run,
        &by(),
    )
    .await
    .unwrap()
}

fn now(env: &Env) -> i64 {
    env.identity().now_ms() as i64
}

async fn user_id(env: &Env, email: &str) -> Uuid {
    env.identity()
        .store
        .user_by_email(email)
        .await
        .unwrap()
        .unwrap()
        .id
}

/// Advances to one second before `period` has passed since now and runs.
async fn just_before(env: &Env, period: Duration) -> RunReport {
    env.advance(period - SECOND);
    run(env, false).await
}

/// Advances two seconds (one past the period) and runs.
async fn just_after(env: &Env) -> RunReport {
    env.advance(2 * SECOND);
    run(env, false).await
}

#[tokio::test]
async fn every_type_goes_one_second_after_its_period_and_not_one_second_before() {
    let env = Env::start(|c| {
        on_sqlite(c);
        c.retention
            .audit
            .insert("security".into(), HumanDuration(DAY));
    })
    .await;
    let store = env.identity().store.clone();
    let r = env.gw.gateway.state.config.retention.clone();

    // Audit: the first event (a failed sign-in) goes a day after it was written.
    let res = env
        .post(
            "/auth/login",
            json!({"email": "nobody@example.com", "password": "wrong password 1"}),
        )
        .await;
    assert_eq!(res.status(), 401);
    let early = just_before(&env, DAY).await;
    assert_eq!(early.count("audit"), Some(0));
    let late = just_after(&env).await;
    assert!(late.count("audit").unwrap() >= 1, "{late:?}");
    let ok = verified(&env).await;
    assert!(
        ok.first_seq.unwrap() > 1,
        "the purged prefix is gone and the rest verifies"
    );

    // Sessions: revoked now (by logout), gone `retention.sessions` later with their tokens.
    env.register("ses@example.com").await;
    let signed_in = env.login("ses@example.com").await;
    let sid = session_of(&env, "ses@example.com").await;
    let res = bearer_post(
        &env,
        "/auth/logout",
        &signed_in,
        json!({"refresh_token": signed_in["refresh_token"]}),
    )
    .await;
    assert_eq!(res.status(), 204);
    let ended = store.session_get(sid).await.unwrap().unwrap();
    assert_eq!(
        ended.revoked_reason,
        Some(RevocationReason::Logout),
        "{ended:?}"
    );
    let early = just_before(&env, r.sessions.0).await;
    assert_eq!(early.count("sessions"), Some(0));
    assert!(store.session_get(sid).await.unwrap().is_some(), "{early:?}");
    let late = just_after(&env).await;
    assert_eq!(late.count("sessions"), Some(1));
    assert!(store.session_get(sid).await.unwrap().is_none());

    // Refresh tokens: gone `retention.refresh_tokens` after they expired.
    env.register("tok@example.com").await;
    let t = env.login("tok@example.com").await;
    let sid = session_of(&env, "tok@example.com").await;
    let token_ttl = env.gw.gateway.state.config.auth.refresh_token_ttl.0;
    env.advance(token_ttl);
    let early = just_before(&env, r.refresh_tokens.0).await;
    assert_eq!(early.count("refresh_tokens"), Some(0), "{t}");
    let late = just_after(&env).await;
    assert_eq!(late.count("refresh_tokens"), Some(1));
    assert!(
        store.session_get(sid).await.unwrap().is_some(),
        "its session lives on"
    );

    // Revoked-token records: gone `retention.expired_revocations` after they ended.
    store
        .token_revoke(&RevokedToken {
            jti: "ended-now".into(),
            expires_at: now(&env),
            revoked_at: now(&env),
        })
        .await
        .unwrap();
    let early = just_before(&env, r.expired_revocations.0).await;
    assert_eq!(early.count("expired_revocations"), Some(0));
    let late = just_after(&env).await;
    assert_eq!(late.count("expired_revocations"), Some(1));

    // API keys: gone `retention.api_keys` after their revocation.
    let owner = user_id(&env, "tok@example.com").await;
    let (key, _) = env
        .identity()
        .create_api_key(
            NewKey {
                name: "ci",
                owner,
                roles: vec!["member".into()],
                scopes: Vec::new(),
                expires_in: None,
            },
            &by(),
        )
        .await
        .unwrap();
    env.identity()
        .revoke_api_key_as(key.id, &by())
        .await
        .unwrap();
    let early = just_before(&env, r.api_keys.0).await;
    assert_eq!(early.count("api_keys"), Some(0));
    assert!(store.api_key_get(key.id).await.unwrap().is_some());
    let late = just_after(&env).await;
    assert_eq!(late.count("api_keys"), Some(1));
    assert!(store.api_key_get(key.id).await.unwrap().is_none());

    // Secret versions: gone `retention.secret_versions` after a later version superseded them.
    for (version, at) in [(1, now(&env) - 1_000), (2, now(&env))] {
        store
            .secret_insert(&SecretVersion {
                path: "app/db/password".into(),
                version,
                ciphertext: format!("pal1.k.{version}"),
                metadata: json!({}),
                created_at: at,
                created_by: None,
                deleted_at: None,
            })
            .await
            .unwrap();
    }
    let early = just_before(&env, r.secret_versions.0).await;
    assert_eq!(early.count("secret_versions"), Some(0));
    let late = just_after(&env).await;
    assert_eq!(late.count("secret_versions"), Some(1));
    let left = store.secret_versions("app/db/password").await.unwrap();
    assert_eq!(left.iter().map(|v| v.version).collect::<Vec<_>>(), vec![2]);

    // The chain still verifies after all of it.
    env.gw
        .gateway
        .state
        .audit
        .trail()
        .unwrap()
        .checkpoint()
        .await;
    verified(&env).await;
}

#[tokio::test]
async fn a_dry_run_counts_and_deletes_nothing() {
    let env = Env::start(on_sqlite).await;
    let store = env.identity().store.clone();
    env.register("dry@example.com").await;
    env.login("dry@example.com").await;
    let sid = session_of(&env, "dry@example.com").await;
    env.identity()
        .revoke_session(sid, RevocationReason::Logout)
        .await
        .unwrap();
    let records_before = store.audit_range(0, 10_000).await.unwrap().len();
    env.advance(400 * DAY);
    let dry = run(&env, true).await;
    assert!(dry.dry_run);
    assert_eq!(dry.count("sessions"), Some(1));
    assert!(dry.count("audit").unwrap() >= 1);
    assert!(dry.purged.iter().all(|(_, _, batches)| *batches == 0));
    assert!(
        store.session_get(sid).await.unwrap().is_some(),
        "nothing deleted"
    );
    assert_eq!(
        store.audit_range(0, 10_000).await.unwrap().len(),
        records_before,
        "no record removed, none added"
    );
    let done = run(&env, false).await;
    assert_eq!(done.count("sessions"), Some(1));
    assert!(store.session_get(sid).await.unwrap().is_none());
}

#[tokio::test]
async fn a_purge_larger_than_a_batch_takes_several_transactions() {
    let env = Env::start(|c| {
        on_sqlite(c);
        c.retention.batch_size = 100;
        // Batches sized by count alone: a loaded machine must not change their number.
        c.retention.transaction_target = HumanDuration(Duration::from_secs(1));
    })
    .await;
    let store = env.identity().store.clone();
    let user = env.register("many@example.com").await;
    let owner: Uuid = user["id"].as_str().unwrap().parse().unwrap();
    let at = now(&env);
    for _ in 0..250 {
        store
            .session_insert(&palisade_store::identity::SessionRecord {
                id: Uuid::now_v7(),
                user_id: owner,
                kind: palisade_store::identity::SessionKind::Token,
                created_at: at,
                last_seen_at: at,
                expires_at: at,
                user_agent: None,
                fingerprint: "00".repeat(32),
                revoked_at: None,
                revoked_reason: None,
                amr: vec!["pwd".into()],
                acr: None,
                auth_time: None,
            })
            .await
            .unwrap();
    }
    env.advance(31 * DAY);
    let report = run(&env, false).await;
    assert_eq!(report.count("sessions"), Some(250));
    assert_eq!(report.batches("sessions"), Some(3), "100 + 100 + 50");
    assert!(
        store
            .sessions_for_user(owner, true)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn revocation_reasons_show_in_listings_and_the_trail() {
    let env = Env::start(on_sqlite).await;
    env.register("rea@example.com").await;
    let uid = user_id(&env, "rea@example.com").await;

    // logout: DELETE /auth/sessions/{id}.
    let a = env.login("rea@example.com").await;
    let b = env.login("rea@example.com").await;
    let access = a["access_token"].as_str().unwrap();
    let listed = sessions_listed(&env, access, false).await;
    let other = listed.iter().find(|s| s["current"] == false).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let res = env
        .http
        .delete(env.url(&format!("/auth/sessions/{other}")))
        .bearer_auth(access)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    assert!(
        sessions_listed(&env, access, false)
            .await
            .iter()
            .all(|s| s["id"] != other.as_str())
    );
    let all = sessions_listed(&env, access, true).await;
    let ended = all.iter().find(|s| s["id"] == other.as_str()).unwrap();
    assert_eq!(ended["revoked_reason"], "logout");
    assert!(ended["revoked_at"].is_i64());
    assert!(trail_has(&env, "auth.session_revoked", "logout").await);
    let res = env
        .http
        .get(env.url("/auth/sessions?include_revoked=maybe"))
        .bearer_auth(access)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    drop(b);

    // reuse_detected: a rotated refresh token presented again, past the grace.
    let c = env.login("rea@example.com").await;
    let refresh = |t: Value| env.post("/auth/refresh", json!({ "refresh_token": t }));
    assert_eq!(refresh(c["refresh_token"].clone()).await.status(), 200);
    env.advance(Duration::from_secs(120));
    assert_eq!(refresh(c["refresh_token"].clone()).await.status(), 401);
    assert!(
        reasons(&env, uid)
            .await
            .contains(&RevocationReason::ReuseDetected)
    );
    assert!(trail_has(&env, "auth.refresh_reuse_detected", "reuse_detected").await);

    // admin: an API key revoked through the API; the key list shows why.
    let res = env
        .http
        .post(env.url("/auth/api-keys"))
        .bearer_auth(access)
        .json(&json!({"name": "ci"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let key: Value = res.json().await.unwrap();
    assert_eq!(key["revoked_reason"], Value::Null);
    let res = env
        .http
        .delete(env.url(&format!("/auth/api-keys/{}", key["id"].as_str().unwrap())))
        .bearer_auth(access)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    let keys: Value = env
        .get_with("/auth/api-keys", access)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(keys["api_keys"][0]["revoked_reason"], "admin", "{keys}");
    assert!(trail_has(&env, "apikey.revoked", "admin").await);

    // admin: the account disabled by an administrator.
    env.identity()
        .set_user_disabled(uid, true, &by())
        .await
        .unwrap();
    assert!(reasons(&env, uid).await.contains(&RevocationReason::Admin));
    assert!(trail_has(&env, "user.disabled", "admin").await);
}

#[tokio::test]
async fn sign_ins_are_recorded_and_inactive_accounts_are_disabled() {
    let env = Env::start(|c| {
        on_sqlite(c);
        c.retention.inactive_accounts_disable_after = Some(HumanDuration(180 * DAY));
    })
    .await;
    env.register("old@example.com").await;
    env.register("new@example.com").await;
    let signed_in = env.login("old@example.com").await;
    let at = now(&env);
    env.identity().flush_touches().await;
    let me: Value = env
        .get_with("/auth/me", signed_in["access_token"].as_str().unwrap())
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(me["user"]["last_login_at"], at, "{me}");

    env.advance(100 * DAY);
    env.login("new@example.com").await;
    env.identity().flush_touches().await;
    env.advance(80 * DAY - SECOND);
    let dry = run(&env, true).await;
    assert_eq!(dry.accounts_disabled, 0, "not one second early");
    env.advance(2 * SECOND);
    assert_eq!(run(&env, true).await.accounts_disabled, 1);
    let old = user_id(&env, "old@example.com").await;
    assert!(
        !env.identity()
            .store
            .user_by_id(old)
            .await
            .unwrap()
            .unwrap()
            .disabled,
        "a dry run disables nobody"
    );
    assert_eq!(run(&env, false).await.accounts_disabled, 1);
    assert!(
        env.identity()
            .store
            .user_by_id(old)
            .await
            .unwrap()
            .unwrap()
            .disabled
    );
    assert!(
        reasons(&env, old)
            .await
            .iter()
            .all(|r| *r == RevocationReason::Expired)
    );
    assert!(trail_has(&env, "user.disabled", "expired").await);
    let res = env
        .post(
            "/auth/login",
            json!({"email": "old@example.com", "password": PASSWORD}),
        )
        .await;
    assert!(
        res.status().is_client_error(),
        "a disabled account cannot sign in"
    );
    let res = env
        .post(
            "/auth/login",
            json!({"email": "new@example.com", "password": PASSWORD}),
        )
        .await;
    assert_eq!(res.status(), 200, "signed in 80 days ago: still active");
}

async fn session_of(env: &Env, email: &str) -> Uuid {
    let uid = user_id(env, email).await;
    env.identity()
        .store
        .sessions_for_user(uid, true)
        .await
        .unwrap()[0]
        .id
}

async fn bearer_post(env: &Env, path: &str, signed_in: &Value, body: Value) -> reqwest::Response {
    env.http
        .post(env.url(path))
        .bearer_auth(signed_in["access_token"].as_str().unwrap())
        .json(&body)
        .send()
        .await
        .unwrap()
}

async fn sessions_listed(env: &Env, access: &str, include_revoked: bool) -> Vec<Value> {
    let path = format!("/auth/sessions?include_revoked={include_revoked}");
    let body: Value = env.get_with(&path, access).await.json().await.unwrap();
    body["sessions"].as_array().unwrap().clone()
}

async fn reasons(env: &Env, uid: Uuid) -> Vec<RevocationReason> {
    let sessions = env.identity().store.sessions_for_user(uid, true).await;
    sessions
        .unwrap()
        .iter()
        .filter_map(|s| s.revoked_reason)
        .collect()
}

/// Whether the trail holds an event of `event_type` whose `details.reason` is `reason`.
pub async fn trail_has(env: &Env, event_type: &str, reason: &str) -> bool {
    env.gw.gateway.state.audit.trail().unwrap().flush().await;
    let records = env
        .gw
        .gateway
        .state
        .store
        .audit_range(0, 10_000)
        .await
        .unwrap();
    records
        .iter()
        .any(|r| r.event_type == event_type && r.details["reason"] == reason)
}
