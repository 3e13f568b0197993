//! The passkey API under `/auth/passkeys` (JSON; the hosted pages' script drives it): a
//! signed-in account registers, lists and deletes its passkeys; anyone starts and finishes a
//! passwordless sign-in, which opens the browser session. Handlers are thin: the rules and the
//! audit events are the use cases in [`super`].

#![allow(clippy::result_large_err)]

use crate::api::extract::{Caller, Ctx, Path, needs_signed_in_user, needs_user, no_store};
use crate::api::json::StrictJson;
use crate::api::mfa::factor_changer;
use crate::api::sessions::open_browser_session;
use crate::identity::sessions::ClientInfo;
use crate::pages::sign_in::checked_return_to;
use crate::state::AppState;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use http::{HeaderMap, StatusCode};
use palisade_core::mfa::assurance::Assurance;
use serde::Deserialize;
use std::sync::Arc;
use utoipa::ToSchema;
use uuid::Uuid;
use webauthn_rs::prelude::{PublicKeyCredential, RegisterPublicKeyCredential};

type S = State<Arc<AppState>>;

/// `/auth/passkeys…`.
pub fn router() -> Router<Arc<AppState>> {
    Router::new()
        .route("/auth/passkeys", get(list))
        .route("/auth/passkeys/{id}", delete(remove))
        .route("/auth/passkeys/register/start", post(register_start))
        .route("/auth/passkeys/register/finish", post(register_finish))
        .route("/auth/passkeys/sign-in/start", post(sign_in_start))
        .route("/auth/passkeys/sign-in/finish", post(sign_in_finish))
}

/// A new passkey's name.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "Laptop"}))]
struct RegisterStartBody {
    #[serde(default)]
    name: Option<String>,
}

/// The authenticator's answer to a ceremony.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct RegisterFinishBody {
    /// The id `…/start` answered.
    ceremony: String,
    /// The `PublicKeyCredential` from `navigator.credentials.create`, binary fields base64url.
    #[schema(value_type = Object)]
    credential: RegisterPublicKeyCredential,
}

/// The authenticator's answer to a sign-in.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct SignInFinishBody {
    /// The id `…/start` answered.
    ceremony: String,
    /// The `PublicKeyCredential` from `navigator.credentials.get`, binary fields base64url.
    #[schema(value_type = Object)]
    credential: PublicKeyCredential,
    /// Where the page goes next: a path here or an allow-listed origin.
    #[serde(default)]
    return_to: String,
}

/// The caller's passkeys.
#[utoipa::path(
    get, path = "/auth/passkeys", tag = "passkeys",
    responses(
        (status = 200, description = "The caller's passkeys: id, name, created_at, last_used_at."),
        (status = 403, description = "The caller is not a Palisade account."),
    ),
    security(("bearer" = []), ("session" = [])),
)]
async fn list(State(state): S, ctx: Ctx, caller: Caller) -> Response {
    let uid = match needs_user(&caller, &ctx) {
        Ok(u) => u,
        Err(r) => return r,
    };
    match state.store.passkeys_for_user(uid).await {
        Ok(list) => {
            let items: Vec<_> = list
                .iter()
                .map(|p| {
                    serde_json::json!({
                        "id": p.id, "name": p.name, "created_at": p.created_at,
                        "last_used_at": p.last_used_at,
                    })
                })
                .collect();
            no_store(Json(serde_json::json!({ "passkeys": items })).into_response())
        }
        Err(e) => ctx.unavailable(e),
    }
}

/// Deletes one of the caller's passkeys.
#[utoipa::path(
    delete, path = "/auth/passkeys/{id}", tag = "passkeys",
    params(("id" = String, Path, description = "The passkey's id.")),
    responses(
        (status = 204, description = "Deleted."),
        (status = 404, description = "The caller has no such passkey."),
    ),
    security(("bearer" = []), ("session" = [])),
)]
async fn remove(State(state): S, ctx: Ctx, caller: Caller, Path(id): Path<String>) -> Response {
    let uid = match factor_changer(&state, &ctx, &caller).await {
        Ok(u) => u,
        Err(r) => return r,
    };
    let not_found = || ctx.problem(StatusCode::NOT_FOUND, "not-found", "No such passkey.");
    let Ok(pid) = id.parse::<Uuid>() else {
        return not_found();
    };
    match super::delete(&state, &ctx, uid, caller.0.subject.clone(), pid).await {
        Ok(true) => StatusCode::NO_CONTENT.into_response(),
        Ok(false) => not_found(),
        Err(res) => res,
    }
}

