//! `/auth/mfa`: second factors over HTTP — TOTP enrollment, confirmation, listing and removal,
//! recovery codes, and `POST /auth/mfa/verify`, which completes a password sign-in that
//! answered `mfa_required` or steps a signed-in caller up to `aal2`; and the administrator's
//! reset, `DELETE /admin/users/{id}/mfa`. The use cases and their events are
//! [`crate::identity::mfa`].
//!
//! Changing the factors of an account that has one (another authenticator, removal, new
//! recovery codes) needs an `aal2` session: below it the answer is the RFC 9470 challenge.
//! Completing a sign-in or a step-up always opens a new session (the stepped-up one is revoked).

// Helpers return the finished refusal as their error, the axum idiom.
#![allow(clippy::result_large_err)]

use super::admin::perm;
use super::extract::{Caller, Ctx, Path, needs_signed_in_user, no_store, store_err};
use super::json::StrictJson;
use super::openapi::schemas;
use crate::identity::mfa::{Factor, FactorOutcome, MfaRefused};
use crate::identity::sessions::ClientInfo;
use crate::state::AppState;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, post};
use axum::{Json, Router};
use http::{HeaderMap, HeaderValue, StatusCode, header};
use palisade_core::mfa::assurance::{Acr, Assurance, Insufficient, Requirement};
use palisade_core::principal::AuthMethod;
use palisade_store::identity::{RevocationReason, SessionKind, UserRecord};
use serde::Deserialize;
use std::sync::Arc;
use utoipa::ToSchema;
use uuid::Uuid;

type S = State<Arc<AppState>>;

/// `/auth/mfa/…` and the administrator's reset.
pub fn router() -> Router<Arc<AppState>> {
    Router::new()
        .route("/auth/mfa/totp", post(enroll_totp).get(list_totp))
        .route("/auth/mfa/totp/{id}", delete(remove_totp))
        .route("/auth/mfa/totp/{id}/confirm", post(confirm_totp))
        .route("/auth/mfa/recovery-codes", post(regenerate_recovery))
        .route("/auth/mfa/verify", post(verify))
        .route("/admin/users/{id}/mfa", delete(admin_reset))
}

/// The caller when there is one (a pending sign-in's verification has none).
struct MaybeCaller(Option<Arc<palisade_core::principal::Principal>>);

impl<St: Send + Sync> axum::extract::FromRequestParts<St> for MaybeCaller {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut http::request::Parts,
        _: &St,
    ) -> Result<Self, Self::Rejection> {
        Ok(MaybeCaller(
            parts
                .extensions
                .get::<Arc<palisade_core::principal::Principal>>()
                .cloned(),
        ))
    }
}

/// The caller's own account (a Palisade account signed in by token or cookie; never an API key).
pub(crate) async fn own_account(
    state: &AppState,
    ctx: &Ctx,
    caller: &Caller,
) -> Result<UserRecord, Response> {
    let uid = needs_signed_in_user(state, caller, ctx)?;
    state
        .identity
        .store
        .user_by_id(uid)
        .await
        .map_err(store_err(ctx))?
        .filter(|u| !u.disabled)
        .ok_or_else(|| {
            ctx.problem(
                StatusCode::FORBIDDEN,
                "not-a-palisade-account",
                "Only Palisade accounts have second factors.",
            )
        })
}

/// The RFC 9470 answer: 401 with `insufficient_user_authentication` and what to come back with.
fn step_up_needed(ctx: &Ctx, insufficient: Insufficient) -> Response {
    let mut res = ctx.problem(
        StatusCode::UNAUTHORIZED,
        "insufficient-user-authentication",
        "Verify a second factor first (POST /auth/mfa/verify).",
    );
    if let Ok(v) = HeaderValue::from_str(&insufficient.challenge()) {
        res.headers_mut().insert(header::WWW_AUTHENTICATE, v);
    }
    res
}

