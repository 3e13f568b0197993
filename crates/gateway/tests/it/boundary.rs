//! Every refusal of the boundary gate, with its exact status and problem+json body.

use crate::common::*;
use palisade_gateway::config::RouteConfig;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[tokio::test]
async fn request_id_is_generated_kept_or_replaced_and_echoed() {
    let up = Upstream::start("a").await;
    let gw = start_with(|_| {}, vec![route("/api/", &up)]).await;
    let c = client();

    let res = c.get(gw.url("/api/x")).send().await.unwrap();
    let generated = res.headers()["x-request-id"].to_str().unwrap().to_string();
    assert_eq!(generated.len(), 36, "a UUID: {generated}");
    assert_eq!(
        up.last().header("x-request-id"),
        Some(generated.as_str()),
        "forwarded upstream"
    );

    let res = c
        .get(gw.url("/api/x"))
        .header("x-request-id", "trace-42.a:b")
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["x-request-id"], "trace-42.a:b");

    let res = c
        .get(gw.url("/api/x"))
        .header("x-request-id", "bad id <script>")
        .send()
        .await
        .unwrap();
    let replaced = res.headers()["x-request-id"].to_str().unwrap();
    assert_ne!(replaced, "bad id <script>");
    assert_eq!(replaced.len(), 36);
}

#[tokio::test]
async fn unknown_host_is_refused_with_400() {
    let up = Upstream::start("a").await;
    let gw = start_with(
        |c| c.server.allowed_hosts = vec!["api.example.com".into(), "*.example.org".into()],
        vec![route("/", &up)],
    )
    .await;
    let c = client();
    let res = c
        .get(gw.url("/x"))
        .header("host", "evil.test")
        .send()
        .await
        .unwrap();
    assert_problem(res, 400, "host-not-allowed").await;
    let res = c
        .get(gw.url("/x"))
        .header("host", "api.example.com:8080")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let res = c
        .get(gw.url("/x"))
        .header("host", "a.example.org")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(
        up.count(),
        2,
        "the refused request never reached the upstream"
    );
}

#[tokio::test]
async fn header_block_over_8kib_is_refused_with_431() {
    let up = Upstream::start("a").await;
    let gw = start_with(|_| {}, vec![route("/", &up)]).await;
    let c = client();
    let res = c
        .get(gw.url("/x"))
        .header("x-big", "a".repeat(9000))
        .send()
        .await
        .unwrap();
    assert_problem(res, 431, "header-too-large").await;
    let res = c
        .get(gw.url("/x"))
        .header("x-big", "a".repeat(7000))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(up.count(), 1);
}

#[tokio::test]
async fn declared_body_over_limit_is_refused_with_413_before_upstream() {
    let up = Upstream::start("a").await;
    let gw = start_with(
        |c| c.limits.max_body = palisade_gateway::config::units::ByteSize(1024),
        vec![route("/", &up)],
    )
    .await;
    let res = client()
        .post(gw.url("/upload"))
        .body(vec![b'x'; 2048])
        .send()
        .await
        .unwrap();
    assert_problem(res, 413, "body-too-large").await;
    assert_eq!(up.count(), 0);
    let res = client()
        .post(gw.url("/upload"))
        .body(vec![b'x'; 1024])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
}

#[tokio::test]
async fn streamed_chunked_body_over_limit_is_cut_off_with_413() {
    let up = Upstream::start("a").await;
    let gw = start_with(
        |c| c.limits.max_body = palisade_gateway::config::units::ByteSize(64 * 1024),
        vec![route("/", &up)],
    )
    .await;
    // Raw chunked upload, reading between chunks: the gateway answers as soon as the limit is
    // crossed, and a client that kept writing into the closed connection could lose the answer
    // to the resulting reset.
    let mut s = tokio::net::TcpStream::connect(gw.gateway.addr)
        .await
        .unwrap();
    s.write_all(b"POST /upload HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n")
        .await
        .unwrap();
    let chunk = [b"1000\r\n".as_slice(), &[b'x'; 4096], b"\r\n"].concat();
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    let (mut rd, mut wr) = s.split();
    for _ in 0..64 {
        tokio::select! {
            biased;
            n = rd.read(&mut buf) => {
                answer.extend_from_slice(&buf[..n.unwrap_or(0)]);
                break;
            }
            w = wr.write_all(&chunk) => if w.is_err() { break },
        }
    }
    while find(&answer, b"}").is_none() {
        match rd.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => answer.extend_from_slice(&buf[..n]),
        }
    }
    let raw = String::from_utf8_lossy(&answer);
    assert!(raw.starts_with("HTTP/1.1 413"), "{raw}");
    assert!(
        raw.contains("application/problem+json")
            && raw.contains("urn:palisade:problem:body-too-large"),
        "{raw}"
    );
    assert!(raw.to_ascii_lowercase().contains("x-request-id:"), "{raw}");
    assert!(
        up.seen
            .lock()
            .unwrap()
            .iter()
            .all(|s| s.body_len <= 64 * 1024),
        "upstream never got more than the limit"
    );
}

