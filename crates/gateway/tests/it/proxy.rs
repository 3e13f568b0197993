//! What crosses the proxy, in both directions.

use crate::common::*;
use palisade_gateway::config::RouteConfig;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[tokio::test]
async fn spoofed_identity_headers_never_reach_the_upstream() {
    let up = Upstream::start("a").await;
    let gw = start_with(
        |c| c.proxy.strip_headers = vec!["X-Internal-Role".into()],
        vec![route("/", &up)],
    )
    .await;
    client()
        .get(gw.url("/x"))
        .header("x-user-id", "admin")
        .header("X-Palisade-User", "root")
        .header("x-palisade-roles", "owner")
        .header("x-internal-role", "superuser")
        .header("x-harmless", "kept")
        .send()
        .await
        .unwrap();
    let seen = up.last();
    for spoofed in [
        "x-user-id",
        "x-palisade-user",
        "x-palisade-roles",
        "x-internal-role",
    ] {
        assert!(
            seen.header(spoofed).is_none(),
            "{spoofed} reached the upstream: {seen:?}"
        );
    }
    assert_eq!(seen.header("x-harmless"), Some("kept"));
}

#[tokio::test]
async fn forwarded_for_from_an_untrusted_peer_is_ignored() {
    let up = Upstream::start("a").await;
    let gw = start_with(|_| {}, vec![route("/", &up)]).await;
    client()
        .get(gw.url("/x"))
        .header("x-forwarded-for", "6.6.6.6")
        .send()
        .await
        .unwrap();
    let seen = up.last();
    assert_eq!(
        seen.header("x-forwarded-for"),
        Some("127.0.0.1"),
        "{seen:?}"
    );
    assert_eq!(seen.header("x-forwarded-proto"), Some("http"));
    assert!(
        seen.header("x-forwarded-host")
            .is_some_and(|h| h.starts_with("127.0.0.1:"))
    );
}

#[tokio::test]
async fn forwarded_for_through_a_trusted_proxy_is_walked() {
    let up = Upstream::start("a").await;
    let gw = start_with(
        |c| {
            c.server.trusted_proxies = vec!["127.0.0.0/8".parse().unwrap()];
            c.log.access = false;
        },
        vec![route("/", &up)],
    )
    .await;
    client()
        .get(gw.url("/x"))
        .header("x-forwarded-for", "198.51.100.7")
        .send()
        .await
        .unwrap();
    assert_eq!(
        up.last().header("x-forwarded-for"),
        Some("198.51.100.7, 127.0.0.1")
    );
}

#[tokio::test]
async fn hop_by_hop_headers_are_removed_both_ways() {
    let up = Upstream::start("a").await;
    let gw = start_with(|_| {}, vec![route("/", &up)]).await;
    let raw = raw_exchange(
        gw.gateway.addr,
        b"GET /x HTTP/1.1\r\nHost: t\r\nConnection: close, x-secret-hop\r\nX-Secret-Hop: 1\r\nKeep-Alive: timeout=5\r\nTE: trailers\r\nProxy-Authorization: Basic Zm9vOmJhcg==\r\n\r\n",
    )
    .await;
    assert!(raw.starts_with("HTTP/1.1 200"), "{raw}");
    let seen = up.last();
    for hop in ["x-secret-hop", "keep-alive", "te", "proxy-authorization"] {
        assert!(seen.header(hop).is_none(), "{hop} crossed: {seen:?}");
    }
    assert!(
        !raw.to_ascii_lowercase().contains("connection: keep-alive"),
        "upstream's Connection header must not come back: {raw}"
    );
    assert!(raw.contains("x-upstream: a"));
}

