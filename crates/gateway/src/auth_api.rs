//! The `/auth` API (accounts, tokens, sessions, API keys), the JWKS, and the identity parts of
//! `/admin` (IP blocks, invites).
//!
//! Bodies are parsed strictly ([`StrictJson`]); every refusal is problem+json. Login answers the
//! same for an unknown e-mail, a wrong password and a disabled account, after the same work.

// Helpers return the finished refusal as their error, the axum idiom; off the hot path, so the
// size of `Response` in a `Result` does not matter.
#![allow(clippy::result_large_err)]

use crate::audit::{AuditEvent, Outcome, RequestOrigin, Risk};
use crate::identity::cookie::{CookieKeys, CookieSession};
use crate::identity::sessions::{ClientInfo, RefreshError};
use crate::json::StrictJson;
use crate::problem::{refuse, refuse_with};
use crate::request::RequestMeta;
use crate::route::builtin::JWKS_PATH;
use crate::state::AppState;
use axum::extract::{FromRequestParts, Path, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use http::request::Parts;
use http::{HeaderMap, HeaderValue, StatusCode, header};
use palisade_core::password::{PasswordContext, Verification};
use palisade_core::principal::{AuthMethod, Principal};
use palisade_store::StoreError;
use palisade_store::identity::{ApiKeyRecord, SessionKind, UserRecord};
use secrecy::ExposeSecret;
use serde::Deserialize;
use std::net::IpAddr;
use std::sync::Arc;
use uuid::Uuid;

const GATE: &str = "auth";

type S = State<Arc<AppState>>;

pub fn router() -> Router<Arc<AppState>> {
    Router::new()
        .route("/auth/register", post(register))
        .route("/auth/login", post(login))
        .route("/auth/refresh", post(refresh))
        .route("/auth/logout", post(logout))
        .route("/auth/me", get(me))
        .route("/auth/sessions", get(list_sessions))
        .route("/auth/sessions/revoke-all", post(revoke_all_sessions))
        .route("/auth/sessions/{id}", delete(delete_session))
        .route(
            "/auth/browser-session",
            post(browser_login).delete(browser_logout),
        )
        .route("/auth/api-keys", post(create_key).get(list_keys))
        .route("/auth/api-keys/{id}", delete(revoke_key))
        .route("/auth/api-keys/{id}/rotate", post(rotate_key))
        .route("/auth/invites", post(invite))
        .route(JWKS_PATH, get(jwks))
        .route(
            crate::forward_auth::PATH,
            axum::routing::any(crate::forward_auth::verify),
        )
        .route(
            "/auth/verify/{*original}",
            axum::routing::any(crate::forward_auth::verify),
        )
        .route("/admin/ip-blocks", get(list_blocks))
        .route("/admin/ip-blocks/{ip}", delete(unblock))
}

/// What every handler needs to answer and to record: the request id, the client IP and the
/// rest of the request's audit origin.
pub(crate) struct Ctx {
    pub id: String,
    pub ip: IpAddr,
    pub origin: RequestOrigin,
}

impl<St: Send + Sync> FromRequestParts<St> for Ctx {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, _: &St) -> Result<Self, Response> {
        let meta = parts.extensions.get::<RequestMeta>();
        Ok(Ctx {
            id: meta
                .map(|m| m.request_id_str().to_owned())
                .unwrap_or_default(),
            ip: meta.map_or(IpAddr::from([0, 0, 0, 0]), |m| m.client_ip),
            origin: RequestOrigin::from_parts(
                &parts.method,
                &parts.uri,
                &parts.headers,
                &parts.extensions,
            ),
        })
    }
}

impl Ctx {
    pub(crate) fn problem(
        &self,
        status: StatusCode,
        slug: &'static str,
        detail: impl Into<String>,
    ) -> Response {
        refuse(GATE, slug, status, detail, &self.id)
    }

    pub(crate) fn unavailable(&self, e: impl std::fmt::Display) -> Response {
        tracing::warn!(error = %e, request_id = %self.id, "identity backend failed");
        self.problem(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "The identity service cannot answer right now; try again shortly.",
        )
    }

    /// The event with what this request tells: client IP, request id, user agent, action,
    /// tenant.
    pub(crate) fn audit(&self, event: AuditEvent) -> AuditEvent {
        event.origin(&self.origin)
    }
}

/// The authenticated caller, or a 401.
pub(crate) struct Caller(pub Arc<Principal>);

