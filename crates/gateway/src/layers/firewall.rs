//! The `firewall` gate: refuses client IPs under a threat-level block (placed by the brute-force
//! defense) with 403 and `Retry-After`. A block lookup that cannot be answered refuses with 503
//! (fail closed). Ops endpoints stay reachable so a blocked monitoring host can still see health.

use super::{BoxFuture, Req, RequestMeta, Res};
use crate::identity::Identity;
use crate::problem::refuse;
use http::{HeaderValue, StatusCode, header};
use std::sync::Arc;
use std::task::{Context, Poll};
use tower::{Layer, Service};

pub const GATE: &str = "firewall";

#[derive(Clone)]
pub struct FirewallLayer {
    identity: Arc<Identity>,
}

impl FirewallLayer {
    pub fn new(identity: Arc<Identity>) -> Self {
        Self { identity }
    }
}

impl<S> Layer<S> for FirewallLayer {
    type Service = Firewall<S>;
    fn layer(&self, inner: S) -> Firewall<S> {
        Firewall {
            inner,
            identity: self.identity.clone(),
        }
    }
}

#[derive(Clone)]
pub struct Firewall<S> {
    inner: S,
    identity: Arc<Identity>,
}

impl<S> Service<Req> for Firewall<S>
where
    S: Service<Req, Response = Res, Error = std::convert::Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Res;
    type Error = std::convert::Infallible;
    type Future = BoxFuture;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Req) -> BoxFuture {
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let identity = self.identity.clone();
        Box::pin(async move {
            let Some(meta) = req.extensions().get::<RequestMeta>().cloned() else {
                return inner.call(req).await;
            };
            if crate::ops::PATHS.contains(&req.uri().path()) || !identity.brute.enabled {
                return inner.call(req).await;
            }
            match identity.brute.blocked(meta.client_ip).await {
                Ok(None) => inner.call(req).await,
                Ok(Some(left)) => {
                    let mut res = refuse(
                        GATE,
                        "ip-blocked",
                        StatusCode::FORBIDDEN,
                        "This address is blocked after repeated failed sign-ins.",
                        meta.request_id_str(),
                    );
                    let secs = left.as_secs_f64().ceil().max(1.0) as u64;
                    res.headers_mut()
                        .insert(header::RETRY_AFTER, HeaderValue::from(secs));
                    Ok(res)
                }
                Err(e) => {
                    tracing::warn!(error = %e, "IP block lookup failed; refusing");
                    Ok(refuse(
                        GATE,
                        "unavailable",
                        StatusCode::SERVICE_UNAVAILABLE,
                        "The request cannot be checked right now; try again shortly.",
                        meta.request_id_str(),
                    ))
                }
            }
        })
    }
}
