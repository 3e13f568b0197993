//! Palisade's built-in API: every endpoint Palisade answers itself, merged into one router that
//! the route step hands every request the boundary classified as built in
//! ([`crate::route::builtin::Builtin`]). One file per area: [`ops`] (`/healthz`, `/readyz`,
//! `/metrics`), [`auth`] (accounts, sign-in, tokens, the JWKS), [`device`] (the device
//! authorization grant and `/auth/token`), [`email`] (verification, password reset, change of
//! address), [`export`] (a person's data export), [`deletion`] (account deletion), [`sessions`], [`api_keys`],
//! [`forward_auth`] (`/auth/verify`), [`admin`] (`/admin/…`), [`secrets`] (`/v1/secrets`) and
//! [`transit`] (`/v1/transit`).
//!
//! What every handler shares is in [`extract`] (context, caller, permission check, store
//! errors) and [`json`] (strict bodies). Handlers are thin: the rules live in `identity`,
//! `authz`, `protect` and the store. Gates never import this module.

pub mod admin;
pub mod api_keys;
pub mod auth;
pub mod deletion;
pub mod device;
pub mod email;
pub mod export;
pub mod extract;
pub mod forward_auth;
pub mod json;
pub mod mfa;
pub mod openapi;
pub mod ops;
pub mod secrets;
pub mod sessions;
pub mod transit;

use crate::state::AppState;
use std::sync::Arc;

/// `/.well-known/jwks.json` alone, for `api.jwks_at_root` (the root copy beside a mount).
pub fn root_jwks_router(state: Arc<AppState>) -> axum::Router {
    axum::Router::new()
        .route(
            crate::route::builtin::JWKS_PATH,
            axum::routing::get(auth::jwks),
        )
        .with_state(state)
}

/// Every built-in endpoint, with the application state attached.
pub fn router(state: Arc<AppState>) -> axum::Router {
    ops::router()
        .merge(auth::router())
        .merge(device::router())
        .merge(email::router())
        .merge(export::router())
        .merge(deletion::router())
        .merge(sessions::router())
        .merge(mfa::router())
        .merge(crate::passkeys::routes::router())
        .merge(crate::identity::federation::routes::router())
        .merge(crate::identity::connections::routes::router())
        .merge(crate::pages::router())
        .merge(crate::console::router())
        .merge(api_keys::router())
        .merge(forward_auth::router())
        .merge(admin::router())
        .merge(openapi::router())
        .merge(secrets::router())
        .merge(transit::router())
        .fallback(extract::no_endpoint)
        .method_not_allowed_fallback(extract::wrong_method)
        .with_state(state)
}
