//! The `/auth` API: accounts, sign-in, tokens, sessions (bearer and browser), invitations, and
//! the JWKS. API keys are [`crate::api::api_keys`], forward auth [`crate::api::forward_auth`].
//!
//! Bodies are parsed strictly ([`StrictJson`]); every refusal is problem+json. Login answers the
//! same for an unknown e-mail, a wrong password and a disabled account, after the same work.

// Helpers return the finished refusal as their error, the axum idiom; off the hot path, so the
// size of `Response` in a `Result` does not matter.
#![allow(clippy::result_large_err)]

use super::admin::perm;
use super::extract::{Caller, Ctx, no_store, refused, require, store_err};
use super::json::StrictJson;
use super::openapi::schemas;
use crate::audit::{AuditEvent, Outcome, Risk};
use crate::identity::manage::{By, NewUser, Refused};
use crate::identity::mfa::FirstFactor;
use crate::identity::sessions::{ClientInfo, RefreshError};
use crate::route::builtin::JWKS_PATH;
use crate::state::AppState;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use http::{HeaderMap, HeaderValue, StatusCode, header};
use palisade_core::password::Verification;
use palisade_store::identity::{RevocationReason, SessionKind, UserRecord};
use serde::Deserialize;
use std::sync::Arc;
use utoipa::ToSchema;
use uuid::Uuid;

type S = State<Arc<AppState>>;

/// `/auth` (accounts, sign-in, tokens, invitations) and the JWKS.
pub fn router() -> Router<Arc<AppState>> {
    Router::new()
        .route("/auth/register", post(register))
        .route("/auth/login", post(login))
        .route("/auth/refresh", post(refresh))
        .route("/auth/logout", post(logout))
        .route("/auth/me", get(me))
        .route("/auth/invites", post(invite))
        .route(JWKS_PATH, get(jwks))
}

// ---------------------------------------------------------------- accounts

/// A new account.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"email": "new.person@example.com", "password": "violet-Harbor-tram-1987-quince", "name": "New Person"}))]
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

/// Creates an account (when `auth.registration` allows it), with the default roles.
#[utoipa::path(
    post, path = "/auth/register", tag = "auth",
    request_body = RegisterBody,
    responses(
        (status = 201, description = "The account.", body = schemas::User),
        (status = 400, description = "The CAPTCHA was missing or not solved."),
        (status = 403, description = "Registration is closed, or needs a valid invite."),
        (status = 409, description = "The e-mail address has an account."),
        (status = 422, description = "The e-mail address is not valid, or the password does not meet the policy (`violations`)."),
    ),
)]
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
    let new = NewUser {
        id: Uuid::now_v7(),
        email,
        name: body.name,
        roles: id.config.default_roles.clone(),
        password: body.password,
    };
    let by = By {
        // A registration is the new account's own act.
        actor: new.id.to_string(),
        origin: &ctx.origin,
    };
    let user = match id.create_user(new, &by).await {
        Ok(user) => user,
        Err(Refused::Busy) => return busy(&ctx),
        Err(e) => return refused(&ctx, e),
    };
    (StatusCode::CREATED, Json(user_json(&user))).into_response()
}

