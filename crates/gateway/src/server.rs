//! Listeners and the serving model.
//!
//! Each worker is an OS thread with its own single-threaded tokio runtime, its own listener on
//! the shared address (`SO_REUSEPORT`: the kernel spreads connections), its own service stack and
//! its own upstream connection pool, so a request never hops threads. Measured in
//! `scripts/bench`; see DESIGN.md for why.
//!
//! Shutdown (SIGTERM/SIGINT via [`RunningGateway::shutdown`]): listeners close at once, open
//! connections finish their in-flight requests, and whatever is left after
//! `server.shutdown_grace` is dropped.

use crate::config::checks;
use crate::config::{Config, Environment};
use crate::conn_io::ClientIo;
use crate::pipeline;
use crate::request::ConnInfo;
use crate::route::proxy::{HyperUpstream, PoolSettings, Upstream};
use crate::route::table::RouteTable;
use crate::state::AppState;
use axum::body::Body;
use http::{Request, Response, StatusCode, header};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use palisade_core::clock::SystemClock;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use tower::ServiceExt;

/// Why a gateway could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("the configuration has problems:\n  - {}", .0.join("\n  - "))]
    Config(Vec<String>),
    #[error("{0}")]
    Io(String),
}

/// A started gateway. Dropping it starts a shutdown.
#[derive(Debug)]
pub struct RunningGateway {
    pub addr: SocketAddr,
    pub redirect_addr: Option<SocketAddr>,
    pub demo_addr: Option<SocketAddr>,
    pub state: Arc<AppState>,
    shutdown: watch::Sender<bool>,
    workers: Vec<std::thread::JoinHandle<()>>,
}

impl RunningGateway {
    pub fn shutdown(&self) {
        let _ = self.shutdown.send(true);
    }

    /// Waits for every worker to finish (after [`shutdown`](Self::shutdown)), then stores the
    /// refusal counts the sampler holds, commits the audit events still queued and signs a
    /// checkpoint of the trail's head.
    pub async fn wait(mut self) {
        let workers = std::mem::take(&mut self.workers);
        let _ = tokio::task::spawn_blocking(move || {
            for w in workers {
                let _ = w.join();
            }
        })
        .await;
        // Refusal counts still held by the sampler go into the trail before it is sealed.
        self.state.audit.flush_refusals(true);
        if let Some(trail) = self.state.audit.trail() {
            trail.checkpoint().await;
        }
    }
}

