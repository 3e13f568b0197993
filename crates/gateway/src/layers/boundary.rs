//! The boundary gate: the first check every request meets.
//!
//! It first applies strict HTTP (`super::strict_http`: `Host` present, single and agreeing with
//! the target; one unambiguous framing; oversized heads answered 431). It gives the request an
//! id, resolves the client IP through trusted proxies, makes the path
//! canonical (`palisade_core::path`; an ambiguous one is refused with 400 and an audit event) and
//! rewrites the request to it, so every later step and the upstream see that one spelling. It
//! classifies the path as built in or not and makes the one route decision (host, method,
//! canonical path) that every later gate uses; refuses oversized header blocks (431), unknown
//! hosts (400) and declared bodies over the limit (413); strips identity headers a client could
//! spoof, in any spelling (`_` for `-`, any case) — after reading the route's `tenant_header`
//! ([`TenantHeader`]), whose name may be one of them; caps streamed bodies; and bounds the
//! whole request in time (408 while the body still arrives, 504 after).

use crate::audit::{AuditEvent, AuditLog, Outcome, RequestOrigin, Risk};
use crate::config::UnderscoreHeaders;
use crate::problem::{refuse, refuse_with};
use crate::request::body::{BodyState, LimitedBody};
use crate::request::{
    BoxFuture, ConnInfo, RawPath, Req, RequestMeta, Res, TenantHeader, X_FORWARDED_FOR,
    X_REQUEST_ID, request_host,
};
use crate::route::table::{RouteMatch, RouteTable};
use axum::body::Body;
use http::{HeaderName, HeaderValue, StatusCode};
use http_body::Body as _;
use palisade_core::client_ip::TrustedProxies;
use palisade_core::path::{Ambiguous, PathPolicy};
use palisade_core::request_id;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tower::{Layer, Service};

/// The label of the boundary's refusals.
pub const GATE: &str = "boundary";

/// Headers that carry identity Palisade asserts; a client must never supply them, in any
/// spelling: names are compared with `_` read as `-` and case ignored, as WSGI/CGI servers do.
pub const IDENTITY_HEADER_PREFIX: &str = "x-palisade-";
/// Identity headers besides the `X-Palisade-` prefix.
pub const IDENTITY_HEADERS: &[&str] = &["x-user-id"];

/// What the boundary is configured with, built once from the config.
#[derive(Debug)]
pub struct BoundaryConfig {
    /// `server.allowed_hosts`: exact names or `*.example.com`; empty accepts any.
    pub allowed_hosts: Vec<String>,
    /// Proxies whose `X-Forwarded-For` is believed.
    pub trusted_proxies: TrustedProxies,
    /// Largest header block (431 beyond).
    pub max_header_bytes: u64,
    /// Largest body unless the route says otherwise (413 beyond).
    pub max_body: u64,
    /// Whole-request deadline (408 while the body arrives, 504 after).
    pub request_timeout: Duration,
    /// Every client reaches Palisade through a TLS terminator.
    pub behind_tls_proxy: bool,
    /// Configured extra headers to strip, lowercased: `proxy.strip_headers`, every configured
    /// identity header name and every route's `tenant_header`, on every request.
    pub strip_headers: Vec<HeaderName>,
    /// What to do with header names holding `_`.
    pub underscore_headers: UnderscoreHeaders,
    /// How paths are made canonical.
    pub path_policy: PathPolicy,
    /// The route table: the one route decision and the built-in classification.
    pub routes: Arc<RouteTable>,
    /// Where refusals of ambiguous paths are recorded.
    pub audit: Arc<AuditLog>,
}

