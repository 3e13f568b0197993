//! The durable audit trail as the gateway writes it: events are committed before the answer
//! that caused them is sent, chained and verifiable.

use crate::identity::Env;
use palisade_core::audit::verify;
use serde_json::json;

#[tokio::test]
async fn a_refusal_is_in_the_store_before_its_answer_arrives_and_the_trail_verifies() {
    let env = Env::start(|_| {}).await;
    let store = env.gw.gateway.state.store.clone();
    for i in 0..20 {
        // Past any brute-force delay, so every attempt is a real failed login.
        env.advance(std::time::Duration::from_secs(3600));
        let res = env
            .post(
                "/auth/login",
                json!({"email": format!("nobody{i}@example.com"), "password": "not the password 1"}),
            )
            .await;
        assert_eq!(res.status(), 401);
        // No waiting: the answer came back, so its event is stored.
        let stored = store.audit_range(0, 10_000).await.unwrap();
        let failures = stored
            .iter()
            .filter(|r| r.event_type == "auth.login_failure")
            .count();
        assert!(failures > i, "event {i} was not durable before its answer");
    }
    let trail = env.gw.gateway.state.audit.trail().unwrap().clone();
    trail.checkpoint().await;
    let records = store.audit_range(0, 10_000).await.unwrap();
    let ok = verified(&env).await;
    assert_eq!(ok.count as usize, records.len());
    assert_eq!(ok.first_seq, Some(1));
    assert!(
        opened(&env.gw.gateway.state)
            .await
            .iter()
            .all(|r| r.client_ip.as_deref() == Some("127.0.0.1"))
    );
}

/// Every record of the trail as readers see it: sealed fields opened.
pub async fn opened(
    state: &palisade_gateway::state::AppState,
) -> Vec<palisade_core::audit::AuditRecord> {
    state
        .audit
        .trail()
        .unwrap()
        .query(&Default::default(), 0, 1_000_000)
        .await
        .unwrap()
}

#[tokio::test]
async fn an_answer_waits_while_its_event_cannot_be_stored() {
    let env = Env::start(|c| c.store.url = "sqlite:".into()).await;
    // Another process holds SQLite's write lock: the writer's batch cannot commit.
    let mut other = hold_sqlite_write_lock(&env).await;

    let login = env.post(
        "/auth/login",
        json!({"email": "nobody@example.com", "password": "not the password 1"}),
    );
    tokio::pin!(login);
    let early = tokio::time::timeout(std::time::Duration::from_secs(1), &mut login).await;
    assert!(
        early.is_err(),
        "a failed login was answered although its audit event is not stored"
    );
    // Requests that emit no event are not held.
    let res = env.http.get(env.url("/healthz")).send().await.unwrap();
    assert_eq!(res.status(), 200);

    sqlx::query("ROLLBACK").execute(&mut other).await.unwrap();
    assert_eq!(
        login.await.status(),
        401,
        "answered once the event is stored"
    );
    let store = &env.gw.gateway.state.store;
    let stored = store.audit_range(0, 100).await.unwrap();
    assert!(stored.iter().any(|r| r.event_type == "auth.login_failure"));
}

pub async fn verified(env: &Env) -> palisade_core::audit::Verified {
    let store = &env.gw.gateway.state.store;
    let records = store.audit_range(0, 10_000).await.unwrap();
    let checkpoints = store.audit_checkpoints().await.unwrap();
    let mut keys = std::collections::BTreeMap::new();
    for cp in &checkpoints {
        let public = store
            .meta_get(&palisade_gateway::audit::trail::public_key_meta(&cp.kid))
            .await
            .unwrap()
            .and_then(|h| palisade_gateway::audit::trail::hex_decode(&h))
            .unwrap();
        keys.insert(cp.kid.clone(), public);
    }
    verify(&records, &checkpoints, &keys, false).unwrap()
}

