//! The hosted pages toolkit: Palisade's own server-rendered HTML under `/auth/pages/` (moved by
//! `api.mount` like every built-in path), reused by the console later.
//!
//! What every page gets, and the guarantees: templates and assets embedded in the binary
//! ([`render`], [`assets`]; one CSS and one JS file, no CDN); the strict page CSP
//! ([`crate::layers::respond::PAGES_CSP`]: no inline script or style) through the
//! [`HostedPage`](crate::layers::respond::HostedPage) marker; `Cache-Control: no-store`; a CSRF
//! token bound to the browser and checked on every form POST ([`csrf`]); `return_to` limited to
//! Palisade's own paths and `auth.pages.return_to_origins` ([`return_to`]). The pages sign in
//! through the same use cases as the JSON API (`api::sessions::open_browser_session`),
//! so the `__Host-palisade` session and the audit trail are the same.
//!
//! Pages: [`sign_in`] (password and passkey; federated-provider buttons plug in at
//! [`sign_in::ProviderButton`]) and its second step [`mfa_challenge`]; for a signed-in user
//! [`passkey_pages`], [`totp_pages`] (authenticator apps), [`recovery_pages`] and
//! [`device_pages`] (device approval). The signed-in pages' forms carry the session's CSRF
//! token in their body ([`session_form`]). Without a session: [`email_pages`] (forgotten
//! password: ask for the link, set a new password; confirm an address).

pub mod assets;
pub mod csrf;
pub mod device_pages;
pub mod email_pages;
pub mod mfa_challenge;
pub mod passkey_pages;
pub mod recovery_pages;
pub mod render;
pub mod return_to;
pub mod session_form;
pub mod sign_in;
pub mod totp_pages;

use crate::state::AppState;
use axum::Router;
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};
use std::sync::Arc;

/// Every hosted page and its assets.
pub fn router() -> Router<Arc<AppState>> {
    sign_in::router()
        .merge(mfa_challenge::router())
        .merge(passkey_pages::router())
        .merge(totp_pages::router())
        .merge(recovery_pages::router())
        .merge(device_pages::router())
        .merge(email_pages::router())
        .merge(assets::router())
}

/// A rendered page: HTML, `no-store`, marked for the page CSP.
pub(crate) fn page(status: StatusCode, html: String) -> Response {
    let mut res = (status, html).into_response();
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res.extensions_mut()
        .insert(crate::layers::respond::HostedPage);
    res
}

/// `303 See Other` to `location` (after a form POST), `no-store`.
pub(crate) fn see_other(location: &str) -> Response {
    let mut res = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(location) {
        res.headers_mut().insert(header::LOCATION, v);
    }
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}
