//! The shape shared by gates whose decision is asynchronous (firewall, identify; later throttle
//! and authorize): look at the request, possibly enrich it, then either answer it or pass it on.
//! A gate implements [`Check`]; [`CheckLayer`] makes it a tower layer, and the fast assembly
//! (`crate::pipeline::fast`) awaits the same [`Check::check`] in line, through [`run_check`].

use crate::request::{BoxFuture, Req, Res};
use http::{HeaderMap, HeaderName, HeaderValue};
use std::future::Future;
use std::sync::Arc;
use std::task::{Context, Poll};
use tower::{Layer, Service};

/// Headers a gate wants on the eventual response (e.g. `X-RateLimit-*`): a gate inserts this
/// into the request's extensions and [`Checked`] (or the fast assembly) moves them onto whatever
/// answer comes back. Up to [`ResponseHeaders::MAX`] headers, held inline: no map is built.
#[derive(Debug, Clone, Default)]
pub struct ResponseHeaders {
    entries: [Option<(HeaderName, HeaderValue)>; ResponseHeaders::MAX],
}

impl ResponseHeaders {
    /// How many headers one gate may ask for.
    pub const MAX: usize = 5;

    /// Adds a header (replacing one of the same name on the answer); past [`Self::MAX`] the
    /// header is dropped (a debug build panics). The throttle, the only gate that asks, asks for
    /// at most five (`X-RateLimit-*` and the two IETF headers).
    pub fn push(&mut self, name: HeaderName, value: HeaderValue) {
        if let Some(slot) = self.entries.iter_mut().find(|e| e.is_none()) {
            *slot = Some((name, value));
        } else {
            debug_assert!(false, "more than {} response headers", Self::MAX);
        }
    }

    /// The headers, in the order pushed.
    pub fn iter(&self) -> impl Iterator<Item = (&HeaderName, &HeaderValue)> {
        self.entries.iter().flatten().map(|(n, v)| (n, v))
    }

    /// Writes the headers onto `headers`, each replacing what was there under its name.
    pub fn apply(self, headers: &mut HeaderMap) {
        for (name, value) in self.entries.into_iter().flatten() {
            headers.insert(name, value);
        }
    }
}

/// One [`Check`] in line: `Err(answer)` when the gate answered, else the headers it wants on
/// the eventual answer (taken off the request), if any. The tower layer and the fast assembly
/// both run a gate through this.
pub async fn run_check<C: Check>(check: &C, req: &mut Req) -> Result<Option<ResponseHeaders>, Res> {
    check.check(req).await?;
    Ok(req.extensions_mut().remove::<ResponseHeaders>())
}

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

impl<C> CheckLayer<C> {
    /// The gate's check, shared with every service this layer made.
    pub fn check(&self) -> &Arc<C> {
        &self.check
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
            let extra = match run_check(check.as_ref(), &mut req).await {
                Err(answer) => return Ok(answer),
                Ok(extra) => extra,
            };
            let mut res = inner.call(req).await?;
            if let Some(extra) = extra {
                extra.apply(res.headers_mut());
            }
            Ok(res)
        })
    }
}
