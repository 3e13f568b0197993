//! The tenant part of `/admin`: tenants with parents, their members and roles, and resource
//! grants (permissions on one tenant's resources without a membership). Each endpoint needs an `admin.*` permission (held by the default
//! `admin` and `owner` roles); every change is an audit event and refreshes the in-memory
//! snapshot the authorize gate reads.

// Helpers return the finished refusal as their error, the axum idiom.
#![allow(clippy::result_large_err)]

use super::perm;
use crate::api::extract::{Caller, Ctx, Path, refused, require};
use crate::api::json::StrictJson;
use crate::api::openapi::schemas;
use crate::identity::manage::{self, TenantLink};
use crate::state::AppState;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, put};
use axum::{Json, Router};
use http::StatusCode;
use palisade_store::identity::TenantRecord;
use serde::Deserialize;
use std::sync::Arc;
use utoipa::ToSchema;
use uuid::Uuid;

type S = State<Arc<AppState>>;

/// `/admin/tenants/…`.
pub fn router() -> Router<Arc<AppState>> {
    Router::new()
        .route("/admin/tenants", get(list_tenants).post(create_tenant))
        .route("/admin/tenants/{id}", axum::routing::delete(delete_tenant))
        .route("/admin/tenants/{id}/members", get(list_members))
        .route(
            "/admin/tenants/{id}/members/{user}",
            put(put_member).delete(remove_member),
        )
        .route("/admin/tenants/{id}/grants", get(list_grants))
        .route(
            "/admin/tenants/{id}/grants/{user}",
            put(put_grants).delete(remove_grants),
        )
}

fn tenant_json(t: &TenantRecord) -> serde_json::Value {
    serde_json::json!({"id": t.id, "name": t.name, "parent_id": t.parent_id, "created_at": t.created_at})
}

/// Every tenant.
#[utoipa::path(
    get, path = "/admin/tenants", tag = "admin",
    responses(
        (status = 200, description = "The tenants.", body = schemas::TenantList),
        (status = 403, description = "`admin.tenants.read` is not granted."),
    ),
    security(("bearer" = []), ("api_key" = []), ("session" = [])),
)]
async fn list_tenants(State(state): S, ctx: Ctx, caller: Caller) -> Response {
    if let Err(r) = require(&state, &caller, &ctx, perm::TENANTS_READ) {
        return r;
    }
    match state.store.tenants_list().await {
        Ok(list) => Json(serde_json::json!({
            "tenants": list.iter().map(tenant_json).collect::<Vec<_>>()
        }))
        .into_response(),
        Err(e) => ctx.unavailable(e),
    }
}

/// A new tenant, perhaps under a parent.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"id": "globex", "name": "Globex", "parent_id": "acme"}))]
struct NewTenant {
    id: String,
    name: String,
    #[serde(default)]
    parent_id: Option<String>,
}

/// Creates a tenant.
#[utoipa::path(
    post, path = "/admin/tenants", tag = "admin",
    request_body = NewTenant,
    responses(
        (status = 201, description = "The tenant.", body = schemas::Tenant),
        (status = 403, description = "`admin.tenants.write` is not granted."),
        (status = 409, description = "The tenant exists."),
        (status = 422, description = "The id, name or parent is not acceptable."),
    ),
    security(("bearer" = []), ("api_key" = []), ("session" = [])),
)]
async fn create_tenant(
    State(state): S,
    ctx: Ctx,
    caller: Caller,
    StrictJson(body): StrictJson<NewTenant>,
) -> Response {
    if let Err(r) = require(&state, &caller, &ctx, perm::TENANTS_WRITE) {
        return r;
    }
    let new = manage::NewTenant {
        id: &body.id,
        name: &body.name,
        parent: body.parent_id.as_deref(),
    };
    let by = ctx.by(&caller);
    let tenant = match state.identity.create_tenant(new, &by).await {
        Ok(t) => t,
        Err(e) => return refused(&ctx, e),
    };
    refresh(&state).await;
    (StatusCode::CREATED, Json(tenant_json(&tenant))).into_response()
}

/// Deletes a tenant, its memberships and resource grants; its children lose their parent.
#[utoipa::path(
    delete, path = "/admin/tenants/{id}", tag = "admin",
    params(("id" = String, Path, description = "The tenant's id.", example = "doomed")),
    responses(
        (status = 204, description = "The tenant is deleted."),
        (status = 403, description = "`admin.tenants.write` is not granted."),
        (status = 404, description = "No such tenant."),
    ),
    security(("bearer" = []), ("api_key" = []), ("session" = [])),
)]
async fn delete_tenant(
    State(state): S,
    ctx: Ctx,
    caller: Caller,
    Path(id): Path<String>,
) -> Response {
    if let Err(r) = require(&state, &caller, &ctx, perm::TENANTS_WRITE) {
        return r;
    }
    let by = ctx.by(&caller);
    match state.identity.delete_tenant(&id, &by).await {
        Ok(true) => {
            refresh(&state).await;
            StatusCode::NO_CONTENT.into_response()
        }
        Ok(false) => ctx.problem(StatusCode::NOT_FOUND, "not-found", "No such tenant."),
        Err(e) => refused(&ctx, e),
    }
}

