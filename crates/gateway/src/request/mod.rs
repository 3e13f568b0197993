//! The per-request facts every step shares, decided once and then only read: what the listener
//! knew about the connection ([`ConnInfo`]), what the boundary decided ([`RequestMeta`]: request
//! id, client IP, built-in endpoint or the one route decision), who a request is counted against
//! ([`CallerKey`]), the header names several steps must spell alike, and the request body's
//! limit ([`body`]).
//!
//! Nothing here decides anything: gates, the route step and the built-in API read these types
//! instead of deriving the same fact again, each in its own way.

pub mod body;

use crate::route::table::Route;
use axum::body::Body;
use http::{HeaderName, HeaderValue, header};
use palisade_core::principal::{AuthMethod, Principal};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// A request as every step sees it.
pub type Req = http::Request<Body>;
/// An answer as every step gives it.
pub type Res = http::Response<Body>;
/// The future every step of the pipeline returns.
pub type BoxFuture = std::pin::Pin<
    Box<dyn std::future::Future<Output = Result<Res, std::convert::Infallible>> + Send>,
>;

/// `X-Request-Id`.
pub static X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
/// `X-Forwarded-For`.
pub static X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");

/// Replaces a `Content-Length` name (14 bytes) sent together with `Transfer-Encoding`: written
/// by the listener's framing watch ([`crate::server::framing`]), refused by the strict-HTTP check.
pub const CL_TE_MARKER: &str = "palisade-cl-te";
/// Replaces a `Transfer-Encoding` name (17 bytes) other than one single `chunked`.
pub const TE_MARKER: &str = "palisade-te-other";
/// Marks the request the listener hands hyper in place of a head longer than hyper's buffer,
/// so that the boundary answers 431 with a problem+json rather than hyper with a bare 431.
pub const OVERSIZED_MARKER: &str = "palisade-head-too-large";

/// What the listener knows about the connection a request came on.
#[derive(Debug, Clone)]
pub struct ConnInfo {
    /// The socket peer.
    pub peer: SocketAddr,
    /// Whether the connection is TLS.
    pub tls: bool,
    /// The peer's IP as a header value, formatted once per connection for `X-Forwarded-For`.
    pub peer_ip_header: HeaderValue,
    /// The listener's framing watch on this connection, when there is one: without it, every
    /// request's framing fields and markers are checked.
    pub framing_marks: Option<FramingMarks>,
}

impl ConnInfo {
    /// A connection from `peer` (formats the peer's address header once).
    pub fn new(peer: SocketAddr, tls: bool) -> Self {
        let peer_ip_header = HeaderValue::from_str(&peer.ip().to_string())
            .expect("an IP address is a valid header value");
        Self {
            peer,
            tls,
            peer_ip_header,
            framing_marks: None,
        }
    }

    /// The same connection, watched by the listener's framing check.
    pub fn with_framing_marks(self, marks: FramingMarks) -> Self {
        Self {
            framing_marks: Some(marks),
            ..self
        }
    }

    /// Whether a request on this connection may carry framing fields or the watch's markers.
    pub fn framing_fields(&self) -> bool {
        self.framing_marks.as_ref().is_none_or(|m| m.any())
    }
}

/// What the listener's framing watch (`crate::server::framing`) knows of its connection: set
/// once a head on it needed more than the watch's line scan (it named a framing field, was
/// unusual or incomplete), or the watch stopped or stood its oversized-head request in. Until then the watch vouches that no head on the connection carried `Content-Length`,
/// `Transfer-Encoding` or a marker, and the strict check skips looking for them.
#[derive(Debug, Clone, Default)]
pub struct FramingMarks(Arc<AtomicBool>);

impl FramingMarks {
    pub(crate) fn set(&self) {
        self.0.store(true, Ordering::Release);
    }

    /// Whether a head on this connection needed the framing fields checked.
    pub fn any(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }
}