impl Drop for RunningGateway {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Checks `config` for `env`, and in dev fills missing secrets from the data dir.
pub fn prepare(mut config: Config, env: Environment) -> Result<Config, StartError> {
    config.server.env = env;
    let problems = checks::problems(&config, env);
    if !problems.is_empty() {
        return Err(StartError::Config(problems));
    }
    if env == Environment::Dev {
        crate::config::dev_secrets::fill_dev_secrets(&mut config.secrets, &config.server.data_dir)
            .map_err(|e| {
                StartError::Io(format!(
                    "cannot keep dev secrets in {}: {e}",
                    config.server.data_dir.display()
                ))
            })?;
    }
    Ok(config)
}

/// Starts a gateway for a prepared config (see [`prepare`]).
pub async fn start(config: Config) -> Result<RunningGateway, StartError> {
    start_with_clock(config, Arc::new(SystemClock)).await
}

/// Like [`start`], reading time from `clock` (tests move it by hand).
pub async fn start_with_clock(
    mut config: Config,
    clock: palisade_core::clock::SharedClock,
) -> Result<RunningGateway, StartError> {
    let io = |what: &str, e: &dyn std::fmt::Display| StartError::Io(format!("{what}: {e}"));
    let demo_addr = if config.demo_enabled() {
        let addr = crate::demo::start()
            .await
            .map_err(|e| io("demo upstream", &e))?;
        config.routes.push(crate::config::RouteConfig {
            name: Some("demo".into()),
            prefix: "/demo/".into(),
            upstream: Some(format!("http://{addr}")),
            // The built-in echo upstream is open on purpose, and says so (production posture).
            auth: Some(palisade_core::policy::AuthRequirement::None),
            public: true,
            ..Default::default()
        });
        Some(addr)
    } else {
        None
    };
    crate::protect::files::create_private_dir(&config.server.data_dir).map_err(|e| {
        io(
            &format!("data dir {}", config.server.data_dir.display()),
            &e,
        )
    })?;
    crate::protect::master_key::attach(&mut config).map_err(|e| StartError::Config(vec![e]))?;
    let store = palisade_store::open_store_with(
        &config.store.url,
        &config.server.data_dir,
        &config.store.postgres_options(),
    )
    .await
    .map_err(|e| io("store", &e))?;
    let env = config.server.env;
    crate::config::refs::resolve(&mut config, env, Some(store.clone()), &|name| {
        std::env::var(name).ok()
    })
    .await
    .map_err(StartError::Config)?;
    let hot_backend = crate::backends::open_hot(&config, clock.clone())
        .await
        .map_err(|e| io("hot state", &e))?;
    let hot = hot_backend.hot;
    if store
        .meta_get("instance_id")
        .await
        .map_err(|e| io("store", &e))?
        .is_none()
    {
        store
            .meta_put("instance_id", &uuid::Uuid::now_v7().to_string())
            .await
            .map_err(|e| io("store", &e))?;
    }
    let (keyring, vault) = open_vault(&config, store.clone(), clock.clone()).await?;
    // Before anything reads or writes a user: e-mails are encrypted from here on.
    keyring
        .protect_emails()
        .await
        .map_err(|e| StartError::Config(vec![format!("e-mail encryption: {e}")]))?;
    let routes = RouteTable::from_config(&config).map_err(|e| StartError::Config(vec![e]))?;
    let tls = match (&config.tls.cert, &config.tls.key) {
        (Some(cert), Some(key)) => Some(tokio_rustls::TlsAcceptor::from(
            crate::tls::server_config(cert, key, config.tls.min_version)
                .map_err(|e| StartError::Config(vec![e]))?,
        )),
        _ => None,
    };
    let audit = Arc::new(crate::audit::AuditLog::new(
        palisade_core::redact::RedactOptions {
            emails: config.log.redact_emails,
            ipv4: config.log.redact_ipv4,
        },
    ));
    let trail = crate::audit::trail::AuditTrail::start(
        store.clone(),
        &config.secrets,
        clock.clone(),
        &config.audit,
    )
    .await
    .map_err(|e| StartError::Config(vec![e]))?;
    audit.attach(trail);
    audit.attach_refusals(crate::audit::refusals::RefusalSampler::new(
        &config.audit,
        clock.clone(),
    ));
    let identity = Arc::new(
        crate::identity::Identity::start(
            &config,
            store.clone(),
            hot.clone(),
            clock.clone(),
            audit.clone(),
        )
        .await
        .map_err(|e| StartError::Config(vec![e]))?,
    );
    // Before anything is served: the hot state holds every revocation and block on record.
    identity
        .prime_hot_state()
        .await
        .map_err(|e| io("priming the hot state from the store", &e))?;
    let tenants = Arc::new(
        crate::authz::tenants::Tenants::load(store.clone())
            .await
            .map_err(|e| io("store", &e))?,
    );
    let authz = Arc::new(crate::authz::Authorizer::new(
        crate::authz::compile(&config).map_err(StartError::Config)?,
        audit.clone(),
        tenants.clone(),
    ));
    let mut throttle =
        crate::layers::throttle::Throttle::new(&config.rate_limit, clock.clone(), audit.clone());
    if let Some(limiter) = hot_backend.limiter {
        throttle = throttle.with_shared(limiter, config.rate_limit.on_backend_error);
    }
    let throttle = Arc::new(throttle);
    let workers = match config.server.workers {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        n => n,
    };
    let admission = Arc::new(crate::layers::admission::AdmissionControl::new(
        config.admission.clone(),
        workers,
    ));
    let resilience = Arc::new(crate::route::resilience::Resilience::new(
        &config,
        clock.clone(),
        audit.clone(),
    ));
    let state = Arc::new(AppState {
        throttle,
        admission,
        resilience,
        store,
        hot,
        clock,
        audit,
        identity,
        authz,
        tenants,
        config_source: Default::default(),
        keyring,
        vault,
        routes: Arc::new(routes),
        metrics: crate::metrics::install(),
        config,
    });
    // Fail at start, not at the first request, if a gate cannot be built.
    let gates = pipeline::Gates::new(&state).map_err(|e| StartError::Config(vec![e]))?;

    let listeners = bind_reuseport(state.config.server.listen, workers)
        .map_err(|e| io(&format!("listen on {}", state.config.server.listen), &e))?;
    let addr = listeners[0].local_addr().map_err(|e| io("listener", &e))?;
    let (shutdown_tx, shutdown_rx) = watch::channel(false);

    let redirect_addr = match state.config.server.redirect_http_listen {
        Some(listen) => Some(
            start_redirect(listen, addr.port(), shutdown_rx.clone())
                .await
                .map_err(|e| io(&format!("redirect listener {listen}"), &e))?,
        ),
        None => None,
    };

    let mut handles = Vec::with_capacity(workers);
    for (i, listener) in listeners.into_iter().enumerate() {
        let state = state.clone();
        let gates = gates.clone();
        let tls = tls.clone();
        let shutdown = shutdown_rx.clone();
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
            .map_err(|e| io("worker thread", &e))?;
        handles.push(handle);
    }
    crate::audit::alerts::start(
        &state.config.audit.alerts,
        state.hot.clone(),
        state.clock.clone(),
        state.audit.clone(),
        state.identity.clone(),
        shutdown_rx.clone(),
    );
    tokio::spawn(identity_sync(state.clone(), shutdown_rx.clone()));
    tokio::spawn(crate::identity::revocations::keep_primed(
        state.identity.clone(),
        shutdown_rx.clone(),
    ));
    tokio::spawn(daily_audit_purge(state.clone(), shutdown_rx.clone()));
    tokio::spawn(flush_refusals(state.clone(), shutdown_rx.clone()));
    tokio::spawn(keyring_upkeep(state.clone(), shutdown_rx.clone()));
    if state.admission.watches_memory() {
        tokio::spawn(sample_memory(state.clone(), shutdown_rx.clone()));
    }
    Ok(RunningGateway {
        addr,
        redirect_addr,
        demo_addr,
        state,
        shutdown: shutdown_tx,
        workers: handles,
    })
}

/// Stores, once a second, the refusal samples whose period has ended (the final flush is in
/// [`RunningGateway::wait`]).
async fn flush_refusals(state: Arc<AppState>, mut shutdown: watch::Receiver<bool>) {
    let mut every = tokio::time::interval(std::time::Duration::from_secs(1));
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    while !*shutdown.borrow() {
        tokio::select! {
            _ = every.tick() => {
                state.audit.flush_refusals(false);
            }
            changed = shutdown.changed() => if changed.is_err() { break },
        }
    }
}

/// Runs the audit retention purge once a day, at `audit.purge_at` (UTC) or at the first check
/// after it.
async fn daily_audit_purge(state: Arc<AppState>, mut shutdown: watch::Receiver<bool>) {
    let Some(at_minute) = state.config.audit.purge_minute() else {
        return;
    };
    let mut every = tokio::time::interval(std::time::Duration::from_secs(60));
    let mut last_day = None;
    while !*shutdown.borrow() {
        tokio::select! {
            _ = every.tick() => {
                let now = state.clock.now_millis();
                let (day, minute) = (now / 86_400_000, (now % 86_400_000) / 60_000);
                if minute as u32 >= at_minute && last_day != Some(day) {
                    last_day = Some(day);
                    if let Some(trail) = state.audit.trail()
                        && let Err(e) = trail.purge(false).await
                    {
                        tracing::error!(error = %e, "audit retention purge failed");
                    }
                }
            }
            changed = shutdown.changed() => if changed.is_err() { break },
        }
    }
}

/// The master key (environment, key file, or in dev the data dir's), the keyring it unwraps,
/// and the secrets store over them.
async fn open_vault(
    config: &Config,
    store: palisade_store::SharedStore,
    clock: palisade_core::clock::SharedClock,
) -> Result<
    (
        Arc<crate::protect::keyring::KeyringService>,
        Arc<crate::protect::vault::Vault>,
    ),
    StartError,
> {
    let provider =
        crate::protect::master_key::provider_of(config).map_err(|e| StartError::Config(vec![e]))?;
    let keyring = Arc::new(
        crate::protect::keyring::KeyringService::open(store.clone(), provider, clock.clone())
            .await
            .map_err(|e| StartError::Config(vec![format!("keyring: {e}")]))?,
    );
    tracing::info!(primary = %keyring.current().primary_id(), "keyring loaded");
    let vault = Arc::new(crate::protect::vault::Vault::new(
        store,
        keyring.clone(),
        clock,
        config.secret_store.cache_ttl.0,
    ));
    Ok((keyring, vault))
}

/// Reloads the keyring and runs the re-encryption job every `secret_store.reencrypt_interval`
/// (the job does nothing when every value is under the primary key).
async fn keyring_upkeep(state: Arc<AppState>, mut shutdown: watch::Receiver<bool>) {
    let mut every = tokio::time::interval(state.config.secret_store.reencrypt_interval.0);
    while !*shutdown.borrow() {
        tokio::select! {
            _ = every.tick() => {
                if let Err(e) = state.keyring.reencrypt_all().await {
                    tracing::error!(error = %e, "keyring re-encryption failed; retrying later");
                }
            }
            changed = shutdown.changed() => if changed.is_err() { break },
        }
    }
}

/// Feeds the admission gate the process's resident memory, once a second.
async fn sample_memory(state: Arc<AppState>, mut shutdown: watch::Receiver<bool>) {
    let mut every = tokio::time::interval(std::time::Duration::from_secs(1));
    while !*shutdown.borrow() {
        tokio::select! {
            _ = every.tick() => {
                if let Some(bytes) = crate::layers::admission::resident_bytes() {
                    state.admission.report_memory(bytes);
                }
            }
            changed = shutdown.changed() => if changed.is_err() { break },
        }
    }
}

/// Identity's periodic duties on the control runtime, with a last flush at shutdown.
async fn identity_sync(state: Arc<AppState>, mut shutdown: watch::Receiver<bool>) {
    let mut every = tokio::time::interval(std::time::Duration::from_secs(10));
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    every.tick().await;
    while !*shutdown.borrow() {
        tokio::select! {
            _ = every.tick() => {
                state.identity.sync().await;
                state.throttle.evict_idle();
                if let Err(e) = state.tenants.reload().await {
                    tracing::warn!(error = %e, "cannot refresh tenants");
                }
            }
            changed = shutdown.changed() => if changed.is_err() { break },
        }
    }
    state.identity.api_keys.flush_last_used().await;
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
/// framing watch stands a marked request in for it, see [`crate::framing`], so the boundary
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
    gates: pipeline::Gates,
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
    let route_timeouts: Vec<Duration> = state
        .config
        .routes
        .iter()
        .filter_map(|r| r.connect_timeout.map(|t| t.0))
        .collect();
    let upstream: Arc<dyn Upstream> = Arc::new(HyperUpstream::new(
        PoolSettings {
            connect_timeout: proxy.connect_timeout.0,
            idle_timeout: proxy.pool_idle_timeout.0,
            max_idle_per_host: proxy.pool_max_idle_per_host,
        },
        &route_timeouts,
    ));
    let service = gates.service(&state, upstream);
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
                            Ok(Ok(tls_stream)) => serve_connection(&builder, TokioIo::new(ClientIo::new(tls_stream, linger, max_head)), ConnInfo::new(peer, true), service, shutdown).await,
                            Ok(Err(e)) => tracing::debug!(%peer, error = %e, "TLS handshake failed"),
                            Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                        },
                        None => serve_connection(&builder, TokioIo::new(ClientIo::new(stream, linger, max_head)), ConnInfo::new(peer, false), service, shutdown).await,
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
    service: pipeline::GatewayService,
    mut shutdown: watch::Receiver<bool>,
) where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let peer = info.peer;
    let hyper_service = hyper::service::service_fn(move |req: Request<Incoming>| {
        let mut req = req.map(Body::new);
        req.extensions_mut().insert(info.clone());
        service.clone().oneshot(req)
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

/// Resolves once shutdown has been asked for (or the gateway handle is gone).
async fn stopped(shutdown: &mut watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|stop| *stop).await;
}
