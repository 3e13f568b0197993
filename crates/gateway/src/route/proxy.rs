//! The reverse proxy: forwards a request that passed every gate to its route's upstream and
//! streams the answer back.
//!
//! Guarantees: bodies stream both ways (never buffered whole); hop-by-hop headers are removed;
//! `X-Forwarded-For/-Proto/-Host` describe the real client; HTTP/1.1 upgrades (WebSocket) are
//! spliced end to end, except on routes with `websocket = {…}`, whose frames
//! [`super::websocket`] relays; upstream failures become 502/504 problems without internals.

use crate::config::traffic::Fallback;
use crate::metrics;
use crate::problem::refuse;
use crate::request::body::BodyState;
use crate::request::{CallerKey, ConnInfo, Proxied, Req, RequestMeta, Res, X_FORWARDED_FOR};
use crate::route::resilience::{Resilience, Stored, retryable};
use crate::route::table::Route;
use crate::route::upstream::{Failed, Upstream, UpstreamError};
use axum::body::Body;
use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri, Version, header};
use hyper_util::rt::TokioIo;
use palisade_core::principal::Principal;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

/// The label of the proxy's refusals.
pub const GATE: &str = "proxy";

static FALLBACK: HeaderName = HeaderName::from_static("x-palisade-fallback");

/// Hop-by-hop headers (RFC 9110 §7.6.1) that never cross a proxy.
static HOP_BY_HOP: [HeaderName; 9] = [
    header::CONNECTION,
    HeaderName::from_static("keep-alive"),
    header::PROXY_AUTHENTICATE,
    header::PROXY_AUTHORIZATION,
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
    HeaderName::from_static("proxy-connection"),
];

static X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
static X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");

/// One of [`HOP_BY_HOP`], by name (a `match` on the string is a length check and a compare).
fn is_hop_by_hop(name: &str) -> bool {
    matches!(
        name,
        "connection"
            | "keep-alive"
            | "proxy-authenticate"
            | "proxy-authorization"
            | "te"
            | "trailer"
            | "transfer-encoding"
            | "upgrade"
            | "proxy-connection"
    )
}

pub(super) fn remove_hop_by_hop(headers: &mut HeaderMap) {
    if let Some(conn) = headers.get(header::CONNECTION) {
        let named: Vec<HeaderName> = conn
            .to_str()
            .unwrap_or("")
            .split(',')
            .filter_map(|t| HeaderName::from_bytes(t.trim().as_bytes()).ok())
            .collect();
        for name in named {
            headers.remove(name);
        }
    }
    // Most messages carry none of these: one pass over the names is cheaper than nine hashed
    // removals.
    if headers.keys().any(|name| is_hop_by_hop(name.as_str())) {
        for name in &HOP_BY_HOP {
            headers.remove(name);
        }
    }
}

pub(super) fn is_upgrade(req: &Req) -> bool {
    req.version() == Version::HTTP_11
        && req.headers().contains_key(header::UPGRADE)
        && req
            .headers()
            .get(header::CONNECTION)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| {
                v.split(',')
                    .any(|t| t.trim().eq_ignore_ascii_case("upgrade"))
            })
}

