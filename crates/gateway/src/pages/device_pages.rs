//! The device approval page (`/auth/pages/device`, where `auth.device.verification_uri`
//! points): a signed-in person enters the user code a device shows (or arrives with it from
//! `verification_uri_complete`), sees which client asks and from which address, and approves or
//! denies. Each step calls the use case the approval API calls (`device_lookup`,
//! `device_decide`): wrong codes count toward the per-address and per-account entry limit, and
//! the decision is `auth.device_approved` / `auth.device_denied` on record. Access and CSRF:
//! [`super::session_form`].

use super::session_form::{malformed_form, page_session, signed_in_form};
use super::sign_in::page_refused;
use super::{page, render::render};
use crate::api::extract::Ctx;
use crate::identity::FormSession;
use crate::identity::device::{DeviceRequest, EntryError};
use crate::state::AppState;
use axum::extract::{RawQuery, State};
use axum::response::Response;
use axum::routing::get;
use axum::{Extension, Router};
use bytes::Bytes;
use http::{HeaderValue, StatusCode, Uri, header};
use palisade_core::principal::Principal;
use serde::Deserialize;
use std::sync::Arc;

type S = State<Arc<AppState>>;

/// `/auth/pages/device`.
pub fn router() -> Router<Arc<AppState>> {
    Router::new().route("/auth/pages/device", get(device_page).post(device_form))
}

#[derive(Deserialize, Default)]
struct Query {
    #[serde(default)]
    user_code: String,
}

/// The form's fields: `action` is `lookup`, `approve` or `deny`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DeviceForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    action: String,
    #[serde(default)]
    user_code: String,
}

fn entry_html(
    status: StatusCode,
    csrf_token: &str,
    user_code: &str,
    error: Option<&str>,
) -> Response {
    page(
        status,
        render(
            "device.html",
            minijinja::context! { csrf_token => csrf_token, user_code => user_code, error => error },
        ),
    )
}

fn request_ctx(r: &DeviceRequest) -> minijinja::Value {
    minijinja::context! {
        client_id => &r.client_id, requested_from => &r.requested_from,
        minutes_left => (r.expires_in.max(0) + 59) / 60,
    }
}

/// The device approval page: the user-code form.
#[utoipa::path(
    get, path = "/auth/pages/device", tag = "pages",
    params(("user_code" = Option<String>, Query, description = "The code the device shows (from `verification_uri_complete`), filled in.")),
    responses(
        (status = 200, description = "The device approval page (HTML).", content_type = "text/html"),
        (status = 303, description = "Not signed in with the cookie: to the sign-in page, which comes back here."),
    ),
)]
async fn device_page(
    State(state): S,
    uri: Uri,
    caller: Option<Extension<Arc<Principal>>>,
    RawQuery(query): RawQuery,
) -> Response {
    let (_, csrf_token) = match page_session(&state, caller, &uri) {
        Ok(c) => c,
        Err(res) => return res,
    };
    let q: Query = serde_urlencoded::from_str(query.as_deref().unwrap_or("")).unwrap_or_default();
    let code: String = q.user_code.chars().take(32).collect();
    entry_html(StatusCode::OK, &csrf_token, &code, None)
}

/// Looks a user code up, then approves or denies its device.
#[utoipa::path(
    post, path = "/auth/pages/device", tag = "pages",
    request_body(content_type = "application/x-www-form-urlencoded", description = "`csrf_token` (the session's), `user_code`, `action` (`lookup`, `approve` or `deny`)."),
    responses(
        (status = 200, description = "The request (client and address) with approve and deny buttons, or the decision (HTML).", content_type = "text/html"),
        (status = 303, description = "Not signed in with the cookie: to the sign-in page."),
        (status = 400, description = "The form is malformed."),
        (status = 403, description = "The form's csrf_token is not this session's."),
        (status = 404, description = "The page with the reason: no pending request has this code (a wrong entry)."),
        (status = 409, description = "The page with the reason: already approved or denied."),
        (status = 429, description = "The page with the reason: too many wrong codes; see Retry-After."),
    ),
)]
async fn device_form(
    State(state): S,
    ctx: Ctx,
    uri: Uri,
    caller: Option<Extension<Arc<Principal>>>,
    form_session_ext: Option<Extension<FormSession>>,
    body: Bytes,
) -> Response {
    let (form, caller, csrf_token) = match signed_in_form::<DeviceForm>(
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
    let Some(user) = caller.0.account else {
        return page_refused(
            &state,
            &ctx,
            StatusCode::FORBIDDEN,
            "not-a-palisade-account",
            "Only Palisade accounts approve devices.",
        );
    };
    let id = &state.identity;
    let approver = caller.0.assurance.as_ref();
    let code = form.user_code.as_str();
    let outcome = match form.action.as_str() {
        "lookup" => id
            .device_lookup(code, user, ctx.ip, &ctx.origin)
            .await
            .map(|r| ("pending", r)),
        "approve" => id
            .device_decide(code, true, user, approver, ctx.ip, &ctx.origin)
            .await
            .map(|r| ("approved", r)),
        "deny" => id
            .device_decide(code, false, user, approver, ctx.ip, &ctx.origin)
            .await
            .map(|r| ("denied", r)),
        _ => return malformed_form(&state, &ctx),
    };
    let shown: String = code.chars().take(32).collect();
    match outcome {
        Ok((status, r)) => page(
            StatusCode::OK,
            render(
                "device_confirm.html",
                minijinja::context! {
                    csrf_token => csrf_token, user_code => shown, status => status,
                    request => request_ctx(&r),
                    session_days => id.config.session_lifetime.0.as_secs().div_ceil(86_400),
                },
            ),
        ),
        Err(EntryError::Invalid) => entry_html(
            StatusCode::NOT_FOUND,
            &csrf_token,
            &shown,
            Some(
                "No pending device sign-in has this code; check it, or start again on the device.",
            ),
        ),
        Err(EntryError::Decided) => entry_html(
            StatusCode::CONFLICT,
            &csrf_token,
            "",
            Some("This device sign-in was already approved or denied."),
        ),
        Err(EntryError::TooMany(wait)) => {
            let secs = wait.as_secs_f64().ceil().max(1.0) as u64;
            let mut res = entry_html(
                StatusCode::TOO_MANY_REQUESTS,
                &csrf_token,
                "",
                Some("Too many wrong codes; wait a while and try again."),
            );
            res.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
            res
        }
        Err(EntryError::Store(e)) => ctx.unavailable(e),
    }
}