/// A tenant's members.
#[utoipa::path(
    get, path = "/admin/tenants/{id}/members", tag = "admin",
    params(("id" = String, Path, description = "The tenant's id.", example = "acme")),
    responses(
        (status = 200, description = "The members.", body = schemas::MemberList),
        (status = 403, description = "`admin.tenants.read` is not granted."),
    ),
    security(("bearer" = []), ("api_key" = []), ("session" = [])),
)]
async fn list_members(
    State(state): S,
    ctx: Ctx,
    caller: Caller,
    Path(id): Path<String>,
) -> Response {
    if let Err(r) = require(&state, &caller, &ctx, perm::TENANTS_READ) {
        return r;
    }
    match state.store.memberships_list().await {
        Ok(all) => Json(serde_json::json!({
            "members": all.iter().filter(|m| m.tenant_id == id).map(|m| serde_json::json!({
                "user_id": m.user_id, "role": m.role, "created_at": m.created_at,
            })).collect::<Vec<_>>()
        }))
        .into_response(),
        Err(e) => ctx.unavailable(e),
    }
}

/// A member's role in a tenant.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"role": "member"}))]
struct MemberBody {
    role: String,
}

/// Makes a user a member of a tenant, with a role (at most the caller's).
#[utoipa::path(
    put, path = "/admin/tenants/{id}/members/{user}", tag = "admin",
    params(("id" = String, Path, description = "The tenant's id.", example = "acme"), ("user" = String, Path, description = "The user's id.", example = "0192f1c4-1b2a-7c3d-8e4f-5a6b7c8d9e0f")),
    request_body = MemberBody,
    responses(
        (status = 204, description = "The membership is set."),
        (status = 403, description = "`admin.tenants.write` is not granted, or the role grants more than the caller holds."),
        (status = 404, description = "No such tenant or user."),
        (status = 422, description = "No such role."),
    ),
    security(("bearer" = []), ("api_key" = []), ("session" = [])),
)]
async fn put_member(
    State(state): S,
    ctx: Ctx,
    caller: Caller,
    Path((id, user)): Path<(String, String)>,
    StrictJson(body): StrictJson<MemberBody>,
) -> Response {
    if let Err(r) = require(&state, &caller, &ctx, perm::TENANTS_WRITE) {
        return r;
    }
    if !state.authz.matrix_has_role(&body.role) {
        return ctx.problem(
            StatusCode::UNPROCESSABLE_ENTITY,
            "unknown-role",
            "No such role.",
        );
    }
    if !state.authz.may_give_role(&caller.0.roles, &body.role) {
        return ctx.problem(
            StatusCode::FORBIDDEN,
            "role-not-held",
            "You cannot give this role: it grants more than you hold.",
        );
    }
    let user_id = match tenant_and_user(&state, &ctx, &id, &user).await {
        Ok(u) => u,
        Err(r) => return r,
    };
    let by = ctx.by(&caller);
    match state
        .identity
        .set_member(&id, user_id, &body.role, &by)
        .await
    {
        Ok(()) => {
            refresh(&state).await;
            StatusCode::NO_CONTENT.into_response()
        }
        Err(e) => refused(&ctx, e),
    }
}

/// Ends a user's membership of a tenant.
#[utoipa::path(
    delete, path = "/admin/tenants/{id}/members/{user}", tag = "admin",
    params(("id" = String, Path, description = "The tenant's id.", example = "acme"), ("user" = String, Path, description = "The user's id.", example = "0192f1c4-1b2a-7c3d-8e4f-5a6b7c8d9e0f")),
    responses(
        (status = 204, description = "The membership is removed."),
        (status = 403, description = "`admin.tenants.write` is not granted."),
        (status = 404, description = "Nothing to remove."),
    ),
    security(("bearer" = []), ("api_key" = []), ("session" = [])),
)]
async fn remove_member(
    state: S,
    ctx: Ctx,
    caller: Caller,
    path: Path<(String, String)>,
) -> Response {
    remove_link(state, ctx, caller, path, TenantLink::Membership).await
}

/// Removes a user's resource grants on a tenant.
#[utoipa::path(
    delete, path = "/admin/tenants/{id}/grants/{user}", tag = "admin",
    params(("id" = String, Path, description = "The tenant's id.", example = "acme"), ("user" = String, Path, description = "The user's id.", example = "0192f1c4-1b2a-7c3d-8e4f-5a6b7c8d9e0f")),
    responses(
        (status = 204, description = "The grants are removed."),
        (status = 403, description = "`admin.tenants.write` is not granted."),
        (status = 404, description = "Nothing to remove."),
    ),
    security(("bearer" = []), ("api_key" = []), ("session" = [])),
)]
async fn remove_grants(
    state: S,
    ctx: Ctx,
    caller: Caller,
    path: Path<(String, String)>,
) -> Response {
    remove_link(state, ctx, caller, path, TenantLink::Grants).await
}

