//! The respond gate (outermost): security headers on every response, request metrics (and the
//! dashboard's series, [`crate::series`]), and one access-log line per request. [`RespondGate`] holds the work; the tower layer and the fast
//! assembly both call it.

use crate::config::SecurityHeadersConfig;
use crate::metrics;
use crate::problem::Refusal;
use crate::request::{BoxFuture, Proxied, Req, RequestMeta, Res};
use http::{HeaderMap, HeaderName, HeaderValue, header};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;
use tower::{Layer, Service};

/// The strict policy for Palisade's own answers (problems, ops, later the console).
pub const PALISADE_CSP: &str =
    "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

/// The policy for the hosted pages ([`crate::pages`]): their own script and style files only,
/// nothing inline, forms posting back to Palisade only, never framed.
pub const PAGES_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; \
base-uri 'none'";

/// Marks an answer as a hosted page: the respond gate sends [`PAGES_CSP`] instead of
/// [`PALISADE_CSP`] (every other security header is the same).
#[derive(Debug, Clone, Copy)]
pub struct HostedPage;

/// Security headers, parsed once at start.
#[derive(Debug, Clone, Default)]
pub struct HeaderSet {
    always: Vec<(HeaderName, HeaderValue)>,
    /// Sent only when the client reached us over HTTPS.
    hsts: Option<HeaderValue>,
}

impl HeaderSet {
    /// Headers for upstream responses, per configuration.
    pub fn proxied(cfg: &SecurityHeadersConfig) -> Result<Self, String> {
        Self::build(cfg, &cfg.content_security_policy)
    }

    /// Headers for Palisade's own responses: as configured, with the strict CSP.
    pub fn palisade(cfg: &SecurityHeadersConfig) -> Result<Self, String> {
        Self::build(cfg, PALISADE_CSP)
    }

    fn build(cfg: &SecurityHeadersConfig, csp: &str) -> Result<Self, String> {
        let pairs = [
            (header::X_CONTENT_TYPE_OPTIONS, &cfg.content_type_options),
            (header::X_FRAME_OPTIONS, &cfg.frame_options),
            (header::REFERRER_POLICY, &cfg.referrer_policy),
            (
                HeaderName::from_static("permissions-policy"),
                &cfg.permissions_policy,
            ),
        ];
        let mut always = Vec::new();
        for (name, value) in pairs
            .iter()
            .map(|(n, v)| (n.clone(), v.as_str()))
            .chain([(header::CONTENT_SECURITY_POLICY, csp)])
        {
            if !value.is_empty() {
                let v = HeaderValue::from_str(value)
                    .map_err(|_| format!("header {name}: {value:?} is not a valid header value"))?;
                always.push((name, v));
            }
        }
        let hsts = if cfg.strict_transport_security.is_empty() {
            None
        } else {
            Some(
                HeaderValue::from_str(&cfg.strict_transport_security).map_err(|_| {
                    "strict_transport_security is not a valid header value".to_string()
                })?,
            )
        };
        Ok(Self { always, hsts })
    }

    /// Sets these headers on `headers` (HSTS only over HTTPS), keeping what an upstream set where
    /// the set says so.
    pub fn apply(&self, headers: &mut HeaderMap, https: bool) {
        for (name, value) in &self.always {
            headers.insert(name.clone(), value.clone());
        }
        if https && let Some(hsts) = &self.hsts {
            headers.insert(header::STRICT_TRANSPORT_SECURITY, hsts.clone());
        }
    }
}

/// The respond gate's request-time work, shared by the tower layer and the fast assembly:
/// [`begin`](Self::begin) on the way in, [`finish`](Self::finish) on the answer.
#[derive(Debug)]
pub struct RespondGate {
    palisade_headers: HeaderSet,
    page_headers: HeaderSet,
    access_log: bool,
    /// The dashboard's series, when this pipeline serves (not when `config check` builds it).
    series: Option<Arc<crate::series::Series>>,
}

/// What the respond gate noted on the way in.
pub struct Began {
    started: Instant,
    /// Method and path as received, when the access log is on.
    logged: Option<(http::Method, String)>,
}

impl RespondGate {
    /// Notes the start and, for the access log, the request line as received.
    pub fn begin(&self, req: &Req) -> Began {
        Began {
            started: Instant::now(),
            logged: self
                .access_log
                .then(|| (req.method().clone(), req.uri().path().to_owned())),
        }
    }

