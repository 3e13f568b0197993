//! The `inspect` gate: on a route with `inspect = {…}`, reads the request's parameters, selected
//! headers, cookies and body (within the route's inspection limit) and runs the injection
//! detectors (`protect::inspect`). In block mode a request at the route's anomaly threshold is
//! refused with 403 naming the location (never the value); a body over the inspection limit
//! with 413; a compressed body, a charset other than UTF-8 with 415; a duplicate JSON key, a body
//! too deep or with too many values, or a malformed one with 400. Each finding and refusal is an
//! `inspect.injection_attempt` or `inspect.refused` event (sampled and counted). Routes without
//! inspection, and clients the firewall marked [`SkipInspection`], cost one branch: no body is
//! buffered.

use super::check::{Check, CheckLayer};
use crate::audit::{AuditEvent, AuditLog, Outcome, RequestOrigin, Risk};
use crate::config::inspect::InspectMode;
use crate::problem::{refuse, refuse_with};
use crate::protect::inspect::{InspectPolicy, Verdict};
use crate::protect::inspect_body::BodyRefusal;
use crate::request::{Req, RequestMeta, Res};
use axum::body::Body;
use bytes::{Bytes, BytesMut};
use futures_util::StreamExt as _;
use http::StatusCode;
use http_body_util::BodyExt;
use std::sync::Arc;

/// The label of the inspect gate's refusals.
pub const GATE: &str = "inspect";

/// Put on a request by the firewall gate when the client's address may skip content rules on
/// its route (identification and authorization still run).
#[derive(Debug, Clone, Copy)]
pub struct SkipInspection;

/// The inspect gate's check.
#[derive(Clone)]
pub struct Inspect {
    audit: Arc<AuditLog>,
}

/// The inspect gate as a tower layer.
pub type InspectLayer = CheckLayer<Inspect>;

/// The inspect gate, recording to `audit`.
pub fn layer(audit: Arc<AuditLog>) -> InspectLayer {
    CheckLayer::new(Inspect { audit })
}

/// A body read for inspection, or why not.
enum Read {
    Whole(Bytes),
    /// Over the limit: what was read, and the rest unread.
    Over(Bytes, Body),
    /// Over the route's own body limit or broken by the client.
    Failed,
}

async fn read_bounded(body: Body, limit: u64) -> Read {
    let mut body = body;
    let mut buf = BytesMut::new();
    loop {
        match body.frame().await {
            None => return Read::Whole(buf.freeze()),
            Some(Err(_)) => return Read::Failed,
            Some(Ok(frame)) => {
                if let Ok(data) = frame.into_data() {
                    buf.extend_from_slice(&data);
                    if buf.len() as u64 > limit {
                        return Read::Over(buf.freeze(), body);
                    }
                }
            }
        }
    }
}

