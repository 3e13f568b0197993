//! Test harness: a real gateway on 127.0.0.1:0 with a temp data dir, in front of a scriptable
//! upstream that records what it received.
#![allow(dead_code)]

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use palisade_gateway::config::{Config, Environment, RouteConfig};
use palisade_gateway::server::{self, RunningGateway};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use tokio::sync::{Notify, mpsc};

/// What the upstream saw of one request.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub path_and_query: String,
    pub headers: HashMap<String, Vec<String>>,
    pub body_len: usize,
    /// `HTTP/1.1` or `HTTP/2.0`.
    pub version: String,
}

impl Seen {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .get(name)
            .and_then(|v| v.first())
            .map(String::as_str)
    }
}

/// The scriptable upstream. Paths:
/// - `/trace`: 500 with a Python traceback; `/down`: 503 with a harmless body
/// - `/hang`: never answers; `/gate`: answers once `release` is notified
/// - `/stream-probe`: reports through `first_chunk` when the first body bytes arrive
/// - `/ws`: accepts an HTTP/1.1 upgrade and echoes bytes
/// - anything, while `down` is set: 503
/// - anything else: 200 with `{"upstream": NAME}`
#[derive(Clone)]
pub struct Upstream {
    pub addr: SocketAddr,
    pub name: &'static str,
    pub seen: Arc<Mutex<Vec<Seen>>>,
    pub release: Arc<Notify>,
    pub first_chunk: Arc<Mutex<Option<mpsc::UnboundedSender<()>>>>,
    pub parked: Arc<std::sync::atomic::AtomicUsize>,
    /// While set, every request gets 503 (the service is down behind a live socket).
    pub down: Arc<std::sync::atomic::AtomicBool>,
}

impl Upstream {
    pub async fn start(name: &'static str) -> Upstream {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let up = Upstream {
            addr: listener.local_addr().unwrap(),
            name,
            seen: Default::default(),
            release: Arc::new(Notify::new()),
            first_chunk: Default::default(),
            parked: Default::default(),
            down: Default::default(),
        };
        let shared = up.clone();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let up = shared.clone();
                tokio::spawn(async move {
                    let svc = hyper::service::service_fn(move |req| handle(up.clone(), req));
                    let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                        .serve_connection_with_upgrades(TokioIo::new(stream), svc)
                        .await;
                });
            }
        });
        up
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn last(&self) -> Seen {
        self.seen
            .lock()
            .unwrap()
            .last()
            .cloned()
            .expect("upstream saw a request")
    }

    /// Requests parked in `/gate`, waiting for `release`.
    pub fn release_waiters(&self) -> usize {
        self.parked.load(std::sync::atomic::Ordering::SeqCst)
    }

    pub fn count(&self) -> usize {
        self.seen.lock().unwrap().len()
    }
}