    /// On the answer: security headers (the route's for proxied answers, Palisade's strict set
    /// for its own), request metrics, refusal counts and the access-log line.
    pub fn finish(&self, began: Began, res: &mut Res) {
        // Outermost step: nobody reads the meta after us, so take it instead of cloning.
        let meta = res.extensions_mut().remove::<RequestMeta>();
        let https = meta.as_ref().is_some_and(|m| m.https);
        let route = meta.as_ref().and_then(|m| m.route.as_deref());
        match route {
            Some(route) if res.extensions().get::<Proxied>().is_some() => {
                route.headers.apply(res.headers_mut(), https)
            }
            _ if res.extensions().get::<HostedPage>().is_some() => {
                self.page_headers.apply(res.headers_mut(), https)
            }
            _ => self.palisade_headers.apply(res.headers_mut(), https),
        }
        let route_name = route.map_or("-", |r| r.name);
        let elapsed = began.started.elapsed();
        let route_metrics = match route {
            Some(r) => &r.metrics,
            None => metrics::RouteMetrics::unrouted(),
        };
        route_metrics.record(res.status(), elapsed);
        let refusal = res
            .extensions()
            .get::<Refusal>()
            .map(|r| (r.gate, r.reason));
        if let Some((gate, reason)) = refusal {
            metrics::record_refusal(gate, reason);
        }
        if let Some(series) = &self.series {
            series.record(res.status(), elapsed, refusal);
        }
        if let Some((method, path)) = began.logged {
            let (request_id, client_ip) = meta
                .as_ref()
                .map(|m| (m.request_id_str(), Some(m.client_ip)))
                .unwrap_or(("", None));
            // Written to this worker's buffer when it has one (`crate::logging`).
            tracing::info!(
                target: crate::logging::ACCESS_TARGET,
                request_id = %request_id,
                client_ip = %DisplayIp(client_ip),
                method = %method,
                path = %path,
                status = res.status().as_u16(),
                duration_ms = elapsed.as_secs_f64() * 1000.0,
                route = route_name,
                "request"
            );
        }
    }
}

/// The client IP as the access log prints it (empty when unknown), without a `String`.
struct DisplayIp(Option<std::net::IpAddr>);

impl std::fmt::Display for DisplayIp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            Some(ip) => ip.fmt(f),
            None => Ok(()),
        }
    }
}

/// The respond layer: security headers, metrics and the access log on every answer.
#[derive(Debug, Clone)]
pub struct RespondLayer {
    shared: Arc<RespondGate>,
}

impl RespondLayer {
    /// The layer for `headers`, with one access-log line per request when `access_log`.
    pub fn new(headers: &SecurityHeadersConfig, access_log: bool) -> Result<Self, String> {
        Ok(Self {
            shared: Arc::new(RespondGate {
                palisade_headers: HeaderSet::palisade(headers)?,
                page_headers: HeaderSet::build(headers, PAGES_CSP)?,
                access_log,
                series: None,
            }),
        })
    }

    /// Also counts every answer in `series` (the console dashboard's).
    pub fn counting(self, series: Arc<crate::series::Series>) -> Self {
        let g = &self.shared;
        Self {
            shared: Arc::new(RespondGate {
                palisade_headers: g.palisade_headers.clone(),
                page_headers: g.page_headers.clone(),
                access_log: g.access_log,
                series: Some(series),
            }),
        }
    }

    /// The gate's request-time work.
    pub fn gate(&self) -> &Arc<RespondGate> {
        &self.shared
    }
}

impl<S> Layer<S> for RespondLayer {
    type Service = Respond<S>;
    fn layer(&self, inner: S) -> Respond<S> {
        Respond {
            inner,
            shared: self.shared.clone(),
        }
    }
}

/// The respond layer's service.
#[derive(Debug, Clone)]
pub struct Respond<S> {
    inner: S,
    shared: Arc<RespondGate>,
}

impl<S> Service<Req> for Respond<S>
where
    S: Service<Req, Response = Res, Error = std::convert::Infallible>,
    S::Future: Send + 'static,
{
    type Response = Res;
    type Error = std::convert::Infallible;
    type Future = BoxFuture;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Req) -> BoxFuture {
        let began = self.shared.begin(&req);
        let shared = self.shared.clone();
        let fut = self.inner.call(req);
        Box::pin(async move {
            let mut res = fut.await?;
            shared.finish(began, &mut res);
            Ok(res)
        })
    }
}
