//! The gates of the request pipeline, one tower layer per file, in pipeline order:
//!
//! ```text
//! respond ─► boundary ─► cors ─► sanitize ─► admission ─► firewall ─► identify ─► throttle
//!         ─► authorize ─► (inspect: its own issue) ─► route
//! ```
//!
//! `respond` is outermost so that it sees every answer, refusals included, to add security
//! headers, count metrics and write the access log. `boundary` runs first on the way in and
//! attaches the [`RequestMeta`] that later gates read.

pub mod admission;
pub mod authorize;
pub mod body_limit;
pub mod boundary;
pub mod check;
pub mod firewall;
pub mod identify;
pub mod respond;
pub mod sanitize;
pub mod strict_http;
pub mod throttle;

use crate::routes::Route;
use axum::body::Body;
use http::HeaderValue;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

pub type Req = http::Request<Body>;
pub type Res = http::Response<Body>;
pub type BoxFuture = std::pin::Pin<
    Box<dyn std::future::Future<Output = Result<Res, std::convert::Infallible>> + Send>,
>;

/// What the listener knows about the connection a request came on.
#[derive(Debug, Clone)]
pub struct ConnInfo {
    pub peer: SocketAddr,
    pub tls: bool,
    /// The peer's IP as a header value, formatted once per connection for `X-Forwarded-For`.
    pub peer_ip_header: HeaderValue,
    /// The listener's framing watch on this connection, when there is one: without it, every
    /// request's framing fields and markers are checked.
    pub framing_marks: Option<crate::framing::Marks>,
}

impl ConnInfo {
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

    pub fn with_framing_marks(self, marks: crate::framing::Marks) -> Self {
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

/// What the boundary learned about a request; on request and response extensions.
#[derive(Debug, Clone)]
pub struct RequestMeta {
    pub request_id: HeaderValue,
    pub client_ip: IpAddr,
    /// The connection to Palisade, or the client's connection to a trusted TLS proxy, is HTTPS.
    pub https: bool,
    /// The socket peer is a trusted proxy, so its `X-Forwarded-For` chain may be passed on.
    pub peer_is_trusted_proxy: bool,
    /// Which of Palisade's own endpoints the (canonical) path is, if any: such a request is
    /// answered by Palisade and has no `route`.
    pub builtin: Option<crate::builtin::Builtin>,
    /// The route the one route decision gave the request, if any.
    pub route: Option<Arc<Route>>,
}

impl RequestMeta {
    pub fn request_id_str(&self) -> &str {
        self.request_id.to_str().unwrap_or("-")
    }

    /// `/healthz`, `/readyz`, `/metrics`: never shed, blocked or throttled.
    pub fn is_ops(&self) -> bool {
        self.builtin == Some(crate::builtin::Builtin::Ops)
    }
}

/// Marks a response that came from an upstream, not from Palisade itself.
#[derive(Debug, Clone, Copy)]
pub struct Proxied;
