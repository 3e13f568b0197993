//! The federated sign-in API under `/auth/federated/{provider}/`: `GET …/start` (the browser
//! goes to the provider), `GET …/callback` (it comes back), `POST …/link` (a signed-in account
//! links the provider). Thin: the rules and the audit events are [`super::flow`]'s.

#![allow(clippy::result_large_err)]

use super::flow::{self, CallbackQuery};
use super::pending::Intent;
use crate::api::extract::{Caller, Ctx, Path, no_store};
use crate::api::json::StrictJson;
use crate::state::AppState;
use axum::extract::{RawQuery, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use http::{HeaderMap, HeaderValue, header};
use serde::Deserialize;
use std::sync::Arc;
use utoipa::ToSchema;

type S = State<Arc<AppState>>;

/// `/auth/federated/{provider}/…`.
pub fn router() -> Router<Arc<AppState>> {
    Router::new()
        .route("/auth/federated/{provider}/start", get(start))
        .route("/auth/federated/{provider}/callback", get(callback))
        .route("/auth/federated/{provider}/link", post(link))
}

#[derive(Deserialize, Default)]
struct StartQuery {
    #[serde(default)]
    return_to: String,
}

/// Starts a sign-in with a provider: a redirect to it (authorization code, PKCE S256, state,
/// nonce) and the `__Host-palisade-fed` cookie binding the flow to this browser.
#[utoipa::path(
    get, path = "/auth/federated/{provider}/start", tag = "federation",
    params(
        ("provider" = String, Path, description = "The provider's id (`auth.providers[].id`)."),
        ("return_to" = Option<String>, Query, description = "Where to go after sign-in: a path here or an allow-listed origin."),
    ),
    responses(
        (status = 302, description = "To the provider's authorization endpoint; the binding cookie is set."),
        (status = 400, description = "return_to is not allowed, or the query is malformed."),
        (status = 403, description = "A browser arrived here from another site (`Sec-Fetch-Site: cross-site`): a sign-in starts from this site's own sign-in page."),
        (status = 404, description = "No such provider."),
        (status = 502, description = "The provider cannot be reached or is misconfigured."),
    ),
)]
pub(crate) async fn start(
    State(state): S,
    ctx: Ctx,
    headers: HeaderMap,
    Path(provider): Path<String>,
    RawQuery(query): RawQuery,
) -> Response {
    // A session is opened only by the person's own action on this site (ASVS 5.0 V7.6.2):
    // another site's link or redirect must not sign a browser in silently through the
    // provider's single sign-on.
    if headers
        .get("sec-fetch-site")
        .is_some_and(|v| v.as_bytes() == b"cross-site")
    {
        return flow::refuse(
            &state,
            &ctx,
            &provider,
            None,
            http::StatusCode::FORBIDDEN,
            "cross-site-start",
            "A sign-in with a provider starts from this site's sign-in page.",
        );
    }
    let q: StartQuery = match serde_urlencoded::from_str(query.as_deref().unwrap_or("")) {
        Ok(q) => q,
        Err(_) => StartQuery {
            // Unreadable: refused by the allow-list like any foreign target.
            return_to: "\u{0}".into(),
        },
    };
    match flow::start(&state, &ctx, &provider, &q.return_to, Intent::SignIn).await {
        Ok(started) => started.redirect(),
        Err(res) => res,
    }
}

/// The provider's answer: the flow finished, the browser session opened and a redirect to
/// `return_to` (or the signed-in page).
#[utoipa::path(
    get, path = "/auth/federated/{provider}/callback", tag = "federation",
    params(
        ("provider" = String, Path, description = "The provider's id."),
        ("code" = Option<String>, Query, description = "The authorization code."),
        ("state" = Option<String>, Query, description = "The flow's state."),
        ("iss" = Option<String>, Query, description = "RFC 9207 issuer identifier."),
    ),
    responses(
        (status = 303, description = "Signed in (the session cookie is set) or linked; Location is return_to or the signed-in page."),
        (status = 200, description = "The account has a second factor: `mfa_required`, `mfa_token` (continue at POST /auth/mfa/verify)."),
        (status = 400, description = "Unknown, used or foreign state, issuer mix-up, code refused, or no account for the identity (reason in the type)."),
        (status = 401, description = "The ID token does not verify (signature, audience, issuer, expiry, nonce)."),
        (status = 403, description = "The account's role requires a second factor it has not enrolled."),
        (status = 404, description = "No such provider."),
        (status = 502, description = "The provider cannot be reached."),
    ),
)]
pub(crate) async fn callback(
    State(state): S,
    ctx: Ctx,
    headers: HeaderMap,
    Path(provider): Path<String>,
    RawQuery(query): RawQuery,
) -> Response {
    let q: CallbackQuery =
        serde_urlencoded::from_str(query.as_deref().unwrap_or("")).unwrap_or_default();
    flow::callback(&state, &ctx, &headers, &provider, q).await
}

/// Where the browser returns after linking.
#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"return_to": "/auth/pages/signed-in"}))]
pub(crate) struct LinkBody {
    #[serde(default)]
    return_to: String,
}

/// Starts linking a provider identity to the caller's account: the authorization URL to send
/// the browser to, and the binding cookie.
#[utoipa::path(
    post, path = "/auth/federated/{provider}/link", tag = "federation",
    params(("provider" = String, Path, description = "The provider's id.")),
    request_body = LinkBody,
    responses(
        (status = 200, description = "`authorization_url`: where the browser goes; the binding cookie is set."),
        (status = 400, description = "return_to is not allowed."),
        (status = 401, description = "Not signed in."),
        (status = 403, description = "The caller is not a Palisade account."),
        (status = 404, description = "No such provider."),
        (status = 502, description = "The provider cannot be reached."),
    ),
    security(("bearer" = []), ("session" = [])),
)]
pub(crate) async fn link(
    State(state): S,
    ctx: Ctx,
    caller: Caller,
    Path(provider): Path<String>,
    StrictJson(body): StrictJson<LinkBody>,
) -> Response {
    let uid = match crate::api::mfa::factor_changer(&state, &ctx, &caller).await {
        Ok(u) => u,
        Err(r) => return r,
    };
    match flow::start(&state, &ctx, &provider, &body.return_to, Intent::Link(uid)).await {
        Ok(started) => {
            let mut res =
                Json(serde_json::json!({ "authorization_url": started.location })).into_response();
            if let Ok(v) = HeaderValue::from_str(&started.set_cookie) {
                res.headers_mut().append(header::SET_COOKIE, v);
            }
            no_store(res)
        }
        Err(res) => res,
    }
}
