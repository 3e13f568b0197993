//! The device authorization grant over HTTP (RFC 8628): `POST /auth/device/authorize` (§3.1–3.2)
//! and `POST /auth/token` (§3.4, the token endpoint, which takes this grant only: any other
//! `grant_type` is `unsupported_grant_type`), both form-encoded as the RFC says and answering
//! RFC 6749 §5.2 error JSON; and the approval API a signed-in person's page calls
//! (`POST /auth/device/lookup`, `/approve`, `/deny` with `{"user_code"}`), which answers the
//! client and the address that asked, and problem+json refusals. The rules are in
//! [`crate::identity::device`].

// Helpers return the finished refusal as their error, the axum idiom.
#![allow(clippy::result_large_err)]

use super::extract::{Caller, Ctx, needs_signed_in_user, no_store};
use super::json::StrictJson;
use super::openapi::schemas;
use crate::identity::device::{
    AuthorizeError, DEVICE_CODE_GRANT, DeviceRequest, EntryError, TokenError,
};
use crate::identity::sessions::ClientInfo;
use crate::state::AppState;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use http::{HeaderMap, HeaderValue, StatusCode, header};
use http_body_util::BodyExt;
use serde::Deserialize;
use std::sync::Arc;
use utoipa::ToSchema;

type S = State<Arc<AppState>>;

/// The largest form body taken.
const MAX_FORM_BYTES: usize = 8 * 1024;

/// `/auth/device/*` and `/auth/token`.
pub fn router() -> Router<Arc<AppState>> {
    Router::new()
        .route("/auth/device/authorize", post(authorize))
        .route("/auth/token", post(token))
        .route("/auth/device/lookup", post(lookup))
        .route("/auth/device/approve", post(approve))
        .route("/auth/device/deny", post(deny))
}

/// An RFC 6749 §5.2 error answer, never cached.
fn oauth_error(status: StatusCode, error: &'static str, description: &str) -> Response {
    no_store(
        (
            status,
            Json(serde_json::json!({ "error": error, "error_description": description })),
        )
            .into_response(),
    )
}

/// Reads an `application/x-www-form-urlencoded` body (at most 8 KiB); parameters the form does
/// not name are ignored (RFC 6749 §3.1), a repeated one is `invalid_request`.
async fn form<T: serde::de::DeserializeOwned>(req: Request) -> Result<T, Response> {
    let form_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| {
            v.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        });
    if !form_type {
        return Err(oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "Send the parameters as application/x-www-form-urlencoded.",
        ));
    }
    let bytes = http_body_util::Limited::new(req.into_body(), MAX_FORM_BYTES)
        .collect()
        .await
        .map_err(|_| {
            oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "The form is larger than 8 KiB.",
            )
        })?
        .to_bytes();
    serde_urlencoded::from_bytes(&bytes).map_err(|e| {
        tracing::debug!(error = %e, "form refused");
        oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "A required parameter is missing, or one is repeated or malformed.",
        )
    })
}

/// `POST /auth/device/authorize` (form-encoded).
#[derive(Deserialize, ToSchema)]
struct AuthorizeForm {
    /// A client id listed in `auth.device.clients`.
    client_id: String,
    /// Accepted and not used: Palisade's tokens carry the account's roles.
    #[serde(default)]
    #[allow(dead_code)]
    scope: Option<String>,
}

/// The device authorization answer (RFC 8628 §3.2).
#[derive(ToSchema)]
#[allow(dead_code)]
struct DeviceAuthorizationSchema {
    device_code: String,
    /// `XXXX-XXXX`.
    user_code: String,
    verification_uri: String,
    verification_uri_complete: String,
    expires_in: u64,
    interval: u64,
}

