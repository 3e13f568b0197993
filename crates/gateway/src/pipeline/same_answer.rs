//! Two assemblies, one answer: the security tables of "No way around the gates" (every path
//! spelling of `palisade_core::path::spellings`, identity headers in any spelling, hosts,
//! built-in paths, methods, credentials) sent through the tower stack (library mode's shape)
//! and through the fast assembly the workers serve, over one state and a recording upstream;
//! every row must get the same status, problem type and rule, security, CORS and gate headers,
//! and the same request (path and header names) forwarded, if any. Run without and with CORS
//! (sanitize is on by default; `/boom` answers a revealing 500).

use crate::config::{Config, Environment};
use crate::request::{ConnInfo, Req, Res};
use crate::route::upstream::{Failed, Hop, Upstream};
use axum::body::Body;
use futures_util::future::BoxFuture;
use http::Request;
use http_body_util::BodyExt;
use palisade_core::clock::{ManualClock, SharedClock};
use palisade_core::jwt::AccessClaims;
use palisade_core::path::spellings::{ATTACKS, LEGIT, PROTECTED};
use std::sync::Arc;
use tower::ServiceExt;

/// Answers every forwarded request 200, saying what it received.
#[derive(Debug)]
struct Recorder;

impl Upstream for Recorder {
    fn send(&self, _hop: Hop, req: Request<Body>) -> BoxFuture<'static, Result<Res, Failed>> {
        let mut names: Vec<String> = req.headers().keys().map(|k| k.to_string()).collect();
        names.sort();
        let seen = format!("{} {}", req.uri().path(), names.join(","));
        let boom = req.uri().path().contains("/boom");
        Box::pin(async move {
            if boom {
                return Ok(http::Response::builder()
                    .status(500)
                    .body(Body::from("Traceback (most recent call last): secret"))
                    .expect("a valid response"));
            }
            Ok(http::Response::builder()
                .status(200)
                .header("x-seen", seen)
                .body(Body::from("{}"))
                .expect("a valid response"))
        })
    }
}

const CONFIG: &str = r#"
[store]
url = "memory:"

[server]
allowed_hosts = ["gw.test", "*.gw.test"]

[proxy]
strip_headers = ["X-Tenant-Id"]

[rate_limit]
enabled = true

# High enough that no row is refused for the rows before it: both assemblies share one state.
[rate_limit.rules.global]
limit = 100000
period = "1m"

[[routes]]
name = "admin"
prefix = "/api/admin/"
upstream = "http://127.0.0.1:9"
auth = "jwt"
roles = ["admin"]

[[routes]]
name = "api"
prefix = "/api/"
upstream = "http://127.0.0.1:9"
auth = "jwt"

[[routes]]
name = "post-only"
prefix = "/forms/"
upstream = "http://127.0.0.1:9"
methods = ["POST"]
auth = "none"
public = true
"#;

/// One request of a table row.
struct Row {
    method: &'static str,
    target: String,
    host: &'static str,
    headers: Vec<(String, String)>,
}