impl<St: Send + Sync> FromRequestParts<St> for Caller {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, _: &St) -> Result<Self, Response> {
        match parts.extensions.get::<Arc<Principal>>() {
            Some(p) => Ok(Caller(p.clone())),
            None => {
                let id = parts
                    .extensions
                    .get::<RequestMeta>()
                    .map(|m| m.request_id_str().to_owned())
                    .unwrap_or_default();
                Err(crate::problem::unauthorized(
                    "missing",
                    "Sign in: send a bearer token, an API key or the session cookie.",
                    &id,
                ))
            }
        }
    }
}

impl Caller {
    fn user_id(&self) -> Option<Uuid> {
        match self.0.method {
            AuthMethod::External => None,
            _ => self.0.subject.parse().ok(),
        }
    }
}

/// Permissions of Palisade's own admin API. Three segments, so that an ordinary role's `*.read`
/// or `*.write` never reaches them; the default `admin` role holds them all through `admin.*`.
pub(crate) mod perm {
    pub const TENANTS_READ: &str = "admin.tenants.read";
    pub const TENANTS_WRITE: &str = "admin.tenants.write";
    pub const ROLES_READ: &str = "admin.roles.read";
    pub const POLICY_READ: &str = "admin.policy.read";
    pub const CONFIG_WRITE: &str = "admin.config.write";
    pub const IP_BLOCKS_READ: &str = "admin.ip_blocks.read";
    pub const IP_BLOCKS_WRITE: &str = "admin.ip_blocks.write";
    pub const INVITES_WRITE: &str = "admin.invites.write";
    pub const KEYS_WRITE: &str = "admin.keys.write";
    pub const SERVICE_ACCOUNTS_WRITE: &str = "admin.service_accounts.write";
    pub const AUDIT_READ: &str = "admin.audit.read";
    pub const INCIDENTS_READ: &str = "admin.incidents.read";
}

/// The caller holds `permission` (through its roles, within its key's scopes), or a 403 that is
/// an audit event (and a privilege-escalation attempt when the caller is no administrator).
pub(crate) fn require(
    state: &AppState,
    caller: &Caller,
    ctx: &Ctx,
    permission: &'static str,
) -> Result<(), Response> {
    if state.authz.permits(&caller.0, permission) {
        return Ok(());
    }
    state
        .authz
        .record_admin_denial(&caller.0, permission, &ctx.origin);
    Err(refuse_with(
        GATE,
        "forbidden",
        StatusCode::FORBIDDEN,
        "You are not allowed to do this.",
        &ctx.id,
        serde_json::json!({ "permission": permission }),
    ))
}

fn store_err(ctx: &Ctx) -> impl Fn(StoreError) -> Response + '_ {
    move |e| ctx.unavailable(e)
}

// ---------------------------------------------------------------- accounts

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RegisterBody {
    email: String,
    password: String,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    invite: Option<String>,
    #[serde(default)]
    captcha_token: Option<String>,
}

