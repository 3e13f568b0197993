//! The transport to upstreams: the [`Upstream`] seam (tests and other transports plug in
//! here; [`super::pool::UpstreamPool`] is the one `palisade serve` uses). Errors say whether
//! the connection could not be made (so the proxy may retry) or the request failed after it was
//! sent.

use crate::config::traffic::UpstreamProtocol;
use crate::request::Res;
use axum::body::Body;
use futures_util::future::BoxFuture;
use http::Request;
use std::time::Duration;

/// Sends a request upstream. The seam where tests or other transports plug in.
pub trait Upstream: Send + Sync + std::fmt::Debug {
    /// Forwards `req` (its URI already the upstream's) and returns the upstream's answer, or
    /// why there is none.
    fn send(&self, hop: Hop, req: Request<Body>) -> BoxFuture<'static, Result<Res, Failed>>;
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

/// A request that got no answer: why, and the request itself when it was never written (a
/// connect failure), so it can be sent again without a copy having been kept.
#[derive(Debug)]
pub struct Failed {
    /// Why.
    pub error: UpstreamError,
    /// The request, when nothing of it was sent.
    pub unsent: Option<Request<Body>>,
}

impl Failed {
    /// A failure after (part of) the request was sent.
    pub fn sent(error: UpstreamError) -> Self {
        Self {
            error,
            unsent: None,
        }
    }
}

/// What the transport needs to know about the route besides the request.
#[derive(Debug, Clone, Copy)]
pub struct Hop {
    /// Connect deadline for a new connection.
    pub connect_timeout: Duration,
    /// How to speak to the upstream.
    pub protocol: UpstreamProtocol,
}

pub(super) fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

pub(super) fn error_chain_has_timeout(e: &(dyn std::error::Error + 'static)) -> bool {
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
