//! The `inspect` gate and the firewall's CIDR lists through a running gateway: block vs detect
//! mode, 413 over the inspection limit, duplicate JSON keys, a non-UTF-8 charset, a compressed
//! body, exclusions per route and per parameter, the `inspect.injection_attempt` record (with
//! a redacted excerpt; the problem body names the location and never the value), deny and allow
//! lists, and an allow-listed address that skips the content rules but not authorization.

use crate::common::*;
use palisade_core::policy::AuthRequirement;
use palisade_gateway::config::RouteConfig;
use palisade_gateway::config::inspect::{InspectMode, RouteFirewall, RouteInspect};
use palisade_gateway::config::units::ByteSize;
use std::collections::BTreeMap;

const SQLI: &str = "1' OR '1'='1' --";

fn inspected(prefix: &str, up: &Upstream, edit: impl FnOnce(&mut RouteInspect)) -> RouteConfig {
    let mut i = RouteInspect::default();
    edit(&mut i);
    RouteConfig {
        inspect: Some(i),
        ..route(prefix, up)
    }
}

async fn gateway(up: &Upstream) -> TestGateway {
    let local: ipnet::IpNet = "127.0.0.0/8".parse().unwrap();
    let routes = vec![
        inspected("/block", up, |_| {}),
        inspected("/detect", up, |i| i.mode = Some(InspectMode::Detect)),
        inspected("/small", up, |i| i.max_body = Some(ByteSize(1024))),
        inspected("/small-detect", up, |i| {
            i.max_body = Some(ByteSize(1024));
            i.mode = Some(InspectMode::Detect);
        }),
        inspected("/excl", up, |i| {
            i.exclude = vec!["cmdi".into()];
            i.exclude_params = BTreeMap::from([("snippet".to_string(), vec!["all".to_string()])]);
        }),
        RouteConfig {
            firewall: RouteFirewall {
                skip_inspection: vec![local],
                ..Default::default()
            },
            ..inspected("/trusted", up, |_| {})
        },
        RouteConfig {
            auth: Some(AuthRequirement::Any),
            firewall: RouteFirewall {
                skip_inspection: vec![local],
                ..Default::default()
            },
            ..inspected("/private", up, |_| {})
        },
        RouteConfig {
            firewall: RouteFirewall {
                deny: vec![local],
                ..Default::default()
            },
            ..route("/denied", up)
        },
        RouteConfig {
            firewall: RouteFirewall {
                allow: vec!["10.0.0.0/8".parse().unwrap()],
                ..Default::default()
            },
            ..route("/allow-only", up)
        },
        route("/plain", up),
    ];
    start_with(|_| {}, routes).await
}

/// `path?name=value`, the value percent-encoded.
fn q(path: &str, name: &str, value: &str) -> String {
    let enc: String = value
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    format!("{path}?{name}={enc}")
}

pub(crate) async fn records(gw: &TestGateway) -> Vec<palisade_core::audit::AuditRecord> {
    gw.gateway.state.audit.flush_refusals(true);
    if let Some(trail) = gw.gateway.state.audit.trail() {
        trail.flush().await;
    }
    gw.gateway
        .state
        .store
        .audit_range(0, 1_000_000)
        .await
        .unwrap()
}

