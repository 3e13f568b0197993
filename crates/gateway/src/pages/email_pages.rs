//! The e-mail pages: `/auth/pages/forgot` (a form asking for the address),
//! `/auth/pages/reset?token=…` (the new-password form a reset mail links to;
//! `auth.email.reset_url` names it) and `/auth/pages/verify?token=…` (a button confirming the
//! address a verification mail went to; `auth.email.verify_url`). Opening a link changes
//! nothing: only the form's POST does, so a mail scanner following links spends no token.
//!
//! Every form is CSRF-checked ([`super::csrf`]) and goes through the same use cases as
//! `POST /auth/password/forgot`, `POST /auth/password/reset` and `POST /auth/email/verify`
//! ([`crate::identity::email`]), so the answers, limits and audit trail are the same: the
//! forgot page shows one "check your mail" page whatever the address; a bad, used or expired
//! token is one message; a refused password shows the policy's reasons and keeps the token.

#![allow(clippy::result_large_err)]

use super::session_form::browser_form;
use super::{csrf, page, render::render};
use crate::api::email::FORGOT_ANSWER;
use crate::api::extract::Ctx;
use crate::identity::email::EmailRefused;
use crate::identity::manage::Refused;
use crate::state::AppState;
use axum::Router;
use axum::extract::{RawQuery, State};
use axum::response::Response;
use axum::routing::get;
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, StatusCode, header};
use serde::Deserialize;
use std::sync::Arc;

type S = State<Arc<AppState>>;

/// `/auth/pages/forgot`, `/auth/pages/reset` and `/auth/pages/verify`.
pub fn router() -> Router<Arc<AppState>> {
    Router::new()
        .route("/auth/pages/forgot", get(forgot_page).post(forgot_form))
        .route("/auth/pages/reset", get(reset_page).post(reset_form))
        .route("/auth/pages/verify", get(verify_page).post(verify_form))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct VerifyForm {
    #[serde(default)]
    form_token: String,
    #[serde(default)]
    token: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ForgotForm {
    #[serde(default)]
    form_token: String,
    #[serde(default)]
    email: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ResetForm {
    #[serde(default)]
    form_token: String,
    #[serde(default)]
    token: String,
    #[serde(default)]
    new_password: String,
}

#[derive(Deserialize, Default)]
struct TokenQuery {
    #[serde(default)]
    token: String,
}

/// What one rendering shows.
#[derive(Default)]
struct View<'a> {
    view: &'static str,
    email: &'a str,
    token: &'a str,
    error: Option<&'a str>,
    violations: Vec<String>,
}

fn html(state: &AppState, headers: &HeaderMap, status: StatusCode, v: View) -> Response {
    let (nonce, set_cookie) = csrf::nonce(headers);
    let body = render(
        "email_pages.html",
        minijinja::context! {
            view => v.view,
            form_token => csrf::token(&state.identity.cookies, &nonce),
            email => v.email,
            token => v.token,
            error => v.error,
            violations => v.violations,
            message => FORGOT_ANSWER,
        },
    );
    let mut res = page(status, body);
    if let Some(v) = set_cookie.and_then(|c| HeaderValue::from_str(&c).ok()) {
        res.headers_mut().append(header::SET_COOKIE, v);
    }
    res
}

/// The status and the sentence a refused flow is shown with.
fn refusal(e: &EmailRefused) -> (StatusCode, &'static str) {
    match e {
        EmailRefused::MailOff => (
            StatusCode::SERVICE_UNAVAILABLE,
            "This service sends no mail; ask an administrator.",
        ),
        EmailRefused::TooMany(_) => (
            StatusCode::TOO_MANY_REQUESTS,
            "Too many requests; wait a while and try again.",
        ),
        EmailRefused::BadToken => (
            StatusCode::BAD_REQUEST,
            "This link is not valid, was used already or has expired; ask for a new one.",
        ),
        EmailRefused::Refused(Refused::Invalid { .. }) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            "The e-mail address is not valid.",
        ),
        EmailRefused::Refused(Refused::WeakPassword(_)) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            "The password does not meet the policy:",
        ),
        _ => (
            StatusCode::SERVICE_UNAVAILABLE,
            "This is not possible right now; try again shortly.",
        ),
    }
}

/// The forgot-password page.
#[utoipa::path(
    get, path = "/auth/pages/forgot", tag = "pages",
    responses((status = 200, description = "The forgot-password form (HTML).", content_type = "text/html")),
)]
async fn forgot_page(State(state): S, headers: HeaderMap) -> Response {
    let view = View {
        view: "forgot",
        ..Default::default()
    };
    html(&state, &headers, StatusCode::OK, view)
}