async fn remove_link(
    State(state): S,
    ctx: Ctx,
    caller: Caller,
    Path((id, user)): Path<(String, String)>,
    link: TenantLink,
) -> Response {
    if let Err(r) = require(&state, &caller, &ctx, perm::TENANTS_WRITE) {
        return r;
    }
    let not_found = || ctx.problem(StatusCode::NOT_FOUND, "not-found", "Nothing to remove.");
    let Ok(user_id) = user.parse::<Uuid>() else {
        return not_found();
    };
    let by = ctx.by(&caller);
    match state.identity.remove_link(&id, user_id, link, &by).await {
        Ok(true) => {
            refresh(&state).await;
            StatusCode::NO_CONTENT.into_response()
        }
        Ok(false) => not_found(),
        Err(e) => refused(&ctx, e),
    }
}

/// The user id, once both the tenant and the user are known to exist.
async fn tenant_and_user(
    state: &AppState,
    ctx: &Ctx,
    tenant: &str,
    user: &str,
) -> Result<Uuid, Response> {
    let not_found = |what: &str| {
        ctx.problem(
            StatusCode::NOT_FOUND,
            "not-found",
            format!("No such {what}."),
        )
    };
    let Ok(user_id) = user.parse::<Uuid>() else {
        return Err(not_found("user"));
    };
    match (
        state.store.tenant_get(tenant).await,
        state.store.user_by_id(user_id).await,
    ) {
        (Ok(Some(_)), Ok(Some(_))) => Ok(user_id),
        (Ok(None), _) => Err(not_found("tenant")),
        (_, Ok(None)) => Err(not_found("user")),
        (Err(e), _) | (_, Err(e)) => Err(ctx.unavailable(e)),
    }
}

/// A tenant's resource grants.
#[utoipa::path(
    get, path = "/admin/tenants/{id}/grants", tag = "admin",
    params(("id" = String, Path, description = "The tenant's id.", example = "acme")),
    responses(
        (status = 200, description = "The resource grants.", body = schemas::ResourceGrantList),
        (status = 403, description = "`admin.tenants.read` is not granted."),
    ),
    security(("bearer" = []), ("api_key" = []), ("session" = [])),
)]
async fn list_grants(
    State(state): S,
    ctx: Ctx,
    caller: Caller,
    Path(id): Path<String>,
) -> Response {
    if let Err(r) = require(&state, &caller, &ctx, perm::TENANTS_READ) {
        return r;
    }
    match state.store.resource_grants_list().await {
        Ok(all) => Json(serde_json::json!({
            "grants": all.iter().filter(|g| g.tenant_id == id).map(|g| serde_json::json!({
                "user_id": g.user_id, "grants": g.grants, "created_at": g.created_at,
            })).collect::<Vec<_>>()
        }))
        .into_response(),
        Err(e) => ctx.unavailable(e),
    }
}

/// Permission grants on a tenant's resources.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"grants": ["graphs.read"]}))]
struct GrantsBody {
    grants: Vec<String>,
}

/// Grants a principal permissions on one tenant's resources without a membership (used when it
/// has no role there).
#[utoipa::path(
    put, path = "/admin/tenants/{id}/grants/{user}", tag = "admin",
    params(("id" = String, Path, description = "The tenant's id.", example = "acme"), ("user" = String, Path, description = "The user's id.", example = "0192f1c4-1b2a-7c3d-8e4f-5a6b7c8d9e0f")),
    request_body = GrantsBody,
    responses(
        (status = 204, description = "The grants are set."),
        (status = 403, description = "`admin.tenants.write` is not granted, or a grant goes beyond the caller's own."),
        (status = 404, description = "No such tenant or user."),
        (status = 422, description = "Give 1-100 valid grants."),
    ),
    security(("bearer" = []), ("api_key" = []), ("session" = [])),
)]
async fn put_grants(
    State(state): S,
    ctx: Ctx,
    caller: Caller,
    Path((id, user)): Path<(String, String)>,
    StrictJson(body): StrictJson<GrantsBody>,
) -> Response {
    if let Err(r) = require(&state, &caller, &ctx, perm::TENANTS_WRITE) {
        return r;
    }
    if let Err(e) = manage::check_grants(&body.grants) {
        return refused(&ctx, e);
    }
    if !state.authz.covers(&caller.0.roles, &body.grants) {
        return ctx.problem(
            StatusCode::FORBIDDEN,
            "grant-not-held",
            "You cannot give grants beyond your own.",
        );
    }
    let user_id = match tenant_and_user(&state, &ctx, &id, &user).await {
        Ok(u) => u,
        Err(r) => return r,
    };
    let by = ctx.by(&caller);
    match state
        .identity
        .set_grants(&id, user_id, body.grants, &by)
        .await
    {
        Ok(()) => {
            refresh(&state).await;
            StatusCode::NO_CONTENT.into_response()
        }
        Err(e) => refused(&ctx, e),
    }
}

/// The tenant snapshot after a change (the next sync would, later).
async fn refresh(state: &AppState) {
    if let Err(e) = state.tenants.reload().await {
        tracing::warn!(error = %e, "cannot refresh tenants after a change; the next sync will");
    }
}
