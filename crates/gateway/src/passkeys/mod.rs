//! Passkeys (WebAuthn, `webauthn-rs`): registration by a signed-in account and passwordless
//! sign-in with a discoverable credential. Each use case is one function here that the HTTP API
//! ([`http`]) calls and that records its audit event.
//!
//! Guarantees: user verification is required in both ceremonies (the library's passkey policy;
//! a passkey sign-in is therefore two factors, aal2, recorded as such by
//! `Assurance::passkey`); registration asks for a discoverable
//! credential (resident key required) so sign-in needs no user name; ceremony state stays on
//! the server, single-use and short-lived ([`ceremonies`]); the signature counter must grow
//! (the library refuses a counter at or below the stored one) and is stored by compare-and-set,
//! so a cloned authenticator or a replayed assertion fails; an account may hold several
//! passkeys, and a credential id belongs to one account only.

#![allow(clippy::result_large_err)]

pub mod ceremonies;
pub mod routes;

use crate::api::extract::Ctx;
use crate::audit::{AuditEvent, Outcome, Risk};
use crate::config::pages::PasskeysConfig;
use crate::state::AppState;
use axum::response::Response;
use ceremonies::{Ceremonies, Pending};
use http::StatusCode;
use palisade_core::clock::SharedClock;
use palisade_store::identity::UserRecord;
use palisade_store::passkeys::PasskeyRecord;
use uuid::Uuid;
use webauthn_rs::prelude::{
    Passkey, PublicKeyCredential, RegisterPublicKeyCredential, RequestChallengeResponse, Url,
    Webauthn, WebauthnBuilder,
};

/// The relying party and the waiting ceremonies (`None` relying party: passkeys are off).
pub struct Passkeys {
    webauthn: Option<Webauthn>,
    ceremonies: Ceremonies,
}

impl std::fmt::Debug for Passkeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Passkeys")
            .field("enabled", &self.webauthn.is_some())
            .finish_non_exhaustive()
    }
}

impl Passkeys {
    /// The relying party of `[auth.passkeys]` (checked by `config check` first).
    pub fn new(cfg: &PasskeysConfig, clock: SharedClock) -> Result<Self, String> {
        let webauthn = if cfg.enabled() {
            let origin =
                Url::parse(&cfg.origin).map_err(|e| format!("auth.passkeys.origin: {e}"))?;
            Some(
                WebauthnBuilder::new(&cfg.rp_id, &origin)
                    .and_then(|b| b.rp_name(&cfg.rp_name).build())
                    .map_err(|e| format!("auth.passkeys: {e}"))?,
            )
        } else {
            None
        };
        Ok(Self {
            webauthn,
            ceremonies: Ceremonies::new(clock, cfg.ceremony_ttl.0.as_millis() as u64),
        })
    }

    fn relying_party(&self, ctx: &Ctx) -> Result<&Webauthn, Response> {
        self.webauthn.as_ref().ok_or_else(|| {
            ctx.problem(
                StatusCode::NOT_FOUND,
                "passkeys-off",
                "Passkeys are not configured here (auth.passkeys.rp_id).",
            )
        })
    }
}

/// A passkey ceremony refused: on record as `auth.passkey_refused`, answered as problem+json.
fn refused(
    state: &AppState,
    ctx: &Ctx,
    actor: Option<String>,
    status: StatusCode,
    reason: &'static str,
    detail: &'static str,
) -> Response {
    let mut event = AuditEvent::new("auth.passkey_refused", Risk::Medium, Outcome::Denied)
        .details(serde_json::json!({ "reason": reason }));
    if let Some(a) = actor {
        event = event.actor(a);
    }
    state.identity.audit.record_refusal(ctx.audit(event));
    ctx.problem(status, reason, detail)
}

fn store_failed(ctx: &Ctx) -> impl Fn(palisade_store::StoreError) -> Response + '_ {
    move |e| ctx.unavailable(e)
}

