//! The signed-in pages' access rule, in one place: a page shown by `GET` needs the browser
//! session (else a `303` to the sign-in page with `return_to` back here); a form `POST` needs
//! the same session proved by its CSRF token in the form body (the session's `X-CSRF-Token`
//! value, sent as the `csrf_token` field), since an HTML form cannot send the header. The
//! `identify` gate hands such a request over as a [`FormSession`]; adopting it checks the token
//! in constant time, and a missing or wrong token is `auth.page_refused` (403 `csrf`).

#![allow(clippy::result_large_err)]

use super::see_other;
use super::sign_in::page_refused;
use crate::api::extract::{Caller, Ctx};
use crate::identity::FormSession;
use crate::state::AppState;
use axum::Extension;

use axum::response::Response;
use http::{StatusCode, Uri};
use palisade_core::principal::{AuthMethod, Principal};
use std::sync::Arc;

/// The browser session behind a page `GET`, and its CSRF token for the page's forms; without
/// one, the redirect to sign in and come back.
pub(crate) fn page_session(
    state: &AppState,
    caller: Option<Extension<Arc<Principal>>>,
    uri: &Uri,
) -> Result<(Caller, String), Response> {
    match super::sign_in::browser_session(caller) {
        Some(p) => {
            let token = csrf_of(state, &p);
            Ok((Caller(p), token))
        }
        None => Err(to_sign_in(state, uri)),
    }
}

/// The browser session behind a page form `POST` whose `csrf_token` field is `token`; without a
/// session the redirect to sign in, with a wrong token the `csrf` refusal.
pub(crate) fn form_session(
    state: &AppState,
    ctx: &Ctx,
    caller: Option<Extension<Arc<Principal>>>,
    form: Option<Extension<FormSession>>,
    token: &str,
    uri: &Uri,
) -> Result<(Caller, String), Response> {
    // A script that sent `X-CSRF-Token` was checked by the gate already.
    if let Some(p) = super::sign_in::browser_session(caller) {
        let token = csrf_of(state, &p);
        return Ok((Caller(p), token));
    }
    let Some(Extension(form)) = form else {
        return Err(to_sign_in(state, uri));
    };
    match form.adopt(&state.identity.cookies, token) {
        Some(p) if p.method == AuthMethod::Session && p.account.is_some() => {
            let token = csrf_of(state, &p);
            Ok((Caller(p), token))
        }
        _ => Err(page_refused(
            state,
            ctx,
            StatusCode::FORBIDDEN,
            "csrf",
            "The form does not belong to this session; reload the page and try again.",
        )),
    }
}

/// A signed-in page's form POST, read and proved: `body` as the form `F` (whose `csrf_token`
/// field `token_of` names), the caller it belongs to ([`form_session`]), and the session's CSRF
/// token for the forms of the page answered; 400 for a form that cannot be read.
pub(crate) fn signed_in_form<F: serde::de::DeserializeOwned>(
    state: &AppState,
    ctx: &Ctx,
    caller: Option<Extension<Arc<Principal>>>,
    form: Option<Extension<FormSession>>,
    uri: &Uri,
    body: &[u8],
    token_of: impl Fn(&F) -> &str,
) -> Result<(F, Caller, String), Response> {
    let parsed = serde_urlencoded::from_bytes::<F>(body).map_err(|_| malformed_form(state, ctx))?;
    let (caller, csrf_token) = form_session(state, ctx, caller, form, token_of(&parsed), uri)?;
    Ok((parsed, caller, csrf_token))
}

/// A form POST of a page without a session (sign-in, the second-factor challenge, the e-mail
/// pages): `body` as the form `F`, whose `form_token` field `token_of` names, checked against
/// this browser's `__Host-palisade-form` cookie ([`super::csrf::check`]); 400 for a form that
/// cannot be read, 403 `csrf` for a token of another browser.
pub(crate) fn browser_form<F: serde::de::DeserializeOwned>(
    state: &AppState,
    ctx: &Ctx,
    headers: &http::HeaderMap,
    body: &[u8],
    token_of: impl Fn(&F) -> &str,
) -> Result<F, Response> {
    let form = serde_urlencoded::from_bytes::<F>(body).map_err(|_| malformed_form(state, ctx))?;
    if !super::csrf::check(&state.identity.cookies, headers, token_of(&form)) {
        return Err(page_refused(
            state,
            ctx,
            StatusCode::FORBIDDEN,
            "csrf",
            "The form does not belong to this browser; reload the page and try again.",
        ));
    }
    Ok(form)
}

/// The page's answer to a form it cannot read (or an action it does not know).
pub(crate) fn malformed_form(state: &AppState, ctx: &Ctx) -> Response {
    page_refused(
        state,
        ctx,
        StatusCode::BAD_REQUEST,
        "malformed-form",
        "The form could not be read; reload the page and try again.",
    )
}

fn csrf_of(state: &AppState, p: &Principal) -> String {
    p.session_id
        .as_deref()
        .map(|sid| state.identity.cookies.csrf_token(sid))
        .unwrap_or_default()
}

/// `303` to the sign-in page (a sibling of every page) with `return_to` this page's path and
/// query (the device page's `user_code` survives the sign-in).
fn to_sign_in(state: &AppState, uri: &Uri) -> Response {
    // The handler sees its path below the mount; the browser needs the whole one.
    let below = uri.path_and_query().map_or("/", |pq| pq.as_str());
    let back = format!("{}{below}", state.routes.mount());
    let q = serde_urlencoded::to_string([("return_to", back.as_str())]).unwrap_or_default();
    see_other(&format!("sign-in?{q}"))
}
