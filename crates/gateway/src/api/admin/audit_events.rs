//! `POST /admin/audit/events`: an application's own events into Palisade's audit trail.
//!
//! Needs `audit.events.write`: meant for service accounts, given through a role that grants
//! it. No default role below `admin` holds it (`*.write` covers two-segment permissions only);
//! the default `admin` role holds it through `audit.*`, `owner` through `*`. The handler is thin:
//! it checks the permission, parses the body (at most [`MAX_BODY`] bytes) and calls the use
//! case [`crate::audit::app::AppEvents::post`], which validates, counts, stores and records
//! refusals.

use super::perm;
use crate::api::extract::{Caller, Ctx, require};
use crate::api::json::strict_body;
use crate::api::openapi::schemas;
use crate::audit::app::{AppBatch, AppEvents, AppRefused, MAX_BATCH};
use crate::problem::refuse_with;
use crate::state::AppState;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use http::{HeaderValue, StatusCode, header};
use std::sync::Arc;

/// Largest batch body: 1,000 events with room for their details.
pub const MAX_BODY: usize = 8 << 20;

/// `/admin/audit/events`.
pub fn router() -> Router<Arc<AppState>> {
    Router::new().route("/admin/audit/events", post(post_events))
}

/// Records a batch of the application's events (types declared in `[[audit.app_events]]`),
/// `source = "app"`, in Palisade's chain; each is "stored" or a "duplicate" of an earlier post
/// with the same idempotency key. Answered once the events are durable.
#[utoipa::path(
    post, path = "/admin/audit/events", tag = "admin", operation_id = "post_app_events",
    request_body = AppBatch,
    responses(
        (status = 200, description = "Every event is stored now or was stored before.", body = schemas::AppEventsPosted),
        (status = 400, description = "An event is not acceptable (undeclared type, bad time, reserved detail key, …): the batch is refused whole; `index` and `field` name the event and field."),
        (status = 403, description = "`audit.events.write` is not granted."),
        (status = 413, description = "More than 1,000 events in the batch (`limit`), or a body over 8 MiB."),
        (status = 429, description = "The caller's `audit.app_events_per_minute` is used up; see `Retry-After`."),
        (status = 503, description = "The trail cannot take more now; retry the same batch after `Retry-After` (its keys make it safe)."),
    ),
    security(("bearer" = []), ("api_key" = []), ("session" = [])),
)]
async fn post_events(
    State(state): State<Arc<AppState>>,
    ctx: Ctx,
    caller: Caller,
    req: Request,
) -> Response {
    if let Err(r) = require(&state, &caller, &ctx, perm::AUDIT_EVENTS_WRITE) {
        return r;
    }
    let batch: AppBatch = match strict_body(req, MAX_BODY).await {
        Ok(b) => b,
        Err(r) => return r,
    };
    let keys: Vec<String> = batch
        .events
        .iter()
        .map(|e| e.idempotency_key.clone())
        .collect();
    let use_case = AppEvents {
        audit: &state.audit,
        hot: &state.hot,
        clock: &state.clock,
        config: &state.config.audit,
    };
    let refusal = match use_case.post(&caller.0.subject, &ctx.origin, batch).await {
        Ok(fresh) => {
            let stored = fresh.iter().filter(|f| **f).count();
            let results: Vec<_> = fresh
                .iter()
                .zip(keys)
                .enumerate()
                .map(|(index, (new, key))| {
                    serde_json::json!({
                        "index": index,
                        "idempotency_key": key,
                        "status": if *new { "stored" } else { "duplicate" },
                    })
                })
                .collect();
            return Json(serde_json::json!({
                "stored": stored,
                "duplicates": fresh.len() - stored,
                "results": results,
            }))
            .into_response();
        }
        Err(r) => r,
    };
    let gate = ctx.area.gate;
    match refusal {
        AppRefused::BatchSize(0) => ctx.problem(
            StatusCode::BAD_REQUEST,
            "empty-batch",
            "A batch holds 1 to 1000 events.",
        ),
        AppRefused::BatchSize(n) => refuse_with(
            gate,
            "batch-too-large",
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("A batch holds at most {MAX_BATCH} events; this one has {n}."),
            &ctx.id,
            serde_json::json!({ "limit": MAX_BATCH, "events": n }),
        ),
        AppRefused::Invalid {
            index,
            field,
            detail,
        } => refuse_with(
            gate,
            "invalid-event",
            StatusCode::BAD_REQUEST,
            format!("Event {index}: {detail} Nothing of the batch was stored."),
            &ctx.id,
            serde_json::json!({ "index": index, "field": field }),
        ),
        AppRefused::Quota(secs) => retry_after(
            ctx.problem(
                StatusCode::TOO_MANY_REQUESTS,
                "quota-exceeded",
                format!(
                    "At most {} events a minute may be posted by one principal.",
                    state.config.audit.app_events_per_minute
                ),
            ),
            secs.max(1),
        ),
        AppRefused::Busy => retry_after(
            ctx.problem(
                StatusCode::SERVICE_UNAVAILABLE,
                "busy",
                "The audit trail cannot take more events now; retry the same batch shortly.",
            ),
            5,
        ),
    }
}

fn retry_after(mut res: Response, secs: u64) -> Response {
    res.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    res
}
