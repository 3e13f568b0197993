//! Upstream connections owned by the worker thread that uses them.
//!
//! Each worker serves on its own current-thread runtime (see `server`), so a request, its
//! upstream connection and the connection's task never leave that thread. The pool is therefore
//! a thread-local list: checking a connection out or in is a borrow of a `RefCell`, a linear
//! scan of the few upstreams the worker speaks to (compared by scheme, authority and protocol;
//! no hashing) and a `Vec` push or pop — no lock, no atomic, no task per request.
//!
//! Guarantees:
//! - HTTP/1.1 connections are reused (keep-alive): a connection goes back to its worker's idle
//!   list when the response body has been read to its end, and only then; an answer dropped
//!   half-read, a `101 Switching Protocols` and a connection the upstream closed are never
//!   reused. The most recently used idle connection is taken first.
//! - At most `max_idle_per_host` idle connections per upstream per worker (the bound counts per
//!   worker, so a gateway keeps up to `workers ×` that many); idle ones are closed after about
//!   `idle_timeout` by the worker's sweep ([`UpstreamPool::sweep`]).
//! - HTTP/2 (`h2` by ALPN over TLS, `h2c` by prior knowledge) keeps one multiplexed connection
//!   per upstream per worker.
//! - A request is only sent again when it was never written: a reused connection that turned
//!   out closed gives the request back and the next one (or a new connection) takes it. Errors
//!   keep the [`UpstreamError`] split (connect / connect timeout / after sending), so the proxy's
//!   retries and breakers behave as before.

use super::upstream::{Failed, Hop, Upstream, UpstreamError, error_chain, error_chain_has_timeout};
use crate::config::traffic::UpstreamProtocol;
use crate::request::Res;
use axum::body::Body;
use futures_util::future::BoxFuture;
use http::uri::{PathAndQuery, Scheme};
use http::{HeaderValue, Request, StatusCode, Uri, header};
use hyper::body::{Frame, Incoming, SizeHint};
use hyper::client::conn::{http1, http2};
use hyper_rustls::{HttpsConnector, MaybeHttpsStream};
use hyper_util::client::legacy::connect::{Connection, HttpConnector};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use std::cell::RefCell;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;
use tower::Service;

/// The pool's settings.
#[derive(Debug, Clone, Copy)]
pub struct PoolSettings {
    /// How long an idle connection is kept.
    pub idle_timeout: Duration,
    /// Idle connections kept per upstream, per worker.
    pub max_idle_per_host: usize,
}

/// How many sweeps an idle connection survives: it is closed `SWEEPS` sweep intervals after
/// it went idle, the interval being `idle_timeout / SWEEPS`.
const SWEEPS: u64 = 4;

static NEXT_POOL: AtomicU64 = AtomicU64::new(1);

/// A gateway's upstream transport: the settings and TLS connectors it shares; the connections
/// themselves live with each worker thread.
#[derive(Clone)]
pub struct UpstreamPool {
    shared: Arc<Shared>,
}

struct Shared {
    /// Tells this pool's connections apart from another gateway's in the same thread.
    id: u64,
    settings: PoolSettings,
    /// Offers `http/1.1` by ALPN.
    http1: HttpsConnector<HttpConnector>,
    /// Offers `h2` then `http/1.1` by ALPN.
    h2: HttpsConnector<HttpConnector>,
}

impl std::fmt::Debug for UpstreamPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UpstreamPool")
            .field("id", &self.shared.id)
            .field("settings", &self.shared.settings)
            .finish()
    }
}

impl UpstreamPool {
    /// A pool with `settings`; TLS (rustls with aws-lc-rs) trusts the webpki roots.
    pub fn new(settings: PoolSettings) -> Self {
        Self {
            shared: Arc::new(Shared {
                id: NEXT_POOL.fetch_add(1, Ordering::Relaxed),
                settings,
                http1: connector(false),
                h2: connector(true),
            }),
        }
    }

