//! Library mode: Palisade's gates in front of an axum service, in-process.
//!
//! [`Palisade::builder`] takes the same [`Config`] `palisade serve` reads and opens what the
//! server opens (store, hot state — memory or Redis —, audit trail, keys, identity primed from
//! the record) with the very start-up steps the server runs, then starts the same background
//! duties (the audit writer, identity's sync, keeping hot state primed, the retention job,
//! keyring upkeep) on the current tokio runtime. [`Palisade::layer`] wraps the application's
//! whole `Router` (not each route: see [`PalisadeLayer`]) in the full pipeline — boundary,
//! CORS, durability, sanitize, admission, firewall, identify, throttle, authorize — so the
//! guarantees are the proxy's: a request id on every answer, the client IP from
//! `ConnectInfo<SocketAddr>` and trusted proxies only, one canonical path, problem+json
//! refusals, and no answer whose durable audit events could not be stored (503 instead).
//!
//! Palisade's own endpoints (sign-in, tokens, API keys, `/admin`, secrets, transit, ops, JWKS)
//! are answered by the layer itself under the mount, `/.palisade` unless `api.mount` says
//! otherwise, so the application's own `/auth` and `/admin` stay its own. Every other path needs
//! a configured route (`[[routes]]` without `upstream`): its policy decides who may call, and
//! a path no route covers is 404 `no-route`, as in the proxy. Handlers read who is calling with
//! the [`Caller`] extractor.

mod caller;

pub use caller::{Caller, RequestId};

use crate::audit::AuditLog;
use crate::config::Config;
use crate::identity::Identity;
use crate::pipeline::{Gates, GatewayService};
use crate::request::{BoxFuture, ConnInfo, Req, Res};
use crate::server::StartError;
use crate::state::AppState;
use axum::extract::ConnectInfo;
use http::StatusCode;
use palisade_core::clock::{SharedClock, SystemClock};
use palisade_store::SharedStore;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::task::{Context, Poll};
use tokio::sync::watch;
use tower::util::BoxCloneService;
use tower::{Layer, Service};

/// A running set of Palisade's gates for in-process use; made by [`Palisade::builder`].
///
/// It owns the background duties: dropping it stops them, and [`Palisade::shutdown`] also
/// stores the refusal counts still held and signs a checkpoint of the audit trail's head.
///
/// ```
/// use axum::body::Body;
/// use axum::extract::ConnectInfo;
/// use axum::{Router, routing::get};
/// use palisade_gateway::{Caller, Config, Palisade};
/// use std::net::SocketAddr;
/// use tower::{Layer, ServiceExt};
///
/// # #[tokio::main(flavor = "multi_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let dir = tempfile::tempdir()?;
/// let mut config = Config::from_toml(
///     r#"
///     [store]
///     url = "memory:"
///
///     [[routes]]
///     prefix = "/me"
///     auth = "any"
///     "#,
/// )?;
/// # config.server.data_dir = dir.path().into();
/// let palisade = Palisade::builder(config).build().await?;
/// assert_eq!(palisade.mount(), "/.palisade");
///
/// let app = Router::new().route("/me", get(|who: Caller| async move { who.subject().to_owned() }));
/// let service = palisade.layer().layer(app);
///
/// // No credential: the route's policy refuses before the handler runs.
/// let peer: SocketAddr = "192.0.2.7:50000".parse()?;
/// let request = http::Request::get("/me")
///     .header("host", "api.example")
///     .extension(ConnectInfo(peer))
///     .body(Body::empty())?;
/// let answer = service.oneshot(request).await?;
/// assert_eq!(answer.status(), 401);
/// assert_eq!(answer.headers()["content-type"], "application/problem+json");
/// assert!(answer.headers().contains_key("x-request-id"));
///
/// palisade.shutdown().await;
/// # Ok(())
/// # }
/// ```
pub struct Palisade {
    state: Arc<AppState>,
    gates: Gates,
    shutdown: watch::Sender<bool>,
    duties: crate::server::duties::Duties,
}

impl std::fmt::Debug for Palisade {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Palisade")
            .field("mount", &self.mount())
            .finish_non_exhaustive()
    }
}

/// Configures and starts a [`Palisade`]; from [`Palisade::builder`].
#[must_use = "a builder does nothing until `build` is awaited"]
pub struct PalisadeBuilder {
    config: Config,
    clock: SharedClock,
}

impl Palisade {
    /// Starts configuring library mode with `config`: the same [`Config`] `palisade serve`
    /// reads ([`Config::load`], [`Config::from_toml`]), with two differences: routes name no
    /// upstream (the wrapped service answers them), and `api.mount` defaults to `/.palisade`.
    pub fn builder(config: Config) -> PalisadeBuilder {
        PalisadeBuilder {
            config,
            clock: Arc::new(SystemClock),
        }
    }

    /// The layer that puts the gates in front of a service; apply it to the application's
    /// whole `Router` (`palisade.layer().layer(router)`), see [`PalisadeLayer`].
    pub fn layer(&self) -> PalisadeLayer {
        PalisadeLayer {
            state: self.state.clone(),
            gates: self.gates.clone(),
        }
    }

    /// Where Palisade's own endpoints are answered: `api.mount`, by default `/.palisade`
    /// (sign-in at `/.palisade/auth/login`, the JWKS at `/.palisade/.well-known/jwks.json`).
    pub fn mount(&self) -> &str {
        self.state.routes.mount()
    }

