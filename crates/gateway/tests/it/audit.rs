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
    let checkpoints = store.audit_checkpoints().await.unwrap();
    let kid = &checkpoints[0].kid;
    let public = store
        .meta_get(&palisade_gateway::audit_trail::public_key_meta(kid))
        .await
        .unwrap()
        .and_then(|h| palisade_gateway::audit_trail::hex_decode(&h))
        .unwrap();
    let keys = std::collections::BTreeMap::from([(kid.clone(), public)]);
    let ok = verify(&records, &checkpoints, &keys, false).unwrap();
    assert_eq!(ok.count as usize, records.len());
    assert_eq!(ok.first_seq, Some(1));
    assert!(
        records
            .iter()
            .all(|r| r.client_ip.as_deref() == Some("127.0.0.1"))
    );
}

#[tokio::test]
async fn an_answer_waits_while_its_event_cannot_be_stored() {
    use sqlx::Connection;
    let env = Env::start(|c| c.store.url = "sqlite:".into()).await;
    // Another process holds SQLite's write lock: the writer's batch cannot commit.
    let path = env.gw._dir.path().join("palisade.db");
    let mut other = sqlx::SqliteConnection::connect(&format!("sqlite://{}", path.display()))
        .await
        .unwrap();
    sqlx::query("BEGIN IMMEDIATE")
        .execute(&mut other)
        .await
        .unwrap();

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

async fn verified(env: &Env) -> palisade_core::audit::Verified {
    let store = &env.gw.gateway.state.store;
    let records = store.audit_range(0, 10_000).await.unwrap();
    let checkpoints = store.audit_checkpoints().await.unwrap();
    let mut keys = std::collections::BTreeMap::new();
    for cp in &checkpoints {
        let public = store
            .meta_get(&palisade_gateway::audit_trail::public_key_meta(&cp.kid))
            .await
            .unwrap()
            .and_then(|h| palisade_gateway::audit_trail::hex_decode(&h))
            .unwrap();
        keys.insert(cp.kid.clone(), public);
    }
    verify(&records, &checkpoints, &keys, false).unwrap()
}

#[tokio::test]
async fn retention_purges_the_expired_prefix_records_the_purge_and_the_rest_still_verifies() {
    let env = Env::start(|c| c.audit.retention_days.security = 2).await;
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