/// Starts a device authorization grant (RFC 8628 §3.1–3.2).
#[utoipa::path(
    post, path = "/auth/device/authorize", tag = "auth",
    request_body(content = AuthorizeForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "The codes (RFC 8628 §3.2).", body = DeviceAuthorizationSchema),
        (status = 400, description = "`invalid_request` (RFC 6749 §5.2 JSON)."),
        (status = 401, description = "`invalid_client`: not in `auth.device.clients`."),
    ),
)]
async fn authorize(State(state): S, ctx: Ctx, req: Request) -> Response {
    let body: AuthorizeForm = match form(req).await {
        Ok(b) => b,
        Err(res) => return res,
    };
    match state
        .identity
        .device_authorize(&body.client_id, ctx.ip, &ctx.origin)
        .await
    {
        Ok(answer) => no_store(Json(answer).into_response()),
        Err(AuthorizeError::UnknownClient) => oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "This client may not use the device authorization grant.",
        ),
        Err(AuthorizeError::Store(e)) => ctx.unavailable(e),
    }
}

/// `POST /auth/token` (form-encoded).
#[derive(Deserialize, ToSchema)]
struct TokenForm {
    /// `urn:ietf:params:oauth:grant-type:device_code`.
    grant_type: String,
    #[serde(default)]
    device_code: Option<String>,
    #[serde(default)]
    client_id: Option<String>,
}

/// The token endpoint, for the device code grant only (RFC 8628 §3.4–3.5).
#[utoipa::path(
    post, path = "/auth/token", tag = "auth",
    request_body(content = TokenForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "Signed in on the device.", body = schemas::Tokens),
        (status = 400, description = "RFC 6749 §5.2 JSON: `authorization_pending`, `slow_down`, `expired_token`, `access_denied`, `invalid_grant`, `invalid_request` or `unsupported_grant_type`."),
    ),
)]
async fn token(State(state): S, ctx: Ctx, headers: HeaderMap, req: Request) -> Response {
    let body: TokenForm = match form(req).await {
        Ok(b) => b,
        Err(res) => return res,
    };
    if body.grant_type != DEVICE_CODE_GRANT {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "This token endpoint takes the device code grant only.",
        );
    }
    let (Some(device_code), Some(client_id)) = (body.device_code, body.client_id) else {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "device_code and client_id are required.",
        );
    };
    let client = ClientInfo::from_headers(&headers);
    match state
        .identity
        .device_token(&device_code, &client_id, &client, &ctx.origin)
        .await
    {
        Ok(tokens) => no_store(Json(tokens).into_response()),
        Err(TokenError::Store(e)) => ctx.unavailable(e),
        Err(e) => {
            let description = match e {
                TokenError::AuthorizationPending => "The person has not approved yet; poll again.",
                TokenError::SlowDown => "Polled too fast: the interval grew by 5 seconds.",
                TokenError::ExpiredToken => "The device code expired; start again.",
                TokenError::AccessDenied => "The sign-in was denied.",
                _ => "The device code is not valid for this client, or was used.",
            };
            oauth_error(StatusCode::BAD_REQUEST, e.code(), description)
        }
    }
}

/// The code a person read off a device.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"user_code": "WDJB-MJHT"}))]
struct UserCodeBody {
    /// As shown (`XXXX-XXXX`); case, dashes and spaces do not matter.
    user_code: String,
}

/// What the approval page shows.
#[derive(ToSchema)]
#[allow(dead_code)]
struct DeviceRequestSchema {
    client_id: String,
    /// The address the device asked from.
    requested_from: String,
    /// Unix seconds.
    requested_at: i64,
    expires_in: i64,
    /// `pending`, `approved` or `denied`.
    status: String,
}

fn request_json(r: DeviceRequest, status: &str) -> Response {
    let mut body = serde_json::to_value(r).unwrap_or_default();
    body["status"] = status.into();
    no_store(Json(body).into_response())
}

