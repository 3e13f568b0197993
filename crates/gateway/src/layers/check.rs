//! The shape shared by gates whose decision is asynchronous (firewall, identify; later throttle
//! and authorize): look at the request, possibly enrich it, then either answer it or pass it on.
//! A gate implements [`Check`]; [`CheckLayer`] makes it a tower layer.

use crate::request::{BoxFuture, Req, Res};
use std::future::Future;
use std::sync::Arc;
use std::task::{Context, Poll};
use tower::{Layer, Service};

/// Headers a gate wants on the eventual response (e.g. `X-RateLimit-*`): a gate inserts this
/// into the request's extensions and [`Checked`] moves them onto whatever answer comes back.
#[derive(Debug, Clone, Default)]
pub struct ResponseHeaders(pub http::HeaderMap);

/// A gate that only decides: pass the request on (possibly enriched) or answer it.
pub trait Check: Send + Sync + 'static {
    /// `Err(answer)` answers the request with `answer`; `Ok(())` passes it on.
    fn check(&self, req: &mut Req) -> impl Future<Output = Result<(), Res>> + Send;
}

/// A [`Check`] as a tower layer.
pub struct CheckLayer<C> {
    check: Arc<C>,
}

impl<C> CheckLayer<C> {
    /// The layer over `check`.
    pub fn new(check: C) -> Self {
        Self {
            check: Arc::new(check),
        }
    }
}

impl<C> Clone for CheckLayer<C> {
    fn clone(&self) -> Self {
        Self {
            check: self.check.clone(),
        }
    }
}

impl<C, S> Layer<S> for CheckLayer<C> {
    type Service = Checked<C, S>;
    fn layer(&self, inner: S) -> Checked<C, S> {
        Checked {
            inner,
            check: self.check.clone(),
        }
    }
}

/// The service a [`CheckLayer`] makes: the check, then the inner service.
pub struct Checked<C, S> {
    inner: S,
    check: Arc<C>,
}

impl<C, S: Clone> Clone for Checked<C, S> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            check: self.check.clone(),
        }
    }
}

impl<C, S> Service<Req> for Checked<C, S>
where
    C: Check,
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
        // The readied service goes with this request; a fresh clone waits for the next one.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let check = self.check.clone();
        Box::pin(async move {
            if let Err(answer) = check.check(&mut req).await {
                return Ok(answer);
            }
            let Some(ResponseHeaders(extra)) = req.extensions_mut().remove::<ResponseHeaders>()
            else {
                return inner.call(req).await;
            };
            let mut res = inner.call(req).await?;
            res.headers_mut().extend(extra);
            Ok(res)
        })
    }
}