/// Starts adding a passkey to `user`: the browser's creation options and the ceremony id.
/// The user's existing passkeys are excluded (one authenticator, one passkey per account).
pub(crate) async fn start_registration(
    state: &AppState,
    ctx: &Ctx,
    user: &UserRecord,
    name: String,
) -> Result<(String, serde_json::Value), Response> {
    let rp = state.passkeys.relying_party(ctx)?;
    let existing = state
        .store
        .passkeys_for_user(user.id)
        .await
        .map_err(store_failed(ctx))?;
    let exclude: Vec<_> = existing.iter().map(|p| p.credential_id.clone()).collect();
    let display = user.name.clone().unwrap_or_else(|| user.email.clone());
    let (options, reg) = rp
        .start_passkey_registration(user.id, &user.email, &display, Some(exclude))
        .map_err(|e| {
            tracing::warn!(error = %e, "cannot start a passkey registration");
            ctx.problem(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "A passkey registration cannot start right now.",
            )
        })?;
    // Discoverable (resident) credentials: passwordless sign-in names no account first.
    let mut options = serde_json::to_value(&options).map_err(|e| ctx.unavailable(e))?;
    if let Some(sel) = options
        .pointer_mut("/publicKey/authenticatorSelection")
        .and_then(|s| s.as_object_mut())
    {
        sel.insert("residentKey".into(), "required".into());
        sel.insert("requireResidentKey".into(), true.into());
    }
    let ceremony = state.passkeys.ceremonies.start(Pending::Register {
        user_id: user.id,
        name,
        state: Box::new(reg),
    });
    Ok((ceremony, options))
}

/// Finishes adding a passkey for `user_id`: the credential checked against the ceremony (the
/// challenge, origin, user verification), stored, and `auth.passkey_registered` on record.
pub(crate) async fn finish_registration(
    state: &AppState,
    ctx: &Ctx,
    user_id: Uuid,
    actor: String,
    ceremony: &str,
    credential: &RegisterPublicKeyCredential,
) -> Result<PasskeyRecord, Response> {
    let rp = state.passkeys.relying_party(ctx)?;
    let fail = |reason, detail| {
        refused(
            state,
            ctx,
            Some(actor.clone()),
            StatusCode::BAD_REQUEST,
            reason,
            detail,
        )
    };
    let Some(Pending::Register {
        user_id: owner,
        name,
        state: reg,
    }) = state.passkeys.ceremonies.take(ceremony)
    else {
        return Err(fail(
            "ceremony-unknown",
            "The passkey registration is unknown, used or expired; start again.",
        ));
    };
    if owner != user_id {
        return Err(fail(
            "ceremony-unknown",
            "The passkey registration is unknown, used or expired; start again.",
        ));
    }
    let passkey = rp
        .finish_passkey_registration(credential, &reg)
        .map_err(|e| {
            tracing::info!(error = %e, "passkey registration refused");
            fail(
                "passkey-invalid",
                "The authenticator's answer does not verify (challenge, origin or user verification).",
            )
        })?;
    let record = PasskeyRecord {
        id: Uuid::now_v7(),
        user_id,
        credential_id: AsRef::<[u8]>::as_ref(passkey.cred_id()).to_vec(),
        name,
        credential: serde_json::to_string(&passkey).map_err(|e| ctx.unavailable(e))?,
        sign_count: 0,
        created_at: state.identity.now_ms() as i64,
        last_used_at: None,
    };
    match state.store.passkey_insert(&record).await {
        Ok(()) => {}
        Err(palisade_store::StoreError::Conflict(_)) => {
            return Err(refused(
                state,
                ctx,
                Some(actor),
                StatusCode::CONFLICT,
                "passkey-exists",
                "This authenticator's passkey is registered already.",
            ));
        }
        Err(e) => return Err(ctx.unavailable(e)),
    }
    state.identity.audit.record(
        ctx.audit(
            AuditEvent::new("auth.passkey_registered", Risk::Medium, Outcome::Success)
                .actor(actor)
                .resource(format!("passkey:{}", record.id))
                .details(serde_json::json!({ "name": record.name })),
        ),
    );
    Ok(record)
}