fn target_uri(base: &Uri, route: &Route, req_uri: &Uri) -> Option<Uri> {
    if !route.strip_prefix && matches!(base.path(), "" | "/") {
        // The usual case: the path and query go on as they are, shared rather than rebuilt.
        let mut parts = http::uri::Parts::default();
        parts.scheme = Some(base.scheme().cloned().unwrap_or(http::uri::Scheme::HTTP));
        parts.authority = Some(base.authority()?.clone());
        parts.path_and_query = Some(
            req_uri
                .path_and_query()
                .cloned()
                .unwrap_or_else(|| http::uri::PathAndQuery::from_static("/")),
        );
        return Uri::from_parts(parts).ok();
    }
    let mut path = req_uri.path();
    if route.strip_prefix {
        path = path
            .strip_prefix(route.prefix.trim_end_matches('/'))
            .unwrap_or(path);
    }
    let base_path = base.path().trim_end_matches('/');
    let mut pq = String::with_capacity(
        base_path.len() + path.len() + 1 + req_uri.query().map_or(0, |q| q.len() + 1),
    );
    pq.push_str(base_path);
    if !path.starts_with('/') {
        pq.push('/');
    }
    pq.push_str(path);
    if let Some(q) = req_uri.query() {
        pq.push('?');
        pq.push_str(q);
    }
    Uri::builder()
        .scheme(base.scheme().cloned().unwrap_or(http::uri::Scheme::HTTP))
        .authority(base.authority()?.clone())
        .path_and_query(pq)
        .build()
        .ok()
}

/// What `forward` needs besides the request: the transport and the breakers and fallback cache.
pub struct Forwarding<'a> {
    /// The transport.
    pub upstream: &'a dyn Upstream,
    /// Breakers and the stale fallback.
    pub resilience: &'a Resilience,
}

/// Forwards `req` (which matched `route`) upstream and returns the response to send back, in
/// four steps: note what the answer will need of the client's request, rewrite the request for
/// the upstream, send it (through the breakers, with retries), and finish the answer (protocol
/// version, upgrade splice, hop-by-hop headers, the stale copy).
pub async fn forward(via: &Forwarding<'_>, route: Arc<Route>, mut req: Req) -> Res {
    let client = ClientFacts::of(&req);
    let upgrade = is_upgrade(&req);
    let client_upgrade = upgrade.then(|| hyper::upgrade::on(&mut req));
    let original_uri = req.uri().clone();
    let stale_key = stale_key(&req, &route, client.ip);
    let body_state = req.extensions().get::<Arc<BodyState>>().cloned();
    rewrite_for_upstream(&mut req, &client, upgrade);
    let sending = Sending {
        route: &route,
        original_uri: &original_uri,
        stale_key: stale_key.as_ref(),
        body_state: body_state.as_deref(),
        request_id: client.request_id(),
    };
    match send(via, &sending, req, upgrade).await {
        Ok(res) => {
            finish(
                via,
                &route,
                res,
                client_upgrade,
                stale_key,
                client.request_id(),
            )
            .await
        }
        Err(answer) => answer,
    }
}

/// Sends an upgrade request (its client side already taken with `hyper::upgrade::on`) to the
/// route's upstream as [`forward`] would, and returns the upstream's answer as it came (`Err`:
/// the refusal instead). The WebSocket relay (`route::websocket`) finishes it.
pub(super) async fn send_upgrade(
    via: &Forwarding<'_>,
    route: &Route,
    mut req: Req,
) -> Result<Res, Res> {
    let client = ClientFacts::of(&req);
    let original_uri = req.uri().clone();
    rewrite_for_upstream(&mut req, &client, true);
    let sending = Sending {
        route,
        original_uri: &original_uri,
        stale_key: None,
        body_state: None,
        request_id: client.request_id(),
    };
    send(via, &sending, req, true).await
}

/// What the boundary and the listener learned about the client, read once.
struct ClientFacts {
    /// The boundary's `X-Request-Id` (always visible ASCII).
    request_id: Option<HeaderValue>,
    ip: IpAddr,
    https: bool,
    /// The socket peer is a trusted proxy: its `X-Forwarded-For` chain is passed on.
    prior_chain_trusted: bool,
    /// The socket peer and its address, formatted once per connection.
    peer: Option<(IpAddr, HeaderValue)>,
}

