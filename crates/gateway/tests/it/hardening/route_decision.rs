//! One route decision: routes with the same prefix that differ only by host, or only by
//! methods, each enforce their own policy — proxied and through `/auth/verify` — and prefixes
//! match at segment boundaries.

use super::{answer, raw_request};
use crate::common::*;
use crate::identity::Env;
use palisade_core::policy::AuthRequirement;
use palisade_gateway::config::RouteConfig;

fn api(name: &str, upstream: String) -> RouteConfig {
    RouteConfig {
        name: Some(name.into()),
        prefix: "/api/".into(),
        upstream: Some(upstream),
        auth: Some(AuthRequirement::Any),
        ..Default::default()
    }
}

async fn tokens(env: &Env) -> (String, String) {
    let (_, member) = crate::authorization::signed_in(env, "m@example.com", &["member"]).await;
    (member, env.admin("a@example.com").await)
}

/// Status and the name of the upstream that answered (`None` when Palisade answered).
async fn ask(
    env: &Env,
    method: &str,
    host: &str,
    path: &str,
    token: &str,
) -> (u16, Option<String>) {
    let auth = format!("Bearer {token}");
    let raw = raw_request(
        env.gw.gateway.addr,
        method,
        path.as_bytes(),
        host,
        &[("Authorization", &auth)],
    )
    .await;
    let body = raw.split("\r\n\r\n").nth(1).unwrap_or("");
    let upstream = serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|j| j["upstream"].as_str().map(String::from));
    (answer(&raw).0, upstream)
}

