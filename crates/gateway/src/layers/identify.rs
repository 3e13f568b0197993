//! The `identify` gate: turns the request's credentials (API key, bearer JWT, session cookie)
//! into a [`Principal`] on the request extensions, or refuses a credential that does not hold
//! (401 with `WWW-Authenticate`; 403 for a cookie request without its CSRF token; 503 when a
//! revocation cannot be checked). A request without credentials passes on anonymous: whether
//! that is allowed is the `authorize` gate's decision.

use super::{BoxFuture, Req, RequestMeta, Res};
use crate::identity::{AuthFailure, Identity};
use crate::problem::refuse;
use http::{HeaderValue, StatusCode, header};
use std::sync::Arc;
use std::task::{Context, Poll};
use tower::{Layer, Service};

pub const GATE: &str = "identify";

/// 401 with the RFC 6750 challenge.
pub fn unauthorized(reason: &'static str, detail: &str, request_id: &str) -> Res {
    let mut res = refuse(
        GATE,
        reason,
        StatusCode::UNAUTHORIZED,
        detail.to_string(),
        request_id,
    );
    let challenge = if reason == "missing" {
        HeaderValue::from_static("Bearer realm=\"palisade\"")
    } else {
        HeaderValue::from_static("Bearer realm=\"palisade\", error=\"invalid_token\"")
    };
    res.headers_mut()
        .insert(header::WWW_AUTHENTICATE, challenge);
    res
}

#[derive(Clone)]
pub struct IdentifyLayer {
    identity: Arc<Identity>,
}

impl IdentifyLayer {
    pub fn new(identity: Arc<Identity>) -> Self {
        Self { identity }
    }
}

impl<S> Layer<S> for IdentifyLayer {
    type Service = Identify<S>;
    fn layer(&self, inner: S) -> Identify<S> {
        Identify {
            inner,
            identity: self.identity.clone(),
        }
    }
}

#[derive(Clone)]
pub struct Identify<S> {
    inner: S,
    identity: Arc<Identity>,
}

impl<S> Service<Req> for Identify<S>
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

    fn call(&mut self, mut req: Req) -> BoxFuture {
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let identity = self.identity.clone();
        Box::pin(async move {
            let outcome = identity.authenticate(req.method(), req.headers()).await;
            let principal = match outcome {
                Ok(p) => p,
                Err(failure) => {
                    let id = req
                        .extensions()
                        .get::<RequestMeta>()
                        .map(|m| m.request_id_str().to_owned())
                        .unwrap_or_default();
                    return Ok(refusal(failure, &id));
                }
            };
            if let Some(p) = principal {
                metrics::counter!("palisade_authenticated_total", "method" => p.method.as_str())
                    .increment(1);
                req.extensions_mut().insert(p);
            }
            inner.call(req).await
        })
    }
}

fn refusal(failure: AuthFailure, request_id: &str) -> Res {
    match failure {
        AuthFailure::Invalid(reason) => {
            metrics::counter!("palisade_auth_refused_total", "reason" => reason).increment(1);
            unauthorized(
                reason,
                "The credential is not valid (expired, revoked, malformed or not issued for this gateway).",
                request_id,
            )
        }
        AuthFailure::Csrf => refuse(
            GATE,
            "csrf",
            StatusCode::FORBIDDEN,
            "A state-changing request with the session cookie needs the X-CSRF-Token header.",
            request_id,
        ),
        AuthFailure::Unavailable => refuse(
            GATE,
            "unavailable",
            StatusCode::SERVICE_UNAVAILABLE,
            "Credentials cannot be checked right now; try again shortly.",
            request_id,
        ),
    }
}
