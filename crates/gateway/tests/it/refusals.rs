//! Every refusal on record: floods of rejected credentials and delayed sign-ins from many
//! addresses leave sampled audit events whose `details.count` add up to the refusals sent (with
//! the user agent and the action filled in); alert rules count every refusal before sampling,
//! so a fail2ban-style rule blocks an address at its 10th rate-limit refusal; refusal events
//! never hold their answer; the trail's tenant filter finds tenant-route and tenant-API events.

use crate::alerts::{eventually, rule};
use crate::authorization::{policies, signed_in};
use crate::common::*;
use crate::identity::Env;
use palisade_core::audit::{AuditRecord, Risk};
use palisade_gateway::config::alerts::{Action, GroupBy};
use palisade_gateway::config::traffic::{LimitAlgorithm, RuleConfig};
use palisade_gateway::config::units::HumanDuration;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::Duration;

const UA: &str = "refusal-audit-test/1.0";
/// Callers as the trusted proxy reports them; the two IPv6 addresses share a /64.
const CALLERS: [&str; 5] = [
    "203.0.113.1",
    "203.0.113.2",
    "198.51.100.20",
    "2001:db8:1:2::a",
    "2001:db8:1:2::b",
];

/// The sampler's caller key of an address: IPv4 per address, IPv6 per /64.
fn caller_key(ip: &str) -> String {
    match ip.parse::<IpAddr>().unwrap() {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => {
            let s = v6.segments();
            format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
        }
    }
}

/// (caller key, event type, credential, reason) → refusals, as sent or as the trail counts.
type Tally = BTreeMap<(String, String, String, String), u64>;

fn tally_of(records: &[AuditRecord]) -> Tally {
    let mut t = Tally::new();
    for r in records {
        if r.event_type != "auth.credential_rejected" && r.event_type != "auth.login_refused" {
            continue;
        }
        let Some(ip) = r.client_ip.as_deref() else {
            continue;
        };
        if !CALLERS.contains(&ip) {
            continue;
        }
        let text = |k: &str| r.details[k].as_str().unwrap_or("-").to_string();
        *t.entry((
            caller_key(ip),
            r.event_type.clone(),
            text("credential"),
            text("reason"),
        ))
        .or_default() += r.details["count"].as_u64().expect("a sample has a count");
    }
    t
}

/// The trail as readers see it (sealed fields opened).
async fn stored(env: &Env) -> Vec<AuditRecord> {
    crate::audit::opened(&env.gw.gateway.state).await
}

/// Waits, bounded, until the trail holds `want` (the sampler's flush runs once a second).
async fn until_tally(env: &Env, want: &Tally) {
    let trail = env.gw.gateway.state.audit.trail().unwrap().clone();
    let reached = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            trail.flush().await;
            if tally_of(&stored(env).await) == *want {
                return;
            }
            tokio::task::yield_now().await;
        }
    })
    .await;
    if reached.is_err() {
        assert_eq!(&tally_of(&stored(env).await), want, "counts never added up");
    }
}

/// A token of ours with its signature altered.
fn tampered(token: &str) -> String {
    let (head, sig) = token.rsplit_once('.').unwrap();
    let mut sig: Vec<char> = sig.chars().collect();
    sig[5] = if sig[5] == 'A' { 'B' } else { 'A' };
    format!("{head}.{}", sig.into_iter().collect::<String>())
}

