//! Assembles the gates in front of the route step. Gates are built once at start and composed per worker;
//! the order here is the order in DESIGN.md, `inspect`, `query_tools` and `upload` last before
//! `route`.
//!
//! Two assemblies of the same gate code: the tower stack ([`Gates::service`] over an upstream,
//! `Gates::in_process` over an application's own service in library mode, [`crate::Palisade`]),
//! the public shape; and the fast assembly ([`Gates::fast`], [`fast::FastPipeline`]) that
//! `palisade serve`'s workers serve: one future per request, no boxed future or clone of the
//! stack per layer. A test (`same_answer`) holds both to the same answers.

pub mod fast;
#[cfg(test)]
mod same_answer;

use crate::layers::admission::AdmissionLayer;
use crate::layers::authorize::AuthorizeLayer;
use crate::layers::boundary::{BoundaryConfig, BoundaryLayer};
use crate::layers::cors::{self, CorsGate};
use crate::layers::durability::DurabilityLayer;
use crate::layers::firewall::FirewallLayer;
use crate::layers::identify::IdentifyLayer;
use crate::layers::inspect::InspectLayer;
use crate::layers::respond::RespondLayer;
use crate::layers::sanitize::SanitizeLayer;
use crate::layers::throttle::ThrottleLayer;
use crate::request::{Req, Res};
use crate::route::upstream::Upstream;
use crate::route::{InProcess, RouteService};
use crate::state::AppState;
use palisade_core::client_ip::TrustedProxies;
use std::convert::Infallible;
use std::sync::Arc;
use tower::ServiceBuilder;
use tower::util::BoxCloneService;

/// The whole pipeline as one service: every request in, one answer out (never an error).
pub type GatewayService = BoxCloneService<Req, Res, Infallible>;

/// The configured gates, built once at start (regexes compiled, headers parsed) and shared by
/// every worker; each worker puts them in front of its own upstream client.
#[derive(Clone)]
pub struct Gates {
    respond: RespondLayer,
    boundary: BoundaryLayer,
    cors: Option<CorsGate>,
    sanitize: Option<SanitizeLayer>,
    admission: AdmissionLayer,
    firewall: FirewallLayer,
    identify: IdentifyLayer,
    lockdown: crate::layers::lockdown::LockdownLayer,
    throttle: ThrottleLayer,
    authorize: AuthorizeLayer,
    inspect: InspectLayer,
    query_tools: crate::layers::query_tools::QueryToolsLayer,
    upload: crate::layers::upload::UploadLayer,
}

impl Gates {
    /// Builds the gates from the configuration; an error names the config key at fault.
    pub fn new(state: &AppState) -> Result<Self, String> {
        let config = &state.config;
        let boundary = BoundaryLayer::new(BoundaryConfig {
            allowed_hosts: config.server.allowed_hosts.clone(),
            trusted_proxies: TrustedProxies::new(config.server.trusted_proxies.clone()),
            max_header_bytes: config.limits.max_header_bytes.0,
            max_body: config.limits.max_body.0,
            request_timeout: config.limits.request_timeout.0,
            behind_tls_proxy: config.server.behind_tls_proxy,
            strip_headers: config
                .proxy
                .strip_headers
                .iter()
                .cloned()
                .chain(crate::config::identity_names::stripped_names(config))
                .map(|h| {
                    crate::config::header_name(&h)
                        .ok_or_else(|| format!("proxy.strip_headers: {h:?} is not a header name"))
                })
                .collect::<Result<_, _>>()?,
            underscore_headers: config.server.underscore_headers,
            path_policy: config.server.path_policy(),
            routes: state.routes.clone(),
            audit: state.audit.clone(),
        });
        Ok(Self {
            respond: RespondLayer::new(&config.headers, config.log.access)?
                .counting(state.series.clone()),
            boundary,
            cors: cors::layer(&config.cors)?,
            sanitize: config
                .sanitize
                .enabled
                .then(|| {
                    SanitizeLayer::new(&config.sanitize.patterns, config.sanitize.max_scan_bytes.0)
                })
                .transpose()?,
            admission: AdmissionLayer(state.admission.clone()),
            firewall: crate::layers::firewall::layer(
                state.identity.clone(),
                config.firewall.clone(),
            )?,
            identify: crate::layers::identify::layer(state.identity.clone(), state.routes.mount()),
            lockdown: crate::layers::lockdown::layer(
                state.identity.clone(),
                state.authz.clone(),
                state.routes.mount(),
            ),
            throttle: crate::layers::throttle::layer(state.throttle.clone()),
            authorize: crate::layers::authorize::layer(state.authz.clone()),
            inspect: crate::layers::inspect::layer(state.audit.clone()),
            query_tools: crate::layers::query_tools::layer(
                state.audit.clone(),
                state.authz.clone(),
            ),
            upload: crate::layers::upload::layer(state.audit.clone()),
        })
    }

