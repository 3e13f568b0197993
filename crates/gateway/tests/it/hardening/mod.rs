//! The security regression suite of "No way around the gates": every way around a gate that was
//! found, kept as a test. Path spellings (HTTP/1 over raw TCP, HTTP/2, `/auth/verify`, nginx
//! `auth_request`), the one route decision (same-prefix routes by host and by method, segment
//! boundaries), identity headers in any spelling. Strict HTTP, revocations across restarts and
//! refusals on record have their own modules beside this one.

mod route_decision;
mod smuggled_headers;
mod spellings;

use crate::common::*;
use crate::identity::Env;
use palisade_core::policy::AuthRequirement;
use palisade_gateway::config::{Config, RouteConfig};

/// `/api/admin/` for administrators, `/api/` for anyone signed in: the configuration.
pub fn admin_and_api(c: &mut Config) {
    let up = c.routes[0].upstream.clone();
    c.routes = vec![
        RouteConfig {
            name: Some("admin".into()),
            prefix: "/api/admin/".into(),
            upstream: up.clone(),
            auth: Some(AuthRequirement::Jwt),
            roles: vec!["admin".into()],
            ..Default::default()
        },
        RouteConfig {
            name: Some("api".into()),
            prefix: "/api/".into(),
            upstream: up,
            auth: Some(AuthRequirement::Jwt),
            ..Default::default()
        },
    ];
}

/// A gateway with [`admin_and_api`], a member's and an administrator's token.
pub async fn member_and_admin(edit: impl FnOnce(&mut Config)) -> (Env, String, String) {
    let env = Env::start(|c| {
        admin_and_api(c);
        edit(c);
    })
    .await;
    let (_, member) =
        crate::authorization::signed_in(&env, "member@example.com", &["member"]).await;
    let admin = env.admin("root@example.com").await;
    (env, member, admin)
}

/// The status, and the problem type's last segment and `rule` when the answer is problem+json.
pub fn answer(raw: &str) -> (u16, Option<String>, Option<String>) {
    let status = raw
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = raw.split("\r\n\r\n").nth(1).unwrap_or("");
    let json: Option<serde_json::Value> = serde_json::from_str(body).ok();
    let slug = json
        .as_ref()
        .and_then(|j| j["type"].as_str())
        .map(|t| t.rsplit([':', '/']).next().unwrap_or(t).to_string());
    let rule = json
        .as_ref()
        .and_then(|j| j["rule"].as_str())
        .map(String::from);
    (status, slug, rule)
}

/// One raw HTTP/1.1 GET for host `gw.test`, `Connection: close`, bytes as given.
pub async fn raw_get(
    addr: std::net::SocketAddr,
    target: &[u8],
    headers: &[(&str, &str)],
) -> String {
    raw_request(addr, "GET", target, "gw.test", headers).await
}

/// One raw HTTP/1.1 request, `Connection: close`, bytes as given.
pub async fn raw_request(
    addr: std::net::SocketAddr,
    method: &str,
    target: &[u8],
    host: &str,
    headers: &[(&str, &str)],
) -> String {
    let mut req = format!("{method} ").into_bytes();
    req.extend_from_slice(target);
    req.extend_from_slice(format!(" HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n").as_bytes());
    for (k, v) in headers {
        req.extend_from_slice(format!("{k}: {v}\r\n").as_bytes());
    }
    req.extend_from_slice(b"\r\n");
    raw_exchange(addr, &req).await
}