/// The rule for changing how an account signs in (authenticator apps, recovery codes, passkeys,
/// linked providers): a sign-in at most `auth.mfa.recent_auth` old, and `aal2` once the account
/// has a second factor (ASVS 5.0 V7.5.1); else the RFC 9470 challenge saying which.
pub(crate) async fn needs_aal2_if_enrolled(
    state: &AppState,
    ctx: &Ctx,
    caller: &Caller,
    user: &UserRecord,
) -> Result<(), Response> {
    let enrolled = !state
        .identity
        .mfa_methods(user.id)
        .await
        .map_err(store_err(ctx))?
        .is_empty();
    let id = &state.identity;
    let rule = Requirement {
        mfa: enrolled,
        max_auth_age: Some(id.config.mfa.recent_auth.0.as_secs()),
    };
    rule.check(caller.0.assurance.as_ref(), id.now_ms() / 1000)
        .map_err(|insufficient| step_up_needed(ctx, insufficient))
}

/// A destructive action or a secret's reveal asked by a browser session (the admin console):
/// a sign-in at most `auth.mfa.recent_auth` old, and `aal2` once the caller's account has a
/// second factor; else the RFC 9470 challenge, on record as `mfa.step_up_required`, and the
/// console sends the browser through sign-in again. Tokens and API keys (scripts, the CLI's
/// peers) are not asked: their issuance is their proof.
pub(crate) async fn recent_sign_in_if_browser(
    state: &AppState,
    ctx: &Ctx,
    caller: &Caller,
) -> Result<(), Response> {
    if caller.0.method != palisade_core::principal::AuthMethod::Session {
        return Ok(());
    }
    let Some(uid) = caller.user_id() else {
        return Ok(());
    };
    let user = state
        .identity
        .store
        .user_by_id(uid)
        .await
        .map_err(store_err(ctx))?
        .ok_or_else(|| ctx.problem(StatusCode::FORBIDDEN, "forbidden", "No such account."))?;
    needs_aal2_if_enrolled(state, ctx, caller, &user)
        .await
        .inspect_err(|_| {
            let assurance = caller.0.assurance.as_ref();
            state.audit.record(
                ctx.audit(
                    crate::audit::AuditEvent::new(
                        "mfa.step_up_required",
                        crate::audit::Risk::Low,
                        crate::audit::Outcome::Denied,
                    )
                    .actor(caller.0.subject.clone())
                    .details(serde_json::json!({
                        "acr": assurance.map(|a| a.acr.as_str()),
                        "max_age": state.identity.config.mfa.recent_auth.0.as_secs(),
                    })),
                ),
            );
        })
}

/// The caller's own account id when it may change how it signs in now
/// ([`needs_aal2_if_enrolled`]): for passkeys and linked providers, whose handlers need no more.
pub(crate) async fn factor_changer(
    state: &AppState,
    ctx: &Ctx,
    caller: &Caller,
) -> Result<Uuid, Response> {
    let user = own_account(state, ctx, caller).await?;
    needs_aal2_if_enrolled(state, ctx, caller, &user).await?;
    Ok(user.id)
}

fn refused(ctx: &Ctx, e: MfaRefused) -> Response {
    match e {
        MfaRefused::Invalid(slug, detail) => {
            ctx.problem(StatusCode::UNPROCESSABLE_ENTITY, slug, detail)
        }
        MfaRefused::NotFound => ctx.problem(
            StatusCode::NOT_FOUND,
            "not-found",
            "No such authenticator on this account.",
        ),
        MfaRefused::WrongCode => ctx.problem(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid-code",
            "The code is not valid; enter the current code of the authenticator.",
        ),
        MfaRefused::Unreadable => ctx.unavailable("a TOTP seed cannot be decrypted"),
        MfaRefused::Store(e) => ctx.unavailable(e),
    }
}

/// A name for the new authenticator.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "phone"}))]
struct EnrollBody {
    name: String,
}

