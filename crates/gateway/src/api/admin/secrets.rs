//! `/admin/secrets`: what the secrets store holds, as metadata only (`admin.secrets.read`):
//! the paths with their version count, current version and times, and one path's versions.
//! Never a value: reading one stays `GET /v1/secrets/{path}` under `secrets.data.read`, an
//! audited `credential.access`.

use super::perm;
use crate::api::extract::{Caller, Ctx, Path, require};
use crate::protect::vault::{VersionMeta, valid_path};
use crate::state::AppState;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use http::StatusCode;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use utoipa::{IntoParams, ToSchema};

type S = State<Arc<AppState>>;

/// Paths per page at most.
const MAX_PAGE: u32 = 200;

/// `/admin/secrets` and `/admin/secrets/{*path}`.
pub fn router() -> Router<Arc<AppState>> {
    Router::new()
        .route("/admin/secrets", get(list_secrets))
        .route("/admin/secrets/{*path}", get(secret_versions))
}

/// Which paths.
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct ListParams {
    /// Only paths starting with this.
    prefix: Option<String>,
    /// The `next_cursor` of the previous page.
    cursor: Option<String>,
    /// Paths per page, 1 to 200 (default 50).
    limit: Option<u32>,
}

/// A secret's path and what is known of it without its value.
#[derive(Serialize, ToSchema)]
struct SecretSummary {
    path: String,
    /// Versions stored, deleted ones included.
    versions: usize,
    /// The latest version not deleted.
    current_version: Option<u32>,
    /// Unix milliseconds of the first version.
    created_at: i64,
    /// Unix milliseconds of the latest version.
    updated_at: i64,
}

/// One page of secrets.
#[derive(Serialize, ToSchema)]
struct SecretPage {
    items: Vec<SecretSummary>,
    /// Give as `cursor` for the next page; `null` on the last one.
    next_cursor: Option<String>,
}

/// A secret's versions.
#[derive(Serialize, ToSchema)]
struct SecretVersions {
    path: String,
    /// Oldest first.
    versions: Vec<VersionMeta>,
}

/// The secrets with a live version, in path order: metadata only.
#[utoipa::path(
    get, path = "/admin/secrets", tag = "admin", operation_id = "admin_list_secrets",
    params(ListParams),
    responses(
        (status = 200, description = "One page of secrets.", body = SecretPage),
        (status = 400, description = "The query is not acceptable."),
        (status = 403, description = "`admin.secrets.read` is not granted."),
    ),
    security(("bearer" = []), ("api_key" = []), ("session" = [])),
)]
async fn list_secrets(
    State(state): S,
    ctx: Ctx,
    caller: Caller,
    query: Result<Query<ListParams>, QueryRejection>,
) -> Response {
    if let Err(r) = require(&state, &caller, &ctx, perm::SECRETS_READ) {
        return r;
    }
    let bad = || {
        ctx.problem(
            StatusCode::BAD_REQUEST,
            "invalid-query",
            "Give prefix, cursor (a next_cursor of this list) and limit (1 to 200) only.",
        )
    };
    let Ok(Query(p)) = query else { return bad() };
    let limit = p.limit.unwrap_or(50);
    let too_long = |s: &Option<String>| {
        s.as_ref()
            .is_some_and(|s| s.len() > crate::protect::vault::MAX_PATH_LEN)
    };
    if !(1..=MAX_PAGE).contains(&limit) || too_long(&p.prefix) || too_long(&p.cursor) {
        return bad();
    }
    let prefix = p.prefix.unwrap_or_default();
    let mut paths = match state
        .vault
        .list(&prefix, p.cursor.as_deref(), limit + 1)
        .await
    {
        Ok(paths) => paths,
        Err(e) => return ctx.unavailable(e),
    };
    let more = paths.len() > limit as usize;
    paths.truncate(limit as usize);
    let mut items = Vec::with_capacity(paths.len());
    for path in paths {
        let versions = match state.vault.versions_meta(&path).await {
            Ok(v) => v,
            Err(e) => return ctx.unavailable(e),
        };
        let (Some(first), Some(last)) = (versions.first(), versions.last()) else {
            continue;
        };
        items.push(SecretSummary {
            versions: versions.len(),
            current_version: versions
                .iter()
                .rev()
                .find(|v| v.deleted_at.is_none())
                .map(|v| v.version),
            created_at: first.created_at,
            updated_at: last.created_at,
            path,
        });
    }
    let next_cursor = more.then(|| items.last().map(|s| s.path.clone())).flatten();
    Json(SecretPage { items, next_cursor }).into_response()
}

/// A secret's versions: numbers, times, authors, metadata; never a value.
#[utoipa::path(
    get, path = "/admin/secrets/{path}", tag = "admin", operation_id = "admin_secret_versions",
    params(("path" = String, Path, description = "The secret's path.", example = "payments/stripe")),
    responses(
        (status = 200, description = "The versions.", body = SecretVersions),
        (status = 403, description = "`admin.secrets.read` is not granted."),
        (status = 404, description = "No secret at this path."),
    ),
    security(("bearer" = []), ("api_key" = []), ("session" = [])),
)]
async fn secret_versions(
    State(state): S,
    ctx: Ctx,
    caller: Caller,
    Path(path): Path<String>,
) -> Response {
    if let Err(r) = require(&state, &caller, &ctx, perm::SECRETS_READ) {
        return r;
    }
    let not_found = || {
        ctx.problem(
            StatusCode::NOT_FOUND,
            "not-found",
            "No secret at this path.",
        )
    };
    if !valid_path(&path) {
        return not_found();
    }
    match state.vault.versions_meta(&path).await {
        Ok(versions) if versions.is_empty() => not_found(),
        Ok(versions) => Json(SecretVersions { path, versions }).into_response(),
        Err(e) => ctx.unavailable(e),
    }
}
