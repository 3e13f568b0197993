//! The sign-in page (`/auth/pages/sign-in`) and the signed-in page (`/auth/pages/signed-in`).
//!
//! Sign-in by password is a plain form: CSRF-checked ([`super::csrf`]), `return_to` checked
//! ([`super::return_to`]), the credentials checked by the same use case as `POST /auth/login`
//! (brute-force ladder, CAPTCHA rule, audit), then the browser session opened by
//! `open_browser_session` and a `303` to `return_to` (or the signed-in page); an account with a
//! second factor goes on to [`super::mfa_challenge`] instead. A refused form
//! is shown again with the reason, under the refusal's status. Passkey sign-in is a button
//! driving `/auth/passkeys/sign-in/*` from the page's script.

#![allow(clippy::result_large_err)]

use super::session_form::browser_form;
use super::{csrf, page, render::render, return_to, see_other};
use crate::api::auth::{LoginBody, SecondFactorStep, check_credentials, second_factor_step};
use crate::api::extract::Ctx;
use crate::api::sessions::open_browser_session;
use crate::audit::{AuditEvent, Outcome, Risk};
use crate::identity::mfa::FirstFactor;
use crate::identity::sessions::ClientInfo;
use crate::state::AppState;
use axum::extract::{RawQuery, State};
use axum::response::Response;
use axum::routing::get;
use axum::{Extension, Router};
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, StatusCode, header};
use palisade_core::mfa::assurance::Assurance;
use palisade_core::principal::{AuthMethod, Principal};
use palisade_store::identity::SessionKind;
use serde::Deserialize;
use std::sync::Arc;

type S = State<Arc<AppState>>;

/// `/auth/pages/sign-in` and `/auth/pages/signed-in`.
pub fn router() -> Router<Arc<AppState>> {
    Router::new()
        .route("/auth/pages/sign-in", get(sign_in_page).post(sign_in_form))
        .route("/auth/pages/signed-in", get(signed_in_page))
}

/// A button for a federated sign-in provider of `[[auth.providers]]`: the sign-in page shows
/// one per provider, leading to `/auth/federated/{id}/start` with the page's `return_to`.
#[derive(Debug, Clone)]
pub struct ProviderButton {
    /// What the button says after "Sign in with".
    pub label: String,
    /// Where it leads (relative to the page).
    pub href: String,
}

/// The provider buttons of the sign-in page, one per configured provider (relative to
/// `/auth/pages/sign-in`, so `api.mount` moves them too).
fn provider_buttons(state: &AppState, return_to: &str) -> Vec<ProviderButton> {
    state
        .federation
        .providers()
        .map(|p| {
            let mut href = format!("../federated/{}/start", p.config.id);
            if !return_to.is_empty() {
                href.push_str("?return_to=");
                href.extend(url::form_urlencoded::byte_serialize(return_to.as_bytes()));
            }
            ProviderButton {
                label: p.config.display_label().to_owned(),
                href,
            }
        })
        .collect()
}

#[derive(Deserialize, Default)]
struct SignInQuery {
    #[serde(default)]
    return_to: String,
}

/// The sign-in form's fields.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SignInForm {
    #[serde(default)]
    form_token: String,
    #[serde(default)]
    return_to: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
}

/// A page request refused (bad CSRF token, `return_to` not allowed, malformed form): on record
/// as `auth.page_refused`, answered as problem+json.
pub(crate) fn page_refused(
    state: &AppState,
    ctx: &Ctx,
    status: StatusCode,
    reason: &'static str,
    detail: &'static str,
) -> Response {
    state.identity.audit.record_refusal(
        ctx.audit(
            AuditEvent::new("auth.page_refused", Risk::Medium, Outcome::Denied)
                .details(serde_json::json!({ "reason": reason })),
        ),
    );
    ctx.problem(status, reason, detail)
}

/// `return_to` when allowed (empty means the signed-in page), else the refusal.
pub(crate) fn checked_return_to(
    state: &AppState,
    ctx: &Ctx,
    target: &str,
) -> Result<String, Response> {
    if target.is_empty() {
        return Ok(String::new());
    }
    match return_to::allowed(&state.config.auth.pages, target) {
        Some(t) => Ok(t.to_owned()),
        None => Err(page_refused(
            state,
            ctx,
            StatusCode::BAD_REQUEST,
            "return-to-not-allowed",
            "return_to must be a path on this server or an origin in auth.pages.return_to_origins.",
        )),
    }
}

struct Form<'a> {
    return_to: &'a str,
    email: &'a str,
    error: Option<&'a str>,
}

fn sign_in_html(state: &AppState, headers: &HeaderMap, status: StatusCode, f: Form) -> Response {
    let (nonce, set_cookie) = csrf::nonce(headers);
    let html = render(
        "sign_in.html",
        minijinja::context! {
            form_token => csrf::token(&state.identity.cookies, &nonce),
            return_to => f.return_to,
            email => f.email,
            error => f.error,
            passkeys => state.config.auth.passkeys.enabled(),
            password_login => state.config.auth.password_login,
            providers => provider_buttons(state, f.return_to)
                .into_iter()
                .map(|p| minijinja::context! { label => p.label, href => p.href })
                .collect::<Vec<_>>(),
        },
    );
    let mut res = page(status, html);
    if let Some(v) = set_cookie.and_then(|c| HeaderValue::from_str(&c).ok()) {
        res.headers_mut().append(header::SET_COOKIE, v);
    }
    res
}