/// Starts a TOTP enrollment: the `otpauth://` URI, its SVG QR code and the seed, shown once.
/// The authenticator counts only after `POST /auth/mfa/totp/{id}/confirm`.
#[utoipa::path(
    post, path = "/auth/mfa/totp", tag = "mfa",
    request_body = EnrollBody,
    responses(
        (status = 201, description = "The enrollment.", body = schemas::TotpEnrollment),
        (status = 401, description = "The account has a second factor and the session is not `aal2` (RFC 9470 challenge)."),
        (status = 403, description = "The caller is not a Palisade account."),
        (status = 422, description = "The name is missing, too long or taken, or the account has the most authenticators allowed."),
    ),
    security(("bearer" = []), ("session" = [])),
)]
async fn enroll_totp(
    State(state): S,
    ctx: Ctx,
    caller: Caller,
    StrictJson(body): StrictJson<EnrollBody>,
) -> Response {
    let user = match own_account(&state, &ctx, &caller).await {
        Ok(u) => u,
        Err(r) => return r,
    };
    if let Err(r) = needs_aal2_if_enrolled(&state, &ctx, &caller, &user).await {
        return r;
    }
    match state
        .identity
        .totp_enroll(&state.keyring, &user, &body.name, &ctx.origin)
        .await
    {
        Ok(enrollment) => no_store((StatusCode::CREATED, Json(enrollment)).into_response()),
        Err(e) => refused(&ctx, e),
    }
}

/// The caller's authenticators (never their seeds).
#[utoipa::path(
    get, path = "/auth/mfa/totp", tag = "mfa",
    responses(
        (status = 200, description = "The authenticators.", body = schemas::TotpList),
        (status = 403, description = "The caller is not a Palisade account."),
    ),
    security(("bearer" = []), ("session" = [])),
)]
async fn list_totp(State(state): S, ctx: Ctx, caller: Caller) -> Response {
    let user = match own_account(&state, &ctx, &caller).await {
        Ok(u) => u,
        Err(r) => return r,
    };
    let id = &state.identity;
    let list = match id.totp_list(user.id).await {
        Ok(l) => l,
        Err(e) => return ctx.unavailable(e),
    };
    let remaining = match id.store.recovery_remaining(user.id).await {
        Ok(n) => n,
        Err(e) => return ctx.unavailable(e),
    };
    let authenticators: Vec<_> = list
        .iter()
        .map(|t| {
            serde_json::json!({
                "id": t.id, "name": t.name, "created_at": t.created_at,
                "confirmed_at": t.confirmed_at,
            })
        })
        .collect();
    no_store(
        Json(serde_json::json!({
            "authenticators": authenticators,
            "recovery_codes_remaining": remaining,
        }))
        .into_response(),
    )
}

/// The first code of a new authenticator.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"code": "492039"}))]
struct CodeBody {
    code: String,
}

/// Confirms an enrollment with a first valid code; the account's first factor also answers its
/// ten recovery codes, shown once.
#[utoipa::path(
    post, path = "/auth/mfa/totp/{id}/confirm", tag = "mfa",
    params(("id" = Uuid, Path, description = "The authenticator.")),
    request_body = CodeBody,
    responses(
        (status = 200, description = "Confirmed.", body = schemas::TotpConfirmed),
        (status = 404, description = "No such authenticator on this account."),
        (status = 422, description = "The code is not valid, or the authenticator is confirmed already."),
    ),
    security(("bearer" = []), ("session" = [])),
)]
async fn confirm_totp(
    State(state): S,
    ctx: Ctx,
    caller: Caller,
    Path(credential): Path<Uuid>,
    StrictJson(body): StrictJson<CodeBody>,
) -> Response {
    let user = match own_account(&state, &ctx, &caller).await {
        Ok(u) => u,
        Err(r) => return r,
    };
    match state
        .identity
        .totp_confirm(&state.keyring, &user, credential, &body.code, &ctx.origin)
        .await
    {
        Ok(codes) => {
            let mut body = serde_json::json!({ "id": credential, "confirmed": true });
            if let Some(codes) = codes {
                body["recovery_codes"] = codes.into();
            }
            no_store(Json(body).into_response())
        }
        Err(e) => refused(&ctx, e),
    }
}