impl BoundaryConfig {
    fn host_allowed(&self, host: Option<&str>) -> bool {
        if self.allowed_hosts.is_empty() {
            return true;
        }
        let Some(host) = host else { return false };
        self.allowed_hosts
            .iter()
            .any(|allowed| match allowed.strip_prefix("*.") {
                Some(suffix) => {
                    host.len() > suffix.len() + 1
                        && host[host.len() - suffix.len()..].eq_ignore_ascii_case(suffix)
                        && host.as_bytes()[host.len() - suffix.len() - 1] == b'.'
                }
                None => host.eq_ignore_ascii_case(allowed),
            })
    }
}

/// The boundary gate as a tower layer.
#[derive(Debug, Clone)]
pub struct BoundaryLayer {
    config: Arc<BoundaryConfig>,
}

impl BoundaryLayer {
    /// The boundary over `config`.
    pub fn new(config: BoundaryConfig) -> Self {
        Self {
            config: Arc::new(config),
        }
    }

    /// The gate's request-time work ([`BoundaryConfig::enter`]).
    pub fn gate(&self) -> &Arc<BoundaryConfig> {
        &self.config
    }
}

impl<S> Layer<S> for BoundaryLayer {
    type Service = Boundary<S>;
    fn layer(&self, inner: S) -> Boundary<S> {
        Boundary {
            inner,
            config: self.config.clone(),
        }
    }
}

/// The boundary gate's service.
#[derive(Debug, Clone)]
pub struct Boundary<S> {
    inner: S,
    config: Arc<BoundaryConfig>,
}

fn header_block_size(req: &Req) -> u64 {
    req.headers()
        .iter()
        .map(|(n, v)| (n.as_str().len() + v.len() + 4) as u64)
        .sum()
}

/// A new UUIDv7 request id: formatted into a stack buffer, then copied into this thread's id
/// arena, a buffer of 256 ids that new ids are split off (shared, not copied again), so an id
/// costs no allocation of its own and its clones only a reference count.
fn new_request_id() -> HeaderValue {
    const ID_LEN: usize = 36;
    thread_local! {
        static ARENA: std::cell::RefCell<bytes::BytesMut> =
            std::cell::RefCell::new(bytes::BytesMut::new());
    }
    let mut buf = uuid::Uuid::encode_buffer();
    let s = uuid::Uuid::now_v7().hyphenated().encode_lower(&mut buf);
    debug_assert_eq!(s.len(), ID_LEN);
    let id = ARENA.with_borrow_mut(|arena| {
        if arena.capacity() < s.len() {
            *arena = bytes::BytesMut::with_capacity(ID_LEN * 256);
        }
        arena.extend_from_slice(s.as_bytes());
        arena.split_to(s.len()).freeze()
    });
    HeaderValue::from_maybe_shared(id).expect("a UUID is a valid header value")
}

/// Is `name` (lowercase, as `http` stores it) an identity header once `_` is read as `-`?
fn is_identity_header(name: &str, extra: &[HeaderName]) -> bool {
    // Names arrive lowercased; `_` reads as `-`, compared byte by byte without a folded copy.
    let same = |a: &[u8], b: &[u8]| {
        a.len() == b.len()
            && a.iter()
                .zip(b)
                .all(|(x, y)| x == y || (*x == b'_' && *y == b'-'))
    };
    let name = name.as_bytes();
    let prefix = IDENTITY_HEADER_PREFIX.as_bytes();
    (name.len() >= prefix.len() && same(&name[..prefix.len()], prefix))
        || IDENTITY_HEADERS.iter().any(|h| same(name, h.as_bytes()))
        || extra.iter().any(|e| same(name, e.as_str().as_bytes()))
}

/// Removes identity headers (any spelling) and, by policy, other names with `_`. `Err` when
/// the policy refuses a name with `_`.
fn screen_headers(
    req: &mut Req,
    extra: &[HeaderName],
    underscores: UnderscoreHeaders,
) -> Result<(), ()> {
    let mut remove: Vec<HeaderName> = Vec::new();
    for name in req.headers().keys() {
        let n = name.as_str();
        // Palisade's own identity headers all start with `x` (a test keeps it so).
        let may_be_identity = n.starts_with('x') || !extra.is_empty();
        if may_be_identity && is_identity_header(n, extra) {
            remove.push(name.clone());
        } else if n.as_bytes().contains(&b'_') {
            match underscores {
                UnderscoreHeaders::Drop => remove.push(name.clone()),
                UnderscoreHeaders::Reject => return Err(()),
                UnderscoreHeaders::Keep => {}
            }
        }
    }
    for name in remove {
        req.headers_mut().remove(&name);
    }
    Ok(())
}

