//! The listeners: one `SO_REUSEPORT` socket per worker thread, each worker with its own
//! current-thread runtime, service stack and upstream pool; hyper's HTTP/1 and HTTP/2 settings;
//! every connection's bytes through the framing watch ([`super::conn_io`]); the optional
//! plaintext listener that redirects to HTTPS; and the graceful close of each at shutdown.

use super::conn_io::ClientIo;
use crate::pipeline::Gates;
use crate::pipeline::fast::FastPipeline;
use crate::request::ConnInfo;
use crate::route::pool::{PoolSettings, UpstreamPool};
use crate::route::upstream::Upstream;
use crate::state::AppState;
use axum::body::Body;
use http::{Request, Response, StatusCode, header};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch};

/// The bound listeners and the worker threads serving them.
pub(super) struct Listening {
    pub(super) addr: SocketAddr,
    pub(super) redirect_addr: Option<SocketAddr>,
    pub(super) workers: Vec<std::thread::JoinHandle<()>>,
}

/// Binds `server.listen` once per worker (and the redirect listener when configured) and starts
/// the workers. An error names what could not be bound or started.
pub(super) async fn listen(
    state: &Arc<AppState>,
    gates: &Gates,
    tls: Option<tokio_rustls::TlsAcceptor>,
    workers: usize,
    shutdown: &watch::Receiver<bool>,
) -> Result<Listening, String> {
    let listen = state.config.server.listen;
    let listeners =
        bind_reuseport(listen, workers).map_err(|e| format!("listen on {listen}: {e}"))?;
    let addr = listeners[0]
        .local_addr()
        .map_err(|e| format!("listener: {e}"))?;
    let redirect_addr = match state.config.server.redirect_http_listen {
        Some(listen) => Some(
            start_redirect(listen, addr.port(), shutdown.clone())
                .await
                .map_err(|e| format!("redirect listener {listen}: {e}"))?,
        ),
        None => None,
    };
    let mut handles = Vec::with_capacity(workers);
    for (i, listener) in listeners.into_iter().enumerate() {
        let state = state.clone();
        let gates = gates.clone();
        let tls = tls.clone();
        let shutdown = shutdown.clone();
        let handle = std::thread::Builder::new()
            .name(format!("palisade-worker-{i}"))
            .spawn(move || {
                let runtime = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(rt) => rt,
                    Err(e) => {
                        tracing::error!(error = %e, "cannot start worker runtime");
                        return;
                    }
                };
                runtime.block_on(worker(i, listener, state, gates, tls, shutdown));
            })
            .map_err(|e| format!("worker thread: {e}"))?;
        handles.push(handle);
    }
    Ok(Listening {
        addr,
        redirect_addr,
        workers: handles,
    })
}

fn bind_reuseport(addr: SocketAddr, count: usize) -> std::io::Result<Vec<std::net::TcpListener>> {
    use socket2::{Domain, Protocol, Socket, Type};
    let mut out = Vec::with_capacity(count);
    let mut bound = addr;
    for _ in 0..count.max(1) {
        let socket = Socket::new(
            Domain::for_address(bound),
            Type::STREAM,
            Some(Protocol::TCP),
        )?;
        socket.set_reuse_address(true)?;
        socket.set_reuse_port(true)?;
        socket.set_tcp_nodelay(true)?;
        socket.set_nonblocking(true)?;
        socket.bind(&bound.into())?;
        socket.listen(1024)?;
        let listener: std::net::TcpListener = socket.into();
        // With port 0 the first bind picks the port; the others join it.
        bound = listener.local_addr()?;
        out.push(listener);
    }
    Ok(out)
}

/// hyper's HTTP/1 read buffer, which bounds a request head, and the framing watch's limit on
/// the head it holds back: room above the boundary's own `limits.max_header_bytes`.
fn http1_max_buf(limits: &crate::config::LimitsConfig) -> usize {
    usize::try_from(limits.max_header_bytes.0)
        .unwrap_or(usize::MAX)
        .saturating_mul(4)
        .max(64 << 10)
}

/// hyper's HTTP/1 and HTTP/2 settings. hyper's own header limits sit above the boundary's so
/// that the boundary answers with a problem+json. A longer HTTP/1 head never reaches hyper (the
/// framing watch stands a marked request in for it, see [`super::framing`], so the boundary
/// still answers); past `server.http2.max_header_list_size` h2 answers 431 itself.
fn http_builder(state: &AppState) -> auto::Builder<TokioExecutor> {
    let limits = &state.config.limits;
    let h2 = &state.config.server.http2;
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout.0)
        .keep_alive(true)
        .max_buf_size(http1_max_buf(limits));
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_header_list_size(h2.header_list_bytes())
        .max_concurrent_streams(h2.max_concurrent_streams)
        .max_pending_accept_reset_streams(h2.max_pending_reset_streams)
        .max_local_error_reset_streams(h2.max_local_error_resets);
    builder
}