#[tokio::test]
async fn block_mode_refuses_naming_the_location_and_records_a_redacted_excerpt() {
    let up = Upstream::start("inspect-block").await;
    let gw = gateway(&up).await;
    let c = client();
    // Benign values pass, in the query and in a JSON body.
    let res = c
        .get(gw.url("/block/items?name=O%27Brien&q=rock+%27n%27+roll"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let res = c
        .post(gw.url("/block/items"))
        .header("content-type", "application/json")
        .body(r#"{"note":"It's 6'2\" tall, and we're \"happy\"","n":[1,2,{"a":"b"}]}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let before = up.count();
    // SQL injection in a query parameter.
    let res = c
        .get(gw.url(&q("/block/items", "id", SQLI)))
        .send()
        .await
        .unwrap();
    let body = assert_problem(res, 403, "injection").await;
    assert_eq!(body["location"], "query \"id\"");
    assert!(
        !body.to_string().contains("OR '1'"),
        "the payload is never echoed: {body}"
    );
    // XSS in a JSON body, hidden behind \u escapes.
    let res = c
        .post(gw.url("/block/items"))
        .header("content-type", "application/json")
        .body(r#"{"profile":{"bio":"\u003cscript\u003ealert(1)\u003c/script\u003e"}}"#)
        .send()
        .await
        .unwrap();
    let body = assert_problem(res, 403, "injection").await;
    assert_eq!(body["location"], "json \"bio\"");
    // Traversal in a form field, command injection in a cookie, CRLF in a selected header.
    let res = c
        .post(gw.url("/block/items"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("file=..%2F..%2F..%2Fetc%2Fpasswd")
        .send()
        .await
        .unwrap();
    assert_eq!(
        assert_problem(res, 403, "injection").await["location"],
        "form \"file\""
    );
    let res = c
        .get(gw.url("/block/items"))
        .header("cookie", "theme=dark; x=a%3B%20cat%20%2Fetc%2Fpasswd")
        .send()
        .await
        .unwrap();
    assert_eq!(
        assert_problem(res, 403, "injection").await["location"],
        "cookie \"x\""
    );
    // A multipart text field.
    let form = "--XyZ\r\ncontent-disposition: form-data; name=\"title\"\r\n\r\nHello\r\n--XyZ\r\n\
                content-disposition: form-data; name=\"comment\"\r\n\r\n<img src=x onerror=alert(1)>\r\n--XyZ--\r\n";
    let res = c
        .post(gw.url("/block/items"))
        .header("content-type", "multipart/form-data; boundary=XyZ")
        .body(form)
        .send()
        .await
        .unwrap();
    assert_eq!(
        assert_problem(res, 403, "injection").await["location"],
        "multipart \"comment\""
    );
    assert_eq!(
        up.count(),
        before,
        "no refused request reached the upstream"
    );

    let recs = records(&gw).await;
    let ev: Vec<_> = recs
        .iter()
        .filter(|r| r.event_type == "inspect.injection_attempt")
        .collect();
    // Sampled per caller and reason; the samples' counts add up to the refusals.
    let counted: u64 = ev
        .iter()
        .map(|r| r.details["count"].as_u64().unwrap_or(1))
        .sum();
    assert_eq!(counted, 5, "{ev:?}");
    let sqli = ev[0];
    assert_eq!(sqli.details["detector"], "sqli");
    assert_eq!(sqli.details["location"], "query \"id\"");
    assert_eq!(sqli.details["reason"], "blocked");
    assert_eq!(sqli.details["excerpt"], "0' aa '0'='0' --");
    assert!(
        !serde_json::to_string(&sqli.details).unwrap().contains("OR"),
        "no payload on record"
    );
}

#[tokio::test]
async fn detect_mode_passes_and_records() {
    let up = Upstream::start("inspect-detect").await;
    let gw = gateway(&up).await;
    let res = client()
        .get(gw.url(&q("/detect/items", "id", SQLI)))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(up.count(), 1);
    // A body over the inspection limit in detect mode passes whole.
    let big = format!("{{\"a\":\"{}\"}}", "x".repeat(4000));
    let res = client()
        .post(gw.url("/small-detect/items"))
        .header("content-type", "application/json")
        .body(big.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let seen = up.last();
    assert_eq!(seen.body_len, big.len(), "the upstream got the whole body");
    let recs = records(&gw).await;
    let ev = recs
        .iter()
        .find(|r| r.event_type == "inspect.injection_attempt")
        .expect("recorded");
    assert_eq!(ev.details["reason"], "detected");
    assert_eq!(ev.details["mode"], "detect");
}

#[tokio::test]
async fn bodies_that_cannot_be_inspected_are_refused() {
    let up = Upstream::start("inspect-bodies").await;
    let gw = gateway(&up).await;
    let c = client();
    let json = |path: &str| {
        c.post(gw.url(path))
            .header("content-type", "application/json")
    };
    // Over the route's inspection limit: 413, by Content-Length and chunked alike.
    let big = format!("{{\"a\":\"{}\"}}", "x".repeat(4000));
    assert_problem(
        json("/small/x").body(big.clone()).send().await.unwrap(),
        413,
        "body-too-large",
    )
    .await;
    let chunks = futures_util::stream::iter(vec![Ok::<_, std::io::Error>(big.clone())]);
    let res = json("/small/x")
        .body(reqwest::Body::wrap_stream(chunks))
        .send()
        .await
        .unwrap();
    assert_problem(res, 413, "body-too-large").await;
    // Duplicate keys, a charset other than UTF-8, a compressed body, too deep.
    let res = json("/block/x")
        .body(r#"{"role":"user","role":"admin"}"#)
        .send()
        .await
        .unwrap();
    assert_problem(res, 400, "duplicate-json-key").await;
    let res = c
        .post(gw.url("/block/x"))
        .header("content-type", "application/json; charset=iso-8859-1")
        .body(r#"{"a":"b"}"#)
        .send()
        .await
        .unwrap();
    assert_problem(res, 415, "charset-not-utf8").await;
    let res = json("/block/x")
        .header("content-encoding", "gzip")
        .body(vec![0x1f, 0x8b, 8, 0])
        .send()
        .await
        .unwrap();
    assert_problem(res, 415, "compressed-body").await;
    let deep = format!("{}1{}", "[".repeat(40), "]".repeat(40));
    assert_problem(
        json("/block/x").body(deep).send().await.unwrap(),
        400,
        "body-too-deep",
    )
    .await;
    assert_eq!(up.count(), 0);
    let recs = records(&gw).await;
    assert!(
        recs.iter()
            .any(|r| r.event_type == "inspect.refused"
                && r.details["reason"] == "duplicate-json-key")
    );
    // A route without inspection takes all of these.
    let res = c
        .post(gw.url("/plain/x"))
        .header("content-encoding", "gzip")
        .body(vec![0x1f, 0x8b, 8, 0])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
}

#[tokio::test]
async fn exclusions_per_route_and_per_parameter() {
    let up = Upstream::start("inspect-excl").await;
    let gw = gateway(&up).await;
    let c = client();
    // `snippet` is excluded from every detector on /excl, `cmdi` from every parameter.
    let res = c
        .get(gw.url(&q("/excl/x", "snippet", "<script>alert(1)</script>")))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let res = c
        .get(gw.url(&q("/excl/x", "q", "a; whoami")))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    // Other parameters and detectors still apply there; elsewhere nothing is excluded.
    let res = c
        .get(gw.url(&q("/excl/x", "q", "<script>alert(1)</script>")))
        .send()
        .await
        .unwrap();
    assert_problem(res, 403, "injection").await;
    let res = c
        .get(gw.url(&q("/block/x", "snippet", "<script>alert(1)</script>")))
        .send()
        .await
        .unwrap();
    assert_problem(res, 403, "injection").await;
}

#[tokio::test]
async fn firewall_lists_and_an_allow_listed_address_skipping_content_rules_only() {
    let up = Upstream::start("inspect-firewall").await;
    let gw = gateway(&up).await;
    let c = client();
    assert_problem(
        c.get(gw.url("/denied/x")).send().await.unwrap(),
        403,
        "ip-denied",
    )
    .await;
    assert_problem(
        c.get(gw.url("/allow-only/x")).send().await.unwrap(),
        403,
        "ip-not-allowed",
    )
    .await;
    // 127.0.0.1 skips inspection on /trusted…
    let res = c
        .get(gw.url(&q("/trusted/x", "id", SQLI)))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    // …but not authorization on /private: no credential is still 401.
    let res = c
        .get(gw.url(&q("/private/x", "id", SQLI)))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    assert_eq!(up.count(), 1);
    let recs = records(&gw).await;
    let reasons: Vec<_> = recs
        .iter()
        .filter(|r| r.event_type == "firewall.refused")
        .map(|r| r.details["reason"].as_str().unwrap().to_owned())
        .collect();
    assert!(
        reasons.contains(&"ip-denied".to_owned()) && reasons.contains(&"ip-not-allowed".to_owned()),
        "{reasons:?}"
    );
}