    /// Closes this worker's idle connections that have outlived `idle_timeout`, and drops the
    /// closed ones. The worker runs this every [`sweep_interval`](Self::sweep_interval).
    pub fn sweep(&self) {
        let id = self.shared.id;
        WORKER.with_borrow_mut(|pools| {
            if let Some(pool) = pools.iter_mut().find(|p| p.id == id) {
                pool.sweep();
            }
        });
    }

    /// How often a worker sweeps.
    pub fn sweep_interval(&self) -> Duration {
        (self.shared.settings.idle_timeout / SWEEPS as u32).max(Duration::from_millis(250))
    }

    /// This worker's open connections to the upstream `base`, idle or busy-multiplexed (for
    /// tests and diagnostics).
    pub fn idle_connections(&self, base: &Uri) -> usize {
        let id = self.shared.id;
        WORKER.with_borrow(|pools| {
            pools
                .iter()
                .find(|p| p.id == id)
                .and_then(|p| {
                    p.slots
                        .iter()
                        .find(|s| s.is(base.scheme() == Some(&Scheme::HTTPS), authority(base)))
                })
                .map_or(0, |s| s.idle.len() + usize::from(s.h2.is_some()))
        })
    }
}

fn connector(offer_h2: bool) -> HttpsConnector<HttpConnector> {
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_nodelay(true);
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = hyper_rustls::HttpsConnectorBuilder::new()
        .with_provider_and_webpki_roots(provider)
        .expect("aws-lc-rs supports the default TLS versions")
        .https_or_http();
    if offer_h2 {
        builder.enable_all_versions().wrap_connector(http)
    } else {
        builder.enable_http1().wrap_connector(http)
    }
}

fn authority(uri: &Uri) -> &str {
    uri.authority().map_or("", |a| a.as_str())
}

type Io = MaybeHttpsStream<TokioIo<tokio::net::TcpStream>>;

thread_local! {
    /// This thread's connections, per pool (one entry per gateway the thread serves).
    static WORKER: RefCell<Vec<WorkerPool>> = const { RefCell::new(Vec::new()) };
}

struct WorkerPool {
    id: u64,
    /// Advanced by each sweep; an idle connection remembers the epoch it went idle in.
    epoch: u64,
    slots: Vec<Slot>,
}

/// One upstream (scheme, authority, protocol) as this worker sees it.
struct Slot {
    https: bool,
    authority: Box<str>,
    protocol: UpstreamProtocol,
    /// Where new connections go: scheme and authority.
    base: Uri,
    /// `Host` for HTTP/1 requests: the authority without a default port.
    host: HeaderValue,
    idle: Vec<Idle>,
    h2: Option<http2::SendRequest<Body>>,
    /// An HTTP/2 connect under way, which other requests wait for.
    h2_connecting: Option<tokio::sync::watch::Receiver<H2Ready>>,
}

struct Idle {
    sender: http1::SendRequest<Body>,
    since_epoch: u64,
}

impl Slot {
    fn is(&self, https: bool, authority: &str) -> bool {
        self.https == https && &*self.authority == authority
    }
}

impl WorkerPool {
    fn sweep(&mut self) {
        self.epoch += 1;
        let epoch = self.epoch;
        for slot in &mut self.slots {
            slot.idle
                .retain(|i| !i.sender.is_closed() && epoch - i.since_epoch < SWEEPS);
            if slot.h2.as_ref().is_some_and(|s| s.is_closed()) {
                slot.h2 = None;
            }
        }
    }
}

/// Where a request's slot is: the pool and the slot's index in this worker's list.
#[derive(Clone, Copy)]
struct SlotRef {
    pool: u64,
    index: usize,
}

