//! The transport to upstreams: the [`Upstream`] seam (tests and other transports plug in
//! here) and [`HyperUpstream`], pooled hyper clients with keep-alive for `http://` and
//! `https://` upstreams (rustls with aws-lc-rs, webpki roots), one per distinct connect timeout.
//! Errors say whether the connection could not be made (so the proxy may retry) or the request
//! failed after it was sent.

use crate::request::Res;
use axum::body::Body;
use futures_util::future::BoxFuture;
use http::Request;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use std::sync::Arc;
use std::time::Duration;

/// Sends a request upstream. The seam where tests or other transports plug in.
pub trait Upstream: Send + Sync + std::fmt::Debug {
    /// Forwards `req` (its URI already the upstream's) and returns the upstream's answer, or
    /// why there is none.
    fn send(&self, req: Request<Body>) -> BoxFuture<'static, Result<Res, UpstreamError>>;
}

/// Why a forwarded request got no answer from the upstream.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    /// Connecting timed out.
    #[error("connecting to the upstream timed out")]
    ConnectTimeout,
    /// The connection was refused or failed.
    #[error("the upstream refused or could not be reached: {0}")]
    Connect(String),
    /// The request failed after connecting.
    #[error("the request failed: {0}")]
    Request(String),
}

type HyperClient = Client<hyper_rustls::HttpsConnector<HttpConnector>, Body>;

/// Pooled hyper clients with keep-alive, for `http://` and `https://` upstreams: one per distinct
/// connect timeout (routes may set their own), chosen by the request's [`ConnectTimeout`].
#[derive(Debug, Clone)]
pub struct HyperUpstream {
    default: HyperClient,
    by_connect_timeout: Arc<std::collections::HashMap<Duration, HyperClient>>,
}

/// The connect timeout a request's route wants (request extension).
#[derive(Debug, Clone, Copy)]
pub struct ConnectTimeout(pub Duration);

/// The upstream client's pool settings.
#[derive(Debug, Clone, Copy)]
pub struct PoolSettings {
    /// Connect deadline.
    pub connect_timeout: Duration,
    /// How long an idle connection is kept.
    pub idle_timeout: Duration,
    /// Idle connections kept per host.
    pub max_idle_per_host: usize,
}

impl HyperUpstream {
    /// A client for the default connect timeout and one for each of `route_timeouts`.
    pub fn new(settings: PoolSettings, route_timeouts: &[Duration]) -> Self {
        let by_connect_timeout = route_timeouts
            .iter()
            .filter(|t| **t != settings.connect_timeout)
            .map(|t| {
                let s = PoolSettings {
                    connect_timeout: *t,
                    ..settings
                };
                (*t, Self::client(s))
            })
            .collect();
        Self {
            default: Self::client(settings),
            by_connect_timeout: Arc::new(by_connect_timeout),
        }
    }

    fn client(settings: PoolSettings) -> HyperClient {
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_nodelay(true);
        http.set_connect_timeout(Some(settings.connect_timeout));
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_provider_and_webpki_roots(provider)
            .expect("aws-lc-rs supports the default TLS versions")
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        Client::builder(TokioExecutor::new())
            .pool_idle_timeout(settings.idle_timeout)
            .pool_max_idle_per_host(settings.max_idle_per_host)
            .pool_timer(TokioTimer::new())
            .timer(TokioTimer::new())
            .build(https)
    }
}

impl Upstream for HyperUpstream {
    fn send(&self, req: Request<Body>) -> BoxFuture<'static, Result<Res, UpstreamError>> {
        let client = req
            .extensions()
            .get::<ConnectTimeout>()
            .and_then(|t| self.by_connect_timeout.get(&t.0))
            .unwrap_or(&self.default);
        let fut = client.request(req);
        Box::pin(async move {
            match fut.await {
                Ok(res) => Ok(res.map(Body::new)),
                Err(e) if e.is_connect() => {
                    if error_chain_has_timeout(&e) {
                        Err(UpstreamError::ConnectTimeout)
                    } else {
                        Err(UpstreamError::Connect(error_chain(&e)))
                    }
                }
                Err(e) => Err(UpstreamError::Request(error_chain(&e))),
            }
        })
    }
}

fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

fn error_chain_has_timeout(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut source = Some(e);
    while let Some(s) = source {
        if s.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::TimedOut)
            || s.to_string().contains("timed out")
        {
            return true;
        }
        source = s.source();
    }
    false
}
