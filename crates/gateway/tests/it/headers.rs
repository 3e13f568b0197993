//! Identity in the app's own words: configured identity header names (global and per route)
//! replace the `X-Palisade-*` defaults on the upstream request, every configured name is
//! stripped from clients on every route and built-in, a route may take its tenant from a header
//! (authorized like a path tenant, even when the header is also an identity header), and the
//! signed assertion's claims are renamed and still verify against the JWKS.

use crate::common::*;
use crate::identity::{Env, verify_with_jwks};
use palisade_core::policy::AuthRequirement;
use palisade_gateway::config::identity_names::IdentityNames;
use palisade_gateway::config::{Config, RouteConfig};
use serde_json::{Value, json};

fn names(pairs: &[(&str, &str)]) -> IdentityNames {
    let mut n = IdentityNames::default();
    for (k, v) in pairs {
        let slot = match *k {
            "user" => &mut n.user,
            "roles" => &mut n.roles,
            "tenant" => &mut n.tenant,
            "email" => &mut n.email,
            "tier" => &mut n.tier,
            _ => unreachable!(),
        };
        *slot = Some(v.to_string());
    }
    n
}

/// `/api/` with the global names; `/graphs/` naming its tenant in `X-Graph-Id`, which is also its
/// tenant identity header, and its own user header; `/open/` public.
fn app(c: &mut Config) {
    let up = c.routes[0].upstream.clone();
    c.proxy.identity_headers = names(&[
        ("user", "X-User-Id"),
        ("roles", "X-User-Roles"),
        ("email", "X-User-Email"),
        ("tier", "X-User-Tier"),
    ]);
    c.proxy.assertion_claims = names(&[
        ("user", "uid"),
        ("tenant", "graph_id"),
        ("email", "email"),
        ("tier", "tier"),
    ]);
    c.routes = vec![
        RouteConfig {
            prefix: "/api/".into(),
            upstream: up.clone(),
            auth: Some(AuthRequirement::Any),
            ..Default::default()
        },
        RouteConfig {
            name: Some("graphs".into()),
            prefix: "/graphs/".into(),
            upstream: up.clone(),
            auth: Some(AuthRequirement::Any),
            resource: Some("graphs".into()),
            tenant_header: Some("X-Graph-Id".into()),
            identity_headers: names(&[("user", "X-Graph-User"), ("tenant", "X-Graph-Id")]),
            ..Default::default()
        },
        RouteConfig {
            prefix: "/open/".into(),
            upstream: up,
            auth: Some(AuthRequirement::None),
            public: true,
            ..Default::default()
        },
    ];
}

/// Every configured name, in `-` and `_` spellings, with a value no upstream may see.
const SPOOFS: &[(&str, &str)] = &[
    ("X-User-Id", "admin"),
    ("X_User_Roles", "owner"),
    ("x-user-email", "boss@example.com"),
    ("X-User_Tier", "enterprise"),
    ("X-Graph-User", "admin"),
    ("X_Graph_Id", "t2"),
    ("X-Palisade-Tenant", "t2"),
];

fn spoofed(mut req: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
    for (n, v) in SPOOFS {
        req = req.header(*n, *v);
    }
    req
}

fn assert_none_spoofed(seen: &Seen) {
    for (name, value) in SPOOFS {
        let canonical = name.to_ascii_lowercase().replace('_', "-");
        let values = seen.headers.get(&canonical).cloned().unwrap_or_default();
        assert!(!values.iter().any(|v| v == value), "{name}: {values:?}");
        let raw = name.to_ascii_lowercase();
        assert!(
            !seen.headers.contains_key(&raw) || raw == canonical,
            "{raw} reached the upstream"
        );
    }
}

/// A tenant `t1` with `ann` as its member (and `t2` she is not in); ann's id and token.
async fn tenant_member(env: &Env) -> (String, String) {
    let admin = env.admin("root@example.com").await;
    let (ann, token) = crate::authorization::signed_in(env, "ann@example.com", &["viewer"]).await;
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
    (ann, token)
}

async fn me(env: &Env, token: &str) -> Value {
    env.get_with("/auth/me", token).await.json().await.unwrap()
}