#[tokio::test]
async fn floods_of_rejected_credentials_and_delayed_sign_ins_are_sampled_with_counts_that_add_up() {
    let env = Env::start(|c| {
        c.server.trusted_proxies = vec!["127.0.0.0/8".parse().unwrap()];
    })
    .await;
    let (_, token) = signed_in(&env, "owner@example.com", &["member"]).await;
    let forged = tampered(&token);
    let unknown_key = format!("pal_{}", "0".repeat(64));
    let bearer = |ip: &str, t: &str| {
        env.http
            .get(env.url("/api/items"))
            .header("x-forwarded-for", ip)
            .header("user-agent", UA)
            .bearer_auth(t)
            .send()
    };
    let api_key = |ip: &str| {
        env.http
            .get(env.url("/api/items"))
            .header("x-forwarded-for", ip)
            .header("user-agent", UA)
            .header("x-api-key", unknown_key.as_str())
            .send()
    };
    let sign_in = |ip: &str, n: usize| {
        env.http
            .post(env.url("/auth/login"))
            .header("x-forwarded-for", ip)
            .header("user-agent", UA)
            .json(
                &json!({"email": format!("victim{n}@example.com"), "password": "wrong password 1"}),
            )
            .send()
    };
    let mut sent = Tally::new();
    fn count(sent: &mut Tally, ip: &str, t: &str, cred: &str, reason: &str) {
        *sent
            .entry((caller_key(ip), t.into(), cred.into(), reason.into()))
            .or_default() += 1;
    }
    let mut refusals = 0u64;
    for round in 0..3u64 {
        for (n, ip) in CALLERS.iter().enumerate() {
            for _ in 0..10 {
                assert_problem(bearer(ip, "not-a-token").await.unwrap(), 401, "malformed").await;
                count(
                    &mut sent,
                    ip,
                    "auth.credential_rejected",
                    "bearer",
                    "malformed",
                );
            }
            for _ in 0..6 {
                assert_problem(bearer(ip, &forged).await.unwrap(), 401, "bad_signature").await;
                count(
                    &mut sent,
                    ip,
                    "auth.credential_rejected",
                    "bearer",
                    "bad-signature",
                );
            }
            for _ in 0..4 {
                assert_problem(api_key(ip).await.unwrap(), 401, "invalid_api_key").await;
                count(
                    &mut sent,
                    ip,
                    "auth.credential_rejected",
                    "api_key",
                    "unknown-key",
                );
            }
            // The first sign-in of a round fails (the delay ladder starts or goes on); the
            // ones after it are refused by the ladder without a password check.
            for _ in 0..5 {
                let res = sign_in(ip, n).await.unwrap();
                match res.status().as_u16() {
                    401 => {}
                    429 => {
                        assert_problem(res, 429, "login-delayed").await;
                        count(&mut sent, ip, "auth.login_refused", "-", "login-delayed");
                    }
                    other => panic!("sign-in answered {other}"),
                }
            }
        }
        refusals = sent.values().sum();
        assert!(refusals >= (round + 1) * 5 * 21, "{refusals}");
        // The next period: each key's first refusal is stored again, with the count before it.
        env.advance(Duration::from_secs(10));
    }

    // The period has ended: the sampler's flush stores the counts still held.
    until_tally(&env, &sent).await;
    let records = stored(&env).await;
    let samples: Vec<&AuditRecord> = records
        .iter()
        .filter(|r| {
            matches!(
                r.event_type.as_str(),
                "auth.credential_rejected" | "auth.login_refused"
            )
        })
        .collect();
    assert!(
        (samples.len() as u64) * 3 < refusals,
        "sampled: {} events for {refusals} refusals",
        samples.len()
    );
    // Per caller and reason: a few samples (at most two per period), never one per refusal.
    assert_eq!(
        tally_of(&records).len(),
        4 * 4,
        "four callers' keys, four reasons each"
    );
    for key in sent.keys() {
        let n = samples
            .iter()
            .filter(|r| {
                caller_key(r.client_ip.as_deref().unwrap()) == key.0
                    && r.event_type == key.1
                    && r.details["reason"] == key.3.as_str()
            })
            .count();
        assert!((3..=8).contains(&n), "{key:?}: {n} samples");
    }
    // Both addresses of 2001:db8:1:2::/64 were counted under one key.
    assert!(
        sent.keys()
            .any(|k| k.0 == "2001:db8:1:2::/64" && k.3 == "bad-signature")
    );
    for r in &samples {
        assert_eq!(r.user_agent.as_deref(), Some(UA), "{r:?}");
        let action = if r.event_type == "auth.login_refused" {
            "POST /auth/login"
        } else {
            "GET /api/items"
        };
        assert_eq!(r.action.as_deref(), Some(action), "{r:?}");
        assert!(r.request_id.is_some());
        assert_eq!(r.result, palisade_core::audit::Outcome::Denied);
    }
    // The failed sign-ins that started each ladder are durable events of their own, with the
    // same origin fields.
    let failure = records
        .iter()
        .find(|r| {
            r.event_type == "auth.login_failure" && r.client_ip.as_deref() == Some(CALLERS[0])
        })
        .unwrap();
    assert_eq!(failure.user_agent.as_deref(), Some(UA));
    assert_eq!(failure.action.as_deref(), Some("POST /auth/login"));

    // A lone refusal after that is counted too: at shutdown the held counts are stored.
    assert_eq!(
        bearer(CALLERS[0], "not-a-token").await.unwrap().status(),
        401
    );
    assert_eq!(
        bearer(CALLERS[0], "not-a-token").await.unwrap().status(),
        401
    );
    count(
        &mut sent,
        CALLERS[0],
        "auth.credential_rejected",
        "bearer",
        "malformed",
    );
    count(
        &mut sent,
        CALLERS[0],
        "auth.credential_rejected",
        "bearer",
        "malformed",
    );
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
        metrics.contains("palisade_audit_refusals_total{event_type=\"auth.credential_rejected\"}"),
        "refusals are counted before sampling"
    );
    let Env { gw, .. } = env;
    let TestGateway { gateway, _dir } = gw;
    let state = gateway.state.clone();
    gateway.shutdown();
    gateway.wait().await;
    let records = crate::audit::opened(&state).await;
    assert_eq!(tally_of(&records), sent, "every refusal counted, once");
}

