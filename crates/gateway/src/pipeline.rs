//! Assembles the gates into one service. Gates are built once at start and composed per worker;
//! the order here is the order in DESIGN.md. The gate still to come (inspect) slots in between
//! `authorize` and `route` without reshaping the rest.

use crate::layers::boundary::{BoundaryConfig, BoundaryLayer};
use crate::layers::firewall::FirewallLayer;
use crate::layers::identify::IdentifyLayer;
use crate::layers::respond::RespondLayer;
use crate::layers::sanitize::SanitizeLayer;
use crate::problem::refuse;
use crate::proxy::{self, Upstream};
use crate::request::{BoxFuture, Req, RequestMeta, Res};
use crate::state::AppState;
use crate::{cors, ops};
use http::StatusCode;
use palisade_core::client_ip::TrustedProxies;
use std::convert::Infallible;
use std::sync::Arc;
use std::task::{Context, Poll};
use tower::util::BoxCloneService;
use tower::{Layer, Service, ServiceBuilder, ServiceExt};
use tower_http::cors::CorsLayer;

pub type GatewayService = BoxCloneService<Req, Res, Infallible>;

/// The configured gates, built once at start (regexes compiled, headers parsed) and shared by
/// every worker; each worker puts them in front of its own upstream client.
#[derive(Clone)]
pub struct Gates {
    respond: RespondLayer,
    boundary: BoundaryLayer,
    cors: Option<CorsLayer>,
    sanitize: Option<SanitizeLayer>,
    admission: crate::layers::admission::AdmissionLayer,
    firewall: FirewallLayer,
    identify: IdentifyLayer,
    throttle: crate::layers::throttle::ThrottleLayer,
    authorize: crate::layers::authorize::AuthorizeLayer,
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
                .map(|h| {
                    crate::config::header_name(h)
                        .ok_or_else(|| format!("proxy.strip_headers: {h:?} is not a header name"))
                })
                .collect::<Result<_, _>>()?,
            underscore_headers: config.server.underscore_headers,
            path_policy: config.server.path_policy(),
            routes: state.routes.clone(),
            audit: state.audit.clone(),
        });
        Ok(Self {
            respond: RespondLayer::new(&config.headers, config.log.access)?,
            boundary,
            cors: cors::layer(&config.cors)?,
            sanitize: config
                .sanitize
                .enabled
                .then(|| {
                    SanitizeLayer::new(&config.sanitize.patterns, config.sanitize.max_scan_bytes.0)
                })
                .transpose()?,
            admission: crate::layers::admission::AdmissionLayer(state.admission.clone()),
            firewall: crate::layers::firewall::layer(state.identity.clone()),
            identify: crate::layers::identify::layer(state.identity.clone()),
            throttle: crate::layers::throttle::layer(state.throttle.clone()),
            authorize: crate::layers::authorize::layer(state.authz.clone()),
        })
    }

    /// The full pipeline over `upstream`.
    pub fn service(&self, state: &Arc<AppState>, upstream: Arc<dyn Upstream>) -> GatewayService {
        let route = RouteService {
            builtin: ops::router()
                .merge(crate::auth_api::router())
                .merge(crate::admin_api::router())
                .merge(crate::service_accounts::router())
                .merge(crate::admin_audit::router())
                .merge(crate::secrets_api::router())
                .merge(crate::transit::router())
                .with_state(state.clone()),
            identity: state.identity.clone(),
            upstream,
            resilience: state.resilience.clone(),
        };
        let cors = self.cors.clone();
        let service = ServiceBuilder::new()
            .layer(self.respond.clone())
            .layer(self.boundary.clone())
            .option_layer(
                cors.map(|c| tower::layer::layer_fn(move |inner| BoxedGate::new(c.layer(inner)))),
            )
            .layer(crate::audit_trail::DurabilityLayer(
                state.audit.trail().cloned(),
            ))
            .option_layer(self.sanitize.clone())
            .layer(self.admission.clone())
            .layer(self.firewall.clone())
            .layer(self.identify.clone())
            .layer(self.throttle.clone())
            .layer(self.authorize.clone())
            .service(route);
        BoxCloneService::new(service)
    }
}