/// Rewrites the request target to the canonical path, keeping the query as sent.
fn set_path(req: &mut Req, canonical: &str) {
    let mut parts = req.uri().clone().into_parts();
    let target = match req.uri().query() {
        Some(q) => format!("{canonical}?{q}"),
        None => canonical.to_owned(),
    };
    // A canonical path is a valid origin-form path by construction.
    if let Ok(pq) = http::uri::PathAndQuery::try_from(target) {
        parts.path_and_query = Some(pq);
        if let Ok(uri) = http::Uri::from_parts(parts) {
            *req.uri_mut() = uri;
        }
    }
}

/// 400 for a path that cannot be made unambiguous: names the rule, never echoes the path.
pub fn ambiguous_path(rule: &Ambiguous, request_id: &str) -> Res {
    refuse_with(
        GATE,
        "ambiguous-path",
        StatusCode::BAD_REQUEST,
        format!("The request path is ambiguous: {rule}"),
        request_id,
        serde_json::json!({ "rule": rule.rule }),
    )
}

/// The audit record of an ambiguous-path refusal (its `origin` without the raw spelling).
pub fn ambiguous_path_event(rule: &Ambiguous, origin: &RequestOrigin) -> AuditEvent {
    AuditEvent::new("request.ambiguous_path", Risk::Medium, Outcome::Denied)
        .origin(origin)
        .details(serde_json::json!({ "reason": rule.rule }))
}

impl<S> Service<Req> for Boundary<S>
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

    /// The boundary's steps: [`BoundaryConfig::enter`] (decide, refuse or prepare), then the
    /// inner answer within the request timeout ([`Entered::bounded`]).
    fn call(&mut self, mut req: Req) -> BoxFuture {
        match self.config.enter(&mut req) {
            Err(res) => Box::pin(async move { Ok(res) }),
            Ok(entered) => {
                let fut = self.inner.call(req);
                Box::pin(entered.bounded(fut))
            }
        }
    }
}

/// A request the boundary let in: what the rest of its work on the answer needs.
pub struct Entered {
    meta: RequestMeta,
    timeout: Duration,
    /// A proxied route's upstream response deadline (`response_timeout`), folded into the
    /// request's one timer.
    upstream_budget: Option<Duration>,
    body_state: Option<Arc<BodyState>>,
}

impl Entered {
    /// The answer `inner` gives within the request's one deadline (the module-level `bounded`), finished
    /// with the request id and [`RequestMeta`].
    pub async fn bounded<F>(self, inner: F) -> Result<Res, std::convert::Infallible>
    where
        F: std::future::Future<Output = Result<Res, std::convert::Infallible>>,
    {
        bounded(inner, self).await
    }
}

impl BoundaryConfig {
    /// The boundary's request-time work, shared by the tower layer and the fast assembly:
    /// `decide` what the request is (id, client, canonical path, built-in endpoint or route),
    /// answer the first `refusal` it earns (`Err`, already finished), else mark it with its id
    /// and [`RequestMeta`] and cap its body (`limit_body`).
    // The refusal is the finished answer, the gate idiom (as `Check::check`).
    #[allow(clippy::result_large_err)]
    pub fn enter(&self, req: &mut Req) -> Result<Entered, Res> {
        let decided = self.decide(req);
        tracing::debug!(request_id = %decided.meta.request_id_str(), method = %req.method(), uri = %req.uri(), headers = ?req.headers(), "request received");
        if let Some(mut res) = self.refusal(req, &decided) {
            finish(&mut res, &decided.meta);
            return Err(res);
        }
        let Decided { meta, max_body, .. } = decided;
        req.headers_mut()
            .insert(X_REQUEST_ID.clone(), meta.request_id.clone());
        let body_state = limit_body(req, max_body);
        req.extensions_mut().insert(meta.clone());
        let upstream_budget = meta
            .route
            .as_ref()
            .filter(|r| !r.upstreams.is_empty())
            .map(|r| r.response_timeout);
        Ok(Entered {
            meta,
            timeout: self.request_timeout,
            upstream_budget,
            body_state,
        })
    }
}

