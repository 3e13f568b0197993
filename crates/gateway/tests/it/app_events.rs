//! Application events in the trail (`POST /admin/audit/events`): a service account with
//! `audit.events.write` posts batches of declared `app.*` types; they are stored once per
//! idempotency key (across restarts, on SQLite and PostgreSQL), with `source = "app"`, in the
//! one verifiable chain; bad batches are refused whole; a quota per principal; alert rules see
//! them only when they name the app source. (Restarts: `app_events_restart`.)

use crate::alerts::{SECRET, eventually, next_delivery, receiver, rule, signature_is_valid};
use crate::audit::verified;
use crate::authorization::signed_in;
use crate::common::*;
use crate::identity::Env;
use crate::principals::call;
use palisade_core::audit::{Risk, Source};
use palisade_core::clock::Clock;
use palisade_gateway::config::Config;
use palisade_gateway::config::alerts::{Action, GroupBy};
use palisade_gateway::config::app_events::AppEventType;
use palisade_store::audit::AuditFilter;
use serde_json::{Value, json};
use std::time::Duration;

const TYPE: &str = "app.tool.executed";
const OCCURRED: &str = "2026-12-05T10:00:00Z";

/// A role holding `audit.events.write` and one declared app event type.
pub(crate) fn app_config(c: &mut Config) {
    c.roles = palisade_core::policy::default_roles();
    c.roles.push(palisade_core::policy::RoleDef {
        name: "app_writer".into(),
        grants: vec!["audit.events.write".into()],
        inherits: vec![],
    });
    c.audit.app_events = vec![AppEventType {
        event_type: TYPE.into(),
        risk: "medium".into(),
        retention: "tool_execution".into(),
    }];
}

/// A service account with the `app_writer` role, created by `admin`: its id and an API key.
pub(crate) async fn writer(env: &Env, admin: &str) -> (String, String) {
    let res = call(
        env,
        "POST",
        "/admin/service-accounts",
        admin,
        Some(json!({"name": "tools-app", "roles": ["app_writer"]})),
    )
    .await;
    assert_eq!(res.status(), 201);
    let id = res.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let res = call(
        env,
        "POST",
        &format!("/admin/service-accounts/{id}/api-keys"),
        admin,
        Some(json!({"name": "trail", "scopes": ["audit.events.write"]})),
    )
    .await;
    assert_eq!(res.status(), 201);
    let key = res.json::<Value>().await.unwrap()["key"]
        .as_str()
        .unwrap()
        .to_string();
    (id, key)
}

pub(crate) fn event(key: &str) -> Value {
    json!({
        "type": TYPE, "occurred_at": OCCURRED, "idempotency_key": key, "actor": "user-7",
        "resource": "tool:read_file", "action": "execute", "result": "success",
        "tenant": "acme", "details": {"duration_ms": 12},
    })
}

pub(crate) async fn post(env: &Env, auth: &str, events: Vec<Value>) -> reqwest::Response {
    call(
        env,
        "POST",
        "/admin/audit/events",
        auth,
        Some(json!({ "events": events })),
    )
    .await
}

