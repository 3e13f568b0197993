//! `/admin/users`: people's accounts for administrators: a searchable keyset-paged list, one
//! account with its tenants, creating one, and replacing its roles or tier. Reading needs
//! `admin.users.read`, changing `admin.users.write`. Each change goes through the use case
//! the CLI calls ([`crate::identity::Identity::create_account`], `set_user_roles`,
//! `set_user_tier`), which records it once. Disabling and enabling are [`super::incident`]'s;
//! sessions, keys and factors are [`super::user_access`]'s.

// Helpers return the finished refusal as their error, the axum idiom (as `api::extract`).
#![allow(clippy::result_large_err)]

use super::perm;
use crate::api::extract::{Caller, Ctx, Path, refused, require};
use crate::api::json::StrictJson;
use crate::audit::{AuditEvent, Outcome, Risk};
use crate::identity::manage::{AccountPage, AccountSearch, AccountView, MAX_PAGE, NewAccount};
use crate::state::AppState;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, put};
use axum::{Json, Router};
use http::StatusCode;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

type S = State<Arc<AppState>>;

/// `/admin/users`, `/admin/users/{id}`, `/admin/users/{id}/roles|tier`.
pub fn router() -> Router<Arc<AppState>> {
    Router::new()
        .route("/admin/users", get(list_users).post(create_user))
        .route("/admin/users/{id}", get(get_user))
        .route("/admin/users/{id}/roles", put(put_roles))
        .route("/admin/users/{id}/tier", put(put_tier))
}

/// Which accounts to list.
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct ListParams {
    /// Accounts per page, 1 to 200 (default 50).
    limit: Option<u32>,
    /// The `next_cursor` of the previous page.
    cursor: Option<String>,
    /// With an `@`: exactly this e-mail address; otherwise a part of the name or id (any case).
    q: Option<String>,
}

/// People's accounts, one page in id order (service accounts are
/// `/admin/service-accounts`).
#[utoipa::path(
    get, path = "/admin/users", tag = "admin",
    params(ListParams),
    responses(
        (status = 200, description = "One page of accounts.", body = AccountPage),
        (status = 400, description = "The limit is not 1 to 200, or the cursor is not one this endpoint gave."),
        (status = 403, description = "`admin.users.read` is not granted."),
    ),
    security(("bearer" = []), ("api_key" = []), ("session" = [])),
)]
async fn list_users(
    State(state): S,
    ctx: Ctx,
    caller: Caller,
    query: Result<Query<ListParams>, QueryRejection>,
) -> Response {
    if let Err(r) = require(&state, &caller, &ctx, perm::USERS_READ) {
        return r;
    }
    let bad = || {
        ctx.problem(
            StatusCode::BAD_REQUEST,
            "invalid-query",
            "Give limit (1 to 200), cursor (a next_cursor of this list) and q only.",
        )
    };
    let Ok(Query(p)) = query else { return bad() };
    let limit = p.limit.unwrap_or(50);
    if !(1..=MAX_PAGE).contains(&limit) || p.q.as_ref().is_some_and(|q| q.len() > 320) {
        return bad();
    }
    let after = match p.cursor.as_deref().map(str::parse::<Uuid>) {
        None => None,
        Some(Ok(id)) => Some(id),
        Some(Err(_)) => return bad(),
    };
    let search = AccountSearch::parse(p.q.as_deref());
    match state.identity.accounts_page(search, after, limit).await {
        Ok(page) => Json(page).into_response(),
        Err(e) => ctx.unavailable(e),
    }
}

/// An account with the tenants it is a member of.
#[derive(Serialize, ToSchema)]
struct AccountDetail {
    #[serde(flatten)]
    account: AccountView,
    tenants: Vec<TenantRole>,
}

/// A membership.
#[derive(Serialize, ToSchema)]
struct TenantRole {
    id: String,
    role: String,
}

/// One account, with its tenant memberships.
#[utoipa::path(
    get, path = "/admin/users/{id}", tag = "admin", operation_id = "get_user",
    params(("id" = Uuid, Path, description = "The account.")),
    responses(
        (status = 200, description = "The account.", body = AccountDetail),
        (status = 403, description = "`admin.users.read` is not granted."),
        (status = 404, description = "No such account."),
    ),
    security(("bearer" = []), ("api_key" = []), ("session" = [])),
)]
async fn get_user(State(state): S, ctx: Ctx, caller: Caller, Path(id): Path<String>) -> Response {
    let user = match permitted_account(&state, &ctx, &caller, perm::USERS_READ, &id).await {
        Ok(u) => u,
        Err(r) => return r,
    };
    let account = match state.identity.account_view(&user).await {
        Ok(a) => a,
        Err(e) => return ctx.unavailable(e),
    };
    let snapshot = state.tenants.snapshot();
    let tenants = snapshot
        .memberships_of(&user.id.to_string())
        .into_iter()
        .map(|(t, r)| TenantRole {
            id: t.to_string(),
            role: r.to_string(),
        })
        .collect();
    Json(AccountDetail { account, tenants }).into_response()
}