/// What the boundary learned about a request; on request and response extensions.
#[derive(Debug, Clone)]
pub struct RequestMeta {
    /// The request id: the client's if well-formed, else a new UUIDv7.
    pub request_id: HeaderValue,
    /// The client's address, resolved through trusted proxies.
    pub client_ip: IpAddr,
    /// The connection to Palisade, or the client's connection to a trusted TLS proxy, is HTTPS.
    pub https: bool,
    /// The socket peer is a trusted proxy, so its `X-Forwarded-For` chain may be passed on.
    pub peer_is_trusted_proxy: bool,
    /// Which of Palisade's own endpoints the (canonical) path is, if any: such a request is
    /// answered by Palisade and has no `route`.
    pub builtin: Option<crate::route::builtin::Builtin>,
    /// The route the one route decision gave the request, if any.
    pub route: Option<Arc<Route>>,
}

impl RequestMeta {
    /// The request id as text.
    pub fn request_id_str(&self) -> &str {
        self.request_id.to_str().unwrap_or("-")
    }

    /// `/healthz`, `/readyz`, `/metrics`: never shed, blocked or throttled.
    pub fn is_ops(&self) -> bool {
        self.builtin == Some(crate::route::builtin::Builtin::Ops)
    }
}

/// The request id the boundary gave the request with these extensions, or `""` before the
/// boundary ran.
pub fn request_id_of(extensions: &http::Extensions) -> String {
    extensions
        .get::<RequestMeta>()
        .map(|m| m.request_id_str().to_owned())
        .unwrap_or_default()
}

/// The tenant the authorize gate (or forward auth) checked this request against; on the request
/// extensions, read by the identity assertion and the audit origin.
#[derive(Debug, Clone)]
pub struct AuthorizedTenant(pub String);

/// What a request sent in its route's `tenant_header`, read by the boundary before identity
/// headers are stripped (the name may also be an identity header Palisade sets); on the request
/// extensions of routes with a `tenant_header` only, read by the authorize gate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TenantHeader {
    /// Exactly one value, a valid tenant id.
    One(String),
    /// No such header.
    Missing,
    /// Several values, a list, or not a tenant id (1-64 of `A-Z a-z 0-9 _ -`).
    Malformed,
}

impl TenantHeader {
    /// Reads header `name` of `headers`: exactly one field holding one tenant id, or why not. A
    /// variant spelling of the name (`_` for `-`) counts as another value: an upstream that
    /// reads both spellings as one must not see a second, unauthorized tenant.
    pub fn read(headers: &http::HeaderMap, name: &http::HeaderName) -> TenantHeader {
        let mut values = headers.get_all(name).iter();
        let variants = name.as_str().contains('-')
            && headers.keys().any(|k| {
                k != name
                    && k.as_str().len() == name.as_str().len()
                    && k.as_str()
                        .bytes()
                        .zip(name.as_str().bytes())
                        .all(|(a, b)| a == b || (a == b'_' && b == b'-'))
            });
        match (values.next(), values.next()) {
            (None, None) if !variants => TenantHeader::Missing,
            (Some(v), None) if !variants => match v.to_str() {
                // The rule of `authz::tenants::valid_id` (a test keeps them equal).
                Ok(t)
                    if (1..=64).contains(&t.len())
                        && t.bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-') =>
                {
                    TenantHeader::One(t.to_owned())
                }
                _ => TenantHeader::Malformed,
            },
            _ => TenantHeader::Malformed,
        }
    }
}

/// Marks a response that came from an upstream (in library mode, the wrapped service), not from
/// Palisade itself: it gets its route's headers and 5xx sanitizing.
#[derive(Debug, Clone, Copy)]
pub struct Proxied;

/// The path as the client spelled it, on requests whose path the boundary rewrote.
#[derive(Debug, Clone)]
pub struct RawPath(pub String);

/// The host a request is for, without port: `:authority` (HTTP/2) or `Host`.
pub fn request_host(req: &Req) -> Option<&str> {
    let raw = req.uri().host().or_else(|| {
        req.headers()
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
    })?;
    Some(strip_port(raw))
}

/// A host without its port (`[::1]:80` → `[::1]`).
pub fn strip_port(host: &str) -> &str {
    if host.starts_with('[') {
        return host
            .split_once(']')
            .map_or(host, |(h, _)| &host[..h.len() + 1]);
    }
    host.rsplit_once(':').map_or(host, |(h, port)| {
        if port.bytes().all(|b| b.is_ascii_digit()) {
            h
        } else {
            host
        }
    })
}

