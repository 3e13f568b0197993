//! The authenticator page (`/auth/pages/totp`) of a signed-in account: its TOTP authenticators
//! (with a remove button each) and a form that adds one. Adding shows the QR code (the SVG
//! markup embedded in the page, which the page CSP allows, unlike a `data:` image) and the
//! secret for manual entry, then takes the first code; the account's first authenticator also
//! shows its ten recovery codes, once. Every action calls the use case `/auth/mfa/totp*` calls
//! (names, limits, `mfa.*` events) under the same rule: an account that has a second factor
//! changes its factors only from an `aal2` session. Access and CSRF: [`super::session_form`].

#![allow(clippy::result_large_err)]

use super::session_form::{malformed_form, page_session, signed_in_form};
use super::{page, render::render, see_other};
use crate::api::extract::{Caller, Ctx};
use crate::api::mfa::{needs_aal2_if_enrolled, own_account};
use crate::identity::FormSession;
use crate::identity::mfa::MfaRefused;
use crate::state::AppState;
use axum::extract::State;
use axum::response::Response;
use axum::routing::get;
use axum::{Extension, Router};
use bytes::Bytes;
use http::{StatusCode, Uri};
use palisade_core::principal::Principal;
use palisade_store::identity::UserRecord;
use serde::Deserialize;
use std::sync::Arc;
use uuid::Uuid;

type S = State<Arc<AppState>>;

/// `/auth/pages/totp`.
pub fn router() -> Router<Arc<AppState>> {
    Router::new().route("/auth/pages/totp", get(totp_page).post(totp_form))
}

/// The form's fields: `action` is `add` (with `name`), `confirm` (with `id` and `code`) or
/// `remove` (with `id`).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TotpForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    action: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    id: String,
    #[serde(default)]
    code: String,
}

/// The message an `aal2`-only action shows below `aal2`.
const NEEDS_AAL2: &str = "Changing the second factors of this account needs a sign-in with \
    one of them: sign out, then sign in again with your authenticator.";

async fn list_html(
    state: &AppState,
    ctx: &Ctx,
    user: &UserRecord,
    csrf_token: &str,
    status: StatusCode,
    error: Option<&str>,
) -> Response {
    let list = match state.identity.totp_list(user.id).await {
        Ok(l) => l,
        Err(e) => return ctx.unavailable(e),
    };
    let items: Vec<_> = list
        .iter()
        .map(|t| {
            minijinja::context! {
                id => t.id.to_string(), name => &t.name, confirmed => t.confirmed_at.is_some(),
            }
        })
        .collect();
    page(
        status,
        render(
            "totp.html",
            minijinja::context! { items => items, csrf_token => csrf_token, error => error },
        ),
    )
}

fn message(status: StatusCode, csrf_token: &str, title: &str, text: &str) -> Response {
    page(
        status,
        render(
            "message.html",
            minijinja::context! {
                csrf_token => csrf_token, title => title, text => text,
                codes => Vec::<String>::new(), back => "totp",
            },
        ),
    )
}

/// The authenticator page.
#[utoipa::path(
    get, path = "/auth/pages/totp", tag = "pages",
    responses(
        (status = 200, description = "The authenticator page (HTML).", content_type = "text/html"),
        (status = 303, description = "Not signed in with the cookie: to the sign-in page."),
    ),
)]
async fn totp_page(
    State(state): S,
    ctx: Ctx,
    uri: Uri,
    caller: Option<Extension<Arc<Principal>>>,
) -> Response {
    let (caller, csrf_token) = match page_session(&state, caller, &uri) {
        Ok(c) => c,
        Err(res) => return res,
    };
    match own_account(&state, &ctx, &caller).await {
        Ok(user) => list_html(&state, &ctx, &user, &csrf_token, StatusCode::OK, None).await,
        Err(res) => res,
    }
}

/// Adds, confirms or removes an authenticator.
#[utoipa::path(
    post, path = "/auth/pages/totp", tag = "pages",
    request_body(content_type = "application/x-www-form-urlencoded", description = "`csrf_token` (the session's), `action` (`add` with `name`, `confirm` with `id` and `code`, `remove` with `id`)."),
    responses(
        (status = 200, description = "The new authenticator's QR code and secret, or its confirmation (with the recovery codes of a first factor)."),
        (status = 303, description = "Removed (back to the list), or not signed in (to the sign-in page)."),
        (status = 400, description = "The form is malformed."),
        (status = 401, description = "The page with the reason: the session is not aal2 and the account has a second factor."),
        (status = 403, description = "The form's csrf_token is not this session's."),
        (status = 404, description = "The page with the reason: no such authenticator."),
        (status = 422, description = "The page with the reason: a bad name or code."),
    ),
)]
async fn totp_form(
    State(state): S,
    ctx: Ctx,
    uri: Uri,
    caller: Option<Extension<Arc<Principal>>>,
    form_session_ext: Option<Extension<FormSession>>,
    body: Bytes,
) -> Response {
    let (form, caller, csrf_token) =
        match signed_in_form::<TotpForm>(&state, &ctx, caller, form_session_ext, &uri, &body, |f| {
            &f.csrf_token
        }) {
            Ok(read) => read,
            Err(res) => return res,
        };
    let user = match own_account(&state, &ctx, &caller).await {
        Ok(u) => u,
        Err(res) => return res,
    };
    match form.action.as_str() {
        "add" => add(&state, &ctx, &caller, &user, &csrf_token, &form.name).await,
        "confirm" => confirm(&state, &ctx, &user, &csrf_token, &form.id, &form.code).await,
        "remove" => remove(&state, &ctx, &caller, &user, &csrf_token, &form.id).await,
        _ => malformed_form(&state, &ctx),
    }
}