async fn register(
    State(state): S,
    ctx: Ctx,
    StrictJson(body): StrictJson<RegisterBody>,
) -> Response {
    let id = &state.identity;
    use crate::config::auth::Registration;
    if id.config.registration == Registration::Disabled {
        return ctx.problem(
            StatusCode::FORBIDDEN,
            "registration-closed",
            "Registration is closed; ask an administrator for an account.",
        );
    }
    let Some(email) = palisade_core::email::normalize(&body.email) else {
        return ctx.problem(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid-email",
            "The e-mail address is not valid.",
        );
    };
    if id.config.registration == Registration::Invite
        && !body
            .invite
            .as_deref()
            .is_some_and(|inv| id.invites.check(&email, inv, id.now_ms() / 1000))
    {
        return ctx.problem(
            StatusCode::FORBIDDEN,
            "invite-required",
            "Registration needs a valid invite for this address.",
        );
    }
    if let Some(captcha) = id.captcha.as_ref().filter(|c| c.on_register)
        && !captcha
            .verify(body.captcha_token.as_deref().unwrap_or(""), ctx.ip)
            .await
    {
        return ctx.problem(
            StatusCode::BAD_REQUEST,
            "captcha-failed",
            "The CAPTCHA was missing or not solved.",
        );
    }
    let name = body.name.filter(|n| !n.trim().is_empty());
    if name.as_ref().is_some_and(|n| n.chars().count() > 200) {
        return ctx.problem(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid-name",
            "The name is longer than 200 characters.",
        );
    }
    let context = PasswordContext {
        email: Some(&email),
        name: name.as_deref(),
    };
    if let Err(violations) = id.policy.check(&body.password, &context) {
        let list: Vec<_> = violations
            .iter()
            .map(|v| serde_json::json!({"code": v.code(), "message": v.message()}))
            .collect();
        return refuse_with(
            GATE,
            "weak-password",
            StatusCode::UNPROCESSABLE_ENTITY,
            "The password does not meet the policy.",
            &ctx.id,
            serde_json::json!({ "violations": list }),
        );
    }
    let password = body.password;
    let Some(Ok(hash)) = id.hash_work(move |h| h.hash(&password)).await else {
        return busy(&ctx);
    };
    let now = id.now_ms() as i64;
    let user = UserRecord {
        id: Uuid::now_v7(),
        email,
        name,
        password_hash: Some(hash),
        roles: id.config.default_roles.clone(),
        tier: "free".into(),
        kind: palisade_store::identity::PrincipalKind::Human,
        disabled: false,
        created_at: now,
        updated_at: now,
    };
    match id.store.user_insert(&user).await {
        Ok(()) => {}
        Err(StoreError::Conflict(_)) => {
            return ctx.problem(
                StatusCode::CONFLICT,
                "email-taken",
                "An account with this e-mail address exists.",
            );
        }
        Err(e) => return ctx.unavailable(e),
    }
    id.audit.record(
        ctx.audit(
            AuditEvent::new("user.created", Risk::Low, Outcome::Success)
                .actor(user.id.to_string())
                .resource(format!("user:{}", user.id)),
        ),
    );
    (StatusCode::CREATED, Json(user_json(&user))).into_response()
}

fn user_json(u: &UserRecord) -> serde_json::Value {
    serde_json::json!({
        "id": u.id, "email": u.email, "name": u.name, "roles": u.roles,
        "tier": u.tier, "disabled": u.disabled, "created_at": u.created_at,
    })
}

