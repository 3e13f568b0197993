//! The listener: HTTP/2, TLS versions, the HTTPS redirect, graceful shutdown.

use crate::common::*;
use palisade_gateway::config::TlsVersion;
use std::path::Path;

fn write_cert(dir: &Path) -> (std::path::PathBuf, std::path::PathBuf, reqwest::Certificate) {
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let cert_path = dir.join("cert.pem");
    let key_path = dir.join("key.pem");
    std::fs::write(&cert_path, cert.cert.pem()).unwrap();
    std::fs::write(&key_path, cert.signing_key.serialize_pem()).unwrap();
    (
        cert_path,
        key_path,
        reqwest::Certificate::from_pem(cert.cert.pem().as_bytes()).unwrap(),
    )
}

fn tls_client(
    root: reqwest::Certificate,
    addr: std::net::SocketAddr,
    max: Option<reqwest::tls::Version>,
) -> reqwest::Client {
    let mut b = reqwest::Client::builder()
        .no_proxy()
        .tls_certs_only([root])
        .resolve("localhost", addr);
    if let Some(max) = max {
        b = b.tls_version_max(max);
    }
    b.build().unwrap()
}

/// A gateway serving TLS with a fresh self-signed certificate for `localhost`; returns it, the
/// root to trust, and the directory holding the PEM files (kept alive by the caller).
async fn start_tls(
    up: &Upstream,
    edit: impl FnOnce(&mut palisade_gateway::config::Config),
) -> (TestGateway, reqwest::Certificate, tempfile::TempDir) {
    let certs = tempfile::tempdir().unwrap();
    let (cert, key, root) = write_cert(certs.path());
    let gw = start_with(
        |c| {
            c.tls.cert = Some(cert);
            c.tls.key = Some(key);
            edit(c);
        },
        vec![route("/", up)],
    )
    .await;
    (gw, root, certs)
}

#[tokio::test]
async fn tls_serves_http2_and_http1_with_hsts() {
    let up = Upstream::start("a").await;
    let (gw, root, _certs) = start_tls(&up, |_| {}).await;
    let url = format!("https://localhost:{}/x", gw.gateway.addr.port());
    let res = tls_client(root.clone(), gw.gateway.addr, None)
        .get(&url)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.version(),
        reqwest::Version::HTTP_2,
        "ALPN negotiates h2"
    );
    assert_eq!(
        res.headers()["strict-transport-security"],
        "max-age=31536000; includeSubDomains"
    );
    assert_eq!(up.last().header("x-forwarded-proto"), Some("https"));

    let res = tls_client(root, gw.gateway.addr, Some(reqwest::tls::Version::TLS_1_2))
        .get(&url)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "TLS 1.2 accepted by default");
}

#[tokio::test]
async fn tls_min_version_13_refuses_tls_12_clients() {
    let up = Upstream::start("a").await;
    let (gw, root, _certs) = start_tls(&up, |c| c.tls.min_version = TlsVersion::Tls13).await;
    let url = format!("https://localhost:{}/x", gw.gateway.addr.port());
    let err = tls_client(
        root.clone(),
        gw.gateway.addr,
        Some(reqwest::tls::Version::TLS_1_2),
    )
    .get(&url)
    .send()
    .await;
    assert!(
        err.is_err(),
        "a TLS 1.2-only client must fail the handshake"
    );
    let ok = tls_client(root, gw.gateway.addr, None)
        .get(&url)
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
}

#[tokio::test]
async fn cleartext_http2_prior_knowledge_works() {
    let up = Upstream::start("a").await;
    let gw = start_with(|_| {}, vec![route("/", &up)]).await;
    let h2 = reqwest::Client::builder()
        .no_proxy()
        .http2_prior_knowledge()
        .build()
        .unwrap();
    let res = h2
        .get(gw.url("/x"))
        .header("x-user-id", "admin")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.version(), reqwest::Version::HTTP_2);
    assert!(up.last().header("x-user-id").is_none());
    let res = h2
        .get(gw.url("/x"))
        .header("x-big", "a".repeat(9000))
        .send()
        .await
        .unwrap();
    assert_problem(res, 431, "header-too-large").await;
}

#[tokio::test]
async fn plaintext_redirect_listener_sends_308_to_https() {
    let up = Upstream::start("a").await;
    let (gw, _, _certs) = start_tls(&up, |c| {
        c.server.redirect_http_listen = Some("127.0.0.1:0".parse().unwrap())
    })
    .await;
    let redirect = gw.gateway.redirect_addr.unwrap();
    let no_follow = reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let res = no_follow
        .get(format!("http://{redirect}/a/b?c=d"))
        .header("host", "api.example.com")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 308);
    assert_eq!(
        res.headers()["location"],
        format!("https://api.example.com:{}/a/b?c=d", gw.gateway.addr.port())
    );
}

#[tokio::test]
async fn shutdown_lets_in_flight_requests_finish_and_stops_accepting() {
    let up = Upstream::start("a").await;
    let gw = start_with(|_| {}, vec![route("/", &up)]).await;
    let addr = gw.gateway.addr;
    let url = gw.url("/gate");
    let in_flight = tokio::spawn(async move { client().get(url).send().await });
    // Wait until the request is parked inside the upstream.
    while up.release_waiters() == 0 {
        tokio::task::yield_now().await;
    }
    let TestGateway { gateway, _dir } = gw;
    gateway.shutdown();
    up.release.notify_one();
    let res = in_flight
        .await
        .unwrap()
        .expect("in-flight request completes");
    assert_eq!(res.status(), 200);
    gateway.wait().await;
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "listener is closed"
    );
}
