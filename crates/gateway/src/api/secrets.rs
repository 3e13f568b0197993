//! `/v1/secrets`: the secrets store over HTTP.
//!
//! - `GET /v1/secrets?prefix=P&after=A&limit=N` lists paths (only those the caller may read).
//! - `GET /v1/secrets/{path}[?version=n]` reads the latest live version (or version n).
//! - `PUT /v1/secrets/{path}` with `{"value": "…", "metadata": {…}?}` writes the next version.
//! - `DELETE /v1/secrets/{path}[?version=n]` soft-deletes the latest live version (or n).
//! - `POST /v1/secrets/{path}/undelete?version=n` undoes a soft delete.
//!
//! Permissions ([`perm`]): reading needs `secrets.data.read`, writing, deleting and undeleting
//! `secrets.data.write`. Three segments, so the generic `*.read` / `*.write` grants of the
//! viewer and member roles never reach secrets: a role must be granted `secrets.*` (or the
//! exact permission). For a path under `tenants/{id}/` the permission must be held *in that
//! tenant* ([`crate::authz::Authorizer::permits_in`]: the caller's role there, through parent
//! tenants, else its resource grants on it, else only administrator roles); for other paths,
//! through the caller's own roles. An API key's scopes bound both. The check comes before any
//! store access, so a refusal says nothing about whether the secret exists.
//!
//! Audit: every read is `credential.access`, every write, delete and undelete `secret.write`,
//! refused ones included (outcome denied), with the path as resource (`secret:<path>`) and the
//! API key id in `details.key_id` when the caller used one. Values never reach the trail, logs
//! or errors. Answers carry `Cache-Control: no-store`; errors are problem+json.

// Helpers return the finished refusal as their error, the axum idiom.
#![allow(clippy::result_large_err)]

use super::extract::{Caller, Ctx, Path, no_store};
use super::json::StrictJson;
use super::openapi::schemas;
use crate::audit::{AuditEvent, Outcome, Risk};
use crate::protect::vault::{Secret, VaultError, tenant_of};
use crate::state::AppState;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use http::StatusCode;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use std::sync::Arc;
use utoipa::{IntoParams, ToSchema};
use zeroize::Zeroizing;

type S = State<Arc<AppState>>;

/// The permissions of the secrets store.
pub mod perm {
    /// Reading and listing.
    pub const READ: &str = "secrets.data.read";
    /// Writing, deleting and undeleting.
    pub const WRITE: &str = "secrets.data.write";
}

const LIST_MAX: u32 = 1000;
/// Store pages one listing request reads at most.
const LIST_PAGES: usize = 10;

/// `/v1/secrets` and `/v1/secrets/…`.
pub fn router() -> Router<Arc<AppState>> {
    Router::new().route("/v1/secrets", get(list)).route(
        "/v1/secrets/{*path}",
        get(read).put(write).delete(remove).post(undelete),
    )
}

/// Which version.
#[derive(Deserialize, Default, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct VersionQuery {
    /// A version (default: the latest live one).
    version: Option<u32>,
}

/// Which paths.
#[derive(Deserialize, Default, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct ListQuery {
    /// Only paths starting with this (a-z 0-9 _ . - /).
    #[serde(default)]
    #[param(required = false, example = "app/")]
    prefix: String,
    /// Only paths after this one (the `next` of the previous page).
    after: Option<String>,
    /// At most this many, 1 to 1000 (default 100).
    limit: Option<u32>,
}

/// A secret's next version.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"value": "s3cr3t-value", "metadata": {"owner": "payments"}}))]
struct PutBody {
    /// The value (never logged or audited).
    value: String,
    /// A JSON object kept with the version.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    metadata: serde_json::Value,
}

fn query<T>(ctx: &Ctx, q: Result<Query<T>, QueryRejection>) -> Result<T, Response> {
    q.map(|Query(v)| v).map_err(|e| {
        ctx.problem(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid-query",
            format!("The query string is not acceptable: {}.", e.body_text()),
        )
    })
}

/// Records the audit event of one secrets-store operation.
pub(crate) fn record(
    state: &AppState,
    ctx: &Ctx,
    caller: &Caller,
    event: &'static str,
    resource: String,
    outcome: Outcome,
    mut details: serde_json::Value,
) {
    if let (Some(key), Some(map)) = (&caller.0.key_id, details.as_object_mut()) {
        map.insert("key_id".into(), key.clone().into());
    }
    let risk = if outcome == Outcome::Success {
        Risk::Low
    } else {
        Risk::Medium
    };
    state.audit.record(
        ctx.audit(
            AuditEvent::new(event, risk, outcome)
                .actor(caller.0.subject.clone())
                .resource(resource)
                .details(details),
        ),
    );
}

