//! `/auth/api-keys`: a person's own API keys. A key is shown once, when created or rotated;
//! it holds at most the roles of its owner and may be narrowed by scopes. Only a person (a
//! token or cookie session) manages keys: a key cannot mint keys. Rotation keeps the old key
//! valid for `auth.api_keys.rotation_overlap` so clients can switch over. Every change is an
//! audit event (`apikey.created`, `apikey.rotated`, `apikey.revoked`).

#![allow(clippy::result_large_err)]

use super::admin::perm;
use super::extract::{Caller, Ctx, Path, needs_user, no_store, refused};
use super::json::StrictJson;
use super::openapi::schemas;
use crate::identity::manage::{By, NewKey, Refused};
use crate::state::AppState;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, post};
use axum::{Json, Router};
use http::{HeaderValue, StatusCode};
use palisade_core::principal::AuthMethod;
use palisade_store::identity::ApiKeyRecord;
use secrecy::ExposeSecret;
use serde::Deserialize;
use std::sync::Arc;
use utoipa::ToSchema;
use uuid::Uuid;

type S = State<Arc<AppState>>;

/// `/auth/api-keys`.
pub fn router() -> Router<Arc<AppState>> {
    Router::new()
        .route("/auth/api-keys", post(create_key).get(list_keys))
        .route("/auth/api-keys/{id}", delete(revoke_key))
        .route("/auth/api-keys/{id}/rotate", post(rotate_key))
}

/// A new key of the caller's.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "ci", "scopes": ["*.read"], "expires_in": 86400}))]
struct CreateKeyBody {
    name: String,
    /// Roles the key acts with (default: all the caller's); only roles the caller holds.
    #[serde(default)]
    roles: Option<Vec<String>>,
    /// Permission grants narrowing the key (default: none, the roles' permissions).
    #[serde(default)]
    scopes: Vec<String>,
    /// Lifetime in seconds; none: the key does not expire.
    #[serde(default)]
    expires_in: Option<u64>,
}

pub(crate) fn key_json(k: &ApiKeyRecord) -> serde_json::Value {
    serde_json::json!({
        "id": k.id, "name": k.name, "prefix": k.prefix, "owner_id": k.owner_id,
        "roles": k.roles, "scopes": k.scopes, "created_at": k.created_at,
        "expires_at": k.expires_at, "last_used_at": k.last_used_at, "revoked_at": k.revoked_at,
        "revoked_reason": k.revoked_reason.map(|r| r.as_str()),
    })
}

/// Only a person (a token or cookie session) manages keys; a key cannot mint keys.
fn key_manager(caller: &Caller, ctx: &Ctx) -> Result<Uuid, Response> {
    if caller.0.method == AuthMethod::ApiKey {
        return Err(ctx.problem(
            StatusCode::FORBIDDEN,
            "keys-need-a-user",
            "API keys are managed with a user's token, not with another key.",
        ));
    }
    needs_user(caller, ctx)
}

/// Creates an API key for the caller (with a token or cookie, not with another key).
#[utoipa::path(
    post, path = "/auth/api-keys", tag = "api-keys",
    request_body = CreateKeyBody,
    responses(
        (status = 201, description = "The key, shown this once.", body = schemas::ApiKeyIssued),
        (status = 403, description = "Keys are managed with a user's token, or a role the caller does not hold was asked for."),
        (status = 409, description = "A conflicting key exists."),
        (status = 422, description = "The name, scopes or lifetime are not acceptable."),
    ),
    security(("bearer" = []), ("session" = [])),
)]
async fn create_key(
    State(state): S,
    ctx: Ctx,
    caller: Caller,
    StrictJson(body): StrictJson<CreateKeyBody>,
) -> Response {
    let owner = match key_manager(&caller, &ctx) {
        Ok(u) => u,
        Err(r) => return r,
    };
    let roles = body.roles.unwrap_or_else(|| caller.0.roles.clone());
    if let Some(extra) = roles.iter().find(|r| !caller.0.has_role(r)) {
        return ctx.problem(
            StatusCode::FORBIDDEN,
            "role-not-held",
            format!("A key cannot hold the role {extra:?}, which you do not have."),
        );
    }
    let key = NewKey {
        name: &body.name,
        owner,
        roles,
        scopes: body.scopes,
        expires_in: body.expires_in,
    };
    let by = By {
        actor: owner.to_string(),
        origin: &ctx.origin,
    };
    shown_once(&ctx, state.identity.create_api_key(key, &by).await)
}

/// 201 with the new key, its secret shown once; or why it was not made.
pub(crate) fn shown_once(
    ctx: &Ctx,
    issued: Result<(ApiKeyRecord, secrecy::SecretString), Refused>,
) -> Response {
    match issued {
        Ok((record, plaintext)) => {
            let mut body = key_json(&record);
            body["key"] = serde_json::Value::String(plaintext.expose_secret().to_string());
            no_store((StatusCode::CREATED, Json(body)).into_response())
        }
        Err(e) => refused(ctx, e),
    }
}

