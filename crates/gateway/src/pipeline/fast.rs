//! The fast assembly: the same gates as the tower stack ([`super::Gates::service`]), in the same
//! order, run by hand as one future per request. What `palisade serve`'s workers serve.
//!
//! Each step calls the gate code the tower layers call (`RespondGate::begin`/`finish`,
//! `BoundaryConfig::enter` and `Entered::bounded`, `DurableWatch`, sanitize's `Rules::after`,
//! `AdmissionControl::admit`, the [`Check`](crate::layers::check::Check) gates through [`run_check`], then the route step's
//! `RouteService::route`), so the two assemblies give the same answer to every request (a test,
//! `same_answer`, holds them to it). What it saves: no boxed future and no clone of the inner
//! stack per layer per request; a gate that is off (no CORS origins, sanitize disabled, no audit
//! trail) is one branch. The boxes left per request: the gate checks and route step as one (their
//! futures are large, and each level above would otherwise copy them whole as it starts
//! awaiting), the route step's own future and, with CORS configured, the one tower-http's CORS
//! service wraps.

use crate::audit::trail::AuditTrail;
use crate::layers::admission::AdmissionControl;
use crate::layers::authorize::Authorize;
use crate::layers::boundary::BoundaryConfig;
use crate::layers::check::{ResponseHeaders, run_check};
use crate::layers::durability::DurableWatch;
use crate::layers::firewall::Firewall;
use crate::layers::identify::Identify;
use crate::layers::respond::RespondGate;
use crate::layers::sanitize;
use crate::layers::throttle::Throttle;
use crate::request::{BoxFuture, Req, RequestMeta, Res};
use crate::route::RouteService;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use tower::ServiceExt;
use tower_http::cors::Cors;

/// The whole pipeline over one worker's route step, as one future per request.
pub struct FastPipeline {
    pub(super) respond: Arc<RespondGate>,
    pub(super) boundary: Arc<BoundaryConfig>,
    /// tower-http's CORS over the rest, when origins are configured.
    pub(super) cors: Option<Cors<AfterCors>>,
    pub(super) rest: AfterCors,
}

/// The steps inside CORS: durability, sanitize, admission, the checks and the route.
pub(super) struct Rest {
    pub(super) trail: Option<Arc<AuditTrail>>,
    pub(super) sanitize: Option<Arc<sanitize::Rules>>,
    pub(super) admission: Arc<AdmissionControl>,
    pub(super) firewall: Arc<Firewall>,
    pub(super) identify: Arc<Identify>,
    pub(super) lockdown: Arc<crate::layers::lockdown::LockdownGate>,
    pub(super) throttle: Arc<Throttle>,
    pub(super) authorize: Arc<Authorize>,
    pub(super) inspect: Arc<crate::layers::inspect::Inspect>,
    pub(super) query_tools: Arc<crate::layers::query_tools::QueryTools>,
    pub(super) upload: Arc<crate::layers::upload::Upload>,
    /// The route step is `Send` but not `Sync` (library mode's wrapped service is not): it is
    /// locked only to start a request's route future, never across an await, and each worker has
    /// its own, so the lock is never contended.
    pub(super) route: Mutex<RouteService>,
}

impl FastPipeline {
    /// Every request in, one answer out.
    pub async fn serve(&self, mut req: Req) -> Res {
        let began = self.respond.begin(&req);
        let mut res = match self.boundary.enter(&mut req) {
            Err(refused) => refused,
            Ok(entered) => {
                // Boxed, as `checked` below: hyper moves the request's future into its own
                // state, and the deadline's `Timeout` moves what it wraps; both should move a
                // pointer, not the steps' state (callgrind: 64,936 → 52,991 instructions per request).
                let Ok(res) = entered.bounded(Box::pin(self.inside_boundary(req))).await;
                res
            }
        };
        self.respond.finish(began, &mut res);
        res
    }

    async fn inside_boundary(&self, req: Req) -> Result<Res, Infallible> {
        match &self.cors {
            None => Ok(self.rest.0.serve(req).await),
            Some(cors) => {
                let Ok(res) = cors.clone().oneshot(req).await;
                Ok(res.map(axum::body::Body::new))
            }
        }
    }
}

impl Rest {
    async fn serve(&self, req: Req) -> Res {
        match DurableWatch::start(self.trail.as_ref(), &req) {
            None => self.sanitized(req).await,
            Some(watch) => watch.around(|| self.sanitized(req)).await,
        }
    }

    async fn sanitized(&self, req: Req) -> Res {
        let Some(rules) = &self.sanitize else {
            return self.admitted(req).await;
        };
        let request_id = req
            .extensions()
            .get::<RequestMeta>()
            .map(|m| m.request_id.clone());
        let res = self.admitted(req).await;
        rules.after(request_id, res).await
    }

    async fn admitted(&self, req: Req) -> Res {
        let in_flight = match self.admission.admit(&req) {
            Err(shed) => return shed,
            Ok(guard) => guard,
        };
        // Boxed once: the gates' futures are large (store and Redis calls inside), and every
        // level above would otherwise copy them whole each time it starts awaiting (measured:
        // ~53,000 instructions of memcpy per request unboxed, against one allocation boxed).
        let res = Box::pin(self.checked(req)).await;
        drop(in_flight);
        res
    }

    /// firewall ─► identify ─► lockdown ─► throttle ─► authorize ─► inspect ─► query_tools ─► upload ─►
    /// route. Headers a gate asked for go on whatever answer comes back from the steps after
    /// it, innermost first, as the tower layers put them.
    async fn checked(&self, mut req: Req) -> Res {
        let mut extra: [Option<ResponseHeaders>; 8] = Default::default();
        macro_rules! gate {
            ($i:expr, $check:expr) => {
                match run_check($check, &mut req).await {
                    Err(answer) => return with_headers(answer, extra),
                    Ok(headers) => extra[$i] = headers,
                }
            };
        }
        gate!(0, &*self.firewall);
        gate!(1, &*self.identify);
        gate!(2, &*self.lockdown);
        gate!(3, &self.throttle);
        gate!(4, &*self.authorize);
        gate!(5, &*self.inspect);
        gate!(6, &*self.query_tools);
        gate!(7, &*self.upload);
        let route = self
            .route
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .route(req);
        let Ok(res) = route.await;
        with_headers(res, extra)
    }
}

fn with_headers(mut res: Res, extra: [Option<ResponseHeaders>; 8]) -> Res {
    for headers in extra.into_iter().rev().flatten() {
        headers.apply(res.headers_mut());
    }
    res
}

/// The steps inside CORS as a service, for tower-http's CORS to wrap.
#[derive(Clone)]
pub struct AfterCors(pub(super) Arc<Rest>);

impl tower::Service<Req> for AfterCors {
    type Response = Res;
    type Error = Infallible;
    type Future = BoxFuture;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Req) -> BoxFuture {
        let rest = self.0.clone();
        Box::pin(async move { Ok(rest.serve(req).await) })
    }
}
