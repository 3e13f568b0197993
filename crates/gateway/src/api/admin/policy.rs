//! The policy part of `/admin`: the compiled roles (`GET /admin/roles`, read-only), the decision
//! for a request described by hand (`GET /admin/policy/explain`, the same route decision and
//! policy a live request gets) and a configuration reload (`POST /admin/config/reload`).

use super::perm;
use crate::api::extract::{Caller, Ctx, require};
use crate::api::openapi::schemas;
use crate::state::AppState;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use http::StatusCode;
use serde::Deserialize;
use std::sync::Arc;
use utoipa::IntoParams;

type S = State<Arc<AppState>>;

/// `/admin/roles`, `/admin/policy/explain`, `/admin/config/reload`.
pub fn router() -> Router<Arc<AppState>> {
    Router::new()
        .route("/admin/roles", get(roles))
        .route("/admin/policy/explain", get(explain))
        .route("/admin/config/reload", post(reload))
}

/// The compiled roles.
#[utoipa::path(
    get, path = "/admin/roles", tag = "admin", operation_id = "list_roles",
    responses(
        (status = 200, description = "The roles.", body = schemas::RoleList),
        (status = 403, description = "`admin.roles.read` is not granted."),
    ),
    security(("bearer" = []), ("api_key" = []), ("session" = [])),
)]
async fn roles(State(state): S, ctx: Ctx, caller: Caller) -> Response {
    if let Err(r) = require(&state, &caller, &ctx, perm::ROLES_READ) {
        return r;
    }
    Json(state.authz.roles_json()).into_response()
}

/// The request to explain.
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct ExplainQuery {
    /// An account's e-mail or an API key's id.
    #[serde(rename = "as")]
    #[param(example = "member@example.com")]
    who: String,
    /// The request's method.
    #[param(example = "GET")]
    method: String,
    /// The request's path.
    #[param(example = "/demo/")]
    path: String,
    /// The request's host, for routes that name one.
    host: Option<String>,
}

/// `GET /admin/policy/explain?as=EMAIL|KEY_ID&method=GET&path=/graphs/g1/nodes`: the decision
/// and the rule and grant that made it.
#[utoipa::path(
    get, path = "/admin/policy/explain", tag = "admin", operation_id = "explain_policy",
    params(ExplainQuery),
    responses(
        (status = 200, description = "The decision.", body = schemas::Explanation),
        (status = 400, description = "as, method and path are needed."),
        (status = 403, description = "`admin.policy.read` is not granted."),
        (status = 404, description = "No such account or key."),
    ),
    security(("bearer" = []), ("api_key" = []), ("session" = [])),
)]
async fn explain(
    State(state): S,
    ctx: Ctx,
    caller: Caller,
    query: Result<axum::extract::Query<ExplainQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    if let Err(r) = require(&state, &caller, &ctx, perm::POLICY_READ) {
        return r;
    }
    let Ok(axum::extract::Query(q)) = query else {
        return ctx.problem(
            StatusCode::BAD_REQUEST,
            "invalid-query",
            "Give as (an e-mail or API key id), method and path.",
        );
    };
    match explain_for(&state, &q.who, &q.method, &q.path, q.host.as_deref()).await {
        Ok(Some(decision)) => Json(decision).into_response(),
        Ok(None) => ctx.problem(
            StatusCode::NOT_FOUND,
            "not-found",
            "No such account or key.",
        ),
        Err(e) => ctx.unavailable(e),
    }
}

/// How the policy would decide `method path` (on `host`) for `who` (an e-mail or an API key
/// id), with the rule and grant that decide; `None` when there is no such account or key.
/// `GET /admin/policy/explain` and the console's explain tool.
pub(crate) async fn explain_for(
    state: &AppState,
    who: &str,
    method: &str,
    path: &str,
    host: Option<&str>,
) -> Result<Option<serde_json::Value>, palisade_store::StoreError> {
    let Some(principal) = crate::authz::principal_for(state.store.as_ref(), who).await? else {
        return Ok(None);
    };
    let decision = state.authz.explain(
        &state.routes,
        &state.config.server.path_policy(),
        host,
        &method.to_ascii_uppercase(),
        path,
        Some(&principal),
    );
    Ok(Some(crate::authz::decision_json(&decision)))
}

/// `POST /admin/config/reload`: new roles and route policies, or the old ones kept and why.
#[utoipa::path(
    post, path = "/admin/config/reload", tag = "admin", operation_id = "reload_config",
    responses(
        (status = 200, description = "The new roles and route policies are in force.", body = schemas::Reloaded),
        (status = 403, description = "`admin.config.write` is not granted."),
        (status = 422, description = "The new configuration has problems (`problems`); the running policy is unchanged."),
    ),
    security(("bearer" = []), ("api_key" = []), ("session" = [])),
)]
async fn reload(State(state): S, ctx: Ctx, caller: Caller) -> Response {
    if let Err(r) = require(&state, &caller, &ctx, perm::CONFIG_WRITE) {
        return r;
    }
    match crate::reload::reload(&state) {
        Ok(()) => {
            Json(serde_json::json!({"status": "reloaded", "applied": "roles and route policies"}))
                .into_response()
        }
        Err(problems) => crate::problem::refuse_with(
            "admin",
            "reload-refused",
            StatusCode::UNPROCESSABLE_ENTITY,
            "The new configuration has problems; the running policy is unchanged.",
            &ctx.id,
            serde_json::json!({ "problems": problems }),
        ),
    }
}