impl ClientFacts {
    fn of(req: &Req) -> Self {
        let (request_id, ip, https, prior_chain_trusted) =
            match req.extensions().get::<RequestMeta>() {
                Some(m) => (
                    Some(m.request_id.clone()),
                    m.client_ip,
                    m.https,
                    m.peer_is_trusted_proxy,
                ),
                None => (None, IpAddr::from([0, 0, 0, 0]), false, false),
            };
        Self {
            request_id,
            ip,
            https,
            prior_chain_trusted,
            peer: req
                .extensions()
                .get::<ConnInfo>()
                .map(|c| (c.peer.ip(), c.peer_ip_header.clone())),
        }
    }
}

impl ClientFacts {
    fn request_id(&self) -> &str {
        self.request_id
            .as_ref()
            .and_then(|v| v.to_str().ok())
            .unwrap_or("-")
    }
}

/// The key a `fallback = "stale"` route keeps a GET's answer under: path and query, and the
/// caller (never served to another caller).
fn stale_key(req: &Req, route: &Route, client_ip: IpAddr) -> Option<(String, String)> {
    (route.fallback == Fallback::Stale && req.method() == Method::GET).then(|| {
        let principal = req.extensions().get::<Arc<Principal>>().map(Arc::as_ref);
        (
            req.uri()
                .path_and_query()
                .map_or("/", |p| p.as_str())
                .to_string(),
            CallerKey::of(principal, client_ip).to_string(),
        )
    })
}

/// Hop-by-hop headers out, `Host` out (the upstream's comes from its URI), `X-Forwarded-For`,
/// `-Proto` and `-Host` describing the real client, an upgrade's own headers kept, HTTP/1.1 to
/// the upstream.
fn rewrite_for_upstream(req: &mut Req, client: &ClientFacts, upgrade: bool) {
    let original_host = req.headers().get(header::HOST).cloned().or_else(|| {
        req.uri()
            .authority()
            .and_then(|a| HeaderValue::from_str(a.as_str()).ok())
    });
    let upgrade_headers = upgrade.then(|| {
        (
            req.headers().get(header::UPGRADE).cloned(),
            req.headers().get(header::CONNECTION).cloned(),
        )
    });

    let headers = req.headers_mut();
    remove_hop_by_hop(headers);
    headers.remove(header::HOST);
    // Only the boundary-resolved client address goes on; what the client claimed was either
    // believed hop by hop (trusted proxies) or is ignored.
    let xff = match (
        headers.get(&X_FORWARDED_FOR).and_then(|v| v.to_str().ok()),
        &client.peer,
    ) {
        (Some(prior), Some((peer, _))) if client.prior_chain_trusted => {
            HeaderValue::from_str(&format!("{prior}, {peer}")).ok()
        }
        // The usual case: the client is the socket peer, whose address is formatted already.
        (_, Some((peer, peer_header))) if *peer == client.ip => Some(peer_header.clone()),
        _ => HeaderValue::from_str(&client.ip.to_string()).ok(),
    };
    headers.insert(
        X_FORWARDED_FOR.clone(),
        xff.unwrap_or(HeaderValue::from_static("unknown")),
    );
    headers.insert(
        X_FORWARDED_PROTO.clone(),
        HeaderValue::from_static(if client.https { "https" } else { "http" }),
    );
    match original_host {
        Some(h) => {
            headers.insert(X_FORWARDED_HOST.clone(), h);
        }
        None => {
            headers.remove(&X_FORWARDED_HOST);
        }
    }
    if let Some((up, conn)) = upgrade_headers {
        if let Some(up) = up {
            headers.insert(header::UPGRADE, up);
        }
        if let Some(conn) = conn {
            headers.insert(header::CONNECTION, conn);
        }
    }
    *req.version_mut() = Version::HTTP_11;
}

/// What sending needs besides the request.
struct Sending<'a> {
    route: &'a Route,
    original_uri: &'a Uri,
    stale_key: Option<&'a (String, String)>,
    body_state: Option<&'a BodyState>,
    request_id: &'a str,
}

