//! The `durability` gate: a security event is durable before the answer that caused it is
//! sent. Fail closed: an answer whose events cannot be stored within `audit.durable_timeout`
//! becomes a 503, and under back-pressure (`audit.max_queue`) requests to Palisade's own APIs
//! wait for room in the queue first.

use crate::audit::trail::AuditTrail;
use crate::request::{BoxFuture, Req, RequestMeta, Res};
use crate::route::builtin::Builtin;
use std::sync::Arc;

/// Holds each response until the durable audit events submitted while it was being produced are
/// committed: a security event is durable before the answer that caused it is sent. Requests
/// that emitted none (or only events of `audit.async_classes`, or sampled refusals, which are
/// submitted with [`AuditTrail::submit_async`](crate::audit::trail::AuditTrail::submit_async)) pass with two atomic reads.
/// It sits inside `boundary` and `cors` (no gate outside it records events), so a 503 it answers
/// instead gets the request id, CORS and security headers, metrics and the access log like any
/// other answer.
#[derive(Clone)]
pub struct DurabilityLayer(pub Option<Arc<AuditTrail>>);

impl<S> tower::Layer<S> for DurabilityLayer {
    type Service = Durable<S>;
    fn layer(&self, inner: S) -> Durable<S> {
        Durable {
            inner,
            trail: self.0.clone(),
        }
    }
}

/// The durability layer's service (see [`DurabilityLayer`]).
#[derive(Clone)]
pub struct Durable<S> {
    inner: S,
    trail: Option<Arc<AuditTrail>>,
}

impl<S> tower::Service<Req> for Durable<S>
where
    S: tower::Service<Req, Response = Res, Error = std::convert::Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    type Response = Res;
    type Error = std::convert::Infallible;
    type Future = BoxFuture;

    fn poll_ready(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Req) -> BoxFuture {
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        match DurableWatch::start(self.trail.as_ref(), &req) {
            None => Box::pin(inner.call(req)),
            Some(watch) => Box::pin(async move {
                Ok(watch
                    .around(move || async move {
                        let Ok(res) = inner.call(req).await;
                        res
                    })
                    .await)
            }),
        }
    }
}

/// The durability gate's request-time work, shared by the tower layer and the fast assembly:
/// noted before the inner step ([`DurableWatch::start`]), then [`DurableWatch::around`] it.
pub struct DurableWatch {
    trail: Arc<AuditTrail>,
    before: u64,
    emits_security_events: bool,
    request_id: Option<http::HeaderValue>,
}

impl DurableWatch {
    /// What to watch for `req`; `None` without a trail (the gate is off).
    pub fn start(trail: Option<&Arc<AuditTrail>>, req: &Req) -> Option<Self> {
        let trail = trail?.clone();
        let before = trail.durable_ticket();
        let meta = req.extensions().get::<RequestMeta>();
        Some(Self {
            trail,
            before,
            emits_security_events: meta
                .and_then(|m| m.builtin)
                .is_some_and(Builtin::records_security_events),
            request_id: meta.map(|m| m.request_id.clone()),
        })
    }

    /// Runs `inner` (made only once there is room for its events) and holds its answer until
    /// the durable events it submitted are committed; 503 instead when they cannot be.
    pub async fn around<F, Fut>(self, inner: F) -> Res
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Res>,
    {
        let id = || {
            self.request_id
                .as_ref()
                .and_then(|v| v.to_str().ok())
                .unwrap_or("-")
                .to_owned()
        };
        if self.emits_security_events && !self.trail.room().await {
            return audit_unavailable(&id());
        }
        let res = inner().await;
        let after = self.trail.durable_ticket();
        if after > self.before && !self.trail.durable_within_timeout(after).await {
            tracing::error!(
                "an answer's audit events were not stored in time; answering 503 instead"
            );
            return audit_unavailable(&id());
        }
        res
    }
}

/// 503 when the trail cannot take or store an answer's events in time: the answer is withheld
/// (fail closed), never its body, cookies or credentials.
fn audit_unavailable(request_id: &str) -> Res {
    let mut res = crate::problem::refuse(
        "audit",
        "audit-unavailable",
        http::StatusCode::SERVICE_UNAVAILABLE,
        "The audit trail cannot record this request right now; retry shortly.",
        request_id,
    );
    res.headers_mut().insert(
        http::header::RETRY_AFTER,
        http::HeaderValue::from_static("5"),
    );
    res
}