/// What the boundary decided about a request before checking it.
struct Decided {
    meta: RequestMeta,
    /// Why the path cannot be made canonical; such a request has no route and is refused.
    ambiguity: Option<Ambiguous>,
    /// A route serves the path, but not with this method.
    method_not_allowed: bool,
    /// The route's body limit, else `limits.max_body`.
    max_body: u64,
    /// The request may carry framing fields (see [`ConnInfo::framing_fields`]).
    framing_fields: bool,
    /// The request's host is one this gateway serves (`server.allowed_hosts`).
    host_allowed: bool,
}

impl BoundaryConfig {
    /// The request's id (a well-formed `X-Request-Id` is kept), its client IP through trusted
    /// proxies, HTTPS or not, its canonical path (the request is rewritten to it, the client's
    /// spelling kept as [`RawPath`]), and then either the built-in endpoint or the one route
    /// decision (host, method, canonical path).
    fn decide(&self, req: &mut Req) -> Decided {
        let (peer, tls, framing_fields) = req.extensions().get::<ConnInfo>().map_or(
            (SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0)), false, true),
            |c| (c.peer, c.tls, c.framing_fields()),
        );
        let request_id = match req.headers().get(&X_REQUEST_ID) {
            Some(v) if request_id::is_well_formed(v.as_bytes()) => v.clone(),
            _ => new_request_id(),
        };
        let client_ip = self.trusted_proxies.resolve(
            peer.ip(),
            req.headers()
                .get_all(&X_FORWARDED_FOR)
                .iter()
                .filter_map(|v| v.to_str().ok()),
        );
        // `behind_tls_proxy` declares that every client reaches us through a TLS terminator.
        let https = tls || self.behind_tls_proxy;
        let ambiguity = canonicalize(req, &self.path_policy);
        let host = request_host(req);
        let host_allowed = self.host_allowed(host);
        let path = req.uri().path();
        let builtin = if ambiguity.is_none() {
            self.routes.builtin(path)
        } else {
            None
        };
        let (route, method_not_allowed) = if ambiguity.is_some() || builtin.is_some() {
            (None, false)
        } else {
            match self.routes.find(host, path, req.method()) {
                RouteMatch::Found(r) => (Some(r), false),
                RouteMatch::MethodNotAllowed => (None, true),
                RouteMatch::NotFound => (None, false),
            }
        };
        let max_body = route.as_ref().map_or(self.max_body, |r| r.max_body);
        // Read before identity headers are stripped: the name may be one Palisade sets.
        if let Some(name) = route
            .as_ref()
            .and_then(|r| r.identity.tenant_header.as_ref())
        {
            let sent = TenantHeader::read(req.headers(), name);
            req.extensions_mut().insert(sent);
        }
        Decided {
            meta: RequestMeta {
                request_id,
                client_ip,
                https,
                peer_is_trusted_proxy: self.trusted_proxies.contains(peer.ip()),
                builtin,
                route,
            },
            ambiguity,
            method_not_allowed,
            max_body,
            framing_fields,
            host_allowed,
        }
    }

    /// The answer to the first check the request fails, in this order: strict HTTP, header
    /// block size, allowed host, ambiguous path (on record), declared body size, method, and
    /// header names (identity headers are stripped here on the way).
    fn refusal(&self, req: &mut Req, decided: &Decided) -> Option<Res> {
        let id = decided.meta.request_id_str();
        let max_body = decided.max_body;
        if let Some(res) = super::strict_http::refusal(req, decided.framing_fields, GATE, id) {
            Some(res)
        } else if header_block_size(req) > self.max_header_bytes {
            Some(refuse(
                GATE,
                "header-too-large",
                StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
                format!(
                    "The request headers exceed {} bytes; send fewer or smaller headers.",
                    self.max_header_bytes
                ),
                id,
            ))
        } else if !decided.host_allowed {
            Some(refuse(
                GATE,
                "host-not-allowed",
                StatusCode::BAD_REQUEST,
                "This host name is not served here; check the URL.",
                id,
            ))
        } else if let Some(rule) = &decided.ambiguity {
            let origin = RequestOrigin {
                client_ip: Some(decided.meta.client_ip),
                request_id: Some(id.to_owned()),
                action: None,
                ..RequestOrigin::from_parts(
                    req.method(),
                    req.uri(),
                    req.headers(),
                    req.extensions(),
                )
            };
            self.audit
                .record_refusal(ambiguous_path_event(rule, &origin));
            Some(ambiguous_path(rule, id))
        } else if req.body().size_hint().lower() > max_body {
            Some(refuse(
                GATE,
                "body-too-large",
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("The request body exceeds the limit of {max_body} bytes."),
                id,
            ))
        } else if decided.method_not_allowed {
            Some(refuse(
                GATE,
                "method-not-allowed",
                StatusCode::METHOD_NOT_ALLOWED,
                format!("{} is not allowed on this path.", req.method()),
                id,
            ))
        } else if screen_headers(req, &self.strip_headers, self.underscore_headers).is_err() {
            Some(refuse(
                GATE,
                "underscore-header",
                StatusCode::BAD_REQUEST,
                "Header names with an underscore are not accepted here; use '-' instead.",
                id,
            ))
        } else {
            None
        }
    }
}