#[tokio::test]
async fn longest_prefix_wins_and_round_robin_spreads() {
    let a = Upstream::start("a").await;
    let b = Upstream::start("b").await;
    let c = Upstream::start("c").await;
    let both = RouteConfig {
        prefix: "/api/".into(),
        upstreams: vec![a.url(), b.url()],
        ..Default::default()
    };
    let gw = start_with(|_| {}, vec![both, route("/api/special/", &c)]).await;
    let mut names = Vec::new();
    for _ in 0..4 {
        let res = client().get(gw.url("/api/x?q=1")).send().await.unwrap();
        names.push(res.headers()["x-upstream"].to_str().unwrap().to_string());
    }
    names.sort();
    assert_eq!(names, ["a", "a", "b", "b"]);
    assert_eq!(a.last().path_and_query, "/api/x?q=1");
    let res = client().get(gw.url("/api/special/y")).send().await.unwrap();
    assert_eq!(res.headers()["x-upstream"], "c");
}

#[tokio::test]
async fn upstream_protocol_chooses_http1_with_the_upstreams_host_or_h2c() {
    let up = Upstream::start("a").await;
    let h2c = RouteConfig {
        upstream_protocol: palisade_gateway::config::traffic::UpstreamProtocol::H2c,
        ..route("/h2/", &up)
    };
    let gw = start_with(|_| {}, vec![route("/h1/", &up), h2c]).await;
    for _ in 0..3 {
        let res = client().get(gw.url("/h1/x")).send().await.unwrap();
        assert_eq!(res.status(), 200);
        let seen = up.last();
        assert_eq!(seen.version, "HTTP/1.1");
        assert_eq!(seen.header("host"), Some(up.addr.to_string().as_str()));
        assert_eq!(seen.path_and_query, "/h1/x");
        let res = client().get(gw.url("/h2/y?q=1")).send().await.unwrap();
        assert_eq!(res.status(), 200);
        let seen = up.last();
        assert_eq!(seen.version, "HTTP/2.0");
        assert_eq!(seen.path_and_query, "/h2/y?q=1");
    }
}

#[tokio::test]
async fn strip_prefix_forwards_the_rest_of_the_path() {
    let up = Upstream::start("a").await;
    let rc = RouteConfig {
        strip_prefix: true,
        ..route("/svc/", &up)
    };
    let gw = start_with(|_| {}, vec![rc]).await;
    client()
        .get(gw.url("/svc/items/1?x=y"))
        .send()
        .await
        .unwrap();
    assert_eq!(up.last().path_and_query, "/items/1?x=y");
}

#[tokio::test]
async fn bodies_stream_through_without_waiting_for_the_end() {
    let up = Upstream::start("a").await;
    let gw = start_with(
        |c| c.limits.max_body = palisade_gateway::config::units::ByteSize(1 << 30),
        vec![route("/", &up)],
    )
    .await;
    let (probe_tx, mut probe_rx) = tokio::sync::mpsc::unbounded_channel();
    *up.first_chunk.lock().unwrap() = Some(probe_tx);
    let (chunk_tx, chunk_rx) =
        tokio::sync::mpsc::channel::<Result<bytes::Bytes, std::io::Error>>(1);
    let body = reqwest::Body::wrap_stream(futures_util::stream::unfold(
        chunk_rx,
        |mut rx| async move { rx.recv().await.map(|c| (c, rx)) },
    ));
    let url = gw.url("/stream-probe");
    let request = tokio::spawn(async move { client().post(url).body(body).send().await.unwrap() });
    chunk_tx
        .send(Ok(bytes::Bytes::from(vec![b'x'; 64 * 1024])))
        .await
        .unwrap();
    // The upstream sees the first chunk while the client still holds the rest: nothing buffers
    // the whole body. Then 16 MiB more follow.
    probe_rx
        .recv()
        .await
        .expect("upstream saw the first chunk before the body ended");
    for _ in 0..256 {
        chunk_tx
            .send(Ok(bytes::Bytes::from(vec![b'y'; 64 * 1024])))
            .await
            .unwrap();
    }
    drop(chunk_tx);
    let res = request.await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(up.last().body_len, 257 * 64 * 1024);
}

