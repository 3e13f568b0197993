//! `/admin/ip-blocks`: the IP blocks in force (threat-level blocks of the brute-force defense,
//! alert rules' `block_ip` and administrators' own), placing one by hand and lifting one.
//! Reading needs `admin.ip_blocks.read`, placing and lifting `admin.ip_blocks.write`; a block is
//! an `ip.blocked` event, a lift an `ip.unblocked` event, and both reach the record first
//! (`Identity` writes the store, then hot state, which every replica reads).

use super::perm;
use crate::api::extract::{Caller, Ctx, Path, refused, require};
use crate::api::json::StrictJson;
use crate::api::openapi::schemas;
use crate::state::AppState;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get};
use axum::{Json, Router};
use http::StatusCode;
use serde::{Deserialize, Serialize};
use std::net::IpAddr;
use std::sync::Arc;
use utoipa::ToSchema;

type S = State<Arc<AppState>>;

/// `/admin/ip-blocks/…`.
pub fn router() -> Router<Arc<AppState>> {
    Router::new()
        .route("/admin/ip-blocks", get(list_blocks).post(block))
        .route("/admin/ip-blocks/{ip}", delete(unblock))
}

/// The IP blocks in force.
#[utoipa::path(
    get, path = "/admin/ip-blocks", tag = "admin",
    responses(
        (status = 200, description = "The blocks.", body = schemas::IpBlockList),
        (status = 403, description = "`admin.ip_blocks.read` is not granted."),
    ),
    security(("bearer" = []), ("api_key" = []), ("session" = [])),
)]
async fn list_blocks(State(state): S, ctx: Ctx, caller: Caller) -> Response {
    if let Err(r) = require(&state, &caller, &ctx, perm::IP_BLOCKS_READ) {
        return r;
    }
    match state.identity.brute.blocks().await {
        Ok(blocks) => Json(serde_json::json!({ "blocks": blocks })).into_response(),
        Err(e) => ctx.unavailable(e),
    }
}

/// Lifts an IP block.
#[utoipa::path(
    delete, path = "/admin/ip-blocks/{ip}", tag = "admin",
    params(("ip" = String, Path, description = "An IPv4 or IPv6 address.", example = "192.0.2.7")),
    responses(
        (status = 204, description = "The block is lifted."),
        (status = 403, description = "`admin.ip_blocks.write` is not granted."),
        (status = 404, description = "This IP is not blocked."),
        (status = 422, description = "Not an IP address."),
    ),
    security(("bearer" = []), ("api_key" = []), ("session" = [])),
)]
async fn unblock(State(state): S, ctx: Ctx, caller: Caller, Path(ip): Path<String>) -> Response {
    if let Err(r) = require(&state, &caller, &ctx, perm::IP_BLOCKS_WRITE) {
        return r;
    }
    let Ok(addr) = ip.parse::<IpAddr>() else {
        return ctx.problem(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid-ip",
            "Give an IPv4 or IPv6 address.",
        );
    };
    match state.identity.unblock_ip(addr, &ctx.by(&caller)).await {
        Ok(true) => StatusCode::NO_CONTENT.into_response(),
        Ok(false) => ctx.problem(
            StatusCode::NOT_FOUND,
            "not-found",
            "This IP is not blocked.",
        ),
        Err(e) => refused(&ctx, e),
    }
}

/// A block to place.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"ip": "192.0.2.7", "duration_secs": 3600, "reason": "scanning /admin"}))]
struct BlockBody {
    /// An IPv4 or IPv6 address.
    ip: String,
    /// How long, 1 second to 365 days.
    duration_secs: u64,
    /// Why (1 to 500 characters), kept with the block and in the trail.
    reason: String,
}

/// The block in force.
#[derive(Serialize, ToSchema)]
struct Placed {
    ip: String,
    /// Seconds left (a longer block already in force is kept).
    remaining_seconds: u64,
    reason: String,
}

/// Blocks an address for a time: every request from it is refused (403 `ip-blocked`) on
/// every replica until the block ends or is lifted.
#[utoipa::path(
    post, path = "/admin/ip-blocks", tag = "admin",
    request_body = BlockBody,
    responses(
        (status = 201, description = "The address is blocked.", body = Placed),
        (status = 403, description = "`admin.ip_blocks.write` is not granted."),
        (status = 422, description = "Not an IP address, a duration of 0 or over 365 days, or no reason."),
    ),
    security(("bearer" = []), ("api_key" = []), ("session" = [])),
)]
async fn block(
    State(state): S,
    ctx: Ctx,
    caller: Caller,
    StrictJson(body): StrictJson<BlockBody>,
) -> Response {
    if let Err(r) = require(&state, &caller, &ctx, perm::IP_BLOCKS_WRITE) {
        return r;
    }
    let Ok(addr) = body.ip.trim().parse::<IpAddr>() else {
        return ctx.problem(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid-ip",
            "Give an IPv4 or IPv6 address.",
        );
    };
    let for_ = std::time::Duration::from_secs(body.duration_secs);
    match state
        .identity
        .block_ip(addr, for_, &body.reason, &ctx.by(&caller))
        .await
    {
        Ok(remaining_seconds) => (
            StatusCode::CREATED,
            Json(Placed {
                ip: addr.to_string(),
                remaining_seconds,
                reason: body.reason.trim().to_string(),
            }),
        )
            .into_response(),
        Err(e) => refused(&ctx, e),
    }
}