/// The permission check of the module documentation, with its audit event and 403 on refusal.
/// The version query parses and the caller holds `permission` for `path` (else the answer).
#[allow(clippy::too_many_arguments)]
fn versioned(
    state: &AppState,
    ctx: &Ctx,
    caller: &Caller,
    path: &str,
    q: Result<Query<VersionQuery>, QueryRejection>,
    permission: &'static str,
    event: &'static str,
    action: &'static str,
) -> Result<VersionQuery, Response> {
    let q = query(ctx, q)?;
    allow(state, ctx, caller, path, permission, event, action)?;
    Ok(q)
}

fn allow(
    state: &AppState,
    ctx: &Ctx,
    caller: &Caller,
    path: &str,
    permission: &'static str,
    event: &'static str,
    action: &'static str,
) -> Result<(), Response> {
    if state
        .authz
        .permits_in(&caller.0, tenant_of(path), permission)
    {
        return Ok(());
    }
    record(
        state,
        ctx,
        caller,
        event,
        format!("secret:{path}"),
        Outcome::Denied,
        serde_json::json!({"action": action, "reason": format!("{permission} is not granted")}),
    );
    Err(crate::problem::refuse_with(
        "secrets",
        "forbidden",
        StatusCode::FORBIDDEN,
        "You are not allowed to do this.",
        &ctx.id,
        serde_json::json!({ "permission": permission }),
    ))
}

fn vault_error(ctx: &Ctx, e: VaultError) -> Response {
    match e {
        VaultError::InvalidPath | VaultError::TooLarge | VaultError::InvalidMetadata => ctx
            .problem(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid-secret",
                e.to_string(),
            ),
        VaultError::NotFound | VaultError::Deleted => {
            ctx.problem(StatusCode::NOT_FOUND, "not-found", e.to_string())
        }
        VaultError::Undecryptable(inner) => {
            tracing::error!(error = %inner, request_id = %ctx.id, "a stored secret does not decrypt");
            ctx.problem(
                StatusCode::INTERNAL_SERVER_ERROR,
                "undecryptable",
                "The stored value cannot be decrypted; an operator must look at the keyring.",
            )
        }
        VaultError::Store(e) => ctx.unavailable(e),
    }
}

fn secret_json(s: &Secret) -> serde_json::Value {
    serde_json::json!({
        "path": s.path,
        "version": s.version,
        "value": s.value.expose_secret(),
        "metadata": s.metadata,
        "created_at": s.created_at,
        "created_by": s.created_by,
    })
}

/// Reads a secret (`secrets.data.read`).
#[utoipa::path(
    get, path = "/v1/secrets/{path}", tag = "secrets", operation_id = "read_secret",
    params(("path" = String, Path, description = "The secret's path: a-z 0-9 _ . - and /.", example = "db"), VersionQuery),
    responses(
        (status = 200, description = "The secret.", body = schemas::Secret),
        (status = 401, description = "A browser session whose sign-in is older than `auth.mfa.recent_auth` (or not `aal2` with a second factor enrolled): RFC 9470 challenge."),
        (status = 403, description = "`secrets.data.read` is not granted for this path."),
        (status = 404, description = "No such secret or version, or it is deleted."),
        (status = 422, description = "The path or query is not acceptable."),
    ),
    security(("bearer" = []), ("api_key" = []), ("session" = [])),
)]
async fn read(
    State(state): S,
    ctx: Ctx,
    caller: Caller,
    Path(path): Path<String>,
    q: Result<Query<VersionQuery>, QueryRejection>,
) -> Response {
    let q = match versioned(
        &state,
        &ctx,
        &caller,
        &path,
        q,
        perm::READ,
        "credential.access",
        "read",
    ) {
        Ok(q) => q,
        Err(r) => return r,
    };
    if let Err(r) = crate::api::mfa::recent_sign_in_if_browser(&state, &ctx, &caller).await {
        return r;
    }
    let (outcome, details, res) = match state.vault.get(&path, q.version).await {
        Ok(s) => (
            Outcome::Success,
            serde_json::json!({"action": "read", "version": s.version, "data_key": s.key_id}),
            no_store(Json(secret_json(&s)).into_response()),
        ),
        Err(e) => {
            let res = vault_error(&ctx, e);
            let details = serde_json::json!({"action": "read", "version": q.version, "status": res.status().as_u16()});
            (Outcome::Failure, details, res)
        }
    };
    let resource = format!("secret:{path}");
    record(
        &state,
        &ctx,
        &caller,
        "credential.access",
        resource,
        outcome,
        details,
    );
    res
}