    /// The full pipeline over `upstream`.
    pub fn service(&self, state: &Arc<AppState>, upstream: Arc<dyn Upstream>) -> GatewayService {
        let route = RouteService::new(
            builtin_router(state),
            state.identity.clone(),
            upstream,
            state.resilience.clone(),
        );
        self.over(state, route)
    }

    /// The full pipeline over `upstream`, assembled by hand (see [`fast`]): what each worker
    /// of `palisade serve` serves.
    pub fn fast(&self, state: &Arc<AppState>, upstream: Arc<dyn Upstream>) -> fast::FastPipeline {
        let route = RouteService::new(
            builtin_router(state),
            state.identity.clone(),
            upstream,
            state.resilience.clone(),
        );
        let rest = fast::AfterCors(Arc::new(fast::Rest {
            trail: state.audit.trail().cloned(),
            sanitize: self.sanitize.as_ref().map(|s| s.gate().clone()),
            admission: self.admission.0.clone(),
            firewall: self.firewall.check().clone(),
            identify: self.identify.check().clone(),
            lockdown: self.lockdown.check().clone(),
            throttle: Arc::clone(self.throttle.check()),
            authorize: self.authorize.check().clone(),
            inspect: self.inspect.check().clone(),
            query_tools: self.query_tools.check().clone(),
            upload: self.upload.check().clone(),
            route: std::sync::Mutex::new(route),
        }));
        fast::FastPipeline {
            respond: self.respond.gate().clone(),
            boundary: self.boundary.gate().clone(),
            cors: self.cors.as_ref().map(|c| c.over(rest.clone())),
            rest,
        }
    }

    /// The full pipeline over an application's own service, in-process (library mode): routed
    /// requests reach `app` instead of an upstream.
    pub(crate) fn in_process(&self, state: &Arc<AppState>, app: InProcess) -> GatewayService {
        let route = RouteService::in_process(builtin_router(state), state.identity.clone(), app);
        self.over(state, route)
    }

    /// The gates, in order, over the route step.
    fn over(&self, state: &AppState, route: RouteService) -> GatewayService {
        let service = ServiceBuilder::new()
            .layer(self.respond.clone())
            .layer(self.boundary.clone())
            .option_layer(self.cors.clone())
            .layer(DurabilityLayer(state.audit.trail().cloned()))
            .option_layer(self.sanitize.clone())
            .layer(self.admission.clone())
            .layer(self.firewall.clone())
            .layer(self.identify.clone())
            .layer(self.lockdown.clone())
            .layer(self.throttle.clone())
            .layer(self.authorize.clone())
            .layer(self.inspect.clone())
            .layer(self.query_tools.clone())
            .layer(self.upload.clone())
            .service(route);
        BoxCloneService::new(service)
    }
}

/// Palisade's own endpoints under the mount (`api.mount`): the built-in router as is at the
/// root, else nested, so a handler sees its path below the mount (`/auth/login`), as the
/// boundary's classification does.
fn builtin_router(state: &Arc<AppState>) -> axum::Router {
    let api = crate::api::router(state.clone());
    match state.routes.mount() {
        "" => api,
        mount if state.routes.jwks_at_root() => axum::Router::new()
            .nest(mount, api)
            .merge(crate::api::root_jwks_router(state.clone())),
        mount => axum::Router::new().nest(mount, api),
    }
}
