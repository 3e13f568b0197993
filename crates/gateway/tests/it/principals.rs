//! Service accounts, resource-level grants and the permissions of Palisade's own admin API.

use crate::authorization::{policies, signed_in};
use crate::common::*;
use crate::identity::Env;
use palisade_gateway::config::{Config, RouteConfig};
use serde_json::{Value, json};

/// The authorization routes plus a tool route that needs `tools.<name>.execute`, and an `agent`
/// role that may run every tool.
fn with_tools(c: &mut Config) {
    policies(c);
    c.roles = palisade_core::policy::default_roles();
    c.roles.push(palisade_core::policy::RoleDef {
        name: "agent".into(),
        grants: vec!["tools.*".into()],
        inherits: vec![],
    });
    let up = c.routes[0].upstream.clone();
    for tool in ["read_file", "write_file"] {
        c.routes.push(RouteConfig {
            name: Some(tool.into()),
            prefix: format!("/api/tools/{tool}"),
            upstream: up.clone(),
            permission: vec![format!("tools.{tool}.execute")],
            ..Default::default()
        });
    }
}

pub(crate) async fn call(
    env: &Env,
    method: &str,
    path: &str,
    auth: &str,
    body: Option<Value>,
) -> reqwest::Response {
    let mut req = env.http.request(method.parse().unwrap(), env.url(path));
    req = if auth.starts_with("pal_") {
        req.header("x-api-key", auth)
    } else {
        req.bearer_auth(auth)
    };
    if let Some(b) = body {
        req = req.json(&b);
    }
    req.send().await.unwrap()
}

fn audit_count(env: &Env, event_type: &str) -> usize {
    env.gw
        .gateway
        .state
        .audit
        .recent()
        .into_iter()
        .filter(|e| e.event_type == event_type)
        .count()
}