/// Writes a secret's next version (`secrets.data.write`).
#[utoipa::path(
    put, path = "/v1/secrets/{path}", tag = "secrets", operation_id = "write_secret",
    params(("path" = String, Path, description = "The secret's path: a-z 0-9 _ . - and /.", example = "db")),
    request_body = PutBody,
    responses(
        (status = 200, description = "A new version.", body = schemas::SecretWritten),
        (status = 201, description = "The first version.", body = schemas::SecretWritten),
        (status = 403, description = "`secrets.data.write` is not granted for this path."),
        (status = 422, description = "The path, value or metadata is not acceptable."),
    ),
    security(("bearer" = []), ("api_key" = []), ("session" = [])),
)]
async fn write(
    State(state): S,
    ctx: Ctx,
    caller: Caller,
    Path(path): Path<String>,
    StrictJson(body): StrictJson<PutBody>,
) -> Response {
    let value = Zeroizing::new(body.value);
    let value = SecretString::from(value.as_str());
    if let Err(r) = allow(
        &state,
        &ctx,
        &caller,
        &path,
        perm::WRITE,
        "secret.write",
        "put",
    ) {
        return r;
    }
    let (outcome, details, res) = match state
        .vault
        .put(&path, &value, body.metadata, Some(caller.0.subject.clone()))
        .await
    {
        Ok(s) => {
            let status = if s.version == 1 {
                StatusCode::CREATED
            } else {
                StatusCode::OK
            };
            let body = Json(serde_json::json!({"path": s.path, "version": s.version}));
            (
                Outcome::Success,
                serde_json::json!({"action": "put", "version": s.version, "data_key": s.key_id}),
                no_store((status, body).into_response()),
            )
        }
        Err(e) => {
            let res = vault_error(&ctx, e);
            let details = serde_json::json!({"action": "put", "status": res.status().as_u16()});
            (Outcome::Failure, details, res)
        }
    };
    let resource = format!("secret:{path}");
    record(
        &state,
        &ctx,
        &caller,
        "secret.write",
        resource,
        outcome,
        details,
    );
    res
}

/// Soft-deletes a secret's latest live version, or `version` (`secrets.data.write`).
#[utoipa::path(
    delete, path = "/v1/secrets/{path}", tag = "secrets", operation_id = "delete_secret",
    params(("path" = String, Path, description = "The secret's path: a-z 0-9 _ . - and /.", example = "gone"), VersionQuery),
    responses(
        (status = 200, description = "The version is deleted.", body = schemas::SecretChanged),
        (status = 403, description = "`secrets.data.write` is not granted for this path."),
        (status = 404, description = "No such secret or version, or it is deleted."),
        (status = 422, description = "The path or query is not acceptable."),
    ),
    security(("bearer" = []), ("api_key" = []), ("session" = [])),
)]
async fn remove(
    State(state): S,
    ctx: Ctx,
    caller: Caller,
    Path(path): Path<String>,
    q: Result<Query<VersionQuery>, QueryRejection>,
) -> Response {
    let q = match versioned(
        &state,
        &ctx,
        &caller,
        &path,
        q,
        perm::WRITE,
        "secret.write",
        "delete",
    ) {
        Ok(q) => q,
        Err(r) => return r,
    };
    let outcome = state.vault.delete(&path, q.version).await;
    finish_change(&state, &ctx, &caller, &path, "delete", outcome)
}

