//! Incident response by hand: `/admin/lockdown` (read needs `admin.lockdown.read`, switching
//! `admin.lockdown.write`) and `/admin/users/{id}/disable|enable` (`admin.users.write`). Each
//! change goes through the one use case the CLI and the alert actions call
//! ([`crate::identity::lockdown::Lockdown::set`], [`crate::identity::Identity::set_user_disabled`]),
//! which records it (`gateway.lockdown_on` / `gateway.lockdown_off`, `user.disabled` /
//! `user.enabled`). During a lockdown these endpoints stay open to administrators.

use super::perm;
use crate::api::extract::{Caller, Ctx, Path, refused, require};
use crate::api::json::StrictJson;
use crate::identity::lockdown::{LockdownState, MAX_REASON};
use crate::state::AppState;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use http::StatusCode;
use serde::Deserialize;
use std::sync::Arc;
use utoipa::ToSchema;
use uuid::Uuid;

type S = State<Arc<AppState>>;

/// `/admin/lockdown` and `/admin/users/{id}/disable|enable`.
pub fn router() -> Router<Arc<AppState>> {
    Router::new()
        .route("/admin/lockdown", get(status).post(switch))
        .route("/admin/users/{id}/disable", post(disable))
        .route("/admin/users/{id}/enable", post(enable))
}

/// The lockdown as this replica holds it (replicas converge within 10 s).
#[utoipa::path(
    get, path = "/admin/lockdown", tag = "admin",
    responses(
        (status = 200, description = "The lockdown state.", body = LockdownState),
        (status = 403, description = "`admin.lockdown.read` is not granted."),
    ),
    security(("bearer" = []), ("api_key" = []), ("session" = [])),
)]
async fn status(State(state): S, ctx: Ctx, caller: Caller) -> Response {
    if let Err(r) = require(&state, &caller, &ctx, perm::LOCKDOWN_READ) {
        return r;
    }
    Json(state.identity.lockdown.status()).into_response()
}

/// Switching the lockdown.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct LockdownBody {
    /// `true` locks the gateway down, `false` lifts it.
    on: bool,
    /// Why (at most 500 characters), kept with the state and in the trail.
    #[serde(default)]
    reason: Option<String>,
}

/// Locks the gateway down or lifts it: every request but administrators' sign-in, the admin
/// API and the ops endpoints is refused with 503 `lockdown` while it is on.
#[utoipa::path(
    post, path = "/admin/lockdown", tag = "admin",
    request_body = LockdownBody,
    responses(
        (status = 200, description = "The new state.", body = LockdownState),
        (status = 401, description = "A browser session whose sign-in is older than `auth.mfa.recent_auth` (or not `aal2` with a second factor enrolled): RFC 9470 challenge."),
        (status = 403, description = "`admin.lockdown.write` is not granted."),
        (status = 422, description = "The reason is too long."),
    ),
    security(("bearer" = []), ("api_key" = []), ("session" = [])),
)]
async fn switch(
    State(state): S,
    ctx: Ctx,
    caller: Caller,
    StrictJson(body): StrictJson<LockdownBody>,
) -> Response {
    if let Err(r) = require(&state, &caller, &ctx, perm::LOCKDOWN_WRITE) {
        return r;
    }
    if let Err(r) = crate::api::mfa::recent_sign_in_if_browser(&state, &ctx, &caller).await {
        return r;
    }
    if body
        .reason
        .as_ref()
        .is_some_and(|r| r.chars().count() > MAX_REASON)
    {
        return ctx.problem(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid-reason",
            "A reason is at most 500 characters.",
        );
    }
    match state
        .identity
        .lockdown
        .set(body.on, body.reason, &ctx.by(&caller))
        .await
    {
        Ok(now) => Json(now).into_response(),
        Err(e) => ctx.unavailable(e),
    }
}

/// Disables an account: sign-in and refresh refused, its sessions revoked, its API keys
/// refused while it stays disabled.
#[utoipa::path(
    post, path = "/admin/users/{id}/disable", tag = "admin",
    params(("id" = Uuid, Path, description = "The account.")),
    responses(
        (status = 204, description = "Disabled."),
        (status = 401, description = "A browser session whose sign-in is older than `auth.mfa.recent_auth` (or not `aal2` with a second factor enrolled): RFC 9470 challenge."),
        (status = 403, description = "`admin.users.write` is not granted."),
        (status = 404, description = "No such account."),
        (status = 422, description = "An administrator cannot disable their own account."),
    ),
    security(("bearer" = []), ("api_key" = []), ("session" = [])),
)]
async fn disable(State(state): S, ctx: Ctx, caller: Caller, Path(id): Path<Uuid>) -> Response {
    set_disabled(&state, &ctx, &caller, id, true).await
}

/// Enables a disabled account again (its revoked sessions stay revoked).
#[utoipa::path(
    post, path = "/admin/users/{id}/enable", tag = "admin",
    params(("id" = Uuid, Path, description = "The account.")),
    responses(
        (status = 204, description = "Enabled."),
        (status = 403, description = "`admin.users.write` is not granted."),
        (status = 404, description = "No such account."),
    ),
    security(("bearer" = []), ("api_key" = []), ("session" = [])),
)]
async fn enable(State(state): S, ctx: Ctx, caller: Caller, Path(id): Path<Uuid>) -> Response {
    set_disabled(&state, &ctx, &caller, id, false).await
}

async fn set_disabled(
    state: &AppState,
    ctx: &Ctx,
    caller: &Caller,
    id: Uuid,
    disabled: bool,
) -> Response {
    if let Err(r) = require(state, caller, ctx, perm::USERS_WRITE) {
        return r;
    }
    if disabled && caller.user_id() == Some(id) {
        return ctx.problem(
            StatusCode::UNPROCESSABLE_ENTITY,
            "cannot-disable-self",
            "An administrator cannot disable their own account.",
        );
    }
    if disabled && let Err(r) = crate::api::mfa::recent_sign_in_if_browser(state, ctx, caller).await
    {
        return r;
    }
    match state
        .identity
        .set_user_disabled(id, disabled, &ctx.by(caller))
        .await
    {
        Ok(true) => StatusCode::NO_CONTENT.into_response(),
        Ok(false) => ctx.problem(StatusCode::NOT_FOUND, "not-found", "No such account."),
        Err(e) => refused(ctx, e),
    }
}
