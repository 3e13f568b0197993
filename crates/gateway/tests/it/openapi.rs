//! Palisade's own API described: the OpenAPI document is the checked-in `docs/openapi.json`,
//! it is served at `/admin/openapi.json` to holders of `admin.api.read` only, and every path it
//! lists is answered by Palisade, never by an upstream, even behind a catch-all route (while
//! near misses of those paths are proxied). The last test walks the generated document, so a new
//! endpoint is covered as soon as it is documented.

use crate::common::*;
use crate::identity::Env;
use palisade_gateway::api::openapi::document_json;
use serde_json::Value;

/// The checked-in document, from this crate's directory.
const CHECKED_IN: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/openapi.json");

const REGENERATE: &str = "UPDATE_OPENAPI=1 cargo test -p palisade-gateway --test it openapi";

fn generated() -> String {
    format!("{}\n", document_json())
}

#[test]
fn openapi_document_is_the_checked_in_one() {
    let now = generated();
    if std::env::var_os("UPDATE_OPENAPI").is_some_and(|v| v == "1") {
        std::fs::write(CHECKED_IN, &now).expect("docs/openapi.json is writable");
        return;
    }
    let file = std::fs::read_to_string(CHECKED_IN).unwrap_or_default();
    assert!(
        file == now,
        "docs/openapi.json differs from the document the handlers generate; regenerate it with\n\n    {REGENERATE}\n\nand commit it."
    );
}

#[test]
fn openapi_document_is_3_1_with_problem_json_errors() {
    let doc: Value = serde_json::from_str(document_json()).unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    assert!(doc["paths"].get("/").is_none(), "never at the root");
    assert!(doc["paths"]["/admin/openapi.json"]["get"].is_object());
    let mut operations = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            operations += 1;
            for (status, answer) in op["responses"].as_object().unwrap() {
                if status.starts_with(['4', '5']) {
                    assert!(
                        answer["content"]["application/problem+json"].is_object(),
                        "{method} {path} {status} is not problem+json"
                    );
                }
            }
        }
    }
    assert!(operations >= 50, "{operations} operations");
}

/// A request for every method of every path of the document, templates filled in.
fn documented_requests() -> Vec<(http::Method, String)> {
    let doc: Value = serde_json::from_str(document_json()).unwrap();
    let mut out = Vec::new();
    for (template, item) in doc["paths"].as_object().unwrap() {
        let path = fill(template);
        for method in item.as_object().unwrap().keys() {
            if let Ok(m) = method.to_ascii_uppercase().parse::<http::Method>() {
                out.push((m, path.clone()));
            }
        }
    }
    out
}

/// `/a/{id}/b` → `/a/sample/b`.
fn fill(template: &str) -> String {
    let mut out = String::new();
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let close = rest[open..].find('}').expect("closed template") + open;
        out.push_str("sample");
        rest = &rest[close + 1..];
    }
    out.push_str(rest);
    out
}

#[tokio::test]
async fn every_documented_path_is_palisades_and_near_misses_are_proxied() {
    let up = Upstream::start("catch-all").await;
    let gw = start_with(|_| {}, vec![route("/", &up)]).await;
    let http = client();
    let requests = documented_requests();
    assert!(requests.len() >= 50, "{} requests", requests.len());
    for (method, path) in &requests {
        let res = http
            .request(method.clone(), gw.url(path))
            .send()
            .await
            .unwrap();
        assert_ne!(
            res.headers()
                .get("content-type")
                .map(|v| v.to_str().unwrap()),
            Some("text/plain; charset=utf-8"),
            "{method} {path}"
        );
        assert_eq!(up.count(), 0, "{method} {path} reached the upstream");
    }
    for (n, near) in [
        "/v1/secretsX",
        "/v1/secrets-old",
        "/v1/transit",
        "/authx",
        "/auth",
        "/admin-panel",
        "/admin",
        "/adminx/users",
        "/.well-known/jwksX",
        "/.well-known/jwks.json.bak",
        "/healthzx",
        "/metrics/x",
        "/openapi.json",
    ]
    .into_iter()
    .enumerate()
    {
        let res = http.get(gw.url(near)).send().await.unwrap();
        assert_eq!(res.status(), 200, "{near}");
        assert_eq!(up.count(), n + 1, "{near} did not reach the upstream");
        assert_eq!(up.last().path_and_query, near);
    }
}

#[tokio::test]
async fn the_document_is_served_to_admin_api_readers_only() {
    let env = Env::start(|_| {}).await;
    let res = env
        .http
        .get(env.url("/admin/openapi.json"))
        .send()
        .await
        .unwrap();
    assert_problem(res, 401, "missing").await;
    let (_, member) = crate::authorization::signed_in(&env, "m@example.com", &["member"]).await;
    let res = env.get_with("/admin/openapi.json", &member).await;
    let body = assert_problem(res, 403, "forbidden").await;
    assert_eq!(body["permission"], "admin.api.read");
    let admin = env.admin("a@example.com").await;
    let res = env.get_with("/admin/openapi.json", &admin).await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "application/json");
    assert_eq!(res.text().await.unwrap(), document_json());
}

#[tokio::test]
async fn unknown_builtin_paths_methods_and_bad_path_parameters_are_problems() {
    let env = Env::start(|_| {}).await;
    let admin = env.admin("a@example.com").await;
    let res = env.get_with("/admin/no-such-thing", &admin).await;
    assert_problem(res, 404, "no-route").await;
    let res = env
        .http
        .patch(env.url("/admin/tenants"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_problem(res, 405, "method-not-allowed").await;
    // A path parameter that is not UTF-8 once decoded.
    let res = env
        .http
        .delete(env.url("/admin/tenants/%FF"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert!(res.status().is_client_error(), "{}", res.status());
    assert_eq!(res.headers()["content-type"], "application/problem+json");
}