/// Sends the request to the first upstream whose breaker admits it, again to the next after a
/// connect failure when the request may be retried (idempotent, bodiless, not an upgrade).
/// `Err` is the answer instead: the stale copy or 503 while every breaker is open, or the
/// problem for an upstream that failed.
async fn send(
    via: &Forwarding<'_>,
    sending: &Sending<'_>,
    req: Req,
    upgrade: bool,
) -> Result<Res, Res> {
    let route = sending.route;
    let request_id = sending.request_id;
    let retries = if !upgrade && retryable(req.method(), req.headers()) {
        route.retries
    } else {
        0
    };
    let mut unsent = Some(req);
    let mut attempt = 0;
    loop {
        let (base, probe) = match admitted_upstream(via.resilience, route) {
            Ok(chosen) => chosen,
            Err(retry_after) => {
                let served = match sending.stale_key {
                    Some((target, caller)) => {
                        via.resilience.stale(route.name, target, caller).await
                    }
                    None => None,
                };
                return Err(circuit_open(
                    served,
                    retry_after,
                    via.resilience.now_ms(),
                    request_id,
                ));
            }
        };
        let Some(uri) = target_uri(base, route, sending.original_uri) else {
            return Err(refuse(
                GATE,
                "bad-target",
                StatusCode::BAD_REQUEST,
                "The request path cannot be forwarded.",
                request_id,
            ));
        };
        let mut this = unsent
            .take()
            .expect("a request is only sent again when it came back unsent");
        *this.uri_mut() = uri;
        // The deadline is the boundary's one timer (see `layers::boundary::bounded`); should it
        // end this wait, the guard counts the attempt as the upstream's failure.
        let mut waiting = Waiting {
            resilience: via.resilience,
            base,
            probe,
            body_state: sending.body_state,
            answered: false,
        };
        let result = via.upstream.send(route.hop(), this).await;
        waiting.answered = true;
        let failed = !matches!(&result, Ok(r) if !r.status().is_server_error());
        // A body the client broke or overfilled says nothing about the upstream's health.
        let client_fault = failed && sending.body_state.is_some_and(|s| s.client_fault());
        if !client_fault {
            via.resilience.record(base, failed, probe);
        }
        match result {
            Ok(res) => return Ok(res),
            Err(Failed {
                error: UpstreamError::Connect(_) | UpstreamError::ConnectTimeout,
                unsent: Some(back),
            }) if attempt < retries => {
                attempt += 1;
                unsent = Some(back);
                metrics::record_upstream_error(route.name, "connect-retried");
                tokio::time::sleep(via.resilience.backoff(attempt)).await;
            }
            Err(failed) => {
                return Err(upstream_failed(
                    &failed.error,
                    route,
                    sending.body_state,
                    request_id,
                ));
            }
        }
    }
}

/// An upstream attempt being waited for. Dropped unanswered (the request's deadline passed),
/// it records the attempt as a failure of the upstream — unless the client's body was still
/// arriving or was at fault, which says nothing about the upstream.
struct Waiting<'a> {
    resilience: &'a Resilience,
    base: &'a Uri,
    probe: bool,
    body_state: Option<&'a BodyState>,
    answered: bool,
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        if self.answered
            || self
                .body_state
                .is_some_and(|s| !s.finished() || s.client_fault())
        {
            return;
        }
        self.resilience.record(self.base, true, self.probe);
    }
}

