//! What an account can sign in and act with, as administrators see and end it: its sessions
//! (with the device data kept), its API keys' metadata, its second factors' metadata; revoking
//! one session, all of them, or one key, each for the reason `admin`.
//!
//! Guarantees: nothing listed carries a secret (no token, key, seed or recovery code); a
//! session or key is revoked only when it belongs to the account named (another account's id
//! is "not found", so ids cannot be probed across accounts); each revocation that changed
//! something is recorded once (`auth.session_revoked`, `auth.sessions_revoked_all`,
//! `apikey.revoked`, each with `details.reason = "admin"`).

use super::{By, Refused};
use crate::audit::Risk;
use crate::identity::Identity;
use palisade_store::StoreError;
use palisade_store::identity::{ApiKeyRecord, RevocationReason, SessionRecord};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

/// A session as listed for administrators.
#[derive(Debug, Serialize, ToSchema)]
pub struct SessionView {
    /// Its id.
    pub id: Uuid,
    /// Unix milliseconds.
    pub created_at: i64,
    /// Unix milliseconds of the last refresh or cookie use.
    pub last_seen_at: i64,
    /// Unix milliseconds of the session's absolute end.
    pub expires_at: i64,
    /// Always `null`: sessions keep no client address (privacy by design).
    pub ip: Option<String>,
    /// The user agent the session was opened with.
    pub user_agent: Option<String>,
    /// The first characters of the device fingerprint (user agent and client hints, never
    /// the IP).
    pub device: Option<String>,
    /// Unix milliseconds of its revocation; `null` while live.
    pub revoked_at: Option<i64>,
    /// `logout`, `admin`, `reuse_detected`, `password_reset`, `account_deleted`, `incident`
    /// or `expired`.
    pub revoked_reason: Option<&'static str>,
}

impl From<&SessionRecord> for SessionView {
    fn from(s: &SessionRecord) -> Self {
        SessionView {
            id: s.id,
            created_at: s.created_at,
            last_seen_at: s.last_seen_at,
            expires_at: s.expires_at,
            ip: None,
            user_agent: s.user_agent.clone(),
            device: (!s.fingerprint.is_empty())
                .then(|| s.fingerprint[..16.min(s.fingerprint.len())].to_string()),
            revoked_at: s.revoked_at,
            revoked_reason: s.revoked_reason.map(RevocationReason::as_str),
        }
    }
}

/// An API key's metadata, never the key.
#[derive(Debug, Serialize, ToSchema)]
pub struct KeyView {
    /// Its id.
    pub id: Uuid,
    /// The name given to it.
    pub name: String,
    /// The first characters of the key (`pal_1a2b3c4d`).
    pub prefix: String,
    /// Global roles.
    pub roles: Vec<String>,
    /// Grants narrowing it (empty: its roles' permissions).
    pub scopes: Vec<String>,
    /// Unix milliseconds.
    pub created_at: i64,
    /// Unix milliseconds of its last use.
    pub last_used_at: Option<i64>,
    /// Unix milliseconds after which it stops working.
    pub expires_at: Option<i64>,
    /// Unix milliseconds of its revocation; `null` while live.
    pub revoked_at: Option<i64>,
    /// Why it was revoked.
    pub revoked_reason: Option<&'static str>,
}

impl From<&ApiKeyRecord> for KeyView {
    fn from(k: &ApiKeyRecord) -> Self {
        KeyView {
            id: k.id,
            name: k.name.clone(),
            prefix: k.prefix.clone(),
            roles: k.roles.clone(),
            scopes: k.scopes.clone(),
            created_at: k.created_at,
            last_used_at: k.last_used_at,
            expires_at: k.expires_at,
            revoked_at: k.revoked_at,
            revoked_reason: k.revoked_reason.map(RevocationReason::as_str),
        }
    }
}

/// An authenticator app, without its seed.
#[derive(Debug, Serialize, ToSchema)]
pub struct TotpView {
    /// Its id.
    pub id: Uuid,
    /// The name given to it.
    pub name: String,
    /// Unix milliseconds.
    pub created_at: i64,
    /// `null` until its first valid code (until then it is no factor).
    pub confirmed_at: Option<i64>,
}