/// Finds (or adds) the slot of `uri`'s upstream in this thread's pool `id`.
fn slot_of(id: u64, uri: &Uri, protocol: UpstreamProtocol) -> Result<SlotRef, UpstreamError> {
    let https = uri.scheme() == Some(&Scheme::HTTPS);
    let auth = authority(uri);
    WORKER.with_borrow_mut(|pools| {
        let pool = match pools.iter().position(|p| p.id == id) {
            Some(i) => &mut pools[i],
            None => {
                pools.push(WorkerPool {
                    id,
                    epoch: 0,
                    slots: Vec::new(),
                });
                pools.last_mut().expect("just pushed")
            }
        };
        if let Some(index) = pool
            .slots
            .iter()
            .position(|s| s.is(https, auth) && s.protocol == protocol)
        {
            return Ok(SlotRef { pool: id, index });
        }
        let host =
            host_header(uri).ok_or_else(|| UpstreamError::Connect(format!("no host in {uri}")))?;
        let base = Uri::builder()
            .scheme(if https { Scheme::HTTPS } else { Scheme::HTTP })
            .authority(auth)
            .path_and_query("/")
            .build()
            .map_err(|e| UpstreamError::Connect(e.to_string()))?;
        pool.slots.push(Slot {
            https,
            base,
            authority: auth.into(),
            protocol,
            host,
            idle: Vec::new(),
            h2: None,
            h2_connecting: None,
        });
        Ok(SlotRef {
            pool: id,
            index: pool.slots.len() - 1,
        })
    })
}

fn with_slot<R>(at: SlotRef, f: impl FnOnce(&mut Slot, u64) -> R) -> Option<R> {
    WORKER.with_borrow_mut(|pools| {
        let pool = pools.iter_mut().find(|p| p.id == at.pool)?;
        let epoch = pool.epoch;
        pool.slots.get_mut(at.index).map(|s| f(s, epoch))
    })
}

/// `Host` as an HTTP/1 client sends it: the authority, without the scheme's default port.
fn host_header(uri: &Uri) -> Option<HeaderValue> {
    let host = uri.host()?;
    let default_port = if uri.scheme() == Some(&Scheme::HTTPS) {
        443
    } else {
        80
    };
    match uri.port_u16() {
        Some(port) if port != default_port => HeaderValue::from_str(&format!("{host}:{port}")).ok(),
        _ => HeaderValue::from_str(host).ok(),
    }
}

/// A connection to send on.
enum Conn {
    Http1(http1::SendRequest<Body>, HeaderValue),
    Http2(http2::SendRequest<Body>),
}

/// The outcome of an HTTP/2 connect other requests wait for: `None` when it failed or the
/// upstream chose HTTP/1.1 (they then take their own way).
type H2Ready = Option<Option<http2::SendRequest<Body>>>;

/// What a checkout found.
enum Taken {
    /// A pooled connection.
    Pooled(Conn),
    /// None: connect (scheme and authority, `Host`).
    Connect(Uri, HeaderValue),
    /// None, and this request makes the one HTTP/2 connection others wait for.
    Lead(tokio::sync::watch::Sender<H2Ready>, Uri, HeaderValue),
    /// An HTTP/2 connection is being made: wait for it.
    Join(tokio::sync::watch::Receiver<H2Ready>),
}

fn take(at: SlotRef) -> Taken {
    with_slot(at, |slot, _| {
        if let Some(h2) = &slot.h2 {
            if !h2.is_closed() {
                return Taken::Pooled(Conn::Http2(h2.clone()));
            }
            slot.h2 = None;
        }
        while let Some(idle) = slot.idle.pop() {
            if !idle.sender.is_closed() {
                return Taken::Pooled(Conn::Http1(idle.sender, slot.host.clone()));
            }
        }
        let (base, host) = (slot.base.clone(), slot.host.clone());
        if slot.protocol == UpstreamProtocol::Http1 {
            return Taken::Connect(base, host);
        }
        match &slot.h2_connecting {
            // A leader whose request was dropped leaves a closed channel: lead anew.
            Some(rx) if rx.has_changed().is_ok() => Taken::Join(rx.clone()),
            _ => {
                let (tx, rx) = tokio::sync::watch::channel(None);
                slot.h2_connecting = Some(rx);
                Taken::Lead(tx, base, host)
            }
        }
    })
    .expect("slot_of made the slot on this thread")
}

