//! `/admin/users/{id}/sessions|keys|mfa`: what an account signs in and acts with, and ending
//! it by hand. Listing needs `admin.users.read`; revoking sessions `admin.users.write`,
//! revoking a key `admin.keys.write`. Every revocation has the reason `admin` and is recorded
//! once by the use case ([`crate::identity::Identity::revoke_session_of`],
//! `revoke_sessions_of`, `revoke_key_of`). Resetting the factors stays
//! `DELETE /admin/users/{id}/mfa` ([`crate::api::mfa`]).

use super::perm;
use super::users::permitted_account;
use crate::api::extract::{Caller, Ctx, Path, refused};
use crate::identity::manage::{FactorsView, KeyView, SessionView};
use crate::state::AppState;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get};
use axum::{Json, Router};
use http::StatusCode;
use serde::Serialize;
use std::sync::Arc;
use utoipa::ToSchema;
use uuid::Uuid;

type S = State<Arc<AppState>>;

/// `/admin/users/{id}/sessions…`, `/keys…`, `GET /admin/users/{id}/mfa`.
pub fn router() -> Router<Arc<AppState>> {
    Router::new()
        .route(
            "/admin/users/{id}/sessions",
            get(list_sessions).delete(revoke_sessions),
        )
        .route("/admin/users/{id}/sessions/{sid}", delete(revoke_session))
        .route("/admin/users/{id}/keys", get(list_keys))
        .route("/admin/users/{id}/keys/{kid}", delete(revoke_key))
        .route("/admin/users/{id}/mfa", get(factors))
}

/// An account's sessions.
#[derive(Serialize, ToSchema)]
struct SessionItems {
    items: Vec<SessionView>,
}

/// An account's API keys.
#[derive(Serialize, ToSchema)]
struct KeyItems {
    items: Vec<KeyView>,
}

/// How many sessions were ended.
#[derive(Serialize, ToSchema)]
struct RevokedCount {
    revoked: usize,
}

/// An account's sessions, newest first, revoked ones (not yet purged) with when and why.
#[utoipa::path(
    get, path = "/admin/users/{id}/sessions", tag = "admin", operation_id = "admin_list_sessions",
    params(("id" = Uuid, Path, description = "The account.")),
    responses(
        (status = 200, description = "The sessions.", body = SessionItems),
        (status = 403, description = "`admin.users.read` is not granted."),
        (status = 404, description = "No such account."),
    ),
    security(("bearer" = []), ("api_key" = []), ("session" = [])),
)]
async fn list_sessions(
    State(state): S,
    ctx: Ctx,
    caller: Caller,
    Path(id): Path<String>,
) -> Response {
    let user = match permitted_account(&state, &ctx, &caller, perm::USERS_READ, &id).await {
        Ok(u) => u,
        Err(r) => return r,
    };
    match state.identity.sessions_of(user.id).await {
        Ok(items) => Json(SessionItems { items }).into_response(),
        Err(e) => ctx.unavailable(e),
    }
}

/// Ends every live session of an account (reason `admin`).
#[utoipa::path(
    delete, path = "/admin/users/{id}/sessions", tag = "admin", operation_id = "admin_revoke_sessions",
    params(("id" = Uuid, Path, description = "The account.")),
    responses(
        (status = 200, description = "How many sessions were ended.", body = RevokedCount),
        (status = 401, description = "A browser session whose sign-in is older than `auth.mfa.recent_auth` (or not `aal2` with a second factor enrolled): RFC 9470 challenge."),
        (status = 403, description = "`admin.users.write` is not granted."),
        (status = 404, description = "No such account."),
    ),
    security(("bearer" = []), ("api_key" = []), ("session" = [])),
)]
async fn revoke_sessions(
    State(state): S,
    ctx: Ctx,
    caller: Caller,
    Path(id): Path<String>,
) -> Response {
    let user = match permitted_account(&state, &ctx, &caller, perm::USERS_WRITE, &id).await {
        Ok(u) => u,
        Err(r) => return r,
    };
    if let Err(r) = crate::api::mfa::recent_sign_in_if_browser(&state, &ctx, &caller).await {
        return r;
    }
    match state
        .identity
        .revoke_sessions_of(user.id, &ctx.by(&caller))
        .await
    {
        Ok(revoked) => Json(RevokedCount { revoked }).into_response(),
        Err(e) => refused(&ctx, e),
    }
}

