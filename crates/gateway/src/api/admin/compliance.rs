//! `GET /admin/compliance/report?standard=…&format=…`: the compliance evidence report
//! ([`crate::compliance::report`], the use case `palisade compliance report` shares). Needs
//! `admin.compliance.read`; each report drawn is a `compliance.report_generated` event. The
//! ASVS catalogue is read from `compliance.asvs_catalogue` only: a request never names a file.

use super::perm;
use crate::api::extract::{Caller, Ctx, require};
use crate::api::openapi::schemas;
use crate::compliance::render::{Format, render};
use crate::compliance::{ReportError, Request, Standard, report};
use crate::state::AppState;
use axum::Router;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use http::{StatusCode, header};
use serde::Deserialize;
use std::sync::Arc;
use utoipa::IntoParams;

/// `/admin/compliance/report`.
pub fn router() -> Router<Arc<AppState>> {
    Router::new().route("/admin/compliance/report", get(compliance_report))
}

/// Which report, in which format.
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct ReportParams {
    /// `asvs-5.0-l2`, `nist-800-53-moderate` or `soc2-tsc`.
    #[param(example = "nist-800-53-moderate")]
    standard: String,
    /// `json` (default), `markdown` or `html`.
    format: Option<String>,
}

/// The compliance evidence report of this gateway: each control's status with the evidence
/// read from the configuration and the store, the tests that prove the mechanism, and what to
/// change; a score per chapter, family or criterion group. An evidence map, not an attestation.
#[utoipa::path(
    get, path = "/admin/compliance/report", tag = "admin", operation_id = "compliance_report",
    params(ReportParams),
    responses(
        (status = 200, description = "The report (JSON; markdown or HTML when asked).", body = schemas::ComplianceReport),
        (status = 403, description = "`admin.compliance.read` is not granted."),
        (status = 422, description = "The standard or the format is not one of those named."),
        (status = 503, description = "The ASVS catalogue cannot be read, or the store cannot answer."),
    ),
    security(("bearer" = []), ("api_key" = []), ("session" = [])),
)]
async fn compliance_report(
    State(state): State<Arc<AppState>>,
    ctx: Ctx,
    caller: Caller,
    query: Result<Query<ReportParams>, QueryRejection>,
) -> Response {
    if let Err(r) = require(&state, &caller, &ctx, perm::COMPLIANCE_READ) {
        return r;
    }
    let asked = query.ok().and_then(|Query(p)| {
        let format = Format::parse(p.format.as_deref().unwrap_or("json"))?;
        Some((Standard::parse(&p.standard)?, format))
    });
    let Some((standard, format)) = asked else {
        return ctx.problem(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid-query",
            "standard is asvs-5.0-l2, nist-800-53-moderate or soc2-tsc; format is json, markdown or html",
        );
    };
    let req = Request {
        standard,
        config: &state.config,
        catalogue: None,
        now_ms: state.clock.now_millis() as i64,
    };
    match report(
        req,
        state.store.as_ref(),
        &state.audit,
        &caller.0.subject,
        &ctx.origin,
    )
    .await
    {
        Ok(r) => (
            [(header::CONTENT_TYPE, format.content_type())],
            render(&r, format),
        )
            .into_response(),
        Err(ReportError::Catalogue(detail)) => ctx.problem(
            StatusCode::SERVICE_UNAVAILABLE,
            "compliance-catalogue-unavailable",
            detail,
        ),
        Err(ReportError::Store(e)) => ctx.unavailable(e),
    }
}