/// Rewrites the request to its canonical path (keeping the client's spelling as [`RawPath`]),
/// or says why the path cannot be made unambiguous. An already canonical path is left alone.
fn canonicalize(req: &mut Req, policy: &PathPolicy) -> Option<Ambiguous> {
    match palisade_core::path::canonicalize(req.uri().path(), policy) {
        Ok(std::borrow::Cow::Borrowed(_)) => None,
        Ok(std::borrow::Cow::Owned(c)) => {
            let raw = RawPath(req.uri().path().to_owned());
            set_path(req, &c);
            req.extensions_mut().insert(raw);
            None
        }
        Err(rule) => Some(rule),
    }
}

/// Caps a streamed body at `max_body`; the returned state tells who reads it why it stopped.
fn limit_body(req: &mut Req, max_body: u64) -> Option<Arc<BodyState>> {
    if req.body().is_end_stream() {
        return None;
    }
    let state = Arc::new(BodyState::default());
    let req_body = std::mem::take(req.body_mut());
    *req.body_mut() = Body::new(LimitedBody::new(req_body, max_body, state.clone()));
    req.extensions_mut().insert(state.clone());
    Some(state)
}

/// The inner answer within the request's one deadline: `limits.request_timeout`, or a proxied
/// route's `response_timeout` when that is shorter (one timer entry per request; the proxy sets
/// none of its own). Past it: 408 while the body is still arriving; 504 `response-timeout` from
/// the proxy when the upstream's budget ran out (recorded as an upstream error); else 504 from
/// the boundary.
async fn bounded<F>(fut: F, entered: Entered) -> Result<Res, std::convert::Infallible>
where
    F: std::future::Future<Output = Result<Res, std::convert::Infallible>>,
{
    let Entered {
        meta,
        timeout,
        upstream_budget,
        body_state,
    } = entered;
    let budget = upstream_budget.map_or(timeout, |b| b.min(timeout));
    let id = meta.request_id_str();
    let mut res = match tokio::time::timeout(budget, fut).await {
        Ok(res) => res?,
        Err(_) if body_state.as_ref().is_some_and(|s| !s.finished()) => refuse(
            GATE,
            "request-timeout",
            StatusCode::REQUEST_TIMEOUT,
            format!(
                "The request body did not arrive within {}.",
                humantime::format_duration(budget)
            ),
            id,
        ),
        Err(_) if upstream_budget.is_some_and(|b| b <= timeout) => {
            let route = meta.route.as_ref().map_or("-", |r| r.name);
            tracing::warn!(request_id = %id, route, "upstream response timeout");
            if let Some(r) = &meta.route {
                crate::metrics::record_upstream_error(r.name, "response-timeout");
            }
            refuse(
                crate::route::proxy::GATE,
                "response-timeout",
                StatusCode::GATEWAY_TIMEOUT,
                "The upstream service did not answer in time; try again later.",
                id,
            )
        }
        Err(_) => refuse(
            GATE,
            "response-timeout",
            StatusCode::GATEWAY_TIMEOUT,
            format!(
                "No response within {}; try again later.",
                humantime::format_duration(timeout)
            ),
            id,
        ),
    };
    finish(&mut res, &meta);
    Ok(res)
}