/// `POST /v1/secrets/{path}/undelete?version=n` (the only POST under `/v1/secrets/`).
#[utoipa::path(
    post, path = "/v1/secrets/{path}/undelete", tag = "secrets", operation_id = "undelete_secret",
    params(("path" = String, Path, description = "The secret's path: a-z 0-9 _ . - and /.", example = "old"), ("version" = u32, Query, description = "The version to undelete.", example = 1)),
    responses(
        (status = 200, description = "The version is live again.", body = schemas::SecretChanged),
        (status = 403, description = "`secrets.data.write` is not granted for this path."),
        (status = 404, description = "No such secret or version."),
        (status = 405, description = "POST is only for …/undelete."),
        (status = 422, description = "The path or query is not acceptable."),
    ),
    security(("bearer" = []), ("api_key" = []), ("session" = [])),
)]
async fn undelete(
    State(state): S,
    ctx: Ctx,
    caller: Caller,
    Path(full): Path<String>,
    q: Result<Query<VersionQuery>, QueryRejection>,
) -> Response {
    let Some(path) = full.strip_suffix("/undelete") else {
        return ctx.problem(
            StatusCode::METHOD_NOT_ALLOWED,
            "method-not-allowed",
            "POST is only for /v1/secrets/{path}/undelete?version=n.",
        );
    };
    let q = match versioned(
        &state,
        &ctx,
        &caller,
        path,
        q,
        perm::WRITE,
        "secret.write",
        "undelete",
    ) {
        Ok(q) => q,
        Err(r) => return r,
    };
    let Some(version) = q.version else {
        return ctx.problem(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid-query",
            "Name the version to undelete: ?version=n.",
        );
    };
    let outcome = state.vault.undelete(path, version).await.map(|()| version);
    finish_change(&state, &ctx, &caller, path, "undelete", outcome)
}

fn finish_change(
    state: &AppState,
    ctx: &Ctx,
    caller: &Caller,
    path: &str,
    action: &'static str,
    outcome: Result<u32, VaultError>,
) -> Response {
    let (result, version, res) = match outcome {
        Ok(v) => (
            Outcome::Success,
            Some(v),
            no_store(
                Json(serde_json::json!({"path": path, "version": v, "action": action}))
                    .into_response(),
            ),
        ),
        Err(e) => (Outcome::Failure, None, vault_error(ctx, e)),
    };
    record(
        state,
        ctx,
        caller,
        "secret.write",
        format!("secret:{path}"),
        result,
        serde_json::json!({"action": action, "version": version}),
    );
    res
}

/// Lists the paths the caller may read.
#[utoipa::path(
    get, path = "/v1/secrets", tag = "secrets", operation_id = "list_secrets",
    params(ListQuery),
    responses(
        (status = 200, description = "A page of paths.", body = schemas::SecretList),
        (status = 422, description = "The query is not acceptable."),
    ),
    security(("bearer" = []), ("api_key" = []), ("session" = [])),
)]
async fn list(
    State(state): S,
    ctx: Ctx,
    caller: Caller,
    q: Result<Query<ListQuery>, QueryRejection>,
) -> Response {
    let q = match query(&ctx, q) {
        Ok(q) => q,
        Err(r) => return r,
    };
    let valid_prefix = q.prefix.len() <= crate::protect::vault::MAX_PATH_LEN
        && q.prefix.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'_' | b'.' | b'-' | b'/')
        });
    if !valid_prefix {
        return ctx.problem(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid-query",
            "prefix may hold only a-z 0-9 _ . - /",
        );
    }
    let limit = q.limit.unwrap_or(100).clamp(1, LIST_MAX);
    // Only paths the caller may read; keep reading pages until the answer is full.
    let mut out = Vec::new();
    let mut after = q.after.clone();
    let mut exhausted = false;
    // Bounded work per request: after LIST_PAGES pages `next` lets the caller go on.
    for _ in 0..LIST_PAGES {
        if out.len() >= limit as usize {
            break;
        }
        let page = match state.vault.list(&q.prefix, after.as_deref(), limit).await {
            Ok(p) => p,
            Err(e) => return vault_error(&ctx, e),
        };
        exhausted = page.len() < limit as usize;
        after = page.last().cloned();
        out.extend(
            page.into_iter()
                .filter(|p| state.authz.permits_in(&caller.0, tenant_of(p), perm::READ)),
        );
        if exhausted {
            break;
        }
    }
    let next = if out.len() > limit as usize {
        out.truncate(limit as usize);
        out.last().cloned()
    } else if exhausted {
        None
    } else {
        // Stopped on the page bound or exactly full: go on after the last path scanned.
        after
    };
    record(
        &state,
        &ctx,
        &caller,
        "credential.access",
        format!("secret:{}*", q.prefix),
        Outcome::Success,
        serde_json::json!({"action": "list", "count": out.len()}),
    );
    no_store(Json(serde_json::json!({"paths": out, "next": next})).into_response())
}
