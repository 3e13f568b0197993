//! The e-mail flows over HTTP: `POST /auth/email/verify/request` (signed in) and
//! `POST /auth/email/verify`, `POST /auth/password/forgot` and `POST /auth/password/reset`
//! (anonymous, the token is the proof), `POST /auth/me/email` (signed in recently). The rules
//! and their events are [`crate::identity::email`].
//!
//! Answers: `forgot` is 202 with the same body whatever the address; a bad, used or expired
//! token is one 400 `invalid-token`; without `[smtp]` every flow is 503 `mail-unavailable`;
//! too many requests from one address 429 with `Retry-After`; an old sign-in for a change of
//! address the RFC 9470 challenge (401 `insufficient-user-authentication`, `max_age`).

// Helpers return the finished refusal as their error, the axum idiom.
#![allow(clippy::result_large_err)]

use super::extract::{Caller, Ctx, needs_user, no_store, refused};
use super::json::StrictJson;
use crate::identity::email::{EmailRefused, VerificationRequest};
use crate::state::AppState;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use http::{HeaderValue, StatusCode, header};
use serde::Deserialize;
use std::sync::Arc;
use utoipa::ToSchema;

type S = State<Arc<AppState>>;

/// The e-mail flow endpoints.
pub fn router() -> Router<Arc<AppState>> {
    Router::new()
        .route("/auth/email/verify/request", post(verify_request))
        .route("/auth/email/verify", post(verify))
        .route("/auth/password/forgot", post(forgot))
        .route("/auth/password/reset", post(reset))
        .route("/auth/me/email", post(change_email))
}

/// The answer to a flow that did not happen.
pub(crate) fn email_refused(ctx: &Ctx, e: EmailRefused) -> Response {
    match e {
        EmailRefused::MailOff => ctx.problem(
            StatusCode::SERVICE_UNAVAILABLE,
            "mail-unavailable",
            "This deployment sends no mail ([smtp] is not configured); ask an administrator.",
        ),
        EmailRefused::TooMany(wait) => {
            let mut res = ctx.problem(
                StatusCode::TOO_MANY_REQUESTS,
                "too-many-mail-requests",
                "Too many requests for mail; try again later.",
            );
            res.headers_mut().insert(
                header::RETRY_AFTER,
                HeaderValue::from(wait.as_secs().max(1)),
            );
            res
        }
        EmailRefused::BadToken => ctx.problem(
            StatusCode::BAD_REQUEST,
            "invalid-token",
            "The link is not valid, was used already or has expired; ask for a new one.",
        ),
        EmailRefused::StepUp(insufficient) => {
            let mut res = ctx.problem(
                StatusCode::UNAUTHORIZED,
                "insufficient-user-authentication",
                "Changing the e-mail address needs a recent sign-in; sign in again.",
            );
            if let Ok(v) = HeaderValue::from_str(&insufficient.challenge()) {
                res.headers_mut().insert(header::WWW_AUTHENTICATE, v);
            }
            res
        }
        EmailRefused::NotAccount => ctx.problem(
            StatusCode::FORBIDDEN,
            "not-a-palisade-account",
            "Only enabled Palisade person accounts have an e-mail address here.",
        ),
        EmailRefused::SameAddress => ctx.problem(
            StatusCode::UNPROCESSABLE_ENTITY,
            "same-email",
            "This is the account's address already.",
        ),
        EmailRefused::Refused(r) => refused(ctx, r),
    }
}

/// A token from a mail.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"token": "mJ0pQ2v1n3cX7b9yZ4kR8sT6uW5eA1dF3gH2jK0lLq8"}))]
pub struct TokenBody {
    /// The token the mail carried.
    token: String,
}

/// An e-mail address.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"email": "member@example.com"}))]
pub struct EmailBody {
    /// The address.
    email: String,
}

/// A reset token and the new password.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"token": "mJ0pQ2v1n3cX7b9yZ4kR8sT6uW5eA1dF3gH2jK0lLq8", "new_password": "violet-Harbor-tram-1987-quince"}))]
pub struct ResetBody {
    /// The token the reset mail carried.
    token: String,
    /// The new password (the registration policy applies).
    new_password: String,
}

fn json(status: StatusCode, body: serde_json::Value) -> Response {
    no_store((status, Json(body)).into_response())
}

/// Sends a verification link to the caller's current address.
#[utoipa::path(
    post, path = "/auth/email/verify/request", tag = "auth",
    responses(
        (status = 202, description = "A verification mail is on its way (`{\"status\": \"sent\"}`), or the address is verified already (`{\"status\": \"verified\"}`)."),
        (status = 403, description = "Not an enabled Palisade person account."),
        (status = 429, description = "Too many requests from this address or for this mailbox; see Retry-After."),
        (status = 503, description = "No mail relay is configured (`mail-unavailable`)."),
    ),
    security(("bearer" = []), ("session" = [])),
)]
async fn verify_request(State(state): S, ctx: Ctx, caller: Caller) -> Response {
    let user = match needs_user(&caller, &ctx) {
        Ok(u) => u,
        Err(res) => return res,
    };
    match state
        .identity
        .request_email_verification(user, ctx.ip, &ctx.origin)
        .await
    {
        Ok(VerificationRequest::Queued) => json(
            StatusCode::ACCEPTED,
            serde_json::json!({ "status": "sent" }),
        ),
        Ok(VerificationRequest::AlreadyVerified) => json(
            StatusCode::ACCEPTED,
            serde_json::json!({ "status": "verified" }),
        ),
        Err(e) => email_refused(&ctx, e),
    }
}