impl Check for Inspect {
    async fn check(&self, req: &mut Req) -> Result<(), Res> {
        let Some(meta) = req.extensions().get::<RequestMeta>() else {
            return Ok(());
        };
        let Some(policy) = meta.route.as_ref().and_then(|r| r.inspect.clone()) else {
            return Ok(());
        };
        if req.extensions().get::<SkipInspection>().is_some() {
            return Ok(());
        }
        let request_id = meta.request_id_str().to_owned();
        let block = policy.mode == InspectMode::Block;
        let declared = req
            .headers()
            .get(http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        let has_body = declared.is_some_and(|n| n > 0)
            || req.headers().contains_key(http::header::TRANSFER_ENCODING);
        let mut bytes = Bytes::new();
        if has_body {
            if !block && declared.is_some_and(|n| n > policy.max_body) {
                // Detect mode: a body over the limit passes, its parameters still inspected.
                return self.decide(req, &policy, &Bytes::new(), &request_id);
            }
            if block && declared.is_some_and(|n| n > policy.max_body) {
                return Err(self.refuse_body(
                    req,
                    "body-too-large",
                    StatusCode::PAYLOAD_TOO_LARGE,
                    &request_id,
                ));
            }
            let body = std::mem::take(req.body_mut());
            match read_bounded(body, policy.max_body).await {
                Read::Whole(b) => bytes = b,
                Read::Over(prefix, rest) if !block => {
                    let stream =
                        futures_util::stream::once(async move { Ok::<_, axum::Error>(prefix) })
                            .chain(rest.into_data_stream());
                    *req.body_mut() = Body::from_stream(stream);
                    return self.decide(req, &policy, &Bytes::new(), &request_id);
                }
                Read::Over(..) => {
                    return Err(self.refuse_body(
                        req,
                        "body-too-large",
                        StatusCode::PAYLOAD_TOO_LARGE,
                        &request_id,
                    ));
                }
                Read::Failed => {
                    return Err(refuse(
                        GATE,
                        "body-unreadable",
                        StatusCode::PAYLOAD_TOO_LARGE,
                        "The request body is larger than this route accepts, or was cut off.",
                        &request_id,
                    ));
                }
            }
            *req.body_mut() = Body::from(bytes.clone());
        }
        self.decide(req, &policy, &bytes, &request_id)
    }
}

impl Inspect {
    /// The decision on what was read (`Err` is the answer, as a `Check` returns it).
    #[allow(clippy::result_large_err)]
    fn decide(
        &self,
        req: &mut Req,
        policy: &InspectPolicy,
        body: &Bytes,
        request_id: &str,
    ) -> Result<(), Res> {
        let (parts, b) = std::mem::take(req).into_parts();
        let verdict = policy.inspect(&parts, body);
        *req = Req::from_parts(parts, b);
        match verdict {
            Err(why) => {
                let status = match why {
                    BodyRefusal::Compressed | BodyRefusal::Charset => {
                        StatusCode::UNSUPPORTED_MEDIA_TYPE
                    }
                    _ => StatusCode::BAD_REQUEST,
                };
                if policy.mode == InspectMode::Block {
                    Err(self.refuse_body(req, why.reason(), status, request_id))
                } else {
                    self.record(req, policy, &Verdict::default(), Some(why.reason()));
                    Ok(())
                }
            }
            Ok(v) if v.hits.is_empty() => Ok(()),
            Ok(v) => {
                self.record(req, policy, &v, None);
                if !policy.refuses(&v) {
                    return Ok(());
                }
                let top = &v.hits[0];
                Err(refuse_with(
                    GATE,
                    "injection",
                    StatusCode::FORBIDDEN,
                    format!(
                        "The request was refused: {} looks like an injection attempt.",
                        top.location
                    ),
                    request_id,
                    serde_json::json!({ "location": top.location.to_string() }),
                ))
            }
        }
    }

    /// Records the findings (or a body that could not be inspected in detect mode).
    fn record(&self, req: &Req, policy: &InspectPolicy, v: &Verdict, unreadable: Option<&str>) {
        let refused = policy.refuses(v);
        let findings: Vec<serde_json::Value> = v
            .hits
            .iter()
            .take(5)
            .map(|h| {
                serde_json::json!({
                    "detector": h.finding.detector.name(),
                    "rule": h.finding.rule,
                    "level": h.finding.level,
                    "location": h.location.to_string(),
                    "excerpt": h.excerpt,
                })
            })
            .collect();
        let top = v.hits.first();
        let event = AuditEvent::new(
            "inspect.injection_attempt",
            Risk::High,
            if refused {
                Outcome::Denied
            } else {
                Outcome::Success
            },
        )
        .origin(&RequestOrigin::of(req))
        .details(serde_json::json!({
            "reason": if refused { "blocked" } else { "detected" },
            "mode": if policy.mode == InspectMode::Block { "block" } else { "detect" },
            "detector": top.map(|h| h.finding.detector.name()),
            "location": top.map(|h| h.location.to_string()),
            "excerpt": top.map(|h| h.excerpt.clone()),
            "score": v.score,
            "threshold": policy.threshold,
            "paranoia": policy.paranoia,
            "findings": findings,
            "unreadable": unreadable,
        }));
        self.audit.record_refusal(event);
    }

    fn refuse_body(
        &self,
        req: &Req,
        reason: &'static str,
        status: StatusCode,
        request_id: &str,
    ) -> Res {
        self.audit.record_refusal(
            AuditEvent::new("inspect.refused", Risk::Medium, Outcome::Denied)
                .origin(&RequestOrigin::of(req))
                .details(serde_json::json!({ "reason": reason })),
        );
        let detail = match reason {
            "body-too-large" => "The request body is larger than this route inspects.",
            "compressed-body" => "Compressed request bodies are not accepted on this route.",
            "charset-not-utf8" => "Only UTF-8 request bodies are accepted on this route.",
            "duplicate-json-key" => "The JSON body has an object with the same key twice.",
            "body-too-deep" => "The JSON body is nested too deeply.",
            "body-too-many-values" => "The request body has too many values.",
            _ => "The request body cannot be read as its content type says.",
        };
        refuse(GATE, reason, status, detail, request_id)
    }
}
