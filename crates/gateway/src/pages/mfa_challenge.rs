//! The second-factor challenge page (`/auth/pages/mfa`): the sign-in page's second step for an
//! account with a second factor. The pending sign-in's single-use `mfa_token` lives only in the
//! `__Host-palisade-mfa` cookie (Secure, HttpOnly, SameSite=Strict, as long as the token), never
//! in a URL or the page. The form takes a TOTP code or a recovery code (and offers the account's
//! passkey, a sign-in of its own); it is CSRF-checked and `return_to`-checked like the sign-in
//! form, and the factor goes through the same use case as `POST /auth/mfa/verify`
//! (`api::mfa::prove_second_factor`: brute-force ladder, `mfa.*` events,
//! `auth.login_success`). Success opens a new `aal2` browser session and clears the cookie.

#![allow(clippy::result_large_err)]

use super::session_form::browser_form;
use super::sign_in::{checked_return_to, page_refused};
use super::{csrf, page, render::render, see_other};
use crate::api::extract::Ctx;
use crate::api::mfa::prove_second_factor;
use crate::api::sessions::open_cookie;
use crate::audit::{AuditEvent, Outcome, Risk};
use crate::identity::mfa::{Factor, PendingSignIn};
use crate::identity::sessions::{ClientInfo, fingerprint};
use crate::state::AppState;
use axum::Router;
use axum::extract::{RawQuery, State};
use axum::response::Response;
use axum::routing::get;
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, StatusCode, header};
use palisade_store::identity::SessionKind;
use serde::Deserialize;
use std::sync::Arc;

type S = State<Arc<AppState>>;

/// The cookie holding the pending sign-in's `mfa_token`.
pub const MFA_COOKIE: &str = "__Host-palisade-mfa";

/// `/auth/pages/mfa`.
pub fn router() -> Router<Arc<AppState>> {
    Router::new().route("/auth/pages/mfa", get(challenge_page).post(challenge_form))
}

/// `303` to the challenge page at `page` (a URL relative to where the first factor was
/// proven: `mfa` beside the sign-in page, `../../pages/mfa` from a provider's callback) with
/// `return_to`, handing the browser its pending sign-in `token` in the cookie.
pub(crate) fn continue_there(
    state: &AppState,
    page: &str,
    token: &str,
    return_to: &str,
) -> Response {
    let mut res = if return_to.is_empty() {
        see_other(page)
    } else {
        let q = serde_urlencoded::to_string([("return_to", return_to)]).unwrap_or_default();
        see_other(&format!("{page}?{q}"))
    };
    let ttl = state.identity.config.mfa.token_ttl.0.as_secs();
    if let Ok(v) = HeaderValue::from_str(&set_cookie(token, ttl)) {
        res.headers_mut().append(header::SET_COOKIE, v);
    }
    res
}

/// The `Set-Cookie` value that hands the browser its pending sign-in. `SameSite=Lax`, not
/// `Strict`: after a federated provider's callback the browser reaches the challenge page at the
/// end of a redirect chain that began on the provider's site, where a `Strict` cookie is not
/// sent. The token is bound to the device and address, and the page's POST needs its form token.
pub(crate) fn set_cookie(token: &str, ttl_secs: u64) -> String {
    format!("{MFA_COOKIE}={token}; Path=/; Secure; HttpOnly; SameSite=Lax; Max-Age={ttl_secs}")
}

fn clear_cookie() -> String {
    format!("{MFA_COOKIE}=; Path=/; Secure; HttpOnly; SameSite=Lax; Max-Age=0")
}

/// The token from the request's cookie.
fn presented(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(k, v)| *k == MFA_COOKIE && !v.is_empty())
        .map(|(_, v)| v.to_owned())
}

/// The browser's pending sign-in (a browser-session one, from this device and address).
async fn pending(
    state: &AppState,
    ctx: &Ctx,
    headers: &HeaderMap,
) -> Result<Option<PendingSignIn>, Response> {
    let Some(token) = presented(headers) else {
        return Ok(None);
    };
    match state
        .identity
        .mfa_pending_find(&token, &fingerprint(headers), ctx.ip)
        .await
    {
        Ok(p) => Ok(p.filter(|p| p.kind == SessionKind::Cookie)),
        Err(e) => Err(ctx.unavailable(e)),
    }
}

#[derive(Deserialize, Default)]
struct Query {
    #[serde(default)]
    return_to: String,
}

/// The challenge form's fields: one of `code` (TOTP) and `recovery_code`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ChallengeForm {
    #[serde(default)]
    form_token: String,
    #[serde(default)]
    return_to: String,
    #[serde(default)]
    code: String,
    #[serde(default)]
    recovery_code: String,
}

async fn challenge_html(
    state: &AppState,
    headers: &HeaderMap,
    pending: &PendingSignIn,
    status: StatusCode,
    return_to: &str,
    error: Option<&str>,
) -> Response {
    let id = &state.identity;
    let methods = id.mfa_methods(pending.user.id).await.unwrap_or_default();
    let passkey = state.config.auth.passkeys.enabled()
        && state
            .store
            .passkeys_for_user(pending.user.id)
            .await
            .is_ok_and(|l| !l.is_empty());
    let (nonce, set_cookie) = csrf::nonce(headers);
    let html = render(
        "mfa.html",
        minijinja::context! {
            form_token => csrf::token(&id.cookies, &nonce),
            return_to => return_to,
            error => error,
            recovery => methods.contains(&crate::identity::mfa::METHOD_RECOVERY),
            passkey => passkey,
        },
    );
    let mut res = page(status, html);
    if let Some(v) = set_cookie.and_then(|c| HeaderValue::from_str(&c).ok()) {
        res.headers_mut().append(header::SET_COOKIE, v);
    }
    res
}