#[tokio::test]
async fn a_service_account_key_acts_only_within_its_scopes_and_its_roles() {
    let env = Env::start(with_tools).await;
    // The agent role's `tools.*` is beyond the admin role's grants: the owner hands it out.
    let (_, admin) = signed_in(&env, "owner@example.com", &["owner"]).await;
    let res = call(
        &env,
        "POST",
        "/admin/service-accounts",
        &admin,
        Some(json!({"name": "agent-7", "roles": ["agent"]})),
    )
    .await;
    assert_eq!(res.status(), 201);
    let account: Value = res.json().await.unwrap();
    assert_eq!(account["name"], "svc:agent-7");
    let id = account["id"].as_str().unwrap();

    let key_for = |scopes: Value| {
        let env = &env;
        let admin = admin.clone();
        async move {
            let res = call(
                env,
                "POST",
                &format!("/admin/service-accounts/{id}/api-keys"),
                &admin,
                Some(json!({"name": "tools", "scopes": scopes})),
            )
            .await;
            assert_eq!(res.status(), 201);
            res.json::<Value>().await.unwrap()["key"]
                .as_str()
                .unwrap()
                .to_string()
        }
    };
    let reader = key_for(json!(["tools.read_file.execute"])).await;
    assert_eq!(
        call(&env, "POST", "/api/tools/read_file", &reader, None)
            .await
            .status(),
        200
    );
    assert_problem(
        call(&env, "POST", "/api/tools/write_file", &reader, None).await,
        403,
        "forbidden",
    )
    .await;
    assert_problem(
        call(&env, "POST", "/api/docs/1", &reader, None).await,
        403,
        "forbidden",
    )
    .await;

    // A scope wider than the roles never widens them: an agent cannot write docs or reach the
    // admin-only route.
    let wide = key_for(json!(["*"])).await;
    assert_eq!(
        call(&env, "POST", "/api/tools/write_file", &wide, None)
            .await
            .status(),
        200
    );
    assert_problem(
        call(&env, "POST", "/api/docs/1", &wide, None).await,
        403,
        "forbidden",
    )
    .await;
    assert_problem(
        call(&env, "GET", "/api/ops/x", &wide, None).await,
        403,
        "forbidden",
    )
    .await;

    // A key cannot carry a role its service account lacks, and bad scopes are refused.
    let res = call(
        &env,
        "POST",
        &format!("/admin/service-accounts/{id}/api-keys"),
        &admin,
        Some(json!({"name": "x", "scopes": [], "roles": ["admin"]})),
    )
    .await;
    assert_problem(res, 422, "role-not-held").await;
    let res = call(
        &env,
        "POST",
        &format!("/admin/service-accounts/{id}/api-keys"),
        &admin,
        Some(json!({"name": "x", "scopes": ["Tools.Read"]})),
    )
    .await;
    assert_problem(res, 422, "invalid-scopes").await;

    // It has no password: there is nothing to sign in with.
    let res = env
        .post(
            "/auth/login",
            json!({"email": "svc:agent-7", "password": "whatever-it-is-12"}),
        )
        .await;
    assert!(
        res.status() == 401 || res.status() == 422,
        "{}",
        res.status()
    );
    let list: Value = call(&env, "GET", "/admin/service-accounts", &admin, None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list["service_accounts"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn an_administrator_cannot_give_a_service_account_more_than_their_own_roles() {
    let env = Env::start(with_tools).await;
    let admin = env.admin("root@example.com").await;
    let denied = audit_count(&env, "authz.denied");
    let res = call(
        &env,
        "POST",
        "/admin/service-accounts",
        &admin,
        Some(json!({"name": "too-strong", "roles": ["owner"]})),
    )
    .await;
    assert_problem(res, 403, "role-not-held").await;
    assert_eq!(
        audit_count(&env, "authz.denied"),
        denied + 1,
        "the refusal on record"
    );
    let res = call(
        &env,
        "POST",
        "/admin/service-accounts",
        &admin,
        Some(json!({"name": "agent", "roles": ["agent"]})),
    )
    .await;
    assert_problem(res, 403, "role-not-held").await;
    let res = call(
        &env,
        "POST",
        "/admin/service-accounts",
        &admin,
        Some(json!({"name": "ci", "roles": ["member"]})),
    )
    .await;
    assert_eq!(res.status(), 201);
    let res = call(
        &env,
        "POST",
        "/admin/service-accounts",
        &admin,
        Some(json!({"name": "Bad Name", "roles": ["member"]})),
    )
    .await;
    assert_problem(res, 422, "invalid-name").await;
}

#[tokio::test]
async fn a_resource_grant_reaches_one_tenant_without_a_membership() {
    let env = Env::start(policies).await;
    let admin = env.admin("root@example.com").await;
    let (bob, bob_token) = signed_in(&env, "bob@example.com", &["viewer"]).await;
    for id in ["a", "b"] {
        let res = call(
            &env,
            "POST",
            "/admin/tenants",
            &admin,
            Some(json!({"id": id, "name": id})),
        )
        .await;
        assert_eq!(res.status(), 201);
    }
    assert_problem(
        call(&env, "GET", "/api/graphs/a/nodes", &bob_token, None).await,
        403,
        "forbidden",
    )
    .await;

    let res = call(
        &env,
        "PUT",
        &format!("/admin/tenants/a/grants/{bob}"),
        &admin,
        Some(json!({"grants": ["graphs.read"]})),
    )
    .await;
    assert_eq!(res.status(), 204);
    assert_eq!(
        call(&env, "GET", "/api/graphs/a/nodes", &bob_token, None)
            .await
            .status(),
        200
    );
    assert_eq!(env.up.last().header("x-palisade-tenant"), Some("a"));
    assert_problem(
        call(&env, "POST", "/api/graphs/a/nodes", &bob_token, None).await,
        403,
        "forbidden",
    )
    .await;
    assert_problem(
        call(&env, "GET", "/api/graphs/b/nodes", &bob_token, None).await,
        403,
        "forbidden",
    )
    .await;

    let grants: Value = call(&env, "GET", "/admin/tenants/a/grants", &admin, None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(grants["grants"][0]["grants"], json!(["graphs.read"]));
    let res = call(
        &env,
        "PUT",
        &format!("/admin/tenants/a/grants/{bob}"),
        &admin,
        Some(json!({"grants": ["not a grant"]})),
    )
    .await;
    assert_problem(res, 422, "invalid-grants").await;
    let res = call(
        &env,
        "PUT",
        &format!("/admin/tenants/a/grants/{bob}"),
        &admin,
        Some(json!({"grants": ["*"]})),
    )
    .await;
    assert_problem(res, 403, "grant-not-held").await;

    assert_eq!(
        call(
            &env,
            "DELETE",
            &format!("/admin/tenants/a/grants/{bob}"),
            &admin,
            None
        )
        .await
        .status(),
        204
    );
    assert_problem(
        call(&env, "GET", "/api/graphs/a/nodes", &bob_token, None).await,
        403,
        "forbidden",
    )
    .await;
}

#[tokio::test]
async fn the_admin_api_needs_admin_permissions_not_ordinary_write_grants() {
    let env = Env::start(|c| {
        policies(c);
        c.roles = palisade_core::policy::default_roles();
        c.roles.push(palisade_core::policy::RoleDef {
            name: "role-reader".into(),
            grants: vec!["admin.roles.read".into()],
            inherits: vec![],
        });
    })
    .await;
    let (_, member) = signed_in(&env, "mel@example.com", &["member"]).await;
    let (_, auditor) = signed_in(&env, "aud@example.com", &["role-reader"]).await;

    // A member's `*.write` does not reach `admin.tenants.write`.
    let res = call(
        &env,
        "POST",
        "/admin/tenants",
        &member,
        Some(json!({"id": "x", "name": "x"})),
    )
    .await;
    let body = assert_problem(res, 403, "forbidden").await;
    assert_eq!(body["permission"], "admin.tenants.write");
    assert_eq!(audit_count(&env, "authz.privilege_escalation_attempt"), 1);

    assert_eq!(
        call(&env, "GET", "/admin/roles", &auditor, None)
            .await
            .status(),
        200
    );
    assert_problem(
        call(&env, "GET", "/admin/tenants", &auditor, None).await,
        403,
        "forbidden",
    )
    .await;
    assert_eq!(
        audit_count(&env, "authz.denied"),
        2,
        "every 403 is an audit event"
    );
}