/// Ends one session of an account (reason `admin`).
#[utoipa::path(
    delete, path = "/admin/users/{id}/sessions/{sid}", tag = "admin", operation_id = "admin_revoke_session",
    params(
        ("id" = Uuid, Path, description = "The account."),
        ("sid" = Uuid, Path, description = "One of its sessions."),
    ),
    responses(
        (status = 204, description = "The session is ended (or was already)."),
        (status = 403, description = "`admin.users.write` is not granted."),
        (status = 404, description = "No such account, or no such session of it."),
    ),
    security(("bearer" = []), ("api_key" = []), ("session" = [])),
)]
async fn revoke_session(
    State(state): S,
    ctx: Ctx,
    caller: Caller,
    Path((id, sid)): Path<(String, String)>,
) -> Response {
    let user = match permitted_account(&state, &ctx, &caller, perm::USERS_WRITE, &id).await {
        Ok(u) => u,
        Err(r) => return r,
    };
    let not_found = || ctx.problem(StatusCode::NOT_FOUND, "not-found", "No such session.");
    let Ok(sid) = sid.parse::<Uuid>() else {
        return not_found();
    };
    match state
        .identity
        .revoke_session_of(user.id, sid, &ctx.by(&caller))
        .await
    {
        Ok(true) => StatusCode::NO_CONTENT.into_response(),
        Ok(false) => not_found(),
        Err(e) => refused(&ctx, e),
    }
}

/// An account's API keys (metadata only, never a key), revoked ones included.
#[utoipa::path(
    get, path = "/admin/users/{id}/keys", tag = "admin", operation_id = "admin_list_keys",
    params(("id" = Uuid, Path, description = "The account.")),
    responses(
        (status = 200, description = "The keys.", body = KeyItems),
        (status = 403, description = "`admin.users.read` is not granted."),
        (status = 404, description = "No such account."),
    ),
    security(("bearer" = []), ("api_key" = []), ("session" = [])),
)]
async fn list_keys(State(state): S, ctx: Ctx, caller: Caller, Path(id): Path<String>) -> Response {
    let user = match permitted_account(&state, &ctx, &caller, perm::USERS_READ, &id).await {
        Ok(u) => u,
        Err(r) => return r,
    };
    match state.identity.keys_of(user.id).await {
        Ok(items) => Json(KeyItems { items }).into_response(),
        Err(e) => ctx.unavailable(e),
    }
}

/// Revokes one API key of an account (reason `admin`).
#[utoipa::path(
    delete, path = "/admin/users/{id}/keys/{kid}", tag = "admin", operation_id = "admin_revoke_key",
    params(
        ("id" = Uuid, Path, description = "The account."),
        ("kid" = Uuid, Path, description = "One of its keys."),
    ),
    responses(
        (status = 204, description = "The key is revoked (or was already)."),
        (status = 403, description = "`admin.keys.write` is not granted."),
        (status = 404, description = "No such account, or no such key of it."),
    ),
    security(("bearer" = []), ("api_key" = []), ("session" = [])),
)]
async fn revoke_key(
    State(state): S,
    ctx: Ctx,
    caller: Caller,
    Path((id, kid)): Path<(String, String)>,
) -> Response {
    let user = match permitted_account(&state, &ctx, &caller, perm::KEYS_WRITE, &id).await {
        Ok(u) => u,
        Err(r) => return r,
    };
    let not_found = || ctx.problem(StatusCode::NOT_FOUND, "not-found", "No such key.");
    let Ok(kid) = kid.parse::<Uuid>() else {
        return not_found();
    };
    match state
        .identity
        .revoke_key_of(user.id, kid, &ctx.by(&caller))
        .await
    {
        Ok(true) => StatusCode::NO_CONTENT.into_response(),
        Ok(false) => not_found(),
        Err(e) => refused(&ctx, e),
    }
}

/// An account's second factors (metadata only: no seed, no credential, no code).
#[utoipa::path(
    get, path = "/admin/users/{id}/mfa", tag = "admin", operation_id = "admin_list_factors",
    params(("id" = Uuid, Path, description = "The account.")),
    responses(
        (status = 200, description = "The factors.", body = FactorsView),
        (status = 403, description = "`admin.users.read` is not granted."),
        (status = 404, description = "No such account."),
    ),
    security(("bearer" = []), ("api_key" = []), ("session" = [])),
)]
async fn factors(State(state): S, ctx: Ctx, caller: Caller, Path(id): Path<String>) -> Response {
    let user = match permitted_account(&state, &ctx, &caller, perm::USERS_READ, &id).await {
        Ok(u) => u,
        Err(r) => return r,
    };
    match state.identity.factors_of(user.id).await {
        Ok(f) => Json(f).into_response(),
        Err(e) => ctx.unavailable(e),
    }
}
