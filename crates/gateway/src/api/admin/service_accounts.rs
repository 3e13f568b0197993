//! Service accounts in `/admin`: non-human principals (agents, CI jobs) that have no password
//! and act only through API keys an administrator issues them. A key's scopes are permission
//! grants that narrow the account's roles (a request needs both), so an agent-tool permission
//! matrix is a set of keys scoped like `tools.read_file.execute`.
//!
//! An administrator can give a service account only roles whose grants their own grants cover,
//! and a key only roles the account holds.

#![allow(clippy::result_large_err)]

use super::perm;
use crate::api::api_keys::shown_once;
use crate::api::extract::{Caller, Ctx, Path, refused, require};
use crate::api::json::StrictJson;
use crate::api::openapi::schemas;
use crate::identity::manage::{self, By};
use crate::state::AppState;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use http::StatusCode;
use palisade_store::identity::{PrincipalKind, UserRecord};
use serde::Deserialize;
use std::sync::Arc;
use utoipa::ToSchema;
use uuid::Uuid;

type S = State<Arc<AppState>>;

/// `/admin/service-accounts/…`.
pub fn router() -> Router<Arc<AppState>> {
    Router::new()
        .route(
            "/admin/service-accounts",
            get(list_accounts).post(create_account),
        )
        .route("/admin/service-accounts/{id}/api-keys", post(create_key))
}

fn account_json(u: &UserRecord) -> serde_json::Value {
    serde_json::json!({
        "id": u.id, "name": u.email, "roles": u.roles, "tier": u.tier,
        "disabled": u.disabled, "created_at": u.created_at, "last_login_at": u.last_login_at,
    })
}

/// A new service account.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "nightly-ci", "roles": ["member"], "tier": "free"}))]
struct NewAccount {
    name: String,
    roles: Vec<String>,
    #[serde(default)]
    tier: Option<String>,
}

/// Creates a service account (roles at most the caller's).
#[utoipa::path(
    post, path = "/admin/service-accounts", tag = "admin", operation_id = "create_service_account",
    request_body = NewAccount,
    responses(
        (status = 201, description = "The service account.", body = schemas::ServiceAccount),
        (status = 403, description = "`admin.service_accounts.write` is not granted, or a role grants more than the caller holds."),
        (status = 409, description = "The name is taken."),
        (status = 422, description = "No such role, or the name is not acceptable."),
    ),
    security(("bearer" = []), ("api_key" = []), ("session" = [])),
)]
async fn create_account(
    State(state): S,
    ctx: Ctx,
    caller: Caller,
    StrictJson(body): StrictJson<NewAccount>,
) -> Response {
    if let Err(r) = require(&state, &caller, &ctx, perm::SERVICE_ACCOUNTS_WRITE) {
        return r;
    }
    if let Err(r) = super::users::givable_roles(&state, &ctx, &caller, &body.roles) {
        return r;
    }
    let tier = body.tier.unwrap_or_else(|| "free".into());
    let account = match state
        .identity
        .create_service_account(&body.name, body.roles, tier, &ctx.by(&caller))
        .await
    {
        Ok(a) => a,
        Err(e) => return refused(&ctx, e),
    };
    (StatusCode::CREATED, Json(account_json(&account))).into_response()
}

/// Every service account.
#[utoipa::path(
    get, path = "/admin/service-accounts", tag = "admin", operation_id = "list_service_accounts",
    responses(
        (status = 200, description = "The service accounts.", body = schemas::ServiceAccountList),
        (status = 403, description = "`admin.service_accounts.write` is not granted."),
    ),
    security(("bearer" = []), ("api_key" = []), ("session" = [])),
)]
async fn list_accounts(State(state): S, ctx: Ctx, caller: Caller) -> Response {
    if let Err(r) = require(&state, &caller, &ctx, perm::SERVICE_ACCOUNTS_WRITE) {
        return r;
    }
    let mut accounts = Vec::new();
    let mut after = None;
    loop {
        let page = match state.store.users_list(after, 500).await {
            Ok(p) => p,
            Err(e) => return ctx.unavailable(e),
        };
        accounts.extend(
            page.iter()
                .filter(|u| u.kind == PrincipalKind::Service)
                .map(account_json),
        );
        match page.last() {
            Some(last) if page.len() == 500 => after = Some(last.id),
            _ => break,
        }
    }
    Json(serde_json::json!({ "service_accounts": accounts })).into_response()
}

/// A new key of a service account.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "tools", "scopes": ["tools.read_file.execute"]}))]
struct NewKey {
    name: String,
    /// Roles the key acts with (default: all the account's).
    #[serde(default)]
    roles: Option<Vec<String>>,
    /// Permission grants narrowing the key.
    scopes: Vec<String>,
    /// Lifetime in seconds; none: the key does not expire.
    #[serde(default)]
    expires_in: Option<u64>,
}

/// Issues an API key to a service account.
#[utoipa::path(
    post, path = "/admin/service-accounts/{id}/api-keys", tag = "admin", operation_id = "create_service_account_key",
    params(("id" = String, Path, description = "The service account's id.", example = "0192f1c4-1b2a-7c3d-8e4f-5a6b7c8d9e0f")),
    request_body = NewKey,
    responses(
        (status = 201, description = "The key, shown this once.", body = schemas::ApiKeyIssued),
        (status = 403, description = "`admin.service_accounts.write` is not granted."),
        (status = 404, description = "No such service account."),
        (status = 422, description = "The account does not hold a role asked for, or the key is not acceptable."),
    ),
    security(("bearer" = []), ("api_key" = []), ("session" = [])),
)]
async fn create_key(
    State(state): S,
    ctx: Ctx,
    caller: Caller,
    Path(id): Path<String>,
    StrictJson(body): StrictJson<NewKey>,
) -> Response {
    if let Err(r) = require(&state, &caller, &ctx, perm::SERVICE_ACCOUNTS_WRITE) {
        return r;
    }
    let not_found = || {
        ctx.problem(
            StatusCode::NOT_FOUND,
            "not-found",
            "No such service account.",
        )
    };
    let Ok(id) = id.parse::<Uuid>() else {
        return not_found();
    };
    let account = match state.store.user_by_id(id).await {
        Ok(Some(u)) if u.kind == PrincipalKind::Service => u,
        Ok(_) => return not_found(),
        Err(e) => return ctx.unavailable(e),
    };
    let roles = body.roles.unwrap_or_else(|| account.roles.clone());
    if let Some(extra) = roles.iter().find(|r| !account.roles.contains(r)) {
        return ctx.problem(
            StatusCode::UNPROCESSABLE_ENTITY,
            "role-not-held",
            format!("The service account does not hold the role {extra:?}."),
        );
    }
    let key = manage::NewKey {
        name: &body.name,
        owner: account.id,
        roles,
        scopes: body.scopes,
        expires_in: body.expires_in,
    };
    let by = By {
        // A Palisade account is named by its subject; an external issuer's caller by the
        // service account acted on.
        actor: match caller.0.account {
            Some(_) => caller.0.subject.clone(),
            None => account.id.to_string(),
        },
        origin: &ctx.origin,
    };
    shown_once(&ctx, state.identity.create_api_key(key, &by).await)
}