/// The sign-in page.
#[utoipa::path(
    get, path = "/auth/pages/sign-in", tag = "pages",
    params(("return_to" = Option<String>, Query, description = "Where to go after sign-in: a path here or an allow-listed origin.")),
    responses(
        (status = 200, description = "The sign-in page (HTML).", content_type = "text/html"),
        (status = 400, description = "return_to is not allowed."),
    ),
)]
async fn sign_in_page(
    State(state): S,
    ctx: Ctx,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let q: SignInQuery =
        serde_urlencoded::from_str(query.as_deref().unwrap_or("")).unwrap_or_default();
    let target = match checked_return_to(&state, &ctx, &q.return_to) {
        Ok(t) => t,
        Err(res) => return res,
    };
    sign_in_html(
        &state,
        &headers,
        StatusCode::OK,
        Form {
            return_to: &target,
            email: "",
            error: None,
        },
    )
}

/// Signs in from the form: the session cookie and a redirect.
#[utoipa::path(
    post, path = "/auth/pages/sign-in", tag = "pages",
    request_body(content_type = "application/x-www-form-urlencoded", description = "`form_token`, `return_to`, `email`, `password`."),
    responses(
        (status = 303, description = "Signed in (the cookie is set; Location is return_to or the signed-in page), or a second factor is due (the pending sign-in is in the `__Host-palisade-mfa` cookie; Location is the challenge page)."),
        (status = 400, description = "The form is malformed, or return_to is not allowed."),
        (status = 401, description = "The page again: the e-mail address or the password is wrong."),
        (status = 403, description = "The form token does not match this browser (CSRF), or the page again: the account must enrol a second factor first."),
        (status = 429, description = "The page again: too many failed sign-ins; see Retry-After."),
    ),
)]
async fn sign_in_form(State(state): S, ctx: Ctx, headers: HeaderMap, body: Bytes) -> Response {
    let form = match browser_form::<SignInForm>(&state, &ctx, &headers, &body, |f| &f.form_token) {
        Ok(f) => f,
        Err(res) => return res,
    };
    let target = match checked_return_to(&state, &ctx, &form.return_to) {
        Ok(t) => t,
        Err(res) => return res,
    };
    let login = LoginBody {
        email: form.email.clone(),
        password: form.password,
        captcha_token: None,
    };
    let user = match check_credentials(&state, &ctx, login).await {
        Ok(u) => u,
        Err(refusal) => {
            let status = refusal.status();
            let error = match status {
                StatusCode::UNAUTHORIZED => "The e-mail address or the password is wrong.",
                StatusCode::TOO_MANY_REQUESTS => {
                    "Too many failed sign-ins; wait a moment and try again."
                }
                StatusCode::FORBIDDEN => {
                    "Sign-in by password is turned off here; use a passkey or a provider."
                }
                _ => "Sign-in is not possible right now; try again shortly.",
            };
            let mut res = sign_in_html(
                &state,
                &headers,
                status,
                Form {
                    return_to: &target,
                    email: &form.email,
                    error: Some(error),
                },
            );
            if let Some(wait) = refusal.headers().get(header::RETRY_AFTER) {
                res.headers_mut().insert(header::RETRY_AFTER, wait.clone());
            }
            return res;
        }
    };
    // An account with a second factor continues on the challenge page, its pending sign-in
    // in the `__Host-palisade-mfa` cookie; one owing a factor gets no session at all.
    match second_factor_step(
        &state,
        &ctx,
        &headers,
        &user,
        SessionKind::Cookie,
        FirstFactor::Password,
    )
    .await
    {
        Ok(SecondFactorStep::Clear) => {}
        Ok(SecondFactorStep::Challenge { token, .. }) => {
            return super::mfa_challenge::continue_there(&state, "mfa", &token, &target);
        }
        Err(refusal) if refusal.status() == StatusCode::FORBIDDEN => {
            return sign_in_html(
                &state,
                &headers,
                StatusCode::FORBIDDEN,
                Form {
                    return_to: &target,
                    email: &form.email,
                    error: Some(
                        "This account must enrol a second factor before it can sign in; ask an \
                         administrator.",
                    ),
                },
            );
        }
        Err(refusal) => return refusal,
    }
    let client = ClientInfo::from_headers(&headers);
    let assurance = Assurance::password(state.identity.now_ms() / 1000);
    match open_browser_session(&state, &ctx, &user, &client, &assurance).await {
        Ok(opened) => {
            let mut res = see_other(if target.is_empty() {
                "signed-in"
            } else {
                &target
            });
            opened.set_on(&mut res);
            res
        }
        Err(res) => res,
    }
}

/// The signed-in page: who this browser is signed in as, sign-out, and the passkeys link.
/// Without a browser session it sends the browser to the sign-in page.
#[utoipa::path(
    get, path = "/auth/pages/signed-in", tag = "pages",
    responses(
        (status = 200, description = "The signed-in page (HTML).", content_type = "text/html"),
        (status = 303, description = "Not signed in with the cookie: to the sign-in page."),
    ),
)]
async fn signed_in_page(State(state): S, caller: Option<Extension<Arc<Principal>>>) -> Response {
    let Some(session) = browser_session(caller) else {
        return see_other("sign-in");
    };
    let csrf_token = session
        .session_id
        .as_deref()
        .map(|sid| state.identity.cookies.csrf_token(sid))
        .unwrap_or_default();
    let html = render(
        "signed_in.html",
        minijinja::context! {
            subject => &session.subject,
            csrf_token => csrf_token,
            passkeys => state.config.auth.passkeys.enabled(),
            device => state.config.auth.device.enabled(),
        },
    );
    page(StatusCode::OK, html)
}

/// The caller when it came with the browser session cookie (pages ignore bearer tokens).
pub(crate) fn browser_session(caller: Option<Extension<Arc<Principal>>>) -> Option<Arc<Principal>> {
    caller
        .map(|Extension(p)| p)
        .filter(|p| p.method == AuthMethod::Session && p.account.is_some())
}