/// Marks the address a verification mail went to as verified.
#[utoipa::path(
    post, path = "/auth/email/verify", tag = "auth",
    request_body = TokenBody,
    responses(
        (status = 200, description = "Verified (`{\"verified\": true, \"email\"}`)."),
        (status = 400, description = "The token is not valid, was used or has expired (`invalid-token`)."),
        (status = 503, description = "No mail relay is configured (`mail-unavailable`)."),
    ),
)]
async fn verify(State(state): S, ctx: Ctx, StrictJson(body): StrictJson<TokenBody>) -> Response {
    match state.identity.verify_email(&body.token, &ctx.origin).await {
        Ok(user) => json(
            StatusCode::OK,
            serde_json::json!({ "verified": true, "email": user.email }),
        ),
        Err(e) => email_refused(&ctx, e),
    }
}

/// The one answer of `forgot`, whatever the address.
pub(crate) const FORGOT_ANSWER: &str =
    "If an account has this address, a link to reset its password is on its way.";

/// Asks for a password-reset mail; the answer is the same whether or not the address has an
/// account.
#[utoipa::path(
    post, path = "/auth/password/forgot", tag = "auth",
    request_body = EmailBody,
    responses(
        (status = 202, description = "Always the same body (`{\"status\": \"accepted\", \"detail\"}`): a mail goes out only when an account has the address and the address is within its limit."),
        (status = 422, description = "The e-mail address is not valid."),
        (status = 429, description = "Too many requests from this client address; see Retry-After."),
        (status = 503, description = "No mail relay is configured (`mail-unavailable`)."),
    ),
)]
async fn forgot(State(state): S, ctx: Ctx, StrictJson(body): StrictJson<EmailBody>) -> Response {
    match state
        .identity
        .request_password_reset(&body.email, ctx.ip, &ctx.origin)
        .await
    {
        Ok(()) => json(
            StatusCode::ACCEPTED,
            serde_json::json!({ "status": "accepted", "detail": FORGOT_ANSWER }),
        ),
        Err(e) => email_refused(&ctx, e),
    }
}

/// Sets a new password with a reset token: every session of the account is signed out, its
/// second factors stay.
#[utoipa::path(
    post, path = "/auth/password/reset", tag = "auth",
    request_body = ResetBody,
    responses(
        (status = 200, description = "The password is set (`{\"reset\": true}`); sign in with it."),
        (status = 400, description = "The token is not valid, was used or has expired (`invalid-token`)."),
        (status = 422, description = "The password does not meet the policy (`violations`); the token stays usable."),
        (status = 503, description = "No mail relay is configured, or the hashing pool is busy."),
    ),
)]
async fn reset(State(state): S, ctx: Ctx, StrictJson(body): StrictJson<ResetBody>) -> Response {
    match state
        .identity
        .reset_password(&body.token, body.new_password, &ctx.origin)
        .await
    {
        Ok(_) => json(StatusCode::OK, serde_json::json!({ "reset": true })),
        Err(e) => email_refused(&ctx, e),
    }
}

/// Changes the caller's e-mail address: needs a recent sign-in (`auth.email.recent_auth`); the
/// old address is told, the new one starts unverified and gets a verification mail.
#[utoipa::path(
    post, path = "/auth/me/email", tag = "auth",
    request_body = EmailBody,
    responses(
        (status = 200, description = "Changed (`{\"email\", \"verified\": false}`)."),
        (status = 401, description = "The sign-in is older than `auth.email.recent_auth`: RFC 9470 challenge with `max_age`."),
        (status = 403, description = "Not an enabled Palisade person account."),
        (status = 409, description = "Another account has this address (`email-taken`)."),
        (status = 422, description = "The address is not valid, or is the account's already."),
        (status = 503, description = "No mail relay is configured (`mail-unavailable`)."),
    ),
    security(("bearer" = []), ("session" = [])),
)]
async fn change_email(
    State(state): S,
    ctx: Ctx,
    caller: Caller,
    StrictJson(body): StrictJson<EmailBody>,
) -> Response {
    let user = match needs_user(&caller, &ctx) {
        Ok(u) => u,
        Err(res) => return res,
    };
    match state
        .identity
        .change_email(user, caller.0.assurance.as_ref(), &body.email, &ctx.origin)
        .await
    {
        Ok(u) => json(
            StatusCode::OK,
            serde_json::json!({ "email": u.email, "verified": false }),
        ),
        Err(e) => email_refused(&ctx, e),
    }
}