/// A passkey, without its credential.
#[derive(Debug, Serialize, ToSchema)]
pub struct PasskeyView {
    /// Its id.
    pub id: Uuid,
    /// The name given to it.
    pub name: String,
    /// Unix milliseconds.
    pub created_at: i64,
    /// Unix milliseconds of its last use.
    pub last_used_at: Option<i64>,
}

/// An account's second factors.
#[derive(Debug, Serialize, ToSchema)]
pub struct FactorsView {
    /// Authenticator apps.
    pub totp: Vec<TotpView>,
    /// Passkeys.
    pub passkeys: Vec<PasskeyView>,
    /// Unused recovery codes left.
    pub recovery_codes_remaining: u64,
}

impl Identity {
    /// The account's sessions, newest first, revoked ones (not yet purged) included.
    pub async fn sessions_of(&self, user: Uuid) -> Result<Vec<SessionView>, StoreError> {
        let list = self.store.sessions_for_user(user, true).await?;
        Ok(list.iter().map(SessionView::from).collect())
    }

    /// The account's API keys, revoked ones included.
    pub async fn keys_of(&self, user: Uuid) -> Result<Vec<KeyView>, StoreError> {
        let list = self.store.api_keys_list(Some(user)).await?;
        Ok(list.iter().map(KeyView::from).collect())
    }

    /// The account's second factors.
    pub async fn factors_of(&self, user: Uuid) -> Result<FactorsView, StoreError> {
        let totp = self.store.totp_for_user(user).await?;
        let passkeys = self.store.passkeys_for_user(user).await?;
        Ok(FactorsView {
            totp: totp
                .into_iter()
                .map(|t| TotpView {
                    id: t.id,
                    name: t.name,
                    created_at: t.created_at,
                    confirmed_at: t.confirmed_at,
                })
                .collect(),
            passkeys: passkeys
                .into_iter()
                .map(|p| PasskeyView {
                    id: p.id,
                    name: p.name,
                    created_at: p.created_at,
                    last_used_at: p.last_used_at,
                })
                .collect(),
            recovery_codes_remaining: self.store.recovery_remaining(user).await?,
        })
    }

    /// Ends one session of `user` (reason `admin`; `auth.session_revoked` when it was live).
    /// `false`: `user` has no such session.
    pub async fn revoke_session_of(
        &self,
        user: Uuid,
        session: Uuid,
        by: &By<'_>,
    ) -> Result<bool, Refused> {
        match self.store.session_get(session).await? {
            Some(s) if s.user_id == user => {}
            _ => return Ok(false),
        }
        if self
            .revoke_session(session, RevocationReason::Admin)
            .await?
        {
            self.audit.record(
                by.event(
                    "auth.session_revoked",
                    Risk::Medium,
                    format!("session:{session}"),
                )
                .details(serde_json::json!({
                    "user": user,
                    "reason": RevocationReason::Admin.as_str(),
                })),
            );
        }
        Ok(true)
    }

    /// Ends every live session of `user` (reason `admin`; `auth.sessions_revoked_all` with
    /// how many). Returns how many were ended.
    pub async fn revoke_sessions_of(&self, user: Uuid, by: &By<'_>) -> Result<usize, Refused> {
        let n = self
            .revoke_user_sessions(user, RevocationReason::Admin)
            .await?;
        self.audit.record(
            by.event(
                "auth.sessions_revoked_all",
                Risk::Medium,
                format!("user:{user}"),
            )
            .details(serde_json::json!({
                "sessions": n,
                "reason": RevocationReason::Admin.as_str(),
            })),
        );
        Ok(n)
    }

    /// Revokes `user`'s key `key` (reason `admin`, `apikey.revoked` when it was live).
    /// `false`: `user` has no such key.
    pub async fn revoke_key_of(&self, user: Uuid, key: Uuid, by: &By<'_>) -> Result<bool, Refused> {
        match self.store.api_key_get(key).await? {
            Some(k) if k.owner_id == user => {}
            _ => return Ok(false),
        }
        self.revoke_api_key_as(key, by).await?;
        Ok(true)
    }
}
