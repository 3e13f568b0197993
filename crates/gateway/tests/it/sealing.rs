//! Sealed personal fields in the audit trail, through the running gateway on the test clock:
//! a client address and user agent are stored sealed (in no file of the data dir), found by
//! address and by actor and counted by the security summary; `AuditLog::forget_subject`
//! destroys the subject's key so they read `[erased]` in queries and exports, their bytes and
//! the key's are in no file, and the chain verifies before and after; anonymous callers' day
//! key goes at the first retention run once the day has ended and the longest audit period has
//! passed, not a second before.

use crate::audit::verified;
use crate::identity::Env;
use palisade_core::audit::sealed::{self, ERASED};
use palisade_gateway::config::Config;
use palisade_gateway::config::units::HumanDuration;
use serde_json::{Value, json};
use std::time::Duration;

const ANN_IP: &str = "198.51.100.77";
const ANN_AGENT: &str = "SealTest-Agent/7.3 (q9Zx-ann)";
const ANON_IP: &str = "198.51.100.78";
const ANON_AGENT: &str = "SealTest-Agent/7.3 (w4Kp-anonymous)";
const FAILURES: usize = 3;

fn behind_proxy(c: &mut Config) {
    c.server.trusted_proxies = vec!["127.0.0.0/8".parse().unwrap()];
    c.auth.brute_force.enabled = false;
}

/// A failed sign-in as `email` from `ip` with `agent`.
async fn fail_login(env: &Env, email: &str, ip: &str, agent: &str) {
    let res = env
        .http
        .post(env.url("/auth/login"))
        .header("x-forwarded-for", ip)
        .header("user-agent", agent)
        .json(&json!({"email": email, "password": "not the password 1"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
}

async fn get_json(env: &Env, path: &str, token: &str) -> Value {
    let res = env.get_with(path, token).await;
    assert_eq!(res.status(), 200, "{path}");
    res.json().await.unwrap()
}

fn events(page: &Value) -> Vec<Value> {
    page["events"].as_array().unwrap().clone()
}

/// Every file under `dir` holding `needle`.
fn files_holding(dir: &std::path::Path, needle: &[u8]) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            found.extend(files_holding(&path, needle));
        } else if std::fs::read(&path)
            .unwrap()
            .windows(needle.len())
            .any(|w| w == needle)
        {
            found.push(path);
        }
    }
    found
}