#[tokio::test]
async fn retention_purges_the_expired_prefix_records_the_purge_and_the_rest_still_verifies() {
    let env = Env::start(|c| {
        c.retention.audit.insert(
            "security".into(),
            palisade_gateway::config::units::HumanDuration(std::time::Duration::from_secs(
                2 * 86_400,
            )),
        );
    })
    .await;
    let fail = |i: u32| {
        env.post(
            "/auth/login",
            json!({"email": format!("old{i}@example.com"), "password": "not the password 1"}),
        )
    };
    let day = std::time::Duration::from_secs(86_400);
    for i in 0..3 {
        env.advance(std::time::Duration::from_secs(3600));
        assert_eq!(fail(i).await.status(), 401);
    }
    env.advance(day);
    for i in 3..5 {
        env.advance(std::time::Duration::from_secs(3600));
        assert_eq!(fail(i).await.status(), 401);
    }
    env.advance(day + day / 2);
    let trail = env.gw.gateway.state.audit.trail().unwrap().clone();
    let dry = trail.purge(true).await.unwrap();
    assert_eq!((dry.through_seq, dry.count), (Some(3), 3));
    assert_eq!(
        verified(&env).await.first_seq,
        Some(1),
        "a dry run removes nothing"
    );

    let done = trail.purge(false).await.unwrap();
    assert_eq!((done.through_seq, done.count), (Some(3), 3));
    assert!(done.batches >= 1);
    let store = &env.gw.gateway.state.store;
    let left = store.audit_range(0, 100).await.unwrap();
    assert_eq!(left.iter().map(|r| r.seq).collect::<Vec<_>>(), [4, 5, 6]);
    assert_eq!(left[2].event_type, "audit.purged");
    assert_eq!(left[2].details["through_seq"], 3);
    let ok = verified(&env).await;
    assert_eq!((ok.first_seq, ok.last_seq), (Some(4), Some(6)));
    assert_eq!(
        trail.purge(false).await.unwrap().count,
        0,
        "nothing else has expired"
    );
}