pub(crate) fn statuses(body: &Value) -> Vec<&str> {
    body["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["status"].as_str().unwrap())
        .collect()
}

pub(crate) async fn app_records(env: &Env) -> Vec<palisade_core::audit::AuditRecord> {
    let filter = AuditFilter {
        source: Some(Source::App),
        ..Default::default()
    };
    env.gw
        .gateway
        .state
        .store
        .audit_query(&filter, 0, 10_000)
        .await
        .unwrap()
}

fn refusals(env: &Env, reason: &str) -> usize {
    env.gw
        .gateway
        .state
        .audit
        .recent()
        .iter()
        .filter(|e| e.event_type == "audit.app_events_refused" && e.details["reason"] == reason)
        .count()
}

#[tokio::test]
async fn app_events_are_stored_once_with_their_source_and_a_bad_batch_is_refused_whole() {
    let env = Env::start(|c| {
        app_config(c);
        c.store.url = "sqlite:".into();
    })
    .await;
    let admin = env.admin("root@example.com").await;
    let (svc, key) = writer(&env, &admin).await;

    let res = post(&env, &key, vec![event("k1"), event("k2"), event("k3")]).await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["stored"], 3);
    assert_eq!(statuses(&body), ["stored"; 3]);

    // Queryable by source through the admin API, as the app sent them, on Palisade's clock.
    let res = env.get_with("/admin/audit?source=app", &admin).await;
    assert_eq!(res.status(), 200);
    let page: Value = res.json().await.unwrap();
    let events = page["events"].as_array().unwrap();
    assert_eq!(events.len(), 3);
    for e in events {
        assert_eq!(e["source"], "app");
        assert_eq!(e["event_type"], TYPE);
        assert_eq!(e["risk"], "MEDIUM");
        assert_eq!(e["actor"], svc.as_str(), "the poster is the actor");
        assert_eq!(e["details"]["app_actor"], "user-7");
        assert_eq!(e["details"]["occurred_at"], OCCURRED);
        assert_eq!(e["details"]["duration_ms"], 12);
        assert_eq!(e["resource_type"], "tool");
        assert_eq!(e["resource_id"], "read_file");
        assert_eq!(e["tenant"], "acme");
        assert_eq!(e["ts_ms"], env.clock.now_millis());
    }
    let own: Value = env
        .get_with("/admin/audit?source=palisade", &admin)
        .await
        .json()
        .await
        .unwrap();
    let own = own["events"].as_array().unwrap();
    assert!(!own.is_empty());
    assert!(own.iter().all(|e| e["source"] == "palisade"));
    assert_problem(
        env.get_with("/admin/audit?source=elsewhere", &admin).await,
        422,
        "invalid-query",
    )
    .await;

    // A retried batch is stored once; a mixed one stores only what is new.
    let body: Value = post(&env, &key, vec![event("k1"), event("k2"), event("k3")])
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        (body["stored"].as_u64(), body["duplicates"].as_u64()),
        (Some(0), Some(3))
    );
    let body: Value = post(&env, &key, vec![event("k3"), event("k4"), event("k4")])
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(statuses(&body), ["duplicate", "stored", "duplicate"]);
    assert_eq!(app_records(&env).await.len(), 4);

    // One undeclared type refuses the whole batch, naming its index; nothing of it is stored.
    let mut undeclared = event("k6");
    undeclared["type"] = "app.not_declared".into();
    let refused = assert_problem(
        post(&env, &key, vec![event("k5"), undeclared]).await,
        400,
        "invalid-event",
    )
    .await;
    assert_eq!(
        (refused["index"].as_u64(), refused["field"].as_str()),
        (Some(1), Some("type"))
    );
    assert_eq!(app_records(&env).await.len(), 4);
    // Reserved detail keys cannot be written by the app, nor Palisade's own types posted.
    let mut forged = event("k7");
    forged["details"]["occurred_at"] = "1999-01-01T00:00:00Z".into();
    let refused = assert_problem(post(&env, &key, vec![forged]).await, 400, "invalid-event").await;
    assert_eq!(refused["field"], "details");
    let mut palisade_type = event("k8");
    palisade_type["type"] = "auth.login_success".into();
    assert_problem(
        post(&env, &key, vec![palisade_type]).await,
        400,
        "invalid-event",
    )
    .await;
    let mut big = event("k9");
    big["details"]["blob"] = "x".repeat(9 * 1024).into();
    assert_problem(post(&env, &key, vec![big]).await, 400, "invalid-event").await;
    let mut late = event("k10");
    late["occurred_at"] = "yesterday".into();
    assert_problem(post(&env, &key, vec![late]).await, 400, "invalid-event").await;
    assert_eq!(app_records(&env).await.len(), 4);
    // k5 was not stored by the refused batch.
    let body: Value = post(&env, &key, vec![event("k5")])
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(statuses(&body), ["stored"]);

    // 1,001 events: refused, naming the limit.
    let many: Vec<Value> = (0..1_001).map(|i| event(&format!("bulk-{i}"))).collect();
    let refused = assert_problem(post(&env, &key, many).await, 413, "batch-too-large").await;
    assert_eq!(refused["limit"], 1000);
    assert_eq!(app_records(&env).await.len(), 5);
    assert!(refusals(&env, "invalid-event") >= 1);
    assert!(refusals(&env, "batch-size") >= 1);

    // Without the permission: 403 and an authz event; a member's `*.write` does not reach it.
    let (_, member) = signed_in(&env, "mel@example.com", &["member"]).await;
    let denied_before = count(&env, "authz.denied");
    let refused = assert_problem(
        post(&env, &member, vec![event("m1")]).await,
        403,
        "forbidden",
    )
    .await;
    assert_eq!(refused["permission"], "audit.events.write");
    assert_eq!(count(&env, "authz.denied"), denied_before + 1);
    assert_eq!(app_records(&env).await.len(), 5);

    // One chain: app events verify with Palisade's own.
    env.gw
        .gateway
        .state
        .audit
        .trail()
        .unwrap()
        .checkpoint()
        .await;
    let all = env
        .gw
        .gateway
        .state
        .store
        .audit_range(0, 10_000)
        .await
        .unwrap();
    assert!(all.iter().any(|r| r.source == Source::Palisade));
    assert_eq!(verified(&env).await.count as usize, all.len());
}