async fn verify(env: &Env, method: &str, host: &str, path: &str, token: &str) -> u16 {
    env.http
        .get(env.url("/auth/verify"))
        .bearer_auth(token)
        .header("x-original-method", method)
        .header("x-original-uri", path)
        .header("x-forwarded-host", host)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn same_prefix_routes_that_differ_by_host_each_enforce_their_own_policy() {
    let admin_up = Upstream::start("admin-upstream").await;
    let admin_url = admin_up.url();
    let env = Env::start(move |c| {
        let up = c.routes[0].upstream.clone().unwrap();
        c.routes = vec![
            RouteConfig {
                host: Some("admin.local".into()),
                roles: vec!["admin".into()],
                ..api("admin", admin_url)
            },
            api("api", up),
        ];
    })
    .await;
    let (member, admin) = tokens(&env).await;
    let m = ask(&env, "GET", "admin.local", "/api/users", &member).await;
    assert_eq!(
        m,
        (403, None),
        "the host's route and policy, not the other's"
    );
    let m = ask(&env, "GET", "ADMIN.local:8080", "/api/users", &member).await;
    assert_eq!(m, (403, None), "host compared without case and port");
    let a = ask(&env, "GET", "admin.local", "/api/users", &admin).await;
    assert_eq!(a, (200, Some("admin-upstream".into())));
    let m = ask(&env, "GET", "other.local", "/api/users", &member).await;
    assert_eq!(m, (200, Some("api".into())));
    assert_eq!(
        admin_up.count(),
        1,
        "only the admin reached the admin upstream"
    );

    assert_eq!(
        verify(&env, "GET", "admin.local", "/api/users", &member).await,
        403
    );
    assert_eq!(
        verify(&env, "GET", "admin.local:443", "/api/users", &member).await,
        403
    );
    assert_eq!(
        verify(&env, "GET", "admin.local", "/api/users", &admin).await,
        200
    );
    assert_eq!(
        verify(&env, "GET", "other.local", "/api/users", &member).await,
        200
    );
}

#[tokio::test]
async fn same_prefix_routes_that_differ_by_methods_each_enforce_their_own_policy() {
    let env = Env::start(|c| {
        let up = c.routes[0].upstream.clone().unwrap();
        c.routes = vec![
            RouteConfig {
                methods: vec!["GET".into(), "HEAD".into()],
                ..api("read", up.clone())
            },
            RouteConfig {
                methods: vec!["POST".into(), "DELETE".into()],
                roles: vec!["admin".into()],
                ..api("write", up)
            },
        ];
    })
    .await;
    let (member, admin) = tokens(&env).await;
    assert_eq!(ask(&env, "GET", "h", "/api/x", &member).await.0, 200);
    assert_eq!(ask(&env, "DELETE", "h", "/api/x", &member).await.0, 403);
    assert_eq!(ask(&env, "DELETE", "h", "/api/x", &admin).await.0, 200);
    assert_eq!(
        ask(&env, "PUT", "h", "/api/x", &admin).await.0,
        405,
        "no route takes PUT"
    );

    assert_eq!(verify(&env, "GET", "h", "/api/x", &member).await, 200);
    assert_eq!(verify(&env, "DELETE", "h", "/api/x", &member).await, 403);
    assert_eq!(verify(&env, "delete", "h", "/api/x", &admin).await, 200);
    assert_eq!(
        verify(&env, "PUT", "h", "/api/x", &admin).await,
        403,
        "no route: default deny"
    );
}

#[tokio::test]
async fn prefixes_match_at_segment_boundaries() {
    let env = Env::start(|c| {
        let up = c.routes[0].upstream.clone().unwrap();
        c.routes = vec![
            RouteConfig {
                prefix: "/api/admin".into(),
                roles: vec!["admin".into()],
                ..api("admin", up.clone())
            },
            RouteConfig {
                prefix: "/api/reports/".into(),
                roles: vec!["admin".into()],
                ..api("reports", up.clone())
            },
            api("api", up),
        ];
    })
    .await;
    let (member, _) = tokens(&env).await;
    for (path, status) in [
        ("/api/admin", 403),
        ("/api/admin/", 403),
        ("/api/admin/users", 403),
        ("/api/administrators", 200),
        ("/api/reports", 403),
        ("/api/reports/q1", 403),
        ("/api/reportsx", 200),
    ] {
        assert_eq!(
            ask(&env, "GET", "h", path, &member).await.0,
            status,
            "{path}"
        );
        assert_eq!(
            verify(&env, "GET", "h", path, &member).await,
            status,
            "verify {path}"
        );
    }
}

#[tokio::test]
async fn a_case_insensitive_route_covers_every_case() {
    let env = Env::start(|c| {
        let up = c.routes[0].upstream.clone().unwrap();
        c.routes = vec![
            RouteConfig {
                prefix: "/api/admin/".into(),
                roles: vec!["admin".into()],
                case_insensitive: true,
                ..api("admin", up.clone())
            },
            api("api", up),
        ];
    })
    .await;
    let (member, admin) = tokens(&env).await;
    for path in ["/api/admin/x", "/API/ADMIN/x", "/api/Admin/x", "/Api/aDmIn"] {
        assert_eq!(ask(&env, "GET", "h", path, &member).await.0, 403, "{path}");
    }
    assert_eq!(ask(&env, "GET", "h", "/API/Admin/x", &admin).await.0, 200);
    assert_eq!(
        env.up.last().path_and_query,
        "/API/Admin/x",
        "forwarded as sent, canonical"
    );
}

/// Palisade's own endpoints never reach a catch-all upstream route; paths that only look like
/// them (no segment boundary) do.
#[tokio::test]
async fn built_in_paths_never_reach_a_catch_all_upstream_and_near_misses_do() {
    let up = Upstream::start("catch-all").await;
    let catch_all = RouteConfig {
        prefix: "/".into(),
        upstream: Some(up.url()),
        auth: Some(AuthRequirement::None),
        public: true,
        ..Default::default()
    };
    let gw = start_with(|_| {}, vec![catch_all]).await;
    let forwarded = || up.seen.lock().unwrap().len();
    let built_in = [
        "/healthz",
        "/readyz",
        "/metrics",
        "/.well-known/jwks.json",
        "/auth/login",
        "/auth/me",
        "/auth/verify",
        "/auth/x/../me",
        "/admin/audit",
        "/admin/tenants",
        "/admin/nothing-here",
        "/v1/secrets",
        "/v1/secrets/app/db",
        "/v1/transit/keys",
        "//auth//me",
        "/%61uth/me",
    ];
    for path in built_in {
        let before = forwarded();
        let raw = raw_request(gw.gateway.addr, "GET", path.as_bytes(), "h", &[]).await;
        assert_eq!(forwarded(), before, "{path} reached the upstream: {raw}");
    }
    let near_misses = [
        "/v1/secretsX",
        "/v1/secrets-old/x",
        "/v1/transit",
        "/authx",
        "/auth",
        "/admin",
        "/admin-panel",
        "/administrators/1",
        "/healthz/x",
        "/metricsx",
        "/.well-known/jwks.jsonx",
        "/.well-known/other",
        "/v1/other",
    ];
    for path in near_misses {
        let raw = raw_request(gw.gateway.addr, "GET", path.as_bytes(), "h", &[]).await;
        assert_eq!(answer(&raw).0, 200, "{path}: {raw}");
        assert_eq!(up.last().path_and_query, path, "{path} forwarded as sent");
    }
}
