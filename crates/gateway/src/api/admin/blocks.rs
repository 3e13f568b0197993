//! `/admin/ip-blocks`: the IP blocks in force (threat-level blocks of the brute-force defense and
//! alert rules' `block_ip`), and lifting one. Reading needs `admin.ip_blocks.read`, lifting
//! `admin.ip_blocks.write`; a lift is an `ip.unblocked` event and reaches the record first
//! (`Identity` writes the store, then hot state).

use super::perm;
use crate::api::extract::{Caller, Ctx, refused, require};
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get};
use axum::{Json, Router};
use http::StatusCode;
use std::net::IpAddr;
use std::sync::Arc;

type S = State<Arc<AppState>>;

pub fn router() -> Router<Arc<AppState>> {
    Router::new()
        .route("/admin/ip-blocks", get(list_blocks))
        .route("/admin/ip-blocks/{ip}", delete(unblock))
}

async fn list_blocks(State(state): S, ctx: Ctx, caller: Caller) -> Response {
    if let Err(r) = require(&state, &caller, &ctx, perm::IP_BLOCKS_READ) {
        return r;
    }
    match state.identity.brute.blocks().await {
        Ok(blocks) => Json(serde_json::json!({ "blocks": blocks })).into_response(),
        Err(e) => ctx.unavailable(e),
    }
}

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