/// The upstream's answer as the client gets it: in Palisade's protocol version, an accepted
/// upgrade spliced end to end, hop-by-hop headers out, a copy kept for the stale fallback when
/// it may be kept, marked [`Proxied`].
async fn finish(
    via: &Forwarding<'_>,
    route: &Route,
    mut res: Res,
    client_upgrade: Option<hyper::upgrade::OnUpgrade>,
    stale_key: Option<(String, String)>,
    request_id: &str,
) -> Res {
    // Palisade speaks its own protocol version to the client, whatever the upstream spoke (an
    // HTTP/1.0 upstream's status line never reaches an HTTP/1.1 client; hyper still answers an
    // HTTP/1.0 client in HTTP/1.0).
    *res.version_mut() = Version::HTTP_11;
    if res.status() == StatusCode::SWITCHING_PROTOCOLS
        && let Some(client_upgrade) = client_upgrade
    {
        let upstream_upgrade = hyper::upgrade::on(&mut res);
        let rid = request_id.to_owned();
        tokio::spawn(async move {
            match tokio::try_join!(client_upgrade, upstream_upgrade) {
                Ok((client, upstream)) => {
                    let mut client = TokioIo::new(client);
                    let mut upstream = TokioIo::new(upstream);
                    let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
                }
                Err(e) => tracing::debug!(request_id = %rid, error = %e, "upgrade failed"),
            }
        });
    } else {
        remove_hop_by_hop(res.headers_mut());
    }
    if let Some((target, caller)) = stale_key
        && via
            .resilience
            .keepable(&Method::GET, res.status(), res.headers())
    {
        res = keep_for_fallback(via.resilience, route, &target, &caller, res).await;
    }
    res.extensions_mut().insert(Proxied);
    res
}

/// The next upstream of the route whose breaker lets a request through (`is_probe` when it is
/// half-open), or how long until one might.
fn admitted_upstream<'r>(
    resilience: &Resilience,
    route: &'r Route,
) -> Result<(&'r Uri, bool), Duration> {
    let mut soonest = Duration::MAX;
    for _ in 0..route.upstreams.len() {
        let base = route.pick_upstream();
        match resilience.admit(base) {
            Ok(probe) => return Ok((base, probe)),
            Err(retry_after) => soonest = soonest.min(retry_after),
        }
    }
    Err(soonest)
}

/// The answer while every upstream of the route is open: the kept response, or 503.
fn circuit_open(
    served: Option<Arc<Stored>>,
    retry_after: Duration,
    now_ms: u64,
    request_id: &str,
) -> Res {
    if let Some(stored) = served {
        let mut res = Res::new(Body::from(stored.body.clone()));
        *res.status_mut() = stored.status;
        *res.headers_mut() = stored.headers.clone();
        res.headers_mut()
            .insert(FALLBACK.clone(), HeaderValue::from_static("stale"));
        res.headers_mut().insert(
            header::AGE,
            crate::route::resilience::age_header(&stored, now_ms),
        );
        res.extensions_mut().insert(Proxied);
        return res;
    }
    let mut res = refuse(
        GATE,
        "circuit-open",
        StatusCode::SERVICE_UNAVAILABLE,
        "The upstream service is failing and is being given time to recover; try again later.",
        request_id,
    );
    res.headers_mut().insert(
        header::RETRY_AFTER,
        HeaderValue::from(retry_after.as_secs().max(1)),
    );
    res
}

/// Reads a small, complete response into memory, keeps a copy for the stale fallback, and
/// returns it whole.
async fn keep_for_fallback(
    resilience: &Resilience,
    route: &Route,
    target: &str,
    caller: &str,
    res: Res,
) -> Res {
    use http_body_util::BodyExt;
    let (parts, body) = res.into_parts();
    match body.collect().await {
        Ok(collected) => {
            let bytes = collected.to_bytes();
            resilience.keep(
                route.name,
                target,
                caller,
                Stored {
                    status: parts.status,
                    headers: parts.headers.clone(),
                    body: bytes.clone(),
                    stored_at_ms: resilience.now_ms(),
                },
            );
            Res::from_parts(parts, Body::from(bytes))
        }
        Err(e) => {
            tracing::warn!(route = route.name, error = %e, "upstream body failed");
            Res::from_parts(parts, Body::empty())
        }
    }
}