/// The caller holds `permission` (else the audited 403) and `id` names an account (else 404):
/// the account, or the answer.
pub(crate) async fn permitted_account(
    state: &AppState,
    ctx: &Ctx,
    caller: &Caller,
    permission: &'static str,
    id: &str,
) -> Result<palisade_store::identity::UserRecord, Response> {
    require(state, caller, ctx, permission)?;
    account(state, ctx, id).await
}

/// The account `id` names, or the answer: 404 for an id that is no account (or not a UUID).
async fn account(
    state: &AppState,
    ctx: &Ctx,
    id: &str,
) -> Result<palisade_store::identity::UserRecord, Response> {
    let not_found = || ctx.problem(StatusCode::NOT_FOUND, "not-found", "No such account.");
    let Ok(id) = id.parse::<Uuid>() else {
        return Err(not_found());
    };
    match state.store.user_by_id(id).await {
        Ok(Some(u)) => Ok(u),
        Ok(None) => Err(not_found()),
        Err(e) => Err(ctx.unavailable(e)),
    }
}

/// A new account.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"email": "ada@example.com", "name": "Ada", "roles": ["member"], "tier": "free"}))]
struct NewUserBody {
    email: String,
    #[serde(default)]
    name: Option<String>,
    /// Checked against the password policy. Without one, the person sets it through
    /// `POST /auth/password/forgot`.
    #[serde(default)]
    password: Option<String>,
    /// Default: `auth.default_roles`. Each must exist and grant no more than the caller holds.
    #[serde(default)]
    roles: Option<Vec<String>>,
    /// Default `free`; one of `rate_limit.tiers`.
    #[serde(default)]
    tier: Option<String>,
}

/// Creates a person's account.
#[utoipa::path(
    post, path = "/admin/users", tag = "admin", operation_id = "create_user",
    request_body = NewUserBody,
    responses(
        (status = 201, description = "The account.", body = AccountView),
        (status = 403, description = "`admin.users.write` is not granted, or a role grants more than the caller holds."),
        (status = 409, description = "An account with this e-mail address exists."),
        (status = 422, description = "The address, name, password, a role or the tier is not acceptable."),
    ),
    security(("bearer" = []), ("api_key" = []), ("session" = [])),
)]
async fn create_user(
    State(state): S,
    ctx: Ctx,
    caller: Caller,
    StrictJson(body): StrictJson<NewUserBody>,
) -> Response {
    if let Err(r) = require(&state, &caller, &ctx, perm::USERS_WRITE) {
        return r;
    }
    let roles = body
        .roles
        .unwrap_or_else(|| state.identity.config.default_roles.clone());
    if let Err(r) = givable_roles(&state, &ctx, &caller, &roles) {
        return r;
    }
    let tier = body.tier.unwrap_or_else(|| "free".into());
    if let Err(r) = known_tier(&state, &ctx, &tier) {
        return r;
    }
    let new = NewAccount {
        email: body.email,
        name: body.name,
        password: body.password,
        roles,
        tier,
    };
    let id = &state.identity;
    let user = match id.create_account(new, &ctx.by(&caller)).await {
        Ok(u) => u,
        Err(e) => return refused(&ctx, e),
    };
    match id.account_view(&user).await {
        Ok(view) => (StatusCode::CREATED, Json(view)).into_response(),
        Err(e) => ctx.unavailable(e),
    }
}

/// An account's new roles.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"roles": ["member"]}))]
struct RolesBody {
    roles: Vec<String>,
}

