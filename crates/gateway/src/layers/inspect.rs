//! The `inspect` gate: on a route with `inspect = {…}`, reads the request's parameters, selected
//! headers, cookies and body (within the route's inspection limit) and runs the injection
//! detectors (`protect::inspect`). In block mode a request at the route's anomaly threshold is
//! refused with 403 naming the location (never the value); a body over the inspection limit
//! with 413; a compressed body (unless bounded decompression is on; past its bounds 413), a
//! charset other than UTF-8 with 415; a duplicate JSON key, a body too deep or with too many
//! values, or a malformed one with 400. Each finding and refusal is an
//! `inspect.injection_attempt` or `inspect.refused` event (sampled and counted).
//!
//! The same gate applies a route's content rules (`protect::content`): a body whose media type
//! is not in `content_types` is refused (415) before anything is read; on a route with a
//! `schema` the body is read whole within the route's body limit (413 past it), after
//! inspection, and validated: 422 `schema-mismatch` naming the fields, or the body refusals
//! above; each is a `schema.refused` event (sampled and counted). A route with only
//! `content_types` still streams its bodies. The upstream receives the body as sent
//! (compressed bodies stay compressed). Routes without either, and clients the firewall marked
//! [`SkipInspection`], cost one branch: no body is buffered.

use super::body::{Read, body_declared, read_bounded};
use super::check::{Check, CheckLayer};
use crate::audit::{AuditEvent, AuditLog, Outcome, RequestOrigin, Risk};
use crate::config::inspect::InspectMode;
use crate::problem::{refuse, refuse_with};
use crate::protect::content::{ContentPolicy, ContentRefusal};
use crate::protect::inspect::{InspectPolicy, Verdict};
use crate::request::{Req, RequestMeta, Res};
use axum::body::Body;
use bytes::Bytes;
use futures_util::StreamExt as _;
use http::StatusCode;
use std::sync::Arc;

/// The label of the inspect gate's refusals.
pub const GATE: &str = "inspect";

/// The detail of a 413 from the inspect gate.
const TOO_LARGE: &str = "The request body is larger than this route inspects.";

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

impl Check for Inspect {
    async fn check(&self, req: &mut Req) -> Result<(), Res> {
        let Some(meta) = req.extensions().get::<RequestMeta>() else {
            return Ok(());
        };
        let (policy, content, max_body) = match meta.route.as_ref() {
            Some(r) if r.inspect.is_some() || r.content.is_some() => {
                (r.inspect.clone(), r.content.clone(), r.max_body)
            }
            _ => return Ok(()),
        };
        if req.extensions().get::<SkipInspection>().is_some() {
            return Ok(());
        }
        let request_id = meta.request_id_str().to_owned();
        if let Some(content) = &content
            && body_declared(req).1
            && !content.admits(req.headers())
        {
            return Err(self.refuse_content(req, &ContentRefusal::MediaType, &request_id));
        }
        if let Some(policy) = policy {
            self.inspect(req, &policy, &request_id).await?;
        }
        match content {
            Some(content) if content.has_schema() => {
                self.validate(req, &content, max_body, &request_id).await
            }
            _ => Ok(()),
        }
    }
}