fn fail2ban(c: &mut palisade_gateway::config::Config) {
    c.server.trusted_proxies = vec!["127.0.0.0/8".parse().unwrap()];
    c.rate_limit.enabled = true;
    c.rate_limit.rules.insert(
        "global".into(),
        RuleConfig {
            limit: 2,
            period: HumanDuration(Duration::from_secs(60)),
            burst: None,
            algorithm: Some(LimitAlgorithm::Gcra),
        },
    );
    let mut r = rule(
        "ratelimit_fail2ban",
        "ratelimit.exceeded",
        GroupBy::ClientIp,
        10,
        Risk::Medium,
        vec![Action::BlockIp],
    );
    r.window = HumanDuration(Duration::from_secs(60));
    r.block_for = Some(HumanDuration(Duration::from_secs(3600)));
    c.audit.alerts.rules = vec![r];
}

#[tokio::test]
async fn ten_rate_limit_refusals_in_a_minute_block_the_address_for_an_hour() {
    let env = &Env::start(fail2ban).await;
    let get = |ip: &'static str| {
        env.http
            .get(env.url("/api/items"))
            .header("x-forwarded-for", ip)
            .header("user-agent", UA)
            .send()
    };
    let refuse_n = |ip: &'static str, n: usize| async move {
        for _ in 0..n {
            assert_problem(get(ip).await.unwrap(), 429, "rate-limited").await;
        }
    };
    let blocked = |ip: &'static str| async move {
        env.identity()
            .brute
            .blocked(ip.parse().unwrap())
            .await
            .unwrap()
    };

    // Ten refusals spread over more than the window: no block.
    let slow = "203.0.113.60";
    for phase in 0..2 {
        if phase > 0 {
            env.advance(Duration::from_secs(61));
        }
        assert_eq!(get(slow).await.unwrap().status(), 200);
        assert_eq!(get(slow).await.unwrap().status(), 200);
        refuse_n(slow, 5).await;
    }

    // Ten in one window: blocked for an hour.
    let attacker = "203.0.113.50";
    assert_eq!(get(attacker).await.unwrap().status(), 200);
    assert_eq!(get(attacker).await.unwrap().status(), 200);
    refuse_n(attacker, 10).await;
    // The engine counts on its own task: wait (bounded) for the block it places.
    eventually(env, || async { blocked(attacker).await }).await;
    let res = get(attacker).await.unwrap();
    assert_eq!(res.headers()["retry-after"], "3600");
    assert_problem(res, 403, "ip-blocked").await;
    // The engine handles events in order: the slow caller's refusals were counted before the
    // attacker's, and did not block it.
    assert!(blocked(slow).await.is_none());
    assert_problem(get(slow).await.unwrap(), 429, "rate-limited").await;
    // Others pass.
    assert_eq!(get("203.0.113.51").await.unwrap().status(), 200);

    let trail = env.gw.gateway.state.audit.trail().unwrap().clone();
    trail.flush().await;
    let records = stored(env).await;
    let incident = records
        .iter()
        .find(|r| r.event_type == "incident.opened")
        .expect("an incident");
    assert_eq!(incident.details["rule"], "ratelimit_fail2ban");
    assert_eq!(incident.details["key"], attacker);
    assert_eq!(incident.details["count"], 10, "fired at the 10th refusal");
    assert_eq!(incident.details["actions"][0]["result"], "done");
    let block = records
        .iter()
        .find(|r| r.event_type == "ip.blocked")
        .unwrap();
    assert_eq!(block.details["seconds"], 3600);
    // The rule saw ten refusals; the trail keeps samples of them, not ten events.
    let samples: Vec<&AuditRecord> = records
        .iter()
        .filter(|r| {
            r.event_type == "ratelimit.exceeded" && r.client_ip.as_deref() == Some(attacker)
        })
        .collect();
    assert!(
        !samples.is_empty() && samples.len() < 10,
        "{}",
        samples.len()
    );
    assert!(samples.iter().all(|r| {
        r.resource_id.as_deref() == Some("global")
            && r.details["reason"] == "rate-limited"
            && r.action.as_deref() == Some("GET /api/items")
            && r.user_agent.as_deref() == Some(UA)
    }));
    // Every refusal counted once the held counts are stored (as at shutdown); the blocked
    // request is on record as a firewall refusal.
    env.gw.gateway.state.audit.flush_refusals(true);
    trail.flush().await;
    let records = stored(env).await;
    let sum = |t: &str, ip: &str| -> u64 {
        records
            .iter()
            .filter(|r| r.event_type == t && r.client_ip.as_deref() == Some(ip))
            .map(|r| r.details["count"].as_u64().unwrap())
            .sum()
    };
    assert_eq!(sum("ratelimit.exceeded", attacker), 10);
    assert_eq!(sum("ratelimit.exceeded", slow), 11);
    assert_eq!(sum("firewall.refused", attacker), 1);
    let firewall = records
        .iter()
        .find(|r| r.event_type == "firewall.refused")
        .unwrap();
    assert_eq!(firewall.details["reason"], "ip-blocked");
}

