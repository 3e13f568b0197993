//! Lockdown end to end: while it is on, ordinary requests (anonymous, a member's, a member's
//! sign-in and refresh) are refused with 503 `lockdown`, while administrators sign in, refresh
//! and use the admin API, and the ops endpoints answer. The state survives a restart (the
//! embedded default: SQLite, reopened on the same data dir) and is shared by replicas (two
//! gateways on one PostgreSQL and one Redis: the second follows by the sync that bounds
//! propagation, and a replica started later starts locked down). Lifting it lets traffic flow.

use crate::common::{TestGateway, Upstream, assert_problem, client};
use crate::identity::PASSWORD;
use crate::revocation_restart::{ScaleOut, gateway, stop};
use palisade_core::clock::ManualClock;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;

const START_MS: u64 = 1_900_000_000_000;

async fn send(
    gw: &TestGateway,
    method: reqwest::Method,
    path: &str,
    bearer: Option<&str>,
    body: Option<Value>,
) -> reqwest::Response {
    let mut req = client().request(method, gw.url(path));
    if let Some(b) = bearer {
        req = req.bearer_auth(b);
    }
    if let Some(body) = body {
        req = req.json(&body);
    }
    req.send().await.unwrap()
}

async fn get(gw: &TestGateway, path: &str, bearer: Option<&str>) -> reqwest::Response {
    send(gw, reqwest::Method::GET, path, bearer, None).await
}

async fn sign_in(gw: &TestGateway, email: &str) -> reqwest::Response {
    let body = json!({"email": email, "password": PASSWORD});
    send(gw, reqwest::Method::POST, "/auth/login", None, Some(body)).await
}

/// Access and refresh token of a successful sign-in.
async fn tokens(gw: &TestGateway, email: &str) -> (String, String) {
    let res = sign_in(gw, email).await;
    assert_eq!(res.status(), 200, "{email} signs in");
    let body: Value = res.json().await.unwrap();
    (
        body["access_token"].as_str().unwrap().into(),
        body["refresh_token"].as_str().unwrap().into(),
    )
}

async fn refresh(gw: &TestGateway, token: &str) -> reqwest::Response {
    let body = json!({ "refresh_token": token });
    send(gw, reqwest::Method::POST, "/auth/refresh", None, Some(body)).await
}

async fn switch(gw: &TestGateway, admin: &str, on: bool) -> Value {
    let body = json!({"on": on, "reason": "incident 42"});
    let res = send(
        gw,
        reqwest::Method::POST,
        "/admin/lockdown",
        Some(admin),
        Some(body),
    )
    .await;
    assert_eq!(res.status(), 200);
    res.json().await.unwrap()
}

/// An administrator and a member, registered and (for the admin) given the role.
async fn accounts(gw: &TestGateway) {
    for email in ["root@example.com", "member@example.com"] {
        let body = json!({"email": email, "password": PASSWORD});
        let res = send(
            gw,
            reqwest::Method::POST,
            "/auth/register",
            None,
            Some(body),
        )
        .await;
        assert_eq!(res.status(), 201);
    }
    let store = &gw.gateway.state.store;
    let root = store
        .user_by_email("root@example.com")
        .await
        .unwrap()
        .unwrap();
    store
        .user_set_roles(root.id, &["admin".into()], 0)
        .await
        .unwrap();
}

/// What a locked-down gateway answers, and to whom.
async fn assert_locked_down(gw: &TestGateway, when: &str) {
    assert_problem(get(gw, "/api/x", None).await, 503, "lockdown").await;
    let (admin, admin_refresh) = tokens(gw, "root@example.com").await;
    assert_eq!(
        get(gw, "/admin/lockdown", Some(&admin)).await.status(),
        200,
        "admin API for an administrator {when}"
    );
    let status: Value = get(gw, "/admin/lockdown", Some(&admin))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(status["on"], true);
    assert_eq!(status["reason"], "incident 42");
    assert_eq!(refresh(gw, &admin_refresh).await.status(), 200, "{when}");
    // Only the admin API: an administrator's ordinary request is refused like anyone's.
    assert_problem(get(gw, "/api/x", Some(&admin)).await, 503, "lockdown").await;
    assert_problem(get(gw, "/auth/me", Some(&admin)).await, 503, "lockdown").await;
    assert_problem(sign_in(gw, "member@example.com").await, 503, "lockdown").await;
    for ops in ["/healthz", "/readyz"] {
        assert_eq!(get(gw, ops, None).await.status(), 200, "{ops} {when}");
    }
}

