//! RFC 9457 problem details: the one shape of every refusal Palisade answers.
//!
//! A problem names what went wrong and what to do, carries the request id, and never internals.

use axum::body::Body;
use http::{HeaderValue, Response, StatusCode, header};
use serde::Serialize;

/// The media type of every refusal.
pub const CONTENT_TYPE: &str = "application/problem+json";

/// A refusal, before it becomes a response.
#[derive(Debug, Clone, Serialize)]
pub struct Problem {
    /// `urn:palisade:problem:<slug>`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The status's reason phrase.
    pub title: &'static str,
    /// The HTTP status.
    pub status: u16,
    /// What went wrong and what to do, for a person; never internals.
    pub detail: String,
    /// The request's id, to quote to an operator.
    pub request_id: String,
    /// Problem-specific members (e.g. the password rules that failed).
    #[serde(flatten)]
    pub extensions: serde_json::Map<String, serde_json::Value>,
}

/// Which gate refused and why, kept on the response for metrics and logs.
#[derive(Debug, Clone, Copy)]
pub struct Refusal {
    /// The gate or area that refused.
    pub gate: &'static str,
    /// The problem slug.
    pub reason: &'static str,
}

impl Problem {
    /// A problem with `status`, slug (`urn:palisade:problem:<slug>`), `detail` and request id.
    pub fn new(
        status: StatusCode,
        slug: &'static str,
        detail: impl Into<String>,
        request_id: &str,
    ) -> Self {
        Self {
            kind: format!("urn:palisade:problem:{slug}"),
            title: status.canonical_reason().unwrap_or("Error"),
            status: status.as_u16(),
            detail: detail.into(),
            request_id: request_id.to_string(),
            extensions: serde_json::Map::new(),
        }
    }

    /// The answer: `application/problem+json`, `Cache-Control: no-store`.
    pub fn into_response(self) -> Response<Body> {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = serde_json::to_vec(&self).unwrap_or_else(|_| b"{}".to_vec());
        let mut res = Response::new(Body::from(body));
        *res.status_mut() = status;
        res.headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
        res.headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        res
    }
}

/// Builds a refusal response from a gate, tagged with the gate and reason for metrics.
pub fn refuse(
    gate: &'static str,
    reason: &'static str,
    status: StatusCode,
    detail: impl Into<String>,
    request_id: &str,
) -> Response<Body> {
    let mut res = Problem::new(status, reason, detail, request_id).into_response();
    res.extensions_mut().insert(Refusal { gate, reason });
    res
}

/// Like [`refuse`], with extra members in the body (an object's fields are merged).
pub fn refuse_with(
    gate: &'static str,
    reason: &'static str,
    status: StatusCode,
    detail: impl Into<String>,
    request_id: &str,
    extensions: serde_json::Value,
) -> Response<Body> {
    let mut problem = Problem::new(status, reason, detail, request_id);
    if let serde_json::Value::Object(map) = extensions {
        problem.extensions = map;
    }
    let mut res = problem.into_response();
    res.extensions_mut().insert(Refusal { gate, reason });
    res
}

/// 401 with the RFC 6750 challenge (`error="invalid_token"` unless the credential is
/// `missing`), counted under the `identify` gate whichever step answers it: the identify gate,
/// the authorize gate, forward auth or the built-in API.
pub fn unauthorized(reason: &'static str, detail: &str, request_id: &str) -> Response<Body> {
    let mut res = refuse(
        "identify",
        reason,
        StatusCode::UNAUTHORIZED,
        detail.to_string(),
        request_id,
    );
    let challenge = if reason == "missing" {
        HeaderValue::from_static("Bearer realm=\"palisade\"")
    } else {
        HeaderValue::from_static("Bearer realm=\"palisade\", error=\"invalid_token\"")
    };
    res.headers_mut()
        .insert(header::WWW_AUTHENTICATE, challenge);
    res
}