/// Asks for a reset link from the form; the same page whatever the address.
#[utoipa::path(
    post, path = "/auth/pages/forgot", tag = "pages",
    request_body(content_type = "application/x-www-form-urlencoded", description = "`form_token`, `email`."),
    responses(
        (status = 202, description = "\"Check your mail\" (HTML), whatever the address."),
        (status = 400, description = "The form is malformed."),
        (status = 403, description = "The form token does not match this browser (CSRF)."),
        (status = 422, description = "The form again: the address is not valid."),
        (status = 429, description = "The form again: too many requests from this address."),
        (status = 503, description = "The form again: no mail relay is configured."),
    ),
)]
async fn forgot_form(State(state): S, ctx: Ctx, headers: HeaderMap, body: Bytes) -> Response {
    let form = match browser_form::<ForgotForm>(&state, &ctx, &headers, &body, |f| &f.form_token) {
        Ok(f) => f,
        Err(res) => return res,
    };
    match state
        .identity
        .request_password_reset(&form.email, ctx.ip, &ctx.origin)
        .await
    {
        Ok(()) => {
            let view = View {
                view: "forgot_sent",
                ..Default::default()
            };
            html(&state, &headers, StatusCode::ACCEPTED, view)
        }
        Err(e) => {
            let (status, error) = refusal(&e);
            let view = View {
                view: "forgot",
                email: &form.email,
                error: Some(error),
                ..Default::default()
            };
            html(&state, &headers, status, view)
        }
    }
}

/// The new-password page a reset mail links to.
#[utoipa::path(
    get, path = "/auth/pages/reset", tag = "pages",
    params(("token" = String, Query, description = "The token of the reset mail.")),
    responses((status = 200, description = "The new-password form (HTML).", content_type = "text/html")),
)]
async fn reset_page(State(state): S, headers: HeaderMap, RawQuery(query): RawQuery) -> Response {
    let q: TokenQuery =
        serde_urlencoded::from_str(query.as_deref().unwrap_or("")).unwrap_or_default();
    let view = View {
        view: "reset",
        token: &q.token,
        ..Default::default()
    };
    html(&state, &headers, StatusCode::OK, view)
}

/// Sets the new password from the form.
#[utoipa::path(
    post, path = "/auth/pages/reset", tag = "pages",
    request_body(content_type = "application/x-www-form-urlencoded", description = "`form_token`, `token`, `new_password`."),
    responses(
        (status = 200, description = "\"Password changed\" (HTML); every session was signed out."),
        (status = 400, description = "The form again: the link is not valid, was used or has expired; or the form is malformed."),
        (status = 403, description = "The form token does not match this browser (CSRF)."),
        (status = 422, description = "The form again with the policy's reasons; the link stays usable."),
        (status = 503, description = "The form again: no mail relay, or busy."),
    ),
)]
async fn reset_form(State(state): S, ctx: Ctx, headers: HeaderMap, body: Bytes) -> Response {
    let form = match browser_form::<ResetForm>(&state, &ctx, &headers, &body, |f| &f.form_token) {
        Ok(f) => f,
        Err(res) => return res,
    };
    match state
        .identity
        .reset_password(&form.token, form.new_password, &ctx.origin)
        .await
    {
        Ok(_) => {
            let view = View {
                view: "done",
                ..Default::default()
            };
            html(&state, &headers, StatusCode::OK, view)
        }
        Err(e) => {
            let (status, error) = refusal(&e);
            let violations = match &e {
                EmailRefused::Refused(Refused::WeakPassword(v)) => {
                    v.iter().map(|v| v.message()).collect()
                }
                _ => Vec::new(),
            };
            let view = View {
                view: "reset",
                token: &form.token,
                error: Some(error),
                violations,
                ..Default::default()
            };
            html(&state, &headers, status, view)
        }
    }
}

/// The confirmation page a verification mail links to.
#[utoipa::path(
    get, path = "/auth/pages/verify", tag = "pages",
    params(("token" = String, Query, description = "The token of the verification mail.")),
    responses((status = 200, description = "The confirmation form (HTML).", content_type = "text/html")),
)]
async fn verify_page(State(state): S, headers: HeaderMap, RawQuery(query): RawQuery) -> Response {
    let q: TokenQuery =
        serde_urlencoded::from_str(query.as_deref().unwrap_or("")).unwrap_or_default();
    let view = View {
        view: "verify",
        token: &q.token,
        ..Default::default()
    };
    html(&state, &headers, StatusCode::OK, view)
}

/// Confirms the address from the form.
#[utoipa::path(
    post, path = "/auth/pages/verify", tag = "pages",
    request_body(content_type = "application/x-www-form-urlencoded", description = "`form_token`, `token`."),
    responses(
        (status = 200, description = "\"Address confirmed\" (HTML)."),
        (status = 400, description = "The form again: the link is not valid, was used or has expired; or the form is malformed."),
        (status = 403, description = "The form token does not match this browser (CSRF)."),
        (status = 503, description = "The form again: no mail relay is configured."),
    ),
)]
async fn verify_form(State(state): S, ctx: Ctx, headers: HeaderMap, body: Bytes) -> Response {
    let form = match browser_form::<VerifyForm>(&state, &ctx, &headers, &body, |f| &f.form_token) {
        Ok(f) => f,
        Err(res) => return res,
    };
    match state.identity.verify_email(&form.token, &ctx.origin).await {
        Ok(user) => {
            let view = View {
                view: "verified",
                email: &user.email,
                ..Default::default()
            };
            html(&state, &headers, StatusCode::OK, view)
        }
        Err(e) => {
            let (status, error) = refusal(&e);
            let view = View {
                view: "verify",
                token: &form.token,
                error: Some(error),
                ..Default::default()
            };
            html(&state, &headers, status, view)
        }
    }
}