/// Who a request is counted against (rate limits, the stale fallback, `api.request` actors):
/// the API key, else the account (or an external issuer's subject), else the client IP.
/// Not to be confused with the built-in API's authenticated caller
/// (`api::extract::Caller`), which is a principal or a 401.
#[derive(Debug, Clone, Copy)]
pub enum CallerKey<'a> {
    /// An API key, by id.
    Key(&'a str),
    /// A Palisade account, by id.
    User(&'a str),
    /// A trusted issuer's subject.
    External {
        /// The token's issuer.
        issuer: &'a str,
        /// Its subject.
        subject: &'a str,
    },
    /// An anonymous caller, by client IP.
    Ip(IpAddr),
}

impl<'a> CallerKey<'a> {
    /// Who `principal` (or, anonymous, `client_ip`) is counted as.
    pub fn of(principal: Option<&'a Principal>, client_ip: IpAddr) -> Self {
        match principal {
            Some(p) if p.method == AuthMethod::ApiKey => {
                CallerKey::Key(p.key_id.as_deref().unwrap_or(&p.subject))
            }
            Some(p) if p.method == AuthMethod::External => CallerKey::External {
                issuer: &p.issuer,
                subject: &p.subject,
            },
            Some(p) => CallerKey::User(&p.subject),
            None => CallerKey::Ip(client_ip),
        }
    }

    /// Hands the caller's identifying parts to `f` without building a string.
    pub fn with_parts<R>(&self, f: impl FnOnce(&[&[u8]]) -> R) -> R {
        match self {
            CallerKey::Key(id) => f(&[b"key", id.as_bytes()]),
            CallerKey::User(id) => f(&[b"user", id.as_bytes()]),
            CallerKey::External { issuer, subject } => {
                f(&[b"ext", issuer.as_bytes(), subject.as_bytes()])
            }
            CallerKey::Ip(IpAddr::V4(ip)) => f(&[b"ip", &ip.octets()]),
            CallerKey::Ip(IpAddr::V6(ip)) => f(&[b"ip", &ip.octets()]),
        }
    }
}

impl std::fmt::Display for CallerKey<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CallerKey::Key(id) => write!(f, "key:{id}"),
            CallerKey::User(id) => write!(f, "user:{id}"),
            CallerKey::External { issuer, subject } => write!(f, "ext:{issuer}:{subject}"),
            CallerKey::Ip(ip) => write!(f, "ip:{ip}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_are_stripped_from_hosts() {
        assert_eq!(strip_port("example.com:8080"), "example.com");
        assert_eq!(strip_port("example.com"), "example.com");
        assert_eq!(strip_port("[::1]:80"), "[::1]");
    }

    #[test]
    fn a_tenant_header_is_one_tenant_id_or_refused() {
        let name = http::HeaderName::from_static("x-graph-id");
        let read = |fields: &[(&str, &str)]| {
            let mut h = http::HeaderMap::new();
            for (n, v) in fields {
                h.append(
                    http::HeaderName::from_bytes(n.as_bytes()).unwrap(),
                    http::HeaderValue::from_str(v).unwrap(),
                );
            }
            TenantHeader::read(&h, &name)
        };
        assert_eq!(
            read(&[("x-graph-id", "g1")]),
            TenantHeader::One("g1".into())
        );
        assert_eq!(read(&[("x-other", "g1")]), TenantHeader::Missing);
        let long = "a".repeat(65);
        for bad in [
            &[("x-graph-id", "g1"), ("x-graph-id", "g2")][..],
            &[("x-graph-id", "g1,g2")],
            &[("x-graph-id", "g1 ")],
            &[("x-graph-id", "")],
            &[("x-graph-id", long.as_str())],
            &[("x-graph-id", "g1"), ("x_graph_id", "g2")],
            &[("x_graph-id", "g2")],
        ] {
            assert_eq!(read(bad), TenantHeader::Malformed, "{bad:?}");
        }
        for id in ["g1", "acme-eu_2", &"a".repeat(64)] {
            assert_eq!(
                crate::authz::tenants::valid_id(id),
                matches!(read(&[("x-graph-id", id)]), TenantHeader::One(_)),
                "the same rule as tenant ids: {id}"
            );
        }
    }
}