/// The caller's API keys.
#[utoipa::path(
    get, path = "/auth/api-keys", tag = "api-keys",
    responses(
        (status = 200, description = "The caller's keys.", body = schemas::ApiKeyList),
        (status = 403, description = "Keys are managed with a user's token, not with another key."),
    ),
    security(("bearer" = []), ("session" = [])),
)]
async fn list_keys(State(state): S, ctx: Ctx, caller: Caller) -> Response {
    let owner = match key_manager(&caller, &ctx) {
        Ok(u) => u,
        Err(r) => return r,
    };
    match state.identity.store.api_keys_list(Some(owner)).await {
        Ok(keys) => Json(serde_json::json!({
            "api_keys": keys.iter().map(key_json).collect::<Vec<_>>()
        }))
        .into_response(),
        Err(e) => ctx.unavailable(e),
    }
}

/// The key, if the caller owns it (or is an admin).
async fn owned_key(
    state: &AppState,
    ctx: &Ctx,
    caller: &Caller,
    key_id: &str,
) -> Result<ApiKeyRecord, Response> {
    let owner = key_manager(caller, ctx)?;
    let not_found = || ctx.problem(StatusCode::NOT_FOUND, "not-found", "No such API key.");
    let key_id: Uuid = key_id.parse().map_err(|_| not_found())?;
    match state.identity.store.api_key_get(key_id).await {
        Ok(Some(k)) if k.owner_id == owner || state.authz.permits(&caller.0, perm::KEYS_WRITE) => {
            Ok(k)
        }
        Ok(_) => Err(not_found()),
        Err(e) => Err(ctx.unavailable(e)),
    }
}

/// Revokes an API key of the caller's (any key with `admin.keys.write`).
#[utoipa::path(
    delete, path = "/auth/api-keys/{id}", tag = "api-keys",
    params(("id" = String, Path, description = "The key's id.", example = "0192f1c4-1b2a-7c3d-8e4f-5a6b7c8d9e0f")),
    responses(
        (status = 204, description = "The key is revoked."),
        (status = 403, description = "Keys are managed with a user's token, not with another key."),
        (status = 404, description = "No such key of the caller's."),
    ),
    security(("bearer" = []), ("session" = [])),
)]
async fn revoke_key(
    State(state): S,
    ctx: Ctx,
    caller: Caller,
    Path(key_id): Path<String>,
) -> Response {
    let key = match owned_key(&state, &ctx, &caller, &key_id).await {
        Ok(k) => k,
        Err(r) => return r,
    };
    let by = ctx.by(&caller);
    match state.identity.revoke_api_key_as(key.id, &by).await {
        Ok(_) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => refused(&ctx, e),
    }
}

/// Replaces an API key: a new key now, the old one valid for `auth.api_keys.rotation_overlap`.
#[utoipa::path(
    post, path = "/auth/api-keys/{id}/rotate", tag = "api-keys",
    params(("id" = String, Path, description = "The key's id.", example = "0192f1c4-1b2a-7c3d-8e4f-5a6b7c8d9e0f")),
    responses(
        (status = 201, description = "The new key, shown this once.", body = schemas::ApiKeyIssued,
            headers(("x-palisade-previous-key-expires-at" = i64, description = "When the old key stops working (Unix milliseconds)."))),
        (status = 403, description = "Keys are managed with a user's token, not with another key."),
        (status = 404, description = "No such key of the caller's."),
        (status = 409, description = "The key is revoked or expired."),
    ),
    security(("bearer" = []), ("session" = [])),
)]
async fn rotate_key(
    State(state): S,
    ctx: Ctx,
    caller: Caller,
    Path(key_id): Path<String>,
) -> Response {
    let old = match owned_key(&state, &ctx, &caller, &key_id).await {
        Ok(k) => k,
        Err(r) => return r,
    };
    let id = &state.identity;
    let now = id.now_ms() as i64;
    if old.revoked_at.is_some() || old.expires_at.is_some_and(|at| at <= now) {
        return ctx.problem(
            StatusCode::CONFLICT,
            "key-inactive",
            "A revoked or expired key cannot be rotated; create a new one.",
        );
    }
    let overlap_end = now + id.api_keys.rotation_overlap_ms;
    let old_end = old.expires_at.map_or(overlap_end, |at| at.min(overlap_end));
    if let Err(e) = id.store.api_key_set_expiry(old.id, Some(old_end)).await {
        return ctx.unavailable(e);
    }
    id.api_keys.forget(old.id);
    let fresh = ApiKeyRecord {
        id: Uuid::now_v7(),
        hash: [0; 32],
        prefix: String::new(),
        created_at: now,
        last_used_at: None,
        revoked_at: None,
        revoked_reason: None,
        ..old.clone()
    };
    let by = By {
        actor: caller.user_id().unwrap_or(old.owner_id).to_string(),
        origin: &ctx.origin,
    };
    let mut res = shown_once(&ctx, id.issue_api_key(fresh, "apikey.rotated", &by).await);
    if let Ok(v) = HeaderValue::from_str(&old_end.to_string()) {
        res.headers_mut()
            .insert("x-palisade-previous-key-expires-at", v);
    }
    res
}