fn entry_refused(ctx: &Ctx, e: EntryError) -> Response {
    match e {
        EntryError::Invalid => ctx.problem(
            StatusCode::NOT_FOUND,
            "device-code-invalid",
            "No pending device sign-in has this code; check it, or start again on the device.",
        ),
        EntryError::Decided => ctx.problem(
            StatusCode::CONFLICT,
            "device-code-decided",
            "This device sign-in was already approved or denied.",
        ),
        EntryError::TooMany(wait) => {
            let mut res = ctx.problem(
                StatusCode::TOO_MANY_REQUESTS,
                "device-code-entries",
                "Too many wrong codes; try again later.",
            );
            res.headers_mut().insert(
                header::RETRY_AFTER,
                HeaderValue::from(wait.as_secs().max(1)),
            );
            res
        }
        EntryError::Store(e) => ctx.unavailable(e),
    }
}

/// Shows the pending device sign-in of a user code (for the approval page).
#[utoipa::path(
    post, path = "/auth/device/lookup", tag = "auth",
    request_body = UserCodeBody,
    responses(
        (status = 200, description = "The request: client and address.", body = DeviceRequestSchema),
        (status = 404, description = "No pending request has this code (counted as a wrong entry)."),
        (status = 409, description = "Already approved or denied."),
        (status = 429, description = "Too many wrong codes; see Retry-After."),
    ),
    security(("bearer" = []), ("session" = [])),
)]
async fn lookup(
    State(state): S,
    ctx: Ctx,
    caller: Caller,
    StrictJson(body): StrictJson<UserCodeBody>,
) -> Response {
    let user = match needs_signed_in_user(&state, &caller, &ctx) {
        Ok(u) => u,
        Err(res) => return res,
    };
    match state
        .identity
        .device_lookup(&body.user_code, user, ctx.ip, &ctx.origin)
        .await
    {
        Ok(r) => request_json(r, "pending"),
        Err(e) => entry_refused(&ctx, e),
    }
}

async fn decide(state: &AppState, ctx: Ctx, caller: Caller, code: &str, approve: bool) -> Response {
    let user = match needs_signed_in_user(state, &caller, &ctx) {
        Ok(u) => u,
        Err(res) => return res,
    };
    match state
        .identity
        .device_decide(
            code,
            approve,
            user,
            caller.0.assurance.as_ref(),
            ctx.ip,
            &ctx.origin,
        )
        .await
    {
        Ok(r) => request_json(r, if approve { "approved" } else { "denied" }),
        Err(e) => entry_refused(&ctx, e),
    }
}

/// Approves a device's sign-in as the caller: the device's next poll gets tokens.
#[utoipa::path(
    post, path = "/auth/device/approve", tag = "auth",
    request_body = UserCodeBody,
    responses(
        (status = 200, description = "Approved; the request it was.", body = DeviceRequestSchema),
        (status = 404, description = "No pending request has this code (counted as a wrong entry)."),
        (status = 409, description = "Already approved or denied."),
        (status = 429, description = "Too many wrong codes; see Retry-After."),
    ),
    security(("bearer" = []), ("session" = [])),
)]
async fn approve(
    State(state): S,
    ctx: Ctx,
    caller: Caller,
    StrictJson(body): StrictJson<UserCodeBody>,
) -> Response {
    decide(&state, ctx, caller, &body.user_code, true).await
}

/// Denies a device's sign-in: the device's next poll gets `access_denied`.
#[utoipa::path(
    post, path = "/auth/device/deny", tag = "auth",
    request_body = UserCodeBody,
    responses(
        (status = 200, description = "Denied; the request it was.", body = DeviceRequestSchema),
        (status = 404, description = "No pending request has this code (counted as a wrong entry)."),
        (status = 409, description = "Already approved or denied."),
        (status = 429, description = "Too many wrong codes; see Retry-After."),
    ),
    security(("bearer" = []), ("session" = [])),
)]
async fn deny(
    State(state): S,
    ctx: Ctx,
    caller: Caller,
    StrictJson(body): StrictJson<UserCodeBody>,
) -> Response {
    decide(&state, ctx, caller, &body.user_code, false).await
}