/// Ann's failed sign-ins and an anonymous one are sealed, found, counted and erased; on
/// SQLite (`scan`) the data dir's files are searched too.
async fn sealed_found_and_erased(env: Env, scan: bool) {
    let admin = env.admin("admin@example.com").await;
    let ann: uuid::Uuid = env.register("ann@example.com").await["id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    for _ in 0..FAILURES {
        fail_login(&env, "ann@example.com", ANN_IP, ANN_AGENT).await;
    }
    fail_login(&env, "nobody@example.com", ANON_IP, ANON_AGENT).await;
    let state = &env.gw.gateway.state;
    let store = state.store.clone();

    // Stored sealed: not readable in the raw rows, nor in any file.
    let raw = store.audit_range(0, 10_000).await.unwrap();
    let failures: Vec<_> = raw
        .iter()
        .filter(|r| r.event_type == "auth.login_failure")
        .collect();
    assert_eq!(failures.len(), FAILURES + 1);
    for r in &failures {
        for field in [&r.client_ip, &r.user_agent] {
            let text = field.as_deref().unwrap();
            assert!(sealed::parse(text).is_some(), "{text} is not sealed");
        }
    }
    let dump = serde_json::to_string(&raw).unwrap();
    for plain in [ANN_IP, ANN_AGENT, ANON_IP, ANON_AGENT] {
        assert!(!dump.contains(plain), "{plain} is in a stored record");
    }
    let dir = env.gw._dir.path().to_path_buf();
    if scan {
        for plain in [ANN_IP, ANN_AGENT, ANON_IP, ANON_AGENT] {
            let found = files_holding(&dir, plain.as_bytes());
            assert!(found.is_empty(), "{plain} is in {found:?}");
        }
    }
    let before = verified(&env).await;

    // Found by address and by actor, opened; counted by the summary.
    let by_ip = get_json(&env, &format!("/admin/audit?client_ip={ANN_IP}"), &admin).await;
    assert_eq!(events(&by_ip).len(), FAILURES, "{by_ip}");
    let by_actor = get_json(
        &env,
        &format!("/admin/audit?actor={ann}&type=auth.login_failure"),
        &admin,
    )
    .await;
    assert_eq!(events(&by_actor).len(), FAILURES);
    for e in events(&by_actor) {
        assert_eq!(e["client_ip"], ANN_IP);
        assert_eq!(e["user_agent"], ANN_AGENT);
    }
    let bad = env
        .get_with("/admin/audit?client_ip=not-an-address", &admin)
        .await;
    crate::common::assert_problem(bad, 422, "invalid-query").await;
    let summary = get_json(&env, "/admin/security/summary?window=1h", &admin).await;
    let by_ip = &summary["failed_logins_by_ip"];
    assert!(
        by_ip
            .as_array()
            .unwrap()
            .contains(&json!({"key": ANN_IP, "count": FAILURES})),
        "{summary}"
    );
    assert!(
        by_ip
            .as_array()
            .unwrap()
            .contains(&json!({"key": ANON_IP, "count": 1}))
    );
    assert!(
        summary["failed_logins_by_account"]
            .as_array()
            .unwrap()
            .contains(&json!({"key": ann.to_string(), "count": FAILURES}))
    );

    // Erasure: the key goes, the records stay.
    let key = store
        .seal_key_of(&ann.to_string())
        .await
        .unwrap()
        .expect("ann's fields are sealed under a key of her own");
    if scan {
        assert!(
            !files_holding(&dir, &key.wrapped).is_empty(),
            "the scan finds the wrapped key while it exists"
        );
    }
    assert!(state.audit.forget_subject(ann).await.unwrap());
    assert!(
        !state.audit.forget_subject(ann).await.unwrap(),
        "nothing left to forget"
    );
    assert_eq!(store.seal_key_by_id(&key.key_id).await.unwrap(), None);
    let after = verified(&env).await;
    assert_eq!(after.first_seq, before.first_seq);
    assert!(after.count > before.count);
    let forgotten = store.audit_range(0, 10_000).await.unwrap();
    let events_forgotten: Vec<_> = forgotten
        .iter()
        .filter(|r| r.event_type == "audit.subject_forgotten")
        .collect();
    assert_eq!(events_forgotten.len(), 2);
    assert_eq!(
        events_forgotten[0].resource_id.as_deref(),
        Some(ann.to_string().as_str())
    );
    assert_eq!(events_forgotten[0].details["key_destroyed"], true);
    assert_eq!(forgotten[..raw.len()], raw[..], "no record was rewritten");

    let by_actor = get_json(
        &env,
        &format!("/admin/audit?actor={ann}&type=auth.login_failure"),
        &admin,
    )
    .await;
    for e in events(&by_actor) {
        assert_eq!(e["client_ip"], ERASED);
        assert_eq!(e["user_agent"], ERASED);
    }
    let by_ip = get_json(&env, &format!("/admin/audit?client_ip={ANN_IP}"), &admin).await;
    assert_eq!(
        events(&by_ip).len(),
        FAILURES,
        "still found by the blind index"
    );
    let anon = get_json(&env, &format!("/admin/audit?client_ip={ANON_IP}"), &admin).await;
    assert_eq!(
        events(&anon)[0]["user_agent"],
        ANON_AGENT,
        "other keys stay"
    );
    let res = env
        .get_with("/admin/audit/export?type=auth.login_failure", &admin)
        .await;
    assert_eq!(res.status(), 200);
    let export = res.text().await.unwrap();
    assert!(!export.contains(ANN_IP) && !export.contains(ANN_AGENT));
    assert_eq!(
        export
            .matches(&format!("\"client_ip\":\"{ERASED}\""))
            .count(),
        FAILURES,
        "{export}"
    );
    assert!(export.contains(ANON_AGENT));
    if scan {
        for needle in [ANN_IP.as_bytes(), ANN_AGENT.as_bytes(), &key.wrapped] {
            let found = files_holding(&dir, needle);
            assert!(found.is_empty(), "{found:?} still hold erased bytes");
        }
    }
}

