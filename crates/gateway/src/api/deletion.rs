//! Account deletion (GDPR erasure): `DELETE /auth/me` for the signed-in person (a sign-in at
//! most `auth.mfa.recent_auth` old, and `aal2` once the account has a second factor: what
//! `/auth/me/export` asks), `DELETE /admin/users/{id}` and `POST /admin/users/{id}/restore`
//! (`admin.users.delete`). Each calls the one use case in `identity::manage` (`deletion.rs`),
//! which records the event; the account is erased by the retention job after
//! `retention.accounts_deleted`.

use crate::api::admin::perm;
use crate::api::extract::{Caller, Ctx, Path, refused, require};
use crate::api::mfa::{needs_aal2_if_enrolled, own_account};
use crate::identity::manage::{DeletionScheduled, NotRestored, Refused};
use crate::state::AppState;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, post};
use axum::{Json, Router};
use http::StatusCode;
use std::sync::Arc;
use uuid::Uuid;

type S = State<Arc<AppState>>;

/// `DELETE /auth/me`, `DELETE /admin/users/{id}`, `POST /admin/users/{id}/restore`.
pub fn router() -> Router<Arc<AppState>> {
    Router::new()
        .route("/auth/me", delete(delete_own))
        .route("/admin/users/{id}", delete(delete_user))
        .route("/admin/users/{id}/restore", post(restore))
}

/// Deletes the caller's account: disabled at once (every sign-in refused), its sessions and API
/// keys revoked (reason `account_deleted`), erased with everything held about it after the grace
/// period (`retention.accounts_deleted`). Recorded as `user.deletion_requested`.
#[utoipa::path(
    delete, path = "/auth/me", tag = "auth",
    responses(
        (status = 202, description = "Deletion scheduled: `user_id`, `deleted_at` and `purge_after` (Unix ms).", body = crate::api::openapi::schemas::DeletionScheduled),
        (status = 401, description = "The sign-in is older than `auth.mfa.recent_auth`, or the account has a second factor and the session is not `aal2` (RFC 9470 challenge)."),
        (status = 403, description = "Not a signed-in Palisade account (an API key cannot delete its owner)."),
    ),
    security(("bearer" = []), ("session" = [])),
)]
async fn delete_own(State(state): S, ctx: Ctx, caller: Caller) -> Response {
    let user = match own_account(&state, &ctx, &caller).await {
        Ok(u) => u,
        Err(r) => return r,
    };
    if let Err(r) = needs_aal2_if_enrolled(&state, &ctx, &caller, &user).await {
        return r;
    }
    scheduled(&state, &ctx, &caller, user.id).await
}

/// Deletes an account as `DELETE /auth/me` deletes the caller's; a second call answers the
/// first one's times.
#[utoipa::path(
    delete, path = "/admin/users/{id}", tag = "admin",
    params(("id" = Uuid, Path, description = "The account.")),
    responses(
        (status = 202, description = "Deletion scheduled (or already scheduled): `user_id`, `deleted_at` and `purge_after` (Unix ms).", body = crate::api::openapi::schemas::DeletionScheduled),
        (status = 401, description = "A browser session whose sign-in is older than `auth.mfa.recent_auth` (or not `aal2` with a second factor enrolled): RFC 9470 challenge."),
        (status = 403, description = "`admin.users.delete` is not granted."),
        (status = 404, description = "No such account."),
        (status = 422, description = "An administrator deletes their own account with `DELETE /auth/me`."),
    ),
    security(("bearer" = []), ("api_key" = []), ("session" = [])),
)]
async fn delete_user(State(state): S, ctx: Ctx, caller: Caller, Path(id): Path<Uuid>) -> Response {
    if let Err(r) = require(&state, &caller, &ctx, perm::USERS_DELETE) {
        return r;
    }
    if caller.user_id() == Some(id) {
        return ctx.problem(
            StatusCode::UNPROCESSABLE_ENTITY,
            "cannot-delete-self",
            "Delete your own account with DELETE /auth/me (it asks for a recent sign-in).",
        );
    }
    // From the console: a recent sign-in (and MFA when enrolled), as before every destructive act.
    if let Err(r) = crate::api::mfa::recent_sign_in_if_browser(&state, &ctx, &caller).await {
        return r;
    }
    scheduled(&state, &ctx, &caller, id).await
}

/// Restores a deleted account within the grace period: enabled again, its sessions and keys
/// stay revoked. Recorded as `user.restored`.
#[utoipa::path(
    post, path = "/admin/users/{id}/restore", tag = "admin",
    params(("id" = Uuid, Path, description = "The account.")),
    responses(
        (status = 204, description = "Restored."),
        (status = 403, description = "`admin.users.delete` is not granted."),
        (status = 404, description = "No such account."),
        (status = 409, description = "The account is not deleted."),
        (status = 410, description = "The grace period is over or the account is erased."),
    ),
    security(("bearer" = []), ("api_key" = []), ("session" = [])),
)]
async fn restore(State(state): S, ctx: Ctx, caller: Caller, Path(id): Path<Uuid>) -> Response {
    if let Err(r) = require(&state, &caller, &ctx, perm::USERS_DELETE) {
        return r;
    }
    let grace = state.config.retention.accounts_deleted.0;
    match state
        .identity
        .restore_user(id, grace, &ctx.by(&caller))
        .await
    {
        Ok(Ok(())) => StatusCode::NO_CONTENT.into_response(),
        Ok(Err(NotRestored::Unknown)) => not_found(&ctx),
        Ok(Err(NotRestored::NotDeleted)) => ctx.problem(
            StatusCode::CONFLICT,
            "not-deleted",
            "The account is not deleted.",
        ),
        Ok(Err(NotRestored::Gone)) => ctx.problem(
            StatusCode::GONE,
            "erased",
            "The grace period is over: the account is erased or about to be.",
        ),
        Err(e) => refused(&ctx, e),
    }
}

async fn scheduled(state: &AppState, ctx: &Ctx, caller: &Caller, id: Uuid) -> Response {
    let grace = state.config.retention.accounts_deleted.0;
    let asked: Result<Option<DeletionScheduled>, Refused> = state
        .identity
        .request_deletion(id, grace, &ctx.by(caller))
        .await;
    match asked {
        Ok(Some(s)) => (StatusCode::ACCEPTED, Json(s)).into_response(),
        Ok(None) => not_found(ctx),
        Err(e) => refused(ctx, e),
    }
}

fn not_found(ctx: &Ctx) -> Response {
    ctx.problem(StatusCode::NOT_FOUND, "not-found", "No such account.")
}
