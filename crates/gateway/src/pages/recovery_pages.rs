//! The recovery-codes page (`/auth/pages/recovery-codes`) of a signed-in account: how many
//! codes are left, and a form that makes a new set of ten, shown once with a warning; the old
//! set stops working. Same use case and rules as `POST /auth/mfa/recovery-codes` (a second
//! factor to recover, an `aal2` session, `mfa.recovery_regenerated` on record). Access and
//! CSRF: [`super::session_form`].

use super::session_form::{page_session, signed_in_form};
use super::{page, render::render};
use crate::api::extract::Ctx;
use crate::api::mfa::{needs_aal2_if_enrolled, own_account};
use crate::identity::FormSession;
use crate::state::AppState;
use axum::extract::State;
use axum::response::Response;
use axum::routing::get;
use axum::{Extension, Router};
use bytes::Bytes;
use http::{StatusCode, Uri};
use palisade_core::principal::Principal;
use serde::Deserialize;
use std::sync::Arc;

type S = State<Arc<AppState>>;

/// `/auth/pages/recovery-codes`.
pub fn router() -> Router<Arc<AppState>> {
    Router::new().route(
        "/auth/pages/recovery-codes",
        get(recovery_page).post(recovery_form),
    )
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RecoveryForm {
    #[serde(default)]
    csrf_token: String,
}

fn message(
    status: StatusCode,
    csrf_token: &str,
    title: &str,
    text: &str,
    codes: Vec<String>,
) -> Response {
    page(
        status,
        render(
            "message.html",
            minijinja::context! {
                csrf_token => csrf_token, title => title, text => text, codes => codes,
                back => "totp",
            },
        ),
    )
}

/// The recovery-codes page.
#[utoipa::path(
    get, path = "/auth/pages/recovery-codes", tag = "pages",
    responses(
        (status = 200, description = "The recovery-codes page (HTML).", content_type = "text/html"),
        (status = 303, description = "Not signed in with the cookie: to the sign-in page."),
    ),
)]
async fn recovery_page(
    State(state): S,
    ctx: Ctx,
    uri: Uri,
    caller: Option<Extension<Arc<Principal>>>,
) -> Response {
    let (caller, csrf_token) = match page_session(&state, caller, &uri) {
        Ok(c) => c,
        Err(res) => return res,
    };
    let user = match own_account(&state, &ctx, &caller).await {
        Ok(u) => u,
        Err(res) => return res,
    };
    let id = &state.identity;
    let (enrolled, remaining) = match (
        id.mfa_methods(user.id).await,
        id.store.recovery_remaining(user.id).await,
    ) {
        (Ok(m), Ok(n)) => (!m.is_empty(), n),
        (Err(e), _) | (_, Err(e)) => return ctx.unavailable(e),
    };
    page(
        StatusCode::OK,
        render(
            "recovery.html",
            minijinja::context! {
                csrf_token => csrf_token, enrolled => enrolled, remaining => remaining,
            },
        ),
    )
}

/// Makes a new set of recovery codes.
#[utoipa::path(
    post, path = "/auth/pages/recovery-codes", tag = "pages",
    request_body(content_type = "application/x-www-form-urlencoded", description = "`csrf_token` (the session's)."),
    responses(
        (status = 200, description = "The new codes, shown once (HTML).", content_type = "text/html"),
        (status = 303, description = "Not signed in with the cookie: to the sign-in page."),
        (status = 400, description = "The form is malformed."),
        (status = 401, description = "The page with the reason: the session is not aal2."),
        (status = 403, description = "The form's csrf_token is not this session's."),
        (status = 409, description = "The page with the reason: the account has no second factor."),
    ),
)]
async fn recovery_form(
    State(state): S,
    ctx: Ctx,
    uri: Uri,
    caller: Option<Extension<Arc<Principal>>>,
    form_session_ext: Option<Extension<FormSession>>,
    body: Bytes,
) -> Response {
    let (_form, caller, csrf_token) = match signed_in_form::<RecoveryForm>(
        &state,
        &ctx,
        caller,
        form_session_ext,
        &uri,
        &body,
        |f| &f.csrf_token,
    ) {
        Ok(read) => read,
        Err(res) => return res,
    };
    let user = match own_account(&state, &ctx, &caller).await {
        Ok(u) => u,
        Err(res) => return res,
    };
    let id = &state.identity;
    match id.mfa_methods(user.id).await {
        Ok(m) if m.is_empty() => {
            return message(
                StatusCode::CONFLICT,
                &csrf_token,
                "No second factor",
                "Add an authenticator app first; its confirmation gives you recovery codes.",
                Vec::new(),
            );
        }
        Ok(_) => {}
        Err(e) => return ctx.unavailable(e),
    }
    if needs_aal2_if_enrolled(&state, &ctx, &caller, &user)
        .await
        .is_err()
    {
        return message(
            StatusCode::UNAUTHORIZED,
            &csrf_token,
            "Sign in again",
            "New recovery codes need a sign-in with your second factor: sign out, then sign in \
             again with your authenticator.",
            Vec::new(),
        );
    }
    match id.recovery_regenerate(&user, &ctx.origin).await {
        Ok(codes) => message(
            StatusCode::OK,
            &csrf_token,
            "New recovery codes",
            "Your previous recovery codes no longer work.",
            codes,
        ),
        Err(e) => ctx.unavailable(e),
    }
}
