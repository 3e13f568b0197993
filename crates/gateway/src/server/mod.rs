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
//!
//! Start-up ([`start_with_clock`]) runs in named steps, in this order: the demo route, TLS, then
//! what library mode shares (`assemble`: the backends — data dir, master key, store, secret
//! references, hot state, keyring, vault —, the route table, audit, identity primed from the
//! record, the shared state, the gates), the listeners (`listener.rs`) and the background
//! duties (`duties.rs`). Any step that fails
//! stops the start with what failed; nothing is served before hot state holds every revocation
//! and block on record.

mod conn_io;
pub(crate) mod duties;
pub mod framing;
mod listener;
pub mod tls;

use crate::audit::AuditLog;
use crate::config::checks;
use crate::config::{Config, Environment};
use crate::identity::Identity;
use crate::pipeline;
use crate::protect::keyring::KeyringService;
use crate::protect::vault::Vault;
use crate::route::table::RouteTable;
use crate::state::AppState;
use palisade_core::clock::{SharedClock, SystemClock};
use palisade_store::{SharedHotState, SharedStore};
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::sync::watch;

/// Why a gateway could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The configuration has problems, each listed.
    #[error("the configuration has problems:\n  - {}", .0.join("\n  - "))]
    Config(Vec<String>),
    /// Something could not be opened or bound, named.
    #[error("{0}")]
    Io(String),
}

/// A started gateway. Dropping it starts a shutdown.
#[derive(Debug)]
pub struct RunningGateway {
    /// Where it listens.
    pub addr: SocketAddr,
    /// Where the HTTP→HTTPS redirect listens, if configured.
    pub redirect_addr: Option<SocketAddr>,
    /// Where the demo upstream listens, if it runs.
    pub demo_addr: Option<SocketAddr>,
    /// The shared state (for tests and the CLI).
    pub state: Arc<AppState>,
    shutdown: watch::Sender<bool>,
    workers: Vec<std::thread::JoinHandle<()>>,
    duties: duties::Duties,
}

impl RunningGateway {
    /// Starts a shutdown: listeners close, in-flight requests finish within the grace.
    pub fn shutdown(&self) {
        let _ = self.shutdown.send(true);
    }

    /// Waits for every worker and background duty to finish (after
    /// [`shutdown`](Self::shutdown); the duties' last writes, such as the final sign-in flush,
    /// land), then stores the
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
        std::mem::take(&mut self.duties).finish().await;
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
    clock: SharedClock,
) -> Result<RunningGateway, StartError> {
    let demo_addr = add_demo_route(&mut config).await?;
    let tls = tls_acceptor(&config)?;
    let workers = worker_count(&config);
    let (state, gates) = assemble(config, clock, workers).await?;
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let listening = listener::listen(&state, &gates, tls, workers, &shutdown_rx)
        .await
        .map_err(StartError::Io)?;
    let duties = duties::spawn(&state, &shutdown_rx);
    Ok(RunningGateway {
        addr: listening.addr,
        redirect_addr: listening.redirect_addr,
        demo_addr,
        state,
        shutdown: shutdown_tx,
        workers: listening.workers,
        duties,
    })
}

/// The steps `palisade serve` and library mode ([`crate::Palisade`]) share: the backends, the
/// route table, audit, identity primed from the record, the shared state and the gates. Nothing
/// is listening yet and no background duty runs; `workers` is how many serving loops the
/// admission gate watches.
pub(crate) async fn assemble(
    mut config: Config,
    clock: SharedClock,
    workers: usize,
) -> Result<(Arc<AppState>, pipeline::Gates), StartError> {
    let backends = open_backends(&mut config, &clock).await?;
    let routes = RouteTable::from_config(&config).map_err(|e| StartError::Config(vec![e]))?;
    let audit = open_audit(&config, &backends.store, &clock).await?;
    let identity = open_identity(&config, &backends, &clock, &audit).await?;
    let state =
        Arc::new(shared_state(config, backends, routes, audit, identity, workers, clock).await?);
    // Fail at start, not at the first request, if a gate cannot be built.
    let gates = pipeline::Gates::new(&state).map_err(|e| StartError::Config(vec![e]))?;
    Ok((state, gates))
}