    /// Accounts, credentials and the administration use cases
    /// ([`crate::identity::manage`]): what an application calls to create users or issue API
    /// keys from its own code, each on the record like the same action through `/admin`.
    pub fn identity(&self) -> &Arc<Identity> {
        &self.state.identity
    }

    /// The durable store (users, keys, sessions, tenants, the audit trail, secrets).
    pub fn store(&self) -> &SharedStore {
        &self.state.store
    }

    /// The audit log: an application may record its own events in the same tamper-evident
    /// trail ([`AuditLog::record`]).
    pub fn audit(&self) -> &Arc<AuditLog> {
        &self.state.audit
    }

    /// Stops the background duties (waiting for their last writes), stores the refusal counts
    /// the sampler still holds, commits the queued audit events and signs a checkpoint of the
    /// trail's head. Requests still
    /// served by a layer after this are answered, but nothing keeps hot state in step.
    pub async fn shutdown(mut self) {
        let _ = self.shutdown.send(true);
        std::mem::take(&mut self.duties).finish().await;
        self.state.audit.flush_refusals(true);
        if let Some(trail) = self.state.audit.trail() {
            trail.checkpoint().await;
        }
    }
}

impl Drop for Palisade {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
    }
}

impl PalisadeBuilder {
    /// Reads time from `clock` instead of the system clock (tests move it by hand).
    pub fn clock(mut self, clock: SharedClock) -> Self {
        self.clock = clock;
        self
    }

    /// Checks the configuration (every problem listed at once, as `palisade config check`
    /// would for `server.env`; in dev, missing secrets are generated into `server.data_dir`),
    /// opens the store and hot state, primes hot state from the record, builds the gates and
    /// starts the background duties on the current runtime (an ordinary multi-thread
    /// `#[tokio::main]` runtime is right). Fails like `palisade serve` would, naming what.
    pub async fn build(self) -> Result<Palisade, StartError> {
        let mut config = self.config;
        config.api.in_process = true;
        let env = config.server.env;
        let config = crate::server::prepare(config, env)?;
        // One serving loop as far as admission is concerned: its lag probes belong to the
        // server's per-core workers; in-flight and memory limits apply as configured.
        let (state, gates) = crate::server::assemble(config, self.clock, 1).await?;
        let (shutdown, watching) = watch::channel(false);
        let duties = crate::server::duties::spawn(&state, &watching);
        Ok(Palisade {
            state,
            gates,
            shutdown,
            duties,
        })
    }
}

/// Puts Palisade's gates in front of a service (an axum `Router`): apply it to the whole
/// router, `palisade.layer().layer(router)`, and serve the result with
/// `axum::ServiceExt::into_make_service_with_connect_info::<SocketAddr>()`:
///
/// ```no_run
/// # async fn serve(palisade: palisade_gateway::Palisade, router: axum::Router) -> std::io::Result<()> {
/// use axum::ServiceExt as _;
/// use std::net::SocketAddr;
/// use tower::Layer as _;
///
/// let app = palisade.layer().layer(router);
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
/// axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>()).await
/// # }
/// ```
///
/// Not `Router::layer`: axum runs a router's layers after it picked a handler by the path as
/// sent, while the gates authorize the canonical path (`/public/../admin` is `/admin`), so a
/// handler could run under another route's policy. Wrapping the whole router makes it route
/// the canonical path the gates decided on; [`PalisadeService`] is not `Sync`, which
/// `Router::layer` requires, so that mistake does not compile:
///
/// ```compile_fail
/// # fn wrong(palisade: palisade_gateway::Palisade) {
/// let per_route: axum::Router = axum::Router::new().layer(palisade.layer());
/// # }
/// ```
#[derive(Clone)]
pub struct PalisadeLayer {
    state: Arc<AppState>,
    gates: Gates,
}

impl std::fmt::Debug for PalisadeLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PalisadeLayer").finish_non_exhaustive()
    }
}

impl<S> Layer<S> for PalisadeLayer
where
    S: Service<Req, Response = Res, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Service = PalisadeService;

    fn layer(&self, app: S) -> PalisadeService {
        PalisadeService {
            inner: self
                .gates
                .in_process(&self.state, BoxCloneService::new(app)),
        }
    }
}

/// A service behind Palisade's gates; from [`PalisadeLayer`]. Every request needs the peer's
/// address as axum's `ConnectInfo<SocketAddr>` (served with
/// `into_make_service_with_connect_info`): without it the client IP is unknown, so the
/// request is refused (500 problem+json `no-peer-address`) rather than counted as someone else.
#[derive(Clone)]
pub struct PalisadeService {
    inner: GatewayService,
}

impl std::fmt::Debug for PalisadeService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PalisadeService").finish_non_exhaustive()
    }
}

impl Service<Req> for PalisadeService {
    type Response = Res;
    type Error = Infallible;
    type Future = BoxFuture;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Req) -> BoxFuture {
        if let Some(ConnectInfo(peer)) = req.extensions().get::<ConnectInfo<SocketAddr>>() {
            let conn = ConnInfo::new(*peer, false);
            req.extensions_mut().insert(conn);
        } else if req.extensions().get::<ConnInfo>().is_none() {
            tracing::error!(
                "a request reached Palisade's layer without ConnectInfo<SocketAddr>: serve the app with into_make_service_with_connect_info::<SocketAddr>()"
            );
            let res = crate::problem::refuse(
                crate::layers::boundary::GATE,
                "no-peer-address",
                StatusCode::INTERNAL_SERVER_ERROR,
                "This service is misconfigured: it cannot tell where requests come from.",
                "",
            );
            return Box::pin(async move { Ok(res) });
        }
        self.inner.call(req)
    }
}