#[tokio::test]
async fn upstream_stack_traces_are_replaced_by_a_generic_problem() {
    let up = Upstream::start("a").await;
    let gw = start_with(|_| {}, vec![route("/", &up)]).await;
    let res = client().get(gw.url("/trace")).send().await.unwrap();
    let body = assert_problem(res, 500, "upstream-error").await;
    let text = body.to_string();
    assert!(
        !text.contains("Traceback") && !text.contains("hunter2"),
        "{text}"
    );

    let res = client().get(gw.url("/down")).send().await.unwrap();
    assert_eq!(res.status(), 503);
    assert_eq!(
        res.text().await.unwrap(),
        r#"{"status":"maintenance"}"#,
        "harmless 5xx bodies pass"
    );
}

#[tokio::test]
async fn security_headers_on_every_response_and_per_route_overrides() {
    let up = Upstream::start("a").await;
    let mut framed = route("/embed/", &up);
    framed.headers.frame_options = Some("SAMEORIGIN".into());
    framed.headers.content_security_policy = Some("default-src 'self'".into());
    let gw = start_with(|_| {}, vec![framed, route("/", &up)]).await;
    let res = client().get(gw.url("/x")).send().await.unwrap();
    let h = res.headers();
    assert_eq!(h["x-content-type-options"], "nosniff");
    assert_eq!(h["x-frame-options"], "DENY");
    assert_eq!(h["referrer-policy"], "no-referrer");
    assert!(h.contains_key("permissions-policy"));
    assert!(
        !h.contains_key("strict-transport-security"),
        "no HSTS over plaintext"
    );
    let res = client().get(gw.url("/embed/x")).send().await.unwrap();
    assert_eq!(res.headers()["x-frame-options"], "SAMEORIGIN");
    assert_eq!(
        res.headers()["content-security-policy"],
        "default-src 'self'"
    );
}

#[tokio::test]
async fn hsts_when_behind_a_tls_proxy() {
    let up = Upstream::start("a").await;
    let gw = start_with(|c| c.server.behind_tls_proxy = true, vec![route("/", &up)]).await;
    let res = client().get(gw.url("/x")).send().await.unwrap();
    assert_eq!(
        res.headers()["strict-transport-security"],
        "max-age=31536000; includeSubDomains"
    );
    assert_eq!(up.last().header("x-forwarded-proto"), Some("https"));
}

#[tokio::test]
async fn cors_preflights_answer_allowed_origins_only() {
    let up = Upstream::start("a").await;
    let gw = start_with(
        |c| {
            c.cors.allowed_origins = vec!["https://app.example.com".into()];
            c.cors.allow_credentials = true;
        },
        vec![route("/", &up)],
    )
    .await;
    let preflight = |origin: &'static str| {
        client()
            .request(reqwest::Method::OPTIONS, gw.url("/api/x"))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", "content-type")
            .send()
    };
    let ok = preflight("https://app.example.com").await.unwrap();
    assert!(ok.status().is_success());
    assert_eq!(
        ok.headers()["access-control-allow-origin"],
        "https://app.example.com"
    );
    assert_eq!(ok.headers()["access-control-allow-credentials"], "true");
    assert!(
        ok.headers()["access-control-allow-methods"]
            .to_str()
            .unwrap()
            .contains("POST")
    );
    let evil = preflight("https://evil.example").await.unwrap();
    assert!(
        !evil.headers().contains_key("access-control-allow-origin"),
        "{:?}",
        evil.headers()
    );
    assert_eq!(up.count(), 0, "preflights are answered by the gateway");

    let res = client()
        .get(gw.url("/x"))
        .header("origin", "https://app.example.com")
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.headers()["access-control-allow-origin"],
        "https://app.example.com"
    );
    assert!(
        res.headers()["access-control-expose-headers"]
            .to_str()
            .unwrap()
            .contains("x-request-id")
    );
}

