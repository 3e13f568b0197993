//! The admin console over plain HTTP: who may open it (sign-in redirect back to the page, the
//! console and page permissions with the denial on record, `console.allow_cidrs`,
//! `console.idle_timeout` on the test clock), the page CSP and `no-store` on every page, user
//! data with markup rendered inert, and a forged cross-site POST refused. The browser drives
//! the same pages in `browser_console`.

use crate::common::{TestGateway, client, start_clocked};
use crate::pages::{cookie_pair, form_token};
use palisade_core::clock::ManualClock;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;

const PASSWORD: &str = "violet-Harbor-tram-1987-quince";

/// Every console page (below `/admin/console`).
pub(crate) const PAGES: [&str; 12] = [
    "/",
    "/audit",
    "/audit/verify",
    "/users",
    "/tenants",
    "/roles",
    "/service-accounts",
    "/ip-blocks",
    "/incidents",
    "/lockdown",
    "/secrets",
    "/config",
];

fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

async fn register(gw: &TestGateway, email: &str, name: Option<&str>, roles: &[&str]) -> String {
    let res = client()
        .post(gw.url("/auth/register"))
        .json(&json!({"email": email, "password": PASSWORD, "name": name}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201, "{}", res.text().await.unwrap());
    let id = res.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let roles: Vec<String> = roles.iter().map(|r| r.to_string()).collect();
    gw.gateway
        .state
        .store
        .user_set_roles(id.parse().unwrap(), &roles, 0)
        .await
        .unwrap();
    id
}

/// Signs in through the hosted sign-in form: the `__Host-palisade` cookie pair.
async fn sign_in(gw: &TestGateway, email: &str) -> String {
    let c = no_redirects();
    let res = c.get(gw.url("/auth/pages/sign-in")).send().await.unwrap();
    let form_cookie = cookie_pair(&res, "__Host-palisade-form").unwrap();
    let token = form_token(&res.text().await.unwrap());
    let body = serde_urlencoded::to_string([
        ("form_token", token.as_str()),
        ("return_to", ""),
        ("email", email),
        ("password", PASSWORD),
    ])
    .unwrap();
    let res = c
        .post(gw.url("/auth/pages/sign-in"))
        .header("cookie", &form_cookie)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    cookie_pair(&res, "__Host-palisade").expect("session cookie")
}

async fn get(gw: &TestGateway, path: &str, cookie: &str) -> reqwest::Response {
    no_redirects()
        .get(gw.url(path))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap()
}

async fn trail(gw: &TestGateway) -> Vec<palisade_core::audit::AuditRecord> {
    let state = &gw.gateway.state;
    state.audit.trail().unwrap().clone().flush().await;
    state.store.audit_range(0, 10_000).await.unwrap()
}

#[tokio::test]
async fn console_pages_need_a_session_the_permissions_and_a_recent_activity() {
    let clock = Arc::new(ManualClock::starting_at(1_900_000_000_000));
    let gw = start_clocked(|_| {}, vec![], clock.clone()).await;
    register(&gw, "admin@example.com", None, &["admin"]).await;
    register(&gw, "member@example.com", None, &["member"]).await;

    // No session: to the hosted sign-in page, and back here after it.
    let res = no_redirects()
        .get(gw.url("/admin/console/users?after=x"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    assert_eq!(
        res.headers()["location"],
        "/auth/pages/sign-in?return_to=%2Fadmin%2Fconsole%2Fusers%3Fafter%3Dx"
    );

    // An administrator sees every page, each a strict hosted page that is never cached.
    let admin = sign_in(&gw, "admin@example.com").await;
    for page in PAGES {
        let res = get(&gw, &format!("/admin/console{page}"), &admin).await;
        assert_eq!(res.status(), 200, "{page}");
        let h = res.headers();
        assert_eq!(h["cache-control"], "no-store", "{page}");
        let csp = h["content-security-policy"].to_str().unwrap();
        assert!(
            csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"),
            "{page}: {csp}"
        );
        assert!(!csp.contains("unsafe-inline"), "{page}: {csp}");
        let html = res.text().await.unwrap();
        assert!(
            !html.contains("<script>") && !html.contains("style="),
            "{page}"
        );
        // The one script, external (minijinja escapes the slashes of the attribute).
        assert!(
            html.contains("console/assets/console.js\" defer></script>"),
            "{page}: {html}"
        );
    }
    let js = get(&gw, "/admin/console/assets/console.js", "").await;
    assert_eq!(js.status(), 200);
    assert_eq!(
        js.headers()["content-type"],
        "text/javascript; charset=utf-8"
    );

    // A member lacks admin.console.read: a 403 page, the denial on record.
    let member = sign_in(&gw, "member@example.com").await;
    let res = get(&gw, "/admin/console/", &member).await;
    assert_eq!(res.status(), 403);
    assert!(res.text().await.unwrap().contains("admin.console.read"));
    assert!(trail(&gw).await.iter().any(|r| {
        r.event_type == "authz.denied" && r.resource_id.as_deref() == Some("admin.console.read")
    }));

    // Idle past console.idle_timeout (15m by default): the session ends, sign in again.
    clock.advance(Duration::from_secs(14 * 60));
    assert_eq!(get(&gw, "/admin/console/", &admin).await.status(), 200);
    clock.advance(Duration::from_secs(14 * 60));
    assert_eq!(
        get(&gw, "/admin/console/", &admin).await.status(),
        200,
        "activity 14 minutes ago keeps it open"
    );
    clock.advance(Duration::from_secs(16 * 60));
    let res = get(&gw, "/admin/console/audit", &admin).await;
    assert_eq!(res.status(), 303);
    assert!(
        res.headers()["location"]
            .to_str()
            .unwrap()
            .starts_with("/auth/pages/sign-in?return_to=%2Fadmin%2Fconsole%2Faudit")
    );
    assert!(
        trail(&gw)
            .await
            .iter()
            .any(|r| r.event_type == "console.idle_timeout")
    );
    // The session itself ended: the admin API refuses its cookie too.
    let res = get(&gw, "/admin/roles", &admin).await;
    assert_eq!(res.status(), 401);
}

#[tokio::test]
async fn console_allow_cidrs_refuses_other_addresses_on_record() {
    let clock = Arc::new(ManualClock::starting_at(1_900_000_000_000));
    let gw = start_clocked(
        |c| c.console.allow_cidrs = vec!["10.0.0.0/8".parse().unwrap()],
        vec![],
        clock,
    )
    .await;
    register(&gw, "admin@example.com", None, &["admin"]).await;
    let admin = sign_in(&gw, "admin@example.com").await;
    let res = get(&gw, "/admin/console/", &admin).await;
    assert_eq!(res.status(), 403);
    assert!(
        res.text()
            .await
            .unwrap()
            .contains("not available from this address")
    );
    assert!(trail(&gw).await.iter().any(|r| {
        r.event_type == "auth.page_refused" && r.details["reason"] == "address-not-allowed"
    }));
}

#[tokio::test]
async fn console_renders_user_markup_inert_and_refuses_forged_posts() {
    let clock = Arc::new(ManualClock::starting_at(1_900_000_000_000));
    let gw = start_clocked(|_| {}, vec![], clock).await;
    register(&gw, "admin@example.com", None, &["admin"]).await;
    let evil = "<script>alert(1)</script>\" onmouseover=\"alert(2) javascript:alert(3)";
    let id = register(&gw, "evil@example.com", Some(evil), &["member"]).await;
    let admin = sign_in(&gw, "admin@example.com").await;
    for path in [
        format!("/admin/console/users/{id}"),
        "/admin/console/users".into(),
    ] {
        let html = get(&gw, &path, &admin).await.text().await.unwrap();
        assert!(!html.contains("<script>alert"), "{path}");
        assert!(!html.contains("\" onmouseover"), "{path}");
        assert!(!html.contains("href=\"javascript:"), "{path}");
    }
    let html = get(&gw, &format!("/admin/console/users/{id}"), &admin)
        .await
        .text()
        .await
        .unwrap();
    assert!(
        html.contains(
            "&lt;script&gt;alert(1)&lt;&#x2f;script&gt;&quot; onmouseover=&quot;alert(2)"
        ),
        "escaped as text: {html}"
    );

    // A cross-site POST with the session cookie: no token, a wrong token, a foreign Origin.
    for token in [None, Some("forged-token")] {
        let mut req = no_redirects()
            .post(gw.url("/admin/lockdown"))
            .header("cookie", &admin)
            .header("origin", "https://evil.example")
            .json(&json!({"on": true, "reason": "forged"}));
        if let Some(t) = token {
            req = req.header("x-csrf-token", t);
        }
        let res = req.send().await.unwrap();
        assert_eq!(res.status(), 403, "token {token:?}");
        assert_eq!(
            res.json::<Value>().await.unwrap()["type"],
            "urn:palisade:problem:csrf"
        );
    }
    assert!(!gw.gateway.state.identity.lockdown.status().on);
    let refusals = trail(&gw).await;
    assert!(
        refusals.iter().any(|r| {
            r.event_type == "auth.credential_rejected" && r.details["reason"] == "csrf"
        })
    );
}

/// The session's CSRF token, as a console page gives it to its script.
async fn csrf_of(gw: &TestGateway, cookie: &str) -> String {
    let html = get(gw, "/admin/console/lockdown", cookie)
        .await
        .text()
        .await
        .unwrap();
    let needle = "name=\"palisade-csrf\" content=\"";
    let at = html.find(needle).unwrap() + needle.len();
    html[at..at + html[at..].find('"').unwrap()].to_owned()
}

#[tokio::test]
async fn destructive_actions_from_a_console_session_need_a_recent_sign_in() {
    let clock = Arc::new(ManualClock::starting_at(1_900_000_000_000));
    let gw = start_clocked(|_| {}, vec![], clock.clone()).await;
    register(&gw, "admin@example.com", None, &["admin"]).await;
    let admin = sign_in(&gw, "admin@example.com").await;
    let csrf = csrf_of(&gw, &admin).await;
    let lockdown = |on: bool| {
        no_redirects()
            .post(gw.url("/admin/lockdown"))
            .header("cookie", &admin)
            .header("x-csrf-token", &csrf)
            .json(&json!({"on": on, "reason": "drill"}))
            .send()
    };
    assert_eq!(
        lockdown(true).await.unwrap().status(),
        200,
        "a fresh sign-in may"
    );
    assert_eq!(lockdown(false).await.unwrap().status(), 200);

    // Past auth.mfa.recent_auth (15m), still within the session: the RFC 9470 challenge, on
    // record, and nothing changed.
    clock.advance(Duration::from_secs(16 * 60));
    let res = lockdown(true).await.unwrap();
    assert_eq!(res.status(), 401);
    assert!(
        res.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .contains("insufficient_user_authentication")
    );
    assert_eq!(
        res.json::<Value>().await.unwrap()["type"],
        "urn:palisade:problem:insufficient-user-authentication"
    );
    assert!(!gw.gateway.state.identity.lockdown.status().on);
    assert!(trail(&gw).await.iter().any(|r| {
        r.event_type == "mfa.step_up_required"
            && r.action.as_deref() == Some("POST /admin/lockdown")
    }));
    // Reading is not destructive: the console still shows the state.
    let res = get(&gw, "/admin/roles", &admin).await;
    assert_eq!(res.status(), 200);
}