#[tokio::test]
async fn administrators_query_and_export_the_trail_others_cannot() {
    // Five failed logins from one address would block it, the administrator's requests too.
    let env = Env::start(|c| c.auth.brute_force.enabled = false).await;
    let admin = env.admin("root@example.com").await;
    for i in 0..5 {
        let res = env
            .post(
                "/auth/login",
                json!({"email": format!("x{i}@example.com"), "password": "not the password 1"}),
            )
            .await;
        assert_eq!(res.status(), 401);
    }
    let get = |q: &str| {
        let path = format!("/admin/audit{q}");
        let (env, admin) = (&env, admin.clone());
        async move { env.get_with(&path, &admin).await }
    };
    let page: serde_json::Value =
        get("?type=auth.login_failure&result=failure&risk=medium&limit=2")
            .await
            .json()
            .await
            .unwrap();
    let events = page["events"]
        .as_array()
        .unwrap_or_else(|| panic!("{page}"));
    assert_eq!(events.len(), 2);
    assert!(
        events
            .iter()
            .all(|e| e["event_type"] == "auth.login_failure")
    );
    let after = page["next_after"].as_u64().unwrap();
    let rest: serde_json::Value = get(&format!("?type=auth.login_failure&after={after}&limit=10"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(rest["events"].as_array().unwrap().len(), 3);
    assert!(rest["next_after"].is_null());
    let none: serde_json::Value = get("?risk=critical").await.json().await.unwrap();
    assert!(none["events"].as_array().unwrap().is_empty());
    crate::common::assert_problem(get("?risk=extreme").await, 422, "invalid-query").await;
    crate::common::assert_problem(get("?nonsense=1").await, 422, "invalid-query").await;

    let jsonl = env
        .get_with("/admin/audit/export?type=auth.login_failure", &admin)
        .await;
    assert_eq!(jsonl.headers()["content-type"], "application/x-ndjson");
    let lines: Vec<serde_json::Value> = jsonl
        .text()
        .await
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 5);
    let csv = env
        .get_with(
            "/admin/audit/export?format=csv&type=auth.login_failure",
            &admin,
        )
        .await
        .text()
        .await
        .unwrap();
    assert!(csv.starts_with("seq,id,ts_ms,event_type"));
    assert_eq!(csv.lines().count(), 6);
    let exported: serde_json::Value = get("?type=data.exported").await.json().await.unwrap();
    assert_eq!(
        exported["events"].as_array().unwrap().len(),
        2,
        "each export is audited"
    );

    let (_, member) = crate::authorization::signed_in(&env, "mel@example.com", &["member"]).await;
    crate::common::assert_problem(
        env.get_with("/admin/audit", &member).await,
        403,
        "forbidden",
    )
    .await;
}

#[tokio::test]
async fn the_security_summary_counts_what_happened_in_the_window() {
    let env = Env::start(|c| c.auth.brute_force.enabled = false).await;
    let admin = env.admin("root@example.com").await;
    let (member_id, member) =
        crate::authorization::signed_in(&env, "mel@example.com", &["member"]).await;
    for i in 0..3 {
        let res = env
            .post(
                "/auth/login",
                json!({"email": "mel@example.com", "password": format!("wrong password {i}x")}),
            )
            .await;
        assert_eq!(res.status(), 401);
    }
    let refused = env.get_with("/admin/tenants", &member).await;
    assert_eq!(refused.status(), 403);

    let summary: serde_json::Value = env
        .get_with("/admin/security/summary?window=10m", &admin)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(summary["window_seconds"], 600);
    assert_eq!(
        summary["failed_logins_by_ip"][0],
        json!({"key": "127.0.0.1", "count": 3})
    );
    assert_eq!(
        summary["failed_logins_by_account"][0],
        json!({"key": member_id, "count": 3})
    );
    assert_eq!(summary["denials"], 1);
    assert_eq!(
        summary["privilege_escalation_attempts"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(summary["top_risky_actors"][0]["key"], member_id);
    assert_eq!(summary["truncated"], false);

    env.advance(std::time::Duration::from_secs(11 * 60));
    let admin = env.login("root@example.com").await["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let later: serde_json::Value = env
        .get_with("/admin/security/summary?window=10m", &admin)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(later["denials"], 0, "outside the window");
    crate::common::assert_problem(
        env.get_with("/admin/security/summary?window=forever", &admin)
            .await,
        422,
        "invalid-query",
    )
    .await;
}

#[tokio::test]
async fn per_request_audit_is_written_without_holding_the_answer() {
    let env = Env::start(|c| {
        c.store.url = "sqlite:".into();
        c.routes[0].audit = true;
    })
    .await;
    let mut other = hold_sqlite_write_lock(&env).await;
    // api.request is an api_call event, written asynchronously: the answer is not held.
    let res = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        env.http.get(env.url("/api/items?token=secret")).send(),
    )
    .await
    .expect("answered while the store is locked")
    .unwrap();
    assert_eq!(res.status(), 200);
    sqlx::query("ROLLBACK").execute(&mut other).await.unwrap();

    let trail = env.gw.gateway.state.audit.trail().unwrap().clone();
    trail.flush().await;
    let stored = env
        .gw
        .gateway
        .state
        .store
        .audit_range(0, 100)
        .await
        .unwrap();
    let event = stored
        .iter()
        .find(|r| r.event_type == "api.request")
        .expect("the request was audited");
    assert_eq!(
        event.details,
        json!({"method": "GET", "path": "/api/items", "status": 200})
    );
    assert_eq!(event.actor.as_deref(), Some("ip:127.0.0.1"));
    assert_eq!(event.resource_type.as_deref(), Some("route"));
}

/// Another connection takes SQLite's write lock (released by `ROLLBACK` on it): the audit
/// writer's batches cannot commit meanwhile.
pub async fn hold_sqlite_write_lock(env: &Env) -> sqlx::SqliteConnection {
    use sqlx::Connection;
    let path = env.gw._dir.path().join("palisade.db");
    let mut other = sqlx::SqliteConnection::connect(&format!("sqlite://{}", path.display()))
        .await
        .unwrap();
    sqlx::query("BEGIN IMMEDIATE")
        .execute(&mut other)
        .await
        .unwrap();
    other
}
