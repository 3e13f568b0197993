//! Alert rules end to end: events → counted → incident → actions (IP block, session revocation)
//! → signed webhook with retries → `/admin/incidents`; and the durability bound (503 when the
//! trail cannot store an answer's events in time).

use crate::common::assert_problem;
use crate::identity::Env;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::{TokioExecutor, TokioIo};
use palisade_core::audit::Risk;
use palisade_gateway::config::alerts::{Action, AlertRule, GroupBy};
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use tokio::sync::mpsc;

pub(crate) const SECRET: &str = "webhook-secret-for-tests-0123456789abcdef";

/// A webhook receiver: answers 500 to the first `fail_first` deliveries, 200 after, and passes
/// every delivery (signature header, body) to the test.
pub(crate) struct Receiver {
    pub(crate) url: String,
    pub(crate) deliveries: mpsc::UnboundedReceiver<(String, Bytes)>,
}

pub(crate) async fn receiver(fail_first: usize) -> Receiver {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hooks/palisade", listener.local_addr().unwrap());
    let (tx, deliveries) = mpsc::unbounded_channel();
    let seen = Arc::new(AtomicUsize::new(0));
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let (tx, seen) = (tx.clone(), seen.clone());
            tokio::spawn(async move {
                let svc =
                    hyper::service::service_fn(move |req: http::Request<hyper::body::Incoming>| {
                        let (tx, seen) = (tx.clone(), seen.clone());
                        async move {
                            let sig = req
                                .headers()
                                .get("x-palisade-signature")
                                .map(|v| v.to_str().unwrap().to_string())
                                .unwrap_or_default();
                            let body = req.into_body().collect().await?.to_bytes();
                            let _ = tx.send((sig, body));
                            let status = if seen.fetch_add(1, Ordering::SeqCst) < fail_first {
                                500
                            } else {
                                200
                            };
                            Ok::<_, hyper::Error>(
                                http::Response::builder()
                                    .status(status)
                                    .body(Full::new(Bytes::new()))
                                    .unwrap(),
                            )
                        }
                    });
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    Receiver { url, deliveries }
}

/// Checks `t=<secs>,v1=<hex>` against an HMAC-SHA256 computed here, independently.
pub(crate) fn signature_is_valid(header: &str, body: &[u8]) -> bool {
    let Some((t, v1)) = header
        .split_once(',')
        .and_then(|(t, v)| Some((t.strip_prefix("t=")?, v.strip_prefix("v1=")?)))
    else {
        return false;
    };
    let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, SECRET.as_bytes());
    let mut signed = format!("{t}.").into_bytes();
    signed.extend_from_slice(body);
    let Some(tag) = (0..v1.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(v1.get(i..i + 2)?, 16).ok())
        .collect::<Option<Vec<u8>>>()
    else {
        return false;
    };
    aws_lc_rs::hmac::verify(&key, &signed, &tag).is_ok()
}

pub(crate) async fn next_delivery(r: &mut Receiver) -> (String, Bytes) {
    tokio::time::timeout(std::time::Duration::from_secs(20), r.deliveries.recv())
        .await
        .expect("a webhook delivery arrives")
        .expect("receiver open")
}

/// One alert rule, for tests that replace the shipped ones.
pub fn rule(
    name: &str,
    event_type: &str,
    group_by: GroupBy,
    min_count: u64,
    severity: palisade_core::audit::Risk,
    actions: Vec<Action>,
) -> AlertRule {
    AlertRule {
        name: name.into(),
        event_types: vec![event_type.into()],
        min_risk: None,
        details: Default::default(),
        group_by,
        window: palisade_gateway::config::units::HumanDuration(std::time::Duration::from_secs(
            3600,
        )),
        min_count,
        severity,
        actions,
        block_for: None,
        sources: vec![palisade_core::audit::Source::Palisade],
    }
}

/// Polls `check` (committing the trail between tries) until it yields a value.
pub async fn eventually<T, F, Fut>(env: &Env, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let trail = env.gw.gateway.state.audit.trail().unwrap().clone();
    for _ in 0..2_000 {
        trail.flush().await;
        if let Some(v) = check().await {
            return v;
        }
        tokio::task::yield_now().await;
    }
    panic!("condition not reached");
}

#[tokio::test]
async fn repeated_failed_logins_open_an_incident_that_signs_a_webhook_and_blocks_the_ip() {
    let mut hook = receiver(1).await;
    let url = hook.url.clone();
    let env = Env::start(move |c| {
        // The alert rule, not the brute-force ladder, must be what blocks here.
        c.auth.brute_force.enabled = false;
        c.server.trusted_proxies = vec!["127.0.0.0/8".parse().unwrap()];
        c.audit.alerts.webhook_url = Some(url);
        c.audit.alerts.webhook_secret = Some(SECRET.into());
        c.audit.alerts.webhook_backoff =
            palisade_gateway::config::units::HumanDuration(std::time::Duration::from_millis(20));
    })
    .await;
    let admin = env.admin("root@example.com").await;
    let attacker = "203.0.113.9";
    let attempt = || {
        env.http
            .post(env.url("/auth/login"))
            .header("x-forwarded-for", attacker)
            .json(&json!({"email": "victim@example.com", "password": "not the password 1"}))
            .send()
    };
    for _ in 0..10 {
        assert_eq!(attempt().await.unwrap().status(), 401);
    }
    // Ten failures are within the rule (more than 10 per hour): nothing fires yet.
    env.gw.gateway.state.audit.trail().unwrap().flush().await;
    assert!(hook.deliveries.try_recv().is_err());
    assert_eq!(attempt().await.unwrap().status(), 401, "the 11th failure");

    // The first delivery is refused by the receiver, the retry succeeds; both signed.
    let (sig1, body1) = next_delivery(&mut hook).await;
    let (sig2, body2) = next_delivery(&mut hook).await;
    assert_eq!(body1, body2, "a retry sends the same incident");
    assert!(signature_is_valid(&sig1, &body1), "{sig1}");
    assert!(signature_is_valid(&sig2, &body2), "{sig2}");
    assert!(!signature_is_valid(&sig2, b"{\"tampered\":true}"));
    let incident: Value = serde_json::from_slice(&body2).unwrap();
    assert_eq!(incident["rule"], "login_failures_per_ip");
    assert_eq!(incident["key"], attacker);
    assert_eq!(incident["severity"], "high");
    assert_eq!(incident["count"], 11);
    assert_eq!(incident["actions"][0]["action"], "block_ip");
    assert_eq!(incident["actions"][0]["result"], "done");

    // The IP is blocked: its next login is refused before any credential check.
    assert_problem(attempt().await.unwrap(), 403, "ip-blocked").await;
    // Others are not.
    assert_eq!(env.get_with("/auth/me", &admin).await.status(), 200);

    let listed: Value = eventually(&env, || async {
        let res = env.get_with("/admin/incidents?window=1h", &admin).await;
        assert_eq!(res.status(), 200);
        let body: Value = res.json().await.unwrap();
        (!body["incidents"][0]["webhook"].is_null()).then_some(body)
    })
    .await;
    let listed = &listed["incidents"];
    assert_eq!(listed.as_array().unwrap().len(), 1);
    assert_eq!(listed[0]["incident_id"], incident["incident_id"]);
    assert_eq!(listed[0]["webhook"]["delivered"], true);
    assert_eq!(listed[0]["webhook"]["attempts"], 2);

    // The trail holds the block and the incident, verifies, and nothing was dropped.
    let store = &env.gw.gateway.state.store;
    let all = store.audit_range(0, 10_000).await.unwrap();
    let blocked = all.iter().find(|r| r.event_type == "ip.blocked").unwrap();
    assert_eq!(blocked.resource_id.as_deref(), Some(attacker));
    assert_eq!(blocked.actor.as_deref(), Some("palisade:alerts"));
    assert!(all.iter().any(|r| r.event_type == "incident.opened"));
    crate::audit::verified(&env).await;
    let metrics = env
        .http
        .get(env.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics
            .lines()
            .any(|l| l == "palisade_audit_events_dropped_total 0"),
        "dropped-event counter present and 0"
    );
}

#[tokio::test]
async fn an_escalation_rule_can_revoke_the_callers_sessions() {
    let env = Env::start(|c| {
        c.audit.alerts.rules = vec![rule(
            "escalation_logs_out",
            "authz.privilege_escalation_attempt",
            GroupBy::Actor,
            1,
            Risk::Critical,
            vec![Action::RevokeSessions],
        )];
    })
    .await;
    let admin = env.admin("root@example.com").await;
    let mallory: uuid::Uuid = env.register("mallory@example.com").await["id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let token = env.login("mallory@example.com").await["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(env.get_with("/auth/me", &token).await.status(), 200);
    assert_eq!(env.get_with("/admin/tenants", &token).await.status(), 403);
    // The member's sessions are revoked by the rule: the same token no longer works.
    eventually(&env, || async {
        (env.get_with("/auth/me", &token).await.status() == 401).then_some(())
    })
    .await;
    let body: Value = env
        .get_with("/admin/incidents", &admin)
        .await
        .json()
        .await
        .unwrap();
    let incident = &body["incidents"][0];
    assert_eq!(incident["rule"], "escalation_logs_out");
    assert_eq!(incident["severity"], "critical");
    assert_eq!(incident["actions"][0]["action"], "revoke_sessions");
    assert_eq!(incident["actions"][0]["result"], "done");
    // Revoked with reason `incident`, in the store and in the trail.
    let sessions = env.identity().store.sessions_for_user(mallory, true).await;
    let sessions = sessions.unwrap();
    assert!(!sessions.is_empty());
    assert!(sessions.iter().all(|s| s.revoked_reason
        == Some(palisade_store::identity::RevocationReason::Incident)));
    assert!(crate::retention::trail_has(&env, "auth.sessions_revoked_all", "incident").await);
    // The revoked member cannot list incidents (nor anything else).
    assert_eq!(env.get_with("/admin/incidents", &token).await.status(), 401);
}

#[tokio::test]
async fn an_open_incident_is_raised_one_severity_each_time_its_count_doubles() {
    let env = Env::start(|c| {
        c.auth.brute_force.enabled = false;
        c.audit.alerts.rules = vec![rule(
            "noisy_logins",
            "auth.login_failure",
            GroupBy::ClientIp,
            2,
            Risk::Low,
            vec![Action::RaiseSeverity],
        )];
    })
    .await;
    let admin = env.admin("root@example.com").await;
    let severity = |expected: &'static str| {
        let env = &env;
        let admin = admin.clone();
        async move {
            eventually(env, || {
                let admin = admin.clone();
                async move {
                    let body: Value = env
                        .get_with("/admin/incidents", &admin)
                        .await
                        .json()
                        .await
                        .unwrap();
                    let incidents = body["incidents"].as_array().unwrap().clone();
                    (incidents.len() == 1 && incidents[0]["severity"] == expected)
                        .then_some(incidents[0].clone())
                }
            })
            .await
        }
    };
    let mut failures = 0;
    for (upto, expected) in [(2, "low"), (4, "medium"), (8, "high"), (16, "critical")] {
        while failures < upto {
            let res = env
                .post(
                    "/auth/login",
                    json!({"email": "nobody@example.com", "password": "not the password 1"}),
                )
                .await;
            assert_eq!(res.status(), 401);
            failures += 1;
        }
        let incident = severity(expected).await;
        assert_eq!(incident["rule"], "noisy_logins");
        if expected != "low" {
            assert_eq!(incident["count"], upto, "raised when the count doubled");
        }
    }
}

#[tokio::test]
async fn an_answer_whose_event_cannot_be_stored_in_time_becomes_503() {
    let env = Env::start(|c| {
        c.store.url = "sqlite:".into();
        c.audit.durable_timeout =
            palisade_gateway::config::units::HumanDuration(std::time::Duration::from_millis(300));
    })
    .await;
    let mut other = crate::audit::hold_sqlite_write_lock(&env).await;
    let res = env
        .post(
            "/auth/login",
            json!({"email": "nobody@example.com", "password": "not the password 1"}),
        )
        .await;
    let body = assert_problem(res, 503, "audit-unavailable").await;
    assert!(body["detail"].as_str().unwrap().contains("audit trail"));
    sqlx::query("ROLLBACK").execute(&mut other).await.unwrap();
    // Nothing acknowledged is lost: the event is stored once the lock is gone.
    env.gw.gateway.state.audit.trail().unwrap().flush().await;
    let stored = env
        .gw
        .gateway
        .state
        .store
        .audit_range(0, 100)
        .await
        .unwrap();
    assert!(stored.iter().any(|r| r.event_type == "auth.login_failure"));
}

#[tokio::test]
async fn a_rule_over_an_authenticated_event_can_disable_the_actor() {
    let env = Env::start(|c| {
        c.audit.alerts.rules = vec![rule(
            "escalation_disables",
            "authz.privilege_escalation_attempt",
            GroupBy::Actor,
            1,
            Risk::Critical,
            vec![Action::DisableUser],
        )];
    })
    .await;
    let admin = env.admin("root@example.com").await;
    let mallory = env.register("mallory@example.com").await;
    let mallory_id = mallory["id"].as_str().unwrap().to_string();
    let signed_in = env.login("mallory@example.com").await;
    let token = signed_in["access_token"].as_str().unwrap().to_string();
    assert_eq!(env.get_with("/admin/tenants", &token).await.status(), 403);
    // Disabled by the rule: the session is revoked, sign-in and refresh are refused.
    eventually(&env, || async {
        (env.get_with("/auth/me", &token).await.status() == 401).then_some(())
    })
    .await;
    let login = json!({"email": "mallory@example.com", "password": crate::identity::PASSWORD});
    assert_eq!(env.post("/auth/login", login.clone()).await.status(), 401);
    let refresh = json!({"refresh_token": signed_in["refresh_token"]});
    assert_eq!(env.post("/auth/refresh", refresh).await.status(), 401);
    // Past the brute-force ladder's wait the refused sign-in left.
    env.advance(std::time::Duration::from_secs(60));
    let user = env
        .identity()
        .store
        .user_by_email("mallory@example.com")
        .await
        .unwrap()
        .unwrap();
    assert!(user.disabled);
    let body: Value = env
        .get_with("/admin/incidents", &admin)
        .await
        .json()
        .await
        .unwrap();
    let incident = &body["incidents"][0];
    assert_eq!(incident["actions"][0]["action"], "disable_user");
    assert_eq!(incident["actions"][0]["result"], "done");
    let trail = env.gw.gateway.state.audit.trail().unwrap().clone();
    trail.flush().await;
    let all = env
        .gw
        .gateway
        .state
        .store
        .audit_range(0, 10_000)
        .await
        .unwrap();
    let disabled = all
        .iter()
        .find(|r| r.event_type == "user.disabled")
        .unwrap();
    assert_eq!(disabled.actor.as_deref(), Some("palisade:alerts"));

    // The administrator enables the account again through the admin API (a member may not).
    let enable = |who: &str| {
        env.http
            .post(env.url(&format!("/admin/users/{mallory_id}/enable")))
            .bearer_auth(who.to_string())
            .send()
    };
    let other = env.register("eve@example.com").await;
    let eve = env.login("eve@example.com").await["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(enable(&eve).await.unwrap().status(), 403);
    assert_eq!(enable(&admin).await.unwrap().status(), 204);
    assert_eq!(env.post("/auth/login", login).await.status(), 200);
    // Disabling through the admin API revokes the sessions at once.
    let eve_id = other["id"].as_str().unwrap();
    let res = env
        .http
        .post(env.url(&format!("/admin/users/{eve_id}/disable")))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    assert_eq!(env.get_with("/auth/me", &eve).await.status(), 401);
    let res = env
        .http
        .post(env.url(&format!("/admin/users/{}/disable", uuid::Uuid::now_v7())))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    crate::common::assert_problem(res, 404, "not-found").await;
}
