//! [`MfaStore`] in memory: credentials, recovery codes and pending sign-ins in maps under the
//! identity lock, with the same single-use rules as the SQL backends.

use super::{MemoryStore, lock};
use crate::identity::TokenHash;
use crate::mfa::{MfaStore, MfaTokenRecord, TotpRecord};
use crate::{StoreError, StoreResult};
use async_trait::async_trait;
use uuid::Uuid;

#[async_trait]
impl MfaStore for MemoryStore {
    async fn totp_insert(&self, r: &TotpRecord) -> StoreResult<()> {
        let mut id = lock(&self.identity);
        if id.totp.contains_key(&r.id)
            || id
                .totp
                .values()
                .any(|t| t.user_id == r.user_id && t.name == r.name)
        {
            return Err(StoreError::Conflict(
                "the user has an authenticator of this name".into(),
            ));
        }
        id.totp.insert(r.id, r.clone());
        Ok(())
    }

    async fn totp_for_user(&self, user_id: Uuid) -> StoreResult<Vec<TotpRecord>> {
        let mut out: Vec<TotpRecord> = lock(&self.identity)
            .totp
            .values()
            .filter(|t| t.user_id == user_id)
            .cloned()
            .collect();
        out.sort_by_key(|t| (t.created_at, t.id));
        Ok(out)
    }

    async fn totp_use_step(&self, id: Uuid, step: i64, now: i64) -> StoreResult<bool> {
        let mut ident = lock(&self.identity);
        let Some(t) = ident.totp.get_mut(&id) else {
            return Ok(false);
        };
        if t.last_used_step.is_some_and(|last| last >= step) {
            return Ok(false);
        }
        t.last_used_step = Some(step);
        t.confirmed_at.get_or_insert(now);
        Ok(true)
    }

    async fn totp_delete(&self, user_id: Uuid, id: Uuid) -> StoreResult<bool> {
        let mut ident = lock(&self.identity);
        if ident.totp.get(&id).is_some_and(|t| t.user_id == user_id) {
            ident.totp.remove(&id);
            return Ok(true);
        }
        Ok(false)
    }

    async fn recovery_replace(
        &self,
        user_id: Uuid,
        hashes: &[TokenHash],
        _now: i64,
    ) -> StoreResult<()> {
        let mut ident = lock(&self.identity);
        let distinct: std::collections::HashSet<_> = hashes.iter().collect();
        if distinct.len() != hashes.len() {
            return Err(StoreError::Conflict("recovery code repeated".into()));
        }
        ident.recovery.retain(|(u, _), _| *u != user_id);
        for h in hashes {
            ident.recovery.insert((user_id, *h), None);
        }
        Ok(())
    }

    async fn recovery_use(&self, user_id: Uuid, hash: &TokenHash, now: i64) -> StoreResult<bool> {
        let mut ident = lock(&self.identity);
        match ident.recovery.get_mut(&(user_id, *hash)) {
            Some(used @ None) => {
                *used = Some(now);
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn recovery_remaining(&self, user_id: Uuid) -> StoreResult<u64> {
        Ok(lock(&self.identity)
            .recovery
            .iter()
            .filter(|((u, _), used)| *u == user_id && used.is_none())
            .count() as u64)
    }

    async fn mfa_reset(&self, user_id: Uuid) -> StoreResult<u64> {
        let mut ident = lock(&self.identity);
        let before = ident.totp.len() + ident.recovery.len();
        ident.totp.retain(|_, t| t.user_id != user_id);
        ident.recovery.retain(|(u, _), _| *u != user_id);
        Ok((before - ident.totp.len() - ident.recovery.len()) as u64)
    }

    async fn mfa_token_insert(&self, r: &MfaTokenRecord) -> StoreResult<()> {
        let mut ident = lock(&self.identity);
        if ident.mfa_tokens.contains_key(&r.hash) {
            return Err(StoreError::Conflict("mfa token exists".into()));
        }
        ident.mfa_tokens.retain(|_, t| t.expires_at > r.created_at);
        ident.mfa_tokens.insert(r.hash, r.clone());
        Ok(())
    }

    async fn mfa_token_get(
        &self,
        hash: &TokenHash,
        now: i64,
    ) -> StoreResult<Option<MfaTokenRecord>> {
        Ok(lock(&self.identity)
            .mfa_tokens
            .get(hash)
            .filter(|t| t.expires_at > now)
            .cloned())
    }

    async fn mfa_token_consume(&self, hash: &TokenHash, now: i64) -> StoreResult<bool> {
        let mut ident = lock(&self.identity);
        match ident.mfa_tokens.remove(hash) {
            Some(t) => Ok(t.expires_at > now),
            None => Ok(false),
        }
    }
}