fn finish(res: &mut Res, meta: &RequestMeta) {
    res.headers_mut()
        .insert(X_REQUEST_ID.clone(), meta.request_id.clone());
    res.extensions_mut().insert(meta.clone());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_request_ids_are_distinct_well_formed_uuids() {
        let ids: Vec<HeaderValue> = (0..600).map(|_| new_request_id()).collect();
        let mut seen = std::collections::HashSet::new();
        for id in &ids {
            assert!(request_id::is_well_formed(id.as_bytes()), "{id:?}");
            assert!(
                uuid::Uuid::parse_str(id.to_str().unwrap()).is_ok(),
                "{id:?}"
            );
            assert!(seen.insert(id.as_bytes().to_vec()), "repeated {id:?}");
        }
    }

    #[test]
    fn wildcard_hosts_match_subdomains_only() {
        let c = BoundaryConfig {
            allowed_hosts: vec!["api.example.com".into(), "*.example.org".into()],
            trusted_proxies: Default::default(),
            max_header_bytes: 8192,
            max_body: 1,
            request_timeout: Duration::from_secs(1),
            behind_tls_proxy: false,
            strip_headers: vec![],
            underscore_headers: UnderscoreHeaders::Drop,
            path_policy: PathPolicy::default(),
            routes: Default::default(),
            audit: Default::default(),
        };
        assert!(c.host_allowed(Some("API.example.com")));
        assert!(c.host_allowed(Some("a.example.org")));
        assert!(!c.host_allowed(Some("example.org")));
        assert!(!c.host_allowed(Some("evilexample.org")));
        assert!(!c.host_allowed(Some("api.example.com.evil.net")));
        assert!(!c.host_allowed(None));
    }

    #[test]
    fn identity_headers_start_with_x_as_the_screen_assumes() {
        assert!(IDENTITY_HEADER_PREFIX.starts_with('x'));
        assert!(IDENTITY_HEADERS.iter().all(|h| h.starts_with('x')));
    }

    #[test]
    fn identity_headers_match_in_any_spelling() {
        let extra = [HeaderName::from_static("x-tenant")];
        for name in [
            "x-palisade-user",
            "x_palisade_user",
            "x-palisade_user",
            "x-user-id",
            "x_user_id",
            "x-user_id",
            "x-tenant",
            "x_tenant",
        ] {
            assert!(is_identity_header(name, &extra), "{name}");
        }
        for name in ["x-user", "x-palisadex", "x_request_id", "authorization"] {
            assert!(!is_identity_header(name, &extra), "{name}");
        }
    }
}
