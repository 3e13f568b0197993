//! The `upload` gate: on a route with `upload = {…}`, reads the request body (bounded by the
//! caller's file cap) and checks it as files (`protect::upload`): the raw body is the file, or
//! the file parts of a `multipart/form-data` body are. A type not allowed or contradicted by
//! the client's name or content type is 415, a size over a cap 413, a bad structure (ragged
//! CSV row, archive bomb, malformed Parquet, ambiguous multipart) 422, each as the
//! `upload-refused` problem with a stable `reason`, and an `upload.refused` event (reason,
//! types, sizes; never content). A body that passes reaches the upstream byte-identical.
//! Routes without `upload`, requests without a body, and clients the firewall marked
//! [`SkipInspection`] (the route's `firewall.skip_inspection`: content rules skipped, never
//! identification or authorization) cost one branch.

use super::body::{Read, body_declared, read_bounded};
use super::check::Check;
use super::inspect::SkipInspection;
use crate::audit::{AuditEvent, AuditLog, Outcome, RequestOrigin, Risk};
use crate::problem::refuse_with;
use crate::protect::upload::multipart::{self, Limits};
use crate::protect::upload::{FileIn, Refusal, UploadPolicy};
use crate::request::{Req, RequestMeta, Res};
use axum::body::Body;
use http::StatusCode;
use palisade_core::principal::Principal;
use std::sync::Arc;

/// The label of the upload gate's refusals.
pub const GATE: &str = "upload";

/// The problem slug of every upload refusal (`reason` says which).
pub const PROBLEM: &str = "upload-refused";

/// The upload gate's check.
#[derive(Clone)]
pub struct Upload {
    audit: Arc<AuditLog>,
}

/// The upload gate as a tower layer.
pub type UploadLayer = super::check::CheckLayer<Upload>;

/// The upload gate, recording to `audit`.
pub fn layer(audit: Arc<AuditLog>) -> UploadLayer {
    super::check::CheckLayer::new(Upload { audit })
}

impl Check for Upload {
    async fn check(&self, req: &mut Req) -> Result<(), Res> {
        let Some(meta) = req.extensions().get::<RequestMeta>() else {
            return Ok(());
        };
        let Some(policy) = meta.route.as_ref().and_then(|r| r.upload.clone()) else {
            return Ok(());
        };
        if req.extensions().get::<SkipInspection>().is_some() {
            return Ok(());
        }
        let request_id = meta.request_id_str().to_owned();
        let (declared, has_body) = body_declared(req);
        if !has_body {
            return Ok(());
        }
        match self.judge(req, &policy, declared).await {
            Ok(()) => Ok(()),
            Err(refusal) => Err(self.refuse(req, refusal, &request_id)),
        }
    }
}

impl Upload {
    /// Reads and checks the body, putting it back for the upstream when it passes.
    async fn judge(
        &self,
        req: &mut Req,
        policy: &UploadPolicy,
        declared: Option<u64>,
    ) -> Result<(), Refusal> {
        let tier = req
            .extensions()
            .get::<Arc<Principal>>()
            .and_then(|p| p.tier.clone());
        let max_file = policy.max_file(tier.as_deref());
        let disposition = header(req, http::header::CONTENT_DISPOSITION);
        let content_type = header(req, http::header::CONTENT_TYPE);
        if req.headers().contains_key(http::header::CONTENT_ENCODING) {
            return Err(Refusal::new(
                "compressed-body",
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "Compressed uploads are not accepted; send the file as it is.",
            ));
        }
        let is_multipart = content_type.as_deref().is_some_and(|t| {
            t.trim_start()
                .get(..19)
                .is_some_and(|p| p.eq_ignore_ascii_case("multipart/form-data"))
        });
        let other_multipart = content_type.as_deref().is_some_and(|t| {
            t.trim_start()
                .get(..10)
                .is_some_and(|p| p.eq_ignore_ascii_case("multipart/"))
        });
        if other_multipart && !is_multipart {
            return Err(Refusal::new(
                "multipart-not-form-data",
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "Multipart uploads must be multipart/form-data.",
            ));
        }
        let c = &policy.config;
        let limit = if is_multipart {
            // Every part at its largest, with its headers and delimiters.
            (c.max_parts as u64)
                .saturating_mul(max_file.max(c.max_field.0) + c.max_part_headers.0 + 256)
        } else {
            max_file
        };
        if let Some(n) = declared.filter(|&n| n > limit) {
            return Err(Refusal::too_large("upload", n, limit));
        }
        let body = std::mem::take(req.body_mut());
        let bytes = match read_bounded(body, limit).await {
            Read::Whole(b) => b,
            Read::Over(..) => return Err(Refusal::too_large("upload", limit + 1, limit)),
            Read::Failed => {
                return Err(Refusal::new(
                    "body-unreadable",
                    StatusCode::BAD_REQUEST,
                    "The request body was cut off or is larger than this route accepts.",
                ));
            }
        };
        if is_multipart {
            let limits = Limits {
                max_parts: c.max_parts,
                max_part_headers: c.max_part_headers.0 as usize,
                max_field: c.max_field.0,
                max_file,
            };
            let parts =
                multipart::parts(&bytes, content_type.as_deref().unwrap_or(""), &limits).await?;
            for (i, part) in parts.iter().enumerate().filter(|(_, p)| p.is_file()) {
                let file = FileIn {
                    bytes: &bytes[part.data.clone()],
                    file_name: part.file_name.as_deref(),
                    content_type: part.content_type.as_deref(),
                };
                policy
                    .check_file(&file, max_file)
                    .map_err(|r| r.with("part", i as u64 + 1))?;
            }
        } else {
            let file = FileIn {
                bytes: &bytes,
                file_name: disposition.as_deref().and_then(raw_file_name),
                content_type: content_type.as_deref(),
            };
            policy.check_file(&file, max_file)?;
        }
        *req.body_mut() = Body::from(bytes);
        Ok(())
    }

    fn refuse(&self, req: &Req, refusal: Refusal, request_id: &str) -> Res {
        let mut details = refusal.extra.clone();
        details.insert("reason".into(), refusal.reason.into());
        self.audit.record_refusal(
            AuditEvent::new("upload.refused", Risk::Medium, Outcome::Denied)
                .origin(&RequestOrigin::of(req))
                .details(serde_json::Value::Object(details.clone())),
        );
        refuse_with(
            GATE,
            PROBLEM,
            refusal.status,
            refusal.detail,
            request_id,
            serde_json::Value::Object(details),
        )
    }
}

/// A header's value as text, if it is.
fn header(req: &Req, name: http::HeaderName) -> Option<String> {
    req.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// The `filename` of a raw upload's `Content-Disposition` (`attachment; filename="x.csv"`).
fn raw_file_name(value: &str) -> Option<&str> {
    value.split(';').skip(1).find_map(|p| {
        let (k, v) = p.split_once('=')?;
        k.trim()
            .eq_ignore_ascii_case("filename")
            .then(|| v.trim().trim_matches('"'))
    })
}
