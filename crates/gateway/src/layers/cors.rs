//! The `cors` gate: CORS from config, with tower-http: exact origins only, never `*` with
//! credentials (config checks refuse that before we get here). It sits inside `boundary`, so a
//! preflight gets a request id and the host check, and is answered before any credential gate.

use crate::config::{self, CorsConfig};
use crate::request::{BoxFuture, Req, Res};
use http::HeaderValue;
use std::convert::Infallible;
use std::task::{Context, Poll};
use tower::{Layer, Service};
use tower_http::cors::{AllowOrigin, Cors, CorsLayer};

/// tower-http's CORS layer, adapted to the pipeline's response type.
#[derive(Clone)]
pub struct CorsGate(CorsLayer);

impl<S> Layer<S> for CorsGate {
    type Service = BoxedGate<Cors<S>>;
    fn layer(&self, inner: S) -> Self::Service {
        BoxedGate::new(self.0.layer(inner))
    }
}

impl CorsGate {
    /// tower-http's CORS service over `inner` (the fast assembly builds it once per worker).
    pub fn over<S>(&self, inner: S) -> Cors<S> {
        self.0.layer(inner)
    }
}

/// The CORS gate, or `None` when no origin is configured.
pub fn layer(cfg: &CorsConfig) -> Result<Option<CorsGate>, String> {
    if cfg.allowed_origins.is_empty() {
        return Ok(None);
    }
    let wildcard = cfg.allowed_origins.iter().any(|o| o == "*");
    if wildcard && cfg.allow_credentials {
        return Err("cors: \"*\" cannot be combined with allow_credentials".into());
    }
    let origin = if wildcard {
        AllowOrigin::any()
    } else {
        AllowOrigin::list(
            cfg.allowed_origins
                .iter()
                .map(|o| {
                    HeaderValue::from_str(o).map_err(|_| format!("cors.allowed_origins: {o:?}"))
                })
                .collect::<Result<Vec<_>, _>>()?,
        )
    };
    let methods = cfg
        .allowed_methods
        .iter()
        .map(|m| config::method(m).ok_or_else(|| format!("cors.allowed_methods: {m:?}")))
        .collect::<Result<Vec<_>, _>>()?;
    let names = |list: &[String]| {
        list.iter()
            .map(|h| {
                config::header_name(h).ok_or_else(|| format!("cors: {h:?} is not a header name"))
            })
            .collect::<Result<Vec<_>, _>>()
    };
    Ok(Some(CorsGate(
        CorsLayer::new()
            .allow_origin(origin)
            .allow_credentials(cfg.allow_credentials)
            .allow_methods(methods)
            .allow_headers(names(&cfg.allowed_headers)?)
            .expose_headers(names(&cfg.expose_headers)?)
            .max_age(cfg.max_age.0),
    )))
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
