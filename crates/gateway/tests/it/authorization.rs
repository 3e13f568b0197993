//! Authorization over HTTP: route policies with method rules, tenants, forward auth, and the
//! audit trail of refusals.

use crate::common::*;
use crate::identity::Env;
use palisade_core::policy::AuthRequirement;
use palisade_gateway::config::Config;
use serde_json::{Value, json};

pub fn policies(c: &mut Config) {
    let up = c.routes[0].upstream.clone();
    c.routes = vec![
        palisade_gateway::config::RouteConfig {
            name: Some("graphs".into()),
            prefix: "/api/graphs/".into(),
            upstream: up.clone(),
            auth: Some(AuthRequirement::Any),
            resource: Some("graphs".into()),
            pattern: Some("/api/graphs/{graph_id}/".into()),
            tenant_param: Some("graph_id".into()),
            ..Default::default()
        },
        palisade_gateway::config::RouteConfig {
            name: Some("docs".into()),
            prefix: "/api/docs/".into(),
            upstream: up.clone(),
            resource: Some("docs".into()),
            ..Default::default()
        },
        palisade_gateway::config::RouteConfig {
            name: Some("ops".into()),
            prefix: "/api/ops/".into(),
            upstream: up,
            permission: vec!["admin.ops".into()],
            admin_only: true,
            ..Default::default()
        },
    ];
}