#[tokio::test]
async fn refusal_events_never_hold_the_refusal_while_the_trail_cannot_store() {
    let env = Env::start(|c| {
        c.store.url = "sqlite:".into();
        c.server.trusted_proxies = vec!["127.0.0.0/8".parse().unwrap()];
        c.audit.durable_timeout = HumanDuration(Duration::from_millis(300));
        c.audit.alerts.rules = Vec::new();
    })
    .await;
    // A failed sign-in starts the delay ladder (its own event is durable, stored now).
    let sign_in = || {
        env.http
            .post(env.url("/auth/login"))
            .header("x-forwarded-for", "192.0.2.77")
            .json(&json!({"email": "held@example.com", "password": "wrong password 1"}))
            .send()
    };
    assert_eq!(sign_in().await.unwrap().status(), 401);
    env.identity()
        .brute
        .block(
            "192.0.2.78".parse().unwrap(),
            Duration::from_secs(60),
            "test",
        )
        .await
        .unwrap();

    let mut other = crate::audit::hold_sqlite_write_lock(&env).await;
    // Were they held for the trail, these would be 503 after audit.durable_timeout.
    let bad = env.get_with("/api/items", "not-a-token").await;
    assert_problem(bad, 401, "malformed").await;
    assert_problem(sign_in().await.unwrap(), 429, "login-delayed").await;
    let blocked = env
        .http
        .get(env.url("/api/items"))
        .header("x-forwarded-for", "192.0.2.78")
        .send()
        .await
        .unwrap();
    assert_problem(blocked, 403, "ip-blocked").await;
    // They are recorded, and the answers did not wait for the trail to store them.
    let types: Vec<String> = env
        .gw
        .gateway
        .state
        .audit
        .recent()
        .iter()
        .map(|e| e.event_type.to_string())
        .collect();
    for t in [
        "auth.credential_rejected",
        "auth.login_refused",
        "firewall.refused",
    ] {
        assert!(types.iter().any(|x| x == t), "{t} recorded: {types:?}");
    }
    sqlx::query("ROLLBACK").execute(&mut other).await.unwrap();
    let trail = env.gw.gateway.state.audit.trail().unwrap().clone();
    trail.flush().await;
    let records = stored(&env).await;
    for t in [
        "auth.credential_rejected",
        "auth.login_refused",
        "firewall.refused",
    ] {
        assert!(records.iter().any(|r| r.event_type == t), "{t} stored");
    }
}