/// Starts a passwordless sign-in: request options naming no credential (the authenticator
/// offers its discoverable passkeys), user verification required.
pub(crate) fn start_sign_in(
    state: &AppState,
    ctx: &Ctx,
) -> Result<(String, RequestChallengeResponse), Response> {
    let rp = state.passkeys.relying_party(ctx)?;
    let (mut options, auth) = rp.start_discoverable_authentication().map_err(|e| {
        tracing::warn!(error = %e, "cannot start a passkey sign-in");
        ctx.problem(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "A passkey sign-in cannot start right now.",
        )
    })?;
    // A button press, not the autofill (conditional) flow.
    options.mediation = None;
    let ceremony = state
        .passkeys
        .ceremonies
        .start(Pending::SignIn(Box::new(auth)));
    Ok((ceremony, options))
}

/// Finishes a passwordless sign-in: the account whose passkey signed the challenge with user
/// verification and a growing counter. Every refusal is on record; the session is opened by
/// the caller (`api::sessions::open_browser_session`).
pub(crate) async fn finish_sign_in(
    state: &AppState,
    ctx: &Ctx,
    ceremony: &str,
    credential: &PublicKeyCredential,
) -> Result<UserRecord, Response> {
    let rp = state.passkeys.relying_party(ctx)?;
    let denied = |actor: Option<String>, reason| {
        refused(
            state,
            ctx,
            actor,
            StatusCode::UNAUTHORIZED,
            reason,
            "The passkey sign-in did not verify; start again.",
        )
    };
    let Some(Pending::SignIn(auth)) = state.passkeys.ceremonies.take(ceremony) else {
        return Err(denied(None, "ceremony-unknown"));
    };
    let (user_id, cred_id) = rp
        .identify_discoverable_authentication(credential)
        .map_err(|_| denied(None, "passkey-unknown"))?;
    let Some(stored) = state
        .store
        .passkey_by_credential(cred_id)
        .await
        .map_err(store_failed(ctx))?
        .filter(|p| p.user_id == user_id)
    else {
        return Err(denied(None, "passkey-unknown"));
    };
    let actor = Some(user_id.to_string());
    let mut passkey: Passkey =
        serde_json::from_str(&stored.credential).map_err(|e| ctx.unavailable(e))?;
    let result = rp
        .finish_discoverable_authentication_v2(credential, *auth, &passkey)
        .map_err(|e| {
            tracing::info!(error = %e, "passkey sign-in refused");
            denied(actor.clone(), "passkey-invalid")
        })?;
    if !result.user_verified() {
        return Err(denied(actor, "user-not-verified"));
    }
    passkey.update_credential(&result);
    let new_count = i64::from(result.counter());
    let recorded = state
        .store
        .passkey_record_use(
            stored.id,
            stored.sign_count,
            new_count,
            &serde_json::to_string(&passkey).map_err(|e| ctx.unavailable(e))?,
            state.identity.now_ms() as i64,
        )
        .await
        .map_err(store_failed(ctx))?;
    if !recorded {
        // Another sign-in with this passkey's same counter state won: a replay or a clone.
        return Err(denied(actor, "counter-replayed"));
    }
    let user = state
        .store
        .user_by_id(user_id)
        .await
        .map_err(store_failed(ctx))?
        .filter(|u| !u.disabled);
    user.ok_or_else(|| denied(actor, "account-disabled"))
}

/// Deletes one of `user_id`'s passkeys; `auth.passkey_deleted` on record.
pub(crate) async fn delete(
    state: &AppState,
    ctx: &Ctx,
    user_id: Uuid,
    actor: String,
    passkey: Uuid,
) -> Result<bool, Response> {
    let gone = state
        .store
        .passkey_delete(user_id, passkey)
        .await
        .map_err(store_failed(ctx))?;
    if gone {
        state.identity.audit.record(
            ctx.audit(
                AuditEvent::new("auth.passkey_deleted", Risk::Medium, Outcome::Success)
                    .actor(actor)
                    .resource(format!("passkey:{passkey}")),
            ),
        );
    }
    Ok(gone)
}