/// Puts an HTTP/1 connection whose answer was read to the end back on its worker's idle list.
fn give_back(at: SlotRef, sender: http1::SendRequest<Body>, max_idle: usize) {
    if sender.is_closed() {
        return;
    }
    // Outside the worker thread (an answer body moved elsewhere) the slot is not found and the
    // connection simply closes.
    let _ = with_slot(at, |slot, epoch| {
        if slot.idle.len() < max_idle {
            slot.idle.push(Idle {
                sender,
                since_epoch: epoch,
            });
        }
    });
}

impl Upstream for UpstreamPool {
    fn send(&self, hop: Hop, req: Request<Body>) -> BoxFuture<'static, Result<Res, Failed>> {
        let shared = self.shared.clone();
        Box::pin(async move { shared.send(hop, req).await })
    }
}

impl Shared {
    async fn send(&self, hop: Hop, mut req: Request<Body>) -> Result<Res, Failed> {
        let at = match slot_of(self.id, req.uri(), hop.protocol) {
            Ok(at) => at,
            Err(error) => {
                return Err(Failed {
                    error,
                    unsent: Some(req),
                });
            }
        };
        loop {
            // Connecting is boxed: it is rare, and its future would make every request's bigger.
            let (conn, reused) = match take(at) {
                Taken::Pooled(conn) => (conn, true),
                Taken::Connect(base, host) => {
                    match Box::pin(self.connect(&base, host, hop)).await {
                        Ok(conn) => (conn, false),
                        Err(error) => {
                            return Err(Failed {
                                error,
                                unsent: Some(req),
                            });
                        }
                    }
                }
                Taken::Lead(tx, base, host) => {
                    let fresh = Box::pin(self.connect(&base, host, hop)).await;
                    let h2 = match &fresh {
                        Ok(Conn::Http2(sender)) => Some(sender.clone()),
                        _ => None,
                    };
                    with_slot(at, |s, _| {
                        s.h2_connecting = None;
                        s.h2.clone_from(&h2);
                    });
                    let _ = tx.send(Some(h2));
                    match fresh {
                        Ok(conn) => (conn, false),
                        Err(error) => {
                            return Err(Failed {
                                error,
                                unsent: Some(req),
                            });
                        }
                    }
                }
                Taken::Join(mut rx) => {
                    let ready = rx
                        .wait_for(Option::is_some)
                        .await
                        .ok()
                        .and_then(|r| r.clone());
                    match ready.flatten() {
                        Some(sender) => (Conn::Http2(sender), false),
                        None => continue, // failed, cancelled or HTTP/1.1: our own way
                    }
                }
            };
            let mut failed = match conn {
                Conn::Http1(mut sender, host) => {
                    if sender.ready().await.is_err() {
                        continue; // closed while idle: nothing was sent
                    }
                    into_origin_form(&mut req, host);
                    match sender.try_send_request(req).await {
                        Ok(res) => return Ok(self.answer(at, res, sender)),
                        Err(e) => e,
                    }
                }
                Conn::Http2(mut sender) => {
                    if sender.ready().await.is_err() {
                        with_slot(at, |s, _| s.h2 = None);
                        continue;
                    }
                    match sender.try_send_request(req).await {
                        Ok(res) => return Ok(res.map(Body::new)),
                        Err(e) => e,
                    }
                }
            };
            let error = error_chain(failed.error());
            match failed.take_message() {
                // Never written: another connection may take it.
                Some(back) if reused => req = back,
                Some(back) => {
                    return Err(Failed {
                        error: UpstreamError::Connect(error),
                        unsent: Some(back),
                    });
                }
                None => return Err(Failed::sent(UpstreamError::Request(error))),
            }
        }
    }

