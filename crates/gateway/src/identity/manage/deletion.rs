//! Account deletion, the use cases `DELETE /auth/me`, `DELETE /admin/users/{id}`,
//! `POST /admin/users/{id}/restore`, `palisade users delete|restore` and the retention job share.
//!
//! Guarantees:
//! - **At once** ([`Identity::request_deletion`]): the account is marked deleted and disabled
//!   (every sign-in path refuses a disabled account), every session (with its refresh tokens)
//!   and every API key of it is revoked with reason `account_deleted`, in the store and in hot
//!   state. Asking again changes nothing but re-runs the revocations (so a request that failed
//!   half-way is completed by its retry) and answers the first request's times.
//! - **Restorable within the grace** ([`Identity::restore_user`], `retention.accounts_deleted`):
//!   enabled again, its sessions and keys stay revoked; after the grace (or once erased) refused.
//! - **Then erased** ([`Identity::purge_user`], called by the retention job and by a backup
//!   restore re-applying erasures): one store transaction deletes the account through every
//!   table that holds it, writes its tombstone and queues the deletion webhook (when one is
//!   configured) in the outbox; SQLite's log is then checkpointed so no file keeps a deleted
//!   page.
//! - Each change is one audit event: `user.deletion_requested`, `user.restored`, `user.deleted`
//!   (naming the account by id only).

use super::{By, Refused};
use crate::audit::Risk;
use crate::identity::Identity;
use palisade_store::deletion::{MarkDeleted, OutboxMessage};
use palisade_store::identity::RevocationReason;
use std::time::Duration;
use uuid::Uuid;

/// The event the deletion webhook announces.
pub const DELETED_EVENT: &str = "user.deleted";

/// An account's deletion as it stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct DeletionScheduled {
    /// The account.
    pub user_id: Uuid,
    /// When deletion was asked (Unix ms).
    pub deleted_at: i64,
    /// From when the account is erased, at the retention job's next run (Unix ms).
    pub purge_after: i64,
}

/// Why a restore did not happen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotRestored {
    /// No such account (and none was erased under this id).
    Unknown,
    /// The account is not deleted.
    NotDeleted,
    /// The grace period is over, or the account is already erased.
    Gone,
}

impl Identity {
    /// Marks the account deleted and revokes everything it could sign in with; see the module
    /// docs. `grace` is `retention.accounts_deleted`. `None`: no such account.
    pub async fn request_deletion(
        &self,
        user: Uuid,
        grace: Duration,
        by: &By<'_>,
    ) -> Result<Option<DeletionScheduled>, Refused> {
        let now = self.now_ms() as i64;
        let (deleted_at, new) = match self.store.user_mark_deleted(user, now).await? {
            MarkDeleted::NoSuchAccount => return Ok(None),
            MarkDeleted::Marked(at) => (at, true),
            MarkDeleted::Already(at) => (at, false),
        };
        let reason = RevocationReason::AccountDeleted;
        let sessions = self.revoke_user_sessions(user, reason).await?;
        let mut keys = 0;
        for key in self.store.api_keys_list(Some(user)).await? {
            if key.revoked_at.is_none() && self.revoke_api_key(key.id, reason).await? {
                keys += 1;
            }
        }
        let scheduled = DeletionScheduled {
            user_id: user,
            deleted_at,
            purge_after: deleted_at.saturating_add(grace.as_millis() as i64),
        };
        if new {
            self.audit.record(
                by.event(
                    "user.deletion_requested",
                    Risk::High,
                    format!("user:{user}"),
                )
                .details(serde_json::json!({
                    "reason": reason.as_str(),
                    "purge_after": scheduled.purge_after,
                    "sessions_revoked": sessions,
                    "api_keys_revoked": keys,
                })),
            );
        }
        Ok(Some(scheduled))
    }

    /// Enables a deleted account again within `grace` of its deletion (`user.restored`); its
    /// sessions and keys stay revoked.
    pub async fn restore_user(
        &self,
        user: Uuid,
        grace: Duration,
        by: &By<'_>,
    ) -> Result<Result<(), NotRestored>, Refused> {
        let deleted_at = match self.store.user_deleted_at(user).await? {
            None if self.erased(user).await? => return Ok(Err(NotRestored::Gone)),
            None => return Ok(Err(NotRestored::Unknown)),
            Some(None) => return Ok(Err(NotRestored::NotDeleted)),
            Some(Some(at)) => at,
        };
        let now = self.now_ms() as i64;
        if now >= deleted_at.saturating_add(grace.as_millis() as i64) {
            return Ok(Err(NotRestored::Gone));
        }
        if !self.store.user_restore(user, now).await? {
            return Ok(Err(NotRestored::NotDeleted));
        }
        self.audit
            .record(by.event("user.restored", Risk::High, format!("user:{user}")));
        Ok(Ok(()))
    }

    /// Whether an account was erased under this id (its tombstone is kept).
    async fn erased(&self, user: Uuid) -> Result<bool, Refused> {
        Ok(self
            .store
            .erasures_since(i64::MIN)
            .await?
            .iter()
            .any(|e| e.user_id == user))
    }

    /// Erases the account through every table that holds it, with its tombstone and (when
    /// `webhook` is set) its deletion webhook queued in the same transaction (`user.deleted`).
    /// With an `erasure_log` the tombstone is appended there first (`crate::erasures`).
    /// `false`: no such account.
    pub async fn purge_user(
        &self,
        user: Uuid,
        webhook: bool,
        erasure_log: Option<&std::path::Path>,
        by: &By<'_>,
    ) -> Result<bool, Refused> {
        let now = self.now_ms() as i64;
        if self.store.user_deleted_at(user).await?.is_none() {
            return Ok(false);
        }
        if let Some(log) = erasure_log {
            let tombstone = palisade_store::deletion::Erasure {
                user_id: user,
                erased_at: now,
            };
            crate::erasures::append(log, &tombstone).map_err(|e| {
                palisade_store::StoreError::Unavailable(format!(
                    "the erasure log {} cannot be written: {e}",
                    log.display()
                ))
            })?;
        }
        let message = webhook.then(|| OutboxMessage {
            id: Uuid::now_v7(),
            user_id: user,
            event: DELETED_EVENT.into(),
            created_at: now,
            attempts: 0,
            next_attempt_at: now,
        });
        // The key sealing the account's personal fields in the trail goes first: should the
        // purge then fail, the next run finds the account again and completes it, whereas a key
        // left behind an erased account would never be looked for again. (Without a trail,
        // in unit tests, nothing was sealed.)
        if self.audit.trail().is_some() {
            self.audit
                .forget_subject(user)
                .await
                .map_err(palisade_store::StoreError::Unavailable)?;
        }
        if !self.store.user_purge(user, now, message.as_ref()).await? {
            return Ok(false);
        }
        self.api_keys.forget_owner(user);
        self.window.forget_user(user);
        self.audit.record(
            by.event(DELETED_EVENT, Risk::High, format!("user:{user}"))
                .details(serde_json::json!({ "webhook_queued": message.is_some() })),
        );
        if let Err(e) = self.store.erasure_flush().await {
            tracing::warn!(error = %e, "after an erasure the store's files could not be flushed");
        }
        Ok(true)
    }
}