/// Adapts a gate whose future is not our `BoxFuture` (tower-http's CORS) into the pipeline.
#[derive(Clone)]
pub struct BoxedGate<S> {
    inner: S,
}

impl<S> BoxedGate<S> {
    fn new(inner: S) -> Self {
        Self { inner }
    }
}

impl<S, B> Service<Req> for BoxedGate<S>
where
    S: Service<Req, Response = http::Response<B>, Error = Infallible>,
    S::Future: Send + 'static,
    B: http_body::Body<Data = bytes::Bytes> + Send + 'static,
    B::Error: Into<axum::BoxError>,
{
    type Response = Res;
    type Error = Infallible;
    type Future = BoxFuture;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Req) -> BoxFuture {
        let fut = self.inner.call(req);
        Box::pin(async move { Ok(fut.await?.map(axum::body::Body::new)) })
    }
}

/// The innermost step: Palisade's own endpoints, or the proxy.
#[derive(Clone)]
pub struct RouteService {
    builtin: axum::Router,
    identity: Arc<crate::identity::Identity>,
    upstream: Arc<dyn Upstream>,
    resilience: Arc<crate::resilience::Resilience>,
}

impl Service<Req> for RouteService {
    type Response = Res;
    type Error = Infallible;
    type Future = BoxFuture;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Req) -> BoxFuture {
        let meta = req.extensions().get::<RequestMeta>();
        if meta.is_some_and(|m| m.builtin.is_some()) {
            let router = self.builtin.clone();
            return Box::pin(async move { router.oneshot(req).await });
        }
        match meta.and_then(|m| m.route.clone()) {
            Some(route) => {
                let mut req = req;
                self.identity.attach_identity(route.name, &mut req);
                let upstream = self.upstream.clone();
                let resilience = self.resilience.clone();
                let audited = route.audit.then(|| api_request_event(&req, route.name));
                let audit = self.identity.audit.clone();
                Box::pin(async move {
                    let via = proxy::Forwarding {
                        upstream: upstream.as_ref(),
                        resilience: &resilience,
                    };
                    let res = proxy::forward(&via, route, req).await;
                    if let Some(event) = audited {
                        audit.record(event.finish(res.status()));
                    }
                    Ok(res)
                })
            }
            None => {
                let id = meta
                    .map(|m| m.request_id_str().to_owned())
                    .unwrap_or_default();
                Box::pin(async move {
                    Ok(refuse(
                        "route",
                        "no-route",
                        StatusCode::NOT_FOUND,
                        "No route serves this path.",
                        &id,
                    ))
                })
            }
        }
    }
}

/// An `api.request` audit event, begun before the request is forwarded (who, what) and
/// finished with the status.
struct ApiRequest(crate::audit::AuditEvent, String, String);

fn api_request_event(req: &Req, route: &'static str) -> ApiRequest {
    use crate::audit::{AuditEvent, Outcome, Risk};
    let mut event = AuditEvent::new("api.request", Risk::Low, Outcome::Success)
        .resource(format!("route:{route}"));
    if let Some(meta) = req.extensions().get::<RequestMeta>() {
        let principal = req
            .extensions()
            .get::<Arc<palisade_core::principal::Principal>>()
            .map(Arc::as_ref);
        event = event
            .actor(crate::request::CallerKey::of(principal, meta.client_ip).to_string())
            .origin(&crate::audit::RequestOrigin::of(req));
    }
    // The path only: queries carry tokens and personal data too often to be kept.
    ApiRequest(
        event,
        req.method().to_string(),
        req.uri().path().to_string(),
    )
}

impl ApiRequest {
    fn finish(self, status: StatusCode) -> crate::audit::AuditEvent {
        let ApiRequest(mut event, method, path) = self;
        event.outcome = match status.as_u16() {
            401 | 403 | 429 => crate::audit::Outcome::Denied,
            s if s >= 400 => crate::audit::Outcome::Failure,
            _ => crate::audit::Outcome::Success,
        };
        event.details(
            serde_json::json!({ "method": method, "path": path, "status": status.as_u16() }),
        )
    }
}
