//! `/admin/ip-blocks`: the IP blocks in force (threat-level blocks of the brute-force defense and
//! alert rules' `block_ip`), and lifting one. Reading needs `admin.ip_blocks.read`, lifting
//! `admin.ip_blocks.write`; a lift is an `ip.unblocked` event and reaches the record first
//! (`Identity` writes the store, then hot state).

use super::perm;
use crate::api::extract::{Caller, Ctx, Path, refused, require};
use crate::api::openapi::schemas;
use crate::state::AppState;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get};
use axum::{Json, Router};
use http::StatusCode;
use std::net::IpAddr;
use std::sync::Arc;

type S = State<Arc<AppState>>;

/// `/admin/ip-blocks/…`.
pub fn router() -> Router<Arc<AppState>> {
    Router::new()
        .route("/admin/ip-blocks", get(list_blocks))
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