impl Row {
    fn get(target: impl Into<String>, headers: &[(&str, &str)]) -> Self {
        Self {
            method: "GET",
            target: target.into(),
            host: "gw.test",
            headers: headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    fn request(&self) -> Option<Req> {
        let mut b = Request::builder()
            .method(self.method)
            .uri(http::Uri::try_from(self.target.as_str()).ok()?)
            .header("host", self.host);
        for (k, v) in &self.headers {
            b = b.header(k.as_str(), v.as_str());
        }
        let mut req = b.body(Body::empty()).ok()?;
        req.extensions_mut()
            .insert(ConnInfo::new("192.0.2.7:40000".parse().unwrap(), false));
        Some(req)
    }
}

/// What must be the same: status, problem type and rule, gate and security headers, and
/// what the upstream saw.
#[derive(Debug, PartialEq)]
struct Answer {
    status: u16,
    problem: Option<String>,
    rule: Option<String>,
    headers: Vec<(String, Option<String>)>,
    has_request_id: bool,
}

async fn answer(res: Res) -> Answer {
    const COMPARED: &[&str] = &[
        "content-type",
        "www-authenticate",
        "retry-after",
        "x-ratelimit-limit",
        "x-frame-options",
        "x-content-type-options",
        "content-security-policy",
        "strict-transport-security",
        "allow",
        "access-control-allow-origin",
        "access-control-allow-methods",
        "vary",
        "x-seen",
    ];
    let headers = COMPARED
        .iter()
        .map(|h| {
            let v = res
                .headers()
                .get(*h)
                .map(|v| v.to_str().unwrap().to_owned());
            (h.to_string(), v)
        })
        .collect();
    let has_request_id = res.headers().contains_key("x-request-id")
        && res.headers().contains_key("x-ratelimit-remaining")
            == res.headers().contains_key("x-ratelimit-limit");
    let status = res.status().as_u16();
    let body = res.into_body().collect().await.unwrap().to_bytes();
    let json: Option<serde_json::Value> = serde_json::from_slice(&body).ok();
    let field = |name: &str| {
        json.as_ref()
            .and_then(|j| j[name].as_str())
            .map(str::to_owned)
    };
    Answer {
        status,
        problem: field("type"),
        rule: field("rule"),
        headers,
        has_request_id,
    }
}

fn token(state: &crate::state::AppState, roles: &[&str]) -> String {
    let tokens = state.identity.tokens();
    let now = state.clock.now_millis() / 1000;
    let claims = AccessClaims {
        sub: uuid::Uuid::now_v7().to_string(),
        uid: None,
        iss: tokens.issuer().to_string(),
        aud: tokens.audience().to_string(),
        exp: now + 600,
        iat: now,
        nbf: now,
        jti: uuid::Uuid::now_v7().to_string(),
        sid: uuid::Uuid::now_v7().to_string(),
        roles: roles.iter().map(|r| r.to_string()).collect(),
        tenants: Vec::new(),
        tier: None,
        dfp: None,
        amr: Vec::new(),
        acr: None,
        auth_time: None,
    };
    format!("Bearer {}", tokens.sign(&claims).unwrap())
}

fn rows(member: &str, admin: &str) -> Vec<Row> {
    let mut rows = Vec::new();
    let attacks = ATTACKS.iter().map(|(s, _)| s.to_string());
    let legit = LEGIT.iter().map(|(s, _)| format!("/api{s}"));
    for path in attacks.chain(legit).chain([PROTECTED.to_string()]) {
        for who in ["", member, admin] {
            let auth: &[(&str, &str)] = if who.is_empty() {
                &[]
            } else {
                &[("authorization", who)]
            };
            rows.push(Row::get(path.clone(), auth));
        }
    }
    // Identity headers in any spelling, and other names with `_`.
    for (name, value) in [
        ("X-User_Id", "1"),
        ("X_User_Id", "1"),
        ("x-user-id", "1"),
        ("X-Palisade_User", "admin"),
        ("X_PALISADE_ROLES", "owner"),
        ("X-Palisade-Tenant", "t1"),
        ("x-palisade_identity", "forged"),
        ("X-Tenant_Id", "t2"),
        ("X-Tenant-Id", "t3"),
        ("X-Custom_Flag", "1"),
    ] {
        rows.push(Row::get(
            "/api/things",
            &[("authorization", member), (name, value)],
        ));
    }
    // Hosts: allowed, a subdomain, a near miss, a stranger.
    for host in ["gw.test", "a.gw.test", "evilgw.test", "evil.test"] {
        rows.push(Row {
            host,
            ..Row::get("/api/things", &[("authorization", member)])
        });
    }
    // Built-in classification, methods, and credentials that do not hold.
    for (method, path, auth) in [
        ("GET", "/healthz", ""),
        ("GET", "/admin/users", member),
        ("GET", "/admin/users", admin),
        ("GET", "/auth/../admin/users", admin),
        ("GET", "/nowhere", member),
        ("GET", "/forms/x", ""),
        ("POST", "/forms/x", ""),
        ("DELETE", "/api/admin/users", admin),
        ("GET", "/api/things", "Bearer not.a.token"),
        ("GET", "/api/things", "Basic Zm9vOmJhcg=="),
    ] {
        let mut row = Row::get(path, &[]);
        row.method = method;
        if !auth.is_empty() {
            row.headers.push(("authorization".into(), auth.into()));
        }
        rows.push(row);
    }
    // CORS: a preflight, a simple request from an origin (allowed or not); sanitize: a
    // revealing upstream 500.
    for (method, origin) in [
        ("OPTIONS", "https://app.example"),
        ("OPTIONS", "https://evil.example"),
        ("GET", "https://app.example"),
        ("GET", "https://evil.example"),
    ] {
        let mut row = Row::get("/api/things", &[("origin", origin)]);
        row.method = method;
        if method == "OPTIONS" {
            row.headers
                .push(("access-control-request-method".into(), "GET".into()));
        } else {
            row.headers.push(("authorization".into(), member.into()));
        }
        rows.push(row);
    }
    rows.push(Row::get("/api/boom", &[("authorization", member)]));
    // Framing a client may not choose.
    rows.push(Row::get(
        "/api/things",
        &[
            ("authorization", member),
            ("transfer-encoding", "gzip, chunked"),
        ],
    ));
    rows
}

#[tokio::test]
async fn the_tower_stack_and_the_fast_assembly_answer_every_row_alike() {
    same_answers("").await;
}

#[tokio::test]
async fn with_cors_too() {
    same_answers("[cors]\nallowed_origins = [\"https://app.example\"]\n").await;
}

async fn same_answers(extra: &str) {
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::from_toml(&format!("{CONFIG}{extra}")).unwrap();
    config.server.data_dir = dir.path().into();
    let config = crate::server::prepare(config, Environment::Dev).unwrap();
    let clock: SharedClock = Arc::new(ManualClock::starting_at(1_800_000_000_000));
    let (state, gates) = crate::server::assemble(config, clock, 1).await.unwrap();
    let upstream: Arc<dyn Upstream> = Arc::new(Recorder);
    let tower = gates.service(&state, upstream.clone());
    let fast = gates.fast(&state, upstream);
    let (member, admin) = (token(&state, &["member"]), token(&state, &["admin"]));

    let mut compared = 0;
    let mut forwarded = 0;
    let mut refused = 0;
    for row in rows(&member, &admin) {
        let (Some(a), Some(b)) = (row.request(), row.request()) else {
            continue; // bytes no HTTP parser lets through
        };
        let Ok(via_tower) = tower.clone().oneshot(a).await;
        let via_tower = answer(via_tower).await;
        let via_fast = answer(fast.serve(b).await).await;
        assert_eq!(
            via_tower, via_fast,
            "{} {} (host {}, headers {:?})",
            row.method, row.target, row.host, row.headers
        );
        compared += 1;
        if via_fast
            .headers
            .iter()
            .any(|(h, v)| h == "x-seen" && v.is_some())
        {
            forwarded += 1;
        }
        if via_fast.status >= 400 {
            refused += 1;
        }
    }
    assert!(compared >= 300, "{compared} rows compared");
    // The table exercises both sides of the gates.
    assert!(
        forwarded >= 50 && refused >= 100,
        "{forwarded} forwarded, {refused} refused"
    );
}
