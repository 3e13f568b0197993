//! A person's sessions: listing and revoking them (`/auth/sessions`), and the browser session
//! (`/auth/browser-session`): sign-in that sets the `__Host-palisade` cookie and answers the
//! CSRF token, and sign-out. Revoking a session flags it in hot state, which ends its access
//! tokens and cookie at once; each revocation is an audit event whose `details.reason` is the
//! reason stored with it (`logout` here), which the listing shows.

#![allow(clippy::result_large_err)]

use super::auth::{LoginBody, check_credentials, second_factor_gate};
use super::extract::{Caller, Ctx, Path, needs_user, no_store};
use super::json::StrictJson;
use super::openapi::schemas;
use crate::audit::{AuditEvent, Outcome, Risk};
use crate::identity::cookie::{CookieKeys, CookieSession};
use crate::identity::sessions::ClientInfo;
use crate::state::AppState;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use http::{HeaderMap, HeaderValue, StatusCode, header};
use palisade_core::mfa::assurance::Assurance;
use palisade_core::principal::AuthMethod;
use palisade_store::identity::{RevocationReason, SessionKind, UserRecord};
use std::sync::Arc;
use uuid::Uuid;

type S = State<Arc<AppState>>;

/// `/auth/sessions` and `/auth/browser-session`.
pub fn router() -> Router<Arc<AppState>> {
    Router::new()
        .route("/auth/sessions", get(list_sessions))
        .route("/auth/sessions/revoke-all", post(revoke_all_sessions))
        .route("/auth/sessions/{id}", delete(delete_session))
        .route(
            "/auth/browser-session",
            post(browser_login).delete(browser_logout),
        )
}

/// Which sessions to list.
#[derive(serde::Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct ListParams {
    /// Also the revoked ones not yet purged by retention, with when and why (default false).
    #[serde(default)]
    include_revoked: bool,
}

/// The caller's live sessions (and, when asked, the revoked ones with their reason).
#[utoipa::path(
    get, path = "/auth/sessions", tag = "sessions",
    params(ListParams),
    responses(
        (status = 200, description = "The caller's sessions.", body = schemas::SessionList),
        (status = 400, description = "include_revoked is not true or false."),
        (status = 403, description = "The caller is not a Palisade account."),
    ),
    security(("bearer" = []), ("api_key" = []), ("session" = [])),
)]
async fn list_sessions(
    State(state): S,
    ctx: Ctx,
    caller: Caller,
    query: Result<Query<ListParams>, QueryRejection>,
) -> Response {
    let uid = match needs_user(&caller, &ctx) {
        Ok(u) => u,
        Err(r) => return r,
    };
    let Ok(Query(params)) = query else {
        return ctx.problem(
            StatusCode::BAD_REQUEST,
            "invalid-query",
            "The only parameter is include_revoked, true or false.",
        );
    };
    let now = state.identity.now_ms() as i64;
    let listed = state
        .identity
        .store
        .sessions_for_user(uid, params.include_revoked)
        .await;
    match listed {
        Ok(list) => {
            let items: Vec<_> = list
                .iter()
                .filter(|s| s.revoked_at.is_some() || s.expires_at > now)
                .map(|s| {
                    serde_json::json!({
                        "id": s.id, "kind": s.kind.as_str(), "created_at": s.created_at,
                        "last_seen_at": s.last_seen_at, "expires_at": s.expires_at,
                        "user_agent": s.user_agent, "device": &s.fingerprint[..16.min(s.fingerprint.len())],
                        "current": caller.0.session_id.as_deref() == Some(&s.id.to_string()),
                        "revoked_at": s.revoked_at,
                        "revoked_reason": s.revoked_reason.map(RevocationReason::as_str),
                    })
                })
                .collect();
            no_store(Json(serde_json::json!({ "sessions": items })).into_response())
        }
        Err(e) => ctx.unavailable(e),
    }
}

