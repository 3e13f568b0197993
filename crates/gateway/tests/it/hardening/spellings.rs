//! At least 100 spellings of a protected path and 30 legitimate ones (the shared tables of
//! `palisade_core::path::spellings`), each sent as raw bytes over HTTP/1, over HTTP/2, to
//! `/auth/verify` and through the nginx `auth_request` example: each is refused, or forwarded in
//! exactly its canonical form, and a member never reaches the admin resource.

use super::{answer, member_and_admin, raw_get};
use crate::identity::Env;
use palisade_core::path::prefix_matches;
use palisade_core::path::spellings::{ATTACKS, Expected, LEGIT};

/// What a member's request must come to.
#[derive(Debug, PartialEq)]
enum Want {
    /// 400 `ambiguous-path` naming this rule (or the HTTP parser's own 400 for bytes that are not
    /// HTTP at all), nothing forwarded.
    Refused(&'static str),
    /// The admin route's policy applies: 403 for a member, forwarded as this path for an admin.
    AdminResource(&'static str),
    /// Forwarded to the upstream as exactly this path.
    Forwarded(&'static str),
    /// Not under `/api/`: Palisade's own endpoint or no route; nothing forwarded.
    Elsewhere,
    /// An absolute-form target: refused when its authority is not the `Host`, else its path is
    /// the request (`AdminResource` or `Forwarded`).
    AbsoluteForm(Box<Want>),
}

fn want(expected: Expected) -> Want {
    match expected {
        Expected::Refused(rule) => Want::Refused(rule),
        Expected::Forwarded(p) if prefix_matches("/api/admin/", p, false) => Want::AdminResource(p),
        Expected::Forwarded(p) if prefix_matches("/api/", p, false) => Want::Forwarded(p),
        Expected::Forwarded(_) => Want::Elsewhere,
    }
}

/// Bytes no HTTP/1 request line or header may carry (the parser refuses them before Palisade).
fn not_http_text(s: &str) -> bool {
    s.bytes().any(|b| b <= b' ' || b >= 0x7f)
}

/// What the HTTP parser refuses before Palisade sees it: bytes that are not HTTP text, targets
/// in no request-target form, and characters the `http` crate's URI parser refuses.
fn parser_refuses(s: &str) -> bool {
    not_http_text(s)
        || !(s.starts_with('/') || s.starts_with("http://"))
        || http::Uri::try_from(s).is_err()
}

fn cases() -> Vec<(&'static str, Want)> {
    let mut all: Vec<(&'static str, Want)> = ATTACKS
        .iter()
        .map(|(s, e)| {
            if let Some(rest) = s.strip_prefix("http://") {
                let path = &rest[rest.find('/').unwrap_or(rest.len())..];
                return (
                    *s,
                    Want::AbsoluteForm(Box::new(want(Expected::Forwarded(path)))),
                );
            }
            match s.split_once('#') {
                // A fragment never reaches a server: the request is what comes before `#`.
                Some((before, _)) => (*s, want(Expected::Forwarded(before))),
                None => (*s, want(*e)),
            }
        })
        .collect();
    assert!(all.len() >= 100, "at least 100 attack spellings");
    assert!(LEGIT.len() >= 30, "at least 30 legitimate spellings");
    all.extend(LEGIT.iter().map(|(s, canonical)| {
        // Legitimate spellings live under /api/ here so that the route forwards them.
        let sent: &'static str = Box::leak(format!("/api{s}").into_boxed_str());
        let canon: &'static str = Box::leak(format!("/api{canonical}").into_boxed_str());
        (sent, want(Expected::Forwarded(canon)))
    }));
    all
}

/// Checks one answer against what was wanted; `forwarded` is what the upstream saw, if anything.
fn check(
    via: &str,
    spelling: &str,
    want: &Want,
    admin: bool,
    (status, slug, rule): (u16, Option<String>, Option<String>),
    forwarded: Option<String>,
) {
    let at = format!(
        "{via}: {spelling:?} as {}",
        if admin { "admin" } else { "member" }
    );
    if let Want::AbsoluteForm(path_want) = want {
        if status == 400 {
            assert_eq!(forwarded, None, "{at}: refused, nothing forwarded");
            return;
        }
        return check(
            via,
            spelling,
            path_want,
            admin,
            (status, slug, rule),
            forwarded,
        );
    }
    match want {
        Want::Refused(expected_rule) => {
            assert_eq!(status, 400, "{at}: refused");
            assert_eq!(forwarded, None, "{at}: nothing forwarded");
            match slug.as_deref() {
                Some("ambiguous-path") => assert_eq!(rule.as_deref(), Some(*expected_rule), "{at}"),
                None => assert!(
                    parser_refuses(spelling),
                    "{at}: only the parser may refuse without a problem"
                ),
                Some(other) => panic!("{at}: refused as {other}"),
            }
        }
        Want::AdminResource(path) if !admin => {
            assert_eq!((status, slug.as_deref()), (403, Some("forbidden")), "{at}");
            assert_eq!(forwarded, None, "{at}: nothing forwarded");
            let _ = path;
        }
        Want::AdminResource(path) | Want::Forwarded(path) => {
            if status == 400 && slug.is_none() && parser_refuses(spelling) {
                assert_eq!(forwarded, None, "{at}");
                return;
            }
            assert_eq!(status, 200, "{at}");
            assert_eq!(
                forwarded.as_deref(),
                Some(*path),
                "{at}: forwarded in canonical form"
            );
        }
        Want::Elsewhere => {
            assert_ne!(status, 200, "{at}");
            assert_eq!(forwarded, None, "{at}: nothing forwarded");
        }
        Want::AbsoluteForm(_) => unreachable!("handled above"),
    }
}

/// What the upstream saw since `before` requests (its path), if it saw one.
fn forwarded_since(env: &Env, before: usize) -> Option<String> {
    (env.up.count() > before).then(|| env.up.last().path_and_query)
}

#[tokio::test]
async fn every_spelling_over_http1_is_refused_or_forwarded_canonically() {
    let (env, member, admin) = member_and_admin(|_| {}).await;
    let addr = env.gw.gateway.addr;
    for (spelling, want) in cases() {
        for (is_admin, token) in [(false, &member), (true, &admin)] {
            let before = env.up.count();
            let auth = format!("Bearer {token}");
            let raw = raw_get(addr, spelling.as_bytes(), &[("Authorization", &auth)]).await;
            check(
                "HTTP/1",
                spelling,
                &want,
                is_admin,
                answer(&raw),
                forwarded_since(&env, before),
            );
        }
    }
}

#[tokio::test]
async fn every_spelling_over_http2_is_refused_or_forwarded_canonically() {
    use http_body_util::BodyExt;
    let (env, member, admin) = member_and_admin(|_| {}).await;
    let stream = tokio::net::TcpStream::connect(env.gw.gateway.addr)
        .await
        .unwrap();
    let (mut sender, conn) = hyper::client::conn::http2::handshake(
        hyper_util::rt::TokioExecutor::new(),
        hyper_util::rt::TokioIo::new(stream),
    )
    .await
    .unwrap();
    tokio::spawn(conn);
    let mut sent = 0;
    for (spelling, want) in cases() {
        // The client library refuses to put some bytes in `:path` at all.
        // The client library refuses some bytes in `:path` and drops a fragment: only
        // spellings it sends as they are count.
        let pq = match http::uri::PathAndQuery::try_from(spelling) {
            Ok(pq) if pq.as_str() == spelling => pq,
            _ => continue,
        };
        sent += 1;
        for (is_admin, token) in [(false, &member), (true, &admin)] {
            let uri = http::Uri::builder()
                .scheme("http")
                .authority("gw.test")
                .path_and_query(pq.clone())
                .build()
                .unwrap();
            let req = http::Request::get(uri)
                .header("authorization", format!("Bearer {token}"))
                .body(http_body_util::Empty::<bytes::Bytes>::new())
                .unwrap();
            let before = env.up.count();
            sender.ready().await.unwrap();
            let res = sender.send_request(req).await.unwrap();
            let status = res.status().as_u16();
            let body = res.into_body().collect().await.unwrap().to_bytes();
            let raw = format!(
                "HTTP/2 {status} x\r\n\r\n{}",
                String::from_utf8_lossy(&body)
            );
            check(
                "HTTP/2",
                spelling,
                &want,
                is_admin,
                answer(&raw),
                forwarded_since(&env, before),
            );
        }
    }
    assert!(sent >= 100, "{sent} spellings went over HTTP/2");
}

#[tokio::test]
async fn forward_auth_allows_only_canonical_spellings_under_the_right_policy() {
    let (env, member, admin) = member_and_admin(|_| {}).await;
    let mut asked = 0;
    for (spelling, want) in cases() {
        let Ok(value) = http::HeaderValue::from_bytes(spelling.as_bytes()) else {
            continue;
        };
        asked += 1;
        for (is_admin, token) in [(false, &member), (true, &admin)] {
            let res = env
                .http
                .get(env.url("/auth/verify"))
                .bearer_auth(token)
                .header("x-original-method", "GET")
                .header("x-original-uri", value.clone())
                .header("x-forwarded-host", "gw.test")
                .send()
                .await
                .unwrap();
            let status = res.status().as_u16();
            let body: serde_json::Value = res.json().await.unwrap_or_default();
            let slug = body["type"]
                .as_str()
                .map(|t| t.rsplit([':', '/']).next().unwrap().to_string());
            let at = format!("verify {spelling:?} admin={is_admin}");
            let canonical_as_sent = match &want {
                Want::Forwarded(p) | Want::AdminResource(p) => *p == spelling,
                _ => false,
            };
            if !canonical_as_sent {
                // The proxy would forward this raw spelling: never allowed.
                assert_ne!(status, 200, "{at}");
                if !not_http_text(spelling) && !matches!(want, Want::Elsewhere) {
                    assert_eq!(
                        (status, slug.as_deref()),
                        (403, Some("ambiguous-path")),
                        "{at}"
                    );
                }
                continue;
            }
            match &want {
                Want::AdminResource(_) if !is_admin => {
                    assert_eq!((status, slug.as_deref()), (403, Some("forbidden")), "{at}")
                }
                _ => assert_eq!(status, 200, "{at}"),
            }
        }
    }
    assert!(asked >= 100, "{asked} spellings asked about");
}

#[tokio::test]
async fn through_nginx_auth_request_no_spelling_reaches_the_admin_resource() {
    let (env, member, admin) = member_and_admin(|_| {}).await;
    let dir = tempfile::tempdir().unwrap();
    let (_nginx, port) = crate::forward_nginx::start_nginx(
        dir.path(),
        &env.gw.gateway.addr.to_string(),
        &env.up.addr.to_string(),
    );
    let nginx: std::net::SocketAddr = ([127, 0, 0, 1], port).into();
    for (spelling, want) in cases() {
        for (is_admin, token) in [(false, &member), (true, &admin)] {
            let before = env.up.count();
            let auth = format!("Bearer {token}");
            let raw = raw_get(nginx, spelling.as_bytes(), &[("Authorization", &auth)]).await;
            let (status, _, _) = answer(&raw);
            let forwarded = forwarded_since(&env, before);
            let at = format!("nginx {spelling:?} admin={is_admin}: {status}");
            if status == 200 {
                // What nginx forwarded (its own spelling) must be the canonical path Palisade
                // authorized, and a member's never the admin resource.
                let seen = forwarded.expect("a 200 came from the upstream");
                let policy = Default::default();
                assert_eq!(
                    palisade_core::path::canonicalize(&seen, &policy).as_deref(),
                    Ok(seen.as_str()),
                    "{at}: forwarded a non-canonical spelling"
                );
                assert!(
                    is_admin || !prefix_matches("/api/admin/", &seen, false),
                    "{at}: a member reached the admin resource as {seen:?}"
                );
                if let Want::Forwarded(p) | Want::AdminResource(p) = &want {
                    assert_eq!(*p, seen, "{at}");
                }
            } else {
                assert_eq!(forwarded, None, "{at}: refused, nothing forwarded");
                if let Want::Forwarded(p) | Want::AdminResource(p) = &want
                    && *p == spelling
                    && (is_admin || matches!(want, Want::Forwarded(_)))
                {
                    panic!("{at}: a canonical request was refused");
                }
            }
        }
    }
}
