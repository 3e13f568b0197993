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
        let Some(trail) = self.trail.clone() else {
            return Box::pin(inner.call(req));
        };
        let before = trail.durable_ticket();
        let emits_security_events = req
            .extensions()
            .get::<RequestMeta>()
            .and_then(|m| m.builtin)
            .is_some_and(Builtin::records_security_events);
        let request_id = req
            .extensions()
            .get::<RequestMeta>()
            .map(|m| m.request_id.clone());
        Box::pin(async move {
            let id = || {
                request_id
                    .as_ref()
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("-")
                    .to_owned()
            };
            if emits_security_events && !trail.room().await {
                return Ok(audit_unavailable(&id()));
            }
            let Ok(res) = inner.call(req).await;
            let after = trail.durable_ticket();
            if after > before && !trail.durable_within_timeout(after).await {
                tracing::error!(
                    "an answer's audit events were not stored in time; answering 503 instead"
                );
                return Ok(audit_unavailable(&id()));
            }
            Ok(res)
        })
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
