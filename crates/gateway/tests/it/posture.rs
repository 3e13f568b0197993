//! `admin_only = true` restricts, through the proxy and through forward auth: on a route that
//! names no permission, a member is refused (403, `authz.privilege_escalation_attempt`) and an
//! administrator passes.

use crate::authorization::signed_in;
use crate::common::*;
use crate::identity::Env;
use palisade_core::policy::AuthRequirement;
use palisade_gateway::config::{Config, RouteConfig};

fn console(c: &mut Config) {
    let up = c.routes[0].upstream.clone();
    c.routes = vec![
        RouteConfig {
            name: Some("console".into()),
            prefix: "/api/console/".into(),
            upstream: up.clone(),
            auth: Some(AuthRequirement::Any),
            admin_only: true,
            ..Default::default()
        },
        RouteConfig {
            name: Some("api".into()),
            prefix: "/api/".into(),
            upstream: up,
            auth: Some(AuthRequirement::Any),
            ..Default::default()
        },
    ];
}

fn escalations(env: &Env) -> Vec<palisade_gateway::audit::AuditEvent> {
    env.gw
        .gateway
        .state
        .audit
        .recent()
        .into_iter()
        .filter(|e| e.event_type == "authz.privilege_escalation_attempt")
        .collect()
}

#[tokio::test]
async fn admin_only_refuses_members_and_admits_admins_proxied_and_forwarded() {
    let env = Env::start(console).await;
    let (member_id, member) = signed_in(&env, "mia@example.com", &["member"]).await;
    let admin = env.admin("root@example.com").await;
    let proxied = |token: &str| {
        env.http
            .get(env.url("/api/console/settings"))
            .bearer_auth(token)
            .send()
    };
    let verified = |token: &str| {
        env.http
            .get(env.url("/auth/verify"))
            .header("x-original-method", "GET")
            .header("x-original-uri", "/api/console/settings")
            .bearer_auth(token)
            .send()
    };

    // The member reaches the rest of the API, not the admin-only route.
    let before = env.up.count();
    assert_eq!(
        env.http
            .get(env.url("/api/other"))
            .bearer_auth(&member)
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    assert_problem(proxied(&member).await.unwrap(), 403, "forbidden").await;
    assert_eq!(
        env.up.count(),
        before + 1,
        "the refused request never reached the upstream"
    );
    let esc = escalations(&env);
    assert_eq!(esc.len(), 1, "{esc:?}");
    assert_eq!(esc[0].risk, palisade_gateway::audit::Risk::High);
    assert_eq!(esc[0].actor.as_deref(), Some(member_id.as_str()));
    assert_eq!(esc[0].resource.as_deref(), Some("route:console"));

    assert_problem(verified(&member).await.unwrap(), 403, "forbidden").await;
    assert_eq!(escalations(&env).len(), 2, "forward auth records it too");

    // Anonymous callers are asked to sign in, not let through.
    assert_problem(
        env.http
            .get(env.url("/api/console/settings"))
            .send()
            .await
            .unwrap(),
        401,
        "missing",
    )
    .await;

    let res = proxied(&admin).await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(env.up.last().path_and_query, "/api/console/settings");
    assert_eq!(verified(&admin).await.unwrap().status(), 200);
    assert_eq!(
        escalations(&env).len(),
        2,
        "an admin's pass is no escalation"
    );
}