/// Removes one of the caller's authenticators (an `aal2` session when the account has a
/// second factor).
#[utoipa::path(
    delete, path = "/auth/mfa/totp/{id}", tag = "mfa",
    params(("id" = Uuid, Path, description = "The authenticator.")),
    responses(
        (status = 204, description = "Removed."),
        (status = 401, description = "The session is not `aal2` (RFC 9470 challenge)."),
        (status = 404, description = "No such authenticator on this account."),
    ),
    security(("bearer" = []), ("session" = [])),
)]
async fn remove_totp(
    State(state): S,
    ctx: Ctx,
    caller: Caller,
    Path(credential): Path<Uuid>,
) -> Response {
    let user = match own_account(&state, &ctx, &caller).await {
        Ok(u) => u,
        Err(r) => return r,
    };
    if let Err(r) = needs_aal2_if_enrolled(&state, &ctx, &caller, &user).await {
        return r;
    }
    match state
        .identity
        .totp_remove(&user, credential, &ctx.origin)
        .await
    {
        Ok(true) => StatusCode::NO_CONTENT.into_response(),
        Ok(false) => refused(&ctx, MfaRefused::NotFound),
        Err(e) => ctx.unavailable(e),
    }
}

/// A new set of ten recovery codes, shown once; the old set stops working.
#[utoipa::path(
    post, path = "/auth/mfa/recovery-codes", tag = "mfa",
    responses(
        (status = 200, description = "The new codes.", body = schemas::RecoveryCodes),
        (status = 401, description = "The session is not `aal2` (RFC 9470 challenge)."),
        (status = 409, description = "The account has no second factor to recover."),
    ),
    security(("bearer" = []), ("session" = [])),
)]
async fn regenerate_recovery(State(state): S, ctx: Ctx, caller: Caller) -> Response {
    let user = match own_account(&state, &ctx, &caller).await {
        Ok(u) => u,
        Err(r) => return r,
    };
    match state.identity.mfa_methods(user.id).await {
        Ok(m) if m.is_empty() => {
            return ctx.problem(
                StatusCode::CONFLICT,
                "no-second-factor",
                "Enroll an authenticator first; its confirmation answers the recovery codes.",
            );
        }
        Ok(_) => {}
        Err(e) => return ctx.unavailable(e),
    }
    if let Err(r) = needs_aal2_if_enrolled(&state, &ctx, &caller, &user).await {
        return r;
    }
    match state.identity.recovery_regenerate(&user, &ctx.origin).await {
        Ok(codes) => no_store(Json(serde_json::json!({ "recovery_codes": codes })).into_response()),
        Err(e) => ctx.unavailable(e),
    }
}

/// A second factor: `code` (TOTP) or `recovery_code`, and the `mfa_token` of a pending sign-in
/// (without it, the signed-in caller steps up).
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"mfa_token": "Vx3…", "code": "492039"}))]
struct VerifyBody {
    #[serde(default)]
    mfa_token: Option<String>,
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    recovery_code: Option<String>,
}