fn io(what: &str, e: &dyn std::fmt::Display) -> StartError {
    StartError::Io(format!("{what}: {e}"))
}

/// Starts the built-in demo upstream, when enabled, and routes `/demo/` to it.
async fn add_demo_route(config: &mut Config) -> Result<Option<SocketAddr>, StartError> {
    if !config.demo_enabled() {
        return Ok(None);
    }
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
    Ok(Some(addr))
}

/// What the gateway keeps its state in, opened and ready.
struct Backends {
    store: SharedStore,
    hot: SharedHotState,
    limiter: Option<crate::hot::limiter::SharedLimiter>,
    stale: Option<palisade_store::redis_stale::RedisStale>,
    keyring: Arc<KeyringService>,
    vault: Arc<Vault>,
}

/// The data dir, the master key, the store, the secret references (which may live in the
/// store), the hot state, the instance id, and the keyring and vault; e-mail encryption is on
/// before anything reads a user.
async fn open_backends(config: &mut Config, clock: &SharedClock) -> Result<Backends, StartError> {
    crate::protect::files::create_private_dir(&config.server.data_dir).map_err(|e| {
        io(
            &format!("data dir {}", config.server.data_dir.display()),
            &e,
        )
    })?;
    crate::protect::master_key::attach(config).map_err(|e| StartError::Config(vec![e]))?;
    let store = palisade_store::open_store_with(
        &config.store.url,
        &config.server.data_dir,
        &config.store.postgres_options(),
    )
    .await
    .map_err(|e| io("store", &e))?;
    let env = config.server.env;
    crate::config::refs::resolve(config, env, Some(store.clone()), &|name| {
        std::env::var(name).ok()
    })
    .await
    .map_err(StartError::Config)?;
    let hot = crate::hot::open_hot(config, clock.clone())
        .await
        .map_err(|e| io("hot state", &e))?;
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
    let (keyring, vault) = open_vault(config, store.clone(), clock.clone()).await?;
    // Before anything reads or writes a user: e-mails are encrypted from here on.
    keyring
        .protect_emails()
        .await
        .map_err(|e| StartError::Config(vec![format!("e-mail encryption: {e}")]))?;
    Ok(Backends {
        store,
        hot: hot.hot,
        limiter: hot.limiter,
        stale: hot.stale,
        keyring,
        vault,
    })
}

/// The master key (environment, key file, or in dev the data dir's), the keyring it unwraps,
/// and the secrets store over them.
async fn open_vault(
    config: &Config,
    store: SharedStore,
    clock: SharedClock,
) -> Result<(Arc<KeyringService>, Arc<Vault>), StartError> {
    let provider =
        crate::protect::master_key::provider_of(config).map_err(|e| StartError::Config(vec![e]))?;
    let keyring = Arc::new(
        KeyringService::open(store.clone(), provider, clock.clone())
            .await
            .map_err(|e| StartError::Config(vec![format!("keyring: {e}")]))?,
    );
    tracing::info!(primary = %keyring.current().primary_id(), "keyring loaded");
    let vault = Arc::new(Vault::new(
        store,
        keyring.clone(),
        clock,
        config.secret_store.cache_ttl.0,
    ));
    Ok((keyring, vault))
}

/// The TLS acceptor when `tls.cert` and `tls.key` are set.
fn tls_acceptor(config: &Config) -> Result<Option<tokio_rustls::TlsAcceptor>, StartError> {
    match (&config.tls.cert, &config.tls.key) {
        (Some(cert), Some(key)) => Ok(Some(tokio_rustls::TlsAcceptor::from(
            tls::server_config(cert, key, config.tls.min_version)
                .map_err(|e| StartError::Config(vec![e]))?,
        ))),
        _ => Ok(None),
    }
}