#[tokio::test]
async fn websocket_upgrades_are_spliced_end_to_end() {
    let up = Upstream::start("a").await;
    let gw = start_with(|_| {}, vec![route("/", &up)]).await;
    let mut s = tokio::net::TcpStream::connect(gw.gateway.addr)
        .await
        .unwrap();
    s.write_all(b"GET /chat/ws HTTP/1.1\r\nHost: t\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nX-User-Id: admin\r\n\r\n")
        .await
        .unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while find(&head, b"\r\n\r\n").is_none() {
        s.read_exact(&mut byte).await.unwrap();
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head).to_ascii_lowercase();
    assert!(head.starts_with("http/1.1 101"), "{head}");
    assert!(head.contains("upgrade: websocket"), "{head}");
    let seen = up.last();
    assert_eq!(seen.header("upgrade"), Some("websocket"));
    assert!(
        seen.header("x-user-id").is_none(),
        "upgrades pass the same gates"
    );
    s.write_all(b"hello through the tunnel").await.unwrap();
    let mut echoed = [0u8; 24];
    s.read_exact(&mut echoed).await.unwrap();
    assert_eq!(&echoed, b"hello through the tunnel");
}

#[tokio::test]
async fn demo_route_serves_an_echo_when_no_routes_are_configured() {
    let gw = start_with(|_| {}, vec![]).await;
    assert!(gw.gateway.demo_addr.is_some());
    let res = client()
        .get(gw.url("/demo/hello"))
        .header("x-user-id", "admin")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["path"], "/demo/hello");
    assert!(body["headers"]["x-user-id"].is_null(), "{body}");
    assert!(body["headers"]["x-request-id"].is_string());
}

#[tokio::test]
async fn with_a_mount_the_upstreams_own_auth_admin_and_metrics_reach_it() {
    let up = Upstream::start("app").await;
    let gw = start_with(
        |c| c.api.mount = Some("/.palisade".into()),
        vec![route("/", &up)],
    )
    .await;
    for path in [
        "/auth/login",
        "/admin/users",
        "/v1/secrets/x",
        "/v1/transit/encrypt",
        "/metrics",
        "/healthz",
        "/.well-known/jwks.json",
        "/.palisadex/auth/login",
    ] {
        let res = client().get(gw.url(path)).send().await.unwrap();
        assert_eq!(res.status(), 200, "{path}");
        assert_eq!(up.last().path_and_query, path);
    }
    // Palisade's own endpoints answer under the mount and never reach the upstream.
    let before = up.seen.lock().unwrap().len();
    let res = client()
        .get(gw.url("/.palisade/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let jwks: serde_json::Value = client()
        .get(gw.url("/.palisade/.well-known/jwks.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        jwks["keys"].as_array().is_some_and(|k| !k.is_empty()),
        "{jwks}"
    );
    let res = client()
        .post(gw.url("/.palisade/auth/login"))
        .json(&serde_json::json!({"email": "nobody@example.com", "password": "not-this-one"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    assert_eq!(res.headers()["content-type"], "application/problem+json");
    assert_eq!(
        up.seen.lock().unwrap().len(),
        before,
        "nothing under the mount was proxied"
    );
}

/// `api.jwks_at_root`: beside a mount, the JWKS is also Palisade's at the root, and only that
/// path: the rest of `/.well-known/` stays the upstream's.
#[tokio::test]
async fn with_jwks_at_root_the_root_jwks_is_palisades_beside_the_mount() {
    let up = Upstream::start("app").await;
    let gw = start_with(
        |c| {
            c.api.mount = Some("/.palisade".into());
            c.api.jwks_at_root = true;
        },
        vec![route("/", &up)],
    )
    .await;
    let root: serde_json::Value = client()
        .get(gw.url("/.well-known/jwks.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mounted: serde_json::Value = client()
        .get(gw.url("/.palisade/.well-known/jwks.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        root["keys"].as_array().is_some_and(|k| !k.is_empty()),
        "{root}"
    );
    assert_eq!(root, mounted);
    assert_eq!(up.count(), 0, "the root JWKS was not proxied");
    for path in ["/.well-known/openid-configuration", "/auth/login"] {
        let res = client().get(gw.url(path)).send().await.unwrap();
        assert_eq!(res.status(), 200, "{path}");
        assert_eq!(up.last().path_and_query, path);
    }
}