#[tokio::test]
async fn the_tenant_filter_finds_tenant_route_and_tenant_api_events() {
    let env = Env::start(|c| {
        policies(c);
        c.routes[0].audit = true;
    })
    .await;
    let admin = env.admin("root@example.com").await;
    let (ann, ann_token) = signed_in(&env, "ann@example.com", &["viewer"]).await;
    for id in ["t1", "t2"] {
        let res = env
            .http
            .post(env.url("/admin/tenants"))
            .bearer_auth(&admin)
            .json(&json!({"id": id, "name": id}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 201);
    }
    let res = env
        .http
        .put(env.url(&format!("/admin/tenants/t1/members/{ann}")))
        .bearer_auth(&admin)
        .json(&json!({"role": "member"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    let res = env
        .http
        .get(env.url("/api/graphs/t1/nodes"))
        .bearer_auth(&ann_token)
        .header("user-agent", UA)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);

    let page: Value = eventually(&env, || async {
        let page: Value = env
            .get_with("/admin/audit?tenant=t1", &admin)
            .await
            .json()
            .await
            .unwrap();
        let has_request = page["events"]
            .as_array()?
            .iter()
            .any(|e| e["event_type"] == "api.request");
        has_request.then_some(page)
    })
    .await;
    let events = page["events"].as_array().unwrap();
    let types: Vec<&str> = events
        .iter()
        .map(|e| e["event_type"].as_str().unwrap())
        .collect();
    assert_eq!(
        types,
        ["tenant.created", "tenant.member_set", "api.request"]
    );
    assert!(events.iter().all(|e| e["tenant"] == "t1"));
    let request = &events[2];
    assert_eq!(request["action"], "GET /api/graphs/t1/nodes");
    assert_eq!(request["user_agent"], UA);
    assert_eq!(events[0]["action"], "POST /admin/tenants");
    let other: Value = env
        .get_with("/admin/audit?tenant=t2", &admin)
        .await
        .json()
        .await
        .unwrap();
    let other = other["events"].as_array().unwrap();
    assert_eq!(other.len(), 1);
    assert_eq!(other[0]["event_type"], "tenant.created");
}

#[tokio::test]
async fn each_rejection_names_its_credential_its_reason_and_whose_it_was() {
    let env = Env::start(|_| {}).await;
    let (user, token) = signed_in(&env, "rita@example.com", &["member"]).await;
    let logout = env
        .http
        .post(env.url("/auth/logout"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(logout.status(), 204);
    assert_problem(env.get_with("/auth/me", &token).await, 401, "revoked").await;
    // A cookie that does not open is ignored (the caller is anonymous), and on record.
    let res = env
        .http
        .get(env.url("/auth/me"))
        .header("cookie", "__Host-palisade=eyJ4IjoxfQ.AAAA")
        .send()
        .await
        .unwrap();
    assert_problem(res, 401, "missing").await;
    let fresh = env.login("rita@example.com").await["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    env.advance(Duration::from_secs(31 * 60));
    assert_problem(env.get_with("/auth/me", &fresh).await, 401, "expired").await;
    assert_problem(env.get_with("/auth/me", "Basic x").await, 401, "malformed").await;

    let audit = &env.gw.gateway.state.audit;
    audit.flush_refusals(true);
    let seen: Vec<(String, String, Option<String>)> = audit
        .recent()
        .into_iter()
        .filter(|e| e.event_type == "auth.credential_rejected")
        .map(|e| {
            assert_eq!(e.details["count"], 1);
            assert_eq!(e.action.as_deref(), Some("GET /auth/me"));
            (
                e.details["credential"].as_str().unwrap().to_string(),
                e.details["reason"].as_str().unwrap().to_string(),
                e.actor,
            )
        })
        .collect();
    let s = |a: &str, b: &str, c: Option<&str>| (a.to_string(), b.to_string(), c.map(String::from));
    assert_eq!(
        seen,
        [
            s("bearer", "revoked", Some(&user)),
            s("cookie", "bad-signature", None),
            s("bearer", "expired", None),
            s("bearer", "malformed", None),
        ]
    );
}
