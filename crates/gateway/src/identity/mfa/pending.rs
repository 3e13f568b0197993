//! A sign-in waiting for its second factor: the `mfa_token` answered with `mfa_required` (or
//! held in the challenge page's cookie). Stored as its SHA-256 (`mfa_tokens`), valid
//! `auth.mfa.token_ttl`, bound to the attempt (the session kind asked for, the first factor —
//! a password or a federated provider —, the device fingerprint and the client address), and
//! deleted by the one verification that completes it.

use crate::identity::Identity;
use palisade_core::mfa::assurance::{Acr, Assurance, amr};
use palisade_core::principal::{new_opaque_token, opaque_token_hash};
use palisade_store::StoreError;
use palisade_store::identity::{SessionKind, UserRecord};
use palisade_store::mfa::MfaTokenRecord;
use std::net::IpAddr;

/// What the pending sign-in's first step proved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FirstFactor {
    /// The account's password.
    Password,
    /// A sign-in at a federated provider not trusted for its own second factor.
    Federated,
}

impl FirstFactor {
    /// The session's assurance before the second factor, proven at `now` (Unix seconds).
    pub fn assurance(self, now: u64) -> Assurance {
        match self {
            FirstFactor::Password => Assurance::password(now),
            FirstFactor::Federated => Assurance {
                amr: vec![amr::FED.into()],
                acr: Acr::Aal1,
                auth_time: now,
            },
        }
    }

    /// How the binding names it (a password adds nothing: tokens started before federation
    /// still match).
    fn suffix(self) -> &'static str {
        match self {
            FirstFactor::Password => "",
            FirstFactor::Federated => "|fed",
        }
    }
}

/// A pending sign-in found by its token.
#[derive(Debug)]
pub struct PendingSignIn {
    /// Who proved their first factor.
    pub user: UserRecord,
    /// The session the sign-in asked for (tokens or the browser cookie).
    pub kind: SessionKind,
    /// What the first step proved.
    pub first: FirstFactor,
    hash: [u8; 32],
}

fn binding(kind: SessionKind, first: FirstFactor, fingerprint: &str, ip: IpAddr) -> String {
    format!("{}|{fingerprint}|{ip}{}", kind.as_str(), first.suffix())
}

impl Identity {
    /// Starts a pending sign-in of `user`, who proved `first`, for a session of `kind`; the
    /// token to answer.
    pub async fn mfa_pending_start(
        &self,
        user: &UserRecord,
        kind: SessionKind,
        first: FirstFactor,
        fingerprint: &str,
        ip: IpAddr,
    ) -> Result<String, StoreError> {
        let (token, hash) = new_opaque_token();
        let now = self.now_ms() as i64;
        self.store
            .mfa_token_insert(&MfaTokenRecord {
                hash,
                user_id: user.id,
                created_at: now,
                expires_at: now + self.config.mfa.token_ttl.0.as_millis() as i64,
                binding: binding(kind, first, fingerprint, ip),
            })
            .await?;
        Ok(token)
    }

    /// The pending sign-in of `token` when it is unexpired, was started from this device and
    /// address, and its account is still enabled; else `None`.
    pub async fn mfa_pending_find(
        &self,
        token: &str,
        fingerprint: &str,
        ip: IpAddr,
    ) -> Result<Option<PendingSignIn>, StoreError> {
        if token.is_empty() || token.len() > 128 {
            return Ok(None);
        }
        let hash = opaque_token_hash(token);
        let Some(record) = self
            .store
            .mfa_token_get(&hash, self.now_ms() as i64)
            .await?
        else {
            return Ok(None);
        };
        let attempt = [SessionKind::Token, SessionKind::Cookie]
            .into_iter()
            .flat_map(|k| [(k, FirstFactor::Password), (k, FirstFactor::Federated)])
            .find(|(k, f)| record.binding == binding(*k, *f, fingerprint, ip));
        let Some((kind, first)) = attempt else {
            return Ok(None);
        };
        let user = self
            .store
            .user_by_id(record.user_id)
            .await?
            .filter(|u| !u.disabled);
        Ok(user.map(|user| PendingSignIn {
            user,
            kind,
            first,
            hash,
        }))
    }

    /// Ends a pending sign-in: true for the one caller that ends it before it expires.
    pub async fn mfa_pending_finish(&self, pending: &PendingSignIn) -> Result<bool, StoreError> {
        self.store
            .mfa_token_consume(&pending.hash, self.now_ms() as i64)
            .await
    }
}