#[tokio::test]
async fn lockdown_refuses_all_but_administrators_and_ops_and_survives_a_restart() {
    let up = Upstream::start("api").await;
    let clock = Arc::new(ManualClock::starting_at(START_MS));
    let data = tempfile::tempdir().unwrap();
    let start = || gateway(&up, clock.clone(), data.path(), |_| {});

    let gw = start().await;
    accounts(&gw).await;
    let (admin, _) = tokens(&gw, "root@example.com").await;
    let (member, member_refresh) = tokens(&gw, "member@example.com").await;
    assert_eq!(get(&gw, "/api/x", Some(&member)).await.status(), 200);

    let on = switch(&gw, &admin, true).await;
    assert_eq!(on["on"], true);
    assert_locked_down(&gw, "while on").await;
    assert_problem(get(&gw, "/api/x", Some(&member)).await, 503, "lockdown").await;
    assert_problem(refresh(&gw, &member_refresh).await, 503, "lockdown").await;
    // A member reaching for the admin API is refused before it.
    assert_problem(
        get(&gw, "/admin/lockdown", Some(&member)).await,
        503,
        "lockdown",
    )
    .await;

    // The switch and the refusals are on record.
    gw.gateway.state.audit.trail().unwrap().flush().await;
    let all = gw.gateway.state.store.audit_range(0, 10_000).await.unwrap();
    let on_event = all
        .iter()
        .find(|r| r.event_type == "gateway.lockdown_on")
        .expect("gateway.lockdown_on recorded");
    assert_eq!(on_event.risk.as_str(), "CRITICAL");
    assert!(all.iter().any(|r| r.event_type == "lockdown.refused"));

    stop(gw).await;
    clock.advance(Duration::from_secs(1));
    let gw = start().await;
    assert_locked_down(&gw, "after a restart").await;

    let (admin, _) = tokens(&gw, "root@example.com").await;
    assert_eq!(switch(&gw, &admin, false).await["on"], false);
    assert_eq!(
        get(&gw, "/api/x", None).await.status(),
        200,
        "traffic flows"
    );
    assert_eq!(sign_in(&gw, "member@example.com").await.status(), 200);
    assert_eq!(refresh(&gw, &member_refresh).await.status(), 200);
    stop(gw).await;
}

#[tokio::test]
async fn lockdown_is_shared_by_replicas_on_postgres_and_redis() {
    let Some(backends) = ScaleOut::start() else {
        return;
    };
    let up = Upstream::start("api").await;
    let clock = Arc::new(ManualClock::starting_at(START_MS));
    let shared = backends.dir.path().join("replicas");
    let replica = || gateway(&up, clock.clone(), &shared, backends.config("lockdown"));
    let a = replica().await;
    let b = replica().await;
    assert_eq!(b.gateway.state.store.backend(), "postgres");
    assert_eq!(b.gateway.state.hot.backend(), "redis");
    accounts(&a).await;
    let (admin, _) = tokens(&a, "root@example.com").await;
    assert_eq!(get(&b, "/api/x", None).await.status(), 200);

    switch(&a, &admin, true).await;
    // B converges by the latest at its next sync (the documented bound), whatever the broadcast did.
    b.gateway.state.identity.sync().await;
    assert!(b.gateway.state.identity.lockdown.is_on());
    assert_locked_down(&b, "on the second replica").await;
    // A replica started now starts locked down.
    let c = replica().await;
    assert_locked_down(&c, "on a replica started later").await;

    // Lifted on B through the use case the CLI calls: A follows.
    let by = palisade_gateway::identity::manage::By {
        actor: "cli".into(),
        origin: &Default::default(),
    };
    b.gateway
        .state
        .identity
        .lockdown
        .set(false, Some("all clear".into()), &by)
        .await
        .unwrap();
    a.gateway.state.identity.sync().await;
    assert_eq!(
        get(&a, "/api/x", None).await.status(),
        200,
        "traffic flows on A"
    );
    assert_eq!(get(&b, "/api/x", None).await.status(), 200, "and on B");
    for gw in [a, b, c] {
        stop(gw).await;
    }
}
