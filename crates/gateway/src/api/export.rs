//! A person's data export (GDPR access and portability): `GET /auth/me/export` for the signed-in
//! person (a sign-in at most `auth.mfa.recent_auth` old, and `aal2` once the account has a
//! second factor) and `GET /admin/users/{id}/export` (`admin.users.export`). Both stream the
//! document [`crate::identity::manage::UserExport`] builds, as an attachment that is never
//! cached.

use crate::api::admin::perm;
use crate::api::extract::{Caller, Ctx, require, store_err};
use crate::api::mfa::{needs_aal2_if_enrolled, own_account};
use crate::identity::manage::{Refused, UserExport};
use crate::state::AppState;
use axum::Router;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::response::Response;
use axum::routing::get;
use http::{HeaderValue, StatusCode, header};
use std::sync::Arc;
use uuid::Uuid;

type S = State<Arc<AppState>>;

/// `/auth/me/export`, `/admin/users/{id}/export`.
pub fn router() -> Router<Arc<AppState>> {
    Router::new()
        .route("/auth/me/export", get(own_export))
        .route("/admin/users/{id}/export", get(admin_export))
}

/// Everything Palisade holds about the caller, as one JSON document (profile, sessions with
/// device data, API key metadata, memberships and grants, federated identities, second-factor
/// metadata, connections, and the audit events by or about the caller with other people's data
/// redacted). Recorded as `data.exported`.
#[utoipa::path(
    get, path = "/auth/me/export", tag = "auth",
    responses(
        (status = 200, description = "The document (`format`: `palisade.user-export.v1`), streamed.", content_type = "application/json"),
        (status = 401, description = "The sign-in is older than `auth.mfa.recent_auth`, or the account has a second factor and the session is not `aal2` (RFC 9470 challenge)."),
        (status = 403, description = "Not a signed-in Palisade account (an API key cannot export)."),
    ),
    security(("bearer" = []), ("session" = [])),
)]
async fn own_export(State(state): S, ctx: Ctx, caller: Caller) -> Response {
    let user = match own_account(&state, &ctx, &caller).await {
        Ok(u) => u,
        Err(r) => return r,
    };
    if let Err(r) = needs_aal2_if_enrolled(&state, &ctx, &caller, &user).await {
        return r;
    }
    let export = state.identity.export_user(user.id, &ctx.by(&caller)).await;
    respond(&ctx, export)
}

/// Everything Palisade holds about one account, as `GET /auth/me/export` gives it to the
/// account itself. Recorded as `data.exported`.
#[utoipa::path(
    get, path = "/admin/users/{id}/export", tag = "admin",
    params(("id" = String, Path, description = "The account id.")),
    responses(
        (status = 200, description = "The document (`format`: `palisade.user-export.v1`), streamed.", content_type = "application/json"),
        (status = 403, description = "The caller lacks `admin.users.export`."),
        (status = 404, description = "No such account."),
    ),
    security(("bearer" = []), ("api_key" = []), ("session" = [])),
)]
async fn admin_export(
    State(state): S,
    ctx: Ctx,
    caller: Caller,
    Path(id): Path<String>,
) -> Response {
    if let Err(r) = require(&state, &caller, &ctx, perm::USERS_EXPORT) {
        return r;
    }
    let Ok(id) = id.parse::<Uuid>() else {
        return not_found(&ctx);
    };
    let export = state.identity.export_user(id, &ctx.by(&caller)).await;
    respond(&ctx, export)
}

fn not_found(ctx: &Ctx) -> Response {
    ctx.problem(StatusCode::NOT_FOUND, "not-found", "No such account.")
}

fn respond(ctx: &Ctx, export: Result<Option<UserExport>, Refused>) -> Response {
    let export = match export {
        Ok(Some(e)) => e,
        Ok(None) => return not_found(ctx),
        Err(Refused::Store(e)) => return store_err(ctx)(e),
        Err(e) => return ctx.unavailable(e),
    };
    let mut res = Response::new(Body::from_stream(export.into_stream()));
    let headers = res.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_static("attachment; filename=\"palisade-export.json\""),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}