/// Ends one of the caller's sessions.
#[utoipa::path(
    delete, path = "/auth/sessions/{id}", tag = "sessions",
    params(("id" = String, Path, description = "The session's id.", example = "0192f1c4-1b2a-7c3d-8e4f-5a6b7c8d9e0f")),
    responses(
        (status = 204, description = "The session is ended."),
        (status = 403, description = "The caller is not a Palisade account."),
        (status = 404, description = "No such session of the caller."),
    ),
    security(("bearer" = []), ("api_key" = []), ("session" = [])),
)]
async fn delete_session(
    State(state): S,
    ctx: Ctx,
    caller: Caller,
    Path(sid): Path<String>,
) -> Response {
    let uid = match needs_user(&caller, &ctx) {
        Ok(u) => u,
        Err(r) => return r,
    };
    let id = &state.identity;
    let not_found = || ctx.problem(StatusCode::NOT_FOUND, "not-found", "No such session.");
    let Ok(sid) = sid.parse::<Uuid>() else {
        return not_found();
    };
    match id.store.session_get(sid).await {
        Ok(Some(s)) if s.user_id == uid => {}
        Ok(_) => return not_found(),
        Err(e) => return ctx.unavailable(e),
    }
    match id.revoke_session(sid, RevocationReason::Logout).await {
        Ok(_) => {
            id.audit.record(
                ctx.audit(
                    AuditEvent::new("auth.session_revoked", Risk::Low, Outcome::Success)
                        .actor(uid.to_string())
                        .resource(format!("session:{sid}"))
                        .details(
                            serde_json::json!({ "reason": RevocationReason::Logout.as_str() }),
                        ),
                ),
            );
            StatusCode::NO_CONTENT.into_response()
        }
        Err(e) => ctx.unavailable(e),
    }
}

/// Ends every session of the caller, this one included.
#[utoipa::path(
    post, path = "/auth/sessions/revoke-all", tag = "sessions",
    responses(
        (status = 200, description = "How many sessions were ended.", body = schemas::Revoked),
        (status = 403, description = "The caller is not a Palisade account."),
    ),
    security(("bearer" = []), ("api_key" = []), ("session" = [])),
)]
async fn revoke_all_sessions(State(state): S, ctx: Ctx, caller: Caller) -> Response {
    let uid = match needs_user(&caller, &ctx) {
        Ok(u) => u,
        Err(r) => return r,
    };
    let id = &state.identity;
    match id.revoke_user_sessions(uid, RevocationReason::Logout).await {
        Ok(n) => {
            if let Err(e) = id.revoke_access_token(&caller.0).await {
                return ctx.unavailable(e);
            }
            id.audit.record(
                ctx.audit(
                    AuditEvent::new("auth.sessions_revoked_all", Risk::Medium, Outcome::Success)
                        .actor(uid.to_string())
                        .details(serde_json::json!({
                            "sessions": n,
                            "reason": RevocationReason::Logout.as_str(),
                        })),
                ),
            );
            Json(serde_json::json!({ "revoked": n })).into_response()
        }
        Err(e) => ctx.unavailable(e),
    }
}

/// Signs in a browser: sets the `__Host-palisade` cookie and answers the CSRF token.
#[utoipa::path(
    post, path = "/auth/browser-session", tag = "sessions",
    request_body = LoginBody,
    responses(
        (status = 200, description = "Signed in; the cookie is set.", body = schemas::BrowserSession,
            headers(("set-cookie" = String, description = "The `__Host-palisade` session cookie."))),
        (status = 401, description = "The e-mail address or the password is wrong, or a CAPTCHA is needed."),
        (status = 429, description = "Too many failed sign-ins; see Retry-After."),
    ),
)]
async fn browser_login(
    State(state): S,
    ctx: Ctx,
    headers: HeaderMap,
    StrictJson(body): StrictJson<LoginBody>,
) -> Response {
    let user = match check_credentials(&state, &ctx, body).await {
        Ok(u) => u,
        Err(res) => return res,
    };
    if let Err(res) = second_factor_gate(&state, &ctx, &headers, &user, SessionKind::Cookie).await {
        return res;
    }
    let assurance = Assurance::password(state.identity.now_ms() / 1000);
    let client = ClientInfo::from_headers(&headers);
    match open_browser_session(&state, &ctx, &user, &client, &assurance).await {
        Ok(opened) => opened.into_response(),
        Err(res) => res,
    }
}

/// Opens a browser session carrying `assurance` for `user` without a sign-in on record: a
/// completed second factor or a step-up (their own events say what happened).
pub(super) async fn open_cookie_session(
    state: &AppState,
    ctx: &Ctx,
    headers: &HeaderMap,
    user: &UserRecord,
    assurance: &Assurance,
) -> Response {
    match open_cookie(
        state,
        ctx,
        user,
        &ClientInfo::from_headers(headers),
        assurance,
    )
    .await
    {
        Ok(opened) => opened.into_response(),
        Err(res) => res,
    }
}