/// Starts adding a passkey to the caller's account.
#[utoipa::path(
    post, path = "/auth/passkeys/register/start", tag = "passkeys",
    request_body = RegisterStartBody,
    responses(
        (status = 200, description = "`ceremony` and the WebAuthn creation `options` (binary fields base64url)."),
        (status = 403, description = "The caller is not a Palisade account."),
        (status = 404, description = "Passkeys are not configured."),
        (status = 422, description = "The name is empty or longer than 64 characters."),
    ),
    security(("bearer" = []), ("session" = [])),
)]
async fn register_start(
    State(state): S,
    ctx: Ctx,
    caller: Caller,
    StrictJson(body): StrictJson<RegisterStartBody>,
) -> Response {
    let uid = match factor_changer(&state, &ctx, &caller).await {
        Ok(u) => u,
        Err(r) => return r,
    };
    let name = body
        .name
        .unwrap_or_else(|| "Passkey".into())
        .trim()
        .to_owned();
    if name.is_empty() || name.chars().count() > 64 || name.chars().any(char::is_control) {
        return ctx.problem(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid-name",
            "A passkey's name is 1 to 64 printable characters.",
        );
    }
    let user = match state.store.user_by_id(uid).await {
        Ok(Some(u)) if !u.disabled => u,
        Ok(_) => {
            return ctx.problem(
                StatusCode::FORBIDDEN,
                "not-a-user",
                "Only an active Palisade account can add a passkey.",
            );
        }
        Err(e) => return ctx.unavailable(e),
    };
    match super::start_registration(&state, &ctx, &user, name).await {
        Ok((ceremony, options)) => no_store(
            Json(serde_json::json!({ "ceremony": ceremony, "options": options })).into_response(),
        ),
        Err(res) => res,
    }
}

/// Finishes adding a passkey.
#[utoipa::path(
    post, path = "/auth/passkeys/register/finish", tag = "passkeys",
    request_body = RegisterFinishBody,
    responses(
        (status = 201, description = "The passkey: id and name."),
        (status = 400, description = "The ceremony is unknown, used or expired, or the answer does not verify."),
        (status = 409, description = "This authenticator's passkey is registered already."),
    ),
    security(("bearer" = []), ("session" = [])),
)]
async fn register_finish(
    State(state): S,
    ctx: Ctx,
    caller: Caller,
    StrictJson(body): StrictJson<RegisterFinishBody>,
) -> Response {
    let uid = match needs_signed_in_user(&state, &caller, &ctx) {
        Ok(u) => u,
        Err(r) => return r,
    };
    let actor = caller.0.subject.clone();
    match super::finish_registration(&state, &ctx, uid, actor, &body.ceremony, &body.credential)
        .await
    {
        Ok(p) => (
            StatusCode::CREATED,
            Json(serde_json::json!({ "id": p.id, "name": p.name })),
        )
            .into_response(),
        Err(res) => res,
    }
}

/// Starts a passwordless sign-in with a discoverable passkey.
#[utoipa::path(
    post, path = "/auth/passkeys/sign-in/start", tag = "passkeys",
    responses(
        (status = 200, description = "`ceremony` and the WebAuthn request `options` (binary fields base64url)."),
        (status = 404, description = "Passkeys are not configured."),
    ),
)]
async fn sign_in_start(State(state): S, ctx: Ctx) -> Response {
    match super::start_sign_in(&state, &ctx) {
        Ok((ceremony, options)) => no_store(
            Json(serde_json::json!({ "ceremony": ceremony, "options": options })).into_response(),
        ),
        Err(res) => res,
    }
}

/// Finishes a passwordless sign-in: the browser session cookie, its CSRF token, and where the
/// page goes next.
#[utoipa::path(
    post, path = "/auth/passkeys/sign-in/finish", tag = "passkeys",
    request_body = SignInFinishBody,
    responses(
        (status = 200, description = "Signed in (aal2); the cookie is set. `csrf_token`, `expires_in`, `location`.",
            headers(("set-cookie" = String, description = "The `__Host-palisade` session cookie."))),
        (status = 400, description = "return_to is not allowed."),
        (status = 401, description = "The ceremony is unknown, used or expired, or the assertion does not verify."),
    ),
)]
async fn sign_in_finish(
    State(state): S,
    ctx: Ctx,
    headers: HeaderMap,
    StrictJson(body): StrictJson<SignInFinishBody>,
) -> Response {
    let target = match checked_return_to(&state, &ctx, &body.return_to) {
        Ok(t) => t,
        Err(res) => return res,
    };
    let user = match super::finish_sign_in(&state, &ctx, &body.ceremony, &body.credential).await {
        Ok(u) => u,
        Err(res) => return res,
    };
    let client = ClientInfo::from_headers(&headers);
    let assurance = Assurance::passkey(state.identity.now_ms() / 1000);
    match open_browser_session(&state, &ctx, &user, &client, &assurance).await {
        Ok(opened) => {
            let mut res = Json(serde_json::json!({
                "csrf_token": opened.csrf_token,
                "expires_in": opened.expires_in,
                "location": if target.is_empty() { "signed-in".to_owned() } else { target },
            }))
            .into_response();
            opened.set_on(&mut res);
            no_store(res)
        }
        Err(res) => res,
    }
}
