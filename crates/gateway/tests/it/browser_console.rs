//! The admin console in a real browser: Debian's chromium driven by npm `playwright-core` (the
//! harness of `browser_pages`, pinned by `scripts/ensure-browser`) running
//! `tests/browser/console.cjs` against Palisade on `http://localhost:PORT`. It signs in through
//! the hosted pages, visits every page (axe-core: no serious or critical violation; a
//! screenshot of each under `target/browser-artifacts/console/`), creates a user, changes its
//! role, revokes another account's session, blocks and unblocks an address, explains a policy
//! decision and finds each action in the audit browser; a forged cross-site POST is refused,
//! user data with markup stays text, no Content-Security-Policy violation is reported, and an
//! auditor sees every page without action controls while the API refuses its action. Under
//! `CI=true` (or `PALISADE_BROWSER_TESTS=required`) a missing browser fails the test;
//! elsewhere it skips, saying so.

use crate::browser_pages::{artifacts_dir, free_port, harness, required, run_script};
use crate::common::{client, start_with};
use serde_json::{Value, json};

const PASSWORD: &str = "violet-Harbor-tram-1987-quince";

/// The actions the suite takes, as the audit browser must show them.
const EVENTS: [&str; 7] = [
    "user.created",
    "user.roles_changed",
    "auth.session_revoked",
    "ip.blocked",
    "ip.unblocked",
    "user.deletion_requested",
    "user.restored",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_in_chromium_acts_audits_and_stays_strict() {
    let (chromium, playwright) = match harness() {
        Ok(h) => h,
        Err(why) if required() => {
            panic!(
                "CI=true (or PALISADE_BROWSER_TESTS=required) and the browser harness is missing: {why}"
            )
        }
        Err(why) => {
            eprintln!("skipped: no browser harness (scripts/ensure-browser): {why}");
            return;
        }
    };
    let axe = std::path::Path::new(&playwright)
        .parent()
        .unwrap()
        .join("axe-core/axe.min.js");
    let port = free_port();
    let origin = format!("http://localhost:{port}");
    let gw = start_with(
        |c| {
            c.server.listen = format!("127.0.0.1:{port}").parse().unwrap();
        },
        vec![],
    )
    .await;
    let store = &gw.gateway.state.store;
    let register = |email: &'static str, name: Option<&'static str>| {
        let url = gw.url("/auth/register");
        async move {
            let res = client()
                .post(url)
                .json(&json!({"email": email, "password": PASSWORD, "name": name}))
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), 201, "{}", res.text().await.unwrap());
            res.json::<Value>().await.unwrap()["id"]
                .as_str()
                .unwrap()
                .parse::<uuid::Uuid>()
                .unwrap()
        }
    };
    let admin = register("console.admin@example.com", Some("Console Admin")).await;
    store
        .user_set_roles(admin, &["admin".into()], 0)
        .await
        .unwrap();
    let auditor = register("console.auditor@example.com", None).await;
    store
        .user_set_roles(auditor, &["auditor".into()], 0)
        .await
        .unwrap();
    let evil = register(
        "evil@example.com",
        Some("<script>alert(1)</script>\"><img src=x onerror=alert(2)> javascript:alert(3)"),
    )
    .await;
    // An account with an open session for the console to revoke.
    let target = "target@example.com";
    register(target, None).await;
    let res = client()
        .post(gw.url("/auth/login"))
        .header("user-agent", "Console test device")
        .json(&json!({"email": target, "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);

    let report = run_script(
        "console.cjs",
        vec![
            ("PALISADE_URL", origin),
            ("CHROMIUM", chromium),
            ("PLAYWRIGHT_CORE", playwright),
            ("AXE_CORE", axe.display().to_string()),
            ("ARTIFACTS", artifacts_dir().display().to_string()),
            ("ADMIN", "console.admin@example.com".into()),
            ("AUDITOR", "console.auditor@example.com".into()),
            ("PASSWORD", PASSWORD.into()),
            ("TARGET", target.into()),
            ("EVIL_ID", evil.to_string()),
            ("EVENTS", EVENTS.join(",")),
        ],
    )
    .await;
    for shot in [
        "dashboard",
        "dashboard-dark",
        "audit",
        "audit-verify",
        "users",
        "user",
        "tenants",
        "roles",
        "roles-explained",
        "service-accounts",
        "ip-blocks",
        "ip-blocks-blocked",
        "incidents",
        "lockdown",
        "secrets",
        "config",
    ] {
        assert!(
            report["screenshots"]
                .as_array()
                .unwrap()
                .contains(&json!(shot)),
            "screenshot {shot}: {report:#}"
        );
    }
    assert_eq!(report["forged_status"], 403, "{report:#}");
    assert_eq!(report["auditor_block_status"], 403, "{report:#}");
    assert!(
        ["allow", "deny", "unauthenticated"].contains(&report["decision"].as_str().unwrap_or("")),
        "{report:#}"
    );

    // What the server holds: the created account with its new role, the target's session
    // revoked, no block left, no lockdown from the forged posts, each action on record once.
    let state = &gw.gateway.state;
    let created = store
        .user_by_email("created@example.com")
        .await
        .unwrap()
        .expect("created through the console");
    assert_eq!(created.roles, vec!["viewer".to_string()]);
    let target_id = store.user_by_email(target).await.unwrap().unwrap().id;
    let sessions = store.sessions_for_user(target_id, true).await.unwrap();
    assert!(
        sessions.iter().all(|s| s.revoked_at.is_some()),
        "{sessions:?}"
    );
    assert!(state.identity.brute.blocks().await.unwrap().is_empty());
    assert!(!state.identity.lockdown.status().on);
    state.audit.trail().unwrap().clone().flush().await;
    let stored = store.audit_range(0, 100_000).await.unwrap();
    for event in EVENTS {
        assert!(
            stored
                .iter()
                .any(|r| r.event_type == event && r.actor.as_deref() == Some(&admin.to_string())),
            "{event} by the admin on record"
        );
    }
    assert!(
        stored
            .iter()
            .any(|r| r.event_type == "authz.denied"
                && r.actor.as_deref() == Some(&auditor.to_string())),
        "the auditor's refused action on record"
    );
}