/// A browser session just opened: the cookie to set and the CSRF token for the page.
pub(crate) struct OpenedBrowserSession {
    /// The `Set-Cookie` value for `__Host-palisade`.
    pub set_cookie: String,
    /// The token the page sends as `X-CSRF-Token`.
    pub csrf_token: String,
    /// Seconds until the cookie ends.
    pub expires_in: u64,
}

impl OpenedBrowserSession {
    /// The JSON answer of the sign-in APIs (`csrf_token`, `expires_in`) with the cookie set.
    pub(crate) fn into_response(self) -> Response {
        let mut res = Json(serde_json::json!({
            "csrf_token": self.csrf_token,
            "expires_in": self.expires_in,
        }))
        .into_response();
        self.set_on(&mut res);
        no_store(res)
    }

    /// Sets the session cookie on `res`.
    pub(crate) fn set_on(&self, res: &mut Response) {
        if let Ok(v) = HeaderValue::from_str(&self.set_cookie) {
            res.headers_mut().append(header::SET_COOKIE, v);
        }
    }
}

/// Opens a browser session for `user`, who has just proved `method`: the session row, the
/// sealed `__Host-palisade` cookie and `auth.login_success` on record (with `amr` and `acr`).
/// Every browser sign-in (the API and the hosted pages, by password or passkey) comes here.
pub(crate) async fn open_browser_session(
    state: &AppState,
    ctx: &Ctx,
    user: &UserRecord,
    client: &ClientInfo,
    assurance: &Assurance,
) -> Result<OpenedBrowserSession, Response> {
    let opened = open_cookie(state, ctx, user, client, assurance).await?;
    let id = &state.identity;
    id.audit.record(
        ctx.audit(
            AuditEvent::new("auth.login_success", Risk::Low, Outcome::Success)
                .actor(id.subject_of(user))
                .details(serde_json::json!({
                    "session": "cookie",
                    "amr": assurance.amr,
                    "acr": assurance.acr.as_str(),
                })),
        ),
    );
    Ok(opened)
}

/// The session row and the sealed `__Host-palisade` cookie carrying `assurance`, with no
/// event of its own: for a sign-in whose completion is on record already (a second factor
/// through [`super::mfa::prove_second_factor`]). The browser session the request arrived with,
/// if any, ends (a sign-in always rotates the session).
pub(crate) async fn open_cookie(
    state: &AppState,
    ctx: &Ctx,
    user: &UserRecord,
    client: &ClientInfo,
    assurance: &Assurance,
) -> Result<OpenedBrowserSession, Response> {
    let id = &state.identity;
    let session = id
        .open_session(user, SessionKind::Cookie, client, assurance)
        .await
        .map_err(|e| ctx.unavailable(e))?;
    if let Some(previous) = ctx.browser_session {
        id.revoke_session(previous, RevocationReason::Logout)
            .await
            .map_err(|e| ctx.unavailable(e))?;
    }
    let ttl = id.config.cookie_session_ttl.0.as_secs();
    let sid = session.id.to_string();
    let sealed = id.cookies.seal(&CookieSession {
        sid: sid.clone(),
        sub: id.subject_of(user),
        uid: (id.subject_of(user) != user.id.to_string()).then(|| user.id.to_string()),
        roles: user.roles.clone(),
        tier: Some(user.tier.clone()),
        exp: id.now_ms() / 1000 + ttl,
        amr: assurance.amr.clone(),
        acr: Some(assurance.acr.as_str().to_owned()),
        auth_time: Some(assurance.auth_time),
    });
    Ok(OpenedBrowserSession {
        set_cookie: CookieKeys::set_cookie(&sealed, ttl),
        csrf_token: id.cookies.csrf_token(&sid),
        expires_in: ttl,
    })
}

/// Signs a browser out: ends the cookie's session and clears the cookie.
#[utoipa::path(
    delete, path = "/auth/browser-session", tag = "sessions",
    responses((status = 204, description = "Signed out; the cookie is cleared.")),
    security(("bearer" = []), ("api_key" = []), ("session" = [])),
)]
async fn browser_logout(State(state): S, ctx: Ctx, caller: Caller) -> Response {
    let id = &state.identity;
    if caller.0.method == AuthMethod::Session
        && let Some(sid) = caller.0.session_id.as_deref().and_then(|s| s.parse().ok())
        && let Err(e) = id.revoke_session(sid, RevocationReason::Logout).await
    {
        return ctx.unavailable(e);
    }
    let mut res = StatusCode::NO_CONTENT.into_response();
    if let Ok(v) = HeaderValue::from_str(&CookieKeys::clear_cookie()) {
        res.headers_mut().insert(header::SET_COOKIE, v);
    }
    res
}