#[tokio::test]
async fn headers_configured_names_replace_the_defaults_and_spoofs_never_pass() {
    let env = Env::start(app).await;
    let (ann, token) = tenant_member(&env).await;
    let tier = me(&env, &token).await["tier"].as_str().unwrap().to_string();

    let res = spoofed(env.http.get(env.url("/api/x")).bearer_auth(&token))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let seen = env.up.last();
    assert_eq!(seen.headers["x-user-id"], [ann.as_str()], "ours, once");
    assert_eq!(seen.headers["x-user-roles"], ["viewer"]);
    assert_eq!(
        seen.headers["x-user-email"],
        ["ann@example.com"],
        "decrypted"
    );
    assert_eq!(seen.headers["x-user-tier"], [tier]);
    for replaced in [
        "x-palisade-user",
        "x-palisade-roles",
        "x-graph-user",
        "x-graph-id",
    ] {
        assert!(seen.header(replaced).is_none(), "{replaced}");
    }
    assert_eq!(
        seen.headers["x-palisade-identity"].len(),
        1,
        "the assertion stays"
    );
    assert_none_spoofed(&seen);

    // A public route, anonymous: nothing of anyone's identity, whatever the client sent.
    let res = spoofed(env.http.get(env.url("/open/x")))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let seen = env.up.last();
    assert_none_spoofed(&seen);
    for name in [
        "x-user-id",
        "x-user-roles",
        "x-graph-id",
        "x-palisade-identity",
    ] {
        assert!(seen.header(name).is_none(), "{name}");
    }

    // A built-in endpoint: forward auth answers with Palisade's identity only. Anonymous on the
    // public route, a client's copies would come back as the answer's identity if not stripped.
    let verify = |token: Option<&str>| {
        let mut req = env
            .http
            .get(env.url("/auth/verify"))
            .header("x-original-uri", "/open/x")
            .header("x-original-method", "GET");
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        spoofed(req).send()
    };
    let res = verify(None).await.unwrap();
    assert_eq!(res.status(), 200);
    for (name, _) in SPOOFS {
        assert!(
            res.headers().get(*name).is_none(),
            "{name} echoed by /auth/verify"
        );
    }
    let res = verify(Some(&token)).await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["x-user-id"], ann.as_str());
    assert!(res.headers().get("x-palisade-user").is_none());
    assert!(res.headers().get("x-palisade-identity").is_some());
}

#[tokio::test]
async fn headers_a_route_overrides_names_and_takes_its_tenant_from_a_header() {
    let env = Env::start(app).await;
    let (ann, token) = tenant_member(&env).await;
    let send = |fields: &'static [(&'static str, &'static str)], token: Option<String>| {
        let mut req = env.http.post(env.url("/graphs/nodes"));
        for (n, v) in fields {
            req = req.header(*n, *v);
        }
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        req.send()
    };
    let denied = || {
        env.gw
            .gateway
            .state
            .audit
            .recent()
            .into_iter()
            .filter(|e| e.event_type == "authz.denied")
            .count()
    };
    let tok = || Some(token.clone());

    // A member of t1 naming t1 passes; the upstream sees the route's names, t1 exactly once.
    let res = send(&[("X-Graph-Id", "t1"), ("X-Graph-User", "admin")], tok())
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let seen = env.up.last();
    assert_eq!(seen.headers["x-graph-id"], ["t1"]);
    assert_eq!(
        seen.headers["x-graph-user"],
        [ann.as_str()],
        "the route's user header"
    );
    assert_eq!(
        seen.headers["x-user-roles"],
        ["viewer"],
        "the global roles header"
    );
    assert!(seen.header("x-user-id").is_none(), "replaced on this route");
    assert!(
        seen.header("x-palisade-tenant").is_none(),
        "replaced by X-Graph-Id"
    );
    let claims = verify_with_jwks(
        seen.header("x-palisade-identity").unwrap(),
        &env.jwks().await,
    );
    assert_eq!(claims["graph_id"], "t1");
    assert_eq!(claims["uid"], ann.as_str());
    assert_eq!(claims["sub"], ann.as_str(), "sub stays");
    assert_eq!(claims["email"], "ann@example.com");
    assert!(claims.get("tenant").is_none(), "renamed, not both");
    assert_eq!(claims["aud"], "graphs");
    let before = env.up.count();

    // Another tenant: 403 and on record.
    let was = denied();
    assert_problem(
        send(&[("X-Graph-Id", "t2")], tok()).await.unwrap(),
        403,
        "forbidden",
    )
    .await;
    assert_eq!(denied(), was + 1);
    // No tenant: 400, on record.
    assert_problem(
        send(&[], tok()).await.unwrap(),
        400,
        "tenant-header-missing",
    )
    .await;
    assert_eq!(denied(), was + 2);
    // Lists, two fields, a second spelling, junk: 400, on record.
    for bad in [
        &[("X-Graph-Id", "t1,t2")][..],
        &[("X-Graph-Id", "t1"), ("X-Graph-Id", "t2")],
        &[("X-Graph-Id", "t1"), ("X_Graph_Id", "t2")],
        &[("X-Graph-Id", "t1 t2")],
        &[("X-Graph-Id", "../t1")],
    ] {
        let res = send(bad, tok()).await.unwrap();
        assert_problem(res, 400, "tenant-header-invalid").await;
    }
    assert_eq!(denied(), was + 7);
    // Anonymous: sign in first, whatever the header says.
    assert_problem(
        send(&[("X-Graph-Id", "t1")], None).await.unwrap(),
        401,
        "missing",
    )
    .await;
    assert_eq!(
        env.up.count(),
        before,
        "no refused request reached the upstream"
    );
}