async fn handle(
    up: Upstream,
    mut req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, hyper::Error> {
    let path = req.uri().path().to_string();
    let mut headers: HashMap<String, Vec<String>> = HashMap::new();
    for (k, v) in req.headers() {
        headers
            .entry(k.as_str().to_string())
            .or_default()
            .push(String::from_utf8_lossy(v.as_bytes()).into_owned());
    }
    let method = req.method().to_string();
    let version = format!("{:?}", req.version());
    let path_and_query = req
        .uri()
        .path_and_query()
        .map(|p| p.to_string())
        .unwrap_or_default();

    if path.ends_with("/ws") {
        let on_upgrade = hyper::upgrade::on(&mut req);
        tokio::spawn(async move {
            if let Ok(upgraded) = on_upgrade.await {
                let mut io = TokioIo::new(upgraded);
                let mut buf = [0u8; 1024];
                use tokio::io::{AsyncReadExt, AsyncWriteExt};
                while let Ok(n) = io.read(&mut buf).await {
                    if n == 0 || io.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                }
            }
        });
        up.seen.lock().unwrap().push(Seen {
            method,
            path_and_query,
            headers,
            body_len: 0,
            version,
        });
        return Ok(Response::builder()
            .status(StatusCode::SWITCHING_PROTOCOLS)
            .header("upgrade", "websocket")
            .header("connection", "Upgrade")
            .body(Full::default())
            .unwrap());
    }

    let mut body = req.into_body();
    let mut body_len = 0;
    while let Some(frame) = body.frame().await {
        let Ok(frame) = frame else { break };
        if let Some(data) = frame.data_ref() {
            if body_len == 0
                && !data.is_empty()
                && path.ends_with("/stream-probe")
                && let Some(tx) = up.first_chunk.lock().unwrap().as_ref()
            {
                let _ = tx.send(());
            }
            body_len += data.len();
        }
    }
    up.seen.lock().unwrap().push(Seen {
        method,
        path_and_query,
        headers,
        body_len,
        version,
    });

    let json = |status: u16, body: String| {
        Ok(Response::builder()
            .status(status)
            .header("content-type", "application/json")
            .header("connection", "keep-alive")
            .header("x-upstream", up.name)
            .body(Full::from(body))
            .unwrap())
    };
    if up.down.load(std::sync::atomic::Ordering::SeqCst) {
        return json(503, r#"{"status":"down"}"#.into());
    }
    if path.ends_with("/trace") {
        return json(500, "Traceback (most recent call last):\n  File \"app.py\", line 3, in handler\nKeyError: 'db_password=hunter2'".into());
    }
    if path.ends_with("/down") {
        return json(503, r#"{"status":"maintenance"}"#.into());
    }
    if path.ends_with("/hang") {
        std::future::pending::<()>().await;
    }
    if path.ends_with("/gate") {
        let released = up.release.notified();
        up.parked.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        released.await;
    }
    json(
        200,
        format!(r#"{{"upstream":"{}","body_len":{body_len}}}"#, up.name),
    )
}

/// A config for tests: ephemeral port, temp data dir, in-memory store, quiet logs.
pub fn config(data_dir: &std::path::Path, routes: Vec<RouteConfig>) -> Config {
    let mut c = Config::default();
    c.server.listen = "127.0.0.1:0".parse().unwrap();
    c.server.data_dir = data_dir.to_path_buf();
    c.server.workers = 2;
    c.store.url = "memory:".into();
    c.log.access = false;
    // Rate limits and load shedding change answers; the tests about them turn them on.
    c.rate_limit.enabled = false;
    c.admission.enabled = false;
    c.routes = routes;
    c
}

pub fn route(prefix: &str, upstream: &Upstream) -> RouteConfig {
    RouteConfig {
        prefix: prefix.into(),
        upstream: Some(upstream.url()),
        ..Default::default()
    }
}

pub struct TestGateway {
    pub gateway: RunningGateway,
    pub _dir: tempfile::TempDir,
}

impl TestGateway {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.gateway.addr)
    }
}

pub async fn start_with(edit: impl FnOnce(&mut Config), routes: Vec<RouteConfig>) -> TestGateway {
    start_clocked(edit, routes, Arc::new(palisade_core::clock::SystemClock)).await
}

/// Starts a gateway whose time comes from `clock` (a `ManualClock` the test moves).
pub async fn start_clocked(
    edit: impl FnOnce(&mut Config),
    routes: Vec<RouteConfig>,
    clock: palisade_core::clock::SharedClock,
) -> TestGateway {
    let dir = tempfile::tempdir().unwrap();
    let mut c = config(dir.path(), routes);
    edit(&mut c);
    let c = server::prepare(c, Environment::Dev).expect("test config is valid");
    let gateway = server::start_with_clock(c, clock)
        .await
        .expect("gateway starts");
    TestGateway { gateway, _dir: dir }
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().build().unwrap()
}

/// Asserts a problem+json answer with the given status and type slug; returns the body.
pub async fn assert_problem(res: reqwest::Response, status: u16, slug: &str) -> serde_json::Value {
    assert_eq!(res.status().as_u16(), status, "status");
    assert_eq!(res.headers()["content-type"], "application/problem+json");
    let rid = res
        .headers()
        .get("x-request-id")
        .expect("x-request-id echoed")
        .to_str()
        .unwrap()
        .to_string();
    assert_eq!(
        res.headers()["x-content-type-options"],
        "nosniff",
        "security headers on refusals too"
    );
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(
        body["type"],
        format!("urn:palisade:problem:{slug}"),
        "{body}"
    );
    assert_eq!(body["status"], status, "{body}");
    assert!(
        body["title"].as_str().is_some_and(|t| !t.is_empty()),
        "{body}"
    );
    assert!(
        body["detail"].as_str().is_some_and(|t| !t.is_empty()),
        "{body}"
    );
    assert_eq!(body["request_id"], rid, "{body}");
    body
}

/// Sends raw bytes and returns everything read until the server closes or `limit` bytes.
pub async fn raw_exchange(addr: SocketAddr, request: &[u8]) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(request).await.unwrap();
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                out.extend_from_slice(&buf[..n]);
                if let Some(end) = find(&out, b"\r\n\r\n") {
                    let head = String::from_utf8_lossy(&out[..end]).to_ascii_lowercase();
                    let len = head.lines().find_map(|l| {
                        l.strip_prefix("content-length: ")
                            .and_then(|v| v.trim().parse::<usize>().ok())
                    });
                    if len.is_some_and(|len| out.len() >= end + 4 + len) {
                        break;
                    }
                }
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

pub fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

pub fn body_json(raw: &str) -> serde_json::Value {
    let body = raw.split("\r\n\r\n").nth(1).unwrap_or("");
    serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {raw}"))
}