    /// A new connection to `base` (TCP, TLS for `https`), its task spawned on this worker;
    /// HTTP/2 ones are kept in the slot for every later request.
    async fn connect(
        &self,
        base: &Uri,
        host: HeaderValue,
        hop: Hop,
    ) -> Result<Conn, UpstreamError> {
        let mut connector = match hop.protocol {
            UpstreamProtocol::H2 => self.h2.clone(),
            _ => self.http1.clone(),
        };
        let stream =
            match tokio::time::timeout(hop.connect_timeout, connector.call(base.clone())).await {
                Err(_) => return Err(UpstreamError::ConnectTimeout),
                Ok(Err(e)) if error_chain_has_timeout(e.as_ref()) => {
                    return Err(UpstreamError::ConnectTimeout);
                }
                Ok(Err(e)) => return Err(UpstreamError::Connect(error_chain(e.as_ref()))),
                Ok(Ok(stream)) => stream,
            };
        let h2 = match hop.protocol {
            UpstreamProtocol::Http1 => false,
            UpstreamProtocol::H2c => true,
            UpstreamProtocol::H2 => stream.connected().is_negotiated_h2(),
        };
        let io: Io = stream;
        if h2 {
            let (sender, conn) = http2::Builder::new(TokioExecutor::new())
                .timer(TokioTimer::new())
                .handshake(io)
                .await
                .map_err(|e| UpstreamError::Connect(error_chain(&e)))?;
            tokio::spawn(async move {
                if let Err(e) = conn.await {
                    tracing::debug!(error = %e, "upstream HTTP/2 connection ended");
                }
            });
            Ok(Conn::Http2(sender))
        } else {
            let (sender, conn) = http1::Builder::new()
                .handshake(io)
                .await
                .map_err(|e| UpstreamError::Connect(error_chain(&e)))?;
            tokio::spawn(async move {
                if let Err(e) = conn.with_upgrades().await {
                    tracing::debug!(error = %e, "upstream connection ended");
                }
            });
            Ok(Conn::Http1(sender, host))
        }
    }

    /// The upstream's answer, its body watched so the connection goes back to the pool when the
    /// body ends.
    fn answer(
        &self,
        at: SlotRef,
        res: http::Response<Incoming>,
        sender: http1::SendRequest<Body>,
    ) -> Res {
        if res.status() == StatusCode::SWITCHING_PROTOCOLS {
            return res.map(Body::new); // the connection now belongs to the upgrade
        }
        let max_idle = self.settings.max_idle_per_host;
        res.map(|body| {
            Body::new(PooledBody {
                body,
                home: Some(Home {
                    at,
                    sender,
                    max_idle,
                }),
            })
        })
    }
}

/// HTTP/1 wants the path and query in the request line and the upstream's authority in `Host`
/// (the proxy removed the client's).
fn into_origin_form(req: &mut Request<Body>, host: HeaderValue) {
    req.headers_mut().insert(header::HOST, host);
    let pq = req
        .uri()
        .path_and_query()
        .cloned()
        .unwrap_or_else(|| PathAndQuery::from_static("/"));
    *req.uri_mut() = Uri::from(pq);
}

/// Where a connection goes back to when its answer's body ends.
struct Home {
    at: SlotRef,
    sender: http1::SendRequest<Body>,
    max_idle: usize,
}

/// An HTTP/1 answer's body that hands its connection back to the pool at its end.
struct PooledBody {
    body: Incoming,
    home: Option<Home>,
}

impl PooledBody {
    fn go_home(&mut self) {
        if let Some(home) = self.home.take() {
            give_back(home.at, home.sender, home.max_idle);
        }
    }
}

impl hyper::body::Body for PooledBody {
    type Data = bytes::Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let polled = Pin::new(&mut self.body).poll_frame(cx);
        match &polled {
            Poll::Ready(None) => self.go_home(),
            Poll::Ready(Some(Err(_))) => self.home = None,
            _ => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

impl Drop for PooledBody {
    fn drop(&mut self) {
        // An answer without a body (204, 304, `Content-Length: 0`) may never be polled.
        if hyper::body::Body::is_end_stream(&self.body) {
            self.go_home();
        }
    }
}

#[cfg(test)]
#[path = "pool_tests.rs"]
mod tests;