fn count(env: &Env, event_type: &str) -> usize {
    env.gw
        .gateway
        .state
        .audit
        .recent()
        .iter()
        .filter(|e| e.event_type == event_type)
        .count()
}

#[tokio::test]
async fn a_principal_past_its_quota_gets_429_until_the_minute_ends() {
    let env = Env::start(|c| {
        app_config(c);
        c.audit.app_events_per_minute = 5;
    })
    .await;
    // Start at the beginning of a minute so the wait is the whole minute.
    let now = env.clock.now_millis();
    env.advance(Duration::from_millis(60_000 - now % 60_000));
    let admin = env.admin("root@example.com").await;
    let (_, key) = writer(&env, &admin).await;
    let batch = |p: &str| {
        (0..3)
            .map(|i| event(&format!("{p}-{i}")))
            .collect::<Vec<_>>()
    };
    assert_eq!(post(&env, &key, batch("a")).await.status(), 200);
    let res = post(&env, &key, batch("b")).await;
    let retry: u64 = res.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_problem(res, 429, "quota-exceeded").await;
    assert_eq!(retry, 60);
    assert_eq!(app_records(&env).await.len(), 3);
    assert!(refusals(&env, "quota") >= 1);
    // Another principal has its own quota.
    assert_eq!(post(&env, &admin, batch("c")).await.status(), 200);
    env.advance(Duration::from_secs(60));
    assert_eq!(post(&env, &key, batch("b")).await.status(), 200);
    assert_eq!(app_records(&env).await.len(), 9);
}