/// Replaces an account's roles (its sessions are revoked so new tokens carry them).
#[utoipa::path(
    put, path = "/admin/users/{id}/roles", tag = "admin",
    params(("id" = Uuid, Path, description = "The account.")),
    request_body = RolesBody,
    responses(
        (status = 200, description = "The account.", body = AccountView),
        (status = 403, description = "`admin.users.write` is not granted, or a role grants more than the caller holds."),
        (status = 404, description = "No such account."),
        (status = 422, description = "No roles, or no such role."),
    ),
    security(("bearer" = []), ("api_key" = []), ("session" = [])),
)]
async fn put_roles(
    State(state): S,
    ctx: Ctx,
    caller: Caller,
    Path(id): Path<String>,
    StrictJson(body): StrictJson<RolesBody>,
) -> Response {
    let user = match permitted_account(&state, &ctx, &caller, perm::USERS_WRITE, &id).await {
        Ok(u) => u,
        Err(r) => return r,
    };
    if let Err(r) = givable_roles(&state, &ctx, &caller, &body.roles) {
        return r;
    }
    let id = &state.identity;
    match id
        .set_user_roles(user.id, &body.roles, &ctx.by(&caller))
        .await
    {
        Ok(true) => changed(&state, &ctx, user.id).await,
        Ok(false) => ctx.problem(StatusCode::NOT_FOUND, "not-found", "No such account."),
        Err(e) => refused(&ctx, e),
    }
}

/// An account's new tier.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"tier": "pro"}))]
struct TierBody {
    tier: String,
}

/// Sets an account's subscription tier (its sessions are revoked so new tokens carry it).
#[utoipa::path(
    put, path = "/admin/users/{id}/tier", tag = "admin",
    params(("id" = Uuid, Path, description = "The account.")),
    request_body = TierBody,
    responses(
        (status = 200, description = "The account.", body = AccountView),
        (status = 403, description = "`admin.users.write` is not granted."),
        (status = 404, description = "No such account."),
        (status = 422, description = "No such tier in `rate_limit.tiers`."),
    ),
    security(("bearer" = []), ("api_key" = []), ("session" = [])),
)]
async fn put_tier(
    State(state): S,
    ctx: Ctx,
    caller: Caller,
    Path(id): Path<String>,
    StrictJson(body): StrictJson<TierBody>,
) -> Response {
    let user = match permitted_account(&state, &ctx, &caller, perm::USERS_WRITE, &id).await {
        Ok(u) => u,
        Err(r) => return r,
    };
    if let Err(r) = known_tier(&state, &ctx, &body.tier) {
        return r;
    }
    let id = &state.identity;
    match id
        .set_user_tier(user.id, &body.tier, &ctx.by(&caller))
        .await
    {
        Ok(true) => changed(&state, &ctx, user.id).await,
        Ok(false) => ctx.problem(StatusCode::NOT_FOUND, "not-found", "No such account."),
        Err(e) => refused(&ctx, e),
    }
}

/// The account as it is after a change.
async fn changed(state: &AppState, ctx: &Ctx, id: Uuid) -> Response {
    let view = match state.store.user_by_id(id).await {
        Ok(Some(u)) => state.identity.account_view(&u).await,
        Ok(None) => return ctx.problem(StatusCode::NOT_FOUND, "not-found", "No such account."),
        Err(e) => Err(e),
    };
    match view {
        Ok(v) => Json(v).into_response(),
        Err(e) => ctx.unavailable(e),
    }
}

/// Every role exists (else 422) and grants no more than the caller holds (else 403, on record:
/// nobody hands out more than they hold).
pub(super) fn givable_roles(
    state: &AppState,
    ctx: &Ctx,
    caller: &Caller,
    roles: &[String],
) -> Result<(), Response> {
    if let Some(role) = roles.iter().find(|r| !state.authz.matrix_has_role(r)) {
        return Err(ctx.problem(
            StatusCode::UNPROCESSABLE_ENTITY,
            "unknown-role",
            format!("No such role {role:?}."),
        ));
    }
    if let Some(role) = roles
        .iter()
        .find(|r| !state.authz.may_give_role(&caller.0.roles, r))
    {
        state.identity.audit.record_refusal(
            ctx.audit(
                AuditEvent::new("authz.denied", Risk::Medium, Outcome::Denied)
                    .actor(caller.0.subject.clone())
                    .resource(format!("role:{role}"))
                    .details(serde_json::json!({ "reason": "role-not-held" })),
            ),
        );
        return Err(ctx.problem(
            StatusCode::FORBIDDEN,
            "role-not-held",
            format!("You cannot give the role {role:?}: it grants more than you hold."),
        ));
    }
    Ok(())
}

/// The tier is one of `rate_limit.tiers` (else 422).
fn known_tier(state: &AppState, ctx: &Ctx, tier: &str) -> Result<(), Response> {
    if state.config.rate_limit.tiers.contains_key(tier) {
        return Ok(());
    }
    Err(ctx.problem(
        StatusCode::UNPROCESSABLE_ENTITY,
        "unknown-tier",
        format!("No such tier {tier:?} in rate_limit.tiers."),
    ))
}