pub async fn signed_in(env: &Env, email: &str, roles: &[&str]) -> (String, String) {
    let user = env.register(email).await;
    let id = user["id"].as_str().unwrap().to_string();
    let roles: Vec<String> = roles.iter().map(|r| r.to_string()).collect();
    env.identity()
        .store
        .user_set_roles(id.parse().unwrap(), &roles, 0)
        .await
        .unwrap();
    let token = env.login(email).await["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    (id, token)
}

async fn send(env: &Env, method: &str, path: &str, token: &str) -> reqwest::Response {
    env.http
        .request(method.parse().unwrap(), env.url(path))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_viewer_can_read_but_not_write_and_anonymous_callers_must_sign_in() {
    let env = Env::start(policies).await;
    let (_, viewer) = signed_in(&env, "vic@example.com", &["viewer"]).await;
    let (_, member) = signed_in(&env, "mel@example.com", &["member"]).await;
    assert_eq!(
        send(&env, "GET", "/api/docs/1", &viewer).await.status(),
        200
    );
    assert_problem(
        send(&env, "POST", "/api/docs/1", &viewer).await,
        403,
        "forbidden",
    )
    .await;
    assert_eq!(
        send(&env, "POST", "/api/docs/1", &member).await.status(),
        200
    );
    let anonymous = env.http.get(env.url("/api/docs/1")).send().await.unwrap();
    assert!(anonymous.headers().contains_key("www-authenticate"));
    assert_problem(anonymous, 401, "missing").await;
    let denied = env
        .gw
        .gateway
        .state
        .audit
        .recent()
        .into_iter()
        .filter(|e| e.event_type == "authz.denied")
        .count();
    assert_eq!(denied, 1, "every 403 is an audit event");
}

#[tokio::test]
async fn tenant_members_reach_their_tenant_and_its_children_only() {
    let env = Env::start(policies).await;
    let admin = env.admin("root@example.com").await;
    let (ann, ann_token) = signed_in(&env, "ann@example.com", &["viewer"]).await;
    for (id, parent) in [("a", None), ("a-child", Some("a")), ("b", None)] {
        let res = env
            .http
            .post(env.url("/admin/tenants"))
            .bearer_auth(&admin)
            .json(&json!({"id": id, "name": id, "parent_id": parent}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 201, "{}", res.text().await.unwrap());
    }
    let res = env
        .http
        .put(env.url(&format!("/admin/tenants/a/members/{ann}")))
        .bearer_auth(&admin)
        .json(&json!({"role": "member"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);

    assert_eq!(
        send(&env, "POST", "/api/graphs/a/nodes", &ann_token)
            .await
            .status(),
        200
    );
    let seen = env.up.last();
    assert_eq!(seen.header("x-palisade-tenant"), Some("a"));
    assert_eq!(
        send(&env, "POST", "/api/graphs/a-child/nodes", &ann_token)
            .await
            .status(),
        200,
        "members of a parent reach its children"
    );
    assert_problem(
        send(&env, "GET", "/api/graphs/b/nodes", &ann_token).await,
        403,
        "forbidden",
    )
    .await;
    // An administrator acts in every tenant.
    assert_eq!(
        send(&env, "POST", "/api/graphs/b/nodes", &admin)
            .await
            .status(),
        200
    );
    // A viewer override on the child narrows the inherited role.
    env.http
        .put(env.url(&format!("/admin/tenants/a-child/members/{ann}")))
        .bearer_auth(&admin)
        .json(&json!({"role": "viewer"}))
        .send()
        .await
        .unwrap();
    assert_problem(
        send(&env, "POST", "/api/graphs/a-child/nodes", &ann_token).await,
        403,
        "forbidden",
    )
    .await;
    assert_eq!(
        send(&env, "GET", "/api/graphs/a-child/nodes", &ann_token)
            .await
            .status(),
        200
    );

    let roles: Value = env
        .get_with("/admin/roles", &admin)
        .await
        .json()
        .await
        .unwrap();
    assert!(roles.to_string().contains("\"viewer\""));
    assert_problem(
        env.get_with("/admin/tenants", &ann_token).await,
        403,
        "forbidden",
    )
    .await;
}

#[tokio::test]
async fn refusals_on_admin_routes_are_privilege_escalation_attempts() {
    let env = Env::start(policies).await;
    let (_, member) = signed_in(&env, "eve@example.com", &["member"]).await;
    assert_problem(
        send(&env, "POST", "/api/ops/restart", &member).await,
        403,
        "forbidden",
    )
    .await;
    let events = env.gw.gateway.state.audit.recent();
    let esc = events
        .iter()
        .find(|e| e.event_type == "authz.privilege_escalation_attempt")
        .expect("escalation recorded");
    assert_eq!(esc.risk, palisade_gateway::audit::Risk::High);
}

#[tokio::test]
async fn forward_auth_answers_for_nginx_traefik_and_envoy() {
    let env = Env::start(policies).await;
    let (uid, viewer) = signed_in(&env, "fay@example.com", &["viewer"]).await;
    let verify = |headers: &[(&str, &str)], path: &str| {
        let mut req = env.http.get(env.url(path)).bearer_auth(&viewer);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        req.send()
    };
    // nginx auth_request
    let ok = verify(
        &[
            ("x-original-method", "GET"),
            ("x-original-uri", "/api/docs/7?x=1"),
        ],
        "/auth/verify",
    )
    .await
    .unwrap();
    assert_eq!(ok.status(), 200);
    assert_eq!(ok.headers()["x-palisade-user"], uid.as_str());
    assert!(ok.headers().contains_key("x-palisade-identity"));
    let no = verify(
        &[
            ("x-original-method", "POST"),
            ("x-original-uri", "/api/docs/7"),
        ],
        "/auth/verify",
    )
    .await
    .unwrap();
    assert_problem(no, 403, "forbidden").await;
    // Traefik ForwardAuth
    let ok = verify(
        &[
            ("x-forwarded-method", "GET"),
            ("x-forwarded-uri", "/api/docs/7"),
        ],
        "/auth/verify",
    )
    .await
    .unwrap();
    assert_eq!(ok.status(), 200);
    // Envoy ext_authz (path_prefix /auth/verify)
    assert_eq!(
        verify(&[], "/auth/verify/api/docs/7")
            .await
            .unwrap()
            .status(),
        200
    );
    // Unknown paths are denied; no credential is 401; no original request is 400.
    let unknown = verify(&[("x-original-uri", "/elsewhere")], "/auth/verify")
        .await
        .unwrap();
    assert_problem(unknown, 403, "forbidden").await;
    let anonymous = env
        .http
        .get(env.url("/auth/verify"))
        .header("x-original-uri", "/api/docs/7")
        .send()
        .await
        .unwrap();
    assert_problem(anonymous, 401, "missing").await;
    assert_problem(
        verify(&[], "/auth/verify").await.unwrap(),
        400,
        "no-original-request",
    )
    .await;
}

async fn explain(env: &Env, admin: &str, method: &str) -> Value {
    let path = format!("/admin/policy/explain?as=vi@example.com&method={method}&path=/api/docs/1");
    env.get_with(&path, admin).await.json().await.unwrap()
}

#[tokio::test]
async fn admins_can_ask_why_a_request_would_be_decided() {
    let env = Env::start(policies).await;
    let admin = env.admin("root@example.com").await;
    signed_in(&env, "vi@example.com", &["viewer"]).await;
    let allow = explain(&env, &admin, "GET").await;
    assert_eq!(allow["decision"], "allow");
    assert_eq!(allow["rule"], "docs");
    assert_eq!(
        allow["reason"],
        "docs.read granted by role viewer (grant *.read)"
    );
    let deny = explain(&env, &admin, "POST").await;
    assert_eq!(deny["decision"], "deny");
    assert_eq!(deny["reason"], "docs.write is not granted");
    let unknown = "/admin/policy/explain?as=nobody@example.com&method=GET&path=/";
    assert_problem(env.get_with(unknown, &admin).await, 404, "not-found").await;
    let res = env
        .get_with("/admin/policy/explain?method=GET", &admin)
        .await;
    assert_problem(res, 400, "invalid-query").await;
}

#[tokio::test]
async fn a_reload_swaps_the_policy_and_a_bad_one_keeps_the_old() {
    let env = Env::start(|_| {}).await;
    let admin = env.admin("root@example.com").await;
    let (_, viewer) = signed_in(&env, "vi@example.com", &["viewer"]).await;
    assert_eq!(
        send(&env, "POST", "/api/x", &viewer).await.status(),
        200,
        "no policy yet"
    );

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("palisade.toml");
    let route = format!(
        "[[routes]]\nprefix = \"/api/\"\nupstream = \"{}\"\nresource = \"api\"\n",
        env.up.url()
    );
    std::fs::write(&file, &route).unwrap();
    *env.gw.gateway.state.config_source.lock().unwrap() = palisade_gateway::config::ConfigSource {
        file: Some(file.clone()),
        env: Vec::new(),
    };
    let reload = || {
        env.http
            .post(env.url("/admin/config/reload"))
            .bearer_auth(&admin)
            .send()
    };
    assert_eq!(reload().await.unwrap().status(), 200);
    assert_problem(
        send(&env, "POST", "/api/x", &viewer).await,
        403,
        "forbidden",
    )
    .await;
    assert_eq!(send(&env, "GET", "/api/x", &viewer).await.status(), 200);

    std::fs::write(&file, format!("{route}roles = [\"ghost\"]\n")).unwrap();
    let body = assert_problem(reload().await.unwrap(), 422, "reload-refused").await;
    assert!(body["problems"].to_string().contains("ghost"), "{body}");
    assert_problem(
        send(&env, "POST", "/api/x", &viewer).await,
        403,
        "forbidden",
    )
    .await;
    assert_eq!(
        send(&env, "GET", "/api/x", &viewer).await.status(),
        200,
        "old policy kept"
    );
    assert_problem(
        env.http
            .post(env.url("/admin/config/reload"))
            .bearer_auth(&viewer)
            .send()
            .await
            .unwrap(),
        403,
        "forbidden",
    )
    .await;
}