#[tokio::test]
async fn a_key_counts_for_app_idempotency_retention_and_the_purge_forgets_it() {
    let env = Env::start(|c| {
        app_config(c);
        c.audit.app_idempotency_retention.0 = Duration::from_secs(86_400);
    })
    .await;
    let admin = env.admin("root@example.com").await;
    let (_, key) = writer(&env, &admin).await;
    let first: Value = post(&env, &key, vec![event("daily")])
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(statuses(&first), ["stored"]);
    env.advance(Duration::from_secs(86_399));
    let again: Value = post(&env, &key, vec![event("daily")])
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(statuses(&again), ["duplicate"], "within the retention");
    env.advance(Duration::from_secs(2));
    let later: Value = post(&env, &key, vec![event("daily")])
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(statuses(&later), ["stored"], "past it the key is new again");
    let store = env.gw.gateway.state.store.clone();
    let keys = vec!["daily".to_string()];
    let svc = app_records(&env).await[0].actor.clone().unwrap();
    assert_eq!(store.audit_app_seen(&svc, &keys, 0).await.unwrap(), keys);
    env.advance(Duration::from_secs(86_401));
    env.gw
        .gateway
        .state
        .audit
        .trail()
        .unwrap()
        .purge(false)
        .await
        .unwrap();
    assert!(
        store
            .audit_app_seen(&svc, &keys, 0)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn app_events_drive_only_rules_that_name_the_app_source_and_those_only_notify() {
    let mut hook = receiver(0).await;
    let url = hook.url.clone();
    let env = Env::start(move |c| {
        app_config(c);
        c.audit.alerts.webhook_url = Some(url);
        c.audit.alerts.webhook_secret = Some(SECRET.into());
        // Palisade's events only (the default): it would match the app events' detail.
        let mut palisade_only = rule(
            "marker_palisade",
            TYPE,
            GroupBy::Actor,
            1,
            Risk::High,
            vec![Action::Webhook],
        );
        palisade_only.event_types.clear();
        palisade_only
            .details
            .insert("marker".into(), json!("tool-storm"));
        let mut app = rule(
            "tool_storm",
            TYPE,
            GroupBy::Actor,
            2,
            Risk::Medium,
            vec![Action::Webhook],
        );
        app.sources = vec![Source::App];
        c.audit.alerts.rules = vec![palisade_only, app];
    })
    .await;
    let admin = env.admin("root@example.com").await;
    let (svc, key) = writer(&env, &admin).await;
    let marked = |k: &str| {
        let mut e = event(k);
        e["details"]["marker"] = "tool-storm".into();
        e
    };
    assert_eq!(post(&env, &key, vec![marked("s1")]).await.status(), 200);
    assert_eq!(post(&env, &key, vec![marked("s2")]).await.status(), 200);
    let (sig, body) = next_delivery(&mut hook).await;
    assert!(signature_is_valid(&sig, &body));
    let incident: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(incident["rule"], "tool_storm");
    assert_eq!(incident["key"], svc.as_str());
    assert_eq!(incident["count"], 2);
    // The palisade-only rule never opened an incident for them.
    let listed: Value = eventually(&env, || async {
        let body: Value = env
            .get_with("/admin/incidents?window=1h", &admin)
            .await
            .json()
            .await
            .unwrap();
        (!body["incidents"].as_array()?.is_empty()).then_some(body)
    })
    .await;
    let rules: Vec<&str> = listed["incidents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["rule"].as_str().unwrap())
        .collect();
    assert_eq!(rules, ["tool_storm"]);
}

#[tokio::test]
async fn a_full_trail_answers_503_and_what_it_acknowledged_later_is_never_lost() {
    let env = Env::start(|c| {
        app_config(c);
        c.store.url = "sqlite:".into();
        c.audit.max_queue = 1_000;
        c.audit.durable_timeout.0 = Duration::from_secs(1);
        c.audit.app_events_per_minute = 1_000_000;
    })
    .await;
    let admin = env.admin("root@example.com").await;
    let (_, key) = writer(&env, &admin).await;
    let batch: Vec<Value> = (0..1_000).map(|i| event(&format!("p-{i}"))).collect();
    // Another process holds SQLite's write lock: nothing can be committed.
    let mut other = crate::audit::hold_sqlite_write_lock(&env).await;
    let res = post(&env, &key, batch.clone()).await;
    assert!(res.headers().contains_key("retry-after"));
    assert_problem(res, 503, "busy").await;
    // The queue is full now: more is refused (by the durability gate, which holds every
    // request to Palisade's APIs under back-pressure) rather than queued.
    let res = post(&env, &key, vec![event("one-more")]).await;
    assert_eq!(res.headers()["retry-after"], "5");
    assert_problem(res, 503, "audit-unavailable").await;
    assert!(refusals(&env, "busy") >= 1);
    assert!(
        app_records(&env).await.is_empty(),
        "nothing was acknowledged"
    );

    sqlx::query("ROLLBACK").execute(&mut other).await.unwrap();
    // The same batch again: the first attempt's events were stored once the lock was gone.
    let mut answer = None;
    for _ in 0..30 {
        // Refused under back-pressure before its body is read, a request may see its
        // connection closed mid-send: that is one more try, like a 503.
        let sent = env
            .http
            .post(env.url("/admin/audit/events"))
            .header("x-api-key", &key)
            .json(&json!({ "events": batch }))
            .send()
            .await;
        match sent {
            Ok(res) if res.status() == 200 => {
                answer = Some(res.json::<Value>().await.unwrap());
                break;
            }
            Ok(res) => assert_eq!(res.status(), 503),
            Err(e) => assert!(e.is_request(), "{e}"),
        }
    }
    let answer = answer.expect("the trail takes events again");
    assert_eq!(answer["duplicates"], 1_000);
    assert_eq!(app_records(&env).await.len(), 1_000);
    env.gw
        .gateway
        .state
        .audit
        .trail()
        .unwrap()
        .checkpoint()
        .await;
    let all = env
        .gw
        .gateway
        .state
        .store
        .audit_range(0, 10_000)
        .await
        .unwrap();
    assert_eq!(verified(&env).await.count as usize, all.len());
}