#[tokio::test]
async fn personal_fields_are_sealed_found_and_erased_on_sqlite() {
    let env = Env::start(|c| {
        behind_proxy(c);
        c.store.url = "sqlite:".into();
    })
    .await;
    sealed_found_and_erased(env, true).await;
}

#[tokio::test]
async fn personal_fields_are_sealed_found_and_erased_on_postgres() {
    let Ok(pg) = std::env::var("PALISADE_TEST_DATABASE_URL") else {
        println!("skipped: PALISADE_TEST_DATABASE_URL not set");
        return;
    };
    let schema = crate::revocation_restart::Schema {
        url: pg.clone(),
        name: format!("pal_sealing_{}", uuid::Uuid::now_v7().simple()),
    };
    let name = schema.name.clone();
    let env = Env::start(move |c| {
        behind_proxy(c);
        c.store.url = pg.clone();
        c.store.schema = Some(name.clone());
    })
    .await;
    sealed_found_and_erased(env, false).await;
    drop(schema);
}

async fn run_retention(env: &Env) -> palisade_gateway::retention::RunReport {
    crate::retention::run(env, false).await
}

#[tokio::test]
async fn an_anonymous_days_key_goes_once_the_longest_period_has_passed_since_the_day() {
    const DAY: Duration = Duration::from_secs(86_400);
    let env = Env::start(|c| {
        behind_proxy(c);
        c.store.url = "sqlite:".into();
        // The longest class is two days: the day key lives two days past its day.
        for (class, days) in [
            ("security", 2),
            ("credential_access", 1),
            ("tool_execution", 1),
            ("api_call", 1),
        ] {
            c.retention
                .audit
                .insert(class.into(), HumanDuration(DAY * days));
        }
    })
    .await;
    let state = &env.gw.gateway.state;
    let store = state.store.clone();
    let trail = state.audit.trail().unwrap().clone();
    fail_login(&env, "nobody@example.com", ANON_IP, ANON_AGENT).await;
    let now = env.identity().now_ms() as i64;
    let day = palisade_gateway::audit::seal::day_of(now);
    let subject = format!("day:{day}");
    let record = store
        .audit_range(0, 10_000)
        .await
        .unwrap()
        .into_iter()
        .find(|r| r.event_type == "auth.login_failure")
        .unwrap();
    assert!(store.seal_key_of(&subject).await.unwrap().is_some());
    let mut copy = vec![record.clone()];
    trail.sealer().open(&mut copy).await.unwrap();
    assert_eq!(copy[0].client_ip.as_deref(), Some(ANON_IP));

    // The day ends at the next midnight UTC; its key goes two days after that.
    let day_ms = DAY.as_millis() as i64;
    let goes_at = (now / day_ms + 1) * day_ms + 2 * day_ms;
    env.advance(Duration::from_millis((goes_at - now - 1_000) as u64));
    let early = run_retention(&env).await;
    assert!(
        store.seal_key_of(&subject).await.unwrap().is_some(),
        "one second early"
    );
    assert_eq!(early.count("audit_day_keys"), Some(0));
    env.advance(Duration::from_secs(1));
    let due = run_retention(&env).await;
    assert_eq!(due.count("audit_day_keys"), Some(1));
    assert!(
        store.seal_key_of(&subject).await.unwrap().is_none(),
        "at the moment it is due"
    );
    // A copy of that day's record (an export, a backup) no longer opens.
    let mut copy = vec![record];
    trail.sealer().open(&mut copy).await.unwrap();
    assert_eq!(copy[0].client_ip.as_deref(), Some(ERASED));
    assert_eq!(copy[0].user_agent.as_deref(), Some(ERASED));
    let recorded = store.audit_range(0, 10_000).await.unwrap();
    assert!(recorded.iter().any(|r| {
        r.event_type == "audit.subject_forgotten" && r.resource_id.as_deref() == Some(&day)
    }));
    verified(&env).await;
}