/// Completes a password sign-in that answered `mfa_required` (with its `mfa_token`), or steps
/// the signed-in caller up (without one): either way a new `aal2` session with a new
/// `auth_time`; a stepped-up session is revoked. Failures count like failed sign-ins.
#[utoipa::path(
    post, path = "/auth/mfa/verify", tag = "mfa",
    request_body = VerifyBody,
    responses(
        (status = 200, description = "Signed in at `aal2`: tokens, or for a browser sign-in the cookie.", body = schemas::Tokens),
        (status = 400, description = "Neither or both of `code` and `recovery_code`."),
        (status = 401, description = "The factor is wrong (`invalid-second-factor`), the `mfa_token` is unknown, used, expired or from another device (`invalid-mfa-token`), or there is no caller to step up."),
        (status = 429, description = "Too many failures; see Retry-After."),
    ),
    security((), ("bearer" = []), ("session" = [])),
)]
async fn verify(
    State(state): S,
    ctx: Ctx,
    headers: HeaderMap,
    MaybeCaller(caller): MaybeCaller,
    StrictJson(body): StrictJson<VerifyBody>,
) -> Response {
    let factor = match (body.code.as_deref(), body.recovery_code.as_deref()) {
        (Some(code), None) => Factor::Totp(code),
        (None, Some(code)) => Factor::Recovery(code),
        _ => {
            return ctx.problem(
                StatusCode::BAD_REQUEST,
                "invalid-second-factor",
                "Send one of code (TOTP) or recovery_code.",
            );
        }
    };
    let id = &state.identity;
    let fingerprint = crate::identity::sessions::fingerprint(&headers);
    // Who is proving a factor, for which session, and which session it replaces.
    let (user, kind, pending, replaced) = match body.mfa_token.as_deref() {
        Some(token) => match id.mfa_pending_find(token, &fingerprint, ctx.ip).await {
            Ok(Some(p)) => (p.user.clone(), p.kind, Some(p), None),
            Ok(None) => {
                id.audit.record_refusal(
                    ctx.audit(
                        crate::audit::AuditEvent::new(
                            "mfa.failed",
                            crate::audit::Risk::Medium,
                            crate::audit::Outcome::Denied,
                        )
                        .details(serde_json::json!({ "reason": "invalid-mfa-token" })),
                    ),
                );
                return crate::problem::unauthorized(
                    "invalid-mfa-token",
                    "The mfa_token is unknown, used or expired; sign in again.",
                    &ctx.id,
                );
            }
            Err(e) => return ctx.unavailable(e),
        },
        None => {
            let Some(caller) = caller.map(Caller) else {
                return crate::problem::unauthorized(
                    "missing",
                    "Send the mfa_token of a sign-in, or sign in to step up.",
                    &ctx.id,
                );
            };
            let kind = match caller.0.method {
                AuthMethod::Jwt => SessionKind::Token,
                AuthMethod::Session => SessionKind::Cookie,
                _ => {
                    return ctx.problem(
                        StatusCode::FORBIDDEN,
                        "step-up-unavailable",
                        "Only a Palisade session (a token or the browser cookie) steps up.",
                    );
                }
            };
            let user = match own_account(&state, &ctx, &caller).await {
                Ok(u) => u,
                Err(r) => return r,
            };
            let replaced = caller
                .0
                .session_id
                .as_deref()
                .and_then(|s| s.parse::<Uuid>().ok());
            (user, kind, None, replaced)
        }
    };
    let assurance = match prove_second_factor(
        &state,
        &ctx,
        &user,
        factor,
        kind,
        pending.as_ref(),
        replaced,
    )
    .await
    {
        Ok(a) => a,
        Err(res) => return res,
    };
    match kind {
        SessionKind::Cookie => {
            super::sessions::open_cookie_session(&state, &ctx, &headers, &user, &assurance).await
        }
        SessionKind::Token => {
            match id
                .sign_in(&user, &ClientInfo::from_headers(&headers), &assurance)
                .await
            {
                Ok(tokens) => no_store(Json(tokens).into_response()),
                Err(e) => ctx.unavailable(e),
            }
        }
    }
}

