//! Error sanitization: an upstream 5xx whose body looks like a stack trace or carries
//! secret-looking text is replaced by a generic problem with the request id, so internals never
//! reach the client. The original goes to the log (where the redactor masks credentials).

use crate::problem::refuse;
use crate::request::{BoxFuture, Proxied, Req, RequestMeta, Res};
use axum::body::Body;
use http_body_util::{BodyExt, Limited};
use regex::RegexSet;
use std::sync::Arc;
use std::task::{Context, Poll};
use tower::{Layer, Service};

/// The label of sanitized answers.
pub const GATE: &str = "sanitize";

/// The compiled patterns and the scan limit: the sanitize gate's work ([`Rules::after`]).
#[derive(Debug)]
pub struct Rules {
    patterns: RegexSet,
    max_scan_bytes: usize,
}

/// The sanitize layer: replaces revealing upstream 5xx bodies.
#[derive(Debug, Clone)]
pub struct SanitizeLayer {
    rules: Arc<Rules>,
}

impl SanitizeLayer {
    /// The layer for `patterns` (case-insensitive regexes), reading at most `max_scan_bytes`.
    pub fn new(patterns: &[String], max_scan_bytes: u64) -> Result<Self, String> {
        let patterns = regex::RegexSetBuilder::new(patterns)
            .case_insensitive(true)
            .size_limit(8 << 20)
            .build()
            .map_err(|e| format!("sanitize.patterns: {e}"))?;
        Ok(Self {
            rules: Arc::new(Rules {
                patterns,
                max_scan_bytes: usize::try_from(max_scan_bytes).unwrap_or(usize::MAX),
            }),
        })
    }
}

impl SanitizeLayer {
    /// The gate's work on answers.
    pub fn gate(&self) -> &Arc<Rules> {
        &self.rules
    }
}

impl<S> Layer<S> for SanitizeLayer {
    type Service = Sanitize<S>;
    fn layer(&self, inner: S) -> Sanitize<S> {
        Sanitize {
            inner,
            rules: self.rules.clone(),
        }
    }
}

/// The sanitize layer's service.
#[derive(Debug, Clone)]
pub struct Sanitize<S> {
    inner: S,
    rules: Arc<Rules>,
}

impl<S> Service<Req> for Sanitize<S>
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
        let request_id = req
            .extensions()
            .get::<RequestMeta>()
            .map(|m| m.request_id.clone());
        let rules = self.rules.clone();
        let fut = self.inner.call(req);
        Box::pin(async move {
            let res = fut.await?;
            Ok(rules.after(request_id, res).await)
        })
    }
}

impl Rules {
    /// The sanitize gate's work on an answer, shared by the tower layer and the fast assembly:
    /// an upstream 5xx whose body matches a pattern (or cannot be read within the scan limit)
    /// becomes a generic problem with `request_id`; any other answer passes unchanged.
    pub async fn after(&self, request_id: Option<http::HeaderValue>, res: Res) -> Res {
        let request_id = request_id
            .as_ref()
            .and_then(|v| v.to_str().ok())
            .unwrap_or("-");
        if !res.status().is_server_error() || res.extensions().get::<Proxied>().is_none() {
            return res;
        }
        let (parts, body) = res.into_parts();
        let status = parts.status;
        let verdict = match Limited::new(body, self.max_scan_bytes).collect().await {
            Ok(collected) => {
                let bytes = collected.to_bytes();
                if self.patterns.is_match(&String::from_utf8_lossy(&bytes)) {
                    Err(String::from_utf8_lossy(&bytes).into_owned())
                } else {
                    Ok(bytes)
                }
            }
            Err(_) => Err(format!(
                "(body over {} bytes or unreadable, not shown)",
                self.max_scan_bytes
            )),
        };
        match verdict {
            Ok(bytes) => Res::from_parts(parts, Body::from(bytes)),
            Err(original) => {
                tracing::warn!(request_id = %request_id, status = status.as_u16(), upstream_body = %original, "upstream error body withheld from the client");
                refuse(
                    GATE,
                    "upstream-error",
                    status,
                    format!(
                        "The service behind this gateway failed. Quote request id {request_id} when reporting it."
                    ),
                    request_id,
                )
            }
        }
    }
}