async fn worker(
    index: usize,
    listener: std::net::TcpListener,
    state: Arc<AppState>,
    gates: Gates,
    tls: Option<tokio_rustls::TlsAcceptor>,
    mut shutdown: watch::Receiver<bool>,
) {
    let listener = match tokio::net::TcpListener::from_std(listener) {
        Ok(l) => l,
        Err(e) => {
            tracing::error!(error = %e, "cannot use listener");
            return;
        }
    };
    let proxy = &state.config.proxy;
    let pool = UpstreamPool::new(PoolSettings {
        idle_timeout: proxy.pool_idle_timeout.0,
        max_idle_per_host: proxy.pool_max_idle_per_host,
    });
    tokio::spawn(sweep_pool(pool.clone(), shutdown.clone()));
    let upstream: Arc<dyn Upstream> = Arc::new(pool);
    let service = Arc::new(gates.fast(&state, upstream));
    let _access_log = crate::logging::AccessLogBuffer::start();
    if state.config.admission.enabled {
        tokio::spawn(crate::layers::admission::probe_lag(
            state.admission.clone(),
            index,
        ));
    }
    let builder = Arc::new(http_builder(&state));
    let handshake_timeout = state.config.limits.header_read_timeout.0;
    let linger = handshake_timeout;
    let max_head = http1_max_buf(&state.config.limits);
    let (alive, mut all_closed) = mpsc::channel::<()>(1);

    loop {
        tokio::select! {
            biased;
            _ = stopped(&mut shutdown) => break,
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(a) => a,
                    Err(e) => {
                        // Out of file descriptors and the like: back off instead of spinning.
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let service = service.clone();
                let builder = builder.clone();
                let tls = tls.clone();
                let shutdown = shutdown.clone();
                let alive = alive.clone();
                tokio::spawn(async move {
                    let _alive = alive;
                    match tls {
                        Some(acceptor) => match tokio::time::timeout(handshake_timeout, acceptor.accept(stream)).await {
                            Ok(Ok(tls_stream)) => {
                                let io = ClientIo::new(tls_stream, linger, max_head);
                                let conn = ConnInfo::new(peer, true).with_framing_marks(io.marks());
                                serve_connection(&builder, TokioIo::new(io), conn, service, shutdown).await
                            }
                            Ok(Err(e)) => tracing::debug!(%peer, error = %e, "TLS handshake failed"),
                            Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                        },
                        None => {
                            let io = ClientIo::new(stream, linger, max_head);
                            let conn = ConnInfo::new(peer, false).with_framing_marks(io.marks());
                            serve_connection(&builder, TokioIo::new(io), conn, service, shutdown).await
                        }
                    }
                });
            }
        }
    }
    drop(listener);
    drop(alive);
    let grace = state.config.server.shutdown_grace.0;
    if tokio::time::timeout(grace, all_closed.recv())
        .await
        .is_err()
    {
        tracing::warn!(grace = %humantime::format_duration(grace), "shutdown grace elapsed; closing remaining connections");
    }
}

async fn serve_connection<I>(
    builder: &auto::Builder<TokioExecutor>,
    io: TokioIo<I>,
    info: ConnInfo,
    service: Arc<FastPipeline>,
    mut shutdown: watch::Receiver<bool>,
) where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let peer = info.peer;
    let hyper_service = hyper::service::service_fn(move |req: Request<Incoming>| {
        let mut req = req.map(Body::new);
        req.extensions_mut().insert(info.clone());
        let service = service.clone();
        async move { Ok::<_, std::convert::Infallible>(service.serve(req).await) }
    });
    let conn = builder.serve_connection_with_upgrades(io, hyper_service);
    tokio::pin!(conn);
    tokio::select! {
        result = conn.as_mut() => {
            if let Err(e) = result {
                tracing::debug!(%peer, error = %e, "connection ended with an error");
            }
        }
        _ = stopped(&mut shutdown) => {
            conn.as_mut().graceful_shutdown();
            let _ = conn.await;
        }
    }
}

/// The plaintext listener that sends every request to HTTPS with 308.
async fn start_redirect(
    listen: SocketAddr,
    https_port: u16,
    mut shutdown: watch::Receiver<bool>,
) -> std::io::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind(listen).await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = stopped(&mut shutdown) => break,
                accepted = listener.accept() => {
                    let Ok((stream, _)) = accepted else { continue };
                    tokio::spawn(async move {
                        let service = hyper::service::service_fn(move |req: Request<Incoming>| async move {
                            Ok::<_, std::convert::Infallible>(redirect_response(&req, https_port))
                        });
                        let _ = hyper::server::conn::http1::Builder::new()
                            .timer(TokioTimer::new())
                            .header_read_timeout(Duration::from_secs(10))
                            .serve_connection(TokioIo::new(stream), service)
                            .await;
                    });
                }
            }
        }
    });
    Ok(addr)
}

fn redirect_response(req: &Request<Incoming>, https_port: u16) -> Response<String> {
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .and_then(|h| h.parse::<http::uri::Authority>().ok());
    let Some(host) = host else {
        let mut res = Response::new("Host header required\n".to_string());
        *res.status_mut() = StatusCode::BAD_REQUEST;
        return res;
    };
    let port = if https_port == 443 {
        String::new()
    } else {
        format!(":{https_port}")
    };
    let path = req.uri().path_and_query().map_or("/", |pq| pq.as_str());
    let location = format!("https://{}{port}{path}", host.host());
    let mut res = Response::new(String::new());
    *res.status_mut() = StatusCode::PERMANENT_REDIRECT;
    if let Ok(v) = http::HeaderValue::from_str(&location) {
        res.headers_mut().insert(header::LOCATION, v);
    }
    res
}

/// Closes this worker's upstream connections idle for longer than `proxy.pool_idle_timeout`,
/// until shutdown.
async fn sweep_pool(pool: UpstreamPool, mut shutdown: watch::Receiver<bool>) {
    let mut every = tokio::time::interval(pool.sweep_interval());
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stopped(&mut shutdown) => return,
            _ = every.tick() => pool.sweep(),
        }
    }
}

/// Resolves once shutdown has been asked for (or the gateway handle is gone).
async fn stopped(shutdown: &mut watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|stop| *stop).await;
}