fn busy(ctx: &Ctx) -> Response {
    let mut res = ctx.problem(
        StatusCode::SERVICE_UNAVAILABLE,
        "busy",
        "Too many sign-ins are being processed; try again in a moment.",
    );
    res.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    res
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LoginBody {
    email: String,
    password: String,
    #[serde(default)]
    captcha_token: Option<String>,
}

/// A sign-in refused before its password is checked, on record as `auth.login_refused`
/// (sampled per address; every one counts for the alert rules).
fn login_refused(state: &AppState, ctx: &Ctx, reason: &'static str, res: Response) -> Response {
    state.identity.audit.record_refusal(
        ctx.audit(
            AuditEvent::new("auth.login_refused", Risk::Medium, Outcome::Denied)
                .details(serde_json::json!({ "reason": reason })),
        ),
    );
    res
}

fn too_many(ctx: &Ctx, wait: std::time::Duration) -> Response {
    let secs = wait.as_secs_f64().ceil().max(1.0) as u64;
    let mut res = ctx.problem(
        StatusCode::TOO_MANY_REQUESTS,
        "login-delayed",
        format!("Too many failed sign-ins; try again in {secs} s."),
    );
    res.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    res
}

/// Checks e-mail and password with brute-force defense; the user on success, else the answer.
async fn check_credentials(
    state: &AppState,
    ctx: &Ctx,
    body: LoginBody,
) -> Result<UserRecord, Response> {
    let id = &state.identity;
    let email = palisade_core::email::normalize(&body.email).unwrap_or_default();
    match id.brute.wait_left(&email, ctx.ip).await {
        Ok(Some(wait)) => {
            return Err(login_refused(
                state,
                ctx,
                "login-delayed",
                too_many(ctx, wait),
            ));
        }
        Ok(None) => {}
        Err(e) => return Err(ctx.unavailable(e)),
    }
    if let Some(captcha) = &id.captcha {
        let failures = id
            .brute
            .failures(&email, ctx.ip)
            .await
            .map_err(store_err(ctx))?;
        if failures >= captcha.login_after_failures
            && !captcha
                .verify(body.captcha_token.as_deref().unwrap_or(""), ctx.ip)
                .await
        {
            let res = ctx.problem(
                StatusCode::UNAUTHORIZED,
                "captcha-required",
                "Solve the CAPTCHA and send its token as captcha_token.",
            );
            return Err(login_refused(state, ctx, "captcha-required", res));
        }
    }
    let user = if email.is_empty() {
        None
    } else {
        id.store
            .user_by_email(&email)
            .await
            .map_err(store_err(ctx))?
    };
    let stored = user.as_ref().and_then(|u| u.password_hash.clone());
    let password = body.password.clone();
    let verification = id
        .hash_work(move |h| match stored {
            Some(stored) => h.verify(&password, &stored),
            None => {
                h.verify_dummy(&password);
                Verification::Invalid
            }
        })
        .await
        .ok_or_else(|| busy(ctx))?;
    let user = match (user, verification) {
        (Some(user), Verification::Valid { needs_rehash }) if !user.disabled => {
            if needs_rehash {
                rehash(state, &user, body.password).await;
            }
            user
        }
        (user, _) => return Err(login_failed(state, ctx, &email, user.as_ref()).await),
    };
    id.brute
        .record_success(&email, ctx.ip)
        .await
        .map_err(store_err(ctx))?;
    Ok(user)
}

/// Moves a legacy or weaker hash to the current argon2id parameters.
async fn rehash(state: &AppState, user: &UserRecord, password: String) {
    let id = &state.identity;
    if let Some(Ok(hash)) = id.hash_work(move |h| h.hash(&password)).await {
        match id
            .store
            .user_set_password_hash(user.id, &hash, id.now_ms() as i64)
            .await
        {
            Ok(_) => {
                tracing::info!(user = %user.id, "password hash upgraded to current parameters")
            }
            Err(e) => tracing::warn!(error = %e, "cannot store an upgraded password hash"),
        }
    }
}

async fn login_failed(
    state: &AppState,
    ctx: &Ctx,
    email: &str,
    user: Option<&UserRecord>,
) -> Response {
    let id = &state.identity;
    let outcome = match id.brute.record_failure(email, ctx.ip).await {
        Ok(o) => o,
        Err(e) => return ctx.unavailable(e),
    };
    let mut event = AuditEvent::new(
        "auth.login_failure",
        if outcome.blocked_for.is_some() {
            Risk::High
        } else {
            Risk::Medium
        },
        Outcome::Failure,
    )
    .details(serde_json::json!({ "threat_level": outcome.level.as_str() }));
    if let Some(u) = user {
        // The `admin_login_failures` alert rule watches administrator accounts.
        let admin = state.authz.is_admin(&u.roles);
        event = event
            .actor(u.id.to_string())
            .details(serde_json::json!({ "threat_level": outcome.level.as_str(), "admin": admin }));
    }
    id.audit.record(ctx.audit(event));
    if let Some(block) = outcome.blocked_for {
        id.audit.record(
            ctx.audit(
                AuditEvent::new("ip.blocked", Risk::High, Outcome::Success)
                    .resource(format!("ip:{}", ctx.ip))
                    .details(serde_json::json!({
                        "threat_level": outcome.level.as_str(),
                        "seconds": block.as_secs(),
                    })),
            ),
        );
    }
    let mut res = ctx.problem(
        StatusCode::UNAUTHORIZED,
        "invalid-credentials",
        "The e-mail address or the password is wrong.",
    );
    if let Some(wait) = outcome.wait {
        let secs = wait.as_secs_f64().ceil().max(1.0) as u64;
        res.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    res
}

async fn login(
    State(state): S,
    ctx: Ctx,
    headers: HeaderMap,
    StrictJson(body): StrictJson<LoginBody>,
) -> Response {
    let user = match check_credentials(&state, &ctx, body).await {
        Ok(u) => u,
        Err(res) => return res,
    };
    let id = &state.identity;
    match id.login(&user, &ClientInfo::from_headers(&headers)).await {
        Ok(tokens) => {
            id.audit.record(
                ctx.audit(
                    AuditEvent::new("auth.login_success", Risk::Low, Outcome::Success)
                        .actor(user.id.to_string()),
                ),
            );
            no_store(Json(tokens).into_response())
        }
        Err(e) => ctx.unavailable(e),
    }
}

fn no_store(mut res: Response) -> Response {
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RefreshBody {
    refresh_token: String,
}

async fn refresh(
    State(state): S,
    ctx: Ctx,
    headers: HeaderMap,
    StrictJson(body): StrictJson<RefreshBody>,
) -> Response {
    let id = &state.identity;
    let client = ClientInfo::from_headers(&headers);
    match id.refresh(&body.refresh_token, &client, &ctx.origin).await {
        Ok(tokens) => no_store(Json(tokens).into_response()),
        Err(RefreshError::Store(e)) => ctx.unavailable(e),
        Err(e @ (RefreshError::Invalid | RefreshError::Reused)) => {
            if matches!(e, RefreshError::Invalid) {
                // A reuse is on record already (auth.refresh_reuse_detected, durable).
                id.audit.record_refusal(
                    ctx.audit(
                        AuditEvent::new("auth.credential_rejected", Risk::Medium, Outcome::Denied)
                            .details(serde_json::json!({
                                "reason": "invalid-grant",
                                "credential": "refresh_token",
                            })),
                    ),
                );
            }
            crate::problem::unauthorized(
                "invalid_grant",
                "The refresh token is not valid; sign in again.",
                &ctx.id,
            )
        }
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct LogoutBody {
    #[serde(default)]
    refresh_token: Option<String>,
}

async fn logout(
    State(state): S,
    ctx: Ctx,
    caller: Caller,
    req: axum::extract::Request,
) -> Response {
    let body: LogoutBody = match crate::json::optional_body(req).await {
        Ok(b) => b,
        Err(res) => return res,
    };
    let id = &state.identity;
    if let Err(e) = id.revoke_access_token(&caller.0).await {
        return ctx.unavailable(e);
    }
    if let Some(token) = body.refresh_token.as_deref() {
        match id.refresh_session(token).await {
            Ok(Some(sid)) => {
                let own = match id.store.session_get(sid).await {
                    Ok(s) => s.is_some_and(|s| Some(s.user_id) == caller.user_id()),
                    Err(e) => return ctx.unavailable(e),
                };
                if own && let Err(e) = id.revoke_session(sid).await {
                    return ctx.unavailable(e);
                }
            }
            Ok(None) => {}
            Err(e) => return ctx.unavailable(e),
        }
    }
    id.audit.record(ctx.audit(
        AuditEvent::new("auth.logout", Risk::Low, Outcome::Success).actor(caller.0.subject.clone()),
    ));
    StatusCode::NO_CONTENT.into_response()
}

async fn me(State(state): S, ctx: Ctx, caller: Caller) -> Response {
    let p = &caller.0;
    let mut body = serde_json::json!({
        "subject": p.subject, "method": p.method.as_str(), "issuer": p.issuer,
        "roles": p.roles, "tenants": p.tenants, "tier": p.tier, "scopes": p.scopes,
        "session_id": p.session_id, "key_id": p.key_id,
    });
    if let Some(uid) = caller.user_id() {
        match state.identity.store.user_by_id(uid).await {
            Ok(Some(user)) => body["user"] = user_json(&user),
            Ok(None) => {}
            Err(e) => return ctx.unavailable(e),
        }
    }
    no_store(Json(body).into_response())
}

// ---------------------------------------------------------------- sessions

fn needs_user(caller: &Caller, ctx: &Ctx) -> Result<Uuid, Response> {
    caller.user_id().ok_or_else(|| {
        ctx.problem(
            StatusCode::FORBIDDEN,
            "not-a-palisade-account",
            "Only Palisade accounts have sessions and API keys here.",
        )
    })
}

async fn list_sessions(State(state): S, ctx: Ctx, caller: Caller) -> Response {
    let uid = match needs_user(&caller, &ctx) {
        Ok(u) => u,
        Err(r) => return r,
    };
    let now = state.identity.now_ms() as i64;
    match state.identity.store.sessions_for_user(uid, false).await {
        Ok(list) => {
            let items: Vec<_> = list
                .iter()
                .filter(|s| s.expires_at > now)
                .map(|s| {
                    serde_json::json!({
                        "id": s.id, "kind": s.kind.as_str(), "created_at": s.created_at,
                        "last_seen_at": s.last_seen_at, "expires_at": s.expires_at,
                        "user_agent": s.user_agent, "device": &s.fingerprint[..16.min(s.fingerprint.len())],
                        "current": caller.0.session_id.as_deref() == Some(&s.id.to_string()),
                    })
                })
                .collect();
            no_store(Json(serde_json::json!({ "sessions": items })).into_response())
        }
        Err(e) => ctx.unavailable(e),
    }
}

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
    match id.revoke_session(sid).await {
        Ok(_) => {
            id.audit.record(
                ctx.audit(
                    AuditEvent::new("auth.session_revoked", Risk::Low, Outcome::Success)
                        .actor(uid.to_string())
                        .resource(format!("session:{sid}")),
                ),
            );
            StatusCode::NO_CONTENT.into_response()
        }
        Err(e) => ctx.unavailable(e),
    }
}

async fn revoke_all_sessions(State(state): S, ctx: Ctx, caller: Caller) -> Response {
    let uid = match needs_user(&caller, &ctx) {
        Ok(u) => u,
        Err(r) => return r,
    };
    let id = &state.identity;
    match id.revoke_user_sessions(uid).await {
        Ok(n) => {
            if let Err(e) = id.revoke_access_token(&caller.0).await {
                return ctx.unavailable(e);
            }
            id.audit.record(
                ctx.audit(
                    AuditEvent::new("auth.sessions_revoked_all", Risk::Medium, Outcome::Success)
                        .actor(uid.to_string())
                        .details(serde_json::json!({ "sessions": n })),
                ),
            );
            Json(serde_json::json!({ "revoked": n })).into_response()
        }
        Err(e) => ctx.unavailable(e),
    }
}

// ---------------------------------------------------------------- browser sessions

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
    let id = &state.identity;
    let session = match id
        .open_session(
            &user,
            SessionKind::Cookie,
            &ClientInfo::from_headers(&headers),
        )
        .await
    {
        Ok(s) => s,
        Err(e) => return ctx.unavailable(e),
    };
    let ttl = id.config.cookie_session_ttl.0.as_secs();
    let sid = session.id.to_string();
    let sealed = id.cookies.seal(&CookieSession {
        sid: sid.clone(),
        sub: user.id.to_string(),
        roles: user.roles.clone(),
        tier: Some(user.tier.clone()),
        exp: id.now_ms() / 1000 + ttl,
    });
    id.audit.record(
        ctx.audit(
            AuditEvent::new("auth.login_success", Risk::Low, Outcome::Success)
                .actor(user.id.to_string())
                .details(serde_json::json!({"session": "cookie"})),
        ),
    );
    let mut res = Json(serde_json::json!({
        "csrf_token": id.cookies.csrf_token(&sid),
        "expires_in": ttl,
    }))
    .into_response();
    if let Ok(v) = HeaderValue::from_str(&CookieKeys::set_cookie(&sealed, ttl)) {
        res.headers_mut().insert(header::SET_COOKIE, v);
    }
    no_store(res)
}

async fn browser_logout(State(state): S, ctx: Ctx, caller: Caller) -> Response {
    let id = &state.identity;
    if caller.0.method == AuthMethod::Session
        && let Some(sid) = caller.0.session_id.as_deref().and_then(|s| s.parse().ok())
        && let Err(e) = id.revoke_session(sid).await
    {
        return ctx.unavailable(e);
    }
    let mut res = StatusCode::NO_CONTENT.into_response();
    if let Ok(v) = HeaderValue::from_str(&CookieKeys::clear_cookie()) {
        res.headers_mut().insert(header::SET_COOKIE, v);
    }
    res
}

// ---------------------------------------------------------------- API keys

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateKeyBody {
    name: String,
    #[serde(default)]
    roles: Option<Vec<String>>,
    #[serde(default)]
    scopes: Vec<String>,
    /// Lifetime in seconds; none: the key does not expire.
    #[serde(default)]
    expires_in: Option<u64>,
}

pub(crate) fn key_json(k: &ApiKeyRecord) -> serde_json::Value {
    serde_json::json!({
        "id": k.id, "name": k.name, "prefix": k.prefix, "owner_id": k.owner_id,
        "roles": k.roles, "scopes": k.scopes, "created_at": k.created_at,
        "expires_at": k.expires_at, "last_used_at": k.last_used_at, "revoked_at": k.revoked_at,
    })
}

/// Only a person (a token or cookie session) manages keys; a key cannot mint keys.
fn key_manager(caller: &Caller, ctx: &Ctx) -> Result<Uuid, Response> {
    if caller.0.method == AuthMethod::ApiKey {
        return Err(ctx.problem(
            StatusCode::FORBIDDEN,
            "keys-need-a-user",
            "API keys are managed with a user's token, not with another key.",
        ));
    }
    needs_user(caller, ctx)
}

async fn create_key(
    State(state): S,
    ctx: Ctx,
    caller: Caller,
    StrictJson(body): StrictJson<CreateKeyBody>,
) -> Response {
    let owner = match key_manager(&caller, &ctx) {
        Ok(u) => u,
        Err(r) => return r,
    };
    if body.name.trim().is_empty() || body.name.chars().count() > 100 {
        return ctx.problem(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid-name",
            "Give the key a name of 1 to 100 characters.",
        );
    }
    if body.scopes.len() > 100
        || !body
            .scopes
            .iter()
            .all(|s| palisade_core::policy::valid_grant(s))
    {
        return ctx.problem(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid-scopes",
            "Scopes are up to 100 grants like \"graphs.read\" or \"tools.*\".",
        );
    }
    let roles = body.roles.unwrap_or_else(|| caller.0.roles.clone());
    if let Some(extra) = roles.iter().find(|r| !caller.0.has_role(r)) {
        return ctx.problem(
            StatusCode::FORBIDDEN,
            "role-not-held",
            format!("A key cannot hold the role {extra:?}, which you do not have."),
        );
    }
    let id = &state.identity;
    let now = id.now_ms() as i64;
    let record = ApiKeyRecord {
        id: Uuid::now_v7(),
        hash: [0; 32],
        prefix: String::new(),
        name: body.name.trim().to_string(),
        owner_id: owner,
        roles,
        scopes: body.scopes,
        created_at: now,
        expires_at: body
            .expires_in
            .map(|s| now.saturating_add((s.min(100 * 365 * 86400) * 1000) as i64)),
        last_used_at: None,
        revoked_at: None,
    };
    issue_key(&state, &ctx, record, owner, "apikey.created").await
}

pub(crate) async fn issue_key(
    state: &AppState,
    ctx: &Ctx,
    record: ApiKeyRecord,
    actor: Uuid,
    event: &'static str,
) -> Response {
    let id = &state.identity;
    match id.api_keys.create(record).await {
        Ok((record, plaintext)) => {
            id.audit.record(
                ctx.audit(
                    AuditEvent::new(event, Risk::Medium, Outcome::Success)
                        .actor(actor.to_string())
                        .resource(format!("api_key:{}", record.id)),
                ),
            );
            let mut body = key_json(&record);
            body["key"] = serde_json::Value::String(plaintext.expose_secret().to_string());
            no_store((StatusCode::CREATED, Json(body)).into_response())
        }
        Err(e) => ctx.unavailable(e),
    }
}

async fn list_keys(State(state): S, ctx: Ctx, caller: Caller) -> Response {
    let owner = match key_manager(&caller, &ctx) {
        Ok(u) => u,
        Err(r) => return r,
    };
    match state.identity.store.api_keys_list(Some(owner)).await {
        Ok(keys) => Json(serde_json::json!({
            "api_keys": keys.iter().map(key_json).collect::<Vec<_>>()
        }))
        .into_response(),
        Err(e) => ctx.unavailable(e),
    }
}

/// The key, if the caller owns it (or is an admin).
async fn owned_key(
    state: &AppState,
    ctx: &Ctx,
    caller: &Caller,
    key_id: &str,
) -> Result<ApiKeyRecord, Response> {
    let owner = key_manager(caller, ctx)?;
    let not_found = || ctx.problem(StatusCode::NOT_FOUND, "not-found", "No such API key.");
    let key_id: Uuid = key_id.parse().map_err(|_| not_found())?;
    match state.identity.store.api_key_get(key_id).await {
        Ok(Some(k)) if k.owner_id == owner || state.authz.permits(&caller.0, perm::KEYS_WRITE) => {
            Ok(k)
        }
        Ok(_) => Err(not_found()),
        Err(e) => Err(ctx.unavailable(e)),
    }
}

async fn revoke_key(
    State(state): S,
    ctx: Ctx,
    caller: Caller,
    Path(key_id): Path<String>,
) -> Response {
    let key = match owned_key(&state, &ctx, &caller, &key_id).await {
        Ok(k) => k,
        Err(r) => return r,
    };
    let id = &state.identity;
    if let Err(e) = id.revoke_api_key(key.id).await {
        return ctx.unavailable(e);
    }
    id.audit.record(
        ctx.audit(
            AuditEvent::new("apikey.revoked", Risk::Medium, Outcome::Success)
                .actor(caller.0.subject.clone())
                .resource(format!("api_key:{}", key.id)),
        ),
    );
    StatusCode::NO_CONTENT.into_response()
}

async fn rotate_key(
    State(state): S,
    ctx: Ctx,
    caller: Caller,
    Path(key_id): Path<String>,
) -> Response {
    let old = match owned_key(&state, &ctx, &caller, &key_id).await {
        Ok(k) => k,
        Err(r) => return r,
    };
    let id = &state.identity;
    let now = id.now_ms() as i64;
    if old.revoked_at.is_some() || old.expires_at.is_some_and(|at| at <= now) {
        return ctx.problem(
            StatusCode::CONFLICT,
            "key-inactive",
            "A revoked or expired key cannot be rotated; create a new one.",
        );
    }
    let overlap_end = now + id.api_keys.rotation_overlap_ms;
    let old_end = old.expires_at.map_or(overlap_end, |at| at.min(overlap_end));
    if let Err(e) = id.store.api_key_set_expiry(old.id, Some(old_end)).await {
        return ctx.unavailable(e);
    }
    id.api_keys.forget(old.id);
    let fresh = ApiKeyRecord {
        id: Uuid::now_v7(),
        hash: [0; 32],
        prefix: String::new(),
        created_at: now,
        last_used_at: None,
        revoked_at: None,
        ..old.clone()
    };
    let actor = caller.user_id().unwrap_or(old.owner_id);
    let mut res = issue_key(&state, &ctx, fresh, actor, "apikey.rotated").await;
    if let Ok(v) = HeaderValue::from_str(&old_end.to_string()) {
        res.headers_mut()
            .insert("x-palisade-previous-key-expires-at", v);
    }
    res
}

// ---------------------------------------------------------------- admin

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct InviteBody {
    email: String,
    /// Seconds the invite stays valid (default 7 days).
    #[serde(default)]
    expires_in: Option<u64>,
}

async fn invite(
    State(state): S,
    ctx: Ctx,
    caller: Caller,
    StrictJson(body): StrictJson<InviteBody>,
) -> Response {
    if let Err(r) = require(&state, &caller, &ctx, perm::INVITES_WRITE) {
        return r;
    }
    let Some(email) = palisade_core::email::normalize(&body.email) else {
        return ctx.problem(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid-email",
            "The e-mail address is not valid.",
        );
    };
    let id = &state.identity;
    let ttl = body.expires_in.unwrap_or(7 * 86400).min(90 * 86400);
    let invite = id.invites.issue(&email, id.now_ms() / 1000 + ttl);
    id.audit.record(
        ctx.audit(
            AuditEvent::new("user.invited", Risk::Low, Outcome::Success)
                .actor(caller.0.subject.clone())
                .resource(format!("email:{email}")),
        ),
    );
    no_store(
        (
            StatusCode::CREATED,
            Json(serde_json::json!({ "email": email, "invite": invite, "expires_in": ttl })),
        )
            .into_response(),
    )
}

async fn jwks(State(state): S) -> Response {
    let mut res = Json(state.identity.jwks()).into_response();
    res.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=300"),
    );
    res
}

async fn list_blocks(State(state): S, ctx: Ctx, caller: Caller) -> Response {
    if let Err(r) = require(&state, &caller, &ctx, perm::IP_BLOCKS_READ) {
        return r;
    }
    match state.identity.brute.blocks().await {
        Ok(blocks) => Json(serde_json::json!({ "blocks": blocks })).into_response(),
        Err(e) => ctx.unavailable(e),
    }
}

async fn unblock(State(state): S, ctx: Ctx, caller: Caller, Path(ip): Path<String>) -> Response {
    if let Err(r) = require(&state, &caller, &ctx, perm::IP_BLOCKS_WRITE) {
        return r;
    }
    let Ok(addr) = ip.parse::<IpAddr>() else {
        return ctx.problem(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid-ip",
            "Give an IPv4 or IPv6 address.",
        );
    };
    let id = &state.identity;
    match id.brute.unblock(addr).await {
        Ok(true) => {
            id.audit.record(
                ctx.audit(
                    AuditEvent::new("ip.unblocked", Risk::Medium, Outcome::Success)
                        .actor(caller.0.subject.clone())
                        .resource(format!("ip:{addr}")),
                ),
            );
            StatusCode::NO_CONTENT.into_response()
        }
        Ok(false) => ctx.problem(
            StatusCode::NOT_FOUND,
            "not-found",
            "This IP is not blocked.",
        ),
        Err(e) => ctx.unavailable(e),
    }
}