impl Inspect {
    /// The injection detectors over the request (`Err` is the answer).
    async fn inspect(
        &self,
        req: &mut Req,
        policy: &InspectPolicy,
        request_id: &str,
    ) -> Result<(), Res> {
        let request_id = request_id.to_owned();
        let block = policy.mode == InspectMode::Block;
        let (declared, has_body) = body_declared(req);
        let mut bytes = Bytes::new();
        if has_body {
            if !block && declared.is_some_and(|n| n > policy.max_body) {
                // Detect mode: a body over the limit passes, its parameters still inspected.
                return self.decide(req, policy, &Bytes::new(), &request_id);
            }
            if block && declared.is_some_and(|n| n > policy.max_body) {
                return Err(self.refuse_body(
                    req,
                    "body-too-large",
                    StatusCode::PAYLOAD_TOO_LARGE,
                    TOO_LARGE,
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
                    return self.decide(req, policy, &Bytes::new(), &request_id);
                }
                Read::Over(..) => {
                    return Err(self.refuse_body(
                        req,
                        "body-too-large",
                        StatusCode::PAYLOAD_TOO_LARGE,
                        TOO_LARGE,
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
        self.decide(req, policy, &bytes, &request_id)
    }

    /// Reads the body whole (within the route's limit `max_body`) and validates it against
    /// the route's schema (`Err` is the answer).
    async fn validate(
        &self,
        req: &mut Req,
        content: &ContentPolicy,
        max_body: u64,
        request_id: &str,
    ) -> Result<(), Res> {
        if !body_declared(req).1 {
            if matches!(
                *req.method(),
                http::Method::POST | http::Method::PUT | http::Method::PATCH
            ) {
                return Err(self.refuse_content(req, &ContentRefusal::BodyRequired, request_id));
            }
            return Ok(());
        }
        let body = std::mem::take(req.body_mut());
        let bytes = match read_bounded(body, max_body).await {
            Read::Whole(b) => b,
            Read::Over(..) => {
                return Err(self.refuse_content(req, &ContentRefusal::TooLarge, request_id));
            }
            Read::Failed => {
                let over = req
                    .extensions()
                    .get::<Arc<crate::request::body::BodyState>>()
                    .is_some_and(|s| s.exceeded());
                let why = if over {
                    ContentRefusal::TooLarge
                } else {
                    ContentRefusal::Unreadable
                };
                return Err(self.refuse_content(req, &why, request_id));
            }
        };
        *req.body_mut() = Body::from(bytes.clone());
        content
            .validate(req.headers(), &bytes)
            .map_err(|why| self.refuse_content(req, &why, request_id))
    }

    /// Records a content-rule refusal (`schema.refused`) and answers it.
    fn refuse_content(&self, req: &Req, why: &ContentRefusal, request_id: &str) -> Res {
        let errors = match why {
            ContentRefusal::Mismatch(errors) => Some(errors),
            _ => None,
        };
        self.audit.record_refusal(
            AuditEvent::new("schema.refused", Risk::Medium, Outcome::Denied)
                .origin(&RequestOrigin::of(req))
                .details(serde_json::json!({ "reason": why.reason(), "errors": errors })),
        );
        let extensions = match errors {
            Some(errors) => serde_json::json!({ "errors": errors }),
            None => serde_json::json!({}),
        };
        refuse_with(
            GATE,
            why.reason(),
            why.status(),
            why.detail(),
            request_id,
            extensions,
        )
    }

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
                if policy.mode == InspectMode::Block {
                    Err(self.refuse_body(req, why.reason(), why.status(), why.detail(), request_id))
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
        let event = injection_event(policy, v, &RequestOrigin::of(req), unreadable);
        self.audit.record_refusal(event);
    }

    fn refuse_body(
        &self,
        req: &Req,
        reason: &'static str,
        status: StatusCode,
        detail: &str,
        request_id: &str,
    ) -> Res {
        self.audit.record_refusal(
            AuditEvent::new("inspect.refused", Risk::Medium, Outcome::Denied)
                .origin(&RequestOrigin::of(req))
                .details(serde_json::json!({ "reason": reason })),
        );
        refuse(GATE, reason, status, detail, request_id)
    }
}

/// The `inspect.injection_attempt` event of a verdict: the strongest finding's detector,
/// location and redacted excerpt, the first five findings, score, threshold and mode (never the
/// value). The gate and the WebSocket relay record the same event.
pub fn injection_event(
    policy: &InspectPolicy,
    v: &Verdict,
    origin: &RequestOrigin,
    unreadable: Option<&str>,
) -> AuditEvent {
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
    AuditEvent::new(
        "inspect.injection_attempt",
        Risk::High,
        if refused {
            Outcome::Denied
        } else {
            Outcome::Success
        },
    )
    .origin(origin)
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
    }))
}