/// The second factor of `user` checked for a session of `kind`, and what it proves: for a pending sign-in (`pending`,
/// which this ends) `auth.login_success` on record, for a step-up of session `replaced` (which
/// this revokes) `mfa.step_up`; the `aal2` assurance the new session carries. Refusals are the
/// answers of `POST /auth/mfa/verify` (401 `invalid-second-factor` with `Retry-After` once the
/// brute-force ladder delays, 429 `login-delayed`, 401 `invalid-mfa-token`). The API and the
/// hosted challenge page both come here, so the ladder and the events are the same.
pub(crate) async fn prove_second_factor(
    state: &AppState,
    ctx: &Ctx,
    user: &UserRecord,
    factor: Factor<'_>,
    kind: SessionKind,
    pending: Option<&crate::identity::mfa::PendingSignIn>,
    replaced: Option<Uuid>,
) -> Result<Assurance, Response> {
    let id = &state.identity;
    match id
        .verify_second_factor(&state.keyring, user, factor, ctx.ip, &ctx.origin)
        .await
    {
        Ok(FactorOutcome::Verified(method)) => {
            if let Some(p) = pending {
                match id.mfa_pending_finish(p).await {
                    Ok(true) => {}
                    Ok(false) => {
                        return Err(crate::problem::unauthorized(
                            "invalid-mfa-token",
                            "The mfa_token is used or expired; sign in again.",
                            &ctx.id,
                        ));
                    }
                    Err(e) => return Err(ctx.unavailable(e)),
                }
            }
            let now = id.now_ms() / 1000;
            let base = match (pending, &caller_assurance(&replaced, state, user).await) {
                (Some(p), _) => p.first.assurance(now),
                (None, Some(a)) => a.clone(),
                (None, None) => Assurance::password(now),
            };
            let assurance = base.stepped_up(method, now);
            if let Some(sid) = replaced
                && let Err(e) = id.revoke_session(sid, RevocationReason::Logout).await
            {
                return Err(ctx.unavailable(e));
            }
            let event_type = if pending.is_some() {
                "auth.login_success"
            } else {
                "mfa.step_up"
            };
            id.audit.record(ctx.audit(
                crate::audit::AuditEvent::new(
                    event_type,
                    crate::audit::Risk::Low,
                    crate::audit::Outcome::Success,
                )
                .actor(id.subject_of(user))
                .details(serde_json::json!({
                    "acr": assurance.acr.as_str(), "amr": assurance.amr, "session": kind.as_str(),
                })),
            ));
            Ok(assurance)
        }
        Ok(FactorOutcome::Failed(wait)) => {
            let mut res = crate::problem::unauthorized(
                "invalid-second-factor",
                "The code is not valid.",
                &ctx.id,
            );
            if let Some(wait) = wait {
                let secs = wait.as_secs_f64().ceil().max(1.0) as u64;
                res.headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(secs));
            }
            Err(res)
        }
        Ok(FactorOutcome::Delayed(wait)) => {
            let secs = wait.as_secs_f64().ceil().max(1.0) as u64;
            let mut res = ctx.problem(
                StatusCode::TOO_MANY_REQUESTS,
                "login-delayed",
                format!("Too many failed attempts; try again in {secs} s."),
            );
            res.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
            Err(res)
        }
        Err(e) => Err(refused(ctx, e)),
    }
}

/// The assurance of the session being stepped up (its `amr` is kept), if it recorded one.
async fn caller_assurance(
    replaced: &Option<Uuid>,
    state: &AppState,
    user: &UserRecord,
) -> Option<Assurance> {
    let session = state
        .identity
        .store
        .session_get((*replaced)?)
        .await
        .ok()??;
    if session.user_id != user.id {
        return None;
    }
    Some(Assurance {
        amr: session.amr,
        acr: Acr::parse(session.acr.as_deref()?)?,
        auth_time: (session.auth_time? / 1000) as u64,
    })
}

/// Removes every second factor of a user (`admin.mfa.write`): for a lost device. The user is
/// told; `mfa.reset` is on record.
#[utoipa::path(
    delete, path = "/admin/users/{id}/mfa", tag = "admin",
    params(("id" = Uuid, Path, description = "The account.")),
    responses(
        (status = 200, description = "Reset; how many authenticators and codes went.", body = schemas::MfaReset),
        (status = 401, description = "A browser session whose sign-in is older than `auth.mfa.recent_auth` (or not `aal2` with a second factor enrolled): RFC 9470 challenge."),
        (status = 403, description = "`admin.mfa.write` is not granted."),
        (status = 404, description = "No such account."),
    ),
    security(("bearer" = []), ("api_key" = []), ("session" = [])),
)]
async fn admin_reset(
    State(state): S,
    ctx: Ctx,
    caller: Caller,
    Path(user_id): Path<Uuid>,
) -> Response {
    let user = match super::admin::users::permitted_account(
        &state,
        &ctx,
        &caller,
        perm::MFA_WRITE,
        &user_id.to_string(),
    )
    .await
    {
        Ok(u) => u,
        Err(r) => return r,
    };
    if let Err(r) = recent_sign_in_if_browser(&state, &ctx, &caller).await {
        return r;
    }
    match state.identity.mfa_reset(&user, &ctx.by(&caller)).await {
        Ok(removed) => Json(serde_json::json!({ "removed": removed })).into_response(),
        Err(e) => ctx.unavailable(e),
    }
}