fn upstream_failed(
    e: &UpstreamError,
    route: &Route,
    body_state: Option<&BodyState>,
    request_id: &str,
) -> Res {
    if body_state.is_some_and(|s| s.exceeded()) {
        return refuse(
            "boundary",
            "body-too-large",
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "The request body exceeds the limit of {} bytes.",
                route.max_body
            ),
            request_id,
        );
    }
    if body_state.is_some_and(|s| s.broken()) {
        // The client's framing failed (a malformed chunk size, say): a client error, and the
        // connection cannot be read further.
        let mut res = refuse(
            "boundary",
            "bad-request-body",
            StatusCode::BAD_REQUEST,
            "The request body is malformed (for example a bad chunk size) or was cut short.",
            request_id,
        );
        res.headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
        return res;
    }
    let (kind, status, detail) = match e {
        UpstreamError::ConnectTimeout => (
            "connect-timeout",
            StatusCode::GATEWAY_TIMEOUT,
            "The upstream service did not accept the connection in time; try again later.",
        ),
        UpstreamError::Connect(_) => (
            "connect-failed",
            StatusCode::BAD_GATEWAY,
            "The upstream service is unreachable; try again later.",
        ),
        UpstreamError::Request(_) => (
            "request-failed",
            StatusCode::BAD_GATEWAY,
            "The upstream service failed to answer; try again later.",
        ),
    };
    tracing::warn!(request_id = %request_id, route = route.name, error = %e, "upstream error");
    metrics::record_upstream_error(route.name, kind);
    refuse(GATE, kind, status, detail, request_id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Config, RouteConfig};

    fn route(prefix: &str, strip: bool) -> Route {
        let rc = RouteConfig {
            prefix: prefix.into(),
            upstream: Some("http://up:81/base/".into()),
            strip_prefix: strip,
            ..Default::default()
        };
        Route::from_config(0, &rc, &Config::default()).unwrap()
    }

    #[test]
    fn target_keeps_path_and_query() {
        let r = route("/api/", false);
        let uri: Uri = "/api/items?x=1".parse().unwrap();
        assert_eq!(
            target_uri(r.pick_upstream(), &r, &uri).unwrap().to_string(),
            "http://up:81/base/api/items?x=1"
        );
        let r = route("/api/", true);
        assert_eq!(
            target_uri(r.pick_upstream(), &r, &uri).unwrap().to_string(),
            "http://up:81/base/items?x=1"
        );
    }

    #[test]
    fn target_at_an_upstream_root_shares_the_path_and_query() {
        for upstream in ["http://up:81", "http://up:81/"] {
            let rc = RouteConfig {
                prefix: "/api/".into(),
                upstream: Some(upstream.into()),
                ..Default::default()
            };
            let r = Route::from_config(0, &rc, &Config::default()).unwrap();
            for (path, want) in [
                ("/api/items?x=1&y=%20", "http://up:81/api/items?x=1&y=%20"),
                ("/api/", "http://up:81/api/"),
            ] {
                let uri: Uri = path.parse().unwrap();
                let got = target_uri(r.pick_upstream(), &r, &uri).unwrap();
                assert_eq!(got.to_string(), want);
            }
        }
    }

    #[test]
    fn hop_by_hop_headers_and_those_named_in_connection_go() {
        let mut h = HeaderMap::new();
        h.insert(
            header::CONNECTION,
            HeaderValue::from_static("keep-alive, x-private"),
        );
        h.insert("x-private", HeaderValue::from_static("1"));
        h.insert("keep-alive", HeaderValue::from_static("timeout=5"));
        h.insert(header::TE, HeaderValue::from_static("trailers"));
        h.insert("x-kept", HeaderValue::from_static("1"));
        remove_hop_by_hop(&mut h);
        assert_eq!(h.len(), 1, "{h:?}");
        assert!(h.contains_key("x-kept"));
        for name in &HOP_BY_HOP {
            assert!(is_hop_by_hop(name.as_str()), "{name}");
        }
        assert!(!is_hop_by_hop("x-kept") && !is_hop_by_hop("content-length"));
    }
}