#[tokio::test]
async fn per_route_body_limit_overrides_the_global_one() {
    let up = Upstream::start("a").await;
    let small = RouteConfig {
        max_body: Some(palisade_gateway::config::units::ByteSize(10)),
        ..route("/small/", &up)
    };
    let gw = start_with(|_| {}, vec![small, route("/", &up)]).await;
    let res = client()
        .post(gw.url("/small/x"))
        .body("01234567890")
        .send()
        .await
        .unwrap();
    assert_problem(res, 413, "body-too-large").await;
    let res = client()
        .post(gw.url("/big/x"))
        .body("01234567890")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
}

#[tokio::test]
async fn slow_body_gets_408() {
    let up = Upstream::start("a").await;
    let gw = start_with(
        |c| {
            c.limits.request_timeout = palisade_gateway::config::units::HumanDuration(
                std::time::Duration::from_millis(300),
            )
        },
        vec![route("/", &up)],
    )
    .await;
    let mut s = tokio::net::TcpStream::connect(gw.gateway.addr)
        .await
        .unwrap();
    s.write_all(b"POST /x HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\nonly-part")
        .await
        .unwrap();
    // The body never completes; the gateway's own deadline ends the request.
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    while let Ok(n) = s.read(&mut buf).await {
        if n == 0 {
            break;
        }
        out.extend_from_slice(&buf[..n]);
        if find(&out, b"}").is_some() {
            break;
        }
    }
    let raw = String::from_utf8_lossy(&out);
    assert!(raw.starts_with("HTTP/1.1 408"), "{raw}");
    assert!(
        raw.contains("application/problem+json") && raw.contains("request-timeout"),
        "{raw}"
    );
}

#[tokio::test]
async fn slow_upstream_within_request_deadline_gets_504() {
    let up = Upstream::start("a").await;
    let gw = start_with(
        |c| {
            c.proxy.response_timeout = palisade_gateway::config::units::HumanDuration(
                std::time::Duration::from_millis(200),
            )
        },
        vec![route("/", &up)],
    )
    .await;
    let res = client().get(gw.url("/hang")).send().await.unwrap();
    assert_problem(res, 504, "response-timeout").await;
}

#[tokio::test]
async fn unreachable_upstream_gets_502_without_internals() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let rc = RouteConfig {
        prefix: "/".into(),
        upstream: Some(format!("http://{closed}")),
        ..Default::default()
    };
    let gw = start_with(|_| {}, vec![rc]).await;
    let res = client().get(gw.url("/x")).send().await.unwrap();
    let body = assert_problem(res, 502, "connect-failed").await;
    assert!(
        !body.to_string().contains(&closed.port().to_string()),
        "no upstream address leaks: {body}"
    );
}

#[tokio::test]
async fn unknown_path_is_404_and_wrong_method_405() {
    let up = Upstream::start("a").await;
    let get_only = RouteConfig {
        methods: vec!["GET".into()],
        ..route("/api/", &up)
    };
    let gw = start_with(|_| {}, vec![get_only]).await;
    assert_problem(
        client().get(gw.url("/elsewhere")).send().await.unwrap(),
        404,
        "no-route",
    )
    .await;
    assert_problem(
        client().delete(gw.url("/api/x")).send().await.unwrap(),
        405,
        "method-not-allowed",
    )
    .await;
    assert_eq!(
        client()
            .get(gw.url("/api/x"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
}

#[tokio::test]
async fn malformed_request_is_a_clean_400() {
    let up = Upstream::start("a").await;
    let gw = start_with(|_| {}, vec![route("/", &up)]).await;
    let raw = raw_exchange(
        gw.gateway.addr,
        b"GET /x HTTP/1.1\r\nHost: t\r\nContent-Length: abc\r\n\r\n",
    )
    .await;
    assert!(raw.starts_with("HTTP/1.1 400"), "{raw}");
    assert_eq!(up.count(), 0);
}

#[tokio::test]
async fn metrics_are_restricted_to_configured_cidrs() {
    let up = Upstream::start("a").await;
    let gw = start_with(
        |c| c.ops.metrics_allow = vec!["10.0.0.0/8".parse().unwrap()],
        vec![route("/", &up)],
    )
    .await;
    assert_problem(
        client().get(gw.url("/metrics")).send().await.unwrap(),
        403,
        "metrics-forbidden",
    )
    .await;

    let open = start_with(|_| {}, vec![route("/", &up)]).await;
    let refused = client()
        .get(open.url("/x"))
        .header("x-big", "a".repeat(9000))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 431);
    let res = client().get(open.url("/metrics")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let text = res.text().await.unwrap();
    for metric in [
        "palisade_requests_total{",
        "palisade_request_duration_seconds_bucket{",
        "palisade_refusals_total{gate=\"boundary\"",
    ] {
        assert!(text.contains(metric), "{metric} missing from:\n{text}");
    }
}

#[tokio::test]
async fn health_and_readiness() {
    let gw = start_with(|_| {}, vec![]).await;
    let res = client().get(gw.url("/healthz")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.headers()["content-security-policy"],
        palisade_gateway::layers::respond::PALISADE_CSP
    );
    let ready: serde_json::Value = client()
        .get(gw.url("/readyz"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ready["status"], "ready");
}