fn user_json(u: &UserRecord) -> serde_json::Value {
    serde_json::json!({
        "id": u.id, "email": u.email, "name": u.name, "roles": u.roles,
        "tier": u.tier, "disabled": u.disabled, "created_at": u.created_at,
        "last_login_at": u.last_login_at,
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

/// E-mail and password.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"email": "member@example.com", "password": "tangerine-Orbit-lattice-4417"}))]
pub(crate) struct LoginBody {
    pub(crate) email: String,
    pub(crate) password: String,
    #[serde(default)]
    pub(crate) captcha_token: Option<String>,
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
/// The failure counters are left as they are: the sign-in is complete (and
/// [`second_factor_gate`] clears them) only once no second factor is owed.
pub(crate) async fn check_credentials(
    state: &AppState,
    ctx: &Ctx,
    body: LoginBody,
) -> Result<UserRecord, Response> {
    let id = &state.identity;
    if !state.config.auth.password_login {
        let res = ctx.problem(
            StatusCode::FORBIDDEN,
            "password-login-disabled",
            "Sign-in by password is turned off here; use a passkey or an identity provider.",
        );
        return Err(login_refused(state, ctx, "password-login-disabled", res));
    }
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
            // With `auth.rehash_legacy = false` an imported bcrypt/PBKDF2/scrypt hash stays as
            // it is, so the app it came from still accepts the password during a trial period.
            let keep_legacy = !id.config.rehash_legacy
                && user.password_hash.as_deref().is_some_and(|stored| {
                    palisade_core::password::hash_format(stored).is_ok_and(|f| f.is_legacy())
                });
            if needs_rehash && !keep_legacy {
                rehash(state, &user, body.password).await;
            }
            user
        }
        (user, _) => return Err(login_failed(state, ctx, &email, user.as_ref()).await),
    };
    Ok(user)
}

/// After a valid password: when the account has a second factor, the answer is
/// `{"mfa_required": true, "mfa_token", "methods"}` (the sign-in continues at
/// `POST /auth/mfa/verify`); when its role requires one and the enrollment grace is over, 403
/// `mfa-enrollment-required`; else `Ok` and the failure counters are cleared.
pub(crate) async fn second_factor_gate(
    state: &AppState,
    ctx: &Ctx,
    headers: &HeaderMap,
    user: &UserRecord,
    kind: SessionKind,
) -> Result<(), Response> {
    match second_factor_step(state, ctx, headers, user, kind, FirstFactor::Password).await? {
        SecondFactorStep::Clear => Ok(()),
        SecondFactorStep::Challenge { token, methods } => Err(no_store(
            Json(serde_json::json!({
                "mfa_required": true,
                "mfa_token": token,
                "methods": methods,
                "expires_in": state.identity.config.mfa.token_ttl.0.as_secs(),
            }))
            .into_response(),
        )),
    }
}

/// What a valid password leads to.
pub(crate) enum SecondFactorStep {
    /// No second factor is owed: open the session (the failure counters are cleared).
    Clear,
    /// A second factor is asked for: the pending sign-in's single-use `mfa_token` and the
    /// account's methods (`mfa.challenged` is on record).
    Challenge {
        /// The `mfa_token`.
        token: String,
        /// `totp`, `recovery_code`.
        methods: Vec<&'static str>,
    },
}

/// During a lockdown only administrators sign in or refresh: 503 `lockdown` (a sampled
/// `lockdown.refused`) for an account without an administrator role.
pub(crate) fn lockdown_sign_in(
    state: &AppState,
    ctx: &Ctx,
    user: &UserRecord,
) -> Result<(), Response> {
    if !state.identity.lockdown.is_on() || state.authz.is_admin(&user.roles) {
        return Ok(());
    }
    state.identity.audit.record_refusal(
        ctx.audit(AuditEvent::new(
            "lockdown.refused",
            Risk::Low,
            Outcome::Denied,
        ))
        .actor(state.identity.subject_of(user)),
    );
    Err(crate::problem::refuse(
        crate::layers::lockdown::GATE,
        "lockdown",
        StatusCode::SERVICE_UNAVAILABLE,
        "The gateway is locked down: only administrators may sign in.",
        &ctx.id,
    ))
}

/// The rule behind [`second_factor_gate`], for the API and the hosted sign-in page alike: a
/// pending sign-in when the account has a second factor, 403 `mfa-enrollment-required` when
/// its enrollment grace is over, else [`SecondFactorStep::Clear`]. During a lockdown, only an
/// administrator gets this far ([`lockdown_sign_in`]).
pub(crate) async fn second_factor_step(
    state: &AppState,
    ctx: &Ctx,
    headers: &HeaderMap,
    user: &UserRecord,
    kind: SessionKind,
    first: FirstFactor,
) -> Result<SecondFactorStep, Response> {
    lockdown_sign_in(state, ctx, user)?;
    let id = &state.identity;
    let methods = id.mfa_methods(user.id).await.map_err(store_err(ctx))?;
    if !methods.is_empty() {
        let fingerprint = crate::identity::sessions::fingerprint(headers);
        let token = id
            .mfa_pending_start(user, kind, first, &fingerprint, ctx.ip)
            .await
            .map_err(store_err(ctx))?;
        id.audit.record(
            ctx.audit(
                AuditEvent::new("mfa.challenged", Risk::Low, Outcome::Success)
                    .actor(id.subject_of(user))
                    .details(serde_json::json!({ "methods": methods, "session": kind.as_str() })),
            ),
        );
        return Ok(SecondFactorStep::Challenge { token, methods });
    }
    if id.mfa_enrollment_overdue(user, id.now_ms()) {
        id.audit.record(
            ctx.audit(
                AuditEvent::new("mfa.enrollment_overdue", Risk::Medium, Outcome::Denied)
                    .actor(id.subject_of(user)),
            ),
        );
        return Err(ctx.problem(
            StatusCode::FORBIDDEN,
            "mfa-enrollment-required",
            "Your role requires a second factor and the enrollment period is over; ask an administrator.",
        ));
    }
    let email = user.email.clone();
    id.brute
        .record_success(&email, ctx.ip)
        .await
        .map_err(store_err(ctx))?;
    Ok(SecondFactorStep::Clear)
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
            .actor(id.subject_of(u))
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

/// Signs in: an access token and a refresh token.
#[utoipa::path(
    post, path = "/auth/login", tag = "auth",
    request_body = LoginBody,
    responses(
        (status = 200, description = "Signed in; or, for an account with a second factor, `{\"mfa_required\": true, \"mfa_token\", \"methods\"}` to complete at `POST /auth/mfa/verify`.", body = schemas::Tokens),
        (status = 401, description = "The e-mail address or the password is wrong, or a CAPTCHA is needed."),
        (status = 403, description = "The account's role requires a second factor and its enrollment period is over (`mfa-enrollment-required`)."),
        (status = 429, description = "Too many failed sign-ins; see Retry-After."),
    ),
)]
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
    if let Err(res) = second_factor_gate(&state, &ctx, &headers, &user, SessionKind::Token).await {
        return res;
    }
    let id = &state.identity;
    match id.login(&user, &ClientInfo::from_headers(&headers)).await {
        Ok(tokens) => {
            id.audit.record(
                ctx.audit(
                    AuditEvent::new("auth.login_success", Risk::Low, Outcome::Success)
                        .actor(id.subject_of(&user)),
                ),
            );
            no_store(Json(tokens).into_response())
        }
        Err(e) => ctx.unavailable(e),
    }
}

