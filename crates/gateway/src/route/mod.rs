//! The route step, innermost in the pipeline: a request the boundary classified as one of
//! Palisade's own endpoints ([`builtin`]) goes to the built-in API; one it gave a route (the one
//! route decision, [`table`]) is forwarded to that route's upstream ([`proxy`] over
//! [`upstream`] — the worker's own connections, [`pool`] —, guarded by [`resilience`]) or, in library mode, handed to the wrapped service
//! in-process; anything else is 404 `no-route`. This step decides nothing again: it reads the
//! boundary's answer from [`RequestMeta`].
//!
//! Routes with `audit = true` record one `api.request` event per forwarded request.

pub mod builtin;
pub mod pool;
pub mod proxy;
pub mod resilience;
pub mod shared_stale;
pub mod table;
pub mod upstream;
pub mod websocket;

use crate::identity::Identity;
use crate::problem::refuse;
use crate::request::{BoxFuture, CallerKey, Req, RequestMeta, Res};
use http::StatusCode;
use resilience::Resilience;
use std::convert::Infallible;
use std::sync::Arc;
use std::task::{Context, Poll};
use tower::{Service, ServiceExt};
use upstream::Upstream;

/// The innermost step: Palisade's own endpoints, or the routed request's way onward.
#[derive(Clone)]
pub struct RouteService {
    builtin: axum::Router,
    identity: Arc<Identity>,
    onward: Onward,
}

/// Where a routed request goes.
#[derive(Clone)]
enum Onward {
    /// Forwarded to the route's upstream (`palisade serve`).
    Proxy {
        upstream: Arc<dyn Upstream>,
        resilience: Arc<Resilience>,
    },
    /// Handed to the service the gates wrap, in-process (library mode).
    App(InProcess),
}

/// The service library mode wraps (an axum `Router`, boxed).
pub(crate) type InProcess = tower::util::BoxCloneService<Req, Res, Infallible>;

impl RouteService {
    /// `builtin` answers Palisade's own endpoints (with its state attached); `upstream` carries
    /// forwarded requests.
    pub fn new(
        builtin: axum::Router,
        identity: Arc<Identity>,
        upstream: Arc<dyn Upstream>,
        resilience: Arc<Resilience>,
    ) -> Self {
        Self {
            builtin,
            identity,
            onward: Onward::Proxy {
                upstream,
                resilience,
            },
        }
    }

    /// Library mode: routed requests go to `app` in-process, with the principal and the
    /// authorized tenant on their extensions (no identity headers are added).
    pub(crate) fn in_process(
        builtin: axum::Router,
        identity: Arc<Identity>,
        app: InProcess,
    ) -> Self {
        Self {
            builtin,
            identity,
            onward: Onward::App(app),
        }
    }
}

impl Service<Req> for RouteService {
    type Response = Res;
    type Error = Infallible;
    type Future = BoxFuture;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Req) -> BoxFuture {
        self.route(req)
    }
}

impl RouteService {
    /// The route step for one request (what [`Service::call`] does; needs no `&mut`, so the
    /// fast assembly shares one route step across requests).
    pub fn route(&self, req: Req) -> BoxFuture {
        let meta = req.extensions().get::<RequestMeta>();
        if meta.is_some_and(|m| m.builtin.is_some()) {
            let router = self.builtin.clone();
            return Box::pin(async move { router.oneshot(req).await });
        }
        match meta.and_then(|m| m.route.clone()) {
            Some(route) => {
                let mut req = req;
                let audit = self.identity.audit.clone();
                match &self.onward {
                    Onward::Proxy {
                        upstream,
                        resilience,
                    } => {
                        let audited = route.audit.then(|| api_request_event(&req, route.name));
                        let upstream = upstream.clone();
                        let resilience = resilience.clone();
                        let identity = self.identity.clone();
                        Box::pin(async move {
                            identity
                                .attach_identity(route.name, &route.identity, &mut req)
                                .await;
                            let via = proxy::Forwarding {
                                upstream: upstream.as_ref(),
                                resilience: &resilience,
                            };
                            let res = if route.websocket.is_some() && proxy::is_upgrade(&req) {
                                websocket::forward(&via, &identity, route, req).await
                            } else {
                                proxy::forward(&via, route, req).await
                            };
                            if let Some(event) = audited {
                                audit.record(event.finish(res.status()));
                            }
                            Ok(res)
                        })
                    }
                    Onward::App(app) => {
                        let audited = route.audit.then(|| api_request_event(&req, route.name));
                        let app = app.clone();
                        Box::pin(async move {
                            let mut res = app.oneshot(req).await?;
                            // The app's answers are the upstream's: route headers, sanitizing.
                            res.extensions_mut().insert(crate::request::Proxied);
                            if let Some(event) = audited {
                                audit.record(event.finish(res.status()));
                            }
                            Ok(res)
                        })
                    }
                }
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
            .actor(CallerKey::of(principal, meta.client_ip).to_string())
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
