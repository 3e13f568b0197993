//! The OAuth connections API under `/auth/connections` (thin: the rules and the events are
//! [`super`]'s and `identity::federation::flow`'s): start a connection, list, read a fresh
//! access token, delete. The provider comes back to `/auth/federated/{provider}/callback`, the
//! provider's one registered redirect URI, with the connection intent kept server-side.

#![allow(clippy::result_large_err)]

use crate::api::extract::{Caller, Ctx, Path, needs_user, no_store};
use crate::api::json::StrictJson;
use crate::identity::federation::flow;
use crate::identity::federation::pending::Intent;
use crate::state::AppState;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get};
use axum::{Json, Router};
use http::{HeaderValue, StatusCode, header};
use serde::Deserialize;
use std::sync::Arc;
use utoipa::ToSchema;
use uuid::Uuid;

type S = State<Arc<AppState>>;

/// `/auth/connections…`.
pub fn router() -> Router<Arc<AppState>> {
    Router::new()
        .route("/auth/connections", get(list))
        .route("/auth/connections/{id}", delete(remove).post(connect))
        .route("/auth/connections/{id}/token", get(token))
}

/// Where the browser returns once connected.
#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"return_to": "/settings/connections"}))]
pub(crate) struct ConnectBody {
    #[serde(default)]
    return_to: String,
}

/// Starts connecting a provider for the caller (state and PKCE S256, the provider's
/// `connection_scopes`): the authorization URL for the browser and the binding cookie.
#[utoipa::path(
    post, path = "/auth/connections/{provider}", tag = "connections",
    params(("provider" = String, Path, description = "The provider's id (`auth.providers[].id`).")),
    request_body = ConnectBody,
    responses(
        (status = 200, description = "`authorization_url`: where the browser goes; the binding cookie is set."),
        (status = 400, description = "return_to is not allowed."),
        (status = 403, description = "The caller is not a Palisade account."),
        (status = 404, description = "No such provider, or it offers no connections."),
        (status = 502, description = "The provider cannot be reached."),
    ),
    security(("bearer" = []), ("api_key" = []), ("session" = [])),
)]
pub(crate) async fn connect(
    State(state): S,
    ctx: Ctx,
    caller: Caller,
    Path(provider): Path<String>,
    StrictJson(body): StrictJson<ConnectBody>,
) -> Response {
    let uid = match needs_user(&caller, &ctx) {
        Ok(u) => u,
        Err(r) => return r,
    };
    match flow::start(
        &state,
        &ctx,
        &provider,
        &body.return_to,
        Intent::Connect(uid),
    )
    .await
    {
        Ok(started) => {
            let mut res =
                Json(serde_json::json!({ "authorization_url": started.location })).into_response();
            if let Ok(v) = HeaderValue::from_str(&started.set_cookie) {
                res.headers_mut().append(header::SET_COOKIE, v);
            }
            no_store(res)
        }
        Err(res) => res,
    }
}

/// The caller's connections (no tokens).
#[utoipa::path(
    get, path = "/auth/connections", tag = "connections",
    responses(
        (status = 200, description = "`connections`: id, provider, scope, expires_at, created_at."),
        (status = 403, description = "The caller is not a Palisade account."),
    ),
    security(("bearer" = []), ("api_key" = []), ("session" = [])),
)]
pub(crate) async fn list(State(state): S, ctx: Ctx, caller: Caller) -> Response {
    let uid = match needs_user(&caller, &ctx) {
        Ok(u) => u,
        Err(r) => return r,
    };
    match state.store.connections_of(uid).await {
        Ok(list) => {
            let items: Vec<_> = list
                .iter()
                .map(|c| {
                    serde_json::json!({
                        "id": c.id, "provider": c.provider, "scope": c.scopes,
                        "expires_at": c.expires_at, "created_at": c.created_at,
                    })
                })
                .collect();
            no_store(Json(serde_json::json!({ "connections": items })).into_response())
        }
        Err(e) => ctx.unavailable(e),
    }
}

/// A fresh access token of a connection (refreshed first when near expiry), for its owner or a
/// service account granted `connections.<provider>.token.read`. Every read is on record.
#[utoipa::path(
    get, path = "/auth/connections/{id}/token", tag = "connections",
    params(("id" = String, Path, description = "The connection's id.")),
    responses(
        (status = 200, description = "`access_token`, `token_type`, `expires_at` (Unix ms), `scope`."),
        (status = 404, description = "No such connection the caller may read."),
        (status = 409, description = "The token expired and cannot be refreshed; connect again."),
        (status = 502, description = "The provider cannot be reached."),
        (status = 503, description = "Another request is refreshing it; see Retry-After."),
    ),
    security(("bearer" = []), ("api_key" = []), ("session" = [])),
)]
pub(crate) async fn token(
    State(state): S,
    ctx: Ctx,
    caller: Caller,
    Path(id): Path<String>,
) -> Response {
    let Ok(id) = id.parse::<Uuid>() else {
        return ctx.problem(StatusCode::NOT_FOUND, "not-found", "No such connection.");
    };
    match super::token(&state, &ctx, &caller.0, id).await {
        Ok(body) => no_store(Json(body).into_response()),
        Err(res) => res,
    }
}

/// Deletes one of the caller's connections (its tokens with it).
#[utoipa::path(
    delete, path = "/auth/connections/{id}", tag = "connections",
    params(("id" = String, Path, description = "The connection's id.")),
    responses(
        (status = 204, description = "Deleted."),
        (status = 404, description = "The caller has no such connection."),
    ),
    security(("bearer" = []), ("api_key" = []), ("session" = [])),
)]
pub(crate) async fn remove(
    State(state): S,
    ctx: Ctx,
    caller: Caller,
    Path(id): Path<String>,
) -> Response {
    let uid = match needs_user(&caller, &ctx) {
        Ok(u) => u,
        Err(r) => return r,
    };
    let Ok(id) = id.parse::<Uuid>() else {
        return ctx.problem(StatusCode::NOT_FOUND, "not-found", "No such connection.");
    };
    super::revoke(&state, &ctx, uid, caller.0.subject.clone(), id).await
}