/// The audit log with its durable trail (the writer task) and refusal sampler attached.
async fn open_audit(
    config: &Config,
    store: &SharedStore,
    clock: &SharedClock,
) -> Result<Arc<AuditLog>, StartError> {
    let audit = Arc::new(AuditLog::new(palisade_core::redact::RedactOptions {
        emails: config.log.redact_emails,
        ipv4: config.log.redact_ipv4,
    }));
    // The recorder first: the trail registers its counters at zero, and a counter registered
    // before the recorder exists is lost (absent from /metrics until its first increment).
    crate::metrics::install();
    let trail = crate::audit::trail::AuditTrail::start(
        store.clone(),
        &config.secrets,
        clock.clone(),
        &config.audit,
        config.retention.audit_periods(&config.audit),
    )
    .await
    .map_err(|e| StartError::Config(vec![e]))?;
    audit.attach(trail);
    audit.attach_refusals(crate::audit::refusals::RefusalSampler::new(
        &config.audit,
        clock.clone(),
    ));
    Ok(audit)
}

/// Identity (keys, caches, brute-force defense), with hot state primed from the record: before
/// anything is served, hot state holds every revocation and block on record.
async fn open_identity(
    config: &Config,
    backends: &Backends,
    clock: &SharedClock,
    audit: &Arc<AuditLog>,
) -> Result<Arc<Identity>, StartError> {
    let identity = Arc::new(
        Identity::start(
            config,
            backends.store.clone(),
            backends.hot.clone(),
            clock.clone(),
            audit.clone(),
        )
        .await
        .map_err(|e| StartError::Config(vec![e]))?,
    );
    identity
        .prime_hot_state()
        .await
        .map_err(|e| io("priming the hot state from the store", &e))?;
    Ok(identity)
}

/// `server.workers`, or one per core the process may run on.
fn worker_count(config: &Config) -> usize {
    match config.server.workers {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        n => n,
    }
}

/// What every worker shares: the tenant snapshot, the authorizer, the throttle (on the shared
/// limiter when there is one), admission control, resilience and the metrics handle.
async fn shared_state(
    config: Config,
    backends: Backends,
    routes: RouteTable,
    audit: Arc<AuditLog>,
    identity: Arc<Identity>,
    workers: usize,
    clock: SharedClock,
) -> Result<AppState, StartError> {
    let store = backends.store;
    let tenants = Arc::new(
        crate::authz::tenants::Tenants::load(store.clone())
            .await
            .map_err(|e| io("store", &e))?,
    );
    let authz = Arc::new(
        crate::authz::Authorizer::new(
            crate::authz::compile(&config).map_err(StartError::Config)?,
            audit.clone(),
            tenants.clone(),
        )
        .with_clock(clock.clone()),
    );
    let mut throttle =
        crate::layers::throttle::Throttle::new(&config.rate_limit, clock.clone(), audit.clone())
            .under_mount(config.api.mount());
    if let Some(limiter) = backends.limiter {
        throttle = throttle.with_shared(limiter, config.rate_limit.on_backend_error);
    }
    let admission = Arc::new(crate::layers::admission::AdmissionControl::new(
        config.admission.clone(),
        workers,
    ));
    let mut resilience =
        crate::route::resilience::Resilience::new(&config, clock.clone(), audit.clone());
    if let Some(redis) = backends.stale {
        resilience = resilience.with_shared(crate::route::shared_stale::SharedStale::new(
            redis,
            backends.keyring.clone(),
            clock.clone(),
            &config.circuit_breaker,
        ));
    }
    let resilience = Arc::new(resilience);
    let passkeys = crate::passkeys::Passkeys::new(&config.auth.passkeys, clock.clone())
        .map_err(|e| StartError::Config(vec![e]))?;
    let federation = crate::identity::federation::Federation::new(&config.auth, clock.clone())
        .map_err(|e| StartError::Config(vec![e]))?;
    let series = Arc::new(crate::series::Series::new(clock.clone()));
    Ok(AppState {
        passkeys,
        federation,
        throttle: Arc::new(throttle),
        admission,
        resilience,
        store,
        hot: backends.hot,
        clock,
        audit,
        identity,
        authz,
        tenants,
        config_source: Default::default(),
        keyring: backends.keyring,
        vault: backends.vault,
        routes: Arc::new(routes),
        series,
        metrics: crate::metrics::install(),
        config,
    })
}
