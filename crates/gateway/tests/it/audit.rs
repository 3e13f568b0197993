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
    let env = Env::start(|_| {}).await;
    let store = env.gw.gateway.state.store.clone();
    assert_eq!(
        store.audit_head().await.unwrap(),
        None,
        "nothing written yet"
    );
    // Someone else's record takes sequence 1, so the gateway's writer cannot append its next
    // batch (it keeps retrying; nothing is dropped).
    let mut squatter = palisade_core::audit::AuditRecord {
        seq: 1,
        id: "squatter".into(),
        ts_ms: 0,
        event_type: "api.request".into(),
        risk: palisade_core::audit::Risk::Low,
        actor: None,
        action: None,
        resource_type: None,
        resource_id: None,
        tenant: None,
        result: palisade_core::audit::Outcome::Success,
        client_ip: None,
        user_agent: None,
        request_id: None,
        details: json!({}),
        prev_hash: palisade_core::audit::GENESIS,
        hash: palisade_core::audit::GENESIS,
    };
    squatter.link(palisade_core::audit::GENESIS);
    store.audit_append(&[squatter]).await.unwrap();

    let login = env.post(
        "/auth/login",
        json!({"email": "nobody@example.com", "password": "not the password 1"}),
    );
    let answered = tokio::time::timeout(std::time::Duration::from_secs(1), login).await;
    assert!(
        answered.is_err(),
        "a failed login was answered although its audit event is not stored"
    );
    // Requests that emit no event are not held.
    let res = env.http.get(env.url("/healthz")).send().await.unwrap();
    assert_eq!(res.status(), 200);
}