async fn add(
    state: &AppState,
    ctx: &Ctx,
    caller: &Caller,
    user: &UserRecord,
    csrf_token: &str,
    name: &str,
) -> Response {
    if needs_aal2_if_enrolled(state, ctx, caller, user)
        .await
        .is_err()
    {
        return message(
            StatusCode::UNAUTHORIZED,
            csrf_token,
            "Sign in again",
            NEEDS_AAL2,
        );
    }
    match state
        .identity
        .totp_enroll(&state.keyring, user, name, &ctx.origin)
        .await
    {
        Ok(e) => page(
            StatusCode::OK,
            render(
                "totp_enroll.html",
                minijinja::context! {
                    csrf_token => csrf_token, id => e.id.to_string(), name => e.name,
                    qr_svg => svg_element(&e.qr_svg), secret => e.secret, error => None::<&str>,
                },
            ),
        ),
        Err(e) => refused_list(state, ctx, user, csrf_token, e).await,
    }
}

async fn confirm(
    state: &AppState,
    ctx: &Ctx,
    user: &UserRecord,
    csrf_token: &str,
    id: &str,
    code: &str,
) -> Response {
    let Ok(credential) = id.parse::<Uuid>() else {
        return refused_list(state, ctx, user, csrf_token, MfaRefused::NotFound).await;
    };
    match state
        .identity
        .totp_confirm(&state.keyring, user, credential, code.trim(), &ctx.origin)
        .await
    {
        Ok(codes) => page(
            StatusCode::OK,
            render(
                "message.html",
                minijinja::context! {
                    csrf_token => csrf_token, title => "Authenticator added",
                    text => "Your authenticator is confirmed; sign-ins now ask for its code.",
                    codes => codes.unwrap_or_default(), back => "totp",
                },
            ),
        ),
        Err(MfaRefused::WrongCode) => {
            let name = state
                .identity
                .totp_list(user.id)
                .await
                .ok()
                .and_then(|l| l.into_iter().find(|t| t.id == credential))
                .map(|t| t.name)
                .unwrap_or_default();
            page(
                StatusCode::UNPROCESSABLE_ENTITY,
                render(
                    "totp_enroll.html",
                    minijinja::context! {
                        csrf_token => csrf_token, id => credential.to_string(), name => name,
                        qr_svg => "", secret => "",
                        error => "The code is not valid; enter the current code of the authenticator.",
                    },
                ),
            )
        }
        Err(e) => refused_list(state, ctx, user, csrf_token, e).await,
    }
}

async fn remove(
    state: &AppState,
    ctx: &Ctx,
    caller: &Caller,
    user: &UserRecord,
    csrf_token: &str,
    id: &str,
) -> Response {
    if needs_aal2_if_enrolled(state, ctx, caller, user)
        .await
        .is_err()
    {
        return message(
            StatusCode::UNAUTHORIZED,
            csrf_token,
            "Sign in again",
            NEEDS_AAL2,
        );
    }
    let Ok(credential) = id.parse::<Uuid>() else {
        return refused_list(state, ctx, user, csrf_token, MfaRefused::NotFound).await;
    };
    match state
        .identity
        .totp_remove(user, credential, &ctx.origin)
        .await
    {
        Ok(true) => see_other("totp"),
        Ok(false) => refused_list(state, ctx, user, csrf_token, MfaRefused::NotFound).await,
        Err(e) => ctx.unavailable(e),
    }
}

/// The list again with the refusal's reason, under the API's status for it.
async fn refused_list(
    state: &AppState,
    ctx: &Ctx,
    user: &UserRecord,
    csrf_token: &str,
    e: MfaRefused,
) -> Response {
    let (status, text) = match &e {
        MfaRefused::Invalid(_, detail) => (StatusCode::UNPROCESSABLE_ENTITY, detail.to_string()),
        MfaRefused::NotFound => (
            StatusCode::NOT_FOUND,
            "No such authenticator on this account.".to_owned(),
        ),
        MfaRefused::WrongCode => (
            StatusCode::UNPROCESSABLE_ENTITY,
            "The code is not valid.".to_owned(),
        ),
        MfaRefused::Unreadable => return ctx.unavailable("a TOTP seed cannot be decrypted"),
        MfaRefused::Store(err) => return ctx.unavailable(err),
    };
    list_html(state, ctx, user, csrf_token, status, Some(&text)).await
}

/// The `<svg>` element of the renderer's standalone document (its XML prolog dropped), for
/// embedding in the page.
fn svg_element(document: &str) -> minijinja::Value {
    let start = document.find("<svg").unwrap_or(document.len());
    minijinja::Value::from_safe_string(document[start..].to_owned())
}