/// Back to the sign-in page when the browser has no live pending sign-in.
fn start_again(return_to: &str) -> Response {
    let mut res = if return_to.is_empty() {
        see_other("sign-in")
    } else {
        let q = serde_urlencoded::to_string([("return_to", return_to)]).unwrap_or_default();
        see_other(&format!("sign-in?{q}"))
    };
    if let Ok(v) = HeaderValue::from_str(&clear_cookie()) {
        res.headers_mut().append(header::SET_COOKIE, v);
    }
    res
}

/// The challenge page.
#[utoipa::path(
    get, path = "/auth/pages/mfa", tag = "pages",
    params(("return_to" = Option<String>, Query, description = "Where to go after sign-in: a path here or an allow-listed origin.")),
    responses(
        (status = 200, description = "The second-factor page (HTML).", content_type = "text/html"),
        (status = 303, description = "No pending sign-in in this browser: to the sign-in page."),
        (status = 400, description = "return_to is not allowed."),
    ),
)]
async fn challenge_page(
    State(state): S,
    ctx: Ctx,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let q: Query = serde_urlencoded::from_str(query.as_deref().unwrap_or("")).unwrap_or_default();
    let target = match checked_return_to(&state, &ctx, &q.return_to) {
        Ok(t) => t,
        Err(res) => return res,
    };
    match pending(&state, &ctx, &headers).await {
        Ok(Some(p)) => challenge_html(&state, &headers, &p, StatusCode::OK, &target, None).await,
        Ok(None) => start_again(&target),
        Err(res) => res,
    }
}

/// Completes the sign-in with a second factor: the `aal2` session cookie and a redirect.
#[utoipa::path(
    post, path = "/auth/pages/mfa", tag = "pages",
    request_body(content_type = "application/x-www-form-urlencoded", description = "`form_token`, `return_to`, and one of `code` (TOTP) and `recovery_code`."),
    responses(
        (status = 303, description = "Signed in at aal2 (the cookie is set; Location is return_to or the signed-in page), or no pending sign-in in this browser (to the sign-in page)."),
        (status = 400, description = "The form is malformed, names neither or both factors, or return_to is not allowed."),
        (status = 401, description = "The page again: the code is not valid."),
        (status = 403, description = "The form token does not match this browser (CSRF)."),
        (status = 429, description = "The page again: too many failures; see Retry-After."),
    ),
)]
async fn challenge_form(State(state): S, ctx: Ctx, headers: HeaderMap, body: Bytes) -> Response {
    let form = match browser_form::<ChallengeForm>(&state, &ctx, &headers, &body, |f| &f.form_token)
    {
        Ok(f) => f,
        Err(res) => return res,
    };
    let target = match checked_return_to(&state, &ctx, &form.return_to) {
        Ok(t) => t,
        Err(res) => return res,
    };
    let factor = match (form.code.trim(), form.recovery_code.trim()) {
        (code, "") if !code.is_empty() => Factor::Totp(code),
        ("", code) if !code.is_empty() => Factor::Recovery(code),
        _ => {
            return page_refused(
                &state,
                &ctx,
                StatusCode::BAD_REQUEST,
                "invalid-second-factor",
                "Enter one of a code from your authenticator and a recovery code.",
            );
        }
    };
    let pending = match pending(&state, &ctx, &headers).await {
        Ok(Some(p)) => p,
        Ok(None) => {
            state.identity.audit.record_refusal(
                ctx.audit(
                    AuditEvent::new("mfa.failed", Risk::Medium, Outcome::Denied)
                        .details(serde_json::json!({ "reason": "invalid-mfa-token" })),
                ),
            );
            return start_again(&target);
        }
        Err(res) => return res,
    };
    let user = pending.user.clone();
    let assurance = match prove_second_factor(
        &state,
        &ctx,
        &user,
        factor,
        SessionKind::Cookie,
        Some(&pending),
        None,
    )
    .await
    {
        Ok(a) => a,
        Err(refusal) => {
            let status = refusal.status();
            let error = match status {
                StatusCode::UNAUTHORIZED => "The code is not valid; enter the current code.",
                StatusCode::TOO_MANY_REQUESTS => {
                    "Too many failed attempts; wait a moment and try again."
                }
                _ => return refusal,
            };
            let mut res =
                challenge_html(&state, &headers, &pending, status, &target, Some(error)).await;
            if let Some(wait) = refusal.headers().get(header::RETRY_AFTER) {
                res.headers_mut().insert(header::RETRY_AFTER, wait.clone());
            }
            return res;
        }
    };
    let client = ClientInfo::from_headers(&headers);
    match open_cookie(&state, &ctx, &user, &client, &assurance).await {
        Ok(opened) => {
            let mut res = see_other(if target.is_empty() {
                "signed-in"
            } else {
                &target
            });
            opened.set_on(&mut res);
            if let Ok(v) = HeaderValue::from_str(&clear_cookie()) {
                res.headers_mut().append(header::SET_COOKIE, v);
            }
            res
        }
        Err(res) => res,
    }
}