/// A refresh token (each is used once).
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"refresh_token": "rt_example"}))]
struct RefreshBody {
    refresh_token: String,
}

/// New tokens for a refresh token; reusing one ends its session.
#[utoipa::path(
    post, path = "/auth/refresh", tag = "auth",
    request_body = RefreshBody,
    responses(
        (status = 200, description = "New tokens.", body = schemas::Tokens),
        (status = 401, description = "The refresh token is not valid (`invalid_grant`)."),
    ),
)]
async fn refresh(
    State(state): S,
    ctx: Ctx,
    headers: HeaderMap,
    StrictJson(body): StrictJson<RefreshBody>,
) -> Response {
    let id = &state.identity;
    if id.lockdown.is_on() {
        match id.refresh_owner(&body.refresh_token).await {
            Ok(Some(user)) => {
                if let Err(refused) = lockdown_sign_in(&state, &ctx, &user) {
                    return refused;
                }
            }
            Ok(None) => {}
            Err(e) => return ctx.unavailable(e),
        }
    }
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

/// Optionally, the refresh token whose session ends too.
#[derive(Deserialize, Default, ToSchema)]
#[serde(deny_unknown_fields)]
struct LogoutBody {
    #[serde(default)]
    refresh_token: Option<String>,
}

/// Signs out: revokes the access token, and the session of `refresh_token` when given.
#[utoipa::path(
    post, path = "/auth/logout", tag = "auth",
    request_body(content = LogoutBody, description = "May be absent (no body at all)."),
    responses((status = 204, description = "Signed out.")),
    security(("bearer" = []), ("api_key" = []), ("session" = [])),
)]
async fn logout(
    State(state): S,
    ctx: Ctx,
    caller: Caller,
    req: axum::extract::Request,
) -> Response {
    let body: LogoutBody = match super::json::optional_body(req).await {
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
                if own && let Err(e) = id.revoke_session(sid, RevocationReason::Logout).await {
                    return ctx.unavailable(e);
                }
            }
            Ok(None) => {}
            Err(e) => return ctx.unavailable(e),
        }
    }
    id.audit.record(
        ctx.audit(
            AuditEvent::new("auth.logout", Risk::Low, Outcome::Success)
                .actor(caller.0.subject.clone())
                .details(serde_json::json!({ "reason": RevocationReason::Logout.as_str() })),
        ),
    );
    StatusCode::NO_CONTENT.into_response()
}

/// Who the caller is.
#[utoipa::path(
    get, path = "/auth/me", tag = "auth",
    responses((status = 200, description = "The caller.", body = schemas::Me)),
    security(("bearer" = []), ("api_key" = []), ("session" = [])),
)]
async fn me(State(state): S, ctx: Ctx, caller: Caller) -> Response {
    let p = &caller.0;
    let mut body = serde_json::json!({
        "subject": p.subject, "method": p.method.as_str(), "issuer": p.issuer,
        "roles": p.roles, "tenants": p.tenants, "tier": p.tier, "scopes": p.scopes,
        "session_id": p.session_id, "key_id": p.key_id,
        "acr": p.assurance.as_ref().map(|a| a.acr.as_str()),
        "amr": p.assurance.as_ref().map(|a| &a.amr),
        "auth_time": p.assurance.as_ref().map(|a| a.auth_time),
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

// ---------------------------------------------------------------- invitations, keys

/// Whom to invite.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"email": "invited@example.com", "expires_in": 86400}))]
struct InviteBody {
    email: String,
    /// Seconds the invite stays valid (default 7 days).
    #[serde(default)]
    expires_in: Option<u64>,
}

/// Invites an e-mail address to register (`admin.invites.write`).
#[utoipa::path(
    post, path = "/auth/invites", tag = "auth",
    request_body = InviteBody,
    responses(
        (status = 201, description = "The invite.", body = schemas::Invite),
        (status = 403, description = "`admin.invites.write` is not granted."),
        (status = 422, description = "The e-mail address is not valid."),
    ),
    security(("bearer" = []), ("api_key" = []), ("session" = [])),
)]
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

/// The public keys Palisade's tokens are signed with.
#[utoipa::path(
    get, path = "/.well-known/jwks.json", tag = "auth",
    responses((status = 200, description = "The JSON Web Key Set.", body = schemas::Jwks)),
)]
pub(crate) async fn jwks(State(state): S) -> Response {
    let mut res = Json(state.identity.jwks()).into_response();
    res.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=300"),
    );
    res
}
